//! Who wrote a spec, and so what it may reach on the machine that runs it.
//!
//! A job file run by `ferry run` is the machine user's own: it may read the
//! environment (`password_env`) and any file. A spec sent to `ferry server`
//! is not: operators write tasks, and an operator must not gain more than
//! the API grants. So on the server:
//!
//! * no environment variable is readable from a spec (secrets live in
//!   sealed connections);
//! * a local path must lie under the server's `--files-root` (a relative
//!   path is taken relative to it), never inside its data directory (the
//!   store, the secret key), and no `..` may climb out; symbolic links are
//!   resolved before the check.
//!
//! Every connector asks [`Trust`] before it reads an environment variable
//! or takes a local path, at validation and again at run time.

use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// Where a spec came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Trust {
    /// The machine's own user (`ferry run`, `ferry validate`): the
    /// environment and every path.
    #[default]
    Local,
    /// Sent to `ferry server`: no environment, files only under its root.
    Server(FileRoots),
}

/// The directories a server confines local paths to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileRoots {
    /// `--files-root`: local files of tasks and connections lie under it;
    /// `None`: no local file may be used.
    pub files_root: Option<PathBuf>,
    /// The server's data directory (its embedded store), never reachable.
    pub data_dir: Option<PathBuf>,
    /// The server's own files wherever they are (the secret key, a SQLite
    /// store given with `--store`, the TLS key and certificate): never
    /// reachable, nor anything under them.
    pub protected: Vec<PathBuf>,
}

impl Trust {
    /// Checks that `var` may be read as `field` (no I/O): a valid name, and
    /// not on a server.
    pub fn check_env(&self, field: &str, var: &str) -> Result<()> {
        if var.is_empty() || var.contains('=') || var.contains('\0') {
            return Err(Error::invalid(field, "must name an environment variable"));
        }
        match self {
            Trust::Local => Ok(()),
            Trust::Server(_) => Err(Error::invalid(
                field,
                "environment variables are not readable by tasks sent to the server; \
                 keep the password in a named connection (`connection: NAME`), where it is stored encrypted",
            )),
        }
    }

    /// Reads the environment variable `var` for `field`.
    pub fn read_env(&self, field: &str, var: &str) -> Result<String> {
        self.check_env(field, var)?;
        std::env::var(var)
            .map_err(|_| Error::invalid(field, format!("environment variable {var} is not set")))
    }

    /// The path a spec's `field` may use for `path`: `path` itself locally;
    /// on a server, `path` resolved against the files root and checked to
    /// lie under it and outside the data directory.
    pub fn local_path(&self, field: &str, path: &Path) -> Result<PathBuf> {
        if path.as_os_str().is_empty() {
            return Err(Error::invalid(field, "must name a file or directory"));
        }
        let roots = match self {
            Trust::Local => return Ok(path.to_path_buf()),
            Trust::Server(roots) => roots,
        };
        let Some(root) = &roots.files_root else {
            return Err(Error::invalid(
                field,
                "local files are not available to tasks sent to this server: \
                 it was started without --files-root",
            ));
        };
        if path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(Error::invalid(
                field,
                format!("{}: `..` is not allowed in paths", path.display()),
            ));
        }
        let root = canonical(root);
        let joined = if path.is_absolute() {
            path.to_path_buf()
        } else {
            root.join(path)
        };
        let resolved = canonical(&joined);
        if !resolved.starts_with(&root) {
            return Err(Error::invalid(
                field,
                format!(
                    "{} is outside the server's files root {}; allowed: paths under it",
                    path.display(),
                    root.display()
                ),
            ));
        }
        for own in &roots.protected {
            if resolved.starts_with(canonical(own)) {
                return Err(Error::invalid(
                    field,
                    format!(
                        "{} is one of the server's own files (its key, store or TLS files); allowed: other paths under {}",
                        path.display(),
                        root.display()
                    ),
                ));
            }
        }
        if let Some(data) = &roots.data_dir {
            let data = canonical(data);
            if resolved.starts_with(&data) {
                return Err(Error::invalid(
                    field,
                    format!(
                        "{} is inside the server's data directory; allowed: paths under {} outside it",
                        path.display(),
                        root.display()
                    ),
                ));
            }
        }
        Ok(resolved)
    }
}

/// `path` with its longest existing ancestor canonicalized (symbolic links
/// resolved) and the rest appended: a file that does not exist yet is
/// judged by the directory it would be created in.
fn canonical(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = existing.canonicalize() {
            let mut out = c;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (
            existing.file_name().map(|n| n.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(root: &Path, data: &Path) -> Trust {
        Trust::Server(FileRoots {
            files_root: Some(root.to_path_buf()),
            data_dir: Some(data.to_path_buf()),
            protected: vec![root.join("keys/secret.key"), root.join("store.db")],
        })
    }

    #[test]
    fn server_paths_stay_under_the_root() {
        let tmp = std::env::temp_dir().join(format!("ferry-trust-{}", std::process::id()));
        let root = tmp.join("files");
        let data = root.join("data");
        std::fs::create_dir_all(&data).expect("dirs");
        let t = server(&root, &data);
        let ok = t
            .local_path("sink.path", Path::new("a/b.db"))
            .expect("inside");
        assert!(ok.ends_with("files/a/b.db"), "{}", ok.display());
        for bad in [
            "/etc/passwd",
            "../x.db",
            "data/ferry.db",
            "a/../../x",
            "keys/secret.key",
            "store.db",
        ] {
            let e = t
                .local_path("sink.path", Path::new(bad))
                .expect_err(bad)
                .to_string();
            assert!(e.contains("sink.path"), "{e}");
        }
        #[cfg(unix)]
        {
            let link = root.join("escape");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink("/etc", &link).expect("symlink");
            assert!(t.local_path("p", Path::new("escape/passwd")).is_err());
        }
        let none = Trust::Server(FileRoots::default());
        assert!(
            none.local_path("p", Path::new("/tmp/x"))
                .expect_err("no root")
                .to_string()
                .contains("--files-root")
        );
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[test]
    fn environment_is_local_only() {
        assert!(
            Trust::Local
                .check_env("source.password_env", "HOME")
                .is_ok()
        );
        let e = Trust::Server(FileRoots::default())
            .check_env("source.password_env", "FERRY_SECRET_KEY")
            .expect_err("server");
        assert!(e.to_string().contains("source.password_env"), "{e}");
        assert!(Trust::Local.check_env("f", "A=B").is_err());
    }
}
