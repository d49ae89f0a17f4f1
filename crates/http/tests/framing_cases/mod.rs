//! The shared framing conformance table (`crates/http/tests/framing-cases.tsv`), parsed. Used
//! by the conformance tests of keepsight-http, keepsight-proxy and keepsight-probe (included
//! with `#[path]`), so all readers run the same cases.
#![allow(dead_code)]

/// What strict readers must do with a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Read it, delivering `body`.
    Ok(Vec<u8>),
    /// Read it, delivering `body`, and note the anomaly.
    Warn(String, Vec<u8>),
    /// Refuse it for this reason.
    Error(String),
}

impl Expect {
    /// The body a reader delivers, when it reads the message at all.
    pub(crate) fn body(&self) -> Option<&[u8]> {
        match self {
            Expect::Ok(b) | Expect::Warn(_, b) => Some(b),
            Expect::Error(_) => None,
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) response: Vec<u8>,
    pub(crate) expect: Expect,
    /// The analyzer's verdict name on the response, `None` for no verdict.
    pub(crate) analyzer: Option<String>,
    /// curl's verdict: true when it reads the response without error.
    pub(crate) curl_ok: bool,
    pub(crate) note: String,
}

const TABLE: &str = include_str!("../framing-cases.tsv");

/// C-style unescaping: `\r \n \t \\ \xNN`.
pub(crate) fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            other => panic!("bad escape {other:?} in {s:?}"),
        }
        i += 2;
    }
    out
}

/// Every case of the table.
pub(crate) fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (n, line) in TABLE.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        assert!(f.len() >= 6, "line {}: {} fields", n + 1, f.len());
        let body = || unescape(f[3]);
        let expect = match f[2].split_once(':') {
            None if f[2] == "ok" => Expect::Ok(body()),
            Some(("warn", a)) => Expect::Warn(a.to_string(), body()),
            Some(("error", r)) => Expect::Error(r.to_string()),
            _ => panic!("line {}: verdict {:?}", n + 1, f[2]),
        };
        out.push(Case {
            name: f[0].to_string(),
            response: unescape(f[1]),
            expect,
            analyzer: (f[4] != "-").then(|| f[4].to_string()),
            curl_ok: match f[5] {
                "ok" => true,
                "error" => false,
                v => panic!("line {}: curl {v:?}", n + 1),
            },
            note: f.get(6).unwrap_or(&"").to_string(),
        });
    }
    assert!(out.len() >= 30, "the table has {} cases", out.len());
    out
}

/// Serves `response` on a loopback socket to each of `connections` clients, after reading
/// their request head, then closes (a close-delimited body ends there).
pub(crate) fn serve_raw(response: Vec<u8>, connections: usize) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..connections {
            let Ok((mut s, _)) = l.accept() else { return };
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(&response);
        }
    });
    addr
}

/// curl's verdict on what `addr` serves: the body, or curl's exit code.
pub(crate) fn curl(addr: std::net::SocketAddr) -> Result<Vec<u8>, i32> {
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "-", "--max-time", "5"])
        .arg(format!("http://{addr}/"))
        .output()
        .expect("curl runs (installed by .ci/run)");
    match out.status.code() {
        Some(0) => Ok(out.stdout),
        code => Err(code.unwrap_or(-1)),
    }
}
