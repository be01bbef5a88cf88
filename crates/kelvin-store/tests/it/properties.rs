use std::collections::{BTreeMap, BTreeSet};

use kelvin_model::{EntityId, Quality, Reading, SensorKind, Timestamp};
use kelvin_store::{Fill, Grid, MemStore, ResampleOptions, SeriesKey, SeriesRead};
use proptest::prelude::*;

const S: i64 = Timestamp::NANOS_PER_SEC;
/// Somewhere in November 2023, so timestamps have realistic magnitudes.
const T0: i64 = 1_700_000_000 * S;

fn key(sensor: &str, kind: SensorKind) -> SeriesKey {
    SeriesKey::new(EntityId::new("host-01").unwrap(), sensor, kind)
}

fn store_of(key: &SeriesKey, samples: &[(i64, f64)]) -> MemStore {
    let mut store = MemStore::new();
    for &(t, v) in samples {
        let r = Reading::new(
            key.entity.clone(),
            key.sensor.clone(),
            key.kind,
            v,
            Timestamp::from_nanos(t),
        );
        store.insert(&r);
    }
    store
}

/// 2 to 40 power samples, 1 ns to 60 s apart (never aligned with anything), 0–1000 W.
fn power_samples() -> impl Strategy<Value = Vec<(i64, f64)>> {
    (
        0.0..1000.0f64,
        prop::collection::vec((1..=60 * S, 0.0..1000.0f64), 1..40),
    )
        .prop_map(|(v0, steps)| {
            let mut t = T0;
            let mut out = vec![(t, v0)];
            for (dt, v) in steps {
                t += dt;
                out.push((t, v));
            }
            out
        })
}

/// The integral over `[a, b]` computed in one pass over the samples, without any grid: each
/// sample segment clipped to `[a, b]` contributes its length times its value at the clipped
/// piece's midpoint (exact for a linear piece) or its left value (a step).
fn direct_integral(samples: &[(i64, f64)], a: i64, b: i64, fill: Fill) -> f64 {
    let mut total = 0.0;
    for w in samples.windows(2) {
        let ((t0, v0), (t1, v1)) = (w[0], w[1]);
        let (x, y) = (a.max(t0), b.min(t1));
        if x >= y {
            continue;
        }
        let len_s = (y - x) as f64 / S as f64;
        let height = match fill {
            Fill::Locf => v0,
            _ => {
                let mid_frac = ((x - t0) + (y - t0)) as f64 / 2.0 / (t1 - t0) as f64;
                v0 + (v1 - v0) * mid_frac
            }
        };
        total += height * len_s;
    }
    total
}

proptest! {
    /// Splitting a span into grid intervals neither loses nor double-counts energy: the sum of
    /// `integrate` over a grid inside the samples equals the integral over the grid's whole span.
    #[test]
    fn integrals_over_a_grid_add_up_to_the_whole(
        samples in power_samples(),
        start_frac in 0.0..0.5f64,
        intervals in 1usize..20,
        step_frac in 0.01..=1.0f64,
    ) {
        let k = key("psu1", SensorKind::Power);
        let store = store_of(&k, &samples);
        let (first, last) = (samples[0].0, samples[samples.len() - 1].0);
        let a = first + ((last - first) as f64 * start_frac) as i64;
        let step = (((last - a) as f64 * step_frac) as i64 / intervals as i64).max(1);
        prop_assume!(a + step * intervals as i64 <= last);
        let grid = Grid::try_new(Timestamp::from_nanos(a), step, intervals + 1).unwrap();
        let b = grid.end().as_nanos();
        for fill in [Fill::Linear, Fill::Locf] {
            let opts = ResampleOptions::default().with_fill(fill).with_max_gap_ns(i64::MAX);
            let parts = store.integrate(&k, &grid, &opts).unwrap();
            prop_assert_eq!(parts.len(), intervals);
            prop_assert!(parts.iter().all(|p| p.is_finite() && *p >= 0.0), "{:?}", parts);
            let sum: f64 = parts.iter().sum();
            let expected = direct_integral(&samples, a, b, fill);
            prop_assert!(
                (sum - expected).abs() <= 1e-6 * expected.abs() + 1e-9,
                "{:?}: sum of parts {} vs direct {}", fill, sum, expected
            );
        }
    }

    /// The reset-corrected increase over a grid spanning the first to the last sample adds up
    /// to what the counter really counted, however many resets happened.
    #[test]
    fn counter_increases_add_up_to_the_true_total(
        (intervals, step, interior) in (1i64..10, 1..=120 * S).prop_flat_map(|(k, step)| {
            (Just(k), Just(step), prop::collection::btree_set(1..k * step, 0..40))
        }),
        start in 0.0..1e6f64,
        moves in prop::collection::vec((0.0..500.0f64, prop::bool::weighted(0.15), 0.0..0.999f64), 41),
    ) {
        // Sample times: both grid ends and some distinct instants in between.
        let mut times = vec![0];
        times.extend(interior.iter().copied());
        times.push(intervals * step);

        // Simulate CPU seconds: mostly increments, sometimes a restart to a lower value.
        let mut samples = vec![(T0, start)];
        let (mut true_total, mut true_resets) = (0.0, 0);
        for (&t, &(inc, reset, frac)) in times[1..].iter().zip(&moves) {
            let prev = samples[samples.len() - 1].1;
            let next = if reset {
                // Restarted from zero and counted up to `next` since.
                let next = prev * frac;
                true_total += next;
                if next < prev {
                    true_resets += 1;
                }
                next
            } else {
                true_total += inc;
                prev + inc
            };
            samples.push((T0 + t, next));
        }

        let k = key("cpu", SensorKind::CpuTime);
        let store = store_of(&k, &samples);
        let grid = Grid::try_new(Timestamp::from_nanos(T0), step, intervals as usize + 1).unwrap();
        let opts = ResampleOptions::default().with_max_gap_ns(i64::MAX);
        let inc = store.increase(&k, &grid, &opts).unwrap();
        prop_assert_eq!(inc.resets, true_resets);
        prop_assert!(inc.values.iter().all(|v| v.is_finite() && *v >= -1e-6), "{:?}", inc.values);
        let sum: f64 = inc.values.iter().sum();
        let scale = true_total + start;
        prop_assert!(
            (sum - true_total).abs() <= 1e-9 * scale + 1e-9,
            "sum of increases {} vs true total {}", sum, true_total
        );
    }

    /// Insertion order does not matter: any permutation of a batch (with unusable readings and
    /// exact duplicates mixed in) gives the same series and the same counts as the sorted batch.
    #[test]
    fn insertion_order_does_not_matter(
        (sorted, shuffled) in prop::collection::vec(
            (0usize..3, 0i64..300, prop::option::weighted(0.9, 0.0..1000.0f64), prop::bool::weighted(0.2)),
            0..80,
        )
        .prop_map(|raw| {
            let keys = [
                key("psu1", SensorKind::Power),
                key("psu2", SensorKind::Power),
                key("cpu", SensorKind::CpuTime),
            ];
            // One value per (series, instant), so that "last write wins" cannot depend on order.
            let mut seen = BTreeSet::new();
            let mut readings = Vec::new();
            for (series, secs, value, duplicate) in raw {
                let k = &keys[series];
                let r = match value {
                    Some(v) if seen.insert((series, secs)) => {
                        Reading::new(k.entity.clone(), k.sensor.clone(), k.kind, v, Timestamp::from_secs(secs))
                    }
                    Some(_) => continue,
                    None => Reading::new(k.entity.clone(), k.sensor.clone(), k.kind, f64::NAN, Timestamp::from_secs(secs))
                        .with_quality(Quality::Absent),
                };
                if duplicate {
                    readings.push(r.clone());
                }
                readings.push(r);
            }
            readings.sort_by_key(|r| r.ts);
            readings
        })
        .prop_flat_map(|sorted| (Just(sorted.clone()), Just(sorted).prop_shuffle())),
    ) {
        let mut a = MemStore::new();
        let sa = a.extend(&sorted);
        let mut b = MemStore::new();
        let sb = b.extend(&shuffled);

        prop_assert_eq!(sa.out_of_order, 0, "a sorted batch only appends");
        prop_assert_eq!(sa.appended, sb.appended + sb.out_of_order);
        prop_assert_eq!(sa.duplicates, sb.duplicates);
        prop_assert_eq!(sa.unusable, sb.unusable);
        prop_assert_eq!(sa.total(), sorted.len());
        prop_assert_eq!(sb.total(), shuffled.len());

        let series = |s: &MemStore| -> BTreeMap<SeriesKey, Vec<(i64, f64)>> {
            s.iter()
                .map(|(k, v)| (k.clone(), v.iter().map(|x| (x.ts.as_nanos(), x.value)).collect()))
                .collect()
        };
        prop_assert_eq!(series(&a), series(&b));
        prop_assert_eq!(a.sample_count(), b.sample_count());
        prop_assert_eq!(a.time_span(), b.time_span());
        for (_, samples) in b.iter() {
            prop_assert!(samples.windows(2).all(|w| w[0].ts < w[1].ts), "sorted and unique");
        }
    }
}

/// Every grid query of `store` for `gauge` and `counter`, through the read trait, as bits.
fn answers(
    store: &impl SeriesRead,
    gauge: &SeriesKey,
    counter: &SeriesKey,
    grid: &Grid,
    opts: &ResampleOptions,
) -> Vec<(Vec<u64>, usize)> {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let resampled = store.resample(gauge, grid, opts).unwrap();
    let integrated = store.integrate(gauge, grid, opts).unwrap();
    let increased = store.increase(counter, grid, opts).unwrap();
    let rated = store.rate(counter, grid, opts).unwrap();
    let raw = store.resample(counter, grid, opts).unwrap();
    vec![
        (bits(&resampled), 0),
        (bits(&integrated), 0),
        (bits(&increased.values), increased.resets),
        (bits(&rated.values), rated.resets),
        (bits(&raw), 0),
    ]
}

proptest! {
    /// `MemStore` is the reference: the columnar `Store`, given the same readings in the same
    /// order (out of order, resent, across sealed blocks, late buffers and a checkpoint), answers
    /// every grid query of the read trait with the same bits.
    #[test]
    fn the_store_answers_what_the_reference_answers(
        readings in prop::collection::vec((any::<bool>(), 0i64..3_000, 0.0..1000.0f64), 1..300),
        checkpoint_at in 0usize..300,
        (start, step, len) in (-100i64..3_000, 1i64..600, 2usize..40),
        (linear, gap) in (any::<bool>(), 1i64..900),
    ) {
        let gauge = key("psu1", SensorKind::Power);
        let counter = key("rapl", SensorKind::Energy);
        let mut reference = MemStore::new();
        let mut opts = kelvin_store::StoreOptions::default()
            .with_block_samples(16)
            .with_partition_ns(300 * S)
            .with_late_window_ns(i64::MAX);
        opts.late_buffer = 8;
        let mut store = kelvin_store::Store::in_memory(opts);
        for (i, &(is_counter, secs, v)) in readings.iter().enumerate() {
            let k = if is_counter { &counter } else { &gauge };
            let r = Reading::new(k.entity.clone(), k.sensor.clone(), k.kind, v, Timestamp::from_nanos(T0 + secs * S));
            reference.insert(&r);
            store.insert(&r).unwrap();
            if i == checkpoint_at {
                store.checkpoint().unwrap();
            }
        }
        // Both series exist, whatever the draw.
        for k in [&gauge, &counter] {
            let r = Reading::new(k.entity.clone(), k.sensor.clone(), k.kind, 1.0, Timestamp::from_nanos(T0 - S));
            reference.insert(&r);
            store.insert(&r).unwrap();
        }
        prop_assert_eq!(
            SeriesRead::select_keys(&store, None, None),
            SeriesRead::select_keys(&reference, None, None)
        );
        let grid = Grid::try_new(Timestamp::from_nanos(T0 + start * S), step * S, len).unwrap();
        let fill = if linear { Fill::Linear } else { Fill::Locf };
        let query = ResampleOptions::default().with_fill(fill).with_max_gap_ns(gap * S);
        prop_assert_eq!(
            answers(&store, &gauge, &counter, &grid, &query),
            answers(&reference, &gauge, &counter, &grid, &query)
        );
        let whole = Grid::try_new(Timestamp::from_nanos(T0 - S), 3_001 * S, 2).unwrap();
        prop_assert_eq!(
            answers(&store, &gauge, &counter, &whole, &query),
            answers(&reference, &gauge, &counter, &whole, &query)
        );
    }
}

/// Both stores refuse the same queries with the same errors.
#[test]
fn the_store_and_the_reference_refuse_alike() {
    let gauge = key("psu1", SensorKind::Power);
    let counter = key("rapl", SensorKind::Energy);
    let missing = key("psu9", SensorKind::Power);
    let mut reference = MemStore::new();
    let mut store = kelvin_store::Store::in_memory(kelvin_store::StoreOptions::default());
    for k in [&gauge, &counter] {
        let r = Reading::new(
            k.entity.clone(),
            k.sensor.clone(),
            k.kind,
            1.0,
            Timestamp::from_nanos(T0),
        );
        reference.insert(&r);
        store.insert(&r).unwrap();
    }
    let grid = Grid::try_new(Timestamp::from_nanos(T0), 15 * S, 3).unwrap();
    let opts = ResampleOptions::default();
    fn errors(
        s: &impl SeriesRead,
        g: &SeriesKey,
        c: &SeriesKey,
        m: &SeriesKey,
        grid: &Grid,
        o: &ResampleOptions,
    ) -> Vec<String> {
        [
            s.integrate(c, grid, o).unwrap_err(),
            s.increase(g, grid, o).unwrap_err(),
            s.rate(g, grid, o).unwrap_err(),
            s.resample(m, grid, o).unwrap_err(),
            s.increase(m, grid, o).unwrap_err(),
        ]
        .iter()
        .map(|e| format!("{:?}: {e}", e.kind()))
        .collect()
    }
    let want = errors(&reference, &gauge, &counter, &missing, &grid, &opts);
    assert_eq!(
        errors(&store, &gauge, &counter, &missing, &grid, &opts),
        want
    );
    assert_eq!(
        want[0],
        "NotAGauge: host-01/rapl (energy) is a counter; integrate needs a gauge (use increase)"
    );
    assert_eq!(
        want[3],
        "UnknownSeries: no series host-01/psu9 (power) in the store"
    );
}
