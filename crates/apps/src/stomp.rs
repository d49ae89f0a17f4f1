//! STOMP 1.1/1.2: frames of a command line, header lines, a blank line, a body and a NUL; an
//! end-of-line alone between frames is a heart-beat. The client's CONNECT (or STOMP) offers
//! `heart-beat:cx,cy` (it can send every cx ms, wants to receive every cy ms), the server's
//! CONNECTED answers `heart-beat:sx,sy`; the client then sends every max(cx, sy) ms and the
//! server every max(sx, cy) ms, each direction off when either of its numbers is 0.

use crate::event::{Event, Framing, Scope};

/// Headers longer than this are not STOMP.
const MAX_HEADERS: usize = 64 * 1024;

pub(crate) fn starts_connect(p: &[u8]) -> bool {
    [&b"CONNECT\n"[..], b"CONNECT\r\n", b"STOMP\n", b"STOMP\r\n"]
        .iter()
        .any(|c| p.starts_with(c))
}

/// Where the headers end (after the blank line).
fn headers_end(b: &[u8]) -> Option<usize> {
    let lf = b.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(c)) => Some(a.min(c)),
        (a, c) => a.or(c),
    }
}

/// The value of header `name` (the first occurrence wins, as the spec says).
fn header<'a>(head: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    head.split(|&c| c == b'\n').skip(1).find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let v = line.strip_prefix(name)?.strip_prefix(b":")?;
        Some(v)
    })
}

fn number(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 12 {
        return None;
    }
    v.iter().try_fold(0u64, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
    })
}

pub(crate) fn frame_len(b: &[u8]) -> Framing {
    match b {
        [b'\n', ..] => return Framing::Len(1),
        [b'\r'] => return Framing::More,
        [b'\r', b'\n', ..] => return Framing::Len(2),
        _ => {}
    }
    let cmd_len = b.iter().position(|&c| c == b'\n' || c == b'\r');
    let cmd = &b[..cmd_len.unwrap_or(b.len()).min(16)];
    if !cmd.iter().all(u8::is_ascii_uppercase) || cmd_len.is_some_and(|n| n > 16 || n == 0) {
        return Framing::Broken;
    }
    let Some(end) = headers_end(b) else {
        return if b.len() > MAX_HEADERS {
            Framing::Broken
        } else {
            Framing::More
        };
    };
    if let Some(len) = header(&b[..end], b"content-length").and_then(number) {
        let nul = end + len as usize;
        return match b.get(nul) {
            Some(0) => Framing::Len(nul + 1),
            Some(_) => Framing::Broken,
            None => Framing::Len(nul + 1),
        };
    }
    match b[end..].iter().position(|&c| c == 0) {
        Some(i) => Framing::Len(end + i + 1),
        None if b.len() - end > crate::reasm::MAX_MESSAGE => Framing::Broken,
        None => Framing::More,
    }
}

/// `x,y` of a heart-beat header.
fn heart_beat(head: &[u8]) -> Option<(u64, u64)> {
    let v = header(head, b"heart-beat")?;
    let comma = v.iter().position(|&c| c == b',')?;
    Some((number(&v[..comma])?, number(&v[comma + 1..])?))
}

#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    client: Option<usize>,
    /// The client's offer `(cx, cy)`.
    offer: Option<(u64, u64)>,
}

impl State {
    pub(crate) fn on_message(&mut self, dir: usize, m: &[u8], on: &mut dyn FnMut(Event<'_>)) {
        let client = *self.client.get_or_insert(dir);
        if m == b"\n" || m == b"\r\n" {
            return on(Event::Beat);
        }
        let line = m
            .iter()
            .position(|&c| c == b'\n' || c == b'\r')
            .unwrap_or(0);
        let cmd = &m[..line];
        let head = &m[..headers_end(m).unwrap_or(m.len())];
        match cmd {
            b"CONNECT" | b"STOMP" if dir == client => {
                self.offer = Some(heart_beat(head).unwrap_or((0, 0)));
                on(Event::Message);
            }
            b"CONNECTED" if dir != client => {
                let (cx, cy) = self.offer.unwrap_or((0, 0));
                let (sx, sy) = heart_beat(head).unwrap_or((0, 0));
                let every = |a: u64, b: u64| if a == 0 || b == 0 { 0 } else { a.max(b) };
                // The server's own interval first: this message is the server's.
                on(Event::Interval {
                    ms: every(sx, cy),
                    scope: Scope::Dir(dir as u8),
                });
                on(Event::Interval {
                    ms: every(cx, sy),
                    scope: Scope::Dir(client as u8),
                });
            }
            b"DISCONNECT" => on(Event::Goodbye { text: None }),
            b"ERROR" => on(Event::Goodbye {
                text: header(head, b"message"),
            }),
            _ => on(Event::Message),
        }
    }
}
