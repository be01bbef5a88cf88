//! Little-endian byte writing and bounds-checked reading, shared by the codec blocks and the
//! store's files.
//!
//! Every read returns `None` past the end instead of panicking; callers turn that into a
//! [`crate::StoreErrorKind::Corrupt`] error naming the file and offset.

use std::sync::Arc;

use kelvin_model::{EntityId, SensorKind, SensorName};

use crate::{Labels, SeriesKey};

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
}
