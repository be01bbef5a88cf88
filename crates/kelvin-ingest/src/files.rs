//! Reading untrusted files: regular files only, of a known size, never more than a limit.
//!
//! A path given to Kelvin may be a FIFO (opening it for reading blocks until a writer comes), a
//! character device such as `/dev/zero` (endless), a symlink to either, or a file that grows
//! while it is read. [`read_regular`] looks at what the path is *before* opening it, opens
//! only regular files (non-blocking where the platform allows, so that a file swapped for a
//! FIFO between the look and the open cannot block either), checks the opened handle again,
//! reserves exactly the announced size, and reads at most one byte past the limit.

use std::fs;
use std::io::Read;
use std::path::Path;

use crate::Reason;

/// Why a file was not read: the reason it is quarantined with, and a detail naming the limit or
/// the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) reason: Reason,
    pub(crate) detail: String,
}

impl Refused {
    fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Refused {
            reason,
            detail: detail.into(),
        }
    }
}

/// What a file-system entry is, in words, for details.
pub(crate) fn kind_of(ft: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
    }
    if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Opens a path for reading without blocking on a FIFO: `O_NONBLOCK` on Linux (its value is
/// 0o4000 on the architectures below), a plain open elsewhere (where only the look before the
/// open protects).
fn open(path: &Path) -> std::io::Result<fs::File> {
    let mut o = fs::OpenOptions::new();
    o.read(true);
    #[cfg(all(
        target_os = "linux",
        any(
            target_arch = "x86_64",
            target_arch = "x86",
            target_arch = "aarch64",
            target_arch = "arm",
            target_arch = "riscv64"
        )
    ))]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(0o4000);
    }
    o.open(path)
}

/// Reads a regular file of at most `limit` bytes; `limit_name` names the limit in the detail.
/// Symlinks are followed (callers that must not follow them look first with
/// `symlink_metadata`). Anything that is not a regular file is refused without being opened
/// ([`Reason::Unreadable`]); a file over the limit is refused from its size without being read
/// ([`Reason::InputTooLarge`]), and so is one that grows past it while being read.
pub(crate) fn read_regular(path: &Path, limit: u64, limit_name: &str) -> Result<Vec<u8>, Refused> {
    let unreadable =
        |e: std::io::Error| Refused::new(Reason::Unreadable, format!("cannot read: {e}"));
    let meta = fs::metadata(path).map_err(unreadable)?;
    if !meta.is_file() {
        return Err(Refused::new(
            Reason::Unreadable,
            format!(
                "{}, not a regular file: not opened",
                kind_of(meta.file_type())
            ),
        ));
    }
    let too_large = |len: u64| {
        Refused::new(
            Reason::InputTooLarge,
            format!("{len} bytes, over {limit_name} ({limit}): not read"),
        )
    };
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let file = open(path).map_err(unreadable)?;
    // The path may have changed between the look and the open: check what was opened.
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(Refused::new(
            Reason::Unreadable,
            format!(
                "{}, not a regular file: not read",
                kind_of(meta.file_type())
            ),
        ));
    }
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let want = usize::try_from(meta.len().saturating_add(1)).map_err(|_| too_large(meta.len()))?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(want)
        .map_err(|e| Refused::new(Reason::InputTooLarge, format!("{} bytes: {e}", meta.len())))?;
    file.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(unreadable)?;
    if buf.len() as u64 > limit {
        return Err(Refused::new(
            Reason::InputTooLarge,
            format!("grew past {limit_name} ({limit}) while being read: not kept"),
        ));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("kelvin-files-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn regular_files_within_the_limit_are_read() {
        let d = temp("regular");
        let f = d.join("a.txt");
        fs::write(&f, b"hello").unwrap();
        assert_eq!(read_regular(&f, 5, "max").unwrap(), b"hello");
        let e = read_regular(&f, 4, "max_input_bytes").unwrap_err();
        assert_eq!(e.reason, Reason::InputTooLarge);
        assert_eq!(e.detail, "5 bytes, over max_input_bytes (4): not read");
        let e = read_regular(&d.join("missing"), 4, "max").unwrap_err();
        assert_eq!(e.reason, Reason::Unreadable);
        let e = read_regular(&d, 4, "max").unwrap_err();
        assert!(e.detail.starts_with("a directory"), "{}", e.detail);
        fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn devices_fifos_and_loops_are_never_opened() {
        let d = temp("special");
        let e = read_regular(Path::new("/dev/zero"), 1 << 20, "max").unwrap_err();
        assert_eq!(e.reason, Reason::Unreadable);
        assert!(e.detail.starts_with("a character device"), "{}", e.detail);
        let link = d.join("zero.json");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(read_regular(&link, 1 << 20, "max").is_err());
        let fifo = d.join("fifo.txt");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let e = read_regular(&fifo, 1 << 20, "max").unwrap_err();
            assert!(e.detail.starts_with("a FIFO"), "{}", e.detail);
        }
        let (a, b) = (d.join("a"), d.join("b"));
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        assert_eq!(
            read_regular(&a, 10, "max").unwrap_err().reason,
            Reason::Unreadable
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
