//! Shared pieces of Kelvin's fuzz targets (see `docs/fuzzing.md`).
//!
//! - A counting global allocator ([`HEAP`]) and [`budget`]: every input runs with at most
//!   [`BUDGET`] bytes of Rust heap on top of what was live before it. Going over makes the
//!   allocation fail, and the process aborts with "memory allocation of N bytes failed",
//!   which libFuzzer reports as a crash and saves as an artifact. This is how the fuzz run
//!   checks the documented memory budget on the stable toolchain, where libFuzzer's own
//!   `-malloc_limit_mb` has no effect (it needs a sanitizer runtime's malloc hooks).
//! - [`check_batch`]: the invariants every ingestion result must keep.
//! - [`parts`]: splitting one input into the several files a reader takes.
//! - [`Scratch`]: a per-process scratch directory for readers that take paths.

use std::alloc::System;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cap::Cap;
use kelvin_ingest::{IngestBatch, Normalizer, RuleSet};
use kelvin_model::Quality;

/// The process's allocator: the system allocator, counted and capped.
#[global_allocator]
pub static HEAP: Cap<System> = Cap::new(System, usize::MAX);

/// Default heap budget of one input, bytes: the budget `docs/limits.md` documents for a single
/// call with default limits (256 MiB). `KELVIN_FUZZ_HEAP_MB` overrides it.
pub const BUDGET: usize = 256 << 20;

fn budget_bytes() -> usize {
    static B: OnceLock<usize> = OnceLock::new();
    *B.get_or_init(|| {
        std::env::var("KELVIN_FUZZ_HEAP_MB")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .and_then(|mb| mb.checked_mul(1 << 20))
            .unwrap_or(BUDGET)
    })
}

/// Runs one input with the heap budget: at most [`BUDGET`] (or `KELVIN_FUZZ_HEAP_MB`) bytes
/// more than were allocated when it started. Also reports, on standard error, each time the
/// heap's peak over the whole run crosses a power of two from 16 MiB up, so a run's log shows
/// how close inputs came to the budget.
pub fn budget<T>(f: impl FnOnce() -> T) -> T {
    let base = HEAP.allocated();
    // Never fails: the limit is at least what is allocated.
    let _ = HEAP.set_limit(base.saturating_add(budget_bytes()));
    let before = HEAP.max_allocated();
    let out = f();
    let _ = HEAP.set_limit(usize::MAX);
    let after = HEAP.max_allocated();
    if after > before && after >= 16 << 20 && after.ilog2() > before.max(1).ilog2() {
        eprintln!(
            "kelvin-fuzz: heap peak now {} MiB (budget {} MiB per input)",
            after >> 20,
            budget_bytes() >> 20
        );
    }
    out
}

/// The built-in normalizer, built once.
pub fn normalizer() -> &'static Normalizer {
    static N: OnceLock<Normalizer> = OnceLock::new();
    N.get_or_init(Normalizer::builtin)
}

/// The built-in Prometheus rules, built once.
pub fn rules() -> &'static RuleSet {
    static R: OnceLock<RuleSet> = OnceLock::new();
    R.get_or_init(RuleSet::builtin)
}

/// Bytes as text, the way a user's file would reach a text decoder after a lossy read: invalid
/// UTF-8 becomes U+FFFD, so every input reaches the decoder.
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Checks the invariants of an ingestion result; a violation is a bug in the decoder:
///
/// - `seen == accepted + quarantined`, `accepted` is the number of readings, and the
///   per-reason counts add up to `quarantined`;
/// - `quarantined` is the number of quarantine entries, except for two kinds of record that
///   are counted but not kept: records past the batch's output budget
///   (`IngestBatch::bounded`), where one kept `too_many_records` entry says where that
///   happened; and later samples of an unmapped metric family, whose first sample is kept as
///   an `unmapped_metric` entry (`ParseOptions::every_unmapped` off, the default);
/// - an accepted reading's value is NaN exactly when its quality is `Absent`, and never
///   infinite.
pub fn check_batch(b: &IngestBatch, what: &str) {
    let s = &b.stats;
    assert_eq!(
        s.seen,
        s.accepted + s.quarantined,
        "{what}: seen != accepted + quarantined ({s:?})"
    );
    assert_eq!(
        s.accepted,
        b.readings.len() as u64,
        "{what}: accepted count differs from the readings"
    );
    assert_eq!(
        s.quarantined,
        s.by_reason.values().sum::<u64>(),
        "{what}: per-reason counts do not add up ({s:?})"
    );
    let kept = b.quarantine.len() as u64;
    assert!(
        kept <= s.quarantined,
        "{what}: more quarantine entries ({kept}) than quarantined records ({s:?})"
    );
    let kept_of = |reason| b.quarantine.iter().filter(|q| q.reason == reason).count() as u64;
    let over_budget = kept_of(kelvin_ingest::Reason::TooManyRecords) > 0;
    // Samples of unmapped families counted after their family's example.
    let unmapped = s
        .by_reason
        .get(&kelvin_ingest::Reason::UnmappedMetric)
        .copied()
        .unwrap_or(0);
    let kept_unmapped = kept_of(kelvin_ingest::Reason::UnmappedMetric);
    let repeats = unmapped.saturating_sub(kept_unmapped);
    assert!(
        repeats == 0 || kept_unmapped > 0 || over_budget,
        "{what}: {repeats} unmapped samples counted without any example entry ({s:?})"
    );
    let unexplained = (s.quarantined - kept).saturating_sub(repeats);
    assert!(
        unexplained == 0 || over_budget,
        "{what}: {unexplained} quarantined records are not kept and no entry says why ({s:?})"
    );
    for r in &b.readings {
        assert!(
            !r.value.is_infinite(),
            "{what}: accepted an infinite value: {r:?}"
        );
        assert_eq!(
            r.value.is_nan(),
            r.quality == Quality::Absent,
            "{what}: NaN value without quality Absent, or Absent with a value: {r:?}"
        );
    }
}

/// The separator between the parts of a multi-file input: a NUL byte, which no text file of
/// the formats read here contains, so seeds are plain files joined with NUL.
pub const SEP: u8 = 0;

/// Splits an input into at most `n` parts at [`SEP`] bytes (the last part keeps any further
/// separators); missing parts are `None`.
pub fn parts(data: &[u8], n: usize) -> Vec<Option<&[u8]>> {
    let mut out: Vec<Option<&[u8]>> = data.splitn(n, |b| *b == SEP).map(Some).collect();
    out.resize(n, None);
    out
}

/// A scratch directory of this process (`$TMPDIR/kelvin-fuzz-<target>-<pid>`), emptied for
/// every input and removed when dropped. After a crash it is left behind with the files of the
/// crashing input.
pub struct Scratch {
    root: PathBuf,
}

impl Scratch {
    /// An empty scratch directory named after `target`.
    ///
    /// # Panics
    /// When the directory cannot be created (the machine, not the input, is at fault).
    pub fn new(target: &str) -> Scratch {
        let root =
            std::env::temp_dir().join(format!("kelvin-fuzz-{target}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("creating the scratch directory");
        Scratch { root }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Writes `bytes` to `name` (a relative path made by the target, never by the input),
    /// creating parent directories.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn write(&self, name: &str, bytes: &[u8]) {
        let path = self.root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("creating a scratch subdirectory");
        }
        std::fs::write(&path, bytes).expect("writing a scratch file");
    }
}

impl Scratch {
    /// Writes a file whose relative path comes from the input: `name` is used only when every
    /// component is a plain name (`[A-Za-z0-9._:@-]`, not `.` or `..`, at most 64 bytes, at
    /// most 8 deep); otherwise the file is written as `fallback`. A content of `@link TARGET`
    /// makes a symbolic link instead, to a plain relative `TARGET` or to one of a few absolute
    /// paths outside the tree (`/dev/zero`, `/dev/null`, `/proc/self/stat`, `/`), as hostile
    /// trees hold. Failures (a file where a directory is needed) are ignored: the tree is
    /// simply without that entry.
    pub fn write_untrusted(&self, name: &str, fallback: &str, content: &[u8]) {
        let plain = |p: &str| {
            !p.is_empty()
                && p.split('/').count() <= 8
                && p.split('/').all(|c| {
                    !c.is_empty()
                        && c != "."
                        && c != ".."
                        && c.len() <= 64
                        && c.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"._:@-".contains(&b))
                })
        };
        let rel = if plain(name) { name } else { fallback };
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Some(target) = content.strip_prefix(b"@link ") {
            let target = String::from_utf8_lossy(target);
            let target = target.trim();
            const OUTSIDE: [&str; 4] = ["/dev/zero", "/dev/null", "/proc/self/stat", "/"];
            if plain(target)
                || target.split('/').all(|c| c == ".." || plain(c))
                || OUTSIDE.contains(&target)
            {
                let _ = std::os::unix::fs::symlink(target, &path);
                return;
            }
        }
        let _ = std::fs::write(&path, content);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A small deterministic generator (xorshift64*) for choices a target derives from its input
/// (chunk sizes, byte positions), so that the same input always runs the same way.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from up to 8 bytes.
    pub fn new(seed: &[u8]) -> Rng {
        let mut s = [0u8; 8];
        let n = seed.len().min(8);
        s[..n].copy_from_slice(&seed[..n]);
        Rng(u64::from_le_bytes(s) | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `1..=max` (`max` at least 1).
    pub fn range1(&mut self, max: usize) -> usize {
        (self.next_u64() % max.max(1) as u64) as usize + 1
    }
}

/// A little-endian reader over fuzz bytes that yields zeros past the end (never fails), for
/// targets that build structured inputs.
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Bytes<'a> {
        Bytes { data }
    }

    /// Bytes left.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }

    /// One byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    /// A little-endian u16 (zero-padded past the end).
    pub fn u16(&mut self) -> u16 {
        let mut b = [0u8; 2];
        let t = self.take(2);
        b[..t.len()].copy_from_slice(t);
        u16::from_le_bytes(b)
    }

    /// A little-endian u64 (zero-padded past the end).
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        let t = self.take(8);
        b[..t.len()].copy_from_slice(t);
        u64::from_le_bytes(b)
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(usize::MAX)
    }
}

/// Saves a file a target made from its input (a Parquet file, a block) as
/// `$KELVIN_FUZZ_DUMP/<name>` when that variable is set, so that a failing input of a
/// generating target can be looked at, and turned into a test, as the bytes the reader saw.
pub fn dump(name: &str, bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("KELVIN_FUZZ_DUMP") {
        let dir = PathBuf::from(dir);
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(name), bytes);
    }
}

/// Corrupts `file` in place as `edits` says: pairs of (position, xor mask) bytes from the fuzz
/// input, then an optional truncation. Used by targets that first write a valid file (Parquet,
/// a store block) so that libFuzzer starts from well-formed structure.
pub fn corrupt(file: &mut Vec<u8>, edits: &mut Bytes<'_>) {
    if file.is_empty() {
        return;
    }
    let n = edits.u8() % 16;
    for _ in 0..n {
        let pos = edits.u16() as usize % file.len();
        file[pos] ^= edits.u8();
    }
    let cut = edits.u16() as usize;
    if cut != 0 && cut < file.len() {
        file.truncate(file.len() - cut);
    }
}

/// Decodes one input with each of `formats` through `kelvin_ingest::decode_str`, as a user's
/// `--format X` does, under two contexts (bare, and with an entity and a default time, which
/// take other branches), and checks every result with [`check_batch`]; all within the heap
/// budget.
pub fn decode_formats(formats: &[kelvin_ingest::Format], data: &[u8]) {
    use kelvin_ingest::{Context, decode_str};
    use kelvin_model::{EntityId, Timestamp};
    budget(|| {
        let text = text(data);
        let bare = Context::new("fuzz-input.txt", normalizer());
        let host = EntityId::new("fuzz-host").expect("a valid id");
        let rich = Context::new("fuzz-input.txt", normalizer())
            .with_entity(host)
            .with_default_timestamp(Timestamp::from_millis(1_700_000_000_000));
        for &format in formats {
            for ctx in [&bare, &rich] {
                let batch = decode_str(Some(format), &text, ctx);
                check_batch(&batch, format.as_str());
            }
        }
    });
}

/// Lets panics raised inside the `parquet` crate unwind instead of aborting.
///
/// libFuzzer's panic hook aborts on every panic, even one the code under test catches. Kelvin's
/// Parquet readers contain the `parquet` crate's panics on damaged files with `catch_unwind`
/// and quarantine the file (a panic there is damaged input, not a Kelvin bug); this hook lets
/// exactly those panics reach that `catch_unwind`, and keeps aborting on every other panic, so
/// a panic in Kelvin's own code is still a finding. Call it at the top of a target; it installs
/// itself once.
pub fn contain_parquet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_parquet = info
                .location()
                .is_some_and(|l| l.file().contains("/parquet-"));
            if !in_parquet {
                previous(info);
            }
        }));
    });
}
