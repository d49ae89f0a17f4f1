//! `-z follow,tcp,ascii|hex|raw`: one stream's payload, in tshark 4.0.17's chunks.
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

use keepsight_engine::Frame;
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
    pub fn filter_text(&self) -> String {
        match self {
            Selector::Stream(n) => format!("tcp.stream eq {n}"),
            Selector::Endpoints(a, b) => {
                let v = if a.is_ipv6() { "v6" } else { "" };
                let (ai, ap, bi, bp) = (a.ip(), a.port(), b.ip(), b.port());
                format!(
                    "((ip{v}.src eq {ai} and tcp.srcport eq {ap}) and (ip{v}.dst eq {bi} and tcp.dstport eq {bp})) or \
                     ((ip{v}.src eq {bi} and tcp.srcport eq {bp}) and (ip{v}.dst eq {ai} and tcp.dstport eq {ap}))"
                )
            }
        }
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
    pub data: Vec<u8>,
    /// True for tshark's `[N bytes missing in capture file]` stand-in.
    pub gap: bool,
}

struct Pending {
    frame: u32,
    seq: u32,
    data: Vec<u8>,
}

/// Sequence comparison modulo 2^32, as TCP does it.
fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// The follow state machine for one conversation.
pub struct Follow {
    selector: Selector,
    nodes: Option<(SocketAddr, SocketAddr)>,
    next_seq: [u32; 2],
    written: [u64; 2],
    pending: [Vec<Pending>; 2],
    out: Vec<Chunk>,
}

impl Follow {
    pub fn new(selector: Selector) -> Self {
        Follow {
            selector,
            nodes: None,
            next_seq: [0; 2],
            written: [0; 2],
            pending: [Vec::new(), Vec::new()],
            out: Vec::new(),
        }
    }

    /// Node 0 and Node 1, once the stream's first frame has been seen.
    pub fn nodes(&self) -> Option<(SocketAddr, SocketAddr)> {
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
        let Some(h) = frame.dissection.tcp(frame.data()) else {
            return;
        };
        let syn = h.flags().0 & 0x02 != 0;
        let mut seq = tcp.seq;
        let mut length = frame.tcp_len().unwrap_or(0);
        let payload = frame.tcp_payload();
        // Never more than tcp.len: trailing link-layer padding is not payload.
        let captured = &payload[..payload.len().min(length as usize)];
        if syn {
            seq = seq.wrapping_add(1);
        }
        let (n0, _) = *self.nodes.get_or_insert((src, dst));
        let node = usize::from(src != n0);
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
                data,
                gap: false,
            });
            while self.drain_pending(node, 0, frame.number, false) {}
        } else {
            self.pending[node].push(Pending {
                frame: frame.number,
                seq,
                data,
            });
        }
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
    Ascii,
    Hex,
    Raw,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Ascii => "ascii",
            Format::Hex => "hex",
            Format::Raw => "raw",
        }
    }
}

/// Renders chunks the way tshark's `-z follow` does, keeping per-node hex offsets.
pub struct Printer {
    format: Format,
    offset: [u64; 2],
}

pub const RULE: &str = "===================================================================";

impl Printer {
    pub fn new(format: Format) -> Self {
        Printer {
            format,
            offset: [0; 2],
        }
    }

    /// The lines before the data.
    pub fn header(&self, selector: &Selector, nodes: Option<(SocketAddr, SocketAddr)>) -> String {
        let (n0, n1) = match nodes {
            Some((a, b)) => (a.to_string(), b.to_string()),
            // tshark prints an empty address and port 0 when no frame matched.
            None => (":0".to_string(), ":0".to_string()),
        };
        format!(
            "\n{RULE}\nFollow: tcp,{}\nFilter: {}\nNode 0: {n0}\nNode 1: {n1}\n",
            self.format.name(),
            selector.filter_text()
        )
    }

    pub fn footer(&self) -> String {
        format!("{RULE}\n")
    }

    /// Appends one chunk's text to `out` (bytes: ascii mode passes CR/LF and the printable
    /// range through unchanged).
    pub fn chunk(&mut self, c: &Chunk, out: &mut Vec<u8>) {
        let tab: &[u8] = if c.node == 1 { b"\t" } else { b"" };
        match self.format {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_forms() {
        assert_eq!(Selector::parse("3"), Some(Selector::Stream(3)));
        let s = Selector::parse("10.0.0.1:40000,10.0.0.2:7777").unwrap();
        assert_eq!(
            s.filter_text(),
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
    fn sequence_comparison_wraps() {
        assert!(lt(u32::MAX, 0));
        assert!(!lt(0, u32::MAX));
        assert!(lt(5, 6));
    }
}
