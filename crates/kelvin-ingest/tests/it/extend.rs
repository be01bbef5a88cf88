//! An embedder's decoder, written here with the crate's public API only: registered in a
//! [`Decoders`], it is chosen by name and by detection through `decode_str` and `decode_path`,
//! held to the batch's record limit, and its quarantine is counted like a built-in decoder's.

use std::path::PathBuf;

use kelvin_ingest::{
    Confidence, Context, Decode, Decoders, Format, IngestBatch, IngestErrorKind, Limits,
    Normalizer, Quarantined, Reading, Reason,
};
use kelvin_model::{EntityId, SensorKind, Timestamp};

/// `acme_watts <W>` lines from a (made-up) ACME meter. Its lines parse as Prometheus samples
/// too, so the built-in Prometheus decoder would claim them as a fallback.
struct AcmeMeter;

impl Decode for AcmeMeter {
    fn name(&self) -> &str {
        "acme_meter"
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        for (i, line) in input.lines().enumerate() {
            if out.records_full() {
                break;
            }
            if line.trim().is_empty() {
                continue;
            }
            let place = ctx.line(i as u64 + 1);
            match line.split_once(' ') {
                Some(("acme_watts", v)) => match v.trim().parse::<f64>() {
                    Ok(w) if w.is_finite() => out.accept(Reading::new(
                        ctx.fallback_entity(),
                        "wall",
                        SensorKind::Power,
                        w,
                        ctx.timestamp(),
                    )),
                    _ => out.reject(Quarantined::new(place, Reason::BadValue, "not watts", line)),
                },
                _ => out.reject(Quarantined::new(place, Reason::BadField, "not acme", line)),
            }
        }
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        head.lines()
            .next()
            .is_some_and(|l| l.starts_with("acme_watts "))
            .then_some(Confidence::LIKELY)
    }
}

const CAPTURE: &str = "acme_watts 212\nacme_watts 215.5\nacme_watts oops\nvolts 230\n";

fn ctx(n: &Normalizer) -> Context<'_> {
    Context::new("meter.txt", n)
        .with_entity(EntityId::new("pdu-3").unwrap())
        .with_default_timestamp(Timestamp::from_secs(1_793_606_400))
}

/// Two readings, a bad value and a foreign line: counted, placed and balanced.
fn check_capture(b: &IngestBatch) {
    assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
    assert_eq!((b.stats.accepted, b.stats.quarantined), (2, 2), "{b:?}");
    assert_eq!(b.stats.by_reason.get(&Reason::BadValue), Some(&1));
    assert_eq!(b.stats.by_reason.get(&Reason::BadField), Some(&1));
    let places: Vec<String> = b.quarantine.iter().map(|q| q.place.to_string()).collect();
    assert_eq!(places, ["meter.txt:3", "meter.txt:4"]);
    assert_eq!(b.readings[1].value, 215.5);
    assert_eq!(b.readings[0].entity.as_str(), "pdu-3");
    assert_eq!(b.readings[0].sensor, "wall");
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("kelvin-extend-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_registered_decoder_is_detected_and_used_by_name() {
    let n = Normalizer::builtin();
    let ctx = ctx(&n);
    // Without it, the text is Prometheus (the fallback), every line an unmapped metric.
    let builtin = Decoders::builtin();
    assert_eq!(
        builtin.detect(CAPTURE).map(|d| d.name()),
        Some("prometheus")
    );
    assert_eq!(builtin.decode_str(None, CAPTURE, &ctx).stats.accepted, 0);

    let decoders = Decoders::builtin().with(AcmeMeter);
    let names: Vec<&str> = decoders.names().collect();
    assert_eq!(names.len(), Format::ALL.len() + 1);
    assert!(Format::ALL.iter().all(|f| names.contains(&f.as_str())));
    assert_eq!(names.last(), Some(&"acme_meter"));
    // More confident than the fallback: detection picks it.
    assert_eq!(
        decoders.detect(CAPTURE).map(|d| d.name()),
        Some("acme_meter")
    );
    check_capture(&decoders.decode_str(None, CAPTURE, &ctx));
    check_capture(&decoders.decode_str(Some("acme_meter"), CAPTURE, &ctx));
    // Built-in formats are still detected and named as before.
    let ipmi = "CPU1 Temp | 33.000 | degrees C | ok | na | na | na | na | na | na\n";
    assert_eq!(
        decoders.detect(ipmi).map(|d| d.name()),
        Some("ipmitool_sensor")
    );
    let b = decoders.decode_str(Some("ipmitool_sensor"), ipmi, &ctx);
    assert_eq!(b.stats.accepted, 1);
    // An unknown name is one quarantined record, not an error.
    let b = decoders.decode_str(Some("acme"), CAPTURE, &ctx);
    assert_eq!(b.stats.by_reason.get(&Reason::UnknownFormat), Some(&1));
    assert!(b.quarantine[0].detail.contains("\"acme\""));
}

#[test]
fn a_registered_decoder_reads_files_and_refuses_trees() {
    let n = Normalizer::builtin();
    let ctx = ctx(&n);
    let dir = TempDir::new("files");
    let file = dir.0.join("meter.txt");
    std::fs::write(&file, CAPTURE).unwrap();
    let decoders = Decoders::builtin().with(AcmeMeter);
    check_capture(&decoders.decode_path(&file, None, &ctx).unwrap());
    check_capture(
        &decoders
            .decode_path(&file, Some("acme_meter"), &ctx)
            .unwrap(),
    );
    // A file that is not UTF-8 is one record, as for the built-in text formats.
    std::fs::write(&file, b"acme_watts \xff\n").unwrap();
    let b = decoders
        .decode_path(&file, Some("acme_meter"), &ctx)
        .unwrap();
    assert_eq!(b.stats.by_reason.get(&Reason::NotUtf8), Some(&1));
    // A text decoder reads no directory; an unknown name is the caller's error.
    let e = decoders
        .decode_path(&dir.0, Some("acme_meter"), &ctx)
        .unwrap_err();
    assert_eq!(e.kind(), IngestErrorKind::InvalidInput);
    assert!(e.reason().contains("acme_meter reads single files"), "{e}");
    let e = decoders.decode_path(&file, Some("acme"), &ctx).unwrap_err();
    assert_eq!(e.kind(), IngestErrorKind::InvalidInput);
}

#[test]
fn the_batch_holds_a_registered_decoder_to_the_record_limit() {
    let n = Normalizer::builtin();
    let ctx = ctx(&n).with_limits(Limits::default().with_max_records(2));
    let decoders = Decoders::empty().with(AcmeMeter);
    let text = "acme_watts 1\n".repeat(10);
    for b in [
        decoders.decode_str(None, &text, &ctx),
        decoders.decode_str(Some("acme_meter"), &text, &ctx),
    ] {
        assert_eq!((b.stats.seen, b.stats.accepted), (3, 2));
        assert_eq!(b.quarantine[0].reason, Reason::TooManyRecords);
        assert!(b.quarantine[0].detail.contains("max_records"));
        assert!(b.records_full());
    }
    // Detection happens only among what is registered.
    let b = decoders.decode_str(None, "CPU1 Temp | 33 | degrees C | ok\n", &ctx);
    assert_eq!(b.stats.by_reason.get(&Reason::UnknownFormat), Some(&1));
}

#[test]
fn a_decoder_under_a_built_in_name_replaces_it_in_place() {
    struct Quiet;
    impl Decode for Quiet {
        fn name(&self) -> &str {
            "prometheus"
        }
        fn decode(&self, _: &str, _: &Context<'_>, _: &mut IngestBatch) {}
    }
    let decoders = Decoders::builtin().with(Quiet);
    assert_eq!(decoders.names().count(), Format::ALL.len());
    assert_eq!(decoders.names().last(), Some("prometheus"));
    let n = Normalizer::builtin();
    let b = decoders.decode_str(Some("prometheus"), "up 1 1\n", &ctx(&n));
    assert_eq!(b.stats.seen, 0);
    // It detects nothing, so the text is no longer recognized.
    assert!(decoders.detect("up 1 1\n").is_none());
}
