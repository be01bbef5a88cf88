//! Running programs (ipmitool, FreeIPMI, snmpwalk, any command) with a deadline and bounded output.
//!
//! [`run`] is the one place the agent starts a program. Every program:
//!
//! - gets a null stdin and piped stdout and stderr, and runs in a **process group of its own**
//!   (`process_group(0)`), so everything it starts can be stopped with it;
//! - is read by two threads: stdout into memory up to `max_bytes` (the moment the output would
//!   go past it the program is killed and [`ExecError::TooLarge`] returned, so memory never
//!   holds more of it than `max_bytes` plus one 64 KiB read buffer), stderr keeping its first 8 KiB for
//!   the error message and draining the rest;
//! - is killed, with its whole group, when its time is up ([`ExecError::Timeout`]), and reaped.
//!
//! **How the group is killed, without `unsafe`.** The workspace denies `unsafe_code`, and
//! `libc::kill` is an `unsafe fn`, so the group is killed by running procps' `kill -KILL --
//! -PGID` (`/bin/kill` or `/usr/bin/kill`, else the shell's built-in `kill`), then
//! [`Child::kill`] on the leader itself (which needs no helper and always works). The group is
//! only ever signalled while its leader has not been reaped, so its id cannot have been reused
//! by another group: a process id stays reserved while its zombie exists. A program that
//! exits normally after closing its output is reaped and its group left alone (it may have
//! left background processes that closed their output: they are not the agent's to kill once
//! the group id may be recycled). A process that leaves the group (`setsid`) while holding the
//! output pipes escapes the kill; its reader thread then lingers until it closes them, but the
//! caller is never held past its deadline.
//!
//! Output that is not UTF-8 is converted lossily (invalid sequences become U+FFFD): decoders
//! read text, and a stray byte should cost one quarantined record, not the whole capture.
//!
//! **Secrets.** The pollers ([`poll_ipmi`], [`poll_snmp`]) never put a password or community
//! on a command line (where `/proc/*/cmdline` shows it to every user) nor in the environment:
//! they go into owner-only files in the caller's private directory, removed after the poll.
//! Errors name the program and what happened; the pollers also replace any secret that a tool
//! might echo in its stderr with `***`.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod ipmi;
mod private;
mod snmp;

pub use ipmi::{IpmiTool, poll_ipmi};
pub use snmp::poll_snmp;

/// The text one program printed, ready for [`kelvin_ingest::Batch::capture_as`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// The kelvin-ingest decoder of the text (`ipmitool_sensor`, `freeipmi_dcmi`, `snmp_walk`
    /// …), `None` to detect it.
    pub format: Option<String>,
    /// What was run, for quarantine places (`ipmitool sensor`); the caller prefixes the
    /// source's name. Never holds a secret.
    pub source: String,
    /// The program's stdout.
    pub text: String,
}

/// A program that did not give its output. `Display` names the program and what happened;
/// no variant ever holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// It could not be run: not installed, not executable, its private configuration could
    /// not be written, or its output could not be read.
    #[error("{program} could not be run: {reason}")]
    Spawn {
        /// The program (`argv[0]`).
        program: String,
        /// Why.
        reason: String,
    },
    /// It did not finish in time; it was killed with its process group.
    #[error("{program} did not finish within {after:?}; it was killed")]
    Timeout {
        /// The program.
        program: String,
        /// The time it was given.
        after: Duration,
    },
    /// It printed more than the limit; it was killed with its process group.
    #[error("{program} printed more than {limit} bytes; it was killed")]
    TooLarge {
        /// The program.
        program: String,
        /// The limit, bytes.
        limit: u64,
    },
    /// It exited unsuccessfully.
    #[error("{program} {}: {}", exit_words(.code), or_nothing(.stderr))]
    Exit {
        /// The program.
        program: String,
        /// Its exit code; `None` when a signal killed it.
        code: Option<i32>,
        /// The first meaningful line of its stderr (blank lines and known harmless warnings
        /// skipped), control characters replaced, at most 200 characters.
        stderr: String,
    },
}

fn exit_words(code: &Option<i32>) -> String {
    match code {
        Some(c) => format!("exited with code {c}"),
        None => "was killed by a signal".to_string(),
    }
}

fn or_nothing(s: &str) -> &str {
    if s.is_empty() {
        "(nothing on stderr)"
    } else {
        s
    }
}

impl ExecError {
    /// The program the error is about.
    pub fn program(&self) -> &str {
        match self {
            ExecError::Spawn { program, .. }
            | ExecError::Timeout { program, .. }
            | ExecError::TooLarge { program, .. }
            | ExecError::Exit { program, .. } => program,
        }
    }

    /// The error with every non-empty `secret` in its free text replaced by `***`.
    pub(crate) fn redact(self, secrets: &[&str]) -> ExecError {
        let clean = |mut s: String| {
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                if s.contains(secret) {
                    s = s.replace(secret, "***");
                }
            }
            s
        };
        match self {
            ExecError::Spawn { program, reason } => ExecError::Spawn {
                program,
                reason: clean(reason),
            },
            ExecError::Exit {
                program,
                code,
                stderr,
            } => ExecError::Exit {
                program,
                code,
                stderr: clean(stderr),
            },
            other => other,
        }
    }

    pub(crate) fn spawn(program: &str, reason: impl Into<String>) -> ExecError {
        ExecError::Spawn {
            program: program.to_string(),
            reason: reason.into(),
        }
    }
}

/// When a poll must be over: its start plus its timeout. Several programs of one poll share it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    budget: Duration,
}

impl Deadline {
    /// `budget` from now.
    pub(crate) fn after(budget: Duration) -> Deadline {
        let now = Instant::now();
        // A budget too large for the clock is, in practice, no deadline: about a century.
        let at = now
            .checked_add(budget)
            .unwrap_or_else(|| now + Duration::from_secs(3_153_600_000));
        Deadline { at, budget }
    }

    /// The time left.
    pub(crate) fn left(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }
}

/// Runs `argv` (program and arguments; the program is looked up in `PATH`) with `env` added to
/// the agent's environment, and returns its stdout once it exits successfully.
///
/// The program runs in its own process group with stdin null; it is killed with its group
/// when `timeout` passes or when its output goes past `max_bytes` (see the [module
/// documentation](self)). Output that is not UTF-8 is converted lossily.
///
/// ```
/// use std::time::Duration;
/// use kelvin_agent::exec::{run, ExecError};
///
/// let echo = ["echo".to_string(), "hello".to_string()];
/// assert_eq!(run(&echo, &[], Duration::from_secs(5), 1 << 20)?, "hello\n");
///
/// let slow = ["sleep".to_string(), "5".to_string()];
/// let err = run(&slow, &[], Duration::from_millis(100), 1 << 20).unwrap_err();
/// assert!(matches!(err, ExecError::Timeout { .. }));
/// assert_eq!(err.to_string(), "sleep did not finish within 100ms; it was killed");
///
/// let fail = ["sh".to_string(), "-c".to_string(), "echo no such sensor >&2; exit 3".to_string()];
/// let err = run(&fail, &[], Duration::from_secs(5), 1 << 20).unwrap_err();
/// assert_eq!(err.to_string(), "sh exited with code 3: no such sensor");
/// # Ok::<(), ExecError>(())
/// ```
///
/// # Errors
/// [`ExecError::Spawn`] when it cannot be started (or its output read),
/// [`ExecError::Timeout`], [`ExecError::TooLarge`], and [`ExecError::Exit`] for a non-zero
/// exit or a death by signal (with the first line of its stderr).
pub fn run(
    argv: &[String],
    env: &[(String, String)],
    timeout: Duration,
    max_bytes: u64,
) -> Result<String, ExecError> {
    run_until(argv, env, Deadline::after(timeout), max_bytes)
}

/// A command source: runs `argv` like [`run`] and labels its output with the program and
/// the decoder `format` (`None`: detected).
///
/// # Errors
/// As [`run`].
pub fn poll_command(
    argv: &[String],
    format: Option<&str>,
    timeout: Duration,
    max_bytes: u64,
) -> Result<Capture, ExecError> {
    let text = run(argv, &[], timeout, max_bytes)?;
    Ok(Capture {
        format: format.map(str::to_string),
        source: argv.first().cloned().unwrap_or_default(),
        text,
    })
}

/// Bytes of one read of a pipe.
const CHUNK: usize = 64 << 10;

/// Bytes of stderr kept for the error message.
const STDERR_KEEP: usize = 8 << 10;

/// Characters of the stderr line kept in [`ExecError::Exit`].
const STDERR_LINE_CHARS: usize = 200;

/// What a reader thread reports.
enum Piece {
    Stdout(Result<Vec<u8>, ReadEnd>),
    Stderr(Vec<u8>),
}

/// Why stdout was not read to its end.
enum ReadEnd {
    /// Past the limit.
    Over,
    /// A read failed.
    Io(String),
}

/// [`run`] against a deadline shared by the programs of one poll.
pub(crate) fn run_until(
    argv: &[String],
    env: &[(String, String)],
    deadline: Deadline,
    max_bytes: u64,
) -> Result<String, ExecError> {
    let program = match argv.first() {
        Some(p) if !p.is_empty() => p.as_str(),
        _ => return Err(ExecError::spawn("(nothing)", "no program was given")),
    };
    let timeout = || ExecError::Timeout {
        program: program.to_string(),
        after: deadline.budget,
    };
    if deadline.left().is_zero() {
        return Err(timeout());
    }
    let mut cmd = Command::new(program);
    cmd.args(&argv[1..])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let child = cmd
        .spawn()
        .map_err(|e| ExecError::spawn(program, e.to_string()))?;
    // From here on, leaving this function by any path kills and reaps the group (Drop).
    let mut group = Group {
        child,
        reaped: false,
    };
    let (stdout, stderr) = match (group.child.stdout.take(), group.child.stderr.take()) {
        (Some(o), Some(e)) => (o, e),
        _ => return Err(ExecError::spawn(program, "its output pipes are missing")),
    };
    let rx = start_readers(stdout, stderr, max_bytes)
        .map_err(|e| ExecError::spawn(program, format!("starting its readers: {e}")))?;
    let (mut out, mut err) = (None, None);
    while out.is_none() || err.is_none() {
        match rx.recv_timeout(deadline.left()) {
            Ok(Piece::Stdout(Ok(bytes))) => out = Some(bytes),
            Ok(Piece::Stdout(Err(ReadEnd::Over))) => {
                return Err(ExecError::TooLarge {
                    program: program.to_string(),
                    limit: max_bytes,
                });
            }
            Ok(Piece::Stdout(Err(ReadEnd::Io(e)))) => {
                return Err(ExecError::spawn(
                    program,
                    format!("reading its output: {e}"),
                ));
            }
            Ok(Piece::Stderr(bytes)) => err = Some(bytes),
            Err(mpsc::RecvTimeoutError::Timeout) => return Err(timeout()),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(ExecError::spawn(program, "its output readers stopped"));
            }
        }
    }
    // Both pipes are closed: wait for the leader to exit (it may linger after closing them).
    let status = match group.wait_until(deadline) {
        Ok(Some(status)) => status,
        Ok(None) => return Err(timeout()),
        Err(e) => return Err(ExecError::spawn(program, format!("waiting for it: {e}"))),
    };
    let (out, err) = (out.unwrap_or_default(), err.unwrap_or_default());
    if !status.success() {
        return Err(ExecError::Exit {
            program: program.to_string(),
            code: status.code(),
            stderr: stderr_line(&err),
        });
    }
    Ok(match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Starts the stdout and stderr reader threads; their results arrive on the channel.
fn start_readers(
    stdout: ChildStdout,
    stderr: ChildStderr,
    max_bytes: u64,
) -> std::io::Result<mpsc::Receiver<Piece>> {
    let (tx, rx) = mpsc::channel();
    let tx_err = tx.clone();
    std::thread::Builder::new()
        .name("kelvin-exec-stdout".into())
        .spawn(move || {
            let _ = tx.send(Piece::Stdout(read_capped(stdout, max_bytes)));
        })?;
    std::thread::Builder::new()
        .name("kelvin-exec-stderr".into())
        .spawn(move || {
            let _ = tx_err.send(Piece::Stderr(read_head(stderr, STDERR_KEEP)));
        })?;
    Ok(rx)
}

/// Reads `r` to its end, or stops (with [`ReadEnd::Over`]) at the read that would take it past
/// `max` bytes. The buffer grows to at most `max`, never doubling past it.
fn read_capped(mut r: impl Read, max: u64) -> Result<Vec<u8>, ReadEnd> {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                let need = out.len().saturating_add(n);
                if need > max {
                    return Err(ReadEnd::Over);
                }
                if need > out.capacity() {
                    let want = out.capacity().saturating_mul(2).clamp(need, max);
                    out.reserve_exact(want - out.len());
                }
                out.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadEnd::Io(e.to_string())),
        }
    }
}

/// Reads `r` to its end, keeping the first `keep` bytes.
fn read_head(mut r: impl Read, keep: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => {
                let room = keep.saturating_sub(out.len()).min(n);
                out.extend_from_slice(&buf[..room]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return out,
        }
    }
}

/// Lines tools print on stderr that are never the reason they failed: ipmitool's missing
/// enterprise-number registry and its cipher-suite probe (it falls back to suite 3 after it),
/// net-snmp creating its persistent directory.
const HARMLESS: &[&str] = &[
    "IANA PEN registry open failed",
    "Unable to Get Channel Cipher Suites",
    "Created directory:",
];

/// The first meaningful line of stderr: not blank, not a [`HARMLESS`] warning (unless nothing
/// else is there), control characters replaced by spaces, at most 200 characters.
fn stderr_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.clone().next().unwrap_or("");
    let line = lines
        .find(|l| !HARMLESS.iter().any(|h| l.starts_with(h)))
        .unwrap_or(first);
    line.chars()
        .take(STDERR_LINE_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// A running program and its process group; dropping it unreaped kills the group and reaps.
struct Group {
    child: Child,
    reaped: bool,
}

impl Group {
    /// Waits for the leader to exit until the deadline: `None` when it is still running.
    fn wait_until(&mut self, deadline: Deadline) -> std::io::Result<Option<ExitStatus>> {
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.reaped = true;
                return Ok(Some(status));
            }
            let left = deadline.left();
            if left.is_zero() {
                return Ok(None);
            }
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        // The leader is not reaped, so its id (the group's) is still reserved: safe to signal.
        kill_group(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGKILL to process group `pgid` through procps' `kill` (or the shell's built-in),
/// since `libc::kill` would need `unsafe`. Best effort: the leader is killed directly after.
fn kill_group(pgid: u32) {
    let target = format!("-{pgid}");
    let quiet = |cmd: &mut Command| {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    for kill in ["/bin/kill", "/usr/bin/kill"] {
        if Path::new(kill).exists() && quiet(Command::new(kill).args(["-KILL", "--", &target])) {
            return;
        }
    }
    kill_group_by_shell(pgid);
}

/// [`kill_group`] through the shell's built-in `kill` (dash's takes no `--`; a negative id
/// after the signal is a group).
fn kill_group_by_shell(pgid: u32) {
    let _ = Command::new("sh")
        .args(["-c", "kill -9 \"$0\"", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_line_skips_blanks_and_harmless_warnings() {
        let e = b"\nIANA PEN registry open failed: No such file\n  Error: no session \x1b[0m\n";
        assert_eq!(stderr_line(e), "Error: no session  [0m");
        assert_eq!(
            stderr_line(b"IANA PEN registry open failed\n"),
            "IANA PEN registry open failed"
        );
        assert_eq!(stderr_line(b""), "");
        let long = "x".repeat(500);
        assert_eq!(stderr_line(long.as_bytes()).len(), 200);
        assert_eq!(stderr_line("é".repeat(300).as_bytes()).chars().count(), 200);
    }

    #[test]
    fn capped_reads_stop_at_the_limit() {
        assert_eq!(read_capped(&b"hello"[..], 5).ok(), Some(b"hello".to_vec()));
        assert!(matches!(read_capped(&b"hello!"[..], 5), Err(ReadEnd::Over)));
        let big = vec![7u8; 300_000];
        let got = read_capped(&big[..], 300_000).ok().unwrap();
        assert!(got.capacity() <= 300_000);
        assert_eq!(read_head(&big[..], 10).len(), 10);
    }

    #[test]
    fn redaction_hides_secrets_in_free_text() {
        let e = ExecError::Exit {
            program: "ipmitool".into(),
            code: Some(1),
            stderr: "bad password hunter2".into(),
        };
        let e = e.redact(&["hunter2", ""]);
        assert_eq!(
            e.to_string(),
            "ipmitool exited with code 1: bad password ***"
        );
        assert_eq!(e.program(), "ipmitool");
    }

    #[test]
    fn groups_are_killed_by_either_helper() {
        use std::os::unix::process::ExitStatusExt;
        for by_shell in [false, true] {
            let mut child = Command::new("sleep")
                .arg("30")
                .process_group(0)
                .spawn()
                .unwrap();
            if by_shell {
                kill_group_by_shell(child.id());
            } else {
                kill_group(child.id());
            }
            assert_eq!(child.wait().unwrap().signal(), Some(9));
        }
    }

    #[test]
    fn nothing_to_run_is_a_spawn_error() {
        let e = run(&[], &[], Duration::from_secs(1), 10).unwrap_err();
        assert!(matches!(e, ExecError::Spawn { .. }), "{e}");
    }
}
