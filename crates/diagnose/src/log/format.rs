//! The formats application logs are written in, recognized line by line: where the stamp is,
//! what level the line has, which fields name a connection.
//!
//! Text formats keep the whole line for the event words and connection references (as before
//! formats were told apart); structured lines (JSON, logfmt) are read field by field: the time
//! from `ts`/`time`/`timestamp`/`@timestamp`/`t` (RFC 3339 text or epoch s/ms/µs/ns), the level
//! from `level`/`severity`/`lvl`, the message from `msg`/`message`/`event`, and the connection
//! from `local_port`, `remote_port`, `peer`, `conn`, `addr`, `src`/`dst` and the like.

use keepsight_time::logstamp::{self, LogTime, Stamp};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// A log format keepsight recognizes (the name `--log-format` takes and the report shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// `2026-12-07T03:57:42.311+01:00 ...`, `2026-12-07 03:57:42 ...`, `[2026-12-07 ...]`.
    Iso8601,
    /// Log4j/Logback: `2026-12-07 03:57:42,311 ERROR [thread] logger - msg` (either order).
    Logback,
    /// Python logging: `2026-12-07 03:57:42,311 ERROR name: msg`, `... - name - ERROR - msg`.
    Python,
    /// java.util.logging's default two lines: `Dec 07, 2026 3:57:42 AM class method` then
    /// `SEVERE: msg`.
    Jul,
    /// `journalctl -o short-iso[-precise]`: `2026-12-07T03:57:42.311000+01:00 host app[1]: msg`.
    Journald,
    /// `journalctl -o json`: `__REALTIME_TIMESTAMP`, `PRIORITY`, `MESSAGE`.
    JournaldJson,
    /// JSON lines (structlog, python-json-logger, Go slog's JSON handler, zap, pino, bunyan).
    Json,
    /// `key=value` lines (Go slog's text handler, logrus): `time=... level=ERROR msg="..."`.
    Logfmt,
    /// RFC 5424 syslog: `<11>1 2026-12-07T03:57:42.311+01:00 host app 42 - - msg`.
    Rfc5424,
    /// RFC 3164 syslog, with or without `<PRI>`: `Dec  7 03:57:42 host app[42]: msg` (the year
    /// is the capture's).
    Rfc3164,
    /// nginx's error log: `2026/12/07 03:57:42 [error] 42#42: *7 msg, client: ...`.
    NginxError,
    /// Go's `log` package: `2026/12/07 03:57:42[.uuuuuu] msg`.
    GoLog,
    /// Apache's error log: `[Mon Dec 07 03:57:42.311279 2026] [core:error] [pid 1] msg`.
    ApacheError,
    /// nginx/Apache access log (common/combined): `ip - - [07/Dec/2026:03:57:42 +0100] "GET /
    /// HTTP/1.1" 502 ...`: a 5xx status (or nginx's 499/444) is an error.
    Access,
    /// `17:08:02 ...`, `[17:08:02.123] ...`: time of day only (`--log-date`, else the capture's
    /// first day).
    Time,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 15] = [
        Format::Iso8601,
        Format::Logback,
        Format::Python,
        Format::Jul,
        Format::Journald,
        Format::JournaldJson,
        Format::Json,
        Format::Logfmt,
        Format::Rfc5424,
        Format::Rfc3164,
        Format::NginxError,
        Format::GoLog,
        Format::ApacheError,
        Format::Access,
        Format::Time,
    ];

    /// The name `--log-format` takes and the report shows.
    pub fn name(self) -> &'static str {
        match self {
            Format::Iso8601 => "iso8601",
            Format::Logback => "logback",
            Format::Python => "python",
            Format::Jul => "jul",
            Format::Journald => "journald",
            Format::JournaldJson => "journald-json",
            Format::Json => "json",
            Format::Logfmt => "logfmt",
            Format::Rfc5424 => "rfc5424",
            Format::Rfc3164 => "rfc3164",
            Format::NginxError => "nginx-error",
            Format::GoLog => "go-log",
            Format::ApacheError => "apache-error",
            Format::Access => "access",
            Format::Time => "time",
        }
    }

    /// The format named `name` (case-insensitive; `log4j`, `syslog`, `slog`, `slog-json` and
    /// `nginx-access` are accepted too).
    pub fn from_name(name: &str) -> Option<Format> {
        let n = name.trim().to_ascii_lowercase();
        let alias = match n.as_str() {
            "log4j" | "log4j2" => Some(Format::Logback),
            "syslog" => Some(Format::Rfc3164),
            "slog" | "slog-text" => Some(Format::Logfmt),
            "slog-json" | "jsonl" => Some(Format::Json),
            "nginx-access" | "apache-access" | "clf" => Some(Format::Access),
            "rfc3339" | "iso" => Some(Format::Iso8601),
            _ => None,
        };
        alias.or_else(|| Format::ALL.into_iter().find(|f| f.name() == n))
    }
}

/// How severe a line says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// A level word (`ERROR`, `err`, `SEVERE`, `warning`, `E`...), or `None`.
    fn from_word(w: &str) -> Option<Level> {
        if w.is_empty() || w.len() > 9 {
            return None;
        }
        let mut buf = [0u8; 9];
        let l = &mut buf[..w.len()];
        l.copy_from_slice(w.as_bytes());
        l.make_ascii_lowercase();
        Some(match &l[..] {
            b"trace" | b"debug" | b"dbug" | b"trc" | b"dbg" | b"finer" | b"finest" | b"fine" => {
                Level::Debug
            }
            b"info" | b"inf" | b"notice" | b"config" => Level::Info,
            b"warn" | b"warning" | b"wrn" => Level::Warn,
            b"error" | b"err" | b"eror" | b"severe" | b"fatal" | b"crit" | b"critical"
            | b"alert" | b"emerg" | b"panic" | b"dpanic" => Level::Error,
            _ => return None,
        })
    }

    /// A numeric level: syslog severities 0..=7 (`PRIORITY`, RFC 5424's), or bunyan/pino's
    /// 10..=60.
    fn from_number(n: f64) -> Option<Level> {
        Some(if n >= 10.0 {
            match n as i64 {
                50.. => Level::Error,
                40..=49 => Level::Warn,
                30..=39 => Level::Info,
                _ => Level::Debug,
            }
        } else {
            match n as i64 {
                0..=3 => Level::Error,
                4 => Level::Warn,
                5 | 6 => Level::Info,
                7 => Level::Debug,
                _ => return None,
            }
        })
    }
}

/// One line read: its stamp, format, level and what to search for events and connections.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub stamp: Stamp,
    pub format: Format,
    pub level: Option<Level>,
    /// Structured lines: the message and the connection fields spelled out as words
    /// (`msg ... | local port 39660 conn hb-2`); `None` for text lines (the whole line counts).
    pub fields: Option<String>,
    /// The part of `fields` (or of the line) the event words are looked for in: the message.
    pub message_len: Option<usize>,
}

/// Keys a JSON or logfmt line's time is under, in order of preference.
const TIME_KEYS: &[&str] = &[
    "ts",
    "time",
    "timestamp",
    "@timestamp",
    "t",
    "__REALTIME_TIMESTAMP",
    "datetime",
    "asctime",
    "date",
];
const LEVEL_KEYS: &[&str] = &[
    "level",
    "severity",
    "lvl",
    "levelname",
    "PRIORITY",
    "loglevel",
];
const MESSAGE_KEYS: &[&str] = &["msg", "message", "event", "MESSAGE", "log"];
/// Keys holding a port number.
const PORT_KEYS: &[&str] = &[
    "local_port",
    "remote_port",
    "lport",
    "rport",
    "sport",
    "dport",
    "port",
    "src_port",
    "dst_port",
    "client_port",
    "server_port",
    "peer_port",
];
/// Keys holding an address (`10.0.0.1:7000`, `[fd00::1]:80`).
const ADDR_KEYS: &[&str] = &[
    "peer",
    "addr",
    "address",
    "remote",
    "remote_addr",
    "local_addr",
    "peer_addr",
    "src",
    "dst",
    "source",
    "destination",
    "client",
    "server",
    "endpoint",
];
/// Keys holding a connection's label (`conn 2`, `hb-conn-2`).
const CONN_KEYS: &[&str] = &["conn", "connection", "conn_id", "session"];

/// What a structured line's fields say, gathered while reading it.
#[derive(Default)]
struct Fields<'a> {
    time: Option<(usize, Cow<'a, str>)>,
    level: Option<Level>,
    message: Option<Cow<'a, str>>,
    /// `port N`, addresses and `conn X`, space-separated.
    conn: String,
}

impl<'a> Fields<'a> {
    /// Takes one key's value.
    fn take(&mut self, key: &str, value: Cow<'a, str>, numeric: bool) {
        if let Some(rank) = TIME_KEYS.iter().position(|k| *k == key) {
            if self.time.as_ref().is_none_or(|(r, _)| rank < *r) {
                self.time = Some((rank, value));
            }
        } else if LEVEL_KEYS.contains(&key) {
            if self.level.is_none() {
                self.level = if numeric || value.bytes().all(|c| c.is_ascii_digit()) {
                    value.parse::<f64>().ok().and_then(Level::from_number)
                } else {
                    Level::from_word(value.trim())
                };
            }
        } else if MESSAGE_KEYS.contains(&key) {
            if self.message.is_none() {
                self.message = Some(value);
            }
        } else if PORT_KEYS.contains(&key) {
            self.conn.push_str(" port ");
            self.conn.push_str(&value);
        } else if ADDR_KEYS.contains(&key) {
            self.conn.push(' ');
            self.conn.push_str(&value);
        } else if CONN_KEYS.contains(&key) {
            self.conn.push_str(" conn ");
            self.conn.push_str(&value);
        }
    }

    fn finish(self, format: Format) -> Option<Parsed> {
        let (_, t) = self.time?;
        let stamp = logstamp::value(&t)?;
        let msg = self.message.unwrap_or_default();
        let mut fields = String::with_capacity(msg.len() + self.conn.len() + 3);
        fields.push_str(&msg);
        let message_len = fields.len();
        if !self.conn.is_empty() {
            fields.push_str(" |");
            fields.push_str(&self.conn);
        }
        Some(Parsed {
            stamp,
            format,
            level: self.level,
            fields: Some(fields),
            message_len: Some(message_len),
        })
    }
}

/// A JSON string (borrowed when it has no escapes) or a number/bool as its text.
struct Scalar<'a>(Option<Cow<'a, str>>, bool);

impl<'de> serde::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar(Some(Cow::Borrowed(v)), false))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string())), false))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar(Some(Cow::Owned(v)), false))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string())), true))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string())), true))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string())), true))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Scalar(None, false))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar(None, false))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar(None, false))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar(None, false))
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON object's key (borrowed when it has no escapes).
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON line's fields of interest; the others are skipped without being built.
struct JsonLine<'a>(Fields<'a>, bool);

impl<'de> serde::Deserialize<'de> for JsonLine<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonLine<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut f = Fields::default();
                let mut journald = false;
                while let Some(Key(k)) = a.next_key::<Key<'de>>()? {
                    let Scalar(v, numeric) = a.next_value::<Scalar<'de>>()?;
                    journald |= k == "__REALTIME_TIMESTAMP";
                    if let Some(v) = v {
                        f.take(&k, v, numeric);
                    }
                }
                Ok(JsonLine(f, journald))
            }
        }
        d.deserialize_map(V)
    }
}

fn json(line: &str) -> Option<Parsed> {
    let JsonLine(fields, journald) = serde_json::from_str(line).ok()?;
    fields.finish(if journald {
        Format::JournaldJson
    } else {
        Format::Json
    })
}

/// `key=value key="quoted \"value\""` pairs → fields; `None` unless a time key is among them.
fn logfmt(line: &str) -> Option<Parsed> {
    let b = line.as_bytes();
    let mut f = Fields::default();
    let mut i = 0;
    let mut pairs = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let k0 = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        if i == k0 && i < b.len() {
            return None;
        }
        if i >= b.len() || b[i] != b'=' {
            // A bare word: logfmt lines have none before their time.
            f.time.as_ref()?;
            continue;
        }
        let key = &line[k0..i];
        i += 1;
        let value: Cow<'_, str> = if b.get(i) == Some(&b'"') {
            let mut s = String::new();
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                let ch = line[i..].chars().next()?;
                s.push(ch);
                i += ch.len_utf8();
            }
            i += 1;
            Cow::Owned(s)
        } else {
            let v0 = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            Cow::Borrowed(&line[v0..i])
        };
        pairs += 1;
        f.take(key, value, false);
    }
    if pairs < 2 {
        return None;
    }
    f.finish(Format::Logfmt)
}

/// The level among a text line's first words after its stamp (`ERROR`, `[warn]`, `(E)`...).
fn text_level(rest: &str) -> Option<Level> {
    rest.split(|c: char| c == ' ' || "[]():,|<>".contains(c))
        .filter(|w| !w.is_empty())
        .take(5)
        .find_map(Level::from_word)
}

/// How a line with an ISO date continues: Logback/Log4j, Python, journald or plain ISO.
fn iso_flavour(b: &[u8], s: &Stamp) -> Format {
    let rest = std::str::from_utf8(&b[s.used..]).unwrap_or("");
    let comma_ms = b.get(19) == Some(&b',');
    let mut words = [""; 4];
    for (w, x) in words.iter_mut().zip(rest.split_ascii_whitespace()) {
        *w = x;
    }
    let is_level = |w: &str| Level::from_word(w).is_some();
    let bracketed = |w: &str| w.starts_with('[') && w.ends_with(']');
    // `LEVEL [thread] logger - msg` or `[thread] LEVEL logger - msg`.
    // `LEVEL [thread] logger - msg`, `[thread] LEVEL logger - msg`, `LEVEL [logger] - msg`.
    let logback = match words[..] {
        [a, b, c, d] => {
            ((is_level(a) && bracketed(b)) || (bracketed(a) && is_level(b)))
                && (c == "-" || d == "-")
        }
        _ => false,
    };
    if logback {
        return Format::Logback;
    }
    // `host app[pid]: msg` after a zoned `T` stamp.
    if matches!(s.time, LogTime::Zoned { .. }) && b[10] == b'T' {
        if let [_, tag, ..] = words[..] {
            if tag.ends_with(':') && (tag.ends_with("]:") || tag.len() > 1) {
                return Format::Journald;
            }
        }
    }
    let python = match words[..] {
        // `LEVEL name: msg`, `LEVEL:name:msg`, `- name - LEVEL - msg`.
        [a, ..] if a.split(':').next().is_some_and(is_level) => true,
        ["-", _, "-", l, ..] => is_level(l),
        _ => false,
    };
    if python && comma_ms {
        return Format::Python;
    }
    Format::Iso8601
}

fn parsed(stamp: Stamp, format: Format, level: Option<Level>) -> Parsed {
    Parsed {
        stamp,
        format,
        level,
        fields: None,
        message_len: None,
    }
}

/// `<PRI>` → (syslog severity, bytes used).
fn pri(b: &[u8]) -> Option<(u8, usize)> {
    if b.first() != Some(&b'<') {
        return None;
    }
    let n = b[1..]
        .iter()
        .take(4)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if !(1..=3).contains(&n) || b.get(1 + n) != Some(&b'>') {
        return None;
    }
    let v = logstamp::digits(&b[1..], n)?;
    (v <= 191).then_some(((v & 7) as u8, n + 2))
}

fn syslog_line(b: &[u8]) -> Option<Parsed> {
    let (sev, used) = pri(b)?;
    let level = Level::from_number(f64::from(sev));
    let r = &b[used..];
    if r.starts_with(b"1 ") {
        let s = logstamp::iso(&r[2..])?;
        let stamp = Stamp {
            used: used + 2 + s.used,
            ..s
        };
        return Some(parsed(stamp, Format::Rfc5424, level));
    }
    let s = logstamp::syslog(r)?;
    Some(parsed(
        Stamp {
            used: used + s.used,
            ..s
        },
        Format::Rfc3164,
        level,
    ))
}

/// `ip - user [07/Dec/2026:03:57:42 +0100] "GET / HTTP/1.1" 502 ...`
fn access(t: &str) -> Option<Parsed> {
    let open = t.find(" [")?;
    let head = &t[..open];
    if head.split(' ').count() != 3 || head.contains('"') {
        return None;
    }
    let s = logstamp::clf(&t.as_bytes()[open + 2..])?;
    let after = &t[open + 2 + s.used..];
    // The status follows the quoted request line.
    let q1 = after.find('"')?;
    let q2 = q1 + 1 + after[q1 + 1..].find('"')?;
    let status: u16 = after[q2 + 1..]
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()?;
    let level = match status {
        500.. | 499 | 444 => Level::Error,
        400..=498 => Level::Warn,
        _ => Level::Info,
    };
    Some(parsed(s, Format::Access, Some(level)))
}

/// `[Mon Dec 07 03:57:42.311279 2026] [core:error] [pid 1:tid 2] msg`
fn apache_error(b: &[u8]) -> Option<Parsed> {
    if b.first() != Some(&b'[') {
        return None;
    }
    let s = logstamp::ctime(&b[1..])?;
    let rest = std::str::from_utf8(b.get(s.used + 2..)?).ok()?;
    // `[module:level]` or `[level]`.
    let level = rest
        .trim_start()
        .strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .and_then(|m| Level::from_word(m.rsplit(':').next().unwrap_or(m)));
    Some(parsed(s, Format::ApacheError, level))
}

/// Reads one line in `format`, or in whichever format it is written when `None`.
pub(crate) fn read(line: &str, forced: Option<Format>) -> Option<Parsed> {
    let t = line.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let b = t.as_bytes();
    let want = |f: Format| forced.is_none_or(|x| x == f);
    let first = *b.first()?;
    if first == b'{' {
        if forced.is_none() || matches!(forced, Some(Format::Json | Format::JournaldJson)) {
            if let Some(p) = json(t) {
                return Some(p);
            }
        }
        return None;
    }
    if first == b'<' {
        if let Some(p) = syslog_line(b) {
            if want(p.format) {
                return Some(p);
            }
        }
        return None;
    }
    if want(Format::Logfmt) && b.iter().take(24).any(|&c| c == b'=') {
        if let Some(p) = logfmt(t) {
            return Some(p);
        }
    }
    if want(Format::ApacheError) {
        if let Some(p) = apache_error(b) {
            return Some(p);
        }
    }
    // Access logs start with the client's address; the stamp comes later.
    let iso_start = b.len() > 4 && b[..4].iter().all(u8::is_ascii_digit) && b[4] != b'.';
    if want(Format::Access) && first.is_ascii_alphanumeric() && !iso_start {
        if let Some(p) = access(t) {
            return Some(p);
        }
    }
    // Stamps at the line's start, after an optional `[`.
    let t = t.trim_start_matches(|c: char| c == '[' || c.is_whitespace());
    let b = t.as_bytes();
    if let Some(s) = logstamp::iso(b) {
        let rest = std::str::from_utf8(&b[s.used..]).unwrap_or("");
        let level = text_level(rest);
        let format = if b[4] == b'/' {
            if rest.trim_start().starts_with('[') && level.is_some() {
                Format::NginxError
            } else {
                Format::GoLog
            }
        } else {
            iso_flavour(b, &s)
        };
        let format = match forced {
            // An ISO-dated line is read as any of the ISO family when that is asked for.
            Some(
                f @ (Format::Iso8601
                | Format::Logback
                | Format::Python
                | Format::Journald
                | Format::NginxError
                | Format::GoLog),
            ) => f,
            Some(_) => return None,
            None => format,
        };
        return Some(parsed(s, format, level));
    }
    if want(Format::Rfc3164) {
        if let Some(s) = logstamp::syslog(b) {
            let level = text_level(std::str::from_utf8(&b[s.used..]).unwrap_or(""));
            return Some(parsed(s, Format::Rfc3164, level));
        }
    }
    if want(Format::Jul) {
        if let Some(s) = logstamp::jul(b) {
            return Some(parsed(s, Format::Jul, None));
        }
    }
    if want(Format::Time) {
        if let Some((tod, gran, used)) = logstamp::time_of_day(b) {
            let level = text_level(std::str::from_utf8(&b[used..]).unwrap_or(""));
            let s = Stamp {
                time: LogTime::TimeOnly { tod_ns: tod },
                granularity_ns: gran,
                used,
            };
            return Some(parsed(s, Format::Time, level));
        }
    }
    None
}

/// java.util.logging's second line, `SEVERE: msg`: its level.
pub(crate) fn jul_level(line: &str) -> Option<Level> {
    let (w, _) = line.split_once(':')?;
    Level::from_word(w.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(line: &str) -> Option<&'static str> {
        read(line, None).map(|p| p.format.name())
    }

    #[test]
    fn formats_line_by_line() {
        for (line, want) in [
            ("2026-12-07T03:57:42.311+01:00 ERROR x", "iso8601"),
            ("2026-12-07 03:57:42 [ERROR] feed-1: x", "iso8601"),
            (
                "2026-12-07 03:57:42,311 ERROR [hb-conn-2] c.e.Client - lost",
                "logback",
            ),
            (
                "2026-12-07 03:57:42.311 [main] WARN  c.e.Client - late",
                "logback",
            ),
            // java.util.logging's SimpleFormatter given a Logback-like pattern.
            (
                "2026-12-07 12:55:44,771 SEVERE  [hb.java] - heartbeat failed",
                "logback",
            ),
            ("2026-12-07 03:57:42,311 ERROR client: reset", "python"),
            ("2026-12-07 03:57:42,311 - client - ERROR - reset", "python"),
            (
                "2026-12-07T03:57:42.311000+01:00 host app[4242]: x",
                "journald",
            ),
            (
                r#"{"ts":"2026-12-07T03:57:42.311+01:00","level":"error","msg":"x"}"#,
                "json",
            ),
            (
                r#"{"__REALTIME_TIMESTAMP":"1796612262311000","PRIORITY":"3","MESSAGE":"x"}"#,
                "journald-json",
            ),
            (
                "time=2026-12-07T03:57:42.311+01:00 level=ERROR msg=\"x y\" local_port=1",
                "logfmt",
            ),
            (
                "<11>1 2026-12-07T03:57:42.311+01:00 host app 42 - - x",
                "rfc5424",
            ),
            ("<11>Dec  7 03:57:42 host app[42]: x", "rfc3164"),
            ("Dec  7 03:57:42 host app[4242]: ERROR x", "rfc3164"),
            (
                "2026/12/07 03:57:42 [error] 42#42: *7 upstream timed out",
                "nginx-error",
            ),
            ("2026/12/07 03:57:42.311234 heartbeat lost", "go-log"),
            (
                "[Mon Dec 07 03:57:42.311279 2026] [proxy:error] [pid 1] x",
                "apache-error",
            ),
            (
                "10.0.0.1 - - [07/Dec/2026:03:57:42 +0100] \"GET / HTTP/1.1\" 502 0",
                "access",
            ),
            ("Dec 07, 2026 3:57:42 AM com.example.Client run", "jul"),
            ("[13:43:09] [warn] (worker-a) x", "time"),
            ("01:41:38 client info connected", "time"),
        ] {
            assert_eq!(fmt(line), Some(want), "{line}");
        }
        for none in [
            "",
            "hello",
            "{not json",
            "{\"msg\":\"no time\"}",
            "<999>x",
            "a=b c=d",
        ] {
            assert_eq!(fmt(none), None, "{none}");
        }
    }

    /// Lines as Go 1.21's log/slog handlers and journalctl write them (recorded by hand from
    /// their documented output: Debian 12's Go 1.19 has no slog and no systemd runs here).
    #[test]
    fn slog_and_journald_recorded_lines() {
        let p = read(
            r#"{"time":"2026-12-07T03:57:42.311234567+01:00","level":"ERROR","msg":"heartbeat failed","conn":"hb-2","remote_port":7000,"dst":"10.0.0.1:7000"}"#,
            None,
        )
        .unwrap();
        assert_eq!((p.format, p.level), (Format::Json, Some(Level::Error)));
        assert_eq!(p.stamp.granularity_ns, 1);
        assert_eq!(
            p.fields.as_deref(),
            Some("heartbeat failed | conn hb-2 port 7000 10.0.0.1:7000")
        );
        let p = read(
            "time=2026-12-07T03:57:42.311+01:00 level=WARN msg=\"reply slow\" src=10.0.0.2:39660",
            None,
        )
        .unwrap();
        assert_eq!((p.format, p.level), (Format::Logfmt, Some(Level::Warn)));
        assert_eq!(p.fields.as_deref(), Some("reply slow | 10.0.0.2:39660"));
        let p = read(
            r#"{"__CURSOR":"s=1","__REALTIME_TIMESTAMP":"1796612262311000","PRIORITY":"3","SYSLOG_IDENTIFIER":"app","MESSAGE":"heartbeat lost"}"#,
            None,
        )
        .unwrap();
        assert_eq!(
            (p.format, p.level),
            (Format::JournaldJson, Some(Level::Error))
        );
        assert_eq!(
            p.stamp.time,
            LogTime::Zoned {
                utc_ns: 1_796_612_262_311_000_000,
                zone_s: 0
            }
        );
        let p = read(
            "2026-12-07T03:57:42+0100 host app[4242]: heartbeat lost",
            None,
        )
        .unwrap();
        assert_eq!(p.format, Format::Journald);
    }

    #[test]
    fn levels_and_fields() {
        let p = read(
            r#"{"ts":1796612262.311,"level":"error","msg":"heartbeat lost","local_port":39660,"peer":"10.0.0.1:7000","pid":4242}"#,
            None,
        )
        .unwrap();
        assert_eq!(p.level, Some(Level::Error));
        assert_eq!(p.stamp.granularity_ns, 1_000_000);
        assert_eq!(
            p.fields.as_deref(),
            Some("heartbeat lost | port 39660 10.0.0.1:7000")
        );
        assert_eq!(p.message_len, Some(14));
        let p = read(
            r#"{"time":"2026-12-07T03:57:42Z","level":50,"msg":"x"}"#,
            None,
        )
        .unwrap();
        assert_eq!(p.level, Some(Level::Error));
        let p = read("<12>Dec  7 03:57:42 h a: x", None).unwrap();
        assert_eq!(p.level, Some(Level::Warn));
        let p = read(
            "10.0.0.1 - - [07/Dec/2026:03:57:42 +0100] \"GET / HTTP/1.1\" 200 5",
            None,
        )
        .unwrap();
        assert_eq!(p.level, Some(Level::Info));
        let p = read(
            "time=2026-12-07T03:57:42Z level=WARN msg=\"a \\\"b\\\"\" conn=hb-2",
            None,
        )
        .unwrap();
        assert_eq!(p.fields.as_deref(), Some("a \"b\" | conn hb-2"));
        assert_eq!(p.level, Some(Level::Warn));
        assert_eq!(jul_level("SEVERE: lost"), Some(Level::Error));
        // Forcing a format reads only lines in it.
        assert!(read("01:41:38 x", Some(Format::Json)).is_none());
        assert_eq!(
            read("2026-12-07 03:57:42 x", Some(Format::Logback)).map(|p| p.format),
            Some(Format::Logback)
        );
        for f in Format::ALL {
            assert_eq!(Format::from_name(f.name()), Some(f));
        }
        assert_eq!(Format::from_name("log4j"), Some(Format::Logback));
    }
}
