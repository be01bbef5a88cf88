//! Readers of the challenge's model and assignment files, and the solution writer. Every count
//! is checked against the tokens left before anything is allocated from it, every index against
//! its range, and errors name the file, the line, the token and the reason.

use std::fmt;
use std::path::Path;

use super::{Balance, Machine, Model, Process, Resource, Service};

/// Files larger than this (64 MiB) are refused unread: the largest challenge model is ~30 MiB.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Why a model, assignment or solution could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadErrorKind {
    /// The file could not be opened or read, or is larger than [`MAX_FILE_BYTES`].
    Io,
    /// The file ends before a value the format requires.
    Truncated,
    /// A token is not a non-negative integer (or does not fit in 64 bits).
    NotANumber,
    /// A number is outside its allowed range: an index past its count, a flag other than 0
    /// or 1, a count too large for the rest of the file.
    OutOfRange,
    /// Values are left after the last one the format defines.
    TrailingData,
    /// An assignment does not have one machine per process of the model.
    LengthMismatch,
}

/// A typed reading error: which file, where in it and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ReadError {
    /// What went wrong.
    pub kind: ReadErrorKind,
    /// The file (or `"<text>"` when reading a string).
    pub file: String,
    /// The line, from 1 (0 when the error is about the whole file).
    pub line: usize,
    /// The token's position in the file, from 1 (0 when the error is about the whole file).
    pub token: usize,
    /// A sentence naming the value and what was expected.
    pub reason: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(
                f,
                "{}:{}: token {}: {}",
                self.file, self.line, self.token, self.reason
            )
        }
    }
}

/// Whitespace-separated unsigned integers with their line numbers.
struct Tokens<'a> {
    file: &'a str,
    words: Vec<(usize, &'a str)>,
    at: usize,
}

impl<'a> Tokens<'a> {
    fn new(file: &'a str, text: &'a str) -> Self {
        let words = text
            .lines()
            .enumerate()
            .flat_map(|(i, l)| l.split_whitespace().map(move |w| (i + 1, w)))
            .collect();
        Tokens { file, words, at: 0 }
    }

    fn error(&self, kind: ReadErrorKind, reason: impl Into<String>) -> ReadError {
        let (line, token) = match self.words.get(self.at.saturating_sub(1)) {
            Some((l, _)) => (*l, self.at.max(1)),
            None => (0, 0),
        };
        ReadError {
            kind,
            file: self.file.to_owned(),
            line,
            token,
            reason: reason.into(),
        }
    }

    fn left(&self) -> usize {
        self.words.len() - self.at
    }

    /// The next number, described by `what` in errors.
    fn next(&mut self, what: &str) -> Result<u64, ReadError> {
        let Some((_, w)) = self.words.get(self.at).copied() else {
            let mut e = self.error(
                ReadErrorKind::Truncated,
                format!("the file ends where {what} was expected"),
            );
            if let Some((l, _)) = self.words.last() {
                e.line = *l;
                e.token = self.words.len();
            }
            return Err(e);
        };
        self.at += 1;
        w.parse::<u64>().map_err(|_| {
            let shown: String = w.chars().take(40).collect();
            self.error(
                ReadErrorKind::NotANumber,
                format!("{what} {shown:?} is not a non-negative integer of 64 bits"),
            )
        })
    }

    /// The next number, which must be below `limit`.
    fn below(&mut self, what: &str, limit: u64) -> Result<u64, ReadError> {
        let v = self.next(what)?;
        if v >= limit {
            return Err(self.error(
                ReadErrorKind::OutOfRange,
                format!("{what} {v} is not below {limit}"),
            ));
        }
        Ok(v)
    }

    /// A count of items that take at least `per_item` tokens each.
    fn count(&mut self, what: &str, per_item: usize) -> Result<usize, ReadError> {
        let v = self.next(what)?;
        let room = (self.left() / per_item.max(1)) as u64;
        if v > room {
            return Err(self.error(
                ReadErrorKind::OutOfRange,
                format!(
                    "{what} {v} is more than the {} values left can hold",
                    self.left()
                ),
            ));
        }
        Ok(v as usize)
    }

    fn vec(&mut self, n: usize, what: &str) -> Result<Vec<u64>, ReadError> {
        (0..n).map(|_| self.next(what)).collect()
    }

    fn end(&self) -> Result<(), ReadError> {
        if self.left() > 0 {
            let (line, _) = self.words[self.at];
            return Err(ReadError {
                kind: ReadErrorKind::TrailingData,
                file: self.file.to_owned(),
                line,
                token: self.at + 1,
                reason: format!("{} values after the end of the data", self.left()),
            });
        }
        Ok(())
    }
}

/// Reads a whole file as text, refusing files past [`MAX_FILE_BYTES`].
fn read_text(path: &Path) -> Result<String, ReadError> {
    let io = |reason: String| ReadError {
        kind: ReadErrorKind::Io,
        file: path.display().to_string(),
        line: 0,
        token: 0,
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| io(e.to_string()))?;
    if !meta.is_file() {
        return Err(io("not a regular file".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(io(format!(
            "{} bytes, more than the limit of {MAX_FILE_BYTES}",
            meta.len()
        )));
    }
    std::fs::read_to_string(path).map_err(|e| io(e.to_string()))
}

impl Model {
    /// Reads a model file (`model_*.txt`).
    pub fn read(path: &Path) -> Result<Model, ReadError> {
        let text = read_text(path)?;
        Model::parse(&path.display().to_string(), &text)
    }

    /// Parses a model from `text`; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Model, ReadError> {
        let mut t = Tokens::new(file, text);
        let nr = t.count("the number of resources", 2)?;
        let mut resources = Vec::with_capacity(nr);
        for _ in 0..nr {
            let transient = t.below("a transient flag", 2)? == 1;
            let load_cost_weight = t.next("a load-cost weight")?;
            resources.push(Resource {
                transient,
                load_cost_weight,
            });
        }
        let nm = t.count("the number of machines", 2 + 2 * nr)?;
        let per_machine = 2 + 2 * nr + nm;
        if nm.saturating_mul(per_machine) > t.left() {
            return Err(t.error(
                ReadErrorKind::OutOfRange,
                format!("{nm} machines need more values than the {} left", t.left()),
            ));
        }
        let mut machines = Vec::with_capacity(nm);
        for _ in 0..nm {
            let neighborhood = t.next("a neighborhood")? as usize;
            let location = t.next("a location")? as usize;
            let capacity = t.vec(nr, "a capacity")?;
            let safety = t.vec(nr, "a safety capacity")?;
            let move_cost = t.vec(nm, "a machine move cost")?;
            machines.push(Machine {
                neighborhood: neighborhood.min(u32::MAX as usize) as u32,
                location: location.min(u32::MAX as usize) as u32,
                capacity,
                safety,
                move_cost,
            });
        }
        let ns = t.count("the number of services", 2)?;
        let mut services = Vec::with_capacity(ns);
        for _ in 0..ns {
            let spread_min = t.next("a spreadMin")?;
            let nd = t.count("a number of dependencies", 1)?;
            let mut depends_on = Vec::with_capacity(nd);
            for _ in 0..nd {
                depends_on.push(t.below("a dependency's service", ns as u64)? as usize);
            }
            services.push(Service {
                spread_min,
                depends_on,
            });
        }
        let np = t.count("the number of processes", 2 + nr)?;
        let mut processes = Vec::with_capacity(np);
        for _ in 0..np {
            let service = t.below("a process's service", ns as u64)? as usize;
            let requirement = t.vec(nr, "a requirement")?;
            let move_cost = t.next("a process move cost")?;
            processes.push(Process {
                service,
                requirement,
                move_cost,
            });
        }
        let nb = t.count("the number of balance objectives", 4)?;
        let mut balances = Vec::with_capacity(nb);
        for _ in 0..nb {
            balances.push(Balance {
                r1: t.below("a balance resource", nr as u64)? as usize,
                r2: t.below("a balance resource", nr as u64)? as usize,
                target: t.next("a balance target")?,
                weight: t.next("a balance weight")?,
            });
        }
        let weights = [
            t.next("the process move weight")?,
            t.next("the service move weight")?,
            t.next("the machine move weight")?,
        ];
        t.end()?;
        let model = Model {
            resources,
            machines,
            services,
            processes,
            balances,
            weight_process_move: weights[0],
            weight_service_move: weights[1],
            weight_machine_move: weights[2],
        };
        model.check_magnitudes(file)?;
        Ok(model)
    }

    /// Refuses numbers whose sums could overflow the checker's and the terms' arithmetic:
    /// every amount, cost and weight must be below 2^40 (the challenge's are below 2^31).
    fn check_magnitudes(&self, file: &str) -> Result<(), ReadError> {
        const LIMIT: u64 = 1 << 40;
        let too_big = self
            .resources
            .iter()
            .map(|r| r.load_cost_weight)
            .chain(self.machines.iter().flat_map(|m| {
                m.capacity
                    .iter()
                    .chain(&m.safety)
                    .chain(&m.move_cost)
                    .copied()
            }))
            .chain(
                self.processes
                    .iter()
                    .flat_map(|p| p.requirement.iter().copied().chain([p.move_cost])),
            )
            .chain(self.balances.iter().flat_map(|b| [b.target, b.weight]))
            .chain([
                self.weight_process_move,
                self.weight_service_move,
                self.weight_machine_move,
            ])
            .find(|v| *v >= LIMIT);
        match too_big {
            Some(v) => Err(ReadError {
                kind: ReadErrorKind::OutOfRange,
                file: file.to_owned(),
                line: 0,
                token: 0,
                reason: format!("value {v} is not below the limit of 2^40"),
            }),
            None => Ok(()),
        }
    }

    /// Reads an assignment or solution file: one machine index per process.
    pub fn read_assignment(&self, path: &Path) -> Result<Vec<usize>, ReadError> {
        let text = read_text(path)?;
        self.parse_assignment(&path.display().to_string(), &text)
    }

    /// Parses an assignment from `text`; `file` names it in errors.
    pub fn parse_assignment(&self, file: &str, text: &str) -> Result<Vec<usize>, ReadError> {
        let mut t = Tokens::new(file, text);
        let n = self.processes.len();
        if t.left() != n {
            return Err(ReadError {
                kind: ReadErrorKind::LengthMismatch,
                file: file.to_owned(),
                line: 0,
                token: 0,
                reason: format!("{} machine indices for a model of {n} processes", t.left()),
            });
        }
        let m = self.machines.len() as u64;
        (0..n)
            .map(|_| t.below("a machine index", m).map(|v| v as usize))
            .collect()
    }
}

/// An assignment in the challenge's format: the machine indices on one line, space-separated.
pub fn format_assignment(assignment: &[usize]) -> String {
    let mut s = String::with_capacity(assignment.len() * 4);
    for (i, m) in assignment.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&m.to_string());
    }
    s.push('\n');
    s
}
