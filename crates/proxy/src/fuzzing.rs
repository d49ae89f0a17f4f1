//! The request reader's own code, without a socket, for the fuzz targets
//! (`crates/fuzzing`): what a client's bytes become when they arrive in the given pieces. The
//! connection task runs the same functions ([`crate::http::parse_request`],
//! `BodyState::for_request` and `BodyState::next_piece`) between reads; only the reads, the
//! handler and the responses are left out.

use crate::http::{parse_request, Parsed};
use crate::server::{BodyPiece, BodyState, ServerConfig};
use bytes::BytesMut;

/// One request as the server read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestRead {
    /// A request head and its whole body.
    Complete {
        /// The method.
        method: String,
        /// The request target, as sent.
        target: Vec<u8>,
        /// Header fields kept.
        headers: usize,
        /// Body bytes delivered.
        body: u64,
        /// The connection stays open for another request.
        keep_alive: bool,
    },
    /// The request was refused with this status and message (the connection then closes).
    Refused(u16, String),
    /// The client's bytes ended inside a head (`None`) or body (`Some(bytes so far)`).
    Unfinished(Option<u64>),
}

/// Reads requests off `input` delivered in pieces of `pieces` lengths (summing to its length)
/// with the default server limits, until the input ends or the connection would close.
pub fn read_requests(input: &[u8], pieces: &[usize]) -> Vec<RequestRead> {
    let cfg = ServerConfig::default();
    let mut reads = pieces.iter().scan(0usize, |at, &n| {
        let piece = &input[*at..*at + n];
        *at += n;
        Some(piece)
    });
    let mut rbuf = BytesMut::new();
    let mut out = Vec::new();
    loop {
        let head = loop {
            match parse_request(&mut rbuf, cfg.max_head) {
                Ok(Parsed::Complete(h)) => break h,
                Ok(Parsed::Partial) => match reads.next() {
                    Some(piece) => rbuf.extend_from_slice(piece),
                    None => {
                        if !rbuf.is_empty() {
                            out.push(RequestRead::Unfinished(None));
                        }
                        return out;
                    }
                },
                Err(e) => {
                    out.push(RequestRead::Refused(e.status(), e.to_string()));
                    return out;
                }
            }
        };
        let mut body = match BodyState::for_request(&head, cfg.max_body, cfg.max_head) {
            Ok(b) => b,
            Err(e) => {
                out.push(RequestRead::Refused(e.status(), e.to_string()));
                return out;
            }
        };
        let mut body_read = 0u64;
        loop {
            match body.next_piece(&mut rbuf, &mut body_read, cfg.max_body) {
                Ok(BodyPiece::Data(_)) => {}
                Ok(BodyPiece::End) => break,
                Ok(BodyPiece::NeedMore) => match reads.next() {
                    Some(piece) => rbuf.extend_from_slice(piece),
                    None => {
                        out.push(RequestRead::Unfinished(Some(body_read)));
                        return out;
                    }
                },
                Err(e) => {
                    out.push(RequestRead::Refused(e.status(), e.to_string()));
                    return out;
                }
            }
        }
        out.push(RequestRead::Complete {
            method: head.method().to_string(),
            target: head.target().to_vec(),
            headers: head.headers().count(),
            body: body_read,
            keep_alive: head.wants_keep_alive,
        });
        if !head.wants_keep_alive {
            return out;
        }
    }
}
