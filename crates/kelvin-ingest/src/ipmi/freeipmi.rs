//! FreeIPMI `ipmi-sensors`.

use crate::{Confidence, Context, Decode, Format, IngestBatch, Reason};

use super::{Line, Row, decode_table, head_lines, pipe_fields};

/// FreeIPMI `ipmi-sensors`: the table `ID | Name | Type | Reading | Units | Event`, with or
/// without the `Caching SDR repository information: …` / `Caching SDR record …` preamble that
/// FreeIPMI prints while it builds its SDR cache.
///
/// Columns are found by their header names, so extra columns (`--output-sensor-state`) are
/// ignored; without a header (`--no-header-output`) the default six columns are assumed.
/// `N/A` readings are absent; a row with units `N/A` is a discrete sensor
/// ([`Reason::UnmappedSensor`]). The `Event` text (`'OK'`, several quoted events) is the raw
/// status. A repeated name — Dell BMCs have several `Temp` and `Ambient Temp` sensors — gets
/// the record ID on every occurrence (`inlet#7`). A line before the header that is not a
/// table row is [`Reason::BadField`].
///
/// Sniffing: the first line is the header, or the `Caching SDR` preamble.
#[derive(Debug, Clone, Copy, Default)]
pub struct FreeipmiSensors;

/// Column positions, from the header.
#[derive(Debug, Clone, Copy)]
struct Columns {
    count: usize,
    id: usize,
    name: usize,
    kind: Option<usize>,
    reading: usize,
    units: usize,
    event: Option<usize>,
}

impl Columns {
    /// The default layout: `ID | Name | Type | Reading | Units | Event`.
    const DEFAULT: Columns = Columns {
        count: 6,
        id: 0,
        name: 1,
        kind: Some(2),
        reading: 3,
        units: 4,
        event: Some(5),
    };

    fn from_header(fields: &[&str]) -> Option<Columns> {
        let find = |name: &str| fields.iter().position(|f| f.eq_ignore_ascii_case(name));
        Some(Columns {
            count: fields.len(),
            id: find("ID")?,
            name: find("Name")?,
            kind: find("Type"),
            reading: find("Reading")?,
            units: find("Units")?,
            event: find("Event"),
        })
    }
}

fn is_preamble(line: &str) -> bool {
    line.trim_start().starts_with("Caching SDR")
}

fn is_header(fields: &[&str]) -> bool {
    fields.first().is_some_and(|f| f.eq_ignore_ascii_case("ID"))
        && Columns::from_header(fields).is_some()
}

fn parse_id(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn row<'a>(columns: Option<Columns>, text: &'a str) -> Line<'a> {
    let f = pipe_fields(text);
    let cols = match columns {
        Some(c) => c,
        // Headerless output: the default layout, recognized by its numeric ID.
        None if f.len() == Columns::DEFAULT.count && parse_id(f[0]).is_some() => Columns::DEFAULT,
        None => {
            return Line::Bad(
                Reason::BadField,
                "not an ipmi-sensors row (expected the 'ID | Name | Type | Reading | Units | \
                 Event' header first)"
                    .into(),
            );
        }
    };
    if f.len() != cols.count {
        return Line::Bad(
            Reason::BadField,
            format!(
                "expected {} '|'-separated fields, found {}",
                cols.count,
                f.len()
            ),
        );
    }
    let Some(id) = parse_id(f[cols.id]) else {
        return Line::Bad(
            Reason::BadField,
            format!("record ID {:?} is not a number", f[cols.id]),
        );
    };
    Line::Row(Row {
        name: f[cols.name],
        id: Some(id),
        reading: f[cols.reading],
        unit: f[cols.units],
        type_hint: cols.kind.map(|i| f[i]),
        status: cols.event.map(|i| f[i]),
        discrete: false,
        guess_kind: false,
    })
}

impl Decode for FreeipmiSensors {
    fn name(&self) -> &str {
        Format::FreeipmiSensors.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        let mut columns: Option<Columns> = None;
        decode_table(input, ctx, out, |text| {
            if is_preamble(text) {
                return Line::Skip;
            }
            let fields = pipe_fields(text);
            if is_header(&fields) {
                columns = Columns::from_header(&fields);
                return Line::Skip;
            }
            row(columns, text)
        });
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }
}

impl FreeipmiSensors {
    /// Whether `head` looks like this format (the "Sniffing" rule of the type's documentation).
    pub(crate) fn sniff(&self, head: &str) -> bool {
        head_lines(head)
            .next()
            .is_some_and(|l| is_preamble(l) || is_header(&pipe_fields(l)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Normalizer;
    use kelvin_model::{Quality, SensorKind};

    fn decode(text: &str) -> IngestBatch {
        let n = Normalizer::builtin();
        let ctx = Context::new("s.txt", &n);
        let mut out = IngestBatch::default();
        FreeipmiSensors.decode(text, &ctx, &mut out);
        assert_eq!(out.stats.seen, out.stats.accepted + out.stats.quarantined);
        out
    }

    const DELL: &str = "\
Caching SDR repository information: /root/.freeipmi/sdr-cache/sdr-cache-h.localhost
Caching SDR record 121 of 121 (current record ID 121)
ID  | Name             | Type                     | Reading    | Units | Event
1   | Temp             | Temperature              | N/A        | C     | N/A
4   | Ambient Temp     | Temperature              | N/A        | C     | N/A
7   | Ambient Temp     | Temperature              | 29.00      | C     | 'OK'
9   | CMOS Battery     | Battery                  | N/A        | N/A   | 'OK'
24  | FAN MOD 1A RPM   | Fan                      | 6720.00    | RPM   | 'OK'
46  | Status           | Power Supply             | N/A        | N/A   | 'Presence detected' 'Power Supply input lost (AC/DC)'
62  | System Level     | Current                  | 84.00      | W     | 'OK'
85  | Temp             | Temperature              | 44.00      | C     | 'Upper Critical'
x   | Bad              | Temperature              | 1.00       | C     | 'OK'
9   | Fan Block 1      | Fan                      | 19.60      | %     | 'transition to Running'
";

    #[test]
    fn dell_rows_and_duplicates() {
        let b = decode(DELL);
        let got: Vec<(&str, SensorKind)> = b
            .readings
            .iter()
            .map(|r| (r.sensor.as_str(), r.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("Temp#1", SensorKind::Temperature),
                ("inlet#4", SensorKind::Temperature),
                ("inlet#7", SensorKind::Temperature),
                ("FAN MOD 1A RPM", SensorKind::FanSpeed),
                ("input", SensorKind::Power),
                ("Temp#85", SensorKind::Temperature),
                ("Fan Block 1", SensorKind::FanDuty),
            ]
        );
        let r = &b.readings;
        assert_eq!(r[0].quality, Quality::Absent);
        assert_eq!((r[2].value, r[2].status.as_deref()), (29.0, Some("'OK'")));
        assert_eq!((r[4].value, r[5].quality), (84.0, Quality::Critical));
        assert_eq!(r[6].value, 19.6);
        let reasons: Vec<Reason> = b.quarantine.iter().map(|q| q.reason).collect();
        assert_eq!(
            reasons,
            [
                Reason::UnmappedSensor,
                Reason::UnmappedSensor,
                Reason::BadField
            ]
        );
        assert_eq!(b.quarantine[2].place.to_string(), "s.txt:12");
        assert!(FreeipmiSensors.sniff(DELL));
    }

    #[test]
    fn header_driven_and_headerless() {
        let state = "ID | Name | Type | State | Reading | Units | Event\n\
                     18 | Inlet Temp | Temperature | Nominal | 23.00 | C | 'OK'\n";
        let b = decode(state);
        assert_eq!(
            (b.readings[0].sensor.as_str(), b.readings[0].value),
            ("inlet", 23.0)
        );
        let headerless = "18  | Inlet Temp | Temperature | 23.00 | C | 'OK'\n";
        assert_eq!(decode(headerless).readings.len(), 1);
        assert!(!FreeipmiSensors.sniff(headerless));
    }

    #[test]
    fn not_a_table() {
        let b = decode(
            "This isn't an ipmi-sensor output because the first line don't start with \"ID\"",
        );
        assert_eq!((b.stats.seen, b.stats.quarantined), (1, 1));
        assert_eq!(b.quarantine[0].reason, Reason::BadField);
        assert!(!FreeipmiSensors.sniff("This isn't an ipmi-sensor output"));
    }
}
