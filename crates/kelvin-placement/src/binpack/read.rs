//! Instance readers: BPPLIB (`.txt`, `.bpp`) and `.vbp` text, and files holding them, within
//! the limits of [`super`]: every count and size is checked before anything is allocated from
//! it, arithmetic on them is checked, and errors name the line and the cause.

use std::io::Read;
use std::num::IntErrorKind;
use std::path::Path;

use super::{BinPacking, MAX_CAPACITY, MAX_DIMS, MAX_INSTANCE_BYTES, MAX_ITEMS, MAX_SIZES};
use crate::PlacementError;

fn bad(line: usize, reason: impl std::fmt::Display) -> PlacementError {
    PlacementError::for_call(format!("line {line}: {reason}"))
}

/// A token as it appears in a message: at most 40 characters of it.
fn shown(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((at, _)) => format!("{:?}…", &s[..at]),
        None => format!("{s:?}"),
    }
}

fn num(line: usize, s: &str) -> Result<u64, PlacementError> {
    s.parse::<u64>().map_err(|e| match e.kind() {
        IntErrorKind::PosOverflow => bad(
            line,
            format!("{} does not fit in 64 bits (at most 2^64 − 1)", shown(s)),
        ),
        _ => bad(line, format!("{} is not a non-negative integer", shown(s))),
    })
}

/// Why `c` cannot be a bin capacity, if it cannot.
pub(super) fn capacity_problem(c: u64) -> Option<String> {
    if c == 0 {
        Some("a capacity of 0: bins must hold something".to_owned())
    } else if c > MAX_CAPACITY {
        Some(format!(
            "capacity {c} is larger than the limit of 2^40 = {MAX_CAPACITY}"
        ))
    } else {
        None
    }
}

/// Why an instance of `n` items in `d` dimensions is too large, if it is.
pub(super) fn size_problem(n: u64, d: usize) -> Option<String> {
    if n > MAX_ITEMS as u64 {
        Some(format!(
            "{n} items, more than the limit of 2^22 = {MAX_ITEMS}"
        ))
    } else if n.saturating_mul(d as u64) > MAX_SIZES as u64 {
        Some(format!(
            "{n} items of {d} dimensions, more than the limit of 2^24 = {MAX_SIZES} sizes in all"
        ))
    } else {
        None
    }
}

/// Why `d` cannot be a number of dimensions, if it cannot.
pub(super) fn dims_problem(d: u64) -> Option<String> {
    if d == 0 {
        Some("0 dimensions: bins need at least one".to_owned())
    } else if d > MAX_DIMS as u64 {
        Some(format!("{d} dimensions, more than the limit of {MAX_DIMS}"))
    } else {
        None
    }
}

/// The non-empty lines of a text, numbered from 1 as an editor shows them.
#[derive(Clone)]
struct Lines<'a> {
    inner: std::iter::Enumerate<std::str::Lines<'a>>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            inner: text.lines().enumerate(),
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a str);
    fn next(&mut self) -> Option<(usize, &'a str)> {
        self.inner
            .by_ref()
            .map(|(i, l)| (i + 1, l))
            .find(|(_, l)| !l.trim().is_empty())
    }
}

/// Up to `max` whitespace-separated fields of `line` in `into`, and whether there were more.
fn fields<'a>(line: &'a str, max: usize, into: &mut Vec<&'a str>) -> bool {
    into.clear();
    let mut it = line.split_whitespace();
    for f in it.by_ref() {
        if into.len() == max {
            return true;
        }
        into.push(f);
    }
    false
}

/// The one number on a line that must hold exactly one, with `what` naming it in errors.
fn single(line: usize, text: &str, what: &str) -> Result<u64, PlacementError> {
    let mut it = text.split_whitespace();
    match (it.next(), it.next()) {
        (Some(first), None) => num(line, first),
        _ => {
            let count = text.split_whitespace().count();
            Err(bad(line, format!("{count} numbers, expected one ({what})")))
        }
    }
}

pub(super) fn parse(text: &str) -> Result<BinPacking, PlacementError> {
    let mut lines = Lines::new(text);
    let (l1, t1) = lines
        .next()
        .ok_or_else(|| bad(1, "empty instance: no item count or dimension count"))?;
    // The shape tells the format: a `.vbp` file's second line holds one capacity per
    // dimension, and its item lines a size per dimension and a demand.
    let mut probe = lines.clone();
    let second = probe.next();
    probe.next();
    let fourth = probe.next();
    let wide =
        |l: Option<(usize, &str)>| l.is_some_and(|(_, t)| t.split_whitespace().nth(1).is_some());
    if wide(second) || wide(fourth) {
        parse_vbp(l1, t1, lines)
    } else {
        parse_bpplib(l1, t1, lines, text.len())
    }
}

/// BPPLIB: the item count, the capacity, then one weight per line.
fn parse_bpplib(
    l1: usize,
    t1: &str,
    mut lines: Lines<'_>,
    text_len: usize,
) -> Result<BinPacking, PlacementError> {
    let n = single(l1, t1, "the item count")?;
    if n > MAX_ITEMS as u64 {
        return Err(bad(
            l1,
            format!("{n} items announced, more than the limit of 2^22 = {MAX_ITEMS}"),
        ));
    }
    let (l2, t2) = lines
        .next()
        .ok_or_else(|| bad(l1 + 1, "missing the bin capacity (line 2 of the instance)"))?;
    let c = single(l2, t2, "the bin capacity")?;
    if let Some(why) = capacity_problem(c) {
        return Err(bad(l2, why));
    }
    // `n` is within the limit; a text of `text_len` bytes holds at most `text_len / 2` more.
    let n = n as usize;
    let mut sizes = Vec::with_capacity(n.min(text_len / 2 + 1));
    for (line, t) in lines {
        let w = single(line, t, "an item weight")?;
        if sizes.len() == n {
            return Err(bad(
                line,
                format!("more items than the {n} announced on line {l1}"),
            ));
        }
        if w > c {
            return Err(bad(
                line,
                format!("item of size {w} is larger than the bin capacity {c} (line {l2})"),
            ));
        }
        sizes.push(w);
    }
    if sizes.len() != n {
        return Err(bad(
            l1,
            format!("{n} items announced, {} given", sizes.len()),
        ));
    }
    Ok(BinPacking {
        capacity: vec![c],
        sizes,
    })
}

/// `.vbp`: the dimension count, the capacities, the item-type count, then per type its sizes
/// and its demand (how many identical items).
fn parse_vbp(l1: usize, t1: &str, mut lines: Lines<'_>) -> Result<BinPacking, PlacementError> {
    let d = single(l1, t1, "the dimension count")?;
    if let Some(why) = dims_problem(d) {
        return Err(bad(l1, why));
    }
    let d = d as usize;
    let (l2, t2) = lines.next().ok_or_else(|| {
        bad(
            l1 + 1,
            "missing the bin capacities (line 2 of the instance)",
        )
    })?;
    let mut f = Vec::with_capacity(d + 2);
    if fields(t2, d, &mut f) || f.len() != d {
        let count = t2.split_whitespace().count();
        return Err(bad(
            l2,
            format!("{count} capacities for {d} dimensions (line {l1})"),
        ));
    }
    let mut capacity = Vec::with_capacity(d);
    for s in &f {
        let c = num(l2, s)?;
        if let Some(why) = capacity_problem(c) {
            return Err(bad(l2, format!("dimension {}: {why}", capacity.len() + 1)));
        }
        capacity.push(c);
    }
    let (l3, t3) = lines.next().ok_or_else(|| {
        bad(
            l2 + 1,
            "missing the item-type count (line 3 of the instance)",
        )
    })?;
    let m = single(l3, t3, "the item-type count")?;
    if m > MAX_ITEMS as u64 {
        return Err(bad(
            l3,
            format!("{m} item types announced, more than the limit of 2^22 = {MAX_ITEMS} items"),
        ));
    }
    let mut sizes: Vec<u64> = Vec::new();
    let (mut items, mut types) = (0u64, 0u64);
    let mut w = Vec::with_capacity(d);
    for (line, t) in lines {
        if types == m {
            return Err(bad(
                line,
                format!("more item types than the {m} announced on line {l3}"),
            ));
        }
        types += 1;
        if fields(t, d + 1, &mut f) || f.len() != d + 1 {
            let count = t.split_whitespace().count();
            return Err(bad(
                line,
                format!("{count} numbers, expected {d} sizes and a demand"),
            ));
        }
        w.clear();
        for (k, s) in f[..d].iter().enumerate() {
            let x = num(line, s)?;
            if x > capacity[k] {
                return Err(bad(
                    line,
                    format!(
                        "size {x} in dimension {} is larger than the bin capacity {} (line {l2})",
                        k + 1,
                        capacity[k]
                    ),
                ));
            }
            w.push(x);
        }
        let demand = num(line, f[d])?;
        let total = match items.checked_add(demand) {
            Some(t) if t <= MAX_ITEMS as u64 => t,
            _ => {
                return Err(bad(
                    line,
                    format!(
                        "a demand of {demand} takes the instance past the limit of 2^22 = \
                         {MAX_ITEMS} items ({items} on the lines before)"
                    ),
                ));
            }
        };
        if total.saturating_mul(d as u64) > MAX_SIZES as u64 {
            return Err(bad(
                line,
                format!(
                    "a demand of {demand} takes the instance to {total} items of {d} sizes, \
                     past the limit of 2^24 = {MAX_SIZES} sizes in all"
                ),
            ));
        }
        // Within the limits: `total · d` sizes fit in memory and in `usize`. Grow by
        // doubling, but never past the limit of sizes in all.
        let need = total as usize * d;
        if need > sizes.capacity() {
            let grown = need.max(2 * sizes.capacity()).min(MAX_SIZES);
            sizes.reserve_exact(grown - sizes.len());
        }
        for _ in 0..demand {
            sizes.extend_from_slice(&w);
        }
        items = total;
    }
    if types != m {
        return Err(bad(l3, format!("{m} item types announced, {types} given")));
    }
    Ok(BinPacking { capacity, sizes })
}

pub(super) fn read(path: &Path) -> Result<BinPacking, PlacementError> {
    let at = |reason: String| PlacementError::for_call(format!("{}: {reason}", path.display()));
    let limit_message = || {
        format!(
            "larger than the limit of {MAX_INSTANCE_BYTES} bytes ({} MiB) for an instance file",
            MAX_INSTANCE_BYTES >> 20
        )
    };
    let mut file = std::fs::File::open(path).map_err(|e| at(e.to_string()))?;
    let meta = file.metadata().map_err(|e| at(e.to_string()))?;
    if meta.is_dir() {
        return Err(at("is a directory, not an instance file".to_owned()));
    }
    if meta.is_file() && meta.len() > MAX_INSTANCE_BYTES {
        return Err(at(format!("{} bytes: {}", meta.len(), limit_message())));
    }
    // Devices and pipes report no length: read in chunks and stop past the limit.
    let mut bytes: Vec<u8> = Vec::new();
    let hint = meta.len().min(MAX_INSTANCE_BYTES) as usize;
    bytes
        .try_reserve_exact(hint)
        .map_err(|e| at(format!("cannot reserve {hint} bytes: {e}")))?;
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let k = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(at(e.to_string())),
        };
        if (bytes.len() + k) as u64 > MAX_INSTANCE_BYTES {
            return Err(at(limit_message()));
        }
        bytes.extend_from_slice(&chunk[..k]);
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        at(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    parse(&text).map_err(|e| at(e.reason().to_owned()))
}
