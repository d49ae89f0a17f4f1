//! The shared framing table (`framing-cases.tsv`) through the framing core itself, through the
//! capture analyzer (each case becomes a tiny capture of a real-looking TCP exchange), and
//! through curl as the independent oracle. The proxy and the prober run the same table in
//! their own crates.

#[path = "framing_cases/mod.rs"]
mod framing_cases;

use framing_cases::{cases, curl, serve_raw, Case, Expect};
use keepsight_engine::Engine;
use keepsight_http::framing::{
    Answering, Chunked, ChunkedDecoder, Framing, FramingHeaders, Role, Strictness,
};
use keepsight_http::{Analyzer, Kind, Options};

/// The core's strict reading of a whole response: what a strict reader must conclude.
fn core_verdict(bytes: &[u8]) -> Expect {
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut slots);
    let head_len = match resp.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return Expect::Error("malformed-head".into()),
    };
    let mut headers = FramingHeaders::new();
    for h in resp.headers.iter() {
        headers.add(h.name.as_bytes(), h.value);
    }
    let role = Role::Response {
        status: resp.code.unwrap_or(0),
        answering: Answering::Other,
    };
    let decision = headers.decide(role, resp.version.unwrap_or(1));
    let a = decision.anomalies;
    if a.some_length_invalid || a.lengths_differ {
        return Expect::Error("bad-content-length".into());
    }
    let rest = &bytes[head_len..];
    let body = match decision.framing {
        Framing::NoBody | Framing::Tunnel => Vec::new(),
        Framing::UntilClose => rest.to_vec(),
        Framing::ContentLength(n) if rest.len() as u64 >= n => rest[..n as usize].to_vec(),
        Framing::ContentLength(_) => return Expect::Error("short-body".into()),
        Framing::Chunked => {
            let mut d = ChunkedDecoder::new(Strictness::Strict, 4096);
            let mut body = Vec::new();
            let mut input = rest;
            loop {
                match d.decode(input) {
                    Chunked::Data(r) => {
                        body.extend_from_slice(&input[r.clone()]);
                        input = &input[r.end..];
                    }
                    Chunked::Done { .. } => break body,
                    Chunked::NeedMore => return Expect::Error("unterminated".into()),
                    Chunked::Error { error, .. } => {
                        return Expect::Error(error.kind.token().into())
                    }
                }
            }
        }
    };
    if a.length_and_encoding {
        Expect::Warn("cl-and-te".into(), body)
    } else if a.encoding_not_chunked_last {
        Expect::Warn("te-not-chunked".into(), body)
    } else {
        Expect::Ok(body)
    }
}

#[test]
fn the_core_reads_every_case_as_the_table_says() {
    for case in cases() {
        assert_eq!(core_verdict(&case.response), case.expect, "{}", case.name);
    }
}

/// The core's verdicts do not depend on how the body is cut into reads.
#[test]
fn the_core_decodes_the_same_in_one_byte_pieces() {
    for case in cases() {
        let Some(at) = case.response.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        if !case.response[..at]
            .to_ascii_lowercase()
            .ends_with(b"chunked")
        {
            continue;
        }
        let body = &case.response[at + 4..];
        let whole = {
            let mut d = ChunkedDecoder::new(Strictness::Strict, 4096);
            let mut out = Vec::new();
            let mut input = body;
            loop {
                match d.decode(input) {
                    Chunked::Data(r) => {
                        out.extend_from_slice(&input[r.clone()]);
                        input = &input[r.end..];
                    }
                    other => {
                        break (
                            out,
                            format!("{other:?}").split('{').next().unwrap().to_string(),
                            d.offset(),
                        )
                    }
                }
            }
        };
        let mut d = ChunkedDecoder::new(Strictness::Strict, 4096);
        let mut out = Vec::new();
        let mut end = String::new();
        'bytes: for b in body.chunks(1) {
            let mut input = b;
            loop {
                match d.decode(input) {
                    Chunked::Data(r) => {
                        out.extend_from_slice(&input[r.clone()]);
                        input = &input[r.end..];
                        if input.is_empty() {
                            break;
                        }
                    }
                    Chunked::NeedMore => break,
                    other => {
                        end = format!("{other:?}").split('{').next().unwrap().to_string();
                        break 'bytes;
                    }
                }
            }
        }
        assert_eq!((out, end, d.offset()), whole, "{}", case.name);
    }
}

/// A pcap of one TCP connection (handshake, `request`, `response`, both FINs), as bytes.
fn capture(request: &[u8], response: &[u8]) -> Vec<u8> {
    let mut pcap = Vec::new();
    pcap.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    pcap.extend_from_slice(&2u16.to_le_bytes());
    pcap.extend_from_slice(&4u16.to_le_bytes());
    pcap.extend_from_slice(&[0; 8]);
    pcap.extend_from_slice(&65_535u32.to_le_bytes());
    pcap.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    let (client, server) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let (mut cseq, mut sseq) = (1000u32, 5000u32);
    let mut frame = 0u32;
    let mut packet =
        |from_client: bool, seq: u32, ack: u32, syn: bool, fin: bool, payload: &[u8]| {
            let (src, dst, sp, dp) = if from_client {
                (client, server, 40_000, 80)
            } else {
                (server, client, 80, 40_000)
            };
            let mut b =
                etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                    .ipv4(src, dst, 64)
                    .tcp(sp, dp, seq, 65_535);
            if syn {
                b = b.syn();
            }
            if !syn || !from_client {
                b = b.ack(ack);
            }
            if fin {
                b = b.fin();
            }
            if !payload.is_empty() {
                b = b.psh();
            }
            let mut bytes = Vec::new();
            b.write(&mut bytes, payload).unwrap();
            frame += 1;
            pcap.extend_from_slice(&1_700_000_000u32.to_le_bytes());
            pcap.extend_from_slice(&(frame * 1000).to_le_bytes());
            pcap.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            pcap.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            pcap.extend_from_slice(&bytes);
        };
    packet(true, cseq, 0, true, false, b"");
    cseq += 1;
    packet(false, sseq, cseq, true, false, b"");
    sseq += 1;
    packet(true, cseq, sseq, false, false, b"");
    packet(true, cseq, sseq, false, false, request);
    cseq += request.len() as u32;
    for part in response.chunks(1400) {
        packet(false, sseq, cseq, false, false, part);
        sseq += part.len() as u32;
    }
    packet(false, sseq, cseq, false, true, b"");
    sseq += 1;
    packet(true, cseq, sseq, false, true, b"");
    cseq += 1;
    packet(false, sseq, cseq, false, false, b"");
    pcap
}

/// The analyzer's fault verdicts on the case's response, by their JSON names.
fn analyzer_verdicts(case: &Case) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("framing-{}.pcap", case.name));
    std::fs::write(
        &path,
        capture(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &case.response),
    )
    .unwrap();
    let mut engine = Engine::open(&path).unwrap();
    let mut analyzer = Analyzer::new(Options {
        keep_all_messages: true,
    });
    while let Ok(Some(f)) = engine.next_frame() {
        if let Some(s) = f.segment() {
            analyzer.segment(&s);
        }
    }
    let report = analyzer.finish();
    let _ = std::fs::remove_file(&path);
    let response = report
        .connections
        .iter()
        .flat_map(|c| &c.messages)
        .find(|m| m.kind == Kind::Response)
        .unwrap_or_else(|| panic!("{}: no response analysed", case.name));
    response
        .verdicts
        .iter()
        .filter(|v| v.is_fault())
        .map(|v| {
            serde_json::to_value(v).unwrap()["verdict"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn the_analyzer_reports_every_case_as_the_table_says() {
    for case in cases() {
        let want: Vec<String> = case.analyzer.iter().cloned().collect();
        assert_eq!(analyzer_verdicts(&case), want, "{}", case.name);
    }
}

/// curl, reading the same bytes from a real socket, is the independent opinion. Where it
/// disagrees with the strict readers, the table says why.
#[test]
fn curl_reads_every_case_as_the_table_says() {
    for case in cases() {
        let got = curl(serve_raw(case.response.clone(), 1));
        assert_eq!(got.is_ok(), case.curl_ok, "{}: curl {got:?}", case.name);
        let ours = case.expect.body();
        if ours.is_some() != case.curl_ok {
            assert!(
                case.note.contains("curl"),
                "{}: curl disagrees, and the table does not say why",
                case.name
            );
        }
        if let (Some(ours), Ok(theirs)) = (ours, &got) {
            if !case.note.contains("curl") {
                assert_eq!(ours, &theirs[..], "{}: body", case.name);
            }
        }
    }
}
