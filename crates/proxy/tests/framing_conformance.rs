//! The shared framing table (`crates/http/tests/framing-cases.tsv`) through the running proxy:
//! each case's response is what a raw upstream on a loopback socket sends, and a real client
//! (curl) reads what the proxy makes of it. The chunk-size cases also go the other way, as a
//! client's request body, which the proxy reads strictly before choosing an upstream.

mod common;
#[path = "../../http/tests/framing_cases/mod.rs"]
mod framing_cases;

use common::{opts, proxy_to};
use framing_cases::{cases, serve_raw, Expect};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

/// curl through the proxy: (status, body) when curl read a whole response, or curl's exit code.
fn through(proxy: SocketAddr) -> Result<(u16, Vec<u8>), i32> {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10"])
        .arg(format!("http://{proxy}/"))
        .output()
        .expect("curl runs (installed by .ci/run)");
    if out.status.code() != Some(0) {
        return Err(out.status.code().unwrap_or(-1));
    }
    let split = out.stdout.iter().rposition(|&b| b == b'\n').unwrap();
    let status = String::from_utf8_lossy(&out.stdout[split + 1..])
        .parse()
        .unwrap();
    Ok((status, out.stdout[..split].to_vec()))
}

#[test]
fn the_proxy_relays_or_refuses_every_upstream_response_as_the_table_says() {
    for case in cases() {
        let upstream = serve_raw(case.response.clone(), 2);
        let proxy = proxy_to(opts(), upstream, |u| u.keepalive = 0);
        let got = through(proxy.addr);
        match (&case.expect, &got) {
            (Expect::Ok(body) | Expect::Warn(_, body), Ok((200, relayed))) => {
                assert_eq!(relayed, body, "{}", case.name)
            }
            // Refused before the head went out, or cut after it: never a complete response.
            (Expect::Error(_), Ok((502, _)) | Err(_)) => {}
            _ => panic!(
                "{}: expected {:?}, the client got {got:?}",
                case.name, case.expect
            ),
        }
    }
}

const CHUNKED_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

/// Sends `request` to `addr` and returns the status of the first response.
fn status_of(addr: SocketAddr, request: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < 12 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert!(
        got.starts_with(b"HTTP/1.1 "),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    String::from_utf8_lossy(&got[9..12]).parse().unwrap()
}

#[test]
fn the_proxy_reads_every_chunked_request_body_as_the_table_says() {
    let mut run = 0;
    for case in cases() {
        let Some(body) = case.response.strip_prefix(CHUNKED_HEAD) else {
            continue;
        };
        let upstream = serve_raw(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
            2,
        );
        let proxy = proxy_to(opts(), upstream, |u| u.keepalive = 0);
        let mut request =
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                .to_vec();
        request.extend_from_slice(body);
        let want = match case.expect {
            Expect::Ok(_) | Expect::Warn(..) => 200,
            Expect::Error(_) => 400,
        };
        assert_eq!(status_of(proxy.addr, &request), want, "{}", case.name);
        run += 1;
    }
    assert!(run >= 20, "{run} chunked cases");
}
