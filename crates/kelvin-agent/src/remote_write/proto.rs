//! The remote-write 1.0 wire format: the protobuf messages of `prometheus.WriteRequest`,
//! written from the specification's field list, and the snappy block framing around them.

use super::Series;

/// `WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }`.
/// Metadata is neither sent nor kept: a decoder skips its field like any unknown one.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub(super) timeseries: Vec<TimeSeries>,
}

/// `TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub(super) labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub(super) samples: Vec<Sample>,
}

/// `Label { string name = 1; string value = 2; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Label {
    #[prost(string, tag = "1")]
    pub(super) name: String,
    #[prost(string, tag = "2")]
    pub(super) value: String,
}

/// `Sample { double value = 1; int64 timestamp = 2; }`, the timestamp in milliseconds.
///
/// The value is declared with presence so that `-0.0`, which proto3 would skip as equal to
/// the default, is written; `+0.0` is left out as proto3 does. The bytes on the wire are
/// those of the plain `double` field.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Sample {
    #[prost(double, optional, tag = "1")]
    pub(super) value: Option<f64>,
    #[prost(int64, tag = "2")]
    pub(super) timestamp: i64,
}

/// Largest decompressed request [`decode`](super::decode) accepts: 64 MiB.
pub const MAX_DECODED_BYTES: usize = 64 << 20;

/// Snappy's block format cannot describe more than this (`u32::MAX` bytes).
const SNAPPY_MAX_INPUT: usize = u32::MAX as usize;

/// A body that is not a remote-write 1.0 request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not a snappy block.
    #[error("not a snappy block: {0}")]
    Snappy(String),
    /// Its decompressed size is over [`MAX_DECODED_BYTES`], or more than snappy can expand
    /// its compressed size to.
    #[error("decompressed size {claimed} bytes refused (limit {limit})")]
    TooLarge {
        /// The size its header claims.
        claimed: usize,
        /// The largest accepted for this body.
        limit: usize,
    },
    /// Not a `WriteRequest` protobuf.
    #[error("not a remote-write protobuf: {0}")]
    Protobuf(String),
}

/// A request too large to encode: its protobuf is over snappy's 4 GiB block limit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("a remote-write request of {bytes} bytes is over snappy's block limit (4 GiB)")]
pub struct EncodeError {
    /// The protobuf's size.
    pub bytes: usize,
}

/// The protobuf message of `series`: labels with an empty value left out (in Prometheus an
/// empty value is no label), the rest sorted by name with the first of duplicates kept,
/// samples in time order.
pub(super) fn to_request(series: &[Series]) -> WriteRequest {
    WriteRequest {
        timeseries: series.iter().map(to_timeseries).collect(),
    }
}

fn to_timeseries(s: &Series) -> TimeSeries {
    let mut labels: Vec<&(String, String)> =
        s.labels.iter().filter(|(_, v)| !v.is_empty()).collect();
    // Stable, so the first of two labels of the same name stays first and is kept.
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    labels.dedup_by(|later, earlier| later.0 == earlier.0);
    let mut samples: Vec<Sample> = s
        .samples
        .iter()
        .map(|&(timestamp, value)| Sample {
            value: (value.to_bits() != 0).then_some(value),
            timestamp,
        })
        .collect();
    samples.sort_by_key(|s| s.timestamp);
    TimeSeries {
        labels: labels
            .into_iter()
            .map(|(name, value)| Label {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        samples,
    }
}

/// Snappy-compressed protobuf of `series`; see [`super::try_encode`].
pub(super) fn try_encode(series: &[Series]) -> Result<Vec<u8>, EncodeError> {
    use prost::Message;
    let request = to_request(series);
    let bytes = request.encoded_len();
    if bytes > SNAPPY_MAX_INPUT {
        return Err(EncodeError { bytes });
    }
    let raw = request.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .map_err(|_| EncodeError { bytes })
}

/// The series of a request body; see [`super::decode`].
pub(super) fn decode(bytes: &[u8]) -> Result<Vec<Series>, DecodeError> {
    use prost::Message;
    let claimed =
        snap::raw::decompress_len(bytes).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    // A snappy element of n bytes expands to at most 64 bytes per 3 (a two-byte-offset
    // copy), so a claim past 22 times the input is a lie; refuse it before allocating.
    let limit = MAX_DECODED_BYTES.min(bytes.len().saturating_mul(22));
    if claimed > limit {
        return Err(DecodeError::TooLarge { claimed, limit });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(bytes)
        .map_err(|e| DecodeError::Snappy(e.to_string()))?;
    let request =
        WriteRequest::decode(raw.as_slice()).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    Ok(request
        .timeseries
        .into_iter()
        .map(from_timeseries)
        .collect())
}

/// A decoded series as the API holds it.
fn from_timeseries(ts: TimeSeries) -> Series {
    Series {
        labels: ts.labels.into_iter().map(|l| (l.name, l.value)).collect(),
        samples: ts
            .samples
            .into_iter()
            .map(|s| (s.timestamp, s.value.unwrap_or(0.0)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Series, decode, encode};
    use super::*;
    use proptest::prelude::*;

    /// What a round trip gives back: `encode`'s normalisation, applied to the input.
    fn normalized(series: &[Series]) -> Vec<Series> {
        to_request(series)
            .timeseries
            .into_iter()
            .map(from_timeseries)
            .collect()
    }

    /// Equality with values compared by their bits (NaN payloads included).
    fn same(a: &[Series], b: &[Series]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.labels == y.labels
                    && x.samples.len() == y.samples.len()
                    && x.samples
                        .iter()
                        .zip(&y.samples)
                        .all(|(p, q)| p.0 == q.0 && p.1.to_bits() == q.1.to_bits())
            })
    }

    #[test]
    fn round_trip_sorts_labels_and_samples() {
        let input = vec![Series {
            labels: vec![
                ("zone".into(), "b".into()),
                ("__name__".into(), "kelvin_power_watts".into()),
                ("host".into(), "h1".into()),
                ("empty".into(), String::new()),
                ("host".into(), "h2".into()),
            ],
            samples: vec![
                (2000, 2.5),
                (1000, f64::NAN),
                (3000, f64::INFINITY),
                (4000, f64::NEG_INFINITY),
                (5000, -0.0),
                (6000, 0.0),
            ],
        }];
        let back = decode(&encode(&input)).unwrap();
        assert_eq!(
            back[0].labels,
            vec![
                ("__name__".to_string(), "kelvin_power_watts".to_string()),
                ("host".to_string(), "h1".to_string()),
                ("zone".to_string(), "b".to_string()),
            ]
        );
        let ts: Vec<i64> = back[0].samples.iter().map(|s| s.0).collect();
        assert_eq!(ts, [1000, 2000, 3000, 4000, 5000, 6000]);
        assert!(back[0].samples[0].1.is_nan());
        // Proto3 skips a double equal to zero: -0.0 must still keep its sign.
        assert!(back[0].samples[4].1 == 0.0 && back[0].samples[4].1.is_sign_negative());
        assert!(back[0].samples[5].1.is_sign_positive());
        assert!(same(&back, &normalized(&input)));
    }

    #[test]
    fn empty_request_round_trips() {
        assert!(decode(&encode(&[])).unwrap().is_empty());
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            &b""[..],
            b"\xff\xff\xff\xff\x0f",
            b"hello world",
            b"\x05\x00abcd",
            &[0x80; 16],
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        // A valid snappy block around bytes that are no protobuf.
        let not_proto = snap::raw::Encoder::new().compress_vec(b"\x0a\xff").unwrap();
        assert!(matches!(decode(&not_proto), Err(DecodeError::Protobuf(_))));
        // A claimed size far beyond what the input can expand to.
        assert!(matches!(
            decode(b"\xff\xff\xff\x7f\x00"),
            Err(DecodeError::TooLarge { .. })
        ));
        // Invalid UTF-8 in a label name.
        let raw = [0x0a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe];
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        assert!(matches!(decode(&body), Err(DecodeError::Protobuf(_))));
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            any::<u64>().prop_map(f64::from_bits),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            // Prometheus's staleness marker.
            Just(f64::from_bits(0x7ff0_0000_0000_0002)),
        ]
    }

    fn series() -> impl Strategy<Value = Series> {
        (
            prop::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,12}", any::<String>()), 0..6),
            prop::collection::vec((any::<i64>(), value()), 0..8),
        )
            .prop_map(|(labels, samples)| Series { labels, samples })
    }

    proptest! {
        #[test]
        fn round_trip(input in prop::collection::vec(series(), 0..6)) {
            let body = encode(&input);
            let back = decode(&body).unwrap();
            prop_assert!(same(&back, &normalized(&input)), "{back:?}");
            for s in &back {
                prop_assert!(s.labels.windows(2).all(|w| w[0].0 < w[1].0));
                prop_assert!(s.samples.windows(2).all(|w| w[0].0 <= w[1].0));
            }
        }

        #[test]
        fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }
}
