//! The private directory: owner-only files holding a poll's credentials, removed after it, and
//! the quoting of secrets in the configuration languages of the tools that read them.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Creates `dir` (and its parents) owner-only (0700), or makes an existing one owner-only.
/// A symbolic link or a file in its place is refused.
pub(super) fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    let at = |e: std::io::Error| format!("private directory {}: {e}", dir.display());
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(at)?;
    let meta = fs::symlink_metadata(dir).map_err(at)?;
    if !meta.is_dir() {
        return Err(format!(
            "private directory {}: not a directory (a symbolic link is refused)",
            dir.display()
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        // Fails unless the directory is ours (or we are root): then it is not private.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(at)?;
    }
    Ok(())
}

/// A name no other poll of this process uses: `{prefix}-{pid}-{n}`.
fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A file or directory in the private directory, removed when dropped.
#[derive(Debug)]
pub(super) struct Private {
    path: PathBuf,
    is_dir: bool,
}

impl Private {
    /// A new owner-only file (0600) in `dir` holding `contents`.
    pub(super) fn file(dir: &Path, prefix: &str, contents: &str) -> Result<Private, String> {
        let path = dir.join(unique_name(prefix));
        // A leftover of a crashed agent with the same pid: ours, in our private directory.
        let _ = fs::remove_file(&path);
        let guard = Private {
            path: path.clone(),
            is_dir: false,
        };
        write_private(&path, contents)?;
        Ok(guard)
    }

    /// A new owner-only directory (0700) in `dir`.
    pub(super) fn dir(dir: &Path, prefix: &str) -> Result<Private, String> {
        let path = dir.join(unique_name(prefix));
        let _ = fs::remove_dir_all(&path);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| format!("creating {}: {e}", path.display()))?;
        Ok(Private { path, is_dir: true })
    }

    /// Where it is.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = if self.is_dir {
            fs::remove_dir_all(&self.path)
        } else {
            fs::remove_file(&self.path)
        };
    }
}

/// Creates the file `path` owner-only (0600) from the start, holding `contents`; an existing
/// file is an error.
pub(super) fn write_private(path: &Path, contents: &str) -> Result<(), String> {
    let at = |e: std::io::Error| format!("writing {}: {e}", path.display());
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(at)?;
    f.write_all(contents.as_bytes()).map_err(at)?;
    f.sync_all().map_err(at)
}

/// Whether a secret can be written in a configuration file at all: no line breaks or other
/// control characters.
fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// `s` as one quoted argument of a FreeIPMI configuration file (its `conffile` parser): in
/// double quotes, with `\`, `#` (a comment even inside quotes) and `"` escaped by `\`. `None`
/// when `s` holds a control character, which the format cannot carry.
pub(super) fn freeipmi_quote(s: &str) -> Option<String> {
    if !printable(s) {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '\\' | '#' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

/// `s` as one quoted word of a net-snmp configuration file (`copy_nword`): in double quotes,
/// with `\` and `"` escaped by `\`. `None` when `s` holds a control character.
pub(super) fn netsnmp_quote(s: &str) -> Option<String> {
    if !printable(s) {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '\\' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(freeipmi_quote(r#"a b#c\d"e"#).unwrap(), r#""a b\#c\\d\"e""#);
        assert_eq!(netsnmp_quote(r#"a b#c\d"e"#).unwrap(), r#""a b#c\\d\"e""#);
        assert_eq!(freeipmi_quote("line\nbreak"), None);
        assert_eq!(netsnmp_quote("tab\there"), None);
    }

    #[test]
    fn private_files_are_owner_only_and_removed() {
        let dir = std::env::temp_dir().join(unique_name("kelvin-exec-private-test"));
        ensure_private_dir(&dir.join("inner")).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("inner")), 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let path = {
            let f = Private::file(&dir, "cfg", "secret").unwrap();
            assert_eq!(mode(f.path()), 0o600);
            assert_eq!(fs::read_to_string(f.path()).unwrap(), "secret");
            f.path().to_path_buf()
        };
        assert!(!path.exists());
        let sub = Private::dir(&dir, "snmp").unwrap();
        assert_eq!(mode(sub.path()), 0o700);
        let sub_path = sub.path().to_path_buf();
        drop(sub);
        assert!(!sub_path.exists());
        std::os::unix::fs::symlink(&dir, dir.join("link")).unwrap();
        assert!(ensure_private_dir(&dir.join("link")).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
