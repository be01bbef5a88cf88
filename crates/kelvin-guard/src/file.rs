//! Regular files read within a size.
//!
//! A path given to a reader may name a FIFO (opening it for reading blocks until a writer
//! comes), a character device such as `/dev/zero` (endless), a symbolic link to either, a
//! directory, or a file far larger than its reader is meant for, or one that grows while it is
//! read. [`open`] looks at what the path is *before* opening it and opens only a regular file
//! within the limit — non-blocking on Linux, so that a file swapped for a FIFO between the look
//! and the open cannot block either — then checks the opened file again. [`read`] also reserves
//! the buffer for the size found, fallibly, and reads at most one byte past the limit, so a
//! file that grows is refused rather than read without end.
//!
//! Symbolic links are followed; a caller that must not follow them looks first with
//! [`std::fs::symlink_metadata`] (and can name what it found with [`describe`]).

use std::fs::{self, File, FileType, Metadata};
use std::io::Read;
use std::path::Path;

use crate::{Error, ErrorKind, Step};

/// What a file-system entry is, in words: `"a FIFO"`, `"a socket"`, `"a character device"`,
/// `"a block device"`, `"a directory"`, `"a symbolic link"`, `"a regular file"` or `"a
/// special file"`.
pub fn describe(ft: FileType) -> &'static str {
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

/// Opens a path for reading without blocking on a FIFO: `O_NONBLOCK` on Linux (0o4000 on the
/// architectures listed), a plain open elsewhere (where only the look before the open
/// protects). Reads of a regular file ignore the flag.
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
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

fn io_error(path: &Path, step: Step, e: &std::io::Error) -> Error {
    Error::new(
        ErrorKind::Io,
        Some(&path.display()),
        format!("cannot read: {e}"),
    )
    .at_step(step)
    .with_cause(e)
}

/// The size `meta` gives when it describes a regular file within `limit`.
fn admit(path: &Path, meta: &Metadata, limit: Option<u64>, step: Step) -> Result<u64, Error> {
    if !meta.is_file() {
        let entry = describe(meta.file_type());
        let done = if step == Step::Look {
            "not opened"
        } else {
            "not read"
        };
        let detail = format!("{entry}, not a regular file: {done}");
        return Err(
            Error::new(ErrorKind::NotRegular, Some(&path.display()), detail)
                .at_step(step)
                .with_entry(entry),
        );
    }
    let len = meta.len();
    match limit {
        Some(limit) if len > limit => {
            let detail = format!("{len} bytes, over the {limit}-byte limit: not read");
            Err(
                Error::new(ErrorKind::TooLarge, Some(&path.display()), detail)
                    .at_step(step)
                    .against(len, limit, None),
            )
        }
        _ => Ok(len),
    }
}

/// Opens `path` when it names a regular file (symbolic links followed) of at most `limit`
/// bytes (any size without a limit), and returns the file and its size. What the path names
/// is checked before it is opened and again on the opened file.
///
/// # Errors
/// [`ErrorKind::NotRegular`] for anything but a regular file (never opened at the look; when
/// the path changed between the look and the open, not read), [`ErrorKind::TooLarge`] for a
/// file over the limit (not read), [`ErrorKind::Io`] when the file system fails; each with
/// its [`Step`].
pub fn open(path: &Path, limit: Option<u64>) -> Result<(File, u64), Error> {
    let meta = fs::metadata(path).map_err(|e| io_error(path, Step::Look, &e))?;
    admit(path, &meta, limit, Step::Look)?;
    let file = open_nonblocking(path).map_err(|e| io_error(path, Step::Open, &e))?;
    // The path may have changed between the look and the open: check what was opened.
    let meta = file
        .metadata()
        .map_err(|e| io_error(path, Step::Open, &e))?;
    let len = admit(path, &meta, limit, Step::Open)?;
    Ok((file, len))
}

/// Reads `path` whole when it is a regular file of at most `limit` bytes (without a limit, of
/// at most the size it has when opened): [`open`], then a buffer reserved fallibly for the
/// size found, then at most one byte past the limit read, so that a file that grows while it
/// is read is refused rather than read without end.
///
/// # Errors
/// As [`open`]; [`ErrorKind::NoMemory`] when the buffer cannot be reserved,
/// [`ErrorKind::Grew`] when the file grew past the limit while it was read,
/// [`ErrorKind::Io`] when reading fails.
pub fn read(path: &Path, limit: Option<u64>) -> Result<Vec<u8>, Error> {
    let (file, len) = open(path, limit)?;
    let limit = limit.unwrap_or(len);
    let no_memory = |cause: &dyn std::fmt::Display| {
        let detail = format!("cannot reserve {len} bytes to read it: {cause}");
        Error::new(ErrorKind::NoMemory, Some(&path.display()), detail)
            .at_step(Step::Read)
            .with_cause(cause)
            .against(len, limit, None)
    };
    // One byte more than the file holds, so that reading to its end needs no reallocation.
    let want = usize::try_from(len.saturating_add(1))
        .map_err(|_| no_memory(&"more than the address space holds"))?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(want).map_err(|e| no_memory(&e))?;
    file.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| io_error(path, Step::Read, &e))?;
    if buf.len() as u64 > limit {
        let detail = format!("grew past the {limit}-byte limit while being read: not kept");
        return Err(Error::new(ErrorKind::Grew, Some(&path.display()), detail)
            .at_step(Step::Read)
            .against(buf.len() as u64, limit, None));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("kelvin-guard-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn regular_files_within_the_limit_are_read() {
        let d = temp("regular");
        let f = d.join("a.txt");
        fs::write(&f, b"hello").unwrap();
        assert_eq!(read(&f, Some(5)).unwrap(), b"hello");
        assert_eq!(read(&f, None).unwrap(), b"hello");
        let (_, len) = open(&f, Some(5)).unwrap();
        assert_eq!(len, 5);
        let e = read(&f, Some(4)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge);
        assert_eq!(
            (e.found(), e.limit(), e.step()),
            (Some(5), Some(4), Some(Step::Look))
        );
        assert_eq!(e.detail(), "5 bytes, over the 4-byte limit: not read");
        assert_eq!(e.message(), format!("{}: {}", f.display(), e.detail()));
        let e = read(&d.join("missing"), Some(4)).unwrap_err();
        assert_eq!((e.kind(), e.step()), (ErrorKind::Io, Some(Step::Look)));
        assert!(e.detail().starts_with("cannot read: "), "{e}");
        assert!(e.cause().is_some());
        let e = read(&d, Some(4)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotRegular);
        assert_eq!(e.entry(), Some("a directory"));
        assert_eq!(e.detail(), "a directory, not a regular file: not opened");
        fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn devices_fifos_and_loops_are_never_opened() {
        let d = temp("special");
        let e = read(Path::new("/dev/zero"), Some(1 << 20)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotRegular);
        assert_eq!(
            e.message(),
            "/dev/zero: a character device, not a regular file: not opened"
        );
        // Without a limit too: the size of a device says nothing.
        assert_eq!(
            open(Path::new("/dev/zero"), None).unwrap_err().kind(),
            ErrorKind::NotRegular
        );
        let link = d.join("zero.json");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert_eq!(
            read(&link, Some(1 << 20)).unwrap_err().entry(),
            Some("a character device")
        );
        let fifo = d.join("fifo.txt");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let e = read(&fifo, Some(1 << 20)).unwrap_err();
            assert!(e.detail().starts_with("a FIFO"), "{e}");
        } else {
            println!("SKIP: no mkfifo here, the FIFO case is not checked");
        }
        let (a, b) = (d.join("a"), d.join("b"));
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        assert_eq!(read(&a, Some(10)).unwrap_err().kind(), ErrorKind::Io);
        fs::remove_dir_all(&d).unwrap();
    }

    /// Files of procfs say they hold 0 bytes and hold more: what is read past the limit is
    /// not kept.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_that_holds_more_than_its_size_is_read_up_to_the_limit() {
        let p = Path::new("/proc/self/status");
        let e = read(p, Some(4)).unwrap_err();
        assert_eq!(
            (e.kind(), e.found(), e.limit(), e.step()),
            (ErrorKind::Grew, Some(5), Some(4), Some(Step::Read))
        );
        assert_eq!(
            e.detail(),
            "grew past the 4-byte limit while being read: not kept"
        );
        // Without a limit, the limit is the size found when the file was opened.
        assert_eq!(read(p, None).unwrap_err().limit(), Some(0));
        assert!(read(p, Some(1 << 20)).unwrap().starts_with(b"Name:"));
    }

    #[cfg(unix)]
    #[test]
    fn entries_are_named() {
        let d = temp("names");
        let ft = |p: &Path| fs::symlink_metadata(p).unwrap().file_type();
        assert_eq!(describe(ft(&d)), "a directory");
        let f = d.join("f");
        fs::write(&f, b"").unwrap();
        assert_eq!(describe(ft(&f)), "a regular file");
        let l = d.join("l");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        assert_eq!(describe(ft(&l)), "a symbolic link");
        assert_eq!(describe(ft(Path::new("/dev/null"))), "a character device");
        fs::remove_dir_all(&d).unwrap();
    }
}
