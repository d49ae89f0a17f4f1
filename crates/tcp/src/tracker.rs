//! Per-connection state and the per-segment analysis.

use crate::analysis::{flag::*, AnalysisFlags};
use keepsight_wire::TcpFlags;
// Keys are small fixed-size structs hashed once per packet: FxHash is several times faster than
// SipHash here, and capture contents are not an attacker-chosen hash-flooding vector worth the
// cost (a hostile capture can only slow its own analysis).
use rustc_hash::FxHashMap as HashMap;
use std::collections::VecDeque;

/// Wireshark stops remembering unacknowledged segments beyond this many per direction
/// (`TCP_MAX_UNACKED_SEGMENTS`); matching it keeps RTT/bytes-in-flight results identical and
/// bounds memory when one side's ACKs are not captured.
const MAX_UNACKED: usize = 1000;

/// An address as 16 bytes; IPv4 addresses use the first 4 bytes.
pub type Addr = [u8; 16];

/// The header values of one TCP segment, as the tracker needs them (the tracker's input; what
/// the analyses see of a tracked segment is [`crate::Segment`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SegmentHeader {
    /// Frame number, from 1; the analysis refers back to frames by it (`acks_frame`).
    pub frame: u32,
    /// Capture time, ns since the epoch; stream times and RTTs are differences of it.
    pub ts_ns: i64,
    /// The addresses are IPv6: keeps an IPv4 and an IPv6 connection with equal bytes apart.
    pub ipv6: bool,
    /// Sender's address.
    pub src: Addr,
    /// Receiver's address.
    pub dst: Addr,
    /// Sender's port.
    pub src_port: u16,
    /// Receiver's port.
    pub dst_port: u16,
    /// The absolute sequence number as on the wire; the tracker makes it relative.
    pub seq: u32,
    /// The absolute acknowledgment number as on the wire.
    pub ack: u32,
    /// The 12 flag bits.
    pub flags: TcpFlags,
    /// The window field as on the wire.
    pub window: u16,
    /// `tcp.len`: IP-reported payload length.
    pub seglen: u32,
    /// Window-scale option shift, on SYN segments that carry one.
    pub window_scale: Option<u8>,
    /// Bytes covered by this segment's SACK blocks (sum of right - left edges), 0 without SACK.
    pub sacked_bytes: u32,
}

/// Connection events tshark reports as expert items (`tcp.connection.*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionEvent(pub u8);

impl ConnectionEvent {
    /// A connection request (`tcp.connection.syn`).
    pub const SYN: u8 = 1;
    /// A connection accept (`tcp.connection.synack`).
    pub const SYNACK: u8 = 2;
    /// A FIN (`tcp.connection.fin`).
    pub const FIN: u8 = 4;
    /// The FIN of the side that closed first (`tcp.connection.fin_active`).
    pub const FIN_ACTIVE: u8 = 8;
    /// The FIN answering the other side's (`tcp.connection.fin_passive`).
    pub const FIN_PASSIVE: u8 = 16;
    /// A reset (`tcp.connection.rst`).
    pub const RST: u8 = 32;
    /// True when the event bit `bit` (one of the constants above) is set.
    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// What the tracker concludes about one segment: the `tcp.*` values tshark derives from state.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpInfo {
    /// `tcp.stream`: the connection's index, 0-based in order of first appearance.
    pub stream: u32,
    /// Relative sequence number (`tcp.seq`).
    pub seq: u32,
    /// Relative acknowledgment number when the ACK flag is set, the raw field otherwise (`tcp.ack`).
    pub ack: u32,
    /// `tcp.nxtseq`.
    pub nxtseq: u32,
    /// `tcp.time_relative`: ns since the stream's first frame.
    pub time_relative_ns: i64,
    /// `tcp.time_delta`: ns since the stream's previous frame.
    pub time_delta_ns: i64,
    /// The `tcp.analysis.*` flags raised on this segment.
    pub flags: AnalysisFlags,
    /// True when tshark shows a `tcp.analysis` subtree for this frame.
    pub has_analysis: bool,
    /// `tcp.analysis.acks_frame` (0 = absent).
    pub acks_frame: u32,
    /// `tcp.analysis.ack_rtt` in ns (0 = absent).
    pub ack_rtt_ns: i64,
    /// `tcp.analysis.initial_rtt` in ns (0 = absent); shown only with `has_analysis`.
    pub initial_rtt_ns: i64,
    /// `tcp.analysis.bytes_in_flight` (0 = absent).
    pub bytes_in_flight: u32,
    /// `tcp.analysis.push_bytes_sent`, when computed.
    pub push_bytes_sent: Option<u32>,
    /// `tcp.analysis.duplicate_ack_num`: which duplicate of its ACK this is (0 = not one).
    pub dupack_num: u32,
    /// `tcp.analysis.duplicate_ack_frame`: the frame whose ACK is duplicated (0 = absent).
    pub dupack_frame: u32,
    /// `tcp.analysis.rto` in ns (0 = absent): how long the retransmission waited.
    pub rto_ns: i64,
    /// `tcp.analysis.rto_frame`: the frame this retransmits (0 = absent).
    pub rto_frame: u32,
    /// `tcp.window_size`: the window scaled by the sender's shift when known.
    pub window_size: u32,
    /// `tcp.window_size_scalefactor`: `None` on SYN segments (never scaled), else -1 unknown,
    /// -2 no scaling, or the multiplier.
    pub window_scalefactor: Option<i32>,
    /// `tcp.completeness` as tshark prints it on the first pass (the value before this frame).
    pub completeness: u8,
    /// The `tcp.connection.*` events of this segment (SYN, FIN, RST, which side closed).
    pub connection: ConnectionEvent,
    /// True when this segment comes from the endpoint that sent the stream's first frame
    /// (Wireshark's "Node 0").
    pub from_first_sender: bool,
}

#[derive(Clone, Copy, Debug)]
struct Unacked {
    frame: u32,
    seq: u32,
    nextseq: u32,
    ts: i64,
}

#[derive(Debug)]
struct Flow {
    base_seq: u32,
    base_set: bool,
    nextseq: u32,
    nextseqframe: u32,
    nextseqtime: i64,
    maxseqtobeacked: u32,
    lastack: u32,
    lastacktime: i64,
    window: u32,
    win_scale: i8,
    /// The last window this direction advertised came on a SYN (not to be scaled).
    window_from_syn: bool,
    lastsegmentflags: u32,
    dupacknum: i32,
    lastnondupack: u32,
    /// Unacknowledged segments, oldest first (Wireshark keeps the same list newest first).
    segments: VecDeque<Unacked>,
    /// True while every segment in `segments` starts at or after the end of the one before:
    /// then an ACK only touches a prefix and the ends give the in-flight range, so neither
    /// needs a full scan. A retransmission clears it until the list empties.
    segments_in_order: bool,
    valid_bif: bool,
    push_bytes_sent: u32,
    push_set_last: bool,
    /// Bytes the last segment of this direction reported as SACKed.
    sacked_bytes: u32,
}

impl Flow {
    fn new() -> Self {
        Flow {
            base_seq: 0,
            base_set: false,
            nextseq: 0,
            nextseqframe: 0,
            nextseqtime: 0,
            maxseqtobeacked: 0,
            lastack: 0,
            lastacktime: 0,
            window: u32::MAX,
            win_scale: -1,
            window_from_syn: true,
            lastsegmentflags: 0,
            dupacknum: 0,
            lastnondupack: 0,
            segments: VecDeque::new(),
            segments_in_order: true,
            valid_bif: true,
            push_bytes_sent: 0,
            push_set_last: false,
            sacked_bytes: 0,
        }
    }
}

#[derive(Debug)]
struct Conversation {
    stream: u32,
    /// The first frame's sender; flows[0] is its direction.
    first_src: Endpoint,
    flows: [Flow; 2],
    ts_first: i64,
    ts_prev: i64,
    ts_mru_syn: i64,
    ts_first_rtt: i64,
    completeness: u8,
    frames: u64,
    /// Which flow sent the first FIN (0/1), if any.
    fin_initiator: Option<u8>,
}

impl Conversation {
    fn new(stream: u32, first_src: Endpoint, ts: i64) -> Conversation {
        Conversation {
            stream,
            first_src,
            flows: [Flow::new(), Flow::new()],
            ts_first: ts,
            ts_prev: ts,
            ts_mru_syn: 0,
            ts_first_rtt: 0,
            completeness: 0,
            frames: 0,
            fin_initiator: None,
        }
    }
}

/// One end of a connection. The address is an integer: one comparison instead of sixteen, for
/// the per-packet lookup. Ordered by address, then port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Endpoint {
    addr: u128,
    port: u16,
}

impl Endpoint {
    #[inline]
    fn new(addr: Addr, port: u16) -> Endpoint {
        Endpoint {
            addr: u128::from_ne_bytes(addr),
            port,
        }
    }
}

/// An IPv6 connection regardless of direction, as the stream index finds it: the lower
/// endpoint first.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct ConnectionKey {
    lower: Endpoint,
    upper: Endpoint,
}

/// An IPv4 connection regardless of direction, in 12 bytes (the IPv6 key takes 80 with its
/// alignment): a capture of a million SYNs keeps a million of these.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct V4Key {
    lower: u32,
    upper: u32,
    /// The lower endpoint's port in the high half.
    ports: u32,
}

/// A stream's first segment, all the tracker needs to rebuild the stream's state exactly
/// (by analysing it again) when a second segment comes. Most streams of a SYN flood or a scan
/// never get one; until then the stream costs this instead of a [`Conversation`] (~300 bytes
/// and an allocation).
#[derive(Clone, Copy, Debug)]
struct FirstSegment {
    ts_ns: i64,
    frame: u32,
    seq: u32,
    ack: u32,
    seglen: u32,
    sacked_bytes: u32,
    flags: TcpFlags,
    window: u16,
    window_scale: Option<u8>,
    /// The sender is the lower endpoint of the key (the stream's first sender, flows[0]).
    from_lower: bool,
    /// It reused the ports of an earlier stream (its analysis started with `REUSED_PORTS`).
    reused_ports: bool,
}

impl FirstSegment {
    fn header(&self) -> SegmentHeader {
        SegmentHeader {
            frame: self.frame,
            ts_ns: self.ts_ns,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            seglen: self.seglen,
            window_scale: self.window_scale,
            sacked_bytes: self.sacked_bytes,
            ..SegmentHeader::default()
        }
    }
}

/// What the tracker keeps of one stream.
#[derive(Debug)]
enum StreamState {
    /// One segment seen: kept as that segment.
    First(FirstSegment),
    /// The full analysis state.
    Full(Box<Conversation>),
    /// Its ports were reused by a later stream: no segment can reach it any more.
    Gone,
}

/// Assigns stream numbers and analyses segments, one at a time in file order.
#[derive(Default)]
pub struct Tracker {
    /// The current stream of each IPv4 connection.
    index_v4: HashMap<V4Key, u32>,
    /// The current stream of each IPv6 connection.
    index_v6: HashMap<ConnectionKey, u32>,
    /// By stream number.
    streams: Vec<StreamState>,
}

#[inline]
fn gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}
#[inline]
fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}
#[inline]
fn le(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) <= 0
}

/// Analyses a stream's first segment on a new conversation; `reused_ports`: it reuses an
/// earlier stream's ports.
fn first_segment(
    stream: u32,
    first_src: Endpoint,
    s: &SegmentHeader,
    reused_ports: bool,
) -> (Conversation, TcpInfo) {
    let mut conv = Conversation::new(stream, first_src, s.ts_ns);
    let pre_flags = if reused_ports {
        // tshark 4.0.17 shows the SYN already counted on a reused-ports SYN (and not on the
        // very first SYN of a tuple).
        conv.completeness = 1;
        REUSED_PORTS
    } else {
        0
    };
    let info = analyse(&mut conv, 0, s, pre_flags);
    (conv, info)
}

impl Tracker {
    /// A tracker that has seen no segment; stream numbers start at 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of streams seen so far.
    pub fn streams(&self) -> u32 {
        self.streams.len() as u32
    }

    /// The current stream of the connection, if any.
    #[inline]
    fn lookup(&self, s: &SegmentHeader, a: Endpoint, b: Endpoint) -> Option<u32> {
        if s.ipv6 {
            self.index_v6.get(&v6_key(a, b)).copied()
        } else {
            self.index_v4.get(&v4_key(s, a <= b)).copied()
        }
    }

    /// Starts stream number `streams()` with this segment and makes it the connection's current
    /// stream (an earlier one on the same ports can get no more segments: its state goes).
    fn start_stream(
        &mut self,
        s: &SegmentHeader,
        a: Endpoint,
        b: Endpoint,
        reused_ports: bool,
    ) -> TcpInfo {
        let stream = self.streams.len() as u32;
        let previous = if s.ipv6 {
            self.index_v6.insert(v6_key(a, b), stream)
        } else {
            self.index_v4.insert(v4_key(s, a <= b), stream)
        };
        if let Some(p) = previous {
            self.streams[p as usize] = StreamState::Gone;
        }
        let (_, info) = first_segment(stream, a, s, reused_ports);
        self.streams.push(StreamState::First(FirstSegment {
            ts_ns: s.ts_ns,
            frame: s.frame,
            seq: s.seq,
            ack: s.ack,
            seglen: s.seglen,
            sacked_bytes: s.sacked_bytes,
            flags: s.flags,
            window: s.window,
            window_scale: s.window_scale,
            from_lower: a <= b,
            reused_ports,
        }));
        info
    }

    /// The full state of a known stream, rebuilt from its first segment when that is all it had.
    #[inline]
    fn conversation(&mut self, stream: u32, a: Endpoint, b: Endpoint) -> &mut Conversation {
        let state = &mut self.streams[stream as usize];
        if let StreamState::First(f) = *state {
            let first_src = if f.from_lower == (a <= b) { a } else { b };
            let (conv, _) = first_segment(stream, first_src, &f.header(), f.reused_ports);
            *state = StreamState::Full(Box::new(conv));
        }
        match state {
            StreamState::Full(conv) => conv,
            _ => unreachable!("the index names only live streams"),
        }
    }

    /// Analyses one segment. Segments must be given in file order.
    pub fn process(&mut self, s: &SegmentHeader) -> TcpInfo {
        let a = Endpoint::new(s.src, s.src_port);
        let b = Endpoint::new(s.dst, s.dst_port);
        let Some(stream) = self.lookup(s, a, b) else {
            return self.start_stream(s, a, b, false);
        };
        let syn_ack = s.flags.0 & (TcpFlags::SYN | TcpFlags::ACK);
        let conv = self.conversation(stream, a, b);
        let dir = if a == conv.first_src { 0 } else { 1 };
        // A SYN with a new initial sequence number on a known tuple starts a new stream.
        let fwd = &conv.flows[dir];
        if syn_ack == TcpFlags::SYN && fwd.base_set && s.seq != fwd.base_seq {
            return self.start_stream(s, a, b, true);
        }
        let mut pre_flags = 0u32;
        if syn_ack == (TcpFlags::SYN | TcpFlags::ACK) {
            let fwd = &mut conv.flows[dir];
            if fwd.base_set && s.seq != fwd.base_seq {
                // 4.0 keeps the stream and only re-bases the SYN-ACK's direction.
                pre_flags |= REUSED_PORTS;
                fwd.base_seq = s.seq;
            }
        }
        analyse(conv, dir, s, pre_flags)
    }
}

fn v6_key(a: Endpoint, b: Endpoint) -> ConnectionKey {
    if a <= b {
        ConnectionKey { lower: a, upper: b }
    } else {
        ConnectionKey { lower: b, upper: a }
    }
}

#[inline]
fn v4_key(s: &SegmentHeader, src_is_lower: bool) -> V4Key {
    let src = u32::from_ne_bytes([s.src[0], s.src[1], s.src[2], s.src[3]]);
    let dst = u32::from_ne_bytes([s.dst[0], s.dst[1], s.dst[2], s.dst[3]]);
    if src_is_lower {
        V4Key {
            lower: src,
            upper: dst,
            ports: u32::from(s.src_port) << 16 | u32::from(s.dst_port),
        }
    } else {
        V4Key {
            lower: dst,
            upper: src,
            ports: u32::from(s.dst_port) << 16 | u32::from(s.src_port),
        }
    }
}

fn analyse(conv: &mut Conversation, dir: usize, s: &SegmentHeader, pre_flags: u32) -> TcpInfo {
    let mut out = TcpInfo {
        stream: conv.stream,
        from_first_sender: dir == 0,
        ..TcpInfo::default()
    };
    let first_frame = conv.frames == 0;
    conv.frames += 1;

    // Per-stream times.
    out.time_relative_ns = s.ts_ns - conv.ts_first;
    out.time_delta_ns = if first_frame {
        0
    } else {
        s.ts_ns - conv.ts_prev
    };
    conv.ts_prev = s.ts_ns;

    // Handshake RTT: first ACK without SYN after the most recent SYN.
    if s.flags.0 & (TcpFlags::SYN | TcpFlags::ACK) == TcpFlags::ACK
        && conv.ts_mru_syn != 0
        && conv.ts_first_rtt == 0
    {
        conv.ts_first_rtt = s.ts_ns - conv.ts_mru_syn;
    }
    if s.flags.0 & (TcpFlags::SYN | TcpFlags::ACK) == TcpFlags::SYN {
        conv.ts_mru_syn = s.ts_ns;
    }

    // Completeness: tshark prints the value accumulated before this frame; a conversation's
    // first frame contributes only a SYN (checked against tshark 4.0.17).
    out.completeness = conv.completeness;
    let syn_ack = s.flags.0 & (TcpFlags::SYN | TcpFlags::ACK);
    if syn_ack == TcpFlags::SYN {
        conv.completeness |= 1;
    } else if !first_frame {
        if syn_ack == (TcpFlags::SYN | TcpFlags::ACK) {
            conv.completeness |= 2;
        }
        if s.flags.0 & (TcpFlags::SYN | TcpFlags::ACK) == TcpFlags::ACK && s.seglen == 0 {
            conv.completeness |= 4;
        }
        if s.seglen > 0 {
            conv.completeness |= 8;
        }
        if s.flags.has(TcpFlags::FIN) {
            conv.completeness |= 16;
        }
        if s.flags.has(TcpFlags::RST) {
            conv.completeness |= 32;
        }
    }

    // Connection expert items.
    let mut ev = 0u8;
    if syn_ack == TcpFlags::SYN {
        ev |= ConnectionEvent::SYN;
    }
    if syn_ack == (TcpFlags::SYN | TcpFlags::ACK) {
        ev |= ConnectionEvent::SYNACK;
    }
    if s.flags.has(TcpFlags::FIN) {
        ev |= ConnectionEvent::FIN;
        let initiator = *conv.fin_initiator.get_or_insert(dir as u8);
        ev |= if initiator == dir as u8 {
            ConnectionEvent::FIN_ACTIVE
        } else {
            ConnectionEvent::FIN_PASSIVE
        };
    }
    if s.flags.has(TcpFlags::RST) {
        ev |= ConnectionEvent::RST;
    }
    out.connection = ConnectionEvent(ev);

    // Window scale: learnt from SYN options, as Wireshark's verify_tcp_window_scaling does.
    let (fwd_i, rev_i) = (dir, 1 - dir);
    if s.flags.has(TcpFlags::SYN) {
        if let Some(shift) = s.window_scale {
            conv.flows[fwd_i].win_scale = shift.min(14) as i8;
        }
        let is_synack = s.flags.has(TcpFlags::ACK);
        if conv.flows[fwd_i].win_scale == -1 {
            conv.flows[fwd_i].win_scale = -2;
            conv.flows[rev_i].win_scale = -2;
        } else if is_synack && conv.flows[rev_i].win_scale == -2 {
            conv.flows[fwd_i].win_scale = -2;
        }
        out.window_size = s.window as u32;
        out.window_scalefactor = None;
    } else {
        let ws = conv.flows[fwd_i].win_scale;
        out.window_size = if ws >= 0 {
            (s.window as u32) << ws
        } else {
            s.window as u32
        };
        out.window_scalefactor = Some(if ws >= 0 { 1 << ws } else { ws as i32 });
    }

    let mut analysis = FrameAnalysis {
        flags: pre_flags,
        created: pre_flags != 0,
        ..FrameAnalysis::default()
    };
    analyze_sequence_number(conv, fwd_i, s, &mut analysis);

    let [f0, f1] = &conv.flows;
    let (fwd, rev) = if fwd_i == 0 { (f0, f1) } else { (f1, f0) };
    out.seq = s.seq.wrapping_sub(fwd.base_seq);
    out.ack = if s.flags.has(TcpFlags::ACK) {
        s.ack.wrapping_sub(rev.base_seq)
    } else {
        s.ack
    };
    out.nxtseq = out.seq.wrapping_add(s.seglen).wrapping_add(
        if s.flags.has(TcpFlags::SYN | TcpFlags::FIN) {
            1
        } else {
            0
        },
    );

    out.flags = AnalysisFlags(analysis.flags);
    out.has_analysis = analysis.created;
    out.acks_frame = analysis.frame_acked;
    out.ack_rtt_ns = if analysis.frame_acked != 0 {
        analysis.ack_rtt
    } else {
        0
    };
    out.initial_rtt_ns = if analysis.created {
        conv.ts_first_rtt
    } else {
        0
    };
    out.bytes_in_flight = analysis.bytes_in_flight;
    out.push_bytes_sent = analysis.push_bytes_sent;
    if analysis.flags & DUPLICATE_ACK != 0 {
        out.dupack_num = analysis.dupack_num;
        out.dupack_frame = analysis.dupack_frame;
    }
    if analysis.flags & RETRANSMISSION != 0 {
        out.rto_ns = analysis.rto;
        out.rto_frame = analysis.rto_frame;
    }
    out
}

/// Wireshark's per-frame `tcp_acked` record: exists (`created`) once any analysis result is
/// attached to the frame, which is what makes tshark show the `tcp.analysis` subtree.
#[derive(Default)]
struct FrameAnalysis {
    created: bool,
    flags: u32,
    frame_acked: u32,
    ack_rtt: i64,
    bytes_in_flight: u32,
    push_bytes_sent: Option<u32>,
    dupack_num: u32,
    dupack_frame: u32,
    rto: i64,
    rto_frame: u32,
}

impl FrameAnalysis {
    #[inline]
    fn set(&mut self, f: u32) {
        self.created = true;
        self.flags |= f;
    }
}

/// The sequence analysis of one segment, in the order and with the rules of Wireshark 4.0's
/// `tcp_analyze_sequence_number`. Order matters: earlier checks change state later ones read.
fn analyze_sequence_number(
    conv: &mut Conversation,
    fwd_i: usize,
    s: &SegmentHeader,
    analysis: &mut FrameAnalysis,
) {
    let (seq, ack, seglen, flags) = (s.seq, s.ack, s.seglen, s.flags);
    let window = s.window as u32;
    let now = s.ts_ns;
    let first_rtt = conv.ts_first_rtt;
    let [f0, f1] = &mut conv.flows;
    let (fwd, rev) = if fwd_i == 0 { (f0, f1) } else { (f1, f0) };

    // Base sequence numbers: the ISN from a SYN, else one before the first sequence seen, so
    // the first mid-stream segment shows relative sequence 1.
    if !fwd.base_set {
        fwd.base_seq = if flags.has(TcpFlags::SYN) {
            seq
        } else {
            seq.wrapping_sub(1)
        };
        fwd.base_set = true;
    }
    if !rev.base_set && flags.has(TcpFlags::ACK) {
        rev.base_seq = ack.wrapping_sub(1);
        rev.base_set = true;
    }
    if flags.has(TcpFlags::ACK) {
        rev.valid_bif = true;
    }

    'fwd: {
        // Zero window probe: one byte at the next sequence while the peer's window is zero.
        if seglen == 1 && seq == fwd.nextseq && rev.window == 0 {
            analysis.set(ZERO_WINDOW_PROBE);
            break 'fwd;
        }
        if window == 0 && !flags.has(TcpFlags::RST | TcpFlags::FIN | TcpFlags::SYN) {
            analysis.set(ZERO_WINDOW);
        }
        if fwd.nextseq != 0 && gt(seq, fwd.nextseq) && !flags.has(TcpFlags::RST) {
            analysis.set(LOST_PACKET);
            // Bytes in flight are unknown until the other side ACKs again.
            fwd.valid_bif = false;
            // A gap in this direction re-arms "ACKed unseen segment" for the other side.
            fwd.dupacknum = 0;
        }
        // Keep-alive: 0 or 1 byte starting one before the next expected sequence number.
        if (seglen == 0 || seglen == 1)
            && seq == fwd.nextseq.wrapping_sub(1)
            && !flags.has(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST)
        {
            analysis.set(KEEP_ALIVE);
        }
        if seglen == 0
            && window != 0
            && window != fwd.window
            && seq == fwd.nextseq
            && ack == fwd.lastack
            && !flags.has(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST)
        {
            analysis.set(WINDOW_UPDATE);
        }
        if seglen > 0
            && rev.win_scale != -1
            && !flags.has(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST)
        {
            let shift = if rev.window_from_syn || rev.win_scale == -2 {
                0
            } else {
                rev.win_scale as u32
            };
            let edge = rev.lastack.wrapping_add(rev.window.wrapping_shl(shift));
            if seq.wrapping_add(seglen) == edge {
                analysis.set(WINDOW_FULL);
            }
        }
        let same_ack_seq = seglen == 0
            && seq == fwd.nextseq
            && ack == fwd.lastack
            && !flags.has(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST);
        if same_ack_seq
            && window != 0
            && window == fwd.window
            && rev.lastsegmentflags & KEEP_ALIVE != 0
        {
            analysis.set(KEEP_ALIVE_ACK);
            break 'fwd;
        }
        if same_ack_seq
            && window == 0
            && window == fwd.window
            && rev.lastsegmentflags & ZERO_WINDOW_PROBE != 0
        {
            analysis.set(ZERO_WINDOW_PROBE_ACK);
            break 'fwd;
        }
        if same_ack_seq && window != 0 && window == fwd.window {
            fwd.dupacknum = if fwd.dupacknum == -1 {
                1
            } else {
                fwd.dupacknum + 1
            };
            analysis.set(DUPLICATE_ACK);
            analysis.dupack_num = fwd.dupacknum.max(0) as u32;
            analysis.dupack_frame = fwd.lastnondupack;
        }
    }
    // finished_fwd:
    if ack != fwd.lastack {
        fwd.lastnondupack = s.frame;
        fwd.dupacknum = 0;
    }

    // ACKed unseen segment. tshark 4.0.17 reports it once per run of such ACKs: the other
    // direction's dup-ACK counter is parked at -1 until that side sends an ACK with a new
    // acknowledgment number or a segment after a gap, and "max seq to be acked" catches up with
    // what was seen. (Derived frame by frame from tshark 4.0.17 on crafted and real captures;
    // the published 4.0-era source alone does not reproduce it.)
    if rev.maxseqtobeacked != 0 && gt(ack, rev.maxseqtobeacked) && flags.has(TcpFlags::ACK) {
        analysis.created = true;
        if rev.maxseqtobeacked > rev.nextseq || rev.dupacknum == 0 {
            analysis.flags |= ACK_LOST_PACKET;
        }
        if rev.maxseqtobeacked <= rev.nextseq {
            rev.dupacknum = -1;
        }
        rev.maxseqtobeacked = rev.nextseq;
    }

    // Retransmission family.
    if seglen > 0 || flags.has(TcpFlags::SYN | TcpFlags::FIN) {
        let mut seq_not_advanced = fwd.nextseq != 0 && lt(seq, fwd.nextseq);
        'rtx: {
            if analysis.flags & KEEP_ALIVE != 0 {
                break 'rtx;
            }
            // Data after a dropped zero-window-probe byte is new data, not a retransmission.
            if seglen > 1 && fwd.nextseq.wrapping_sub(1) == seq {
                seq_not_advanced = false;
            }
            if seglen > 0 && rev.lastack != 0 && le(seq.wrapping_add(seglen), rev.lastack) {
                analysis.set(SPURIOUS_RETRANSMISSION);
                break 'rtx;
            }
            // Fast retransmission is tested before out-of-order (tshark's default preference).
            let t = now - rev.lastacktime;
            if seq_not_advanced
                && rev.dupacknum >= 2
                && rev.lastack == seq
                && (t as u64) < 20_000_000
            {
                analysis.set(FAST_RETRANSMISSION);
                break 'rtx;
            }
            let t = now - fwd.nextseqtime;
            let ooo_thres: u64 = if first_rtt == 0 {
                3_000_000
            } else {
                first_rtt as u64
            };
            let syn_fin = if flags.has(TcpFlags::SYN | TcpFlags::FIN) {
                1
            } else {
                0
            };
            if seq_not_advanced
                && (t as u64) < ooo_thres
                && fwd.nextseq != seq.wrapping_add(seglen).wrapping_add(syn_fin)
            {
                analysis.set(OUT_OF_ORDER);
                break 'rtx;
            }
            if seq_not_advanced {
                analysis.set(RETRANSMISSION);
                analysis.rto = now - fwd.nextseqtime;
                analysis.rto_frame = fwd.nextseqframe;
                // The oldest unacknowledged segment is the likeliest original.
                if let Some(oldest) = fwd.segments.front() {
                    analysis.rto = now - oldest.ts;
                    analysis.rto_frame = oldest.frame;
                }
            }
        }
    }

    // Bookkeeping.
    let mut nextseq = seq.wrapping_add(seglen);
    if (seglen > 0 || flags.has(TcpFlags::SYN | TcpFlags::FIN)) && fwd.segments.len() < MAX_UNACKED
    {
        if flags.has(TcpFlags::SYN | TcpFlags::FIN) {
            nextseq = nextseq.wrapping_add(1);
        }
        if let Some(last) = fwd.segments.back() {
            if lt(seq, last.nextseq) {
                fwd.segments_in_order = false;
            }
        }
        fwd.segments.push_back(Unacked {
            frame: s.frame,
            seq,
            nextseq,
            ts: now,
        });
    }
    let is_zwp = analysis.flags & ZERO_WINDOW_PROBE != 0;
    if (gt(nextseq, fwd.nextseq) || fwd.nextseq == 0) && !is_zwp {
        fwd.nextseq = nextseq;
        fwd.nextseqframe = s.frame;
        fwd.nextseqtime = now;
    }
    if (seq == fwd.maxseqtobeacked || fwd.maxseqtobeacked == 0) && !is_zwp {
        fwd.maxseqtobeacked = fwd.nextseq;
    }
    fwd.window = window;
    fwd.window_from_syn = flags.has(TcpFlags::SYN);
    fwd.lastack = ack;
    fwd.lastacktime = now;
    fwd.lastsegmentflags = if analysis.created { analysis.flags } else { 0 };

    // Remove what this segment acknowledges from the other direction's list. Wireshark walks
    // newest first and the last exact match wins, i.e. the oldest one: walking oldest first,
    // the first exact match wins.
    let mut acked_found = false;
    let mut ack_one = |u: &mut Unacked| -> bool {
        if ack == u.nextseq {
            if !acked_found {
                acked_found = true;
                analysis.created = true;
                analysis.frame_acked = u.frame;
                analysis.ack_rtt = now - u.ts;
            }
            false
        } else if gt(ack, u.seq) && le(ack, u.nextseq) {
            u.seq = ack;
            true
        } else {
            gt(u.nextseq, ack)
        }
    };
    if rev.segments_in_order {
        // Only a prefix can be touched: everything after the first segment that starts at or
        // after `ack` starts later still.
        while let Some(front) = rev.segments.front_mut() {
            if !gt(ack, front.seq) && ack != front.nextseq {
                break;
            }
            if ack_one(front) {
                break;
            }
            rev.segments.pop_front();
        }
    } else {
        rev.segments.retain_mut(|u| ack_one(u));
    }
    if rev.segments.is_empty() {
        rev.segments_in_order = true;
        if rev.segments.capacity() > 64 {
            rev.segments = VecDeque::new();
        }
    }

    // Bytes in flight, from the unacknowledged segments of this direction.
    if seglen != 0 && fwd.valid_bif {
        if let (Some(oldest), Some(newest)) = (fwd.segments.front(), fwd.segments.back()) {
            let base = fwd.base_seq;
            let (first, last) = if fwd.segments_in_order {
                (
                    oldest.seq.wrapping_sub(base),
                    newest.nextseq.wrapping_sub(base),
                )
            } else {
                let mut first = newest.seq.wrapping_sub(base);
                let mut last = newest.nextseq.wrapping_sub(base);
                for u in fwd.segments.iter() {
                    last = last.max(u.nextseq.wrapping_sub(base));
                    first = first.min(u.seq.wrapping_sub(base));
                }
                (first, last)
            };
            let in_flight = last.wrapping_sub(first).wrapping_sub(rev.sacked_bytes);
            if in_flight > 0 && in_flight < 2_000_000_000 {
                analysis.created = true;
                analysis.bytes_in_flight = in_flight
                    - if flags.has(TcpFlags::SYN | TcpFlags::FIN) {
                        1
                    } else {
                        0
                    };
            }
            let psh = flags.has(TcpFlags::PSH);
            if psh && !fwd.push_set_last {
                fwd.push_bytes_sent = fwd.push_bytes_sent.wrapping_add(seglen);
                fwd.push_set_last = true;
            } else if psh {
                fwd.push_bytes_sent = seglen;
            } else if fwd.push_set_last {
                fwd.push_bytes_sent = seglen;
                fwd.push_set_last = false;
            } else {
                fwd.push_bytes_sent = fwd.push_bytes_sent.wrapping_add(seglen);
            }
            analysis.created = true;
            analysis.push_bytes_sent = Some(fwd.push_bytes_sent);
        }
    }
    fwd.sacked_bytes = s.sacked_bytes;
}
