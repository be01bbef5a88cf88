//! The load-watcher document, from a Kelvin engine: what the Trimaran scheduler plugins
//! (TargetLoadPacking, LoadVariationRiskBalancing, LowRiskOverCommitment, PEAKS) read.
//!
//! paypal/load-watcher serves `GET /watcher[?host=NODE]` (port 2020 by default): per node, CPU
//! and memory utilization statistics over the last 15 minutes, falling back to 10 and then 5
//! minutes. The types here are its `pkg/watcher/watcher.go` structs, with the keys its
//! `watcher_json.go` marshalling writes (authoritative over the `json` tags: every key is
//! always written, an empty `rollup` or `dataCenter` as `""`, and the node map sits one level
//! down, under `data.NodeMetricsMap`):
//!
//! ```json
//! {"timestamp": 1793610000, "window": {"duration": "15m", "start": 1793609100, "end": 1793610000},
//!  "source": "Kelvin",
//!  "data": {"NodeMetricsMap": {"edge-r1-h1": {
//!    "metrics": [{"name": "kelvin_host_cpu_utilization", "type": "CPU", "operator": "AVG",
//!                 "rollup": "15m", "value": 41.2}, …],
//!    "tags": {}, "metadata": {"dataCenter": "edge-site"}}}}}
//! ```
//!
//! Kelvin computes a host's CPU utilization per interval from the aligned input attribution
//! uses ([`kelvin::Engine::aligned`]): `100 · Σ workloads' CPU seconds / (interval seconds ·
//! host cores)` — the utilization Kelvin's power curves are fitted against, so the `u` the PEAKS
//! plugin reads here is the `u` of the models [`super::peaks::peaks_models`] fits. Each node
//! gets three [`CPU`] metrics: [`AVERAGE`] and [`STD`] (population standard deviation,
//! as Prometheus's `stddev_over_time`) over the window, [`LATEST`] the most recent interval.
//! Kelvin has no memory utilization, so no `Memory` metric: LoadVariationRiskBalancing, which
//! weighs both, then scores on CPU alone (it keeps the score it has when one is missing).

use std::collections::BTreeMap;

use kelvin::attribution::HostSeries;
use kelvin::model::{Inventory, TimeRange, Timestamp};
use serde::{Deserialize, Serialize};

/// The `source` Kelvin writes (load-watcher writes its provider's name, e.g. `Prometheus`).
pub const SOURCE: &str = "Kelvin";

/// The `name` of Kelvin's CPU metrics: what the metric is called at the provider, as
/// load-watcher's providers write the series they queried (`instance:node_cpu:ratio`, …).
pub const CPU_METRIC: &str = "kelvin_host_cpu_utilization";

/// The metric `type` of CPU utilization (load-watcher's `watcher.CPU`).
pub const CPU: &str = "CPU";

/// The metric `type` of memory utilization (load-watcher's `watcher.Memory`); Kelvin writes none.
pub const MEMORY: &str = "Memory";

/// The `operator` of a mean over the window (load-watcher's `watcher.Average`).
pub const AVERAGE: &str = "AVG";

/// The `operator` of a standard deviation over the window (load-watcher's `watcher.Std`).
pub const STD: &str = "STD";

/// The `operator` of the most recent value (load-watcher's `watcher.Latest`).
pub const LATEST: &str = "Latest";

/// The windows load-watcher serves, longest first, in seconds: 15, 10 and 5 minutes.
pub const WINDOWS_S: [i64; 3] = [900, 600, 300];

/// A load-watcher document: node metrics over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatcherMetrics {
    /// When the document was made, Unix seconds.
    #[serde(default)]
    pub timestamp: i64,
    /// The window the statistics are over.
    #[serde(default)]
    pub window: Window,
    /// The metrics provider (`"Kelvin"`, [`SOURCE`]).
    #[serde(default)]
    pub source: String,
    /// The metrics, by node.
    #[serde(default)]
    pub data: Data,
}

/// A window: its length as load-watcher names it (`"15m"`) and its bounds in Unix seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// `"15m"`, `"10m"` or `"5m"` for the windows load-watcher serves.
    #[serde(default)]
    pub duration: String,
    /// Start, Unix seconds.
    #[serde(default)]
    pub start: i64,
    /// End, Unix seconds.
    #[serde(default)]
    pub end: i64,
}

/// The `data` object: one level holding the node map.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Data {
    /// Node name → its metrics (`NodeMetricsMap`, spelled so on the wire).
    #[serde(rename = "NodeMetricsMap", default)]
    pub node_metrics_map: BTreeMap<String, NodeMetrics>,
}

/// One node's metrics, tags and metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeMetrics {
    /// Its metrics; empty when Kelvin has no usable interval for the node.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Always `{}` (load-watcher defines no tags).
    #[serde(default)]
    pub tags: Tags,
    /// Where the node is.
    #[serde(default)]
    pub metadata: Metadata,
}

/// Node tags: load-watcher's `Tags` has no fields and is written `{}`; keys read are ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tags {}

/// Node metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The node's data center: Kelvin writes the inventory site of the host's room, `""` when
    /// the inventory does not place it.
    #[serde(rename = "dataCenter", default)]
    pub data_center: String,
}

/// One statistic of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// The metric's name at the provider ([`CPU_METRIC`]).
    #[serde(default)]
    pub name: String,
    /// The resource: [`CPU`], [`MEMORY`], … (`type` on the wire).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The statistic: [`AVERAGE`], [`STD`] or [`LATEST`].
    #[serde(default)]
    pub operator: String,
    /// The range the statistic is over: the window (`"15m"`) for [`AVERAGE`] and [`STD`], as
    /// load-watcher's Prometheus provider writes it; one interval (`"1m"`) for [`LATEST`].
    #[serde(default)]
    pub rollup: String,
    /// The value, in percent of the node's capacity.
    #[serde(default)]
    pub value: f64,
}

impl WatcherMetrics {
    /// The document for one node only (load-watcher's `?host=NODE`), same timestamp, window
    /// and source; `None` for a node the document does not hold (load-watcher answers 404).
    ///
    /// ```
    /// use kelvin_agent::scheduler::watcher::{Data, NodeMetrics, WatcherMetrics, Window};
    /// let doc = WatcherMetrics {
    ///     timestamp: 1_700_000_000,
    ///     window: Window { duration: "15m".into(), start: 1_699_999_100, end: 1_700_000_000 },
    ///     source: "Kelvin".into(),
    ///     data: Data {
    ///         node_metrics_map: [("a".to_string(), NodeMetrics::default()),
    ///                            ("b".to_string(), NodeMetrics::default())].into(),
    ///     },
    /// };
    /// let one = doc.for_host("b").unwrap();
    /// assert_eq!(one.data.node_metrics_map.keys().collect::<Vec<_>>(), ["b"]);
    /// assert_eq!(one.window, doc.window);
    /// assert!(doc.for_host("c").is_none());
    /// ```
    pub fn for_host(&self, host: &str) -> Option<WatcherMetrics> {
        let node = self.data.node_metrics_map.get(host)?;
        Some(WatcherMetrics {
            timestamp: self.timestamp,
            window: self.window.clone(),
            source: self.source.clone(),
            data: Data {
                node_metrics_map: BTreeMap::from([(host.to_string(), node.clone())]),
            },
        })
    }
}

/// The document load-watcher's `/watcher` serves: over the last 15 minutes of the engine's
/// data when it spans them, else the last 10, else the last 5 (over what there is when the
/// data spans less than 5 minutes, as load-watcher's Prometheus provider averages what its
/// range holds). `timestamp` is `now_unix_s`; the window ends at the engine's last sample.
///
/// `None` when the engine has no data, or less than one interval of it.
///
/// ```
/// use kelvin::{Batch, Engine, dataset::RecordedDataset};
/// use kelvin_agent::scheduler::watcher::watcher_document;
///
/// let ds = RecordedDataset::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/edge-small"))?;
/// let mut engine = Engine::builder()
///     .inventory(ds.inventory.clone())
///     .workloads(ds.workloads.iter().filter(|w| w.host.is_some()).cloned())
///     .build()?;
/// assert!(watcher_document(&engine, 1_800_000_000).is_none());
/// engine.ingest(Batch::prometheus("metrics.prom", ds.metrics.clone()))?;
/// let doc = watcher_document(&engine, 1_800_000_000).expect("an hour of data");
/// assert_eq!(doc.window.duration, "15m");
/// assert_eq!(doc.data.node_metrics_map.len(), ds.inventory.hosts.len());
/// let json = serde_json::to_string(&doc)?;
/// assert!(json.contains(r#""data":{"NodeMetricsMap":{"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn watcher_document(engine: &kelvin::Engine, now_unix_s: i64) -> Option<WatcherMetrics> {
    let span = engine.data_span()?;
    let spanned_s = span.len_nanos() / Timestamp::NANOS_PER_SEC;
    let window_s = WINDOWS_S
        .into_iter()
        .find(|&w| spanned_s >= w)
        .unwrap_or(WINDOWS_S[WINDOWS_S.len() - 1]);
    let mut doc = watcher_metrics(engine, window_s)?;
    doc.timestamp = now_unix_s;
    Some(doc)
}

/// The load-watcher document over the last `window_s` seconds of the engine's data (clipped
/// to the data there is), every inventory host in it. The window ends at the engine's last
/// sample; `timestamp` is that end too ([`watcher_document`] stamps the time of asking).
/// `duration` names the window the load-watcher way (`"15m"`, `"90s"`), `start` is
/// `end − window_s`.
///
/// The statistics are over the intervals of the engine's grid that end inside the window and
/// at its end, those where every workload on the host has its CPU seconds (others are
/// skipped, as the power-model fit skips them); a host with none, or without a positive core
/// count, is listed with no metrics.
///
/// `None` when the engine has no data, `window_s` is not positive or the data spans less than
/// one interval.
pub fn watcher_metrics(engine: &kelvin::Engine, window_s: i64) -> Option<WatcherMetrics> {
    if window_s <= 0 {
        return None;
    }
    let span = engine.data_span()?;
    let end = span.end();
    let back = window_s.saturating_mul(Timestamp::NANOS_PER_SEC);
    let start = end
        .as_nanos()
        .saturating_sub(back)
        .max(span.start().as_nanos());
    let mut aligned = engine.aligned(range(start, end)?).ok()?;
    // The grid starts at the window's start and drops a tail shorter than one interval:
    // start whole intervals back from the end instead, so the latest data is kept.
    let step = aligned.input.interval_ns;
    if step <= 0 {
        return None;
    }
    let rest = (end.as_nanos() - start) % step;
    if rest != 0 {
        aligned = engine.aligned(range(start + rest, end)?).ok()?;
    }
    let interval_s = step as f64 / 1e9;
    let duration = duration_text(window_s);
    let rollup_latest = duration_text(step / Timestamp::NANOS_PER_SEC);
    let inventory = engine.inventory();
    let node_metrics_map = aligned
        .input
        .hosts
        .iter()
        .map(|h| {
            let metrics = match Stats::of(&utilization_pct(h, interval_s)) {
                Some(s) => s.metrics(&duration, &rollup_latest),
                None => Vec::new(),
            };
            let node = NodeMetrics {
                metrics,
                tags: Tags {},
                metadata: Metadata {
                    data_center: data_center(inventory, h),
                },
            };
            (h.host.as_str().to_string(), node)
        })
        .collect();
    let end_s = end.as_nanos().div_euclid(Timestamp::NANOS_PER_SEC);
    Some(WatcherMetrics {
        timestamp: end_s,
        window: Window {
            duration,
            start: end_s.saturating_sub(window_s),
            end: end_s,
        },
        source: SOURCE.to_string(),
        data: Data { node_metrics_map },
    })
}

fn range(start_ns: i64, end: Timestamp) -> Option<TimeRange> {
    TimeRange::try_new(Timestamp::from_nanos(start_ns), end).ok()
}

/// `"15m"` for 900 s, `"1h"` for 3600, `"90s"` for 90: Prometheus's duration spelling, which
/// load-watcher's window names follow.
fn duration_text(seconds: i64) -> String {
    if seconds != 0 && seconds % 3600 == 0 {
        format!("{}h", seconds / 3600)
    } else if seconds != 0 && seconds % 60 == 0 {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

/// A host's CPU utilization per interval, percent of its cores: `None` where a workload's CPU
/// seconds are missing or the host has no positive core count.
fn utilization_pct(host: &HostSeries, interval_s: f64) -> Vec<Option<f64>> {
    let capacity_s = interval_s * host.cores;
    (0..host.energy_j.len())
        .map(|i| {
            // Folded from +0.0: `Sum` starts at −0.0, which a host without workloads would
            // print as `-0.0`.
            let cpu_s = host
                .workloads
                .iter()
                .map(|w| w.cpu_s.get(i).copied().unwrap_or(f64::NAN))
                .fold(0.0, |a, b| a + b);
            let pct = 100.0 * cpu_s / capacity_s;
            (capacity_s > 0.0 && pct.is_finite()).then_some(pct)
        })
        .collect()
}

/// Mean, population standard deviation and most recent of a series' known values.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stats {
    mean: f64,
    std: f64,
    latest: f64,
}

impl Stats {
    fn of(values: &[Option<f64>]) -> Option<Stats> {
        let known: Vec<f64> = values.iter().flatten().copied().collect();
        let latest = *known.last()?;
        let n = known.len() as f64;
        let mean = known.iter().sum::<f64>() / n;
        let var = known.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        Some(Stats {
            mean,
            std: var.sqrt(),
            latest,
        })
    }

    /// AVG first: PEAKS takes the first CPU metric that is AVG or Latest.
    fn metrics(&self, window: &str, interval: &str) -> Vec<Metric> {
        let metric = |operator: &str, rollup: &str, value: f64| Metric {
            name: CPU_METRIC.to_string(),
            kind: CPU.to_string(),
            operator: operator.to_string(),
            rollup: rollup.to_string(),
            value,
        };
        vec![
            metric(AVERAGE, window, self.mean),
            metric(STD, window, self.std),
            metric(LATEST, interval, self.latest),
        ]
    }
}

/// The site of the room of the host's rack, `""` when the inventory does not say.
fn data_center(inventory: &Inventory, host: &HostSeries) -> String {
    let site = inventory
        .host(&host.host)
        .and_then(|h| inventory.racks.iter().find(|r| r.id == h.rack))
        .and_then(|rack| inventory.rooms.iter().find(|room| room.id == rack.room))
        .map(|room| room.site.as_str().to_string());
    site.unwrap_or_default()
}

#[cfg(test)]
mod tests;
