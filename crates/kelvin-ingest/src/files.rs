//! Reading untrusted files: regular files only, of a known size, never more than a limit.
//!
//! A path given to Kelvin may be a FIFO (opening it for reading blocks until a writer comes), a
//! character device such as `/dev/zero` (endless), a symlink to either, or a file that grows
//! while it is read. [`read_regular`] reads through [`kelvin_guard::file::read`], which looks
//! at what the path is *before* opening it, opens only regular files (non-blocking on Linux, so
//! that a file swapped for a FIFO between the look and the open cannot block either), checks
//! the opened handle again, reserves the announced size fallibly and reads at most one byte
//! past the limit; its refusals become a quarantine reason and a detail here.

use std::path::Path;

use kelvin_guard::ErrorKind;

use crate::Reason;

/// Why a file was not read: the reason it is quarantined with, and a detail naming the limit or
/// the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) reason: Reason,
    pub(crate) detail: String,
}

/// Reads a regular file of at most `limit` bytes; `limit_name` names the limit in the detail.
/// Symlinks are followed (callers that must not follow them look first with
/// `symlink_metadata`). Anything that is not a regular file is refused without being opened
/// ([`Reason::Unreadable`]); a file over the limit is refused from its size without being read
/// ([`Reason::InputTooLarge`]), and so is one that grows past it while being read.
pub(crate) fn read_regular(path: &Path, limit: u64, limit_name: &str) -> Result<Vec<u8>, Refused> {
    kelvin_guard::file::read(path, Some(limit)).map_err(|e| {
        let found = e.found().unwrap_or(0);
        let (reason, detail) = match e.kind() {
            ErrorKind::TooLarge => (
                Reason::InputTooLarge,
                format!("{found} bytes, over {limit_name} ({limit}): not read"),
            ),
            ErrorKind::Grew => (
                Reason::InputTooLarge,
                format!("grew past {limit_name} ({limit}) while being read: not kept"),
            ),
            ErrorKind::NoMemory => (
                Reason::InputTooLarge,
                format!("{found} bytes: {}", e.cause().unwrap_or_default()),
            ),
            // "a FIFO, not a regular file: not opened", "cannot read: …"
            _ => (Reason::Unreadable, e.detail().to_string()),
        };
        Refused { reason, detail }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn refusals_are_reasons_with_details() {
        let d = std::env::temp_dir().join(format!("kelvin-files-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        let f = d.join("a.txt");
        fs::write(&f, b"hello").unwrap();
        assert_eq!(read_regular(&f, 5, "max").unwrap(), b"hello");
        let e = read_regular(&f, 4, "max_input_bytes").unwrap_err();
        assert_eq!(e.reason, Reason::InputTooLarge);
        assert_eq!(e.detail, "5 bytes, over max_input_bytes (4): not read");
        let e = read_regular(&d.join("missing"), 4, "max").unwrap_err();
        assert_eq!(e.reason, Reason::Unreadable);
        assert!(e.detail.starts_with("cannot read: "), "{}", e.detail);
        let e = read_regular(&d, 4, "max").unwrap_err();
        assert_eq!(e.reason, Reason::Unreadable);
        assert_eq!(e.detail, "a directory, not a regular file: not opened");
        fs::remove_dir_all(&d).unwrap();
        #[cfg(target_os = "linux")]
        {
            // procfs files say they hold 0 bytes.
            let e = read_regular(Path::new("/proc/self/status"), 4, "max_json_bytes").unwrap_err();
            assert_eq!(e.reason, Reason::InputTooLarge);
            assert_eq!(
                e.detail,
                "grew past max_json_bytes (4) while being read: not kept"
            );
        }
    }
}
