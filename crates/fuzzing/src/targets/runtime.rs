//! The runtime readers that face live peers, through their real code without a socket: the
//! proxy's request reader (head parser and body reader as the connection task runs them
//! between reads) and the prober's response reader (its async code driven over bytes in
//! memory). Either must read the same however the bytes arrive, and deliver no more than was
//! sent; the prober's chunked bodies must match the reference decoder.

use super::http_framing::reference_strict;
use crate::input::{piece_lengths, Reader};
use keepsight_probe::conn::IoFail;
use keepsight_probe::response::{read_response, ResponseSource};
use keepsight_proxy::fuzzing::{read_requests, RequestRead};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use tokio::time::Instant;

pub(super) fn proxy_request(data: &[u8]) {
    let whole = read_requests(data, &[data.len()]);
    let split = read_requests(data, &piece_lengths(data, data.len()));
    assert_eq!(
        whole, split,
        "the proxy reads other requests when the bytes arrive split"
    );
    let mut body_total = 0u64;
    for r in &whole {
        if let RequestRead::Complete { body, .. } = r {
            body_total += body;
        }
    }
    assert!(body_total <= data.len() as u64, "more body than bytes sent");
    // `GET / HTTP/1.0\r\n\r\n` is the shortest complete request: 18 bytes.
    assert!(
        whole.len() <= data.len() / 18 + 1,
        "{} requests from {} bytes",
        whole.len(),
        data.len()
    );
}

/// Bytes in memory as the prober's connection: the pieces, then the peer's close.
struct Pieces<'a> {
    pieces: std::vec::IntoIter<&'a [u8]>,
    buf: Vec<u8>,
}

impl ResponseSource for Pieces<'_> {
    fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    fn fill(&mut self, _deadline: Instant) -> impl Future<Output = Result<usize, IoFail>> {
        let r = match self.pieces.next() {
            Some(p) => {
                self.buf.extend_from_slice(p);
                Ok(p.len())
            }
            None => Err(IoFail::Eof),
        };
        std::future::ready(r)
    }
}

/// Runs a future that never waits (its source is in memory) to completion.
fn run_now<F: Future>(f: F) -> F::Output {
    fn noop(_: *const ()) {}
    fn clone(p: *const ()) -> RawWaker {
        RawWaker::new(p, &VTABLE)
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: the vtable's functions ignore the data pointer, which is never dereferenced.
    let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a read from memory waited"),
    }
}

/// The responses read off `data` delivered in `lengths`, while the connection stays usable;
/// errors without the bytes they quote (which depend on what was buffered).
fn responses(data: &[u8], lengths: &[usize], head_request: bool) -> Vec<Result<String, String>> {
    let mut at = 0;
    // A socket read never returns zero bytes but at the close, so no piece is empty.
    let pieces: Vec<&[u8]> = lengths
        .iter()
        .map(|&n| {
            at += n;
            &data[at - n..at]
        })
        .filter(|p| !p.is_empty())
        .collect();
    let mut source = Pieces {
        pieces: pieces.into_iter(),
        buf: Vec::new(),
    };
    let deadline = Instant::now() + std::time::Duration::from_secs(3600);
    let mut out = Vec::new();
    for _ in 0..64 {
        match run_now(read_response(&mut source, deadline, head_request)) {
            Ok(r) => {
                let again = r.reusable();
                out.push(Ok(format!("{r:?}")));
                if !again || source.buf.is_empty() && source.pieces.len() == 0 {
                    break;
                }
            }
            Err(e) => {
                let text = e.to_string();
                // Cut before the bytes it quotes: how many were buffered depends on the reads.
                let text = text.split('`').next().unwrap_or("").to_string();
                out.push(Err(text));
                break;
            }
        }
    }
    out
}

/// Layout: `[flags]` then the server's bytes; bit 0 of `flags` reads them as the answer to a
/// HEAD request.
pub(super) fn probe_response(data: &[u8]) {
    let mut r = Reader::new(data);
    let head_request = r.byte() & 1 != 0;
    let bytes = r.rest();
    let whole = responses(bytes, &[bytes.len()], head_request);
    let split = responses(bytes, &piece_lengths(bytes, bytes.len()), head_request);
    assert_eq!(
        whole, split,
        "the prober reads other responses when the bytes arrive split"
    );
    // The first response's chunked body against the reference decoder.
    let mut slots = [httparse::EMPTY_HEADER; 100];
    let mut resp = httparse::Response::new(&mut slots);
    let Ok(httparse::Status::Complete(head_len)) = resp.parse(bytes) else {
        return;
    };
    let status = resp.code.unwrap_or(0);
    if head_request || (100..200).contains(&status) {
        return;
    }
    if let Some(Ok(first)) = whole.first() {
        if first.contains("framing: Chunked") {
            let reference = reference_strict(&bytes[head_len..], 4096).unwrap_or_else(|| {
                panic!("the prober accepted a chunked body the reference refuses")
            });
            assert!(
                first.contains(&format!("body_len: {},", reference.0.len())),
                "the prober counted another body length than the reference decoded ({}): {first}",
                reference.0.len()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_reader_reads_pipelined_requests_and_refuses_smuggling() {
        let two = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let read = read_requests(two, &[7, 50, two.len() - 57]);
        assert_eq!(read.len(), 2);
        assert!(
            matches!(&read[1], RequestRead::Complete { body: 3, .. }),
            "{read:?}"
        );
        let smuggle = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(
            read_requests(smuggle, &[smuggle.len()])[0],
            RequestRead::Refused(400, _)
        ));
    }

    #[test]
    fn the_prober_reader_counts_a_chunked_body_as_the_reference_decodes_it() {
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"q\"\r\nhello\r\n0\r\nx: y\r\n\r\n";
        let read = responses(resp, &[10, resp.len() - 10], false);
        let first = read[0].as_ref().expect("read");
        assert!(
            first.contains("framing: Chunked") && first.contains("body_len: 5,"),
            "{first}"
        );
        probe_response(&[&[0u8][..], resp].concat());
    }
}
