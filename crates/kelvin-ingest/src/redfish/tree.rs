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
/// Other files (READMEs, `$metadata` XML) are not inputs and are ignored; symbolic links below
/// `root` are not followed. At most [`crate::Limits::max_records`] files are decoded; one
/// [`Reason::TooManyRecords`] record stands for the rest. A file larger than
/// [`crate::Limits::max_input_bytes`] is one [`Reason::InputTooLarge`] record (it is not
/// read), a file that is not UTF-8 one [`Reason::NotUtf8`] record, a file or directory that
/// cannot be read one [`Reason::BadJson`] record saying why. Resources without an `@odata.id`
/// owner belong to the entity named after `root` (see [`Context::fallback_entity`]). In a
/// mockup the directory of an `index.json` is its URI: when the `@odata.id` inside names the
/// same parent but another last segment (a copy-paste slip that three DMTF mockup files
/// have), the directory wins.
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
        base_ctx.source = root.display().to_string();
    }
    let meta = fs::metadata(root).map_err(|e| IngestError::io(base_ctx.pointer(""), e))?;
    let fallback = base_ctx.fallback_entity();
    let mut docs: Vec<Decoded> = Vec::new();
    if meta.is_dir() {
        // Reading the root itself must work; below it, failures are records.
        fs::read_dir(root).map_err(|e| IngestError::io(base_ctx.pointer(""), e))?;
        let mut walk = Walk {
            ctx: &base_ctx,
            fallback: &fallback,
            docs: &mut docs,
            files: 0,
            full: false,
        };
        walk.dir(root, root, 0);
    } else {
        docs.push(decode_file(root, &base_ctx, meta.len(), &fallback));
    }
    let mut records: Vec<Record> = Vec::new();
    let mut without = Vec::new();
    for d in docs {
        records.extend(d.records);
        without.extend(d.without);
    }
    dedupe(&mut records);
    let mut out = IngestBatch::default();
    Decoded { records, without }.into_batch(&mut out);
    Ok(out)
}

/// Decodes Redfish resources already in memory — the documents of a service crawled over HTTP
/// — with the de-duplication rules of [`decode_tree`]. Each document is `(path, body)`: its
/// path (`/redfish/v1/Chassis/1U/Thermal`) names it in quarantine places and gives the entity
/// when the body's `@odata.id` is missing.
pub fn decode_documents(docs: &[(String, String)], ctx: &Context<'_>) -> IngestBatch {
    let fallback = ctx.fallback_entity();
    let mut decoded = Vec::with_capacity(docs.len());
    for (path, body) in docs {
        let mut c = ctx.clone();
        c.source = format!("{}{path}", ctx.source.trim_end_matches('/'));
        // Where a document was fetched from is its identity, as a mockup's directory is.
        let mut segments = path.trim_end_matches('/').rsplit('/');
        let hint = match (segments.next(), segments.next()) {
            (Some(name), Some(parent)) if !name.is_empty() => Some(DirHint {
                name: name.to_string(),
                parent: parent.to_string(),
            }),
            _ => None,
        };
        decoded.push(super::decode_str(body, &c, &fallback, hint));
    }
    let mut records: Vec<Record> = Vec::new();
    let mut without = Vec::new();
    for d in decoded {
        records.extend(d.records);
        without.extend(d.without);
    }
    dedupe(&mut records);
    let mut out = IngestBatch::default();
    Decoded { records, without }.into_batch(&mut out);
    out
}

/// Deepest directory nesting walked below the root.
const MAX_DIR_DEPTH: usize = 64;

struct Walk<'a, 'n> {
    ctx: &'a Context<'n>,
    fallback: &'a EntityId,
    docs: &'a mut Vec<Decoded>,
    files: usize,
    full: bool,
}

/// The context of a file below the root: the source extended by its relative path.
fn rel_ctx<'n>(base: &Context<'n>, root: &Path, path: &Path) -> Context<'n> {
    let rel = path
        .strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    let mut c = base.clone();
    if !rel.is_empty() {
        c.source = format!("{}/{rel}", base.source.trim_end_matches('/'));
    }
    c
}

impl Walk<'_, '_> {
    fn unreadable(&mut self, root: &Path, path: &Path, what: &str, err: &std::io::Error) {
        let c = rel_ctx(self.ctx, root, path);
        let q = Quarantined::new(
            c.pointer(""),
            Reason::Unreadable,
            format!("cannot read {what}: {err}"),
            "",
        );
        self.docs.push(Decoded::rejected(q));
    }

    fn dir(&mut self, root: &Path, dir: &Path, depth: usize) {
        if self.full {
            return;
        }
        let entries = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => return self.unreadable(root, dir, "directory", &e),
        };
        let mut list: Vec<(PathBuf, fs::FileType)> = Vec::new();
        for entry in entries {
            match entry.and_then(|e| Ok((e.path(), e.file_type()?))) {
                Ok(x) => list.push(x),
                Err(e) => self.unreadable(root, dir, "a directory entry", &e),
            }
        }
        list.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, ft) in list {
            if self.full {
                return;
            }
            if ft.is_symlink() {
                continue;
            }
            if ft.is_dir() {
                if depth < MAX_DIR_DEPTH {
                    self.dir(root, &path, depth + 1);
                }
                continue;
            }
            let is_json = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"));
            if !ft.is_file() || !is_json {
                continue;
            }
            let c = rel_ctx(self.ctx, root, &path);
            if self.files >= self.ctx.limits.max_records {
                self.full = true;
                let q = Quarantined::new(
                    c.pointer(""),
                    Reason::TooManyRecords,
                    format!(
                        "more than {} files under the root; this one and the rest are skipped",
                        self.ctx.limits.max_records
                    ),
                    "",
                );
                self.docs.push(Decoded::rejected(q));
                return;
            }
            self.files += 1;
            let len = fs::metadata(&path).map_or(0, |m| m.len());
            let doc = decode_file(&path, &c, len, self.fallback);
            self.docs.push(doc);
        }
    }
}

/// Reads and decodes one file; `len` is its size from the directory walk.
fn decode_file(path: &Path, c: &Context<'_>, len: u64, fallback: &EntityId) -> Decoded {
    let limit = c.limits.max_input_bytes;
    if len > limit as u64 {
        let q = Quarantined::new(
            c.pointer(""),
            Reason::InputTooLarge,
            format!("{len} bytes, limit {limit}"),
            "",
        );
        return Decoded::rejected(q);
    }
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            let q = Quarantined::new(
                c.pointer(""),
                Reason::Unreadable,
                format!("cannot read: {e}"),
                "",
            );
            return Decoded::rejected(q);
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) => super::decode_str(&text, c, fallback, dir_hint(path)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let lossy =
                String::from_utf8_lossy(&e.as_bytes()[at.saturating_sub(40)..]).into_owned();
            let q = Quarantined::new(
                c.pointer(""),
                Reason::NotUtf8,
                format!("invalid UTF-8 at byte {at}"),
                &lossy,
            );
            Decoded::rejected(q)
        }
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

/// The tree-level de-duplication rules of [`decode_tree`], applied in place.
fn dedupe(records: &mut [Record]) {
    // Rule 1: DataSourceUri.
    let mut sensors: HashMap<(String, SensorKind), usize> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if let (Origin::Sensor(uri), Ok(reading)) = (&r.origin, &r.outcome)
            && !uri.is_empty()
        {
            sensors.entry((uri.clone(), reading.kind)).or_insert(i);
        }
    }
    let mut first_excerpt: HashMap<(String, SensorKind), usize> = HashMap::new();
    for i in 0..records.len() {
        let key = match (
            &records[i].origin,
            &records[i].data_source,
            &records[i].outcome,
        ) {
            (Origin::Excerpt, Some(ds), Ok(r)) => (ds.clone(), r.kind),
            _ => continue,
        };
        let (detail, j) = if let Some(&j) = sensors.get(&key) {
            let d = format!(
                "the Sensor resource {} reports this value at {}",
                key.0, records[j].place
            );
            (d, j)
        } else if let Some(&j) = first_excerpt.get(&key) {
            let d = format!(
                "DataSourceUri {} already reported at {}",
                key.0, records[j].place
            );
            (d, j)
        } else {
            first_excerpt.insert(key, i);
            continue;
        };
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

    // Rule 3: MetricReport rows join the series of the value their MetricProperty names
    // (following duplicates to the record that kept the value).
    let by_place: HashMap<Place, usize> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.place.clone(), i))
        .collect();
    let mut values: HashMap<String, usize> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let is_value = matches!(
            r.origin,
            Origin::Sensor(_) | Origin::Legacy | Origin::Excerpt
        );
        if let (true, Some(k)) = (is_value, &r.value_key) {
            values.entry(k.clone()).or_insert(i);
        }
    }
    for i in 0..records.len() {
        let Origin::Metric(Some(key)) = &records[i].origin else {
            continue;
        };
        let Some(mut j) = values.get(key).copied() else {
            continue;
        };
        for _ in 0..records.len() {
            match records[j].same_as.as_ref().and_then(|p| by_place.get(p)) {
                Some(&k) if k != j => j = k,
                _ => break,
            }
        }
        let Ok(target) = &records[j].outcome else {
            continue;
        };
        let (entity, sensor, kind) = (target.entity.clone(), target.sensor.clone(), target.kind);
        if let Ok(r) = &mut records[i].outcome
            && r.kind == kind
        {
            r.entity = entity;
            r.sensor = sensor;
        }
    }
}
