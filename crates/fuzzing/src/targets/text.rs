//! The text parsers: diagnose's application-log reader (every format, with and without a
//! date and zone), its `--log-date`/`--log-tz` parsers, the one duration grammar (with the
//! formatter as its inverse), nginx's `so_keepalive` syntax, RFC 3339 times and log stamps.

use crate::input::Reader;
use keepsight_diagnose::{AppLog, LogOptions};
use keepsight_time::{format_duration, parse_duration};
use std::time::Duration;

/// `--log-format` names: none, then every format diagnose reads.
const FORMATS: [&str; 16] = [
    "",
    "iso8601",
    "logback",
    "python",
    "jul",
    "journald",
    "journald-json",
    "json",
    "logfmt",
    "rfc5424",
    "rfc3164",
    "nginx-error",
    "go-log",
    "apache-error",
    "access",
    "time",
];

/// Layout: `[format][options]` then the log text. `format` picks from [`FORMATS`]; bit 0 of
/// `options` adds `--log-date 2026-12-08`, bit 1 `--log-tz +02:00`. The first line of the text
/// is also given to `--log-date` and `--log-tz` themselves.
pub(super) fn diagnose_log(data: &[u8]) {
    let mut r = Reader::new(data);
    let format = FORMATS[usize::from(r.byte()) % FORMATS.len()];
    let options = r.byte();
    let text = String::from_utf8_lossy(r.rest());
    let first = text.lines().next().unwrap_or("").to_string();
    let _ = LogOptions::per_log(1, std::slice::from_ref(&first), &[], &[]);
    let _ = LogOptions::per_log(1, &[], &[first], &[]);
    let dates = if options & 1 != 0 {
        vec!["2026-12-08".to_string()]
    } else {
        vec![]
    };
    let tzs = if options & 2 != 0 {
        vec!["+02:00".to_string()]
    } else {
        vec![]
    };
    let formats = if format.is_empty() {
        vec![]
    } else {
        vec![format.to_string()]
    };
    let opts = LogOptions::per_log(1, &dates, &tzs, &formats)
        .expect("fixed flags are valid")
        .remove(0);
    let log = AppLog::parse(&text, opts);
    let lines = text.lines().count() as u64;
    assert_eq!(
        log.total_lines, lines,
        "lines counted differ from the text's"
    );
    assert!(
        log.lines.len() as u64 <= lines,
        "more log entries than lines"
    );
    for pair in log.lines.windows(2) {
        assert!(
            pair[0].line_no < pair[1].line_no,
            "entries out of file order"
        );
    }
    let _ = log.format_name();
}

/// The input as text to each of the small grammars.
pub(super) fn durations(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let s = text.as_ref();
    if let Ok(d) = parse_duration(s) {
        assert!(
            d <= keepsight_time::duration::MAX,
            "{s:?} read as {d:?}, beyond MAX"
        );
        // The formatter writes the grammar back, to the millisecond.
        let shown = format_duration(d);
        let again = parse_duration(&shown)
            .unwrap_or_else(|e| panic!("{shown:?} (formatted from {s:?}) does not parse: {e}"));
        assert_eq!(
            again,
            Duration::from_millis(d.as_millis() as u64),
            "{s:?} -> {d:?} -> {shown:?} -> {again:?}"
        );
    }
    let _ = keepsight_keepalive::KeepaliveSettings::parse_nginx(s);
    if let Ok(ns) = keepsight_time::rfc3339::parse(s) {
        let shown = keepsight_time::rfc3339::format_micros(ns);
        let again = keepsight_time::rfc3339::parse(&shown)
            .unwrap_or_else(|_| panic!("{shown:?} (formatted from {s:?}) does not parse"));
        assert_eq!(
            again,
            ns - ns.rem_euclid(1_000),
            "{s:?} -> {ns} -> {shown:?}"
        );
    }
    let b = data;
    let _ = keepsight_time::logstamp::iso(b);
    let _ = keepsight_time::logstamp::syslog(b);
    let _ = keepsight_time::logstamp::clf(b);
    let _ = keepsight_time::logstamp::ctime(b);
    let _ = keepsight_time::logstamp::jul(b);
    let _ = keepsight_time::logstamp::epoch(s);
    let _ = keepsight_time::logstamp::zone(b);
    let _ = keepsight_time::logstamp::time_of_day(b);
}
