//! `-z follow,tcp|udp,ascii|hex|raw|yaml,FILTER[,RANGE]`: one conversation's payload, in
//! tshark 4.0.17's chunks and layouts.
//!
//! UDP is simple: every non-empty datagram of the conversation is one chunk (a fragmented
//! datagram counts on the frame that completes it, as `udp.stream` does; an empty one is
//! skipped, and does not make its sender Node 0). TCP needs reassembly.
//!
//! The reassembly follows the rules of tshark's follow tap (facts checked on the corpus):
//! - Node 0 is the source of the first frame of the stream;
//! - a SYN takes one sequence number; a segment wholly below the direction's next expected
//!   sequence number adds nothing (retransmissions, 1-byte keep-alives), a partly new one adds
//!   only its new bytes;
//! - a segment beyond the next expected number waits in that direction's out-of-order list
//!   until the gap fills, or until the *other* direction acknowledges past it: then a chunk
//!   `[N bytes missing in capture file]` followed by a NUL byte stands for the gap;
//! - the next expected number advances by `tcp.len` for in-order segments but only by the
//!   *captured* bytes for segments taken from the out-of-order list. This is tshark's
//!   behaviour, and it is why a snap-length-cut capture shows "missing" chunks there: they are
//!   reproduced, not corrected, so that the output stays comparable.
//!
//! Memory: only the chosen stream's out-of-order segments are kept; chunks are handed out as
//! soon as they are final.

use crate::read::ReadEnd;
use keepsight_engine::{Engine, Frame};
use std::fmt::Write as _;
use std::net::SocketAddr;

/// Which conversation to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// `tcp.stream eq N`.
    Stream(u32),
    /// Every TCP frame between these two endpoints, either direction (tshark's `a:p,b:p`).
    Endpoints(SocketAddr, SocketAddr),
}

impl Selector {
    /// Parses `N` or `A:P,B:P` (IPv6 as `[addr]:port` or tshark's bare `addr:port`).
    pub fn parse(s: &str) -> Option<Selector> {
        if let Ok(n) = s.trim().parse::<u32>() {
            return Some(Selector::Stream(n));
        }
        let (a, b) = s.split_once(',')?;
        Some(Selector::Endpoints(
            sockaddr(a.trim())?,
            sockaddr(b.trim())?,
        ))
    }

    /// The `Filter:` line tshark prints.
    pub fn filter_text(&self, proto: Proto) -> String {
        let p = proto.transport_name();
        match self {
            Selector::Stream(n) => format!("{p}.stream eq {n}"),
            Selector::Endpoints(a, b) => {
                let v = if a.is_ipv6() { "v6" } else { "" };
                let (ai, ap, bi, bp) = (a.ip(), a.port(), b.ip(), b.port());
                format!(
                    "((ip{v}.src eq {ai} and {p}.srcport eq {ap}) and (ip{v}.dst eq {bi} and {p}.dstport eq {bp})) or \
                     ((ip{v}.src eq {bi} and {p}.srcport eq {bp}) and (ip{v}.dst eq {ai} and {p}.dstport eq {ap}))"
                )
            }
        }
    }
}

/// The transport followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// A TCP stream, reassembled in sequence order with gaps marked.
    Tcp,
    /// A UDP conversation, one chunk per datagram.
    Udp,
    /// A TLS stream's decrypted application data (needs a key log on the engine), one chunk
    /// per record, as tshark's `follow,tls`.
    Tls,
}

impl Proto {
    /// The name in tshark's `Follow:` header line and filter (`tcp`, `udp`).
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Tls => "tls",
        }
    }

    /// The transport named in the `Filter:` line (TLS is followed by its TCP stream).
    fn transport_name(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp | Proto::Tls => "tcp",
        }
    }
}

/// tshark's optional `RANGE`: chunks `first..=last`, counted from 1 over both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The first chunk printed, from 1.
    pub first: u64,
    /// The last chunk printed (inclusive).
    pub last: u64,
}

impl Range {
    /// Parses `N` or `N-M` (1 <= N <= M). The error is tshark's own message for that input.
    pub fn parse(s: &str) -> Result<Range, &'static str> {
        let mut parts = s.split('-');
        let num = |p: Option<&str>| -> Result<u64, &'static str> {
            let p = p.ok_or("Invalid range.")?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err("Invalid range.");
            }
            p.parse().map_err(|_| "Invalid range.")
        };
        let first = num(parts.next())?;
        let last = match parts.next() {
            Some(p) => num(Some(p))?,
            None => first,
        };
        if parts.next().is_some() {
            return Err("Invalid parameter.");
        }
        if first == 0 || last < first {
            return Err("Invalid range value.");
        }
        Ok(Range { first, last })
    }

    fn contains(&self, n: u64) -> bool {
        (self.first..=self.last).contains(&n)
    }
}

fn sockaddr(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse() {
        return Some(a);
    }
    // tshark's form for IPv6 has no brackets: split at the last colon.
    let (ip, port) = s.rsplit_once(':')?;
    Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?))
}

/// One piece of the followed stream, as tshark prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// 0 = Node 0 (first sender), 1 = the other side.
    pub node: usize,
    /// The frame that delivered it (for a gap marker: the frame whose ACK revealed the gap).
    pub frame: u32,
    /// That frame's time, ns since the epoch; 0 for a gap marker (tshark's YAML says 0 too).
    pub ts_ns: i64,
    /// The bytes delivered, in stream order (empty for a gap marker).
    pub data: Vec<u8>,
    /// True for tshark's `[N bytes missing in capture file]` stand-in.
    pub gap: bool,
}

struct Pending {
    frame: u32,
    ts_ns: i64,
    seq: u32,
    data: Vec<u8>,
}

/// Sequence comparison modulo 2^32, as TCP does it.
fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// The two ends of a followed conversation, numbered as tshark's header prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nodes {
    /// Node 0: the sender of the first frame followed.
    pub first_sender: SocketAddr,
    /// Node 1: the other end.
    pub other: SocketAddr,
}

/// The follow state machine for one conversation.
pub struct Follow {
    selector: Selector,
    proto: Proto,
    nodes: Option<Nodes>,
    next_seq: [u32; 2],
    written: [u64; 2],
    pending: [Vec<Pending>; 2],
    out: Vec<Chunk>,
}

impl Follow {
    /// Follows a TCP conversation.
    pub fn new(selector: Selector) -> Self {
        Self::with_proto(selector, Proto::Tcp)
    }

    /// Follows the conversation `selector` picks over `proto` (`follow udp`).
    pub fn with_proto(selector: Selector, proto: Proto) -> Self {
        Follow {
            selector,
            proto,
            nodes: None,
            next_seq: [0; 2],
            written: [0; 2],
            pending: [Vec::new(), Vec::new()],
            out: Vec::new(),
        }
    }

    /// Node 0 and Node 1, once the stream's first frame has been seen.
    pub fn nodes(&self) -> Option<Nodes> {
        self.nodes
    }

    /// Bytes delivered per node so far (gap markers included, as tshark counts them).
    pub fn bytes_written(&self) -> [u64; 2] {
        self.written
    }

    /// Chunks that became final since the last call, in output order.
    pub fn take_chunks(&mut self) -> std::vec::Drain<'_, Chunk> {
        self.out.drain(..)
    }

    /// Feed every frame of the capture in file order; frames of other streams are ignored.
    pub fn on_frame(&mut self, frame: &Frame<'_>) {
        if self.proto == Proto::Udp {
            self.on_udp(frame);
            return;
        }
        if self.proto == Proto::Tls {
            self.on_tls(frame);
            return;
        }
        let Some(tcp) = frame.tcp.as_ref() else {
            return;
        };
        let Some((src, dst)) = frame.endpoints() else {
            return;
        };
        let selected = match self.selector {
            Selector::Stream(n) => tcp.stream == n,
            Selector::Endpoints(a, b) => (src == a && dst == b) || (src == b && dst == a),
        };
        if !selected {
            return;
        }
        let Some(h) = frame.tcp_header() else {
            return;
        };
        let syn = h.flags().syn();
        let mut seq = tcp.seq;
        let mut length = frame.tcp_len().unwrap_or(0);
        let payload = frame.tcp_payload();
        // Never more than tcp.len: trailing link-layer padding is not payload.
        let captured = &payload[..payload.len().min(length as usize)];
        if syn {
            seq = seq.wrapping_add(1);
        }
        let nodes = *self.nodes.get_or_insert(Nodes {
            first_sender: src,
            other: dst,
        });
        let node = usize::from(src != nodes.first_sender);
        let other = 1 - node;

        // This frame's ACK may reveal that the other side's missing bytes reached the receiver.
        while !self.pending[other].is_empty()
            && self.drain_pending(other, tcp.ack, frame.number, true)
        {}

        if self.written[node] == 0 && self.next_seq[node] == 0 {
            self.next_seq[node] = seq;
        }
        let mut offset = 0usize;
        let mut data_len = captured.len();
        if lt(seq, self.next_seq[node]) {
            let end = seq.wrapping_add(length);
            if lt(self.next_seq[node], end) {
                let skip = self.next_seq[node].wrapping_sub(seq) as usize;
                offset = skip.min(captured.len());
                data_len = captured.len().saturating_sub(skip);
                seq = self.next_seq[node];
                length = end.wrapping_sub(seq);
            }
        }
        if data_len == 0 || lt(seq, self.next_seq[node]) {
            return;
        }
        let data = captured[offset..offset + data_len].to_vec();
        if seq == self.next_seq[node] {
            self.next_seq[node] = self.next_seq[node].wrapping_add(length);
            self.written[node] += data.len() as u64;
            self.out.push(Chunk {
                node,
                frame: frame.number,
                ts_ns: frame.ts_ns,
                data,
                gap: false,
            });
            while self.drain_pending(node, 0, frame.number, false) {}
        } else {
            self.pending[node].push(Pending {
                frame: frame.number,
                ts_ns: frame.ts_ns,
                seq,
                data,
            });
        }
    }

    /// A frame of a TLS stream: each decrypted application data record is one chunk. As in
    /// tshark 4.0.17, Node 0 is the sender of the first frame with a decrypted record of any
    /// type (the server's in TLS 1.3, whose handshake is encrypted), and Node 1 stays unnamed.
    fn on_tls(&mut self, frame: &Frame<'_>) {
        let (Some(tcp), Some(tls)) = (frame.tcp.as_ref(), frame.tls.as_ref()) else {
            return;
        };
        let Some((src, dst)) = frame.endpoints() else {
            return;
        };
        let selected = match self.selector {
            Selector::Stream(n) => tcp.stream == n,
            Selector::Endpoints(a, b) => (src == a && dst == b) || (src == b && dst == a),
        };
        if !selected || !tls.opened().iter().any(|o| o.decrypted) {
            return;
        }
        let nodes = *self.nodes.get_or_insert(Nodes {
            first_sender: src,
            other: dst,
        });
        let node = usize::from(src != nodes.first_sender);
        for o in tls.opened() {
            if !o.decrypted || o.content_type != 23 {
                continue;
            }
            let data = tls.plaintext(o).to_vec();
            self.written[node] += data.len() as u64;
            self.out.push(Chunk {
                node,
                frame: frame.number,
                ts_ns: frame.ts_ns,
                data,
                gap: false,
            });
        }
    }

    /// A UDP frame: its datagram's payload is one chunk.
    fn on_udp(&mut self, frame: &Frame<'_>) {
        // Only frames that carry a whole datagram have a udp.stream (not the first fragments).
        let Some(stream) = frame.udp_stream else {
            return;
        };
        let Some((src, dst)) = frame.endpoints() else {
            return;
        };
        let selected = match self.selector {
            Selector::Stream(n) => stream == n,
            Selector::Endpoints(a, b) => (src == a && dst == b) || (src == b && dst == a),
        };
        if !selected {
            return;
        }
        let Some(bytes) = frame.udp_bytes() else {
            return;
        };
        let Some(h) = keepsight_wire::UdpHeader::new(bytes) else {
            return;
        };
        // The payload as the UDP length bounds it (trailing padding is not payload), cut to
        // what was captured.
        let end = usize::from(h.length()).clamp(8, bytes.len());
        let data = bytes[8..end].to_vec();
        // tshark's follow skips an empty datagram altogether: it names no node either.
        if data.is_empty() {
            return;
        }
        let nodes = *self.nodes.get_or_insert(Nodes {
            first_sender: src,
            other: dst,
        });
        let node = usize::from(src != nodes.first_sender);
        self.written[node] += data.len() as u64;
        self.out.push(Chunk {
            node,
            frame: frame.number,
            ts_ns: frame.ts_ns,
            data,
            gap: false,
        });
    }

    /// Applies at most one waiting segment of `node`; true when something changed.
    fn drain_pending(&mut self, node: usize, ack: u32, frame: u32, use_ack: bool) -> bool {
        let list = &mut self.pending[node];
        let Some(first) = list.first() else {
            return false;
        };
        let mut lowest = first.seq;
        let next = self.next_seq[node];
        for i in 0..list.len() {
            let p = &list[i];
            if lt(p.seq, lowest) {
                lowest = p.seq;
            }
            if lt(p.seq, next) {
                let end = p.seq.wrapping_add(p.data.len() as u32);
                if lt(next, end) {
                    let new_pos = next.wrapping_sub(p.seq) as usize;
                    if p.data.len() > new_pos {
                        let data = p.data[new_pos..].to_vec();
                        self.next_seq[node] = next.wrapping_add(data.len() as u32);
                        self.out.push(Chunk {
                            node,
                            frame: p.frame,
                            ts_ns: p.ts_ns,
                            data,
                            gap: false,
                        });
                    }
                }
                list.remove(i);
                return true;
            }
            if p.seq == next {
                let p = list.remove(i);
                self.next_seq[node] = next.wrapping_add(p.data.len() as u32);
                if !p.data.is_empty() {
                    self.out.push(Chunk {
                        node,
                        frame: p.frame,
                        ts_ns: p.ts_ns,
                        data: p.data,
                        gap: false,
                    });
                }
                return true;
            }
        }
        if use_ack && lt(lowest, ack) {
            let missing = lowest.wrapping_sub(next) as i32;
            let mut data = format!("[{missing} bytes missing in capture file]").into_bytes();
            data.push(0);
            self.next_seq[node] = lowest;
            self.out.push(Chunk {
                node,
                frame,
                ts_ns: 0,
                data,
                gap: true,
            });
            return true;
        }
        false
    }
}

/// Output format of `keepsight follow`, as tshark names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Printable bytes as text, others as `.`: for reading text protocols.
    Ascii,
    /// A hex dump with offsets per direction, for binary protocols.
    Hex,
    /// Each chunk as one line of hex digits, for piping into other tools.
    Raw,
    /// tshark's YAML: the peers, then per chunk its frame, peer, time and base64 data.
    Yaml,
}

impl Format {
    /// The name in tshark's `Follow:` header line and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Ascii => "ascii",
            Format::Hex => "hex",
            Format::Raw => "raw",
            Format::Yaml => "yaml",
        }
    }

    /// The format named `s` on the command line; `None` for unknown names.
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "ascii" => Format::Ascii,
            "hex" => Format::Hex,
            "raw" => Format::Raw,
            "yaml" => Format::Yaml,
            _ => return None,
        })
    }
}

/// Renders chunks the way tshark's `-z follow` does, keeping per-node hex offsets and the
/// chunk count for the range.
pub struct Printer {
    format: Format,
    proto: Proto,
    range: Option<Range>,
    /// Chunks seen so far (printed or not): the range counts them from 1.
    seen: u64,
    offset: [u64; 2],
}

/// The separator line tshark prints around the followed data.
pub const RULE: &str = "===================================================================";

impl Printer {
    /// A TCP printer for every chunk.
    pub fn new(format: Format) -> Self {
        Self::with(format, Proto::Tcp, None)
    }

    /// A printer for `proto` that prints only the chunks in `range` (all when `None`).
    pub fn with(format: Format, proto: Proto, range: Option<Range>) -> Self {
        Printer {
            format,
            proto,
            range,
            seen: 0,
            offset: [0; 2],
        }
    }

    /// The lines before the data.
    pub fn header(&self, selector: &Selector, nodes: Option<Nodes>) -> String {
        if self.format == Format::Yaml {
            let peer = |n: usize, a: Option<SocketAddr>| {
                // No frame matched: an empty host and port 0, as tshark prints.
                let (host, port) = a.map_or((String::new(), 0), |a| (a.ip().to_string(), a.port()));
                format!("  - peer: {n}\n    host: {host}\n    port: {port}\n")
            };
            // tshark's TLS follow never learns Node 1's address.
            let other = nodes.map(|n| n.other).filter(|_| self.proto != Proto::Tls);
            return format!(
                "peers:\n{}{}packets:\n",
                peer(0, nodes.map(|n| n.first_sender)),
                peer(1, other)
            );
        }
        let (n0, n1) = match nodes {
            Some(n) if self.proto == Proto::Tls => (n.first_sender.to_string(), ":0".to_string()),
            Some(n) => (n.first_sender.to_string(), n.other.to_string()),
            // tshark prints an empty address and port 0 when no frame matched.
            None => (":0".to_string(), ":0".to_string()),
        };
        format!(
            "\n{RULE}\nFollow: {},{}\nFilter: {}\nNode 0: {n0}\nNode 1: {n1}\n",
            self.proto.name(),
            self.format.name(),
            selector.filter_text(self.proto)
        )
    }

    /// The lines after the data (the closing rule; nothing for YAML).
    pub fn footer(&self) -> String {
        match self.format {
            Format::Yaml => String::new(),
            _ => format!("{RULE}\n"),
        }
    }

    /// Appends one chunk's text to `out` (bytes: ascii mode passes CR/LF and the printable
    /// range through unchanged).
    pub fn chunk(&mut self, c: &Chunk, out: &mut Vec<u8>) {
        self.seen += 1;
        if self.range.is_some_and(|r| !r.contains(self.seen)) {
            // Out of range, but its bytes still move that node's hex offset (as in tshark).
            self.offset[c.node] += c.data.len() as u64;
            return;
        }
        let tab: &[u8] = if c.node == 1 { b"\t" } else { b"" };
        match self.format {
            Format::Yaml => {
                // tshark goes through a double (seconds + nanoseconds / 1e9) and prints it
                // with 9 decimals, so the last digits are the double's, not the capture's.
                let secs = c.ts_ns.div_euclid(1_000_000_000) as f64;
                let nanos = c.ts_ns.rem_euclid(1_000_000_000) as f64;
                let t = secs + nanos / 1e9;
                let mut s = format!(
                    "  - packet: {}\n    peer: {}\n    timestamp: {t:.9}\n    data: !!binary |\n",
                    c.frame, c.node
                );
                // Base64 in lines of 76 characters, as tshark writes it.
                let b64 = base64(&c.data);
                for line in b64.as_bytes().chunks(76) {
                    s.push_str("      ");
                    s.push_str(std::str::from_utf8(line).unwrap_or_default());
                    s.push('\n');
                }
                out.extend_from_slice(s.as_bytes());
            }
            Format::Ascii => {
                out.extend_from_slice(tab);
                out.extend_from_slice(format!("{}\n", c.data.len()).as_bytes());
                out.extend(c.data.iter().map(|&b| {
                    if b == b'\n' || b == b'\r' || (0x20..0x7f).contains(&b) {
                        b
                    } else {
                        b'.'
                    }
                }));
                out.push(b'\n');
            }
            Format::Raw => {
                out.extend_from_slice(tab);
                let mut s = String::with_capacity(c.data.len() * 2 + 1);
                for b in &c.data {
                    let _ = write!(s, "{b:02x}");
                }
                s.push('\n');
                out.extend_from_slice(s.as_bytes());
            }
            Format::Hex => {
                for line in c.data.chunks(16) {
                    let mut s = String::with_capacity(80);
                    let _ = write!(s, "{:08X}  ", self.offset[c.node]);
                    for i in 0..16 {
                        match line.get(i) {
                            Some(b) => {
                                let _ = write!(s, "{b:02x} ");
                            }
                            None => s.push_str("   "),
                        }
                        if i == 7 {
                            s.push(' ');
                        }
                    }
                    s.push(' ');
                    for (i, &b) in line.iter().enumerate() {
                        if i == 8 {
                            s.push(' ');
                        }
                        s.push(if (0x20..0x7f).contains(&b) {
                            b as char
                        } else {
                            '.'
                        });
                    }
                    // tshark drops the line's trailing blanks (a payload ending in spaces
                    // shows none).
                    let keep = s.trim_end_matches(' ').len();
                    s.truncate(keep);
                    s.push('\n');
                    out.extend_from_slice(tab);
                    out.extend_from_slice(s.as_bytes());
                    self.offset[c.node] += line.len() as u64;
                }
            }
        }
    }
}

/// Standard base64 with padding (RFC 4648 §4), as tshark's YAML writes it.
fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Follows `selector` through the capture and writes what `printer` makes of it to `out`,
/// chunk by chunk as they become final, so memory stays bounded by the stream's out-of-order
/// data. The header comes once the conversation's endpoints are known (at the end when it is
/// never seen). Damage that stops the read early is in the returned [`ReadEnd`]; the frames
/// before it were followed. `None` as engine is an empty (0-byte) capture.
pub fn write_follow(
    engine: Option<&mut Engine>,
    selector: Selector,
    proto: Proto,
    mut printer: Printer,
    out: &mut impl std::io::Write,
) -> std::io::Result<ReadEnd> {
    let mut follow = Follow::with_proto(selector, proto);
    let mut header_done = false;
    let mut buf = Vec::new();
    let end = crate::read::try_read_frames(
        engine,
        |_| {},
        |frame| {
            follow.on_frame(frame);
            if !header_done && follow.nodes().is_some() {
                out.write_all(printer.header(&selector, follow.nodes()).as_bytes())?;
                header_done = true;
            }
            buf.clear();
            for chunk in follow.take_chunks() {
                printer.chunk(&chunk, &mut buf);
            }
            out.write_all(&buf)
        },
    )?;
    if !header_done {
        out.write_all(printer.header(&selector, None).as_bytes())?;
    }
    out.write_all(printer.footer().as_bytes())?;
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_forms() {
        assert_eq!(Selector::parse("3"), Some(Selector::Stream(3)));
        let s = Selector::parse("10.0.0.1:40000,10.0.0.2:7777").unwrap();
        assert_eq!(
            s.filter_text(Proto::Tcp),
            "((ip.src eq 10.0.0.1 and tcp.srcport eq 40000) and (ip.dst eq 10.0.0.2 and tcp.dstport eq 7777)) or \
             ((ip.src eq 10.0.0.2 and tcp.srcport eq 7777) and (ip.dst eq 10.0.0.1 and tcp.dstport eq 40000))"
        );
        assert!(matches!(
            Selector::parse("fd77::1:5,[fd77::2]:6"),
            Some(Selector::Endpoints(a, b)) if a.is_ipv6() && b.port() == 6
        ));
        assert_eq!(Selector::parse("x"), None);
        assert_eq!(Selector::parse("1.2.3.4:99999,1.2.3.5:1"), None);
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    /// Against `tshark -r tests/corpus/heartbeat.pcap -qz follow,tcp,raw,1`: the header, the
    /// three 1-byte beats and their replies as hex, then the rule.
    #[test]
    fn write_follow_streams_the_whole_conversation() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/corpus/heartbeat.pcap");
        let crate::Opened::Ready(mut engine) = crate::open(&path) else {
            panic!("{} does not open", path.display());
        };
        let selector = Selector::parse("1").unwrap();
        let printer = Printer::with(Format::Raw, Proto::Tcp, None);
        let mut out = Vec::new();
        let end = write_follow(Some(&mut engine), selector, Proto::Tcp, printer, &mut out).unwrap();
        assert!(end.damage.is_none());
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2..6],
            [
                "Follow: tcp,raw",
                "Filter: tcp.stream eq 1",
                "Node 0: 10.77.1.1:52690",
                "Node 1: 10.77.1.2:47001"
            ]
        );
        assert_eq!(lines[6..12], ["01", "\t41", "01", "\t41", "01", "\t41"]);
        assert_eq!(lines.len(), 13);
        assert!(lines[1].starts_with("=====") && lines[12] == lines[1]);
        // An empty capture still prints tshark's empty frame: header without nodes, footer.
        let mut out = Vec::new();
        let printer = Printer::with(Format::Raw, Proto::Tcp, None);
        write_follow(None, selector, Proto::Tcp, printer, &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("Node 0: :0"));
    }

    #[test]
    fn ranges_parse_like_tshark() {
        assert_eq!(Range::parse("2"), Ok(Range { first: 2, last: 2 }));
        assert_eq!(Range::parse("2-5"), Ok(Range { first: 2, last: 5 }));
        assert_eq!(Range::parse("0"), Err("Invalid range value."));
        assert_eq!(Range::parse("0-1"), Err("Invalid range value."));
        assert_eq!(Range::parse("3-2"), Err("Invalid range value."));
        assert_eq!(Range::parse("a"), Err("Invalid range."));
        assert_eq!(Range::parse(""), Err("Invalid range."));
        assert_eq!(Range::parse("1-2-3"), Err("Invalid parameter."));
    }

    #[test]
    fn sequence_comparison_wraps() {
        assert!(lt(u32::MAX, 0));
        assert!(!lt(0, u32::MAX));
        assert!(lt(5, 6));
    }
}
