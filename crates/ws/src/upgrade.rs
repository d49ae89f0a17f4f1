//! The HTTP/1.1 opening handshake (RFC 6455 §4): a request with `Upgrade: websocket` answered
//! by `101 Switching Protocols`. [`Handshake`] watches both directions of a connection and
//! says where the WebSocket frames begin in each.

/// The most header bytes held while waiting for the end of a request or response head.
const MAX_HEAD: usize = 16 * 1024;

/// What a direction of the connection is, as far as the handshake is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fed {
    /// Still HTTP (the handshake is not complete, or these bytes are part of it).
    Http,
    /// WebSocket frames begin at this offset of the bytes just fed.
    WebSocket(usize),
    /// Not a WebSocket connection (no upgrade asked for, refused, or not HTTP at all).
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum State {
    #[default]
    Head,
    /// The request asked for an upgrade; waiting for the answer.
    Asked,
    WebSocket,
    Not,
}

/// Both directions of one connection until the handshake ends.
#[derive(Debug, Default)]
pub struct Handshake {
    heads: [Vec<u8>; 2],
    state: [State; 2],
    /// The time the upgrade request was seen, in the caller's units.
    asked_at: Option<i64>,
    /// The request's path (first line's target), for reports.
    path: Option<String>,
    deflate: bool,
}

/// The facts of a completed handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upgraded {
    /// When the request was seen (the caller's clock).
    pub asked_at: i64,
    /// The request target (`/chat`).
    pub path: String,
    /// `permessage-deflate` was agreed (RSV1 then marks compressed messages).
    pub deflate: bool,
}

impl Handshake {
    /// Feeds in-order bytes of direction `dir` (0 or 1) seen at `at`.
    pub fn feed(&mut self, dir: usize, data: &[u8], at: i64) -> Fed {
        match self.state[dir] {
            State::WebSocket => return Fed::WebSocket(0),
            State::Not => return Fed::Not,
            State::Asked => return Fed::Http,
            State::Head => {}
        }
        // The common case, a whole head in one segment, is read where it lies: a stream that
        // is not HTTP, or a head without an upgrade, costs no copy.
        if self.heads[dir].is_empty() {
            if !could_be_http(data) {
                return self.give_up();
            }
            if let Some(end) = find(data, b"\r\n\r\n").map(|i| i + 4) {
                return self.decide(dir, &data[..end], end, at);
            }
        }
        let head = &mut self.heads[dir];
        let before = head.len();
        let take = data.len().min(MAX_HEAD - before);
        head.extend_from_slice(&data[..take]);
        if !could_be_http(head) {
            return self.give_up();
        }
        // The blank line may straddle the segments: look from 3 bytes before the new ones.
        let from = before.saturating_sub(3);
        let Some(end) = find(&head[from..], b"\r\n\r\n").map(|i| from + i + 4) else {
            if head.len() >= MAX_HEAD {
                return self.give_up();
            }
            return Fed::Http;
        };
        let head = std::mem::take(&mut self.heads[dir]);
        self.decide(dir, &head[..end], end - before, at)
    }

    /// A complete head of direction `dir`; the direction's next bytes start `rest` bytes
    /// into the data just fed.
    fn decide(&mut self, dir: usize, head: &[u8], rest: usize, at: i64) -> Fed {
        if head.starts_with(b"GET ") {
            if header_has(head, b"upgrade", b"websocket") {
                self.state[dir] = State::Asked;
                self.asked_at = Some(at);
                let target = head[4..].split(|&b| b == b' ').next().unwrap_or_default();
                self.path = Some(String::from_utf8_lossy(target).into_owned());
                Fed::Http
            } else {
                self.give_up()
            }
        } else {
            let other = 1 - dir;
            let switching = head.get(9..13) == Some(b"101 ");
            if switching && self.state[other] == State::Asked {
                self.state = [State::WebSocket; 2];
                self.deflate = header_has(head, b"sec-websocket-extensions", b"permessage-deflate");
                self.heads = [Vec::new(), Vec::new()];
                Fed::WebSocket(rest)
            } else {
                self.give_up()
            }
        }
    }

    /// A stream's first payload looked at without keeping anything: `Some(false)` when it
    /// cannot begin a WebSocket handshake (not HTTP, or a whole request head without an
    /// upgrade: most HTTP streams), `Some(true)` for a whole upgrade request, `None` when only
    /// more bytes can tell. Callers make a [`Handshake`] only for the other answers.
    pub fn first_look(data: &[u8]) -> Option<bool> {
        if !could_be_http(data) {
            return Some(false);
        }
        let end = find(data, b"\r\n\r\n")? + 4;
        Some(data.starts_with(b"GET ") && header_has(&data[..end], b"upgrade", b"websocket"))
    }

    fn give_up(&mut self) -> Fed {
        self.state = [State::Not; 2];
        self.heads = [Vec::new(), Vec::new()];
        Fed::Not
    }

    /// True once both sides agreed to the upgrade.
    pub fn upgraded(&self) -> Option<Upgraded> {
        (self.state[0] == State::WebSocket).then(|| Upgraded {
            asked_at: self.asked_at.unwrap_or_default(),
            path: self.path.clone().unwrap_or_default(),
            deflate: self.deflate,
        })
    }

    /// True when the connection is known not to be WebSocket.
    pub fn is_not(&self) -> bool {
        self.state[0] == State::Not
    }
}

/// True while `head` can still begin a request (`GET `) or a response (`HTTP/`): whether a
/// stream's first payload is worth a [`Handshake`].
pub fn could_be_http(head: &[u8]) -> bool {
    [&b"GET "[..], b"HTTP/"].iter().any(|p| {
        let n = head.len().min(p.len());
        head[..n] == p[..n]
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// True when a header line `name: ...` of `head` contains `token` (both case-insensitive).
/// Every stream's first request head passes here: lines are found with memchr and a line
/// whose start is not `name` is passed over without looking for its colon.
fn header_has(head: &[u8], name: &[u8], token: &[u8]) -> bool {
    let mut rest = head;
    // The request line is skipped: each header line starts after a newline.
    while let Some(nl) = memchr::memchr(b'\n', rest) {
        rest = &rest[nl + 1..];
        let line = &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())];
        let trimmed = line.trim_ascii_start();
        if trimmed.len() <= name.len() || !trimmed[..name.len()].eq_ignore_ascii_case(name) {
            continue;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        if line[..colon].trim_ascii().eq_ignore_ascii_case(name)
            && line[colon + 1..]
                .windows(token.len())
                .any(|w| w.eq_ignore_ascii_case(token))
        {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] =
        b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n";
    const RESP: &[u8] =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";

    #[test]
    fn a_request_split_in_two_and_the_101_start_frames() {
        let mut h = Handshake::default();
        assert_eq!(h.feed(0, &REQ[..10], 1), Fed::Http);
        // The blank line split across segments.
        assert_eq!(h.feed(0, &REQ[10..REQ.len() - 2], 2), Fed::Http);
        assert_eq!(h.feed(0, &REQ[REQ.len() - 2..], 2), Fed::Http);
        let mut resp = RESP.to_vec();
        resp.extend_from_slice(&[0x81, 0x00]);
        assert_eq!(h.feed(1, &resp, 3), Fed::WebSocket(RESP.len()));
        assert_eq!(h.feed(0, &[0x81, 0x80, 0, 0, 0, 0], 4), Fed::WebSocket(0));
        let u = h.upgraded().unwrap();
        assert_eq!(
            (u.asked_at, u.path.as_str(), u.deflate),
            (2, "/chat", false)
        );
    }

    #[test]
    fn a_first_look_settles_most_streams_without_a_handshake() {
        assert_eq!(Handshake::first_look(REQ), Some(true));
        assert_eq!(
            Handshake::first_look(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(false)
        );
        assert_eq!(Handshake::first_look(b"\x16\x03\x01"), Some(false));
        assert_eq!(Handshake::first_look(RESP), Some(false));
        assert_eq!(Handshake::first_look(&REQ[..20]), None);
        assert_eq!(Handshake::first_look(b"GE"), None);
    }

    #[test]
    fn refusals_and_other_protocols_are_not_websocket() {
        let mut h = Handshake::default();
        h.feed(0, REQ, 0);
        assert_eq!(h.feed(1, b"HTTP/1.1 400 Bad Request\r\n\r\n", 1), Fed::Not);
        let mut h = Handshake::default();
        assert_eq!(h.feed(0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0), Fed::Not);
        let mut h = Handshake::default();
        assert_eq!(h.feed(0, b"\x16\x03\x01\x02\x00", 0), Fed::Not);
        let mut h = Handshake::default();
        assert_eq!(h.feed(0, b"\x01", 0), Fed::Not);
        let mut h = Handshake::default();
        assert_eq!(h.feed(0, b"GE", 0), Fed::Http);
        let mut h = Handshake::default();
        let long = vec![b'a'; MAX_HEAD];
        h.feed(0, b"GET /", 0);
        assert_eq!(h.feed(0, &long, 0), Fed::Not);
        assert!(h.is_not() && h.upgraded().is_none());
    }
}
