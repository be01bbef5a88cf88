//! Little-endian byte writing and bounds-checked reading, shared by the codec blocks and the
//! store's files.
//!
//! Every read returns `None` past the end instead of panicking; callers turn that into a
//! [`crate::StoreErrorKind::Corrupt`] error naming the file and offset.

use std::sync::Arc;

use kelvin_model::{EntityId, SensorKind, SensorName};

use crate::{Labels, SeriesKey};

/// The most bytes a series key takes once written by [`Put::put_key`] (1 MiB): it bounds the
/// write-ahead log's series records and the block files' series entries, so that a reader can
/// refuse a longer length field without allocating it.
pub(crate) const MAX_KEY_BYTES: usize = 1 << 20;

/// Why `key` cannot be written exactly by [`Put::put_key`] (a string over 65,535 bytes, more
/// than 65,535 labels, or over [`MAX_KEY_BYTES`] in all), or `None` when it can.
pub(crate) fn key_unencodable(key: &SeriesKey) -> Option<String> {
    let max = usize::from(u16::MAX);
    let mut total = 2usize; // the label count
    let mut text = |what: &str, s: &str| {
        total = total.saturating_add(2 + s.len());
        (s.len() > max).then(|| format!("its {what} is {} bytes long, over {max}", s.len()))
    };
    if let Some(why) = text("entity", key.entity.as_str())
        .or_else(|| text("sensor", key.sensor.as_str()))
        .or_else(|| text("kind", key.kind.as_str()))
    {
        return Some(why);
    }
    if key.labels.len() > max {
        return Some(format!("it has {} labels, over {max}", key.labels.len()));
    }
    for (k, v) in key.labels.iter() {
        if let Some(why) = text("label name", k).or_else(|| text("label value", v)) {
            return Some(why);
        }
    }
    (total > MAX_KEY_BYTES)
        .then(|| format!("it takes {total} bytes written, over the {MAX_KEY_BYTES} a key may take"))
}

/// Appends little-endian values to a byte vector.
pub(crate) trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_i64(&mut self, v: i64);
    /// A string as `u16` length + UTF-8 bytes; longer strings are cut at a char boundary
    /// (series names are validated far below 64 KiB long before they get here).
    fn put_str(&mut self, s: &str);
    fn put_key(&mut self, key: &SeriesKey);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_str(&mut self, s: &str) {
        let mut end = s.len().min(usize::from(u16::MAX));
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.put_u16(end as u16);
        self.extend_from_slice(&s.as_bytes()[..end]);
    }
    fn put_key(&mut self, key: &SeriesKey) {
        self.put_str(key.entity.as_str());
        self.put_str(key.sensor.as_str());
        self.put_str(key.kind.as_str());
        self.put_u16(key.labels.len() as u16);
        for (k, v) in key.labels.iter() {
            self.put_str(k);
            self.put_str(v);
        }
    }
}

/// A cursor over a byte slice; every getter is `None` past the end.
pub(crate) struct Get<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Get<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Get { bytes, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }
    pub(crate) fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.array()?))
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }
    pub(crate) fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.array()?))
    }

    /// An unsigned LEB128 varint; `None` when truncated, longer than 10 bytes or over 64 bits.
    pub(crate) fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10u32 {
            let b = self.u8()?;
            let payload = u64::from(b & 0x7f);
            if i == 9 && payload > 1 {
                return None;
            }
            v |= payload << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    pub(crate) fn str(&mut self) -> Option<&'a str> {
        let n = usize::from(self.u16()?);
        std::str::from_utf8(self.take(n)?).ok()
    }

    /// A series key as written by [`Put::put_key`]; `None` when truncated, not UTF-8, or
    /// naming an entity, sensor or kind this version cannot represent.
    pub(crate) fn key(&mut self) -> Option<SeriesKey> {
        let entity = EntityId::new(self.str()?).ok()?;
        let sensor = SensorName::from(self.str()?);
        let kind_name = self.str()?;
        let kind = *SensorKind::ALL.iter().find(|k| k.as_str() == kind_name)?;
        let n = usize::from(self.u16()?);
        let mut pairs: Vec<(Arc<str>, Arc<str>)> = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            pairs.push((Arc::from(self.str()?), Arc::from(self.str()?)));
        }
        Some(
            SeriesKey::new(entity, sensor, kind)
                .with_labels(Labels::from_pairs(pairs.iter().map(|(k, v)| (&**k, &**v)))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_truncation_is_none() {
        let key = SeriesKey::new(EntityId::new("host-01").unwrap(), "psu1", SensorKind::Power)
            .with_labels(Labels::from_pairs([("phase", "L1"), ("zone", "b")]));
        let mut b = Vec::new();
        b.put_key(&key);
        b.put_u64(7);
        let mut g = Get::new(&b);
        assert_eq!(g.key(), Some(key));
        assert_eq!(g.u64(), Some(7));
        assert_eq!(g.u8(), None);
        for cut in 0..b.len() - 8 {
            assert_eq!(Get::new(&b[..cut]).key(), None, "cut at {cut}");
        }
    }

    #[test]
    fn keys_that_cannot_be_written_exactly_are_named() {
        let host = EntityId::new("h").unwrap();
        let ok = SeriesKey::new(host.clone(), "psu1", SensorKind::Power);
        assert_eq!(key_unencodable(&ok), None);
        let long = "x".repeat(70_000);
        let e = key_unencodable(&SeriesKey::new(
            host.clone(),
            long.as_str(),
            SensorKind::Power,
        ));
        assert_eq!(
            e.as_deref(),
            Some("its sensor is 70000 bytes long, over 65535")
        );
        let many = SeriesKey::new(host.clone(), "s", SensorKind::Power).with_labels(
            Labels::from_pairs((0..70_000).map(|i| (format!("k{i}"), String::new()))),
        );
        assert!(key_unencodable(&many).unwrap().contains("70000 labels"));
        let big_value = "v".repeat(60_000);
        let big = SeriesKey::new(host, "s", SensorKind::Power).with_labels(Labels::from_pairs(
            (0..20).map(|i| (format!("k{i}"), big_value.clone())),
        ));
        assert!(
            key_unencodable(&big)
                .unwrap()
                .contains("over the 1048576 a key may take")
        );
    }
}
