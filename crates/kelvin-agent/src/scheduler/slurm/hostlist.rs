//! Slurm's compact lists: hostlists (`n[01-04,7],gpu[1-2]-ib`) and id ranges (`0-3,8`).

use std::collections::{BTreeMap, BTreeSet};

use super::{Budget, MAX_CPUS_PER_NODE, MAX_EXPANDED, SlurmError, excerpt};

/// The most names one hostlist may expand to (also bounded by the document's budget).
const MAX_HOSTS: u64 = 1 << 17;

/// The most digits of one host number (`u64` holds 19).
const MAX_DIGITS: usize = 18;

/// Expands a Slurm hostlist: comma-separated names, each with any number of bracketed
/// ranges (`n[1-3,5]`, `n[01-10]` keeps the zero padding of the range's low end,
/// `r[1-2]n[1-2]` is their product). An empty list is no host.
///
/// ```
/// use kelvin_agent::scheduler::slurm::expand_hostlist;
/// assert_eq!(expand_hostlist("n[1-3,5],gpu07")?, ["n1", "n2", "n3", "n5", "gpu07"]);
/// assert_eq!(expand_hostlist("n[09-11]")?, ["n09", "n10", "n11"]);
/// assert!(expand_hostlist("n[1-4000000000]").is_err());
/// # Ok::<(), kelvin_agent::scheduler::slurm::SlurmError>(())
/// ```
///
/// # Errors
/// [`SlurmError::InvalidInput`] for unbalanced brackets, an empty name, a malformed or
/// reversed range, whitespace or control characters, or more than 131 072 names.
pub fn expand_hostlist(list: &str) -> Result<Vec<String>, SlurmError> {
    expand_hosts(list, &mut Budget::new(MAX_EXPANDED))
        .map_err(|e| SlurmError::invalid("hostlist", e))
}

/// Writes `names` as one hostlist, the inverse of [`expand_hostlist`] up to order and
/// duplicates: names ending in digits are grouped by their prefix (and zero padding) into
/// bracketed ranges; the result lists each name once, sorted by prefix then number.
///
/// ```
/// use kelvin_agent::scheduler::slurm::compress_hostlist;
/// assert_eq!(compress_hostlist(&["n3", "n1", "n2", "n10", "login"])?, "n[1-3,10],login");
/// assert_eq!(compress_hostlist(&["n01", "n02", "n1"])?, "n1,n[01-02]");
/// # Ok::<(), kelvin_agent::scheduler::slurm::SlurmError>(())
/// ```
///
/// # Errors
/// [`SlurmError::InvalidInput`] for an empty name or one holding `,`, `[`, `]`, whitespace or
/// a control character (it could not be read back).
pub fn compress_hostlist<S: AsRef<str>>(names: &[S]) -> Result<String, SlurmError> {
    // (prefix, zero-padded width or 0 for natural numbers) → numbers.
    let mut groups: BTreeMap<(&str, usize), BTreeSet<u64>> = BTreeMap::new();
    let mut plain: BTreeSet<&str> = BTreeSet::new();
    for name in names {
        let name = name.as_ref();
        check_name(name).map_err(|e| SlurmError::invalid("names", e))?;
        let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (prefix, number) = name.split_at(name.len() - digits);
        match number.parse::<u64>() {
            Ok(n) if digits <= MAX_DIGITS => {
                let width = if digits > 1 && number.starts_with('0') {
                    digits
                } else {
                    0
                };
                groups.entry((prefix, width)).or_default().insert(n);
            }
            _ => {
                plain.insert(name);
            }
        }
    }
    let mut parts: Vec<String> = Vec::with_capacity(groups.len() + plain.len());
    for ((prefix, width), numbers) in &groups {
        let runs = runs(numbers.iter().copied());
        let fmt = |n: u64| format!("{n:0width$}", width = *width);
        let body: Vec<String> = runs
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    fmt(lo)
                } else {
                    format!("{}-{}", fmt(lo), fmt(hi))
                }
            })
            .collect();
        if numbers.len() == 1 {
            parts.push(format!("{prefix}{}", body.concat()));
        } else {
            parts.push(format!("{prefix}[{}]", body.join(",")));
        }
    }
    parts.extend(plain.iter().map(|s| s.to_string()));
    Ok(parts.join(","))
}

/// Reads a Slurm id list (`0-3,8`, `CPU_IDs` and GRES `IDX`), sorted and without
/// duplicates; empty for an empty list. Ids must be below [`MAX_CPUS_PER_NODE`].
///
/// ```
/// use kelvin_agent::scheduler::slurm::parse_id_list;
/// assert_eq!(parse_id_list("4,0-2")?, [0, 1, 2, 4]);
/// assert!(parse_id_list("0-4000000000").is_err());
/// # Ok::<(), kelvin_agent::scheduler::slurm::SlurmError>(())
/// ```
///
/// # Errors
/// [`SlurmError::InvalidInput`] for a malformed or reversed range, or an id too large.
pub fn parse_id_list(list: &str) -> Result<Vec<u32>, SlurmError> {
    parse_ids(list, &mut Budget::new(MAX_EXPANDED)).map_err(|e| SlurmError::invalid("ids", e))
}

/// Writes ids as Slurm does (`0-3,8`): sorted, without duplicates, runs as ranges. The
/// inverse of [`parse_id_list`].
///
/// ```
/// use kelvin_agent::scheduler::slurm::format_id_list;
/// assert_eq!(format_id_list(&[8, 0, 1, 2, 3, 3]), "0-3,8");
/// ```
pub fn format_id_list(ids: &[u32]) -> String {
    let set: BTreeSet<u64> = ids.iter().map(|&i| u64::from(i)).collect();
    runs(set.into_iter())
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Maximal runs of consecutive numbers in an ascending sequence.
fn runs(sorted: impl Iterator<Item = u64>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for n in sorted {
        match out.last_mut() {
            Some((_, hi)) if hi.checked_add(1) == Some(n) => *hi = n,
            _ => out.push((n, n)),
        }
    }
    out
}

/// A host name Kelvin can write in a hostlist and read back.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an empty host name".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, ',' | '[' | ']') || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "host name {:?} holds {c:?}, which a hostlist cannot",
            excerpt(name, 64)
        ));
    }
    Ok(())
}

/// One piece of a hostlist item: literal text, or a bracket of ranges (low, high, width).
enum Piece<'a> {
    Text(&'a str),
    Ranges(Vec<(u64, u64, usize)>),
}

/// [`expand_hostlist`] drawing from `budget`; the error is the reason.
pub(crate) fn expand_hosts(list: &str, budget: &mut Budget) -> Result<Vec<String>, String> {
    let list = list.trim();
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for item in split_top(list)? {
        let pieces = pieces(item)?;
        let mut count: u64 = 1;
        for p in &pieces {
            if let Piece::Ranges(r) = p {
                let n = r
                    .iter()
                    .fold(0u64, |acc, &(lo, hi, _)| acc.saturating_add(hi - lo + 1));
                count = count.saturating_mul(n);
            }
        }
        if count.saturating_add(out.len() as u64) > MAX_HOSTS {
            return Err(format!(
                "hostlist {:?} names more than {MAX_HOSTS} hosts",
                excerpt(list, 64)
            ));
        }
        budget.take(count)?;
        let mut names = vec![String::new()];
        for p in &pieces {
            names = match p {
                Piece::Text(t) => names.into_iter().map(|n| n + t).collect(),
                Piece::Ranges(ranges) => names
                    .iter()
                    .flat_map(|n| {
                        ranges.iter().flat_map(move |&(lo, hi, width)| {
                            (lo..=hi).map(move |i| format!("{n}{i:0width$}"))
                        })
                    })
                    .collect(),
            };
        }
        out.extend(names);
    }
    Ok(out)
}

/// Splits at the commas outside brackets, checking that brackets pair without nesting.
fn split_top(list: &str) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0u8, 0usize);
    for (i, c) in list.char_indices() {
        match c {
            '[' if depth == 0 => depth = 1,
            ']' if depth == 1 => depth = 0,
            '[' | ']' => return Err(format!("unbalanced brackets in {:?}", excerpt(list, 64))),
            ',' if depth == 0 => {
                items.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unclosed bracket in {:?}", excerpt(list, 64)));
    }
    items.push(&list[start..]);
    Ok(items)
}

/// The pieces of one hostlist item (`r[1-2]n[01-04]` → `r`, 1-2, `n`, 01-04).
fn pieces(item: &str) -> Result<Vec<Piece<'_>>, String> {
    if item.is_empty() {
        return Err("an empty name in a hostlist".into());
    }
    let mut out = Vec::new();
    let mut rest = item;
    while !rest.is_empty() {
        match rest.find('[') {
            Some(0) => {
                let close = rest.find(']').ok_or("unclosed bracket")?;
                out.push(Piece::Ranges(ranges(&rest[1..close])?));
                rest = &rest[close + 1..];
            }
            Some(open) => {
                out.push(Piece::Text(literal(&rest[..open])?));
                rest = &rest[open..];
            }
            None => {
                out.push(Piece::Text(literal(rest)?));
                rest = "";
            }
        }
    }
    Ok(out)
}

fn literal(text: &str) -> Result<&str, String> {
    match text.chars().find(|c| c.is_whitespace() || c.is_control()) {
        Some(c) => Err(format!("{c:?} in host name text {:?}", excerpt(text, 64))),
        None => Ok(text),
    }
}

/// The ranges inside one bracket: `1-3,05,7`.
fn ranges(body: &str) -> Result<Vec<(u64, u64, usize)>, String> {
    body.split(',')
        .map(|r| {
            let (lo, hi) = r.split_once('-').unwrap_or((r, r));
            let number = |s: &str| -> Result<u64, String> {
                if s.is_empty() || s.len() > MAX_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("{:?} is not a host number range", excerpt(r, 64)));
                }
                s.parse::<u64>().map_err(|e| e.to_string())
            };
            let (l, h) = (number(lo)?, number(hi)?);
            if h < l {
                return Err(format!("range {:?} runs backwards", excerpt(r, 64)));
            }
            Ok((l, h, lo.len()))
        })
        .collect()
}

/// [`parse_id_list`] drawing from `budget`; the error is the reason.
pub(crate) fn parse_ids(list: &str, budget: &mut Budget) -> Result<Vec<u32>, String> {
    let list = list.trim();
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for r in list.split(',') {
        let (lo, hi) = r.split_once('-').unwrap_or((r, r));
        let id = |s: &str| -> Result<u32, String> {
            if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{:?} is not an id range", excerpt(r, 64)));
            }
            match s.parse::<u64>() {
                Ok(n) if n < u64::from(MAX_CPUS_PER_NODE) => Ok(n as u32),
                _ => Err(format!(
                    "id {s} is past the {MAX_CPUS_PER_NODE} a node can have"
                )),
            }
        };
        let (l, h) = (id(lo)?, id(hi)?);
        if h < l {
            return Err(format!("range {:?} runs backwards", excerpt(r, 64)));
        }
        budget.take(u64::from(h - l) + 1)?;
        out.extend(l..=h);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}
