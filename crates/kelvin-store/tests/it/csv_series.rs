use std::path::Path;

use kelvin_store::{StoreErrorKind, parse_csv_series};

const S: i64 = 1_000_000_000;

fn parse(text: &str, ts_col: Option<usize>, value_col: usize) -> (Vec<i64>, Vec<f64>) {
    parse_csv_series(text, ts_col, value_col, "test.csv").unwrap()
}

fn invalid(text: &str, ts_col: Option<usize>, value_col: usize) -> String {
    let err = parse_csv_series(text, ts_col, value_col, "bad.csv").unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::InvalidInput);
    err.reason().to_string()
}

#[test]
fn nab_style_with_header() {
    let text = "timestamp,value\n2014-02-14 14:30:00,0.132\n2014-02-14 14:35:00,0.134\n";
    let (ts, values) = parse(text, Some(0), 1);
    assert_eq!(ts, [1_392_388_200 * S, 1_392_388_500 * S]);
    assert_eq!(values, [0.132, 0.134]);
}

#[test]
fn vega_styles_value_first_and_slashed_dates() {
    let sf = "temp,date\n47.8,2010/01/01 00:00:00\n47.4,2010/01/01 01:00:00\n";
    let (ts, values) = parse(sf, Some(1), 0);
    assert_eq!(ts, [1_262_304_000 * S, 1_262_307_600 * S]);
    assert_eq!(values, [47.8, 47.4]);
    let seattle = "date,temp\r\n2010/01/01 00:00,39.4\r\n2010/01/01 01:00,39.2\r\n";
    assert_eq!(parse(seattle, Some(0), 1), (ts, vec![39.4, 39.2]));
}

#[test]
fn tmy3_preamble_quoted_header_and_split_date_time() {
    let text = concat!(
        "723170,\"GREENSBORO PIEDMONT TRIAD INT\",NC,-5.0,36.100,-79.950,273\n",
        "Date (MM/DD/YYYY),Time (HH:MM),\"GHI, (W/m^2)\",Dry-bulb (C),x,y,z,w\n",
        "01/01/1988,23:00,0,10.0,a,b,c,d\n",
        "01/01/1988,24:00,0,9.5,a,b,c,d\n",
        "01/02/1988,01:00,12,9.0,a,b,c,d\n",
    );
    let jan1 = 567_993_600 * S; // 1988-01-01T00:00:00Z
    for value_col in [2, 3] {
        let (ts, _) = parse(text, Some(0), value_col);
        assert_eq!(
            ts,
            [
                jan1 + 23 * 3600 * S,
                jan1 + 24 * 3600 * S,
                jan1 + 25 * 3600 * S
            ]
        );
    }
    assert_eq!(parse(text, Some(0), 3).1, [10.0, 9.5, 9.0]);
    assert_eq!(parse(text, Some(0), 2).1, [0.0, 0.0, 12.0]);
}

#[test]
fn rfc3339_offsets_and_fractions() {
    let text = concat!(
        "t,v\n",
        "2014-04-02T14:29:00Z,1\n",
        "2014-04-02T16:29:00.5+02:00,2\n",
        "\"2014-04-02T14:29:01.000000001Z\",3\n",
    );
    let (ts, values) = parse(text, Some(0), 1);
    let t = 1_396_448_940 * S;
    assert_eq!(ts, [t, t + S / 2, t + S + 1]);
    assert_eq!(values, [1.0, 2.0, 3.0]);
}

#[test]
fn epoch_units_are_inferred_from_magnitude() {
    let t = 1_396_448_940i64;
    let text = format!(
        "{t},1\n{}000,2\n{}000000,3\n{}000000000,4\n{t}.25,5\n",
        t + 1,
        t + 2,
        t + 3
    );
    let (ts, values) = parse(&text, Some(0), 1);
    assert_eq!(
        ts,
        [t * S, t * S + S / 4, (t + 1) * S, (t + 2) * S, (t + 3) * S]
    );
    assert_eq!(values, [1.0, 5.0, 2.0, 3.0, 4.0]);
}

#[test]
fn no_timestamp_column_means_row_seconds() {
    let text = "cpu,mem\n16.1,87.1\n18.4,86.8\n30.8,89.9\n";
    assert_eq!(
        parse(text, None, 1),
        (vec![0, S, 2 * S], vec![87.1, 86.8, 89.9])
    );
}

#[test]
fn out_of_order_rows_are_sorted_stably() {
    let text = "t,v\n30,3\n10,1\n30,4\n20,2\n10,0\n";
    let (ts, values) = parse(text, Some(0), 1);
    assert_eq!(ts, [10 * S, 10 * S, 20 * S, 30 * S, 30 * S]);
    assert_eq!(values, [1.0, 0.0, 2.0, 3.0, 4.0]);
}

#[test]
fn special_values_and_blank_lines() {
    let text = "\nt,v\n\n1,NaN\n2,-inf\n3, 1e3 \n\n";
    let (ts, values) = parse(text, Some(0), 1);
    assert_eq!(ts, [S, 2 * S, 3 * S]);
    assert!(values[0].is_nan());
    assert_eq!(&values[1..], [f64::NEG_INFINITY, 1000.0]);
}

#[test]
fn empty_and_header_only_files_are_empty_series() {
    assert_eq!(parse("", Some(0), 1), (vec![], vec![]));
    assert_eq!(parse("\n\n", Some(0), 1), (vec![], vec![]));
    assert_eq!(parse("timestamp,value\n", Some(0), 1), (vec![], vec![]));
}

#[test]
fn malformed_rows_name_line_and_column() {
    assert_eq!(
        invalid(
            "t,v\n2014-04-02 14:29:00,1\n2014-13-02 14:29:00,2\n",
            Some(0),
            1
        ),
        "bad.csv:3: column 0: \"2014-13-02 14:29:00\": no such date"
    );
    assert_eq!(
        invalid("t,v\nyesterday,1\n", Some(0), 1),
        "bad.csv:2: column 0: \"yesterday\": not a timestamp (expected an epoch number or a date)"
    );
    assert_eq!(
        invalid("t,v\n1,2\n2\n", Some(0), 1),
        "bad.csv:3: column 1: missing column: 1 columns, 2 needed"
    );
    assert_eq!(
        invalid("1,2\n3,x\n", Some(0), 1),
        "bad.csv:2: column 1: \"x\" is not a number"
    );
    assert_eq!(
        invalid("t,v\n1,\n", Some(0), 1),
        "bad.csv:2: column 1: empty value"
    );
    assert_eq!(
        invalid("t,v\n,1\n", Some(0), 1),
        "bad.csv:2: column 0: \"\": empty timestamp"
    );
    assert_eq!(
        invalid("t,v\n1,\"2\n", Some(0), 1),
        "bad.csv:2: column 1: unterminated quoted field"
    );
    // A one-line file too narrow for the columns is not a preamble of nothing.
    assert!(invalid("1\n", Some(0), 1).starts_with("bad.csv:1: column 1: missing column"));
    assert!(invalid("a,b\nc\n", Some(0), 1).starts_with("bad.csv:2:"));
}

#[test]
fn real_files_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/timeseries");
    if !root.is_dir() {
        println!("SKIP real CSV files: {} not found", root.display());
        return;
    }
    let load = |file: &str, ts_col, value_col| {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        parse_csv_series(&text, ts_col, value_col, file).unwrap()
    };
    let (ts, v) = load(
        "nab/realKnownCause/machine_temperature_system_failure.csv",
        Some(0),
        1,
    );
    assert_eq!(ts.len(), 22_695);
    assert_eq!((ts[0], v[0]), (1_386_018_900 * S, 73.96732207)); // 2013-12-02 21:15:00
    let (ts, v) = load("vega/sf-temps.csv", Some(1), 0);
    assert_eq!((ts.len(), ts[0], v[0]), (8_759, 1_262_304_000 * S, 47.8));
    // Hourly local time: one step of two hours where daylight saving time skips 02:00.
    let steps: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(steps.iter().filter(|&&d| d == 3600 * S).count(), 8_757);
    assert_eq!(steps.iter().filter(|&&d| d == 7200 * S).count(), 1);
    let (ts, _) = load("pvlib/723170TYA.CSV", Some(0), 31);
    assert_eq!(ts.len(), 8_760);
    assert!(
        ts.windows(2).all(|w| w[0] < w[1]),
        "TMY3 hours are distinct"
    );
    let (ts, _) = load(
        "datacentertraces/google2019_machine_usage_grouped_300_seconds.csv",
        None,
        3,
    );
    assert_eq!((ts.len(), ts[1]), (8_064, S));
}
