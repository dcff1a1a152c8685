//! Where the embedded PostgreSQL lives when stratum runs as root and the
//! server's unprivileged account cannot reach the project: a folder under
//! `/var/lib/stratum` that the account can enter and root alone controls the
//! path to. An app kept in root's home folder then works without anyone
//! opening that folder to other users.
//!
//! Two things may need a place there, each only when the account cannot reach
//! it where it is: the server's home (data folder, socket, log), in
//! `/var/lib/stratum/<digest of the project folder>`, and a copy of the
//! binaries, in `/var/lib/stratum/postgres-<digest of the package and its
//! version>`, shared by every project that uses that package.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::Account;
use crate::error::{Error, Result};

/// The root-controlled folder that holds every refuge.
pub const STATE_ROOT: &str = "/var/lib/stratum";

/// What of the server moves out of reach of the project's folders.
#[derive(Debug, Clone)]
pub struct Refuge {
    /// The project folder the server belongs to.
    project: PathBuf,
    /// Set when the account cannot reach the project's `.stratum`.
    pub home: Option<PathBuf>,
    /// Set when the account cannot reach the binaries: where their copy goes.
    pub binaries: Option<PathBuf>,
    /// The first folder the account cannot enter, for the one-time note.
    blocked: PathBuf,
    account_name: String,
}

impl Refuge {
    /// What must move, if anything, for a server of `account` whose home
    /// would be `home` (the project's `.stratum`) and binaries `native`.
    pub fn needed(account: &Account, project: &Path, home: &Path, native: &Path) -> Option<Self> {
        let root = Path::new(STATE_ROOT);
        // `.stratum` itself is handed to the account; the folders above it are not.
        let home_blocked = home.parent().and_then(|parent| blocked(account, parent));
        let binaries_blocked = blocked(account, &native.join("bin"));
        if home_blocked.is_none() && binaries_blocked.is_none() {
            return None;
        }
        let digest = |text: &str| stratum_core::checksum::checksum(text)[..16].to_owned();
        Some(Self {
            project: project.to_path_buf(),
            home: home_blocked
                .is_some()
                .then(|| root.join(digest(&project.display().to_string()))),
            binaries: binaries_blocked.is_some().then(|| {
                let version = package_version(native).unwrap_or_default();
                root.join(format!(
                    "postgres-{}",
                    digest(&format!("{}\n{version}", native.display()))
                ))
            }),
            blocked: home_blocked.or(binaries_blocked)?,
            account_name: account.name.clone(),
        })
    }

    /// Makes the refuge's folders, copies the binaries from `native` when
    /// they move, and says once, on stderr, where the server now lives.
    pub fn prepare(&self, native: &Path) -> Result<()> {
        let root = Path::new(STATE_ROOT);
        let mut made = make_dir(root)?;
        check_root_controlled(root)?;
        if let Some(home) = &self.home {
            made |= make_dir(home)?;
            let note = home.join("project");
            if !note.exists() {
                // For whoever looks at /var/lib/stratum: whose server this is.
                fs::write(&note, format!("{}\n", self.project.display()))
                    .map_err(|error| io(&note, error))?;
            }
        }
        if let Some(copy) = &self.binaries {
            made |= copy_binaries(native, copy)?;
        }
        if made {
            eprintln!(
                "stratum: the embedded PostgreSQL runs as `{}` (PostgreSQL refuses root), which \
                 cannot enter {}; it keeps {} in {}, a folder only root controls the path to \
                 (`stratum db status` shows it)",
                self.account_name,
                self.blocked.display(),
                match (&self.home, &self.binaries) {
                    (Some(_), Some(_)) => "a copy of its binaries, its data and its socket",
                    (Some(_), None) => "its data and its socket",
                    _ => "a copy of its binaries",
                },
                self.home
                    .as_deref()
                    .or(self.binaries.as_deref())
                    .unwrap_or(root)
                    .display()
            );
        }
        Ok(())
    }
}

/// The first folder from the root down to `path` (itself included) that
/// `account` cannot enter, judged by owner, group and mode as the kernel does
/// (supplementary groups aside, which only makes the judgement cautious).
pub fn blocked(account: &Account, path: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let mut folders: Vec<&Path> = path.ancestors().collect();
    folders.reverse();
    folders.into_iter().find_map(|folder| {
        // A folder that does not exist yet is made by root, and handed over.
        let meta = fs::metadata(folder).ok()?;
        let mode = meta.mode();
        let can_enter = if meta.uid() == account.uid {
            mode & 0o100 != 0
        } else if meta.gid() == account.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        (!can_enter).then(|| folder.to_path_buf())
    })
}

/// The `version` of the npm package whose `native` folder this is.
fn package_version(native: &Path) -> Option<String> {
    let text = fs::read_to_string(native.parent()?.join("package.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["version"].as_str().map(str::to_owned)
}

/// Creates `dir` (root's, mode 0755) unless it exists; `true` when it made it.
fn make_dir(dir: &Path) -> Result<bool> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match fs::DirBuilder::new()
        .recursive(false)
        .mode(0o755)
        .create(dir)
    {
        Ok(()) => {
            // The umask may have taken bits the server's account needs.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
                .map_err(|error| io(dir, error))?;
            Ok(true)
        }
        Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(error) if error.kind() == ErrorKind::NotFound => {
            let parent = dir.parent().unwrap_or(dir);
            fs::create_dir_all(parent).map_err(|error| io(parent, error))?;
            make_dir(dir)
        }
        Err(error) => Err(io(dir, error)),
    }
}

/// Refuses a refuge whose path another user could redirect: every folder
/// from `/` down must be root's and writable by root alone.
fn check_root_controlled(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    for folder in dir.ancestors() {
        let meta = fs::symlink_metadata(folder).map_err(|error| io(folder, error))?;
        if meta.file_type().is_symlink() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
            return Err(Error::Config(format!(
                "the embedded PostgreSQL keeps its files in {STATE_ROOT} when its unprivileged \
                 account cannot reach the project, and {} is not a folder that root alone \
                 controls: make it root's with mode 0755 (`chown root: {0}; chmod 755 {0}`), \
                 or set DATABASE_URL to use another server",
                folder.display()
            )));
        }
    }
    Ok(())
}

/// Copies the `native` folder to `copy` unless it is there; `true` when it
/// copied. The copy is made beside it and renamed into place, so a copy that
/// exists is whole, and two processes copying at once both end with it.
fn copy_binaries(native: &Path, copy: &Path) -> Result<bool> {
    if copy.join("bin").is_dir() {
        return Ok(false);
    }
    let partial = copy.with_extension(format!("partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&partial);
    copy_tree(native, &partial)?;
    match fs::rename(&partial, copy) {
        Ok(()) => Ok(true),
        Err(_) if copy.join("bin").is_dir() => {
            let _ = fs::remove_dir_all(&partial);
            Ok(false)
        }
        Err(error) => {
            let _ = fs::remove_dir_all(&partial);
            Err(io(copy, error))
        }
    }
}

/// A copy of a folder with its symlinks (the libraries' versioned names) as
/// symlinks, readable by every account whatever the umask.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir(to).map_err(|error| io(to, error))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).map_err(|error| io(to, error))?;
    for entry in fs::read_dir(from).map_err(|error| io(from, error))? {
        let entry = entry.map_err(|error| io(from, error))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(|error| io(&source, error))?;
        if kind.is_symlink() {
            let link = fs::read_link(&source).map_err(|error| io(&source, error))?;
            std::os::unix::fs::symlink(link, &target).map_err(|error| io(&target, error))?;
        } else if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else {
            fs::copy(&source, &target).map_err(|error| io(&target, error))?;
            let mode = fs::metadata(&target)
                .map_err(|error| io(&target, error))?
                .permissions()
                .mode();
            fs::set_permissions(&target, fs::Permissions::from_mode(mode | 0o444))
                .map_err(|error| io(&target, error))?;
        }
    }
    Ok(())
}

fn io(path: &Path, error: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: format!("{error} (the embedded PostgreSQL's folder under {STATE_ROOT})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("stratum-refuge-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_closed_folder_on_the_way_is_found_and_an_open_one_is_not() {
        use std::os::unix::fs::PermissionsExt;
        let top = scratch("blocked");
        let closed = top.join("closed");
        fs::create_dir_all(closed.join("project")).unwrap();
        fs::set_permissions(&top, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&closed, fs::Permissions::from_mode(0o700)).unwrap();
        // An account that owns none of these folders.
        let stranger = Account {
            uid: 4_000_000_001,
            gid: 4_000_000_001,
            name: "stranger".into(),
        };
        assert_eq!(
            blocked(&stranger, &closed.join("project")),
            Some(closed.clone())
        );
        assert_eq!(blocked(&stranger, &top), None);
        let needed = Refuge::needed(
            &stranger,
            &closed.join("project"),
            &closed.join("project/.stratum"),
            &top,
        );
        let needed = needed.expect("a refuge for the data");
        assert!(needed.home.as_ref().unwrap().starts_with(STATE_ROOT));
        assert!(needed.binaries.is_none());
        fs::remove_dir_all(&top).unwrap();
    }

    #[test]
    fn a_copy_keeps_symlinks_and_makes_files_readable() {
        use std::os::unix::fs::PermissionsExt;
        let top = scratch("copy");
        let native = top.join("native");
        fs::create_dir_all(native.join("lib")).unwrap();
        fs::create_dir_all(native.join("bin")).unwrap();
        fs::write(native.join("lib/libpq.so.5.18"), "so").unwrap();
        fs::set_permissions(
            native.join("lib/libpq.so.5.18"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        std::os::unix::fs::symlink("libpq.so.5.18", native.join("lib/libpq.so.5")).unwrap();
        let copy = top.join("copy");
        assert!(copy_binaries(&native, &copy).unwrap());
        assert!(
            !copy_binaries(&native, &copy).unwrap(),
            "a second call copies nothing"
        );
        assert_eq!(
            fs::read_link(copy.join("lib/libpq.so.5")).unwrap(),
            Path::new("libpq.so.5.18")
        );
        let mode = fs::metadata(copy.join("lib/libpq.so.5.18"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o444, 0o444);
        fs::remove_dir_all(&top).unwrap();
    }
}
