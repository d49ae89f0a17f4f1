//! The zone search on synthetic logs: each test writes a log the way an application in a given
//! zone, with a given clock skew, would have written it about known capture events, and checks
//! that the zone, the skew and the lines come back.

use super::*;
use crate::civil::civil_from_days;

const S: i64 = NS;
const MS: i64 = 1_000_000;

/// 2024-03-01T22:30:00Z: late enough in the UTC day that zones east of UTC are already on the
/// next local day (a time-of-day-only log must take its date from the capture's local day).
fn start() -> i64 {
    days_from_civil(2024, 3, 1) * DAY_NS + (22 * 3600 + 30 * 60) * S
}

/// A late beat and the reset it caused on `stream`, at `at`.
fn incident(stream: u32, at: i64) -> [CapEvent; 2] {
    let ev = |kind, ts: i64, frame| CapEvent {
        ts,
        noticed: (ts, ts),
        stream: Some(stream),
        frames: vec![frame],
        what: "x".into(),
        kind,
    };
    [
        ev(Kind::LateHeartbeat, at, stream * 10 + 1),
        ev(Kind::ConnectionReset, at + 300 * 1000, stream * 10 + 2),
    ]
}

/// How a line shows a time: `HH:MM:SS` or `YYYY-MM-DD HH:MM:SS.mmm`.
#[derive(Clone, Copy)]
enum Fmt {
    TimeOnly,
    DateMillis,
}

fn stamp(t_log_local: i64, fmt: Fmt) -> String {
    let days = t_log_local.div_euclid(DAY_NS);
    let rem = t_log_local.rem_euclid(DAY_NS);
    let secs = rem / S;
    let hms = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    match fmt {
        Fmt::TimeOnly => hms,
        Fmt::DateMillis => {
            let (y, m, d) = civil_from_days(days);
            format!("{y:04}-{m:02}-{d:02} {hms}.{:03}", rem % S / MS)
        }
    }
}

/// The log an application in `zone_s` writes from a clock `skew` behind the capture's: an
/// info line every 20 s for an hour, an error line 200 ms after each incident, and an error
/// line about nothing on the wire.
fn write_log(incidents: &[i64], zone_s: i32, skew: i64, fmt: Fmt) -> String {
    let local = |utc: i64| utc - skew + i64::from(zone_s) * S;
    let mut lines: Vec<(i64, String)> = (0..180)
        .map(|k| start() + k * 20 * S)
        .map(|t| (t, format!("{} info heartbeat ok", stamp(local(t), fmt))))
        .collect();
    for (k, &at) in incidents.iter().enumerate() {
        let t = at + 200 * MS;
        lines.push((
            t,
            format!(
                "{} error conn {k} heartbeat late, resetting",
                stamp(local(t), fmt)
            ),
        ));
    }
    let t = start() + 1750 * S;
    lines.push((
        t,
        format!("{} error disk almost full", stamp(local(t), fmt)),
    ));
    lines.sort_by_key(|l| l.0);
    lines.into_iter().map(|l| l.1 + "\n").collect()
}

fn events_at(incidents: &[i64]) -> Vec<CapEvent> {
    incidents
        .iter()
        .enumerate()
        .flat_map(|(k, &at)| incident(k as u32, at))
        .collect()
}

fn run(text: &str, tz: Option<i32>, incidents: &[i64]) -> Correlation {
    let log = AppLog::parse(
        text,
        LogOptions {
            format: None,
            date: None,
            tz_offset_s: tz,
        },
    );
    correlate(&log, &mut events_at(incidents), start(), &[])
}

const INCIDENTS: [i64; 4] = [
    60 * S + 123 * MS,
    400 * S + 871 * MS,
    1300 * S + 5 * MS,
    2000 * S + 640 * MS,
];

fn incidents() -> Vec<i64> {
    INCIDENTS.iter().map(|d| start() + d).collect()
}

#[test]
fn zones_are_found_by_themselves() {
    for (zone_s, skew, fmt) in [
        (8 * 3600, 400 * MS, Fmt::TimeOnly),
        (3600, -2_300 * MS, Fmt::DateMillis),
        (-5 * 3600, 17 * S, Fmt::TimeOnly),
        (5 * 3600 + 45 * 60, -45 * S, Fmt::DateMillis),
        (0, 0, Fmt::TimeOnly),
    ] {
        let inc = incidents();
        let c = run(&write_log(&inc, zone_s, skew, fmt), None, &inc);
        let l = &c.summary;
        let what = format!("zone {zone_s} skew {skew}: {:?}", l.zone);
        assert_eq!(l.zone.as_deref(), Some(fmt_zone(zone_s).as_str()), "{what}");
        assert_eq!(l.zone_from, "search");
        // All four incident lines, not the disk line.
        assert_eq!((l.event_lines, l.matched), (5, 4), "{what}");
        assert_eq!(l.unmatched.len(), 1);
        assert!(l.unmatched[0].text.contains("disk"));
        // The skew comes back within the lines' granularity and the logging lag allowed.
        let o = l
            .clock_offset_s
            .expect("skew claimed: four incidents agree");
        let (g, skew_s) = (
            match fmt {
                Fmt::TimeOnly => 1.0,
                Fmt::DateMillis => 0.001,
            },
            skew as f64 / 1e9,
        );
        assert!(
            o >= skew_s - 0.2 - g - 0.25 - 0.06 && o <= skew_s - 0.2 + 1.0 + 0.06,
            "{what}: offset {o}"
        );
    }
}

#[test]
fn the_zone_is_said_in_words() {
    let inc = incidents();
    // Lines 200 ms after their events, from a clock 2.4 s behind: 2.2 s to within the lag.
    let c = run(
        &write_log(&inc, 8 * 3600, 2_400 * MS, Fmt::DateMillis),
        None,
        &inc,
    );
    let words = c.summary.clock_words().unwrap();
    let said = words
        .strip_prefix("the log's clock reads like UTC+08:00, ")
        .and_then(|w| w.strip_suffix(" s behind the capture"))
        .unwrap_or_else(|| panic!("{words}"));
    let secs: f64 = said.parse().unwrap();
    assert!((1.9..=3.2).contains(&secs), "{words}");
    // Within a line's lag of zero, the clocks are said to be in step.
    let c = run(
        &write_log(&inc, 8 * 3600, 400 * MS, Fmt::DateMillis),
        None,
        &inc,
    );
    assert_eq!(
        c.summary.clock_words().as_deref(),
        Some("the log's clock reads like UTC+08:00, in step with the capture")
    );
    // UTC, given, or stamped: nothing to add to the offset.
    let c = run(&write_log(&inc, 0, 0, Fmt::TimeOnly), None, &inc);
    assert_eq!(c.summary.clock_words(), None);
}

#[test]
fn log_tz_overrides_and_stamps_carry_their_zone() {
    let inc = incidents();
    let text = write_log(&inc, 8 * 3600, 0, Fmt::TimeOnly);
    let c = run(&text, Some(8 * 3600), &inc);
    assert_eq!(
        (
            c.summary.zone.as_deref(),
            c.summary.zone_from,
            c.summary.matched
        ),
        (Some("+08:00"), "option", 4)
    );
    // A wrong zone given is obeyed: nothing lines up.
    let c = run(&text, Some(0), &inc);
    assert_eq!((c.summary.zone_from, c.summary.matched), ("option", 0));
    // Lines with their own offset need no search.
    let stamped: String = write_log(&inc, -5 * 3600, 0, Fmt::DateMillis)
        .lines()
        .map(|l| format!("{}-05:00{}\n", &l[..23], &l[23..]))
        .collect();
    let c = run(&stamped, None, &inc);
    assert_eq!(
        (
            c.summary.zone.as_deref(),
            c.summary.zone_from,
            c.summary.matched
        ),
        (Some("-05:00"), "stamp", 4)
    );
}

#[test]
fn a_log_of_unrelated_errors_claims_no_zone() {
    // An error line every 17 s all day, about nothing on the wire: some line falls near an
    // incident under almost any zone, so none stands out.
    let inc = incidents();
    let mut text = String::new();
    for k in 0..5000i64 {
        let t = start() - 12 * 3600 * S + k * 17 * S + k % 7 * 100 * MS;
        text.push_str(&format!(
            "{} error db timeout\n",
            stamp(t + 3 * 3600 * S, Fmt::TimeOnly)
        ));
    }
    let c = run(&text, None, &inc);
    assert_eq!((c.summary.zone.as_deref(), c.summary.matched), (None, 0));
    assert!(c.findings.is_empty());
    // The same lines with eight incidents' own lines among them: those stand out.
    let inc: Vec<i64> = (0..8)
        .map(|k| start() + k * 277 * S + k * 91 * MS)
        .collect();
    let mut lines: Vec<&str> = text.lines().collect();
    let real = write_log(&inc, 3 * 3600, 0, Fmt::TimeOnly);
    lines.extend(real.lines().filter(|l| l.contains("conn")));
    lines.sort();
    let c = run(&(lines.join("\n") + "\n"), None, &inc);
    assert_eq!(c.summary.zone.as_deref(), Some("+03:00"));
    assert!(c.summary.matched >= 8);
}

#[test]
fn when_nothing_lines_up_no_zone_is_claimed() {
    // Incidents a week after the (dated) log: no zone brings them together.
    let inc = incidents();
    let later: Vec<i64> = inc.iter().map(|t| t + 7 * DAY_NS).collect();
    let c = run(&write_log(&inc, 3600, 0, Fmt::DateMillis), None, &later);
    assert_eq!((c.summary.zone.as_deref(), c.summary.matched), (None, 0));
    assert_eq!(c.summary.clock_offset_s, None);
    assert!(c
        .summary
        .clock_words()
        .unwrap()
        .starts_with("no time zone from UTC-12:00 to UTC+14:00"));
}

/// One error line `L` (local time) and events placed so that two zones explain it equally.
fn tie(events_rel_to_line: &[i64]) -> Option<String> {
    let line_local = days_from_civil(2024, 3, 1) * DAY_NS + 23 * 3600 * S;
    let text = format!("{} error reset\n", stamp(line_local, Fmt::DateMillis));
    let inc: Vec<i64> = events_rel_to_line.iter().map(|d| line_local + d).collect();
    run(&text, None, &inc).summary.zone
}

#[test]
fn ties_go_to_zero_skew_then_the_smaller_zone_then_east() {
    // A line at local L, events at L (UTC, no skew) and L - 1 h (UTC+01:00, no skew).
    assert_eq!(tie(&[0, -3600 * S]).as_deref(), Some("+00:00"));
    // At L - 1 h and L + 1 h: UTC+01:00 and UTC-01:00; east wins.
    assert_eq!(tie(&[-3600 * S, 3600 * S]).as_deref(), Some("+01:00"));
    // At L + 30 s (UTC, 30 s of skew) and L - 2 h (UTC+02:00, none): zero skew wins.
    assert_eq!(tie(&[30 * S, -7200 * S]).as_deref(), Some("+02:00"));
    // At L - 5:45 and L + 9:30: the smaller zone.
    assert_eq!(
        tie(&[-(5 * 3600 + 45 * 60) * S, (9 * 3600 + 30 * 60) * S]).as_deref(),
        Some("+05:45")
    );
}

#[test]
fn a_big_log_is_searched_whole() {
    // 100 000 lines over a day (its speed is measured in a release build, not asserted here), 5 000 of them errors, against 2 000 incidents.
    let base = start();
    let inc: Vec<i64> = (0..2000)
        .map(|k| base + k * 40 * S + (k * 7919 % 1000) * MS)
        .collect();
    let mut text = String::with_capacity(100_000 * 40);
    for k in 0..100_000i64 {
        let t = base + k * 864 * MS + 8 * 3600 * S;
        let what = if k % 20 == 0 {
            "error timeout"
        } else {
            "info ok"
        };
        text.push_str(&format!("{} {what}\n", stamp(t, Fmt::DateMillis)));
    }
    let log = AppLog::parse(&text, LogOptions::default());
    assert_eq!(log.lines.len(), 100_000);
    let c = correlate(&log, &mut events_at(&inc), base, &[]);
    assert_eq!(c.summary.event_lines, 5000);
}

#[test]
fn one_incident_at_its_moment_pins_the_skew() {
    // One late beat, logged 200 ms after it from a clock 2 s behind, in UTC+09:00: the only
    // range of offsets aligning it is that line's window, so the skew is claimed.
    let inc = [start() + 400 * S + 871 * MS];
    for (skew, fmt, g) in [
        (2 * S, Fmt::TimeOnly, 1.0),
        (-1_200 * MS, Fmt::DateMillis, 0.001),
    ] {
        let c = run(&write_log(&inc, 9 * 3600, skew, fmt), None, &inc);
        let l = &c.summary;
        assert_eq!(l.zone.as_deref(), Some("+09:00"));
        assert_eq!(l.matched, 1);
        let o = l
            .clock_offset_s
            .expect("skew claimed: one incident pins it");
        let skew_s = skew as f64 / 1e9;
        assert!(
            o >= skew_s - 0.2 - g - 0.25 - 0.06 && o <= skew_s - 0.2 + 1.0 + 0.06,
            "skew {skew_s}: offset {o}"
        );
    }
}

/// The issue-23 report: one client log, eight errors among seventeen lines, written in five
/// common formats (the stamps and layouts of the lines `journalctl -o short-iso-precise`,
/// rsyslog, Logback and a JSON logger write; recorded by hand here, the real programs' output is
/// in tests/scenarios/log-formats), each error naming the connection's local port.
#[test]
fn the_same_events_in_five_formats_match_the_same_frames() {
    let zone_s = 3600;
    let at: Vec<i64> = (0..8)
        .map(|k| start() + (120 + k * 397) * S + k * 37 * MS)
        .collect();
    let streams: Vec<StreamEnds> = (0..8u32)
        .map(|k| StreamEnds {
            stream: k,
            client: format!("10.0.0.2:{}", 39660 + k).parse().unwrap(),
            server: "10.0.0.1:7000".parse().unwrap(),
            first_ns: start() + 60 * S,
            last_ns: at[k as usize] + MS,
        })
        .collect();
    // Each error is logged 0.5 ms after its incident began (0.2 ms after the reset).
    let parts = |t: i64| {
        let l = t + i64::from(zone_s) * S;
        let days = l.div_euclid(DAY_NS);
        let (y, m, d) = civil_from_days(days);
        let ns = l.rem_euclid(DAY_NS);
        let s = ns / S;
        (y, m, d, s / 3600, s / 60 % 60, s % 60, ns % S)
    };
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    type Writer =
        fn(&dyn Fn(i64) -> (i64, u32, u32, i64, i64, i64, i64), &[&str], i64, bool, u16) -> String;
    let formats: [(&str, &str, &str, Writer); 5] = [
        ("plain", "iso8601", "search", |p, _, t, err, port| {
            let (y, m, d, h, mi, s, _) = p(t);
            let what = if err {
                "ERROR heartbeat lost on local port"
            } else {
                "INFO connected, local port"
            };
            format!("{y}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02} {what} {port}")
        }),
        ("rfc3164", "rfc3164", "search", |p, months, t, err, port| {
            let (_, m, d, h, mi, s, _) = p(t);
            let what = if err {
                "ERROR heartbeat lost"
            } else {
                "INFO connected"
            };
            format!(
                "{} {d:>2} {h:02}:{mi:02}:{s:02} host app[4242]: {what} local_port={port}",
                months[m as usize - 1]
            )
        }),
        ("json", "json", "stamp", |p, _, t, err, port| {
            let (y, m, d, h, mi, s, ns) = p(t);
            // The message names no failure: the level alone says it is an error.
            let (level, msg) = if err {
                ("error", "peer went away")
            } else {
                ("info", "connected")
            };
            format!(
                r#"{{"ts":"{y}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}+01:00","level":"{level}","msg":"{msg}","local_port":{port}}}"#,
                ns / MS
            )
        }),
        ("logback", "logback", "search", |p, _, t, err, port| {
            let (y, m, d, h, mi, s, ns) = p(t);
            let what = if err {
                "ERROR [hb-conn] c.e.Client - heartbeat lost on"
            } else {
                "INFO  [hb-conn] c.e.Client - connected from"
            };
            format!(
                "{y}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02},{:03} {what} port {port}",
                ns / MS
            )
        }),
        ("journald", "journald", "stamp", |p, _, t, err, port| {
            let (y, m, d, h, mi, s, ns) = p(t);
            let what = if err {
                "ERROR heartbeat lost"
            } else {
                "INFO connected"
            };
            format!(
                "{y}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}+01:00 host app[4242]: {what} local_port={port}",
                ns / 1000
            )
        }),
    ];
    for (name, format, zone_from, write) in formats {
        let mut lines: Vec<(i64, String)> = vec![(
            start() + 30 * S,
            write(&parts, &months, start() + 30 * S, false, 1),
        )];
        for (k, &t) in at.iter().enumerate() {
            let port = 39660 + k as u16;
            let conn_t = start() + 60 * S + k as i64 * S;
            lines.push((conn_t, write(&parts, &months, conn_t, false, port)));
            lines.push((
                t + 500 * 1000,
                write(&parts, &months, t + 500 * 1000, true, port),
            ));
        }
        lines.sort_by_key(|l| l.0);
        let text: String = lines.iter().map(|l| l.1.clone() + "\n").collect();
        let log = AppLog::parse(&text, LogOptions::default());
        assert_eq!(log.format_name(), format, "{name}");
        let c = correlate(&log, &mut events_at(&at), start(), &streams);
        let l = &c.summary;
        assert_eq!(
            (l.lines, l.event_lines, l.matched),
            (17, 8, 8),
            "{name}: {l:?}"
        );
        assert_eq!(
            (l.zone.as_deref(), l.zone_from),
            (Some("+01:00"), zone_from),
            "{name}"
        );
        for (k, f) in c.findings.iter().enumerate() {
            let Details::LogMatch(m) = &f.details else {
                unreachable!()
            };
            // Each error line is its own connection's: the late beat and the reset.
            assert_eq!(m.streams, vec![k as u32], "{name}");
            assert_eq!(
                f.frames,
                vec![k as u32 * 10 + 1, k as u32 * 10 + 2],
                "{name}"
            );
            if zone_from == "stamp" {
                // Stamped to the ms (or µs) with a zone: within the stamp's precision.
                let d = m.delay_ms.expect("delay measured");
                assert!((-1.0..=1.0).contains(&d), "{name}: delay {d} ms");
            } else {
                assert_eq!(m.delay_ms, None);
            }
        }
        if zone_from == "stamp" {
            assert!(l.clock_offset_s.unwrap().abs() <= 0.001, "{name}: {l:?}");
            assert!(l.clock_offset_spread_s.unwrap() <= 0.001, "{name}: {l:?}");
        }
    }
}

/// A mixed file (JSON lines and syslog lines) with a stack trace: the trace's lines belong to
/// their entry, naming its connection and its failure.
#[test]
fn mixed_files_and_stack_traces() {
    let text = "\
{\"time\":\"2024-03-01T22:31:00.000Z\",\"level\":\"info\",\"msg\":\"started\"}
Mar  1 22:31:01 host app[1]: INFO connected
2024-03-01 22:32:00,500 WARN  [main] c.e.Client - call failed softly
java.net.SocketException: Connection reset
\tat c.e.Client.read(Client.java:12) peer 10.0.0.1:7000 local port 39660
2024-03-01 22:33:00,000 INFO  [main] c.e.Client - fine
";
    let log = AppLog::parse(text, LogOptions::default());
    assert_eq!(log.lines.len(), 4);
    assert_eq!(log.format_name(), "logback+json+rfc3164");
    let trace = &log.lines[2];
    assert!(trace.is_event);
    assert!(trace.conn_text().contains("local port 39660"));
    assert_eq!(
        conn::port_refs(trace.conn_text())
            .iter()
            .map(|r| r.port)
            .collect::<Vec<_>>(),
        vec![7000, 39660]
    );
    assert!(!log.lines[3].is_event);
    // Forcing a format: the other lines continue entries or are skipped.
    let forced = AppLog::parse(
        text,
        LogOptions {
            format: Some(Format::Json),
            ..LogOptions::default()
        },
    );
    assert_eq!(
        (forced.lines.len(), forced.format_name().as_str()),
        (1, "json")
    );
}

/// An access log's status decides: a 502 is an error, a 200 for `/reset` is not.
#[test]
fn access_logs_are_read_by_status() {
    let log = AppLog::parse(
        "10.0.0.2 - - [01/Mar/2024:23:31:00 +0100] \"GET /reset HTTP/1.1\" 200 5 \"-\" \"curl/7.88\"\n\
         10.0.0.2 - - [01/Mar/2024:23:31:01 +0100] \"GET /a HTTP/1.1\" 502 157 \"-\" \"curl/7.88\"\n",
        LogOptions::default(),
    );
    assert_eq!(log.format_name(), "access");
    assert_eq!(
        log.lines.iter().map(|l| l.is_event).collect::<Vec<_>>(),
        vec![false, true]
    );
}

/// A line stamped with its zone to the millisecond means the incident at its moment: not the
/// reset on another connection 400 ms before it, which a whole-second line could mean too.
#[test]
fn a_precise_line_means_the_incident_at_its_moment() {
    let a = start() + 100 * S;
    let b = a + 400 * MS;
    let line = |t: i64| {
        let (y, m, d) = civil_from_days(t.div_euclid(DAY_NS));
        let ns = t.rem_euclid(DAY_NS);
        let s = ns / S;
        format!(
            "{y}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z ERROR connection reset by peer\n",
            s / 3600,
            s / 60 % 60,
            s % 60,
            ns % S / MS
        )
    };
    let c = run(&line(b + 300 * 1000 + 200 * 1000), None, &[a, b]);
    assert_eq!(c.summary.matched, 1);
    assert_eq!(c.findings[0].frames, vec![11, 12]);
    let Details::LogMatch(m) = &c.findings[0].details else {
        unreachable!()
    };
    assert_eq!(m.streams, vec![1]);
    assert!(m.delay_ms.unwrap().abs() <= 1.0, "{:?}", m.delay_ms);
}
