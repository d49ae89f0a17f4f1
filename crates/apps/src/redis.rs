//! Redis RESP (RESP2, and RESP3's types): a client sends commands as arrays of bulk strings
//! (`*1␍␊$4␍␊PING␍␊`), the server answers each in order (`+PONG␍␊`; a subscribed client's PING
//! is answered `*2 … pong …`). The protocol declares no heartbeat interval: clients ping on a
//! schedule of their own, so only the answer to each PING is judged.

use crate::event::{Event, Framing};

/// Nesting accepted in one value (RESP3 maps of arrays…); deeper is taken for garbage.
const MAX_DEPTH: usize = 8;
/// Elements accepted in one aggregate.
const MAX_ELEMENTS: u64 = 1 << 20;
/// Commands awaiting their reply that are remembered one by one (a deeper pipeline is still
/// framed, but its replies are no longer matched to PINGs).
const MAX_PIPELINE: u32 = 128;

/// The payload opens a client's command array: `*N␍␊$M␍␊` and a command name.
pub(crate) fn starts_command(p: &[u8]) -> bool {
    if p.first() != Some(&b'*') {
        return false;
    }
    let Some((n, rest)) = line_number(&p[1..]) else {
        return false;
    };
    if !(1..=1024).contains(&n) || rest.first() != Some(&b'$') {
        return false;
    }
    let Some((len, name)) = line_number(&rest[1..]) else {
        return false;
    };
    let len = len as usize;
    (1..=32).contains(&len)
        && name.len() >= len
        && name[..len]
            .iter()
            .all(|c| c.is_ascii_alphabetic() || *c == b'_' || *c == b'|')
}

/// Appends a command as a client sends it: an array of bulk strings (`*1␍␊$4␍␊PING␍␊`).
pub fn encode_command(args: &[&[u8]], out: &mut Vec<u8>) {
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        out.extend_from_slice(arg.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Whether a whole reply answers a PING: `+PONG`, or a subscribed client's `*2 $4 pong …`.
pub fn is_pong(m: &[u8]) -> bool {
    m == b"+PONG\r\n"
        || (m.starts_with(b"*2\r\n$4\r\n")
            && m.get(8..12)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"pong")))
}

/// A decimal number ended by CRLF (optionally negative), and what follows.
fn line_number(b: &[u8]) -> Option<(i64, &[u8])> {
    let end = b.iter().take(21).position(|&c| c == b'\r')?;
    if b.get(end + 1) != Some(&b'\n') || end == 0 {
        return None;
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..end]),
        _ => (false, &b[..end]),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits
        .iter()
        .fold(0i64, |n, &c| n * 10 + i64::from(c - b'0'));
    Some((if neg { -v } else { v }, &b[end + 2..]))
}

/// The length of the RESP value at the start of `b`.
pub(crate) fn frame_len(b: &[u8]) -> Framing {
    match value_len(b, 0) {
        Ok(Some(n)) => Framing::Len(n),
        Ok(None) => Framing::More,
        Err(()) => Framing::Broken,
    }
}

/// `Ok(None)`: more bytes needed.
fn value_len(b: &[u8], depth: usize) -> Result<Option<usize>, ()> {
    let Some(&kind) = b.first() else {
        return Ok(None);
    };
    if depth > MAX_DEPTH {
        return Err(());
    }
    let line_end = || -> Result<Option<usize>, ()> {
        match b.windows(2).position(|w| w == b"\r\n") {
            Some(i) => Ok(Some(i + 2)),
            None if b.len() > 64 * 1024 => Err(()),
            None => Ok(None),
        }
    };
    match kind {
        // Simple string, error, integer; RESP3 null, double, boolean, big number.
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => line_end(),
        // Bulk string; RESP3 blob error, verbatim string.
        b'$' | b'!' | b'=' => {
            let Some(head) = line_end()? else {
                return Ok(None);
            };
            let (n, _) = line_number(&b[1..]).ok_or(())?;
            if n < 0 {
                return Ok(Some(head));
            }
            let total = head + n as usize + 2;
            if total > crate::reasm::MAX_MESSAGE {
                return Ok(Some(total));
            }
            if b.len() < total {
                return Ok(None);
            }
            if &b[total - 2..total] != b"\r\n" {
                return Err(());
            }
            Ok(Some(total))
        }
        // Array; RESP3 set, push; map and attribute hold two values per entry.
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let Some(head) = line_end()? else {
                return Ok(None);
            };
            let (n, _) = line_number(&b[1..]).ok_or(())?;
            if n < 0 {
                return Ok(Some(head));
            }
            let n = n as u64 * if matches!(kind, b'%' | b'|') { 2 } else { 1 };
            if n > MAX_ELEMENTS {
                return Err(());
            }
            let mut at = head;
            for _ in 0..n {
                match value_len(&b[at..], depth + 1)? {
                    Some(len) => at += len,
                    None => return Ok(None),
                }
            }
            if kind == b'|' {
                // An attribute precedes the value it describes.
                return Ok(value_len(&b[at..], depth + 1)?.map(|l| at + l));
            }
            Ok(Some(at))
        }
        _ => Err(()),
    }
}

/// The first bulk string of a command array (its name).
fn command_name(m: &[u8]) -> Option<&[u8]> {
    let (_, rest) = line_number(m.get(1..)?)?;
    if rest.first() != Some(&b'$') {
        return None;
    }
    let (len, name) = line_number(&rest[1..])?;
    name.get(..usize::try_from(len).ok()?)
}

/// Which sent commands still await their reply: a FIFO of "is a PING" bits.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    /// The direction the client sends (the first payload's).
    client: Option<usize>,
    pending: u128,
    /// Commands awaiting a reply, at most [`MAX_PIPELINE`] tracked.
    depth: u32,
}

impl State {
    pub(crate) fn on_message(&mut self, dir: usize, m: &[u8], on: &mut dyn FnMut(Event<'_>)) {
        let client = *self.client.get_or_insert(dir);
        if dir == client {
            let ping = command_name(m).is_some_and(|n| n.eq_ignore_ascii_case(b"PING"));
            if self.depth < MAX_PIPELINE {
                self.pending |= u128::from(ping) << self.depth;
                self.depth += 1;
            }
            on(if ping { Event::Probe } else { Event::Message });
            return;
        }
        // A push (RESP3 `>`) answers no command.
        if m.first() == Some(&b'>') || self.depth == 0 {
            return on(Event::Message);
        }
        let ping = self.pending & 1 == 1;
        self.pending >>= 1;
        self.depth -= 1;
        on(if ping { Event::Reply } else { Event::Message });
    }
}
