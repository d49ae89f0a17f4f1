//! Which connection a log line means: the ports and addresses it names, or a label (`conn 2`,
//! `client-a`) that an earlier line tied to a port (`conn 2 connected (local port 39660)`).
//!
//! A line that means a connection matches the events of that connection's streams only; a line
//! that names nothing, or only things the capture does not have, may match any stream.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// A port the line names, with the address when it names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PortRef {
    pub ip: Option<IpAddr>,
    pub port: u16,
}

/// A stream's number, its two endpoints and its first and last packets' times.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamEnds {
    pub stream: u32,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub first_ns: i64,
    pub last_ns: i64,
}

/// Words that precede a port number (`port 39660`, `sport=1234`, `local port: 80`).
const PORT_WORDS: &[&str] = &["port", "sport", "dport", "lport", "rport"];

/// Words that may precede a number without naming a connection (`after 3`, `retry 2`).
const NOT_LABELS: &[&str] = &[
    "after",
    "in",
    "for",
    "of",
    "to",
    "from",
    "at",
    "with",
    "within",
    "attempt",
    "attempts",
    "retry",
    "retries",
    "try",
    "beat",
    "beats",
    "heartbeat",
    "heartbeats",
    "period",
    "timeout",
    "errno",
    "code",
    "status",
    "line",
    "pid",
    "tid",
    "level",
    "seq",
    "len",
    "bytes",
    "count",
];

/// The ports and addresses a line names, in order.
pub(crate) fn port_refs(text: &str) -> Vec<PortRef> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        // `[v6]:port`.
        if b[i] == b'[' {
            if let Some(close) = b[i + 1..].iter().position(|&c| c == b']') {
                let inner = &text[i + 1..i + 1 + close];
                let after = i + 1 + close + 1;
                if let (Ok(ip), Some((port, used))) = (
                    inner.parse::<std::net::Ipv6Addr>(),
                    port_after_colon(b, after),
                ) {
                    out.push(PortRef {
                        ip: Some(IpAddr::V6(ip)),
                        port,
                    });
                    i = after + used;
                    continue;
                }
            }
        }
        // `a.b.c.d:port`, at a word start.
        if b[i].is_ascii_digit() && (i == 0 || !is_word(b[i - 1]) && b[i - 1] != b'.') {
            let len = b[i..]
                .iter()
                .take_while(|c| c.is_ascii_digit() || **c == b'.')
                .count();
            if let Ok(ip) = text[i..i + len].parse::<std::net::Ipv4Addr>() {
                if let Some((port, used)) = port_after_colon(b, i + len) {
                    out.push(PortRef {
                        ip: Some(IpAddr::V4(ip)),
                        port,
                    });
                    i += len + used;
                    continue;
                }
            }
            i += len.max(1);
            continue;
        }
        // `host:port`, `(:port`, ` :port` — but not the minutes of a time (`17:08`), nor a
        // stack frame's source line (`Client.java:12`, `main.go:42`).
        if b[i] == b':'
            && (i == 0 || !b[i - 1].is_ascii_digit() && b[i - 1] != b':')
            && !after_source_file(&b[..i])
        {
            if let Some((port, used)) = port_after_colon(b, i) {
                out.push(PortRef { ip: None, port });
                i += used;
                continue;
            }
        }
        // `port 39660`, `port=39660`, `port: 39660`, `port #39660`.
        if b[i].is_ascii_alphabetic() && (i == 0 || !is_word(b[i - 1])) {
            let len = b[i..].iter().take_while(|c| is_word(**c)).count();
            let word = text[i..i + len].to_ascii_lowercase();
            // `local_port=39660`, `src_port: 80` name a port as `port` does.
            if PORT_WORDS.contains(&word.as_str()) || word.ends_with("_port") {
                let mut j = i + len;
                while j < b.len() && matches!(b[j], b' ' | b'=' | b':' | b'#') {
                    j += 1;
                }
                if let Some((port, used)) = number(b, j) {
                    out.push(PortRef { ip: None, port });
                    i = j + used;
                    continue;
                }
            }
            i += len;
            continue;
        }
        i += 1;
    }
    out
}

/// Source files a stack frame names before its line number.
const SOURCE_FILES: &[&str] = &[
    ".java", ".kt", ".scala", ".go", ".py", ".rs", ".js", ".ts", ".rb", ".c", ".cc", ".cpp", ".cs",
];

/// Whether `before` ends with a source file's name (`Client.java`).
fn after_source_file(before: &[u8]) -> bool {
    SOURCE_FILES.iter().any(|ext| {
        before.len() > ext.len()
            && before[before.len() - ext.len()..].eq_ignore_ascii_case(ext.as_bytes())
    })
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'#'
}

/// `:NNNNN` at `at` → (port, bytes used including the colon).
fn port_after_colon(b: &[u8], at: usize) -> Option<(u16, usize)> {
    if b.get(at) != Some(&b':') {
        return None;
    }
    number(b, at + 1).map(|(p, n)| (p, n + 1))
}

/// A port number at `at`, ending at a non-digit that does not continue a time or a decimal.
fn number(b: &[u8], at: usize) -> Option<(u16, usize)> {
    let n = b[at.min(b.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if n == 0 || n > 5 || b[at] == b'0' {
        return None;
    }
    if let Some(&next) = b.get(at + n) {
        // A colon or dot continues a number only before a digit (`17:08:02`, `3.9`); before a
        // space it ends the port (`terminating 10.0.0.2:52811: 3 pings without pong`).
        let continued = |c: u8| next == c && b.get(at + n + 1).is_some_and(u8::is_ascii_digit);
        if next.is_ascii_alphanumeric() || continued(b':') || continued(b'.') {
            return None;
        }
    }
    let v: u32 = std::str::from_utf8(&b[at..at + n]).ok()?.parse().ok()?;
    u16::try_from(v).ok().filter(|&p| p > 0).map(|p| (p, n))
}

/// Labels a line may use for a connection: a word joined to a letter or digit (`client-a`,
/// `conn#2`, `worker_3`) or a word followed by a number (`conn 2`, `session=17`, `conn #2`).
pub(crate) fn labels(text: &str) -> Vec<String> {
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '#'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    for (k, w) in words.iter().enumerate() {
        let lower = w.to_ascii_lowercase();
        let starts_alpha = w.as_bytes()[0].is_ascii_alphabetic();
        let joined = w.contains(['-', '_', '#']) && w.bytes().any(|c| c.is_ascii_alphanumeric());
        if starts_alpha && joined && !w.ends_with(['-', '_', '#']) {
            out.push(lower.clone());
        }
        let is_word = w.bytes().all(|c| c.is_ascii_alphabetic()) && w.len() >= 2;
        if is_word && !NOT_LABELS.contains(&lower.as_str()) && !PORT_WORDS.contains(&lower.as_str())
        {
            if let Some(next) = words.get(k + 1) {
                let digits = next.trim_start_matches('#');
                if !digits.is_empty()
                    && digits.len() <= 6
                    && digits.bytes().all(|c| c.is_ascii_digit())
                {
                    out.push(format!("{lower} {digits}"));
                }
            }
        }
    }
    out
}

/// The streams a set of references means: those matching every reference (a line naming both
/// ends), else those matching any; `None` when none of the capture's streams matches.
fn streams_for(refs: &[PortRef], streams: &[StreamEnds]) -> Option<Vec<u32>> {
    let hit =
        |r: &PortRef, a: &SocketAddr| a.port() == r.port && r.ip.is_none_or(|ip| ip == a.ip());
    let matches = |r: &PortRef| -> Vec<u32> {
        streams
            .iter()
            .filter(|s| hit(r, &s.client) || hit(r, &s.server))
            .map(|s| s.stream)
            .collect()
    };
    let sets: Vec<Vec<u32>> = refs.iter().map(matches).filter(|s| !s.is_empty()).collect();
    let first = sets.first()?;
    let all: Vec<u32> = first
        .iter()
        .copied()
        .filter(|s| sets.iter().all(|set| set.contains(s)))
        .collect();
    let mut chosen = if all.is_empty() { sets.concat() } else { all };
    chosen.sort_unstable();
    chosen.dedup();
    Some(chosen)
}

/// For every line, in file order, the streams it means, or `None` when it may mean any.
pub(crate) fn line_streams<'a>(
    lines: impl Iterator<Item = &'a str>,
    streams: &[StreamEnds],
) -> Vec<Option<Vec<u32>>> {
    // Label → the references of the latest line that tied it to a port.
    let mut bound: HashMap<String, Vec<PortRef>> = HashMap::new();
    lines
        .map(|text| {
            let refs = port_refs(text);
            if !refs.is_empty() {
                for l in labels(text) {
                    bound.insert(l, refs.clone());
                }
                return streams_for(&refs, streams);
            }
            if bound.is_empty() {
                return None;
            }
            let via: Vec<PortRef> = labels(text)
                .iter()
                .filter_map(|l| bound.get(l))
                .flatten()
                .copied()
                .collect();
            if via.is_empty() {
                None
            } else {
                streams_for(&via, streams)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(t: &str) -> Vec<u16> {
        port_refs(t).iter().map(|r| r.port).collect()
    }

    #[test]
    fn ports_a_line_names() {
        assert_eq!(ports("conn 2 connected (local port 39660)"), vec![39660]);
        assert_eq!(ports("error on :39660 after 3.9s"), vec![39660]);
        assert_eq!(
            ports("connected to 10.77.10.1:47010 from 10.77.10.11:38517"),
            vec![47010, 38517]
        );
        assert_eq!(ports("sport=5000 dport: 6000"), vec![5000, 6000]);
        assert_eq!(
            ports("failed on local_port=43749, remote_port 80"),
            vec![43749, 80]
        );
        assert_eq!(ports("peer [fd77:7::2]:47007 gone"), vec![47007]);
        assert_eq!(ports("db.example:5432 refused"), vec![5432]);
        // Times, durations, versions and sizes are not ports.
        for none in [
            "17:08:02 error at 17:08:10",
            "2024-03-01T17:08:02.123+01:00 x",
            "took 3.9s, port 0, port 70000, HTTP/1.1 200",
            "Mar  1 17:08:02 host app[12]: error",
            "fd77::2 and ::1",
            "\tat c.e.Client.read(Client.java:8080)",
            "main.main()\n\t/src/app/main.go:42 +0x1d",
        ] {
            assert_eq!(ports(none), Vec::<u16>::new(), "{none}");
        }
        assert_eq!(
            ports("terminating 10.77.66.13:52811: 3 pings without pong"),
            vec![52811]
        );
        let r = port_refs("from 10.0.0.2:50000");
        assert_eq!(r[0].ip, Some("10.0.0.2".parse().unwrap()));
    }

    #[test]
    fn labels_a_line_uses() {
        assert_eq!(labels("conn 2 connected"), vec!["conn 2"]);
        assert_eq!(labels("client-a info restart"), vec!["client-a"]);
        assert_eq!(
            labels("session=17 conn#3 worker_4"),
            vec!["session 17", "conn#3", "worker_4"]
        );
        assert!(labels("retry 2 after 3 heartbeats, errno 104").is_empty());
    }

    #[test]
    fn a_label_means_the_connection_its_port_names_until_rebound() {
        let s = |n: u32, c: &str, v: &str| StreamEnds {
            stream: n,
            client: c.parse().unwrap(),
            server: v.parse().unwrap(),
            first_ns: 0,
            last_ns: 0,
        };
        let streams = [
            s(0, "10.0.0.2:39660", "10.0.0.1:7000"),
            s(1, "10.0.0.2:39661", "10.0.0.1:7000"),
            s(2, "10.0.0.2:39662", "10.0.0.1:7000"),
        ];
        let lines = [
            "conn 1 connected (local port 39660)",
            "conn 2 connected (local port 39661)",
            "conn 2 error: heartbeat overdue",
            "error: something",
            "conn 2 connected (local port 39662)",
            "conn 2 restart",
            "connected to 10.0.0.1:7000 from 10.0.0.2:39661",
            "lost 10.0.0.1:7000",
            "port 4444 is not in the capture",
        ];
        let got = line_streams(lines.iter().copied(), &streams);
        assert_eq!(
            got,
            vec![
                Some(vec![0]),
                Some(vec![1]),
                Some(vec![1]),
                None,
                Some(vec![2]),
                Some(vec![2]),
                Some(vec![1]),
                Some(vec![0, 1, 2]),
                None,
            ]
        );
    }
}
