//! The shared framing table (`crates/http/tests/framing-cases.tsv`) through the prober's
//! response reader: each case is served by a real loopback socket, and the reader must read
//! it (noting the anomaly for warn cases) or refuse it as malformed, saying where.

mod common;
#[path = "../../http/tests/framing_cases/mod.rs"]
mod framing_cases;

use common::read_one_response;
use framing_cases::{cases, serve_raw, Expect};
use keepsight_probe::response::ReadError;

#[test]
fn the_probe_reads_every_case_as_the_table_says() {
    for case in cases() {
        let got = read_one_response(serve_raw(case.response.clone(), 1));
        match (&case.expect, &got) {
            (Expect::Ok(body), Ok(r)) => {
                assert_eq!(r.body_len, body.len() as u64, "{}", case.name);
                assert!(r.problems.is_empty(), "{}: {:?}", case.name, r.problems);
            }
            (Expect::Warn(_, body), Ok(r)) => {
                assert_eq!(r.body_len, body.len() as u64, "{}", case.name);
                assert_eq!(r.problems.len(), 1, "{}: {:?}", case.name, r.problems);
            }
            (Expect::Error(_), Err(ReadError::Malformed(why))) => {
                eprintln!("{}: {why}", case.name);
            }
            _ => panic!("{}: expected {:?}, read {got:?}", case.name, case.expect),
        }
    }
}

/// The error names the fault and the byte of the body where it is.
#[test]
fn a_bad_chunk_size_is_reported_with_its_offset() {
    let addr = serve_raw(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n+5\r\nworld\r\n0\r\n\r\n"
            .to_vec(),
        1,
    );
    match read_one_response(addr) {
        Err(ReadError::Malformed(why)) => assert_eq!(
            why,
            "sign before the chunk size at byte 10 of the chunked body (`+5\\r\\nworld\\r\\n0\\r\\n\\r\\n`)"
        ),
        other => panic!("{other:?}"),
    }
}
