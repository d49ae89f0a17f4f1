//! Scenario tests over hand-built segments, and randomized never-panic / segmentation-invariance
//! tests. Expected values come from what each hand-made server "sent" (the bytes below).

use crate::model::*;
use crate::{Analyzer, Options};
use keepsight_tcp::{flag, AnalysisFlags, Segment, TcpFlags};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;

const C: usize = 0;
const S: usize = 1;

/// Builds one TCP connection's segments: handshake, data, FIN, RST, with frame numbers and
/// times.
struct Wire {
    addr: [SocketAddr; 2],
    seq: [u32; 2],
    frame: u32,
    t: i64,
    stream: u32,
    a: Analyzer,
}

impl Wire {
    fn new() -> Self {
        Self::with(Options {
            keep_all_messages: true,
        })
    }
    fn with(o: Options) -> Self {
        let mut w = Wire {
            addr: [
                "10.0.0.2:40000".parse().unwrap(),
                "10.0.0.1:80".parse().unwrap(),
            ],
            seq: [1000, 5000],
            frame: 0,
            t: 1_000_000_000,
            stream: 0,
            a: Analyzer::new(o),
        };
        w.raw(C, 0x02, w.seq[C], 0, &[], 0, false);
        w.seq[C] += 1;
        w.raw(S, 0x12, w.seq[S], w.seq[C], &[], 0, false);
        w.seq[S] += 1;
        w.ack(C);
        w
    }
    #[allow(clippy::too_many_arguments)]
    fn raw(
        &mut self,
        d: usize,
        flags: u16,
        seq: u32,
        ack: u32,
        p: &[u8],
        len: u32,
        ka: bool,
    ) -> u32 {
        self.frame += 1;
        self.a.segment(&Segment {
            frame: self.frame,
            ts_ns: self.t,
            stream: self.stream,
            src: self.addr[d],
            dst: self.addr[1 - d],
            flags: TcpFlags(flags),
            seq,
            ack,
            len,
            payload: p,
            window: 64_000,
            ttl: 64,
            analysis: AnalysisFlags(if ka { flag::KEEP_ALIVE } else { 0 }),
        });
        self.frame
    }
    fn wait(&mut self, ms: i64) {
        self.t += ms * 1_000_000;
    }
    fn send(&mut self, d: usize, p: &[u8]) -> u32 {
        let (s, a) = (self.seq[d], self.seq[1 - d]);
        self.seq[d] = s.wrapping_add(p.len() as u32);
        self.raw(d, 0x18, s, a, p, p.len() as u32, false)
    }
    fn ack(&mut self, d: usize) -> u32 {
        let (s, a) = (self.seq[d], self.seq[1 - d]);
        self.raw(d, 0x10, s, a, &[], 0, false)
    }
    fn fin(&mut self, d: usize) -> u32 {
        let (s, a) = (self.seq[d], self.seq[1 - d]);
        self.seq[d] += 1;
        self.raw(d, 0x11, s, a, &[], 0, false)
    }
    fn rst(&mut self, d: usize) -> u32 {
        let s = self.seq[d];
        self.raw(d, 0x04, s, 0, &[], 0, false)
    }
    fn report(self) -> Report {
        self.a.finish()
    }
}

fn conn(r: &Report) -> &Connection {
    assert_eq!(r.connections.len(), 1, "{:#?}", r.connections);
    &r.connections[0]
}

fn responses(c: &Connection) -> Vec<&Message> {
    c.messages
        .iter()
        .filter(|m| m.kind == Kind::Response)
        .collect()
}

fn resp(body: &str, extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn request_limit_close_and_pairing() {
    let mut w = Wire::new();
    let mut req_frames = Vec::new();
    let mut resp_frames = Vec::new();
    for i in 0..3 {
        req_frames.push(w.send(
            C,
            format!("GET /{i} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes(),
        ));
        w.wait(1);
        let extra = if i == 2 {
            "Connection: close\r\n"
        } else {
            "Connection: keep-alive\r\n"
        };
        resp_frames.push(w.send(S, &resp("hello", extra)));
        w.wait(200);
    }
    let fin = w.fin(S);
    w.fin(C);
    let r = w.report();
    let c = conn(&r);
    assert_eq!((c.requests, c.responses), (3, 3));
    assert_eq!(
        c.close,
        Close::ServerRequestLimit {
            frame: fin,
            after: 3
        }
    );
    for (i, m) in responses(c).iter().enumerate() {
        assert_eq!(m.request_in, Some(req_frames[i]));
        assert_eq!(m.frame, resp_frames[i]);
        assert_eq!(m.time_ns, Some(1_000_000));
        assert!(m.verdicts.is_empty());
    }
    let reqs: Vec<_> = c
        .messages
        .iter()
        .filter(|m| m.kind == Kind::Request)
        .collect();
    assert_eq!(reqs[1].response_in, Some(resp_frames[1]));
    assert_eq!(c.idle_gaps_ns, vec![200_000_000, 200_000_000]);
    assert_eq!(r.servers[0].request_limit, Some(3));
    assert!(r
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::HttpRequestLimitClose));
}

#[test]
fn idle_close_then_reuse_race() {
    let mut w = Wire::new();
    w.send(C, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(S, &resp("ok", "Keep-Alive: timeout=2, max=100\r\n"));
    w.wait(2000);
    let fin = w.fin(S);
    w.ack(C);
    w.wait(600);
    let req = w.send(C, b"GET /again HTTP/1.1\r\nHost: h\r\n\r\n");
    let rst = w.rst(S);
    let r = w.report();
    let c = conn(&r);
    assert_eq!(
        c.close,
        Close::ReuseRace {
            request_frame: req,
            fin_frame: fin,
            rst_frame: Some(rst),
            idle_ns: 2_000_000_000,
            sent_after_fin_ns: 600_000_000
        }
    );
    assert_eq!(c.keep_alive_timeout_s, Some(2));
    assert!(c.persistence.contains("timeout=2") && c.persistence.contains("max=100"));
    assert_eq!(r.servers[0].idle_closes, 1);
    assert!(r
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::HttpReuseRace));
}

#[test]
fn request_crossing_the_fin_is_a_race_too() {
    let mut w = Wire::new();
    w.send(C, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(S, &resp("ok", ""));
    w.wait(5000);
    // The client's request is captured first, but the server's FIN does not acknowledge it.
    let req = w.send(C, b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    let s = w.seq[S];
    let fin = w.raw(S, 0x11, s, w.seq[C] - 30, &[], 0, false);
    w.rst(S);
    let r = w.report();
    assert!(
        matches!(conn(&r).close, Close::ReuseRace { request_frame, fin_frame, .. } if request_frame == req && fin_frame == fin)
    );
}

#[test]
fn plain_idle_close() {
    let mut w = Wire::new();
    w.send(C, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(S, &resp("ok", ""));
    w.wait(75_000);
    let fin = w.fin(S);
    w.fin(C);
    let r = w.report();
    assert_eq!(
        conn(&r).close,
        Close::ServerIdleTimeout {
            frame: fin,
            idle_ns: 75_000_000_000
        }
    );
    assert!(r
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::HttpIdleClose));
}

#[test]
fn short_body_then_client_gives_up() {
    let mut w = Wire::new();
    w.send(C, b"GET /short HTTP/1.1\r\nHost: h\r\n\r\n");
    let f = w.send(
        S,
        b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n0123456789",
    );
    w.wait(1000);
    let cfin = w.fin(C);
    let sfin = w.fin(S);
    let r = w.report();
    let c = conn(&r);
    let m = responses(c)[0];
    assert_eq!(m.header_frame, f);
    assert_eq!(m.frame, 0);
    assert_eq!(
        m.verdicts,
        vec![Verdict::BodyShorterThanLength {
            declared: 12,
            received: 10,
            ended: End::Fin(sfin)
        }]
    );
    assert_eq!(
        c.close,
        Close::ClientGaveUp {
            frame: cfin,
            waited_ns: 1_000_000_000
        }
    );
}

#[test]
fn short_body_followed_by_next_response() {
    let mut w = Wire::new();
    w.send(C, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(
        S,
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello worl",
    );
    w.send(C, b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    let next = w.send(S, &resp("second", ""));
    let r = w.report();
    let c = conn(&r);
    let rs = responses(c);
    assert_eq!(rs.len(), 2);
    assert_eq!(
        rs[0].verdicts,
        vec![Verdict::BodyShorterThanLength {
            declared: 11,
            received: 10,
            ended: End::NextMessage(next)
        }]
    );
    assert!(rs[1].verdicts.is_empty());
    assert_eq!(rs[1].number, 2);
}

#[test]
fn long_body_excess_goes_in_front_of_next_response() {
    let mut w = Wire::new();
    w.send(C, b"GET /long HTTP/1.1\r\nHost: h\r\n\r\n");
    let f = w.send(
        S,
        b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n0123456789ABC",
    );
    w.send(C, b"GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
    let next = w.send(S, &resp("ok\n", ""));
    let r = w.report();
    let c = conn(&r);
    let rs = responses(c);
    assert_eq!(rs.len(), 2);
    assert_eq!(
        rs[0].verdicts,
        vec![Verdict::BodyLongerThanLength {
            declared: 12,
            excess: 1,
            excess_frame: f,
            next_frame: Some(next)
        }]
    );
    assert_eq!(rs[1].number, 2);
    assert_eq!(rs[1].frame, next);
}

#[test]
fn chunked_in_pieces_with_extension_and_trailer() {
    let mut w = Wire::new();
    w.send(C, b"GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(S, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    w.send(S, b"b;ext=1\r\n01234567890\r\n");
    w.send(S, b"5\r\n123");
    let last = w.send(S, b"45\r\n0\r\nX-Trailer: y\r\n\r\n");
    w.send(C, b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(S, &resp("ok", ""));
    let r = w.report();
    let c = conn(&r);
    let rs = responses(c);
    assert_eq!(rs.len(), 2);
    assert!(rs[0].verdicts.is_empty(), "{:?}", rs[0].verdicts);
    assert_eq!(rs[0].framing, Framing::Chunked);
    assert_eq!(rs[0].frame, last);
    assert!(rs[1].verdicts.is_empty());
}

#[test]
fn unterminated_and_invalid_chunks() {
    let mut w = Wire::new();
    w.send(C, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(
        S,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n01234567890\r\n",
    );
    let fin = w.fin(S);
    let r = w.report();
    assert_eq!(
        responses(conn(&r))[0].verdicts,
        vec![Verdict::UnterminatedChunked {
            received: 16,
            ended: End::Fin(fin)
        }]
    );

    let mut w = Wire::new();
    w.send(C, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let f = w.send(
        S,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    );
    let r = w.report();
    assert_eq!(
        responses(conn(&r))[0].verdicts,
        vec![Verdict::InvalidChunk {
            frame: f,
            line: "zz".into()
        }]
    );
}

#[test]
fn header_verdicts() {
    let mut w = Wire::new();
    w.send(C, b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    w.send(
        S,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    );
    let r = w.report();
    let c = conn(&r);
    assert_eq!(c.messages[0].verdicts, vec![Verdict::TeAndLength]);
    assert!(
        matches!(&responses(c)[0].verdicts[0], Verdict::DuplicateContentLength { values } if values == &["2", "3"])
    );
    let kinds: Vec<_> = r.findings.iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&FindingKind::HttpTeAndLength));
}

#[test]
fn response_without_request() {
    let mut w = Wire::new();
    w.send(S, &resp("unasked", ""));
    let r = w.report();
    assert_eq!(
        responses(conn(&r))[0].verdicts,
        vec![Verdict::ResponseWithoutRequest]
    );
}

#[test]
fn no_body_cases_head_304_204_and_100_continue() {
    let mut w = Wire::new();
    w.send(C, b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    w.send(C, b"GET /n HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(
        S,
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n",
    );
    w.send(C, b"DELETE /d HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(S, b"HTTP/1.1 204 No Content\r\n\r\n");
    w.send(
        C,
        b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    );
    w.send(S, b"HTTP/1.1 100 Continue\r\n\r\n");
    w.send(C, b"abc");
    w.send(S, &resp("done", ""));
    let r = w.report();
    let c = conn(&r);
    assert_eq!((c.requests, c.responses), (4, 4));
    assert!(
        c.messages.iter().all(|m| m.verdicts.is_empty()),
        "{:#?}",
        c.messages
    );
    let codes: Vec<_> = responses(c)
        .iter()
        .map(|m| (m.code.unwrap(), m.number))
        .collect();
    assert_eq!(
        codes,
        vec![(200, 1), (304, 2), (204, 3), (100, 4), (200, 4)]
    );
}

#[test]
fn pipelined_requests_and_responses() {
    let mut w = Wire::new();
    let rq = w.send(
        C,
        b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    let mut both = resp("one", "");
    both.extend(resp("two", ""));
    let rs = w.send(S, &both);
    let r = w.report();
    let c = conn(&r);
    let got: Vec<_> = c
        .messages
        .iter()
        .map(|m| (m.kind, m.number, m.frame, m.request_in, m.response_in))
        .collect();
    assert!(got.contains(&(Kind::Request, 1, rq, None, Some(rs))));
    assert!(got.contains(&(Kind::Request, 2, rq, None, Some(rs))));
    assert!(got.contains(&(Kind::Response, 2, rs, Some(rq), None)));
}

#[test]
fn http10_keep_alive_and_implicit_close() {
    let mut w = Wire::new();
    w.send(C, b"GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    w.send(
        S,
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello",
    );
    w.send(C, b"GET /ka2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    w.send(
        S,
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello",
    );
    let cfin = w.fin(C);
    w.fin(S);
    let r = w.report();
    let c = conn(&r);
    assert_eq!(c.version, 0);
    assert!(c.persistence.contains("keep-alive"));
    assert!(matches!(c.close, Close::ClientClose { frame, .. } if frame == cfin));

    let mut w = Wire::new();
    w.send(C, b"GET / HTTP/1.0\r\n\r\n");
    w.send(S, b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let sfin = w.fin(S);
    let r = w.report();
    assert_eq!(
        conn(&r).close,
        Close::ServerSaidClose {
            frame: sfin,
            after: 1
        }
    );
}

#[test]
fn close_delimited_body_ends_at_fin() {
    let mut w = Wire::new();
    w.send(C, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(
        S,
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nclose-delimited body",
    );
    let fin = w.fin(S);
    let r = w.report();
    let c = conn(&r);
    let m = responses(c)[0];
    assert_eq!(
        (m.frame, m.body_bytes, m.framing),
        (fin, 20, Framing::UntilClose)
    );
    assert!(m.verdicts.is_empty());
    assert_eq!(c.close, Close::ServerEndOfBody { frame: fin });
}

#[test]
fn retransmission_reordering_and_keepalive_probe_do_not_corrupt() {
    let mut w = Wire::new();
    w.send(C, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let body = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
    let base = w.seq[S];
    let a = w.seq[C];
    // Second half first, then the first half, then a retransmission of everything.
    w.raw(
        S,
        0x18,
        base + 20,
        a,
        &body[20..],
        (body.len() - 20) as u32,
        false,
    );
    w.raw(S, 0x18, base, a, &body[..20], 20, false);
    w.raw(S, 0x18, base, a, body, body.len() as u32, false);
    w.seq[S] = base + body.len() as u32;
    // A keep-alive probe from the client: one old byte (unflagged, so only the sequence
    // numbers save us), then a flagged one.
    let cs = w.seq[C];
    w.raw(C, 0x10, cs - 1, w.seq[S], b"\0", 1, false);
    w.raw(C, 0x10, cs - 1, w.seq[S], b"\0", 1, true);
    w.send(C, b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(S, &resp("x", ""));
    let r = w.report();
    let c = conn(&r);
    assert_eq!((c.requests, c.responses), (2, 2));
    assert!(
        c.messages.iter().all(|m| m.verdicts.is_empty()),
        "{:#?}",
        c.messages
    );
}

#[test]
fn capture_gap_in_body_is_not_a_short_body() {
    let mut w = Wire::new();
    w.send(C, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
    w.seq[S] += 3; // three bytes the capture missed
    w.send(S, b"89");
    w.send(C, b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(S, &resp("x", ""));
    w.fin(S);
    let r = w.report();
    let c = conn(&r);
    let rs = responses(c);
    assert_eq!(rs[0].verdicts, vec![Verdict::CaptureGap { bytes: 3 }]);
    assert!(!rs[0].is_faulty());
    assert!(rs[1].verdicts.is_empty());
    assert_eq!(r.faulty_messages, 0);
}

#[test]
fn non_http_is_ignored_and_bounded_mode_keeps_only_faults() {
    let mut w = Wire::new();
    w.send(C, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
    w.send(S, b"\x16\x03\x03\x00\x7a\x02");
    let r = w.report();
    assert!(r.connections.is_empty());

    let mut w = Wire::with(Options::default());
    for _ in 0..100 {
        w.send(C, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        w.send(S, &resp("ok", ""));
    }
    w.send(C, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok");
    w.fin(S);
    let r = w.report();
    let c = conn(&r);
    assert_eq!(c.messages.len(), 1);
    assert_eq!((c.message_count, c.faulty_count), (202, 1));
}

// ---------------------------------------------------------------- randomized

/// Valid keep-alive exchanges with every framing kind: (request bytes, response bytes).
fn valid_exchanges(rng: &mut StdRng) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..rng.gen_range(1..6) {
        let mut c = Vec::new();
        let mut s = Vec::new();
        match rng.gen_range(0..4) {
            0 => {
                c.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
                let body: String = (0..rng.gen_range(0..300))
                    .map(|k| (b'a' + (k % 26) as u8) as char)
                    .collect();
                s.extend(resp(&body, ""));
            }
            1 => {
                c.extend_from_slice(b"POST /p HTTP/1.1\r\nContent-Length: 7\r\n\r\npayload");
                s.extend_from_slice(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n");
                for _ in 0..rng.gen_range(0..4) {
                    let n = rng.gen_range(1..40);
                    s.extend_from_slice(format!("{n:x};e=v\r\n").as_bytes());
                    s.resize(s.len() + n, b'z');
                    s.extend_from_slice(b"\r\n");
                }
                s.extend_from_slice(b"0\r\nT: 1\r\n\r\n");
            }
            2 => {
                c.extend_from_slice(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
                s.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n");
            }
            _ => {
                c.extend_from_slice(b"GET /n HTTP/1.1\r\nHost: h\r\n\r\n");
                s.extend_from_slice(b"HTTP/1.1 304 Not Modified\r\n\r\n");
            }
        }
        out.push((c, s));
    }
    out
}

/// Sends each exchange (request, then response) in random pieces, with random
/// retransmissions, same-direction reordering and keep-alive probes — none of which may change
/// the result.
fn run_exchanges(rng: &mut StdRng, ex: &[(Vec<u8>, Vec<u8>)], chaos: bool) -> Report {
    let mut w = Wire::new();
    for (c, s) in ex {
        for (d, bytes) in [(C, c), (S, s)] {
            let base = w.seq[d];
            let ack = w.seq[1 - d];
            let mut off = 0;
            let mut held: Option<(u32, Vec<u8>)> = None;
            while off < bytes.len() {
                let n = rng.gen_range(1..=64).min(bytes.len() - off);
                let seq = base.wrapping_add(off as u32);
                let piece = bytes[off..off + n].to_vec();
                off += n;
                if chaos && held.is_none() && off < bytes.len() && rng.gen_bool(0.2) {
                    held = Some((seq, piece));
                    continue;
                }
                w.raw(d, 0x18, seq, ack, &piece, n as u32, false);
                if let Some((hs, hp)) = held.take() {
                    w.raw(d, 0x18, hs, ack, &hp, hp.len() as u32, false);
                }
                if chaos && rng.gen_bool(0.1) {
                    let k = rng.gen_range(1..=n);
                    w.raw(d, 0x18, seq, ack, &piece[..k], k as u32, false);
                }
                if chaos && rng.gen_bool(0.05) {
                    let s1 = base.wrapping_add(off as u32 - 1);
                    w.raw(d, 0x10, s1, ack, b"\0", 1, rng.gen_bool(0.5));
                }
            }
            w.seq[d] = base.wrapping_add(bytes.len() as u32);
        }
    }
    w.fin(C);
    w.fin(S);
    w.report()
}

type Summary = Vec<(Kind, u32, Option<u16>, u64, Vec<Verdict>)>;

fn summary(r: &Report) -> Summary {
    let mut v: Vec<_> = r
        .connections
        .iter()
        .flat_map(|c| c.messages.iter())
        .map(|m| (m.kind, m.number, m.code, m.body_bytes, m.verdicts.clone()))
        .collect();
    v.sort();
    v
}

#[test]
fn segmentation_retransmission_and_reordering_do_not_change_the_result() {
    let iters: u64 = std::env::var("KEEPSIGHT_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    for seed in 0..iters {
        let mut rng = StdRng::seed_from_u64(seed);
        let ex = valid_exchanges(&mut rng);
        let whole = {
            let mut w = Wire::new();
            for (c, s) in &ex {
                w.send(C, c);
                w.send(S, s);
            }
            w.fin(C);
            w.fin(S);
            w.report()
        };
        let expect = summary(&whole);
        assert!(
            expect.iter().all(|m| m.4.is_empty()),
            "seed {seed}: {expect:?}"
        );
        let chopped = run_exchanges(&mut rng, &ex, seed % 2 == 1);
        assert_eq!(summary(&chopped), expect, "seed {seed}");
    }
}

/// Messages drained during the pass (as `keepsight expert` does) are the report's messages, in
/// the same per-connection order, with the same expert text and frame.
#[test]
fn drained_messages_are_the_reported_ones_in_order() {
    let lines = |ms: &mut dyn Iterator<Item = &Message>| -> Vec<(u32, String)> {
        ms.map(|m| {
            let mut l = String::new();
            crate::expert_line(m, &mut l);
            (m.frame, l)
        })
        .collect()
    };
    for seed in 0..50 {
        let mut rng = StdRng::seed_from_u64(seed);
        let ex = valid_exchanges(&mut rng);
        let (mut kept, mut drained) = (Wire::new(), Wire::new());
        let mut got = Vec::new();
        for (c, s) in &ex {
            for w in [&mut kept, &mut drained] {
                w.send(C, c);
                w.send(S, s);
            }
            drained
                .a
                .drain_messages(&mut |m| got.extend(lines(&mut std::iter::once(m))));
        }
        // Messages are final once the next one starts: some were handed over mid-connection.
        assert!(ex.len() < 2 || !got.is_empty(), "seed {seed}");
        for w in [&mut kept, &mut drained] {
            w.fin(C);
            w.fin(S);
        }
        // The connection is over: what is left is with the finished connections.
        drained
            .a
            .drain_messages(&mut |m| got.extend(lines(&mut std::iter::once(m))));
        assert!(drained.report().connections.is_empty(), "seed {seed}");
        let want = lines(&mut kept.report().connections.iter().flat_map(|c| &c.messages));
        assert!(!want.is_empty() && want.iter().all(|(f, _)| *f != 0));
        assert_eq!(got, want, "seed {seed}");
    }
}

#[test]
fn hostile_bytes_never_panic() {
    let iters: u64 = std::env::var("KEEPSIGHT_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let pieces: [&[u8]; 14] = [
        b"HTTP/1.1 200 OK\r\n",
        b"GET / HTTP/1.1\r\n",
        b"Content-Length: 5\r\n",
        b"Content-Length: 99999999999999999999\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"\r\n",
        b"\n",
        b"ffffffffffffffff\r\n",
        b"0\r\n\r\n",
        b"5;x\r\nhello\r\n",
        b"HTTP/1.1 101 Switching\r\n\r\n",
        b"HEAD / HTTP/1.0\r\n\r\n",
        b"\x00\xff\x7f",
        b"HTTP/1.",
    ];
    for seed in 0..iters {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        let mut streams = [Vec::new(), Vec::new()];
        for st in &mut streams {
            for _ in 0..rng.gen_range(0..40) {
                if rng.gen_bool(0.8) {
                    st.extend_from_slice(pieces[rng.gen_range(0..pieces.len())]);
                } else {
                    for _ in 0..rng.gen_range(0..50) {
                        st.push(rng.gen());
                    }
                }
            }
        }
        let mut w = Wire::new();
        for _ in 0..rng.gen_range(0..200) {
            let d = rng.gen_range(0..2);
            let len = streams[d].len();
            if len == 0 {
                continue;
            }
            let off = rng.gen_range(0..len);
            let n = rng.gen_range(0..=(len - off).min(100));
            // Random sequence numbers around the stream, random flags, random snap cuts.
            let seq = w.seq[d]
                .wrapping_add(off as u32)
                .wrapping_add(rng.gen_range(0..3))
                .wrapping_sub(rng.gen_range(0..3));
            let cut = rng.gen_range(0..=n);
            let flags = [0x18u16, 0x10, 0x11, 0x04, 0x02, 0x12][rng.gen_range(0..6)];
            let ack = rng.gen();
            let p = streams[d][off..off + cut].to_vec();
            w.raw(
                d,
                flags,
                seq,
                ack,
                &p,
                n as u32 + rng.gen_range(0..2),
                rng.gen_bool(0.05),
            );
            w.stream = rng.gen_range(0..3);
        }
        let r = w.report();
        let _ = serde_json::to_string(&r).unwrap();
        let _ = crate::FrameIndex::new(&r);
    }
}

#[test]
fn frame_index_gives_tshark_fields() {
    let mut w = Wire::new();
    let rq = w.send(C, b"GET /a HTTP/1.1\r\nHost: example\r\n\r\n");
    w.wait(5);
    let rs = w.send(S, &resp("hi", "Connection: keep-alive\r\n"));
    let r = w.report();
    let idx = crate::FrameIndex::new(&r);
    let get = |f: u32, name: &str| {
        let mut v = Vec::new();
        assert!(idx.visit(&r, f, name, &mut |x| v.push(format!("{x:?}"))));
        v
    };
    assert_eq!(get(rq, "http.request.method"), ["Str(\"GET\")"]);
    assert_eq!(get(rq, "http.host"), ["Str(\"example\")"]);
    assert_eq!(get(rq, "http.response_in"), [format!("FrameNum({rs})")]);
    assert_eq!(get(rs, "http.request_in"), [format!("FrameNum({rq})")]);
    assert_eq!(get(rs, "http.response.code"), ["UInt(200)"]);
    assert_eq!(get(rs, "http.time"), ["RelTime(5000000)"]);
    assert_eq!(get(rs, "http.content_length"), ["UInt(2)"]);
    assert!(get(rs, "http.request").is_empty());
    assert!(!idx.visit(&r, rs, "http.nonsense", &mut |_| {}));
}

/// Two requests pipelined in one frame, answered in two frames: tshark 4.0.17 keys its
/// request/response record by frame and fills the newest one, so both requests show the first
/// response, which shows the frame of the requests, and the second response shows no request
/// and no time. The analysis itself still pairs them in order.
#[test]
fn frame_index_pairs_pipelined_requests_as_tshark_does() {
    let mut w = Wire::new();
    let rq = w.send(
        C,
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    w.wait(5);
    let first = w.send(S, &resp("a", ""));
    w.wait(1);
    let second = w.send(S, &resp("b", ""));
    let r = w.report();
    let idx = crate::FrameIndex::new(&r);
    let get = |f: u32, name: &str| {
        let mut v = Vec::new();
        assert!(idx.visit(&r, f, name, &mut |x| v.push(format!("{x:?}"))));
        v
    };
    let resp_in = format!("FrameNum({first})");
    assert_eq!(get(rq, "http.response_in"), [resp_in.clone(), resp_in]);
    assert_eq!(get(first, "http.request_in"), [format!("FrameNum({rq})")]);
    assert_eq!(get(first, "http.time"), ["RelTime(5000000)"]);
    assert!(get(second, "http.request_in").is_empty());
    assert!(get(second, "http.time").is_empty());
    let responses: Vec<Option<u32>> = r.connections[0]
        .messages
        .iter()
        .filter(|m| m.kind == Kind::Response)
        .map(|m| m.request_in)
        .collect();
    assert_eq!(responses, [Some(rq), Some(rq)]);
}

#[test]
fn capture_starting_mid_body_resyncs_at_the_next_message() {
    let mut a = Analyzer::new(Options {
        keep_all_messages: true,
    });
    let c: SocketAddr = "10.0.0.2:40000".parse().unwrap();
    let s: SocketAddr = "10.0.0.1:80".parse().unwrap();
    let mut frame = 0;
    let mut seg = |src, dst, seq: u32, p: &[u8]| {
        frame += 1;
        a.segment(&Segment {
            frame,
            ts_ns: i64::from(frame),
            stream: 7,
            src,
            dst,
            flags: TcpFlags(TcpFlags::PSH | TcpFlags::ACK),
            seq,
            ack: 1,
            len: p.len() as u32,
            payload: p,
            window: 64_000,
            ttl: 64,
            analysis: AnalysisFlags::default(),
        });
    };
    let tail: &[u8] = b"tail of some body the capture missed the start of";
    seg(s, c, 100, tail);
    seg(c, s, 500, b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    seg(
        s,
        c,
        100 + tail.len() as u32,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    );
    let r = a.finish();
    let conn = &r.connections[0];
    assert!(!conn.saw_syn);
    assert_eq!((conn.requests, conn.responses), (1, 1));
    assert!(conn.messages.iter().all(|m| m.verdicts.is_empty()));
}

#[test]
fn upgrade_stops_http_parsing_in_both_directions() {
    let mut w = Wire::new();
    w.send(
        C,
        b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    w.send(
        S,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    // WebSocket frames that happen to contain text looking like HTTP.
    w.send(C, b"\x81\x8aGET / HTTP/1.1\r\n\r\n");
    w.send(S, b"\x81\x05HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n");
    let r = w.report();
    let c = conn(&r);
    assert_eq!((c.requests, c.responses), (1, 1));
    assert!(c.messages.iter().all(|m| m.verdicts.is_empty()));
}

#[test]
fn long_stray_runs_and_huge_headers_stay_bounded_and_exact() {
    let mut w = Wire::new();
    w.send(C, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    let f = w.send(S, &resp("ok", ""));
    // 100 000 stray bytes (more than the scan buffer keeps) in 1000-byte segments.
    for _ in 0..100 {
        w.send(S, &[b'x'; 1000]);
    }
    w.send(C, b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    let next = w.send(S, &resp("fine", ""));
    let r = w.report();
    let rs = responses(conn(&r));
    assert_eq!(
        rs[0].verdicts,
        vec![Verdict::BodyLongerThanLength {
            declared: 2,
            excess: 100_000,
            excess_frame: f + 1,
            next_frame: Some(next)
        }]
    );
    assert_eq!((rs[1].number, rs[1].frame), (2, next));

    // A 100 KB header section: given up on (bounded), no panic, the next message still parses.
    let mut w = Wire::new();
    let mut big = b"GET /big HTTP/1.1\r\nX: ".to_vec();
    big.resize(100_000, b'a');
    big.extend_from_slice(b"\r\n\r\n");
    for c in big.chunks(1400) {
        w.send(C, c);
    }
    w.send(C, b"GET /small HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(S, &resp("ok", ""));
    let r = w.report();
    let c = conn(&r);
    assert!(c
        .messages
        .iter()
        .any(|m| m.uri.as_deref() == Some("/small")));
}

impl Wire {
    /// Starts the next connection (next stream, next client port) on the same analyzer.
    fn reconnect(&mut self) {
        self.stream += 1;
        self.addr[C] = SocketAddr::new(self.addr[C].ip(), 40000 + self.stream as u16);
        self.seq = [1000, 5000];
        self.raw(C, 0x02, self.seq[C], 0, &[], 0, false);
        self.seq[C] += 1;
        self.raw(S, 0x12, self.seq[S], self.seq[C], &[], 0, false);
        self.seq[S] += 1;
        self.ack(C);
    }
}

/// One connection per entry of `closes_at`: that many requests, the last answered with
/// `Connection: close` and the server's FIN (0: one request, then the client closes).
fn server_closing_at(closes_at: &[u32]) -> Report {
    let mut w = Wire::new();
    for (i, &n) in closes_at.iter().enumerate() {
        if i > 0 {
            w.reconnect();
        }
        for k in 1..=n.max(1) {
            w.send(
                C,
                format!("GET /{k} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes(),
            );
            w.wait(1);
            let close = if k == n { "Connection: close\r\n" } else { "" };
            w.send(S, &resp("ok", close));
            w.wait(5);
        }
        if n == 0 {
            w.fin(C);
            w.fin(S);
        } else {
            w.fin(S);
            w.fin(C);
        }
        w.wait(100);
    }
    w.report()
}

#[test]
fn closes_at_one_count_are_a_request_limit() {
    let r = server_closing_at(&[100, 100, 100, 0]);
    let s = &r.servers[0];
    assert_eq!(s.request_limit, Some(100));
    assert_eq!(s.drain, None);
    let kinds: Vec<&str> = r.connections.iter().map(|c| c.close.kind_name()).collect();
    assert_eq!(
        kinds,
        [
            "server_request_limit",
            "server_request_limit",
            "server_request_limit",
            "client_close"
        ]
    );
    assert!(r.findings.iter().all(|f| f.kind != FindingKind::HttpDrain));
}

#[test]
fn closes_at_varying_counts_are_a_drain() {
    let r = server_closing_at(&[3, 1, 7, 2, 0]);
    let s = &r.servers[0];
    assert_eq!(s.request_limit, None);
    let d = s.drain.as_ref().expect("a drain");
    // 4 closes in 3 + 1 + 7 + 2 + 1 = 14 responses.
    assert_eq!(d.close_ratio, 0.2857);
    let (lo, hi) = crate::drain::wilson_interval(4, 14);
    assert_eq!(
        (d.close_ratio_low, d.close_ratio_high),
        ((lo * 1e4).round() / 1e4, (hi * 1e4).round() / 1e4)
    );
    let kinds: Vec<&str> = r.connections.iter().map(|c| c.close.kind_name()).collect();
    assert_eq!(
        kinds,
        [
            "server_drain",
            "server_drain",
            "server_drain",
            "server_drain",
            "client_close"
        ]
    );
    let drains: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::HttpDrain)
        .collect();
    assert_eq!(drains.len(), 1);
    assert!(r
        .findings
        .iter()
        .all(|f| f.kind != FindingKind::HttpRequestLimitClose));
    match &drains[0].details {
        Some(FindingDetails::Drain(d)) => {
            assert_eq!(d.streams, vec![0, 1, 2, 3]);
            assert_eq!(d.closed_at, vec![1, 2, 3, 7]);
            assert_eq!((d.close_responses, d.responses), (4, 14));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn reuse_race_advice_is_below_the_measured_idle_timeout() {
    let mut w = Wire::new();
    w.send(C, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    w.send(S, &resp("ok", ""));
    w.wait(5000);
    w.fin(S);
    w.wait(3);
    w.send(C, b"GET /again HTTP/1.1\r\nHost: h\r\n\r\n");
    w.rst(S);
    let r = w.report();
    let race = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::HttpReuseRace)
        .expect("a race");
    let Some(FindingDetails::ReuseRace(d)) = &race.details else {
        panic!("{:?}", race.details);
    };
    assert_eq!(d.server_idle_timeout_s, 5.0);
    let go = d
        .advice
        .iter()
        .find(|a| a.setting == "Transport.IdleConnTimeout")
        .unwrap();
    assert_eq!(go.value_s, Some(4.0));
    assert!(d.advice.iter().all(|a| a.value_s.is_none_or(|v| v < 5.0)));
    for knob in [
        "pool_idle_timeout",
        "keepAliveTimeout",
        "evictIdleConnections",
        "keepAliveDuration",
        "keepalive_timeout",
    ] {
        assert!(d.advice.iter().any(|a| a.setting.contains(knob)), "{knob}");
        assert!(race.text.contains(knob), "{knob}: {}", race.text);
    }
    assert!(d.advice.iter().any(|a| a.client.contains("urllib3")));
}
