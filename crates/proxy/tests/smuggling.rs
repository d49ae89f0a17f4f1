//! Request-smuggling vectors sent byte for byte from a raw Python socket to the proxy, with
//! nginx as the upstream. Each must be answered with one 400 (431 for an oversized head), the
//! connection closed, and nothing may reach nginx: its access log is the witness.

mod common;
use common::*;
use std::time::Duration;

const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

fn vectors() -> Vec<(&'static str, String, u16)> {
    let h = "POST / HTTP/1.1\r\nHost: test\r\n";
    vec![
        (
            "CL.TE",
            format!("{h}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            400,
        ),
        (
            "TE.CL",
            format!("{h}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n{SMUGGLED}\r\n0\r\n\r\n"),
            400,
        ),
        (
            "TE.TE second header",
            format!("{h}Transfer-Encoding: chunked\r\nTransfer-Encoding: cow\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            400,
        ),
        (
            "TE.TE xchunked",
            format!("{h}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            400,
        ),
        (
            "TE.TE chunked, identity",
            format!("{h}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            400,
        ),
        (
            "TE.TE vertical tab",
            format!("{h}Transfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            400,
        ),
        (
            "TE.TE space before colon",
            format!("{h}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            400,
        ),
        (
            "TE.TE obs-fold value",
            format!("{h}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            400,
        ),
        (
            "duplicate Content-Length",
            format!("{h}Content-Length: 3\r\nContent-Length: 40\r\n\r\nabc{SMUGGLED}"),
            400,
        ),
        (
            "Content-Length list",
            format!("{h}Content-Length: 3, 40\r\n\r\nabc{SMUGGLED}"),
            400,
        ),
        (
            "Content-Length sign",
            format!("{h}Content-Length: +3\r\n\r\nabc{SMUGGLED}"),
            400,
        ),
        (
            "space before colon",
            format!("{h}Content-Length : 3\r\n\r\nabc{SMUGGLED}"),
            400,
        ),
        (
            "obs-fold",
            format!("{h}X-Long: a\r\n b\r\nContent-Length: 0\r\n\r\n{SMUGGLED}"),
            400,
        ),
        (
            "chunk-size overflow 2^64",
            format!("{h}Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            400,
        ),
        (
            "chunk-size overflow long hex",
            format!("{h}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF1\r\nabc\r\n0\r\n\r\n{SMUGGLED}"),
            400,
        ),
        (
            "chunk size not hex",
            format!("{h}Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n{SMUGGLED}"),
            400,
        ),
        (
            "chunk size bare LF",
            format!("{h}Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n{SMUGGLED}"),
            400,
        ),
        (
            "chunk data overrun",
            format!("{h}Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n{SMUGGLED}"),
            400,
        ),
        (
            "TE in HTTP/1.0",
            format!("POST / HTTP/1.0\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            400,
        ),
        (
            "two Host headers",
            format!("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n{SMUGGLED}"),
            400,
        ),
        (
            "oversized head",
            format!("GET / HTTP/1.1\r\nHost: test\r\nX-Big: {}\r\n\r\n{SMUGGLED}", "a".repeat(20_000)),
            431,
        ),
    ]
}

#[test]
fn every_smuggling_vector_is_rejected_and_never_reaches_nginx() {
    let nginx = Nginx::start("", "location / { return 200 \"upstream\\n\"; }");
    let proxy = proxy_to(opts(), nginx.addr, |_| {});
    let port = proxy.addr.port().to_string();
    let mut failures = Vec::new();
    for (name, bytes, want) in vectors() {
        let r = peer(
            &["raw", "127.0.0.1", &port, &hex(bytes.as_bytes()), "5"],
            Duration::from_secs(20),
        );
        let raw = r["data"].as_str().unwrap();
        let got = statuses(raw);
        let after = r["after"].as_str().unwrap();
        let closes = raw.contains("Connection: close");
        if got != vec![want] || after != "eof" || !closes {
            failures.push(format!(
                "{name}: statuses {got:?}, after {after}, close header {closes}\n{raw}"
            ));
        }
    }
    let reached = nginx.access_log();
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
    assert!(reached.is_empty(), "requests reached nginx: {reached:?}");
    // Each rejection was logged with its reason.
    let log = proxy.log_lines();
    assert_eq!(log.len(), vectors().len(), "{log:#?}");
    assert!(log.iter().all(|l| l.contains(" bad-request ")), "{log:#?}");
}

/// The positive control: the same connection shapes, well formed, do pass, with the framing
/// re-declared for nginx. Without it the test above would pass against a proxy that refuses
/// everything.
#[test]
fn well_formed_bodies_pass_reframed() {
    let nginx = Nginx::start("", "location / { return 200 \"upstream\\n\"; }");
    let proxy = proxy_to(opts(), nginx.addr, |_| {});
    let port = proxy.addr.port().to_string();
    let chunked = "POST /chunked HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n";
    let length = "POST /length HTTP/1.1\r\nHost: test\r\nContent-Length: 5, 5\r\n\r\nabcde";
    let tab = "POST /tab HTTP/1.1\r\nHost: test\r\nTransfer-Encoding:\tchunked\r\nConnection: close\r\n\r\n0\r\n\r\n";
    let all = format!("{chunked}{length}{tab}");
    let r = peer(
        &["raw", "127.0.0.1", &port, &hex(all.as_bytes()), "5"],
        Duration::from_secs(20),
    );
    let raw = r["data"].as_str().unwrap();
    assert_eq!(statuses(raw), vec![200, 200, 200], "{raw}");
    assert_eq!(r["after"], "eof");
    let log = nginx.access_log();
    assert_eq!(log.len(), 3, "{log:?}");
    // Small bodies are buffered and sent with their length (nginx's proxy_request_buffering).
    assert!(
        log[0].contains("\"POST /chunked HTTP/1.1\" 200 cl=\"5\" te=\"-\""),
        "{}",
        log[0]
    );
    assert!(
        log[1].contains("\"POST /length HTTP/1.1\" 200 cl=\"5\" te=\"-\""),
        "{}",
        log[1]
    );
    assert!(
        log[2].contains("\"POST /tab HTTP/1.1\" 200 cl=\"0\" te=\"-\""),
        "{}",
        log[2]
    );
}
