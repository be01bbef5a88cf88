//! Reading files from outside: only regular files, only up to a documented size, and the
//! buffer reserved fallibly before any byte is read.
//!
//! A path can name a FIFO (whose `open` blocks until a writer comes), a device such as
//! `/dev/zero` (endless) or a file far larger than its reader is meant for; every reader of
//! outside files in this crate goes through [`regular_file`] first, so each of these is a
//! typed error naming the file and the limit, before anything is allocated or read.

use std::fs::{File, FileType};
use std::io::Read;
use std::path::Path;

use crate::{StoreError, StoreErrorKind};

/// What a file that is not a regular file is, for the error message.
fn kind_of(ft: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// A size limit and the name of the setting or constant that holds it, for the messages.
pub(crate) type Limit<'a> = (u64, &'a str);

/// The size of `path` after checking that it is a regular file (symbolic links followed) of at
/// most `limit` bytes when there is a limit; `what` names the reader, for the messages.
///
/// # Errors
/// [`StoreErrorKind::Io`] when the file's metadata cannot be read; `kind` (the reader's choice:
/// `InvalidInput` for imports, `Corrupt` for the store's own files) for a file that is not a
/// regular file or is over the limit.
pub(crate) fn regular_file(
    path: &Path,
    what: &str,
    limit: Option<Limit<'_>>,
    kind: StoreErrorKind,
) -> Result<u64, StoreError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        StoreError::new(
            StoreErrorKind::Io,
            format!("reading {}: {e}", path.display()),
        )
    })?;
    if !meta.file_type().is_file() {
        let why = match limit {
            Some((limit, name)) => format!(
                "its size cannot be checked against the {limit}-byte limit of {what} ({name}); \
                 give the path of a regular file"
            ),
            None => format!("{what} must be a regular file"),
        };
        return Err(StoreError::new(
            kind,
            format!(
                "{}: {}, not a regular file, so {why}",
                path.display(),
                kind_of(&meta.file_type()),
            ),
        ));
    }
    let len = meta.len();
    if let Some((limit, name)) = limit
        && len > limit
    {
        return Err(StoreError::new(
            kind,
            format!(
                "{}: {len} bytes, over the {limit}-byte limit of {what} ({name})",
                path.display()
            ),
        ));
    }
    Ok(len)
}

/// Opens `path` (which [`regular_file`] accepted as `len` bytes) and reads it whole, with the
/// buffer reserved fallibly first and at most `limit` bytes read even if the file grew since.
///
/// # Errors
/// [`StoreErrorKind::Io`] for a failed open or read; [`StoreErrorKind::MemoryBudget`] when the
/// buffer cannot be reserved; `kind` when the file grew past `limit` while being read.
pub(crate) fn read_limited(
    path: &Path,
    len: u64,
    limit: u64,
    what: &str,
    kind: StoreErrorKind,
) -> Result<Vec<u8>, StoreError> {
    let io = |e: std::io::Error| {
        StoreError::new(
            StoreErrorKind::Io,
            format!("reading {}: {e}", path.display()),
        )
    };
    let file = File::open(path).map_err(io)?;
    let mut buf: Vec<u8> = Vec::new();
    let want = usize::try_from(len).unwrap_or(usize::MAX);
    buf.try_reserve_exact(want).map_err(|e| {
        StoreError::new(
            StoreErrorKind::MemoryBudget,
            format!(
                "{}: cannot reserve {len} bytes to read it: {e}",
                path.display()
            ),
        )
    })?;
    file.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() as u64 > limit {
        return Err(StoreError::new(
            kind,
            format!(
                "{}: grew past the {limit}-byte limit of {what} while being read",
                path.display()
            ),
        ));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_directories_are_refused_by_name() {
        let dir = std::env::temp_dir();
        let e = regular_file(
            &dir,
            "a test",
            Some((10, "LIMIT")),
            StoreErrorKind::InvalidInput,
        )
        .unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
        assert!(e.reason().contains("a directory"), "{e}");
        assert!(e.reason().contains("10-byte limit"), "{e}");
        #[cfg(unix)]
        {
            let e = regular_file(
                Path::new("/dev/zero"),
                "a test",
                None,
                StoreErrorKind::Corrupt,
            )
            .unwrap_err();
            assert_eq!(e.kind(), StoreErrorKind::Corrupt);
            assert_eq!(
                e.reason(),
                "/dev/zero: a character device, not a regular file, so a test must be a \
                 regular file"
            );
        }
    }

    #[test]
    fn a_file_over_the_limit_is_refused_and_one_under_it_is_read() {
        let path =
            std::env::temp_dir().join(format!("kelvin-store-input-{}.txt", std::process::id()));
        std::fs::write(&path, b"0123456789").unwrap();
        let e = regular_file(
            &path,
            "a test",
            Some((9, "LIMIT")),
            StoreErrorKind::InvalidInput,
        )
        .unwrap_err();
        assert!(
            e.reason()
                .ends_with("10 bytes, over the 9-byte limit of a test (LIMIT)")
        );
        let len = regular_file(
            &path,
            "a test",
            Some((10, "LIMIT")),
            StoreErrorKind::InvalidInput,
        )
        .unwrap();
        assert_eq!(len, 10);
        let bytes = read_limited(&path, len, 10, "a test", StoreErrorKind::InvalidInput).unwrap();
        assert_eq!(bytes, b"0123456789");
        let e = read_limited(&path, 4, 4, "a test", StoreErrorKind::InvalidInput).unwrap_err();
        assert!(e.reason().contains("grew past the 4-byte limit"), "{e}");
        let _ = std::fs::remove_file(&path);
    }
}
