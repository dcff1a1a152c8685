//! Connection settings the way libpq users expect them: a URL (or
//! `key=value` string) first, then the PG* variables, then libpq's defaults.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config};

use super::tls::{RootCerts, SharedTls, SslMode, Tls};

use crate::error::{Error, Result};
use crate::options::Environment;

/// Where the server's unix socket lives on the common distributions.
const SOCKET_DIRS: &[&str] = &["/var/run/postgresql", "/tmp"];
const DEFAULT_PORT: u16 = 5432;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LONGEST_RETRY: Duration = Duration::from_secs(2);
/// SQLSTATE of a connection to a database that does not exist.
const INVALID_CATALOG_NAME: &str = "3D000";
/// SQLSTATE of CREATE DATABASE when another session created it first.
const DUPLICATE_DATABASE: &str = "42P04";
/// Where `createdb` connects to create a database: `postgres`, else
/// `template1`, which every cluster has.
const MAINTENANCE_DATABASES: &[&str] = &["postgres", "template1"];

/// Why a connection failed: the database is missing, or anything else.
enum Failure {
    MissingDatabase(String),
    Other(Error),
}

/// A resolved connection: the driver's config, and what may be shown of it.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    config: Config,
    /// Shared by its copies (`with_database` included), so that they read
    /// the root certificates once.
    tls: Tls,
    /// `user@host:port/database`, never with the password.
    pub label: String,
    /// Kept only to mask it in any message that might echo it.
    pub password: Option<String>,
}

impl ConnectionSettings {
    pub fn resolve(url: Option<&str>, env: &dyn Environment) -> Result<Self> {
        let (url, url_ssl_mode, url_root_certs) = match url.map(super::tls::take_tls_params) {
            Some((rest, mode, root)) => (Some(rest), mode, root),
            None => (None, None, None),
        };
        let url = url.as_deref();
        let with_port = url.map(|url| with_env_port(url, env)).transpose()?;
        let mut config = match with_port.as_deref() {
            Some(url) => url.parse::<Config>().map_err(|error| {
                Error::Config(format!(
                    "the database URL is not valid ({error}): expected \
                     postgres://user:password@host:port/database"
                ))
            })?,
            None => Config::new(),
        };
        if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
            match env.var("PGHOST") {
                Some(hosts) => {
                    for host in hosts.split(',') {
                        config.host(host);
                    }
                }
                None if env.var("PGHOSTADDR").is_none() => {
                    config.host(default_host(env));
                }
                None => {}
            }
            if let Some(addr) = env.var("PGHOSTADDR") {
                let addr = addr.parse().map_err(|_| {
                    Error::Config(format!("PGHOSTADDR={addr} is not an IP address"))
                })?;
                config.hostaddr(addr);
            }
        }
        if config.get_ports().is_empty() {
            config.port(env_port(env)?);
        }
        if config.get_user().is_none() {
            config.user(env.var("PGUSER").unwrap_or_else(|| os_user(env)));
        }
        if config.get_password().is_none()
            && let Some(password) = env.var("PGPASSWORD")
        {
            config.password(password);
        }
        if config.get_dbname().is_none() {
            let dbname = env
                .var("PGDATABASE")
                .or_else(|| config.get_user().map(str::to_owned))
                .unwrap_or_else(|| "postgres".into());
            config.dbname(dbname);
        }
        let ssl_mode = match url_ssl_mode.or_else(|| env.var("PGSSLMODE")) {
            Some(mode) => SslMode::parse(&mode)?,
            None => SslMode::Prefer,
        };
        config.ssl_mode(ssl_mode.driver_mode());
        let root_certs = url_root_certs
            .or_else(|| env.var("PGSSLROOTCERT"))
            .map(|root| RootCerts::parse(&root));
        if config.get_connect_timeout().is_none() {
            let timeout = env
                .var("PGCONNECT_TIMEOUT")
                .and_then(|seconds| seconds.parse().ok())
                .map_or(DEFAULT_CONNECT_TIMEOUT, Duration::from_secs);
            config.connect_timeout(timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("stratum");
        }
        let password = config
            .get_password()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned());
        Ok(Self {
            label: label(&config),
            config,
            tls: Tls::new(ssl_mode, root_certs),
            password,
        })
    }

    /// The server, as `host:port`: what a per-server cap counts by.
    pub fn server(&self) -> String {
        server(&self.config)
    }

    /// The database it connects to.
    pub fn database(&self) -> &str {
        self.dbname()
    }

    /// Takes the TLS of the first settings in `shared` that ask for the same
    /// (or adds its own): settings resolved one by one, as a fleet's URLs
    /// are, then read their root certificates once between them.
    pub fn share_tls(&mut self, shared: &mut SharedTls) {
        self.tls = shared.share(&self.tls);
    }

    /// The same server and credentials, another database.
    pub fn with_database(&self, database: &str) -> Self {
        let mut copy = self.clone();
        copy.config.dbname(database);
        copy.label = label(&copy.config);
        copy
    }

    /// Opens a connection and drives it on the current runtime. While `wait`
    /// lasts, a server that is not up yet is retried with capped exponential
    /// backoff; a refusal that retrying cannot cure (a wrong password, a
    /// database that does not exist) fails at once.
    pub async fn connect(&self, wait: Duration) -> Result<Client> {
        self.open(wait, None).await.map(|open| open.client)
    }

    /// Like [`Self::connect`], but creates the database first when it does
    /// not exist, as `createdb` does: from the maintenance database of the
    /// same server, with the same role. Never in production, where a
    /// missing database is a mistake to report.
    pub async fn connect_creating(&self, wait: Duration, production: bool) -> Result<Client> {
        self.open(wait, Some(production))
            .await
            .map(|open| open.client)
    }

    /// A connection whose end can be awaited: `creating` is `Some(production)`
    /// when a missing database is to be created.
    pub async fn open(&self, wait: Duration, creating: Option<bool>) -> Result<OpenConnection> {
        let missing = |message: String| {
            Error::Connect(format!(
                "{message}: add --create-database (the createDatabase option) to create it, or \
                 run `createdb {}`",
                self.dbname()
            ))
        };
        let message = match self.try_connect(wait).await {
            Ok(open) => return Ok(open),
            Err(Failure::Other(error)) => return Err(error),
            Err(Failure::MissingDatabase(message)) => message,
        };
        match creating {
            None => Err(missing(message)),
            Some(true) => Err(Error::Connect(format!(
                "{message}: with NODE_ENV=production stratum never creates a database; create \
                 it with `createdb {}` (or your provider's tools)",
                self.dbname()
            ))),
            Some(false) => {
                self.create_database().await?;
                match self.try_connect(wait).await {
                    Ok(open) => Ok(open),
                    Err(Failure::Other(error)) => Err(error),
                    Err(Failure::MissingDatabase(message)) => Err(missing(message)),
                }
            }
        }
    }

    fn dbname(&self) -> &str {
        self.config.get_dbname().unwrap_or("")
    }

    async fn create_database(&self) -> Result<()> {
        let name = self.dbname().to_owned();
        let mut last = None;
        for maintenance in MAINTENANCE_DATABASES {
            let mut admin = self.clone();
            admin.config.dbname(*maintenance);
            admin.label = label(&admin.config);
            let client = match admin.try_connect(Duration::ZERO).await {
                Ok(open) => open.client,
                Err(Failure::MissingDatabase(message)) => {
                    last = Some(Error::Connect(message));
                    continue;
                }
                Err(Failure::Other(error)) => return Err(error),
            };
            let sql = format!("CREATE DATABASE {}", super::sql::ident(&name));
            return match client.batch_execute(&sql).await {
                Ok(()) => Ok(()),
                // Another run created it in the meantime: just as good.
                Err(error)
                    if error.as_db_error().map(|db| db.code().code())
                        == Some(DUPLICATE_DATABASE) =>
                {
                    Ok(())
                }
                Err(error) => Err(Error::Connect(format!(
                    "database \"{name}\" does not exist, and creating it failed: {} ({})",
                    describe(&error),
                    admin.label
                ))),
            };
        }
        Err(last.unwrap_or_else(|| Error::Internal("no maintenance database to try".into())))
    }

    async fn try_connect(&self, wait: Duration) -> std::result::Result<OpenConnection, Failure> {
        // Under sslmode=disable the driver never starts TLS, so the connector
        // goes unused; one connector type for every mode compiles the
        // driver's connect code once.
        let tls = self.tls.connector().map_err(Failure::Other)?;
        let deadline = Instant::now() + wait;
        let mut pause = FIRST_RETRY;
        let (client, connection) = loop {
            match self.config.connect(tls.clone()).await {
                Ok(pair) => break pair,
                Err(error) if is_transient(&error) && Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LONGEST_RETRY);
                }
                Err(error)
                    if error.as_db_error().map(|db| db.code().code())
                        == Some(INVALID_CATALOG_NAME) =>
                {
                    return Err(Failure::MissingDatabase(format!(
                        "{} ({})",
                        describe(&error),
                        self.label
                    )));
                }
                Err(error) => {
                    let waited = if wait.is_zero() {
                        String::new()
                    } else {
                        format!("; gave up after waiting {} ms", wait.as_millis())
                    };
                    return Err(Failure::Other(Error::Connect(format!(
                        "{} ({}){waited}",
                        describe(&error),
                        self.label
                    ))));
                }
            }
        };
        let driver = tokio::spawn(async move {
            // The client reports a closed connection on its next call, so the
            // driver's own error is not needed here.
            let _ = connection.await;
        });
        Ok(OpenConnection { client, driver })
    }
}

/// A client and the task that drives its connection.
pub struct OpenConnection {
    pub client: Client,
    driver: tokio::task::JoinHandle<()>,
}

impl OpenConnection {
    /// The client, and the task that ends once the connection is closed.
    pub fn into_parts(self) -> (Client, tokio::task::JoinHandle<()>) {
        (self.client, self.driver)
    }
}

/// The URL with `PGPORT` given to every host that names no port. The URL
/// parser fills in 5432 for such a host, so libpq's fallback to `PGPORT`
/// has to happen in the text.
fn with_env_port(url: &str, env: &dyn Environment) -> Result<String> {
    let Some(port) = env.var("PGPORT") else {
        return Ok(url.to_owned());
    };
    let port: u16 = port
        .parse()
        .map_err(|_| Error::Config(format!("PGPORT={port} is not a port number")))?;
    let Some((scheme, rest)) = url.split_once("://") else {
        let names_port = url.split_whitespace().any(|pair| pair.starts_with("port="));
        return Ok(if names_port {
            url.to_owned()
        } else {
            format!("{url} port={port}")
        });
    };
    if rest.contains("port=") {
        return Ok(url.to_owned());
    }
    let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_len);
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
        None => (String::new(), authority),
    };
    if hosts.is_empty() {
        return Ok(url.to_owned());
    }
    let hosts: Vec<String> = hosts
        .split(',')
        .map(|host| {
            let has_port = host
                .rsplit_once(':')
                .is_some_and(|(_, after)| !after.contains(']'));
            if has_port {
                host.to_owned()
            } else {
                format!("{host}:{port}")
            }
        })
        .collect();
    Ok(format!("{scheme}://{userinfo}{}{tail}", hosts.join(",")))
}

/// Failures a server that is still starting gives: nothing listens yet, or
/// it listens but is not ready (SQLSTATE 57P03).
fn is_transient(error: &tokio_postgres::Error) -> bool {
    match error.as_db_error() {
        Some(db) => db.code().code() == "57P03",
        None => !matches!(
            describe(error).as_str(),
            text if text.contains("password") || text.contains("authentication")
        ),
    }
}

fn env_port(env: &dyn Environment) -> Result<u16> {
    env.var("PGPORT").map_or(Ok(DEFAULT_PORT), |port| {
        port.parse()
            .map_err(|_| Error::Config(format!("PGPORT={port} is not a port number")))
    })
}

/// libpq connects to the local unix socket when no host is given.
fn default_host(env: &dyn Environment) -> String {
    let port = env_port(env).unwrap_or(DEFAULT_PORT);
    SOCKET_DIRS
        .iter()
        .find(|dir| Path::new(dir).join(format!(".s.PGSQL.{port}")).exists())
        .map_or_else(|| "localhost".into(), |dir| (*dir).to_owned())
}

fn os_user(env: &dyn Environment) -> String {
    env.var("USER")
        .or_else(|| env.var("LOGNAME"))
        .or_else(|| env.var("USERNAME"))
        .unwrap_or_else(|| "postgres".into())
}

fn label(config: &Config) -> String {
    format!(
        "{}@{}/{}",
        config.get_user().unwrap_or(""),
        server(config),
        config.get_dbname().unwrap_or("")
    )
}

/// `host:port` of the first host the config names.
fn server(config: &Config) -> String {
    let host = match (config.get_hosts().first(), config.get_hostaddrs().first()) {
        (Some(Host::Tcp(host)), _) => host.clone(),
        (Some(Host::Unix(path)), _) => path.display().to_string(),
        (None, Some(addr)) => addr.to_string(),
        (None, None) => "localhost".into(),
    };
    format!(
        "{host}:{}",
        config.get_ports().first().copied().unwrap_or(DEFAULT_PORT)
    )
}

/// The driver's error with its cause, which is where the useful part is
/// ("Connection refused", "password authentication failed …").
pub fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return db.message().to_owned();
    }
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::options::testing::env;

    #[test]
    fn the_url_wins_and_the_label_hides_the_password() {
        let settings = ConnectionSettings::resolve(
            Some("postgres://app:s3cret@db.example:6543/billing"),
            &env(&[("PGUSER", "other"), ("PGPORT", "1")]),
        )
        .unwrap();
        assert_eq!(settings.label, "app@db.example:6543/billing");
        assert_eq!(settings.password.as_deref(), Some("s3cret"));
        assert!(!format!("{settings:?}").contains("label: \"app:s3cret"));
    }

    #[test]
    fn pg_variables_fill_what_the_url_leaves_out() {
        let settings = ConnectionSettings::resolve(
            Some("postgres://db.example/billing"),
            &env(&[
                ("PGUSER", "deploy"),
                ("PGPASSWORD", "pw"),
                ("PGPORT", "6000"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.label, "deploy@db.example:6000/billing");
        assert_eq!(settings.password.as_deref(), Some("pw"));
    }

    #[test]
    fn without_a_url_libpq_defaults_apply() {
        let settings =
            ConnectionSettings::resolve(None, &env(&[("PGHOST", "10.0.0.5"), ("USER", "alice")]))
                .unwrap();
        assert_eq!(settings.label, "alice@10.0.0.5:5432/alice");
    }

    #[test]
    fn a_bad_url_is_a_config_error_without_the_password() {
        let error =
            ConnectionSettings::resolve(Some("postgres://u:topsecret@host:notaport/db"), &env(&[]))
                .unwrap_err();
        assert_eq!(error.code(), "E_CONFIG");
        assert!(!error.to_string().contains("topsecret"));
    }

    #[test]
    fn a_bad_port_variable_is_a_config_error() {
        let error = ConnectionSettings::resolve(None, &env(&[("PGPORT", "x")])).unwrap_err();
        assert_eq!(error.code(), "E_CONFIG");
    }
}
