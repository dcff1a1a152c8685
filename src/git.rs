//! The migration files as they were at a git commit, for `lint --since`:
//! read with the `git` on the PATH (never written), so any checkout works
//! the way its owner's git sees it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use stratum_core::Migration;
use stratum_core::source::migrations_from_files;

use crate::error::{Error, Result};

enum Failure {
    /// No `git` to run.
    NotFound,
    /// git ran and refused; what it said.
    Refused(String),
    Io(String),
}

/// The migrations in `dir` as they were at `reference` (a branch, tag or
/// commit); none when the folder did not exist there.
pub fn migrations_at(dir: &Path, reference: &str) -> Result<Vec<Migration>> {
    if reference.is_empty() || reference.starts_with('-') {
        return Err(Error::Config(format!(
            "--since takes a git commit, branch or tag, not {reference:?}"
        )));
    }
    let not_found = || {
        Error::Config("--since compares with git, and no `git` is on the PATH: install it".into())
    };
    let prefix = match git(dir, &["rev-parse", "--show-prefix"], None) {
        Ok(prefix) => String::from_utf8_lossy(&prefix).trim().to_owned(),
        Err(Failure::NotFound) => return Err(not_found()),
        Err(Failure::Refused(said) | Failure::Io(said)) => {
            return Err(Error::Config(format!(
                "--since compares with git, but {} is not inside a git checkout ({said})",
                dir.display()
            )));
        }
    };
    let commit = format!("{reference}^{{commit}}");
    if let Err(failure) = git(dir, &["rev-parse", "--verify", "--quiet", &commit], None) {
        return Err(match failure {
            Failure::NotFound => not_found(),
            Failure::Refused(_) | Failure::Io(_) => Error::Config(format!(
                "--since {reference}: no such commit in this checkout; in CI, fetch it first \
                 (`git fetch origin main`, or actions/checkout with `fetch-depth: 0`)"
            )),
        });
    }
    let tree = format!("{reference}:{}", prefix.trim_end_matches('/'));
    let listing = match git(dir, &["ls-tree", "-z", "--full-tree", &tree], None) {
        Ok(listing) => listing,
        // The commit exists, so the folder did not exist in it.
        Err(Failure::Refused(_)) => return Ok(Vec::new()),
        Err(Failure::NotFound) => return Err(not_found()),
        Err(Failure::Io(said)) => return Err(io(dir, said)),
    };
    // `<mode> blob <object>\t<name>`, each ended by NUL.
    let blobs: Vec<(String, String)> = listing
        .split(|byte| *byte == 0)
        .filter_map(|entry| {
            let entry = std::str::from_utf8(entry).ok()?;
            let (meta, name) = entry.split_once('\t')?;
            let mut fields = meta.split(' ');
            let (_, kind, object) = (fields.next()?, fields.next()?, fields.next()?);
            (kind == "blob" && name.to_ascii_lowercase().ends_with(".sql"))
                .then(|| (name.to_owned(), object.to_owned()))
        })
        .collect();
    if blobs.is_empty() {
        return Ok(Vec::new());
    }
    let request: String = blobs
        .iter()
        .map(|(_, object)| format!("{object}\n"))
        .collect();
    let contents =
        git(dir, &["cat-file", "--batch"], Some(request.as_bytes())).map_err(|failure| {
            match failure {
                Failure::NotFound => not_found(),
                Failure::Refused(said) | Failure::Io(said) => io(dir, said),
            }
        })?;
    let bodies = split_batch(&contents, blobs.len()).ok_or_else(|| {
        io(
            dir,
            "git cat-file --batch answered in an unexpected form".into(),
        )
    })?;
    migrations_from_files(
        blobs
            .into_iter()
            .zip(bodies)
            .map(|((name, _), body)| (name, body)),
    )
    .map_err(Error::Source)
}

fn io(dir: &Path, message: String) -> Error {
    Error::Io {
        path: dir.display().to_string(),
        message,
    }
}

/// The bodies of `git cat-file --batch`'s answer: for each object a line
/// `<object> <type> <size>`, then `size` bytes and a newline.
fn split_batch(mut answer: &[u8], count: usize) -> Option<Vec<Vec<u8>>> {
    let mut bodies = Vec::with_capacity(count);
    for _ in 0..count {
        let header_end = answer.iter().position(|byte| *byte == b'\n')?;
        let header = std::str::from_utf8(&answer[..header_end]).ok()?;
        let size: usize = header.rsplit(' ').next()?.parse().ok()?;
        let body_start = header_end + 1;
        bodies.push(answer.get(body_start..body_start + size)?.to_vec());
        answer = answer.get(body_start + size + 1..)?;
    }
    Some(bodies)
}

fn git(dir: &Path, args: &[&str], input: Option<&[u8]>) -> std::result::Result<Vec<u8>, Failure> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => Failure::NotFound,
            _ => Failure::Io(error.to_string()),
        })?;
    // Written from a thread of its own: git answers as it reads, and an
    // answer that fills its pipe would otherwise wait on a request that
    // waits on the answer.
    let writer = match (input, child.stdin.take()) {
        (Some(input), Some(mut stdin)) => {
            let input = input.to_vec();
            Some(std::thread::spawn(move || stdin.write_all(&input)))
        }
        _ => None,
    };
    let output = child
        .wait_with_output()
        .map_err(|error| Failure::Io(error.to_string()))?;
    if let Some(writer) = writer {
        writer
            .join()
            .map_err(|_| Failure::Io("writing to git failed".into()))?
            .map_err(|error| Failure::Io(error.to_string()))?;
    }
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(Failure::Refused(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::split_batch;

    #[test]
    fn batch_answers_split_by_their_sizes() {
        let answer = b"aaa blob 3\nx\ny\nbbb blob 0\n\n";
        assert_eq!(
            split_batch(answer, 2),
            Some(vec![b"x\ny".to_vec(), Vec::new()])
        );
        assert_eq!(split_batch(b"aaa blob 9\nshort\n", 1), None);
    }
}
