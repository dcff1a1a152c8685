//! TLS as libpq's `sslmode` means it, on rustls: `prefer` and `require`
//! encrypt without checking the certificate (unless a root certificate is
//! given), `verify-ca` checks the chain, `verify-full` the chain and the host.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "disable" => Ok(Self::Disable),
            "allow" | "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            "verify-ca" => Ok(Self::VerifyCa),
            "verify-full" => Ok(Self::VerifyFull),
            other => Err(Error::Config(format!(
                "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ))),
        }
    }

    /// What the driver is told: whether TLS is tried, and whether it is a must.
    pub fn driver_mode(self) -> tokio_postgres::config::SslMode {
        match self {
            Self::Disable => tokio_postgres::config::SslMode::Disable,
            Self::Prefer => tokio_postgres::config::SslMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }
}

/// Where trusted roots come from: a PEM file, or the system's store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RootCerts {
    File(PathBuf),
    System,
}

impl RootCerts {
    pub fn parse(text: &str) -> Self {
        if text == "system" {
            Self::System
        } else {
            Self::File(PathBuf::from(text))
        }
    }
}

/// A connection's TLS settings, and the connector made from them at the
/// first connection that needs it. Every copy shares that connector, so the
/// root certificates are read once for all the connections of a call (a
/// command, the targets of a fleet) rather than once per connection; the
/// next call resolves its settings anew and reads them again, as a file may
/// have changed in between.
#[derive(Clone)]
pub struct Tls(Arc<Shared>);

struct Shared {
    mode: SslMode,
    roots: Option<RootCerts>,
    /// The connector once one was made. A failure is not kept: each
    /// connection that tries reads the certificates again and reports it.
    made: Mutex<Option<MakeRustlsConnect>>,
}

impl Tls {
    pub fn new(mode: SslMode, roots: Option<RootCerts>) -> Self {
        Self(Arc::new(Shared {
            mode,
            roots,
            made: Mutex::new(None),
        }))
    }

    /// The connector, made (and the certificates read) at the first call.
    pub fn connector(&self) -> Result<MakeRustlsConnect> {
        // Making it never panics, and a half-made one is never stored.
        let mut made = self.0.made.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(connector) = made.as_ref() {
            return Ok(connector.clone());
        }
        let connector = connector(self.0.mode, self.0.roots.as_ref())?;
        *made = Some(connector.clone());
        Ok(connector)
    }
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Tls")
            .field("mode", &self.0.mode)
            .field("roots", &self.0.roots)
            .finish()
    }
}

/// The TLS of each setting met among connections resolved one by one (a
/// fleet's URLs), so that those asking for the same share one connector.
#[derive(Default)]
pub struct SharedTls(HashMap<(SslMode, Option<RootCerts>), Tls>);

impl SharedTls {
    /// The first TLS met with the settings of `tls`; `tls` itself when none was.
    pub fn share(&mut self, tls: &Tls) -> Tls {
        self.0
            .entry((tls.0.mode, tls.0.roots.clone()))
            .or_insert_with(|| tls.clone())
            .clone()
    }
}

/// The connector for `mode`; certificates are read only when they are needed.
pub fn connector(mode: SslMode, roots: Option<&RootCerts>) -> Result<MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| Error::Config(format!("TLS set-up failed: {error}")))?;
    let check = match (mode, roots) {
        (SslMode::Disable, _) | (SslMode::Prefer | SslMode::Require, None) => Check::Nothing,
        // libpq checks the chain under require too once a root certificate is given.
        (SslMode::Prefer | SslMode::Require | SslMode::VerifyCa, Some(_))
        | (SslMode::VerifyCa, None) => Check::Chain,
        (SslMode::VerifyFull, _) => Check::ChainAndHost,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        Check::Nothing => Arc::new(AcceptAnyCertificate(provider)),
        Check::Chain | Check::ChainAndHost => {
            let store = root_store(roots)?;
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
                .build()
                .map_err(|error| Error::Config(format!("TLS set-up failed: {error}")))?;
            if check == Check::Chain {
                Arc::new(IgnoreHostName(webpki))
            } else {
                webpki
            }
        }
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndHost,
}

/// The given roots, else `~/.postgresql/root.crt` as libpq reads it, else the system's.
fn root_store(roots: Option<&RootCerts>) -> Result<RootCertStore> {
    let default_file = std::env::var_os("HOME")
        .map(|home| Path::new(&home).join(".postgresql/root.crt"))
        .filter(|path| path.exists())
        .map(RootCerts::File);
    let mut store = RootCertStore::empty();
    match roots.cloned().or(default_file).unwrap_or(RootCerts::System) {
        RootCerts::File(path) => {
            let shown = path.display().to_string();
            let certificates = CertificateDer::pem_file_iter(&path)
                .map_err(|error| Error::Config(format!("sslrootcert {shown}: {error}")))?;
            for certificate in certificates {
                let certificate = certificate
                    .map_err(|error| Error::Config(format!("sslrootcert {shown}: {error}")))?;
                store
                    .add(certificate)
                    .map_err(|error| Error::Config(format!("sslrootcert {shown}: {error}")))?;
            }
        }
        RootCerts::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
        }
    }
    if store.is_empty() {
        return Err(Error::Config(
            "no trusted root certificate found: set sslrootcert to the server's CA file".into(),
        ));
    }
    Ok(store)
}

/// `prefer` and `require` without a root certificate: encryption without
/// authentication, as libpq does. Signatures are still checked.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name may differ.
#[derive(Debug)]
struct IgnoreHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for IgnoreHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The connection string without the TLS settings the driver does not know
/// (`sslmode=verify-full`, `sslrootcert`), and those settings.
pub fn take_tls_params(url: &str) -> (String, Option<String>, Option<String>) {
    let mut mode = None;
    let mut root = None;
    let mut take = |key: &str, value: &str| match key {
        "sslmode" => {
            mode = Some(value.to_owned());
            true
        }
        "sslrootcert" => {
            root = Some(percent_decode(value));
            true
        }
        _ => false,
    };
    let rest = if let Some((base, query)) = url.split_once('?').filter(|_| url.contains("://")) {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                !take(key, value)
            })
            .collect();
        if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else if url.contains("://") {
        url.to_owned()
    } else {
        url.split_whitespace()
            .filter(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                !take(key.trim(), value.trim_matches('\''))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    (rest, mode, root)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_params_are_taken_out_of_a_url() {
        let (rest, mode, root) = take_tls_params(
            "postgres://u@h/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem",
        );
        assert_eq!(rest, "postgres://u@h/db?application_name=x");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/tmp/ca.pem"));
    }

    #[test]
    fn tls_params_are_taken_out_of_key_value_strings() {
        let (rest, mode, root) = take_tls_params("host=h dbname=d sslmode=require");
        assert_eq!(rest, "host=h dbname=d");
        assert_eq!(mode.as_deref(), Some("require"));
        assert_eq!(root, None);
    }

    #[test]
    fn a_url_without_tls_params_is_unchanged() {
        let url = "postgres://u:p@h:5432/db";
        assert_eq!(take_tls_params(url), (url.to_owned(), None, None));
    }

    #[test]
    fn modes_parse_as_libpq_spells_them() {
        assert_eq!(SslMode::parse("verify-ca").unwrap(), SslMode::VerifyCa);
        assert_eq!(SslMode::parse("allow").unwrap(), SslMode::Prefer);
        assert_eq!(SslMode::parse("bogus").unwrap_err().code(), "E_CONFIG");
    }

    /// A self-signed CA certificate (P-256): the store takes it as a root.
    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBlDCCATugAwIBAgIUJI/blNslv5sczcQDUqBRw0hhxwwwCgYIKoZIzj0EAwIw
HzEdMBsGA1UEAwwUc3RyYXR1bSB1bml0IHRlc3QgQ0EwIBcNMjYxMjAyMTM0ODU5
WhgPMjEyNjExMDgxMzQ4NTlaMB8xHTAbBgNVBAMMFHN0cmF0dW0gdW5pdCB0ZXN0
IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEtX17dt1K49MskS8/t4QXXLCW
0fLuQqG9JAtgwaN7HdbyySYBsFsC2Kd6+BaMUhT2Tgfqz09OxwCqbAMrOrOJGqNT
MFEwHQYDVR0OBBYEFK84sh6eF69oF/Unl+bW4B5aIw6EMB8GA1UdIwQYMBaAFK84
sh6eF69oF/Unl+bW4B5aIw6EMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
RwAwRAIgIwpDPz/xNzVTEXJv54YjYXrVRCF3uQhqvI5FGfL7hRwCIHKdni2Xql0B
OSZLMFWbpSmbNmiJ24V2nNZibn1uePdp
-----END CERTIFICATE-----
";

    fn ca_file(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("stratum-tls-{name}-{}.pem", std::process::id()))
    }

    #[test]
    fn the_root_certificates_are_read_at_the_first_connection_only() {
        let path = ca_file("once");
        let roots = Some(RootCerts::File(path.clone()));
        let tls = Tls::new(SslMode::VerifyFull, roots.clone());
        // Missing at the first connection: E_CONFIG, and nothing kept.
        assert_eq!(
            tls.connector().err().map(|error| error.code()),
            Some("E_CONFIG")
        );
        std::fs::write(&path, CA).unwrap();
        let copy = tls.clone();
        assert!(tls.connector().is_ok());
        std::fs::remove_file(&path).unwrap();
        // Read once: the copy and later connections need the file no more.
        assert!(copy.connector().is_ok());
        assert!(tls.connector().is_ok());
        // Settings resolved anew (the next call) read it again.
        assert_eq!(
            Tls::new(SslMode::VerifyFull, roots)
                .connector()
                .err()
                .map(|error| error.code()),
            Some("E_CONFIG")
        );
    }

    #[test]
    fn connections_asking_for_the_same_tls_share_one_connector() {
        let path = ca_file("shared");
        std::fs::write(&path, CA).unwrap();
        let file = || Some(RootCerts::File(path.clone()));
        let mut shared = SharedTls::default();
        let first = shared.share(&Tls::new(SslMode::Require, file()));
        let same = shared.share(&Tls::new(SslMode::Require, file()));
        let other_mode = shared.share(&Tls::new(SslMode::VerifyFull, file()));
        let no_roots = shared.share(&Tls::new(SslMode::Require, None));
        assert!(Arc::ptr_eq(&first.0, &same.0));
        assert!(!Arc::ptr_eq(&first.0, &other_mode.0));
        assert!(!Arc::ptr_eq(&first.0, &no_roots.0));
        assert!(first.connector().is_ok());
        std::fs::remove_file(&path).unwrap();
        assert!(same.connector().is_ok());
        assert_eq!(
            other_mode.connector().err().map(|error| error.code()),
            Some("E_CONFIG")
        );
    }

    #[test]
    fn the_connector_for_each_mode_builds_without_reading_certificates() {
        for mode in [SslMode::Disable, SslMode::Prefer, SslMode::Require] {
            assert!(connector(mode, None).is_ok());
        }
        let missing = RootCerts::File(PathBuf::from("/nonexistent/ca.pem"));
        assert_eq!(
            connector(SslMode::VerifyFull, Some(&missing))
                .err()
                .map(|e| e.code()),
            Some("E_CONFIG")
        );
    }
}
