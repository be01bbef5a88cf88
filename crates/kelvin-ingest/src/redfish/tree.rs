//! A mockup or service dump: walk, decode every resource, de-duplicate across resources.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use kelvin_model::{EntityId, Place, SensorKind, SensorName};

use super::emitter::{Decoded, DirHint, Origin, Record, mark_duplicate};
use crate::{Context, IngestBatch, IngestError, Quarantined, Reason};

/// Decodes every Redfish resource under `root` — a DMTF mockup (one directory per URI with an
/// `index.json`) or a vendor dump (plain `*.json` files) — and de-duplicates values reported
/// by more than one resource. `root` may also be a single file.
///
/// **Walk.** Files whose name ends in `.json` are decoded, in sorted path order, each with
/// the context's source extended by its path below `root` (`dump/Chassis/1U/Thermal/index.json`).
/// Other regular files (READMEs, `$metadata` XML) are not inputs and are ignored. Nothing else
/// is skipped without a record: a **symbolic link** below `root` is not followed (a dump has no
/// reason for links, and a link may lead out of the tree, to `/dev/zero` or into a loop) and is
/// one [`Reason::Unreadable`] record naming its target; a FIFO, socket or device is one
/// [`Reason::Unreadable`] record and is never opened; a directory that cannot be listed, or
/// deeper than 64 levels, is one [`Reason::Unreadable`] record. Resources without an
/// `@odata.id` owner belong to the entity named after `root` (see
/// [`Context::fallback_entity`]). In a mockup the directory of an `index.json` is its URI: when
/// the `@odata.id` inside names the same parent but another last segment (a copy-paste slip
/// that three DMTF mockup files have), the directory wins.
///
/// **Limits** ([`crate::Limits`]). A file larger than `max_json_bytes` (or `max_input_bytes`,
/// if smaller) is one [`Reason::InputTooLarge`] record and is not read; so is every file once
/// the files read reach `max_tree_bytes` in total. A file that is not UTF-8 is one
/// [`Reason::NotUtf8`] record. Each document is parsed within the JSON limits
/// (`max_json_depth`, `max_json_heap_bytes`). At most `max_tree_records` files are decoded and
/// `max_tree_records` records kept over the whole tree, within `max_output_bytes` of heap:
/// past either, one [`Reason::TooManyRecords`] record stands for the rest of the tree.
///
/// **De-duplication.** The same physical value is often reported several times:
///
/// 1. An excerpt whose `DataSourceUri` names a `Sensor` resource that was decoded with a
///    reading of the same kind is quarantined as [`Reason::Duplicate`]: the `Sensor`'s
///    reading is kept. Several excerpts naming the same `DataSourceUri` with no such
///    `Sensor` keep the first in walk order (inside one resource: the one with the shortest
///    pointer).
/// 2. Readings of the same entity, sensor name and kind are one series: when one comes from a
///    `Sensor` resource, the legacy (`Thermal`/`Power`) and excerpt readings with that
///    identity are duplicates (the legacy `Chassis Intake Temp` and the `IntakeTemp` sensor
///    are both `inlet`); otherwise the first in walk order is kept. Two `Sensor` resources
///    with the same identity are both kept, the later renamed `name#Id`.
/// 3. `MetricReport` rows are history, not duplicates: a row whose `MetricProperty` names a
///    value decoded from the tree takes that value's entity and sensor name (when the kinds
///    agree), so the history joins the live series.
///
/// Counts still balance: a duplicate is a quarantined record, not a dropped one.
///
/// # Errors
/// [`crate::IngestErrorKind::Io`] when `root` itself cannot be read (missing, not a
/// directory listing we may read); errors below `root` are quarantined records instead.
pub fn decode_tree(root: &Path, ctx: &Context<'_>) -> Result<IngestBatch, IngestError> {
    let mut base_ctx = ctx.clone();
    if base_ctx.source.is_empty() {
        base_ctx = base_ctx.with_source(root.display().to_string());
    }
    let meta = fs::metadata(root).map_err(|e| IngestError::io(base_ctx.pointer(""), e))?;
    let mut walk = Walk::new(&base_ctx);
    if meta.is_dir() {
        // Reading the root itself must work; below it, failures are records.
        fs::read_dir(root).map_err(|e| IngestError::io(base_ctx.pointer(""), e))?;
        walk.dir(root, root, 0);
    } else {
        walk.file(root, root);
    }
    Ok(walk.finish())
}

/// Concatenates decoded documents, de-duplicates them and counts them into a bounded batch.
fn merge(docs: Vec<Decoded>, ctx: &Context<'_>) -> IngestBatch {
    let mut records: Vec<Record> = Vec::with_capacity(docs.iter().map(|d| d.records.len()).sum());
    let mut without = Vec::new();
    let mut bytes = 0;
    for d in docs {
        records.extend(d.records);
        without.extend(d.without);
        bytes += d.bytes;
    }
    dedupe(&mut records);
    // The walk held the tree's records to `max_tree_records` as it buffered them (they are
    // de-duplicated across documents before any is emitted); the batch holds the output.
    let mut out = IngestBatch::with_budget(ctx.limits.max_output_bytes, ctx.source_name());
    Decoded {
        records,
        without,
        bytes,
    }
    .into_batch(&mut out);
    out
}

/// Decodes Redfish resources already in memory — the documents of a service crawled over HTTP
/// — with the de-duplication rules of [`decode_tree`] and its limits on records and heap. Each
/// document is `(path, body)`: its path (`/redfish/v1/Chassis/1U/Thermal`) names it in
/// quarantine places and gives the entity when the body's `@odata.id` is missing.
pub fn decode_documents(docs: &[(String, String)], ctx: &Context<'_>) -> IngestBatch {
    let mut walk = Walk::new(ctx);
    for (path, body) in docs {
        walk.document(path, body);
    }
    walk.finish()
}

/// Deepest directory nesting walked below the root.
const MAX_DIR_DEPTH: usize = 64;

/// A tree walk: the decoded documents and what they used of the tree's limits. Documents are
/// decoded as they come (a file, a crawled body), so only their records are kept.
pub(crate) struct Walk<'a, 'n> {
    ctx: &'a Context<'n>,
    fallback: EntityId,
    docs: Vec<Decoded>,
    /// Files decoded (or refused) so far.
    files: usize,
    /// Bytes read so far, against `max_tree_bytes`.
    bytes_read: u64,
    /// Records kept so far, against `max_tree_records`.
    records: usize,
    /// Estimated heap of the records kept, against `max_output_bytes`.
    heap: usize,
    /// Set when a document was cut short by what was left of the tree's limits.
    cut: bool,
    /// Set once a tree limit stopped the walk (its one record is kept).
    full: bool,
}

/// The path of `path` below `root`, `/`-separated.
fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

impl<'a, 'n> Walk<'a, 'n> {
    /// A walk of documents named below `ctx.source`.
    pub(crate) fn new(ctx: &'a Context<'n>) -> Self {
        Walk {
            ctx,
            fallback: ctx.fallback_entity(),
            docs: Vec::new(),
            files: 0,
            bytes_read: 0,
            records: 0,
            heap: 0,
            cut: false,
            full: false,
        }
    }

    /// Decodes one document already in memory: its path (`/redfish/v1/Chassis/1U/Thermal`)
    /// names it in quarantine places and gives the entity when the body's `@odata.id` is
    /// missing. Ignored once a tree limit stopped the walk.
    pub(crate) fn document(&mut self, path: &str, body: &str) {
        let c = self.doc_ctx(format!("{}{path}", self.ctx.source.trim_end_matches('/')));
        if !self.admit(&c) {
            return;
        }
        self.files += 1;
        self.bytes_read = self.bytes_read.saturating_add(body.len() as u64);
        // Where a document was fetched from is its identity, as a mockup's directory is.
        let mut segments = path.trim_end_matches('/').rsplit('/');
        let hint = match (segments.next(), segments.next()) {
            (Some(name), Some(parent)) if !name.is_empty() => Some(DirHint {
                name: name.to_string(),
                parent: parent.to_string(),
            }),
            _ => None,
        };
        let doc = super::decode_str(body, &c, &self.fallback, hint);
        self.add(doc);
    }

    /// One quarantine record for a document that could not be had (a failed fetch), named
    /// `source`.
    pub(crate) fn refuse_source(&mut self, source: String, reason: Reason, detail: String) {
        let c = self.ctx.clone().with_source(source);
        self.refuse(&c, reason, detail);
    }

    /// Whether a tree limit stopped the walk.
    pub(crate) fn stopped(&self) -> bool {
        self.full
    }

    /// De-duplicates what was decoded and counts it into a bounded batch.
    pub(crate) fn finish(self) -> IngestBatch {
        merge(self.docs, self.ctx)
    }

    /// The context of a document: `source`, and the limits this tree has left.
    fn doc_ctx(&self, source: String) -> Context<'n> {
        let mut c = self.ctx.clone().with_source(source);
        let left = self
            .ctx
            .limits
            .max_tree_records
            .saturating_sub(self.records);
        c.limits.max_records = c.limits.max_records.min(left);
        c.limits.max_output_bytes = self.ctx.limits.max_output_bytes.saturating_sub(self.heap);
        c
    }

    /// The context of a file below the root.
    fn file_ctx(&self, root: &Path, path: &Path) -> Context<'n> {
        let rel = rel(root, path);
        if rel.is_empty() {
            return self.doc_ctx(self.ctx.source.clone());
        }
        self.doc_ctx(format!("{}/{rel}", self.ctx.source.trim_end_matches('/')))
    }

    /// Adds a decoded document, counting its records and heap.
    fn add(&mut self, doc: Decoded) {
        self.records = self.records.saturating_add(doc.records.len());
        self.heap = self.heap.saturating_add(doc.bytes);
        // A document cut short by the limits this tree had left ends the walk.
        if doc
            .records
            .last()
            .is_some_and(|r| matches!(r.outcome, Err((Reason::TooManyRecords, _))))
        {
            self.cut = true;
        }
        self.docs.push(doc);
    }

    /// The tree limit that is used up, if any.
    fn used_up(&self) -> Option<String> {
        let limits = &self.ctx.limits;
        if self.files >= limits.max_tree_records {
            Some(format!("{} files (max_tree_records)", self.files))
        } else if self.records >= limits.max_tree_records {
            Some(format!("{} records (max_tree_records)", self.records))
        } else if self.cut || self.heap >= limits.max_output_bytes {
            Some(format!(
                "{} bytes of records (max_output_bytes is {})",
                self.heap, limits.max_output_bytes
            ))
        } else {
            None
        }
    }

    /// Whether the entry at `c` may become a record: false once a tree limit is used up (the
    /// first refused entry becomes the one [`Reason::TooManyRecords`] record for the rest).
    fn admit(&mut self, c: &Context<'_>) -> bool {
        if self.full {
            return false;
        }
        let Some(what) = self.used_up() else {
            return true;
        };
        self.full = true;
        let detail =
            format!("the tree reached {what}: this entry and the rest of the tree are not read");
        self.docs.push(Decoded::rejected(Quarantined::new(
            c.pointer(""),
            Reason::TooManyRecords,
            detail,
            "",
        )));
        false
    }

    /// One quarantine record for an entry.
    fn refuse(&mut self, c: &Context<'_>, reason: Reason, detail: String) {
        if self.admit(c) {
            self.add(Decoded::rejected(Quarantined::new(
                c.pointer(""),
                reason,
                detail,
                "",
            )));
        }
    }

    fn dir(&mut self, root: &Path, dir: &Path, depth: usize) {
        if self.full {
            return;
        }
        let entries = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => {
                let c = self.file_ctx(root, dir);
                return self.refuse(
                    &c,
                    Reason::Unreadable,
                    format!("cannot list directory: {e}"),
                );
            }
        };
        let mut list: Vec<(PathBuf, fs::FileType)> = Vec::new();
        for entry in entries {
            match entry.and_then(|e| Ok((e.path(), e.file_type()?))) {
                Ok(x) => list.push(x),
                Err(e) => {
                    let c = self.file_ctx(root, dir);
                    self.refuse(
                        &c,
                        Reason::Unreadable,
                        format!("cannot read a directory entry: {e}"),
                    );
                }
            }
            if self.full {
                return;
            }
        }
        list.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, ft) in list {
            if self.full {
                return;
            }
            self.entry(root, &path, ft, depth);
        }
    }

    fn entry(&mut self, root: &Path, path: &Path, ft: fs::FileType, depth: usize) {
        if ft.is_dir() {
            if depth < MAX_DIR_DEPTH {
                self.dir(root, path, depth + 1);
            } else {
                let c = self.file_ctx(root, path);
                let detail = format!("a directory deeper than {MAX_DIR_DEPTH} levels: not walked");
                self.refuse(&c, Reason::Unreadable, detail);
            }
            return;
        }
        if ft.is_symlink() {
            let c = self.file_ctx(root, path);
            let target = fs::read_link(path)
                .map_or_else(|e| format!("unreadable: {e}"), |t| t.display().to_string());
            let detail =
                format!("a symbolic link (to {target}): links are not followed in a Redfish tree");
            return self.refuse(&c, Reason::Unreadable, detail);
        }
        if !ft.is_file() {
            let c = self.file_ctx(root, path);
            let detail = format!(
                "{}, not a regular file: not opened",
                kelvin_guard::file::describe(ft)
            );
            return self.refuse(&c, Reason::Unreadable, detail);
        }
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if is_json {
            self.file(root, path);
        }
    }

    /// Reads and decodes one file.
    fn file(&mut self, root: &Path, path: &Path) {
        let c = self.file_ctx(root, path);
        if !self.admit(&c) {
            return;
        }
        self.files += 1;
        let limits = &self.ctx.limits;
        let (limit, name) = if limits.max_json_bytes < limits.max_input_bytes {
            (limits.max_json_bytes, "max_json_bytes")
        } else {
            (limits.max_input_bytes, "max_input_bytes")
        };
        let left = limits.max_tree_bytes.saturating_sub(self.bytes_read);
        let size = fs::metadata(path).map_or(0, |m| m.len());
        if size <= limit as u64 && size > left {
            let detail = format!(
                "{size} bytes, over what is left of max_tree_bytes ({} bytes for the whole tree, \
                 {left} left): not read",
                limits.max_tree_bytes
            );
            return self.refuse(&c, Reason::InputTooLarge, detail);
        }
        let bytes = match crate::files::read_regular(path, (limit as u64).min(left), name) {
            Ok(b) => b,
            Err(r) => return self.refuse(&c, r.reason, r.detail),
        };
        self.bytes_read = self.bytes_read.saturating_add(bytes.len() as u64);
        let doc = match String::from_utf8(bytes) {
            Ok(text) => super::decode_str(&text, &c, &self.fallback, dir_hint(path)),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let lossy = String::from_utf8_lossy(
                    &e.as_bytes()
                        [at.saturating_sub(40)..at.saturating_add(40).min(e.as_bytes().len())],
                )
                .into_owned();
                Decoded::rejected(Quarantined::new(
                    c.pointer(""),
                    Reason::NotUtf8,
                    format!("invalid UTF-8 at byte {at}"),
                    &lossy,
                ))
            }
        };
        self.add(doc);
    }
}

/// The [`DirHint`] of a mockup's `index.json`.
fn dir_hint(path: &Path) -> Option<DirHint> {
    if path.file_name()? != "index.json" {
        return None;
    }
    let dir = path.parent()?;
    Some(DirHint {
        name: dir.file_name()?.to_string_lossy().into_owned(),
        parent: dir.parent()?.file_name()?.to_string_lossy().into_owned(),
    })
}

/// The tree-level de-duplication rules of [`decode_tree`], applied in place. The lookup
/// tables borrow from the records (no string is copied per record): each rule first decides,
/// then applies.
fn dedupe(records: &mut [Record]) {
    // Rule 1: DataSourceUri.
    let mut marks: Vec<(usize, usize, String)> = Vec::new();
    {
        let mut sensors: HashMap<(&str, SensorKind), usize> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            if let (Origin::Sensor(uri), Ok(reading)) = (&r.origin, &r.outcome)
                && !uri.is_empty()
            {
                sensors.entry((uri.as_str(), reading.kind)).or_insert(i);
            }
        }
        let mut first_excerpt: HashMap<(&str, SensorKind), usize> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            let key = match (&r.origin, &r.data_source, &r.outcome) {
                (Origin::Excerpt, Some(ds), Ok(reading)) => (ds.as_str(), reading.kind),
                _ => continue,
            };
            if let Some(&j) = sensors.get(&key) {
                let d = format!(
                    "the Sensor resource {} reports this value at {}",
                    key.0, records[j].place
                );
                marks.push((i, j, d));
            } else if let Some(&j) = first_excerpt.get(&key) {
                let d = format!(
                    "DataSourceUri {} already reported at {}",
                    key.0, records[j].place
                );
                marks.push((i, j, d));
            } else {
                first_excerpt.insert(key, i);
            }
        }
    }
    for (i, j, detail) in marks {
        let kept = records[j].place.clone();
        mark_duplicate(&mut records[i], detail, &kept);
    }

    // Rule 2: one series per (entity, sensor, kind); Sensor resources first.
    type Identity = (EntityId, SensorName, SensorKind);
    let mut owners: HashMap<Identity, usize> = HashMap::new();
    let mut next: HashMap<String, usize> = HashMap::new();
    for (i, rec) in records.iter_mut().enumerate() {
        let (Origin::Sensor(uri), Ok(r)) = (&rec.origin, &mut rec.outcome) else {
            continue;
        };
        let mut key = (r.entity.clone(), r.sensor.clone(), r.kind);
        if owners.contains_key(&key) {
            // A Sensor's own second value (SpeedRPM) has another kind, so a clash here is
            // another Sensor resource.
            let base = format!(
                "{}#{}",
                r.sensor,
                uri.rsplit('/').next().unwrap_or_default()
            );
            key.1 = base.as_str().into();
            while owners.contains_key(&key) {
                let n = next.entry(base.clone()).or_insert(2);
                key.1 = format!("{base}#{n}").into();
                *n += 1;
            }
            r.sensor = key.1.clone();
        }
        owners.insert(key, i);
    }
    for i in 0..records.len() {
        if !matches!(records[i].origin, Origin::Legacy | Origin::Excerpt) {
            continue;
        }
        let Ok(r) = &records[i].outcome else {
            continue;
        };
        let key = (r.entity.clone(), r.sensor.clone(), r.kind);
        match owners.get(&key) {
            Some(&j) => {
                let detail = format!(
                    "{} {} ({}) is already reported at {}",
                    key.0, key.1, key.2, records[j].place
                );
                let kept = records[j].place.clone();
                mark_duplicate(&mut records[i], detail, &kept);
            }
            None => {
                owners.insert(key, i);
            }
        }
    }
    drop(owners);

    // Rule 3: MetricReport rows join the series of the value their MetricProperty names
    // (following duplicates to the record that kept the value).
    let mut joins: Vec<(usize, EntityId, SensorName, SensorKind)> = Vec::new();
    {
        let by_place: HashMap<&Place, usize> = records
            .iter()
            .enumerate()
            .map(|(i, r)| (&r.place, i))
            .collect();
        let mut values: HashMap<&str, usize> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            let is_value = matches!(
                r.origin,
                Origin::Sensor(_) | Origin::Legacy | Origin::Excerpt
            );
            if let (true, Some(k)) = (is_value, &r.value_key) {
                values.entry(k.as_str()).or_insert(i);
            }
        }
        for r in records.iter().enumerate() {
            let (i, rec) = r;
            let Origin::Metric(Some(key)) = &rec.origin else {
                continue;
            };
            let Some(mut j) = values.get(key.as_str()).copied() else {
                continue;
            };
            for _ in 0..records.len() {
                match records[j].same_as.as_ref().and_then(|p| by_place.get(p)) {
                    Some(&k) if k != j => j = k,
                    _ => break,
                }
            }
            if let Ok(target) = &records[j].outcome {
                joins.push((i, target.entity.clone(), target.sensor.clone(), target.kind));
            }
        }
    }
    for (i, entity, sensor, kind) in joins {
        if let Ok(r) = &mut records[i].outcome
            && r.kind == kind
        {
            r.entity = entity;
            r.sensor = sensor;
        }
    }
}
