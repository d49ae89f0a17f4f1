//! The response-framing check against curl: for each crafted response (served by a real socket),
//! the prober's reader and curl must agree on whether the message is well framed, and on the
//! body length when it is. curl is the independent oracle; the crafted servers are the only
//! way to get badly framed responses, which no well-kept server sends on purpose.

mod common;
#[path = "../../http/tests/framing_cases/mod.rs"]
mod framing_cases;

use common::read_one_response;
use framing_cases::{curl, serve_raw};
use keepsight_probe::response::{Framing, ReadError};

/// curl's verdict: the body's length, or curl's exit code.
fn curl_body_len(addr: std::net::SocketAddr) -> Result<u64, i32> {
    curl(addr).map(|body| body.len() as u64)
}

#[test]
fn framing_verdicts_match_curl() {
    let cases: &[(&str, &'static [u8], Option<Framing>)] = &[
        (
            "content-length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            Some(Framing::ContentLength(5)),
        ),
        (
            "short content-length body",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
            None,
        ),
        (
            "chunked",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
            Some(Framing::Chunked),
        ),
        (
            "chunked with trailer",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n",
            Some(Framing::Chunked),
        ),
        (
            "chunk size not hex",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            None,
        ),
        (
            "chunk size too small",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
            None,
        ),
        (
            "closed inside a chunk",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            None,
        ),
        (
            "body delimited by close",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello there",
            Some(Framing::UntilClose),
        ),
        ("not HTTP", b"HTTZ/1.1 200 OK\r\n\r\n", None),
    ];
    for (name, response, want) in cases {
        let theirs = curl_body_len(serve_raw(response.to_vec(), 1));
        let mine = read_one_response(serve_raw(response.to_vec(), 1));
        match (want, &theirs, &mine) {
            (Some(framing), Ok(len), Ok(r)) => {
                assert_eq!(r.framing, *framing, "{name}");
                assert_eq!(r.body_len, *len, "{name}: body length, curl says {len}");
                assert!(r.problems.is_empty(), "{name}: {:?}", r.problems);
            }
            (None, Err(code), Err(ReadError::Malformed(why))) => {
                eprintln!("{name}: curl exit {code}; ours: {why}");
            }
            _ => panic!("{name}: expected {want:?}; curl {theirs:?}, ours {mine:?}"),
        }
    }
}

#[test]
fn both_length_headers_is_flagged_though_readable() {
    // RFC 9112 §6.1: a sender must not send both; chunked wins. curl reads it; we read it the
    // same way and flag it, because a proxy that picks the other header would desync.
    let response: &'static [u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    assert_eq!(curl_body_len(serve_raw(response.to_vec(), 1)), Ok(5));
    let r = read_one_response(serve_raw(response.to_vec(), 1)).unwrap();
    assert_eq!((r.framing, r.body_len), (Framing::Chunked, 5));
    assert!(
        r.problems[0].contains("both Transfer-Encoding"),
        "{:?}",
        r.problems
    );
}

#[test]
fn head_cut_by_the_close_is_malformed_where_curl_is_lenient() {
    // curl 7.88 accepts a head that the close cuts before its empty line (exit 0, no body);
    // RFC 9112 §2.1 ends a head only at the empty line, so for us it is a broken message.
    let response: &'static [u8] = b"HTTP/1.1 200 OK\r\nContent-Len";
    assert_eq!(
        curl_body_len(serve_raw(response.to_vec(), 1)),
        Ok(0),
        "curl's leniency changed?"
    );
    match read_one_response(serve_raw(response.to_vec(), 1)) {
        Err(ReadError::Malformed(why)) => {
            assert!(why.contains("middle of a response head"), "{why}")
        }
        other => panic!("{other:?}"),
    }
}
