//! The analysis pipeline: bytes → packets → streams.
//!
//! [`Engine`] reads a capture record by record (`keepsight-capture`), dissects each frame
//! (`keepsight-wire`), tracks TCP streams and their analysis flags (`keepsight-tcp`), and hands
//! out one [`Frame`] at a time. A `Frame` implements [`keepsight_fields::Packet`], so printers
//! and display filters read named fields (`tcp.stream`, `tcp.analysis.keep_alive`, ...) from it
//! without knowing where they come from.
//!
//! Everything is streamed: nothing is kept per packet, and a `Frame` borrows the record's bytes
//! until the next call to [`Engine::next_frame`].
//!
//! What this crate is not: it does not print or filter (the CLI and `keepsight-filter` do), and
//! it draws no conclusions about connections (`keepsight-diagnose` does).

pub mod apps;
pub mod decode_as;
pub mod expert;
mod fields_apps;
mod fields_impl;
mod fields_mqtt;
mod fields_ws;
pub mod h2;
pub mod mqtt;
pub mod reasm;
mod tcp_flags;
pub mod tls;
pub mod ws;

use keepsight_capture::{CaptureError, CaptureReader, Record};
use keepsight_fields::{NsTime, Value};
use keepsight_tcp::{flag, Segment, SegmentHeader, TcpInfo, Tracker};
use keepsight_wire::{dissect, Dissection, Network, TcpOption, Transport};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

pub use keepsight_capture as capture;
pub use keepsight_tcp as tcp;
pub use keepsight_tls::{KeyLog, KeyLogError};
pub use keepsight_wire as wire;
pub use tcp_flags::flags_str;

/// One analysed frame.
pub struct Frame<'a> {
    /// Frame number, from 1.
    pub number: u32,
    /// The captured record: bytes, lengths, interface and pcapng options, for readers of
    /// `frame.*` fields.
    pub record: Record<'a>,
    /// Capture time in ns since the epoch (0 when the file has no time stamp for it).
    pub ts_ns: i64,
    /// Time since the first frame.
    pub time_relative_ns: i64,
    /// Time since the previous captured frame.
    pub time_delta_ns: i64,
    /// Time since the previous displayed frame; the caller sets it when it filters.
    pub time_delta_displayed_ns: i64,
    /// Where each layer sits in the record's bytes; field readers slice the bytes with it.
    pub dissection: Dissection,
    /// The stream tracker's view of a TCP segment (stream index, relative numbers, analysis
    /// flags); `None` for frames without TCP.
    pub tcp: Option<TcpInfo>,
    /// `udp.stream`, for UDP frames.
    pub udp_stream: Option<u32>,
    /// True when the capture is pcapng (which has interface ids).
    pub pcapng: bool,
    /// On the frame whose IP fragment completes a datagram: the reassembled datagram, which the
    /// transport fields (`udp.*` or `tcp.*` with its stream analysis, `data`) then come from, as
    /// in tshark.
    pub reassembled: Option<reasm::Reassembled<'a>>,
    /// The TLS records this frame's segment completed, on a stream recognized as TLS.
    pub tls: Option<tls::FrameTls<'a>>,
    /// The HTTP/2 frames this frame's segment completed, on a stream decoded as HTTP/2.
    pub h2: Option<h2::FrameH2<'a>>,
    /// The FIX, SMPP or AMQP messages this frame's segment carries.
    pub app: Option<apps::FrameApp<'a>>,
    /// The MQTT packets this frame's segment completed (port 1883 or decoded as mqtt).
    pub mqtt: Option<mqtt::FrameMqtt<'a>>,
    /// The WebSocket frames this frame's segment completed (or part of one), on a stream
    /// upgraded to WebSocket or decoded as `websocket`.
    pub ws: Option<ws::FrameWs<'a>>,
    /// On a TLS stream decrypted with a key log: the frame's place in the stream's
    /// application-data sequence space ([`Frame::decrypted_segment`]).
    pub plain: Option<tls::PlainPosition>,
    /// Time stamps with an out-of-range fraction seen so far (`None` while there are none, so
    /// ordinary captures never look): what the time differences ending at this frame need to
    /// be printed as tshark prints them.
    odd_times: Option<&'a OddTimes>,
}

/// Time stamps whose fraction lies outside 0..10⁹ ns (see [`keepsight_capture::Record`]):
/// the instant (ns) → the fraction as written. A time difference that starts at one of them
/// keeps tshark's odd seconds/nanoseconds form. Bounded: past [`OddTimes::MAX`] entries further
/// ones are not remembered (their differences then print as ordinary times).
#[derive(Default)]
struct OddTimes {
    by_ns: HashMap<i64, i32>,
}

impl OddTimes {
    const MAX: usize = 65_536;

    fn add(&mut self, ns: i64, frac: i32) {
        if self.by_ns.len() < Self::MAX {
            self.by_ns.insert(ns, frac);
        }
    }

    /// The seconds/nanoseconds pair of an earlier frame's time stamp at `ns`.
    fn pair(&self, ns: i64) -> NsTime {
        match self.by_ns.get(&ns) {
            Some(&frac) => pair_with_fraction(ns, frac),
            None => NsTime::from_ns(ns),
        }
    }
}

fn pair_with_fraction(ns: i64, frac: i32) -> NsTime {
    NsTime {
        secs: (ns - i64::from(frac)) / 1_000_000_000,
        nsecs: frac,
    }
}

impl<'a> Frame<'a> {
    /// The captured bytes, with the capture's lifetime rather than the frame's, so a reader
    /// can keep them while it asks the frame other questions.
    pub fn data(&self) -> &'a [u8] {
        self.record.data
    }

    /// The TCP header of this frame's segment, from the frame or from the reassembled datagram
    /// (use this rather than `dissection.tcp(data())`, which sees only unfragmented segments).
    pub fn tcp_header(&self) -> Option<keepsight_wire::TcpHeader<'a>> {
        match self.reassembled {
            Some(r) if r.proto == 6 => keepsight_wire::TcpHeader::new(r.data),
            Some(_) => None,
            None => self.dissection.tcp(self.record.data),
        }
    }

    /// The captured TCP payload (may be shorter than `tcp.len` when cut by a snap length).
    pub fn tcp_payload(&self) -> &'a [u8] {
        if self.tcp.is_none() {
            return &[];
        }
        match self.reassembled {
            Some(_) => self
                .tcp_header()
                .map_or(&[], |h| &h.bytes()[h.header_len()..]),
            None => self.dissection.payload(self.record.data),
        }
    }

    /// UDP over IPv6 without a checksum (RFC 8200 §8.1 requires one): tshark raises an expert
    /// error and marks the Info column. For a fragmented datagram that is the reassembled
    /// datagram's header, on the frame that completes it (which may be any piece); the pieces
    /// themselves carry no UDP (checked with tshark on crafted/udp6-zero-checksum-fragments.pcap).
    pub fn udp_checksum_illegal(&self) -> bool {
        matches!(self.dissection.network, Network::Ipv6 { .. })
            && self.udp_header().is_some_and(|u| u.checksum() == 0)
    }

    /// The time stamp as tshark keeps it: seconds and the fraction as the file wrote it (which
    /// only differs from the plain count when the fraction is out of range).
    pub fn time_stamp(&self) -> NsTime {
        match self.record.invalid_frac_ns {
            Some(frac) => pair_with_fraction(self.ts_ns, frac),
            None => NsTime::from_ns(self.ts_ns),
        }
    }

    /// The difference `since_ns` that ends at this frame's time stamp as tshark has it, when a
    /// time stamp at either end has an out-of-range fraction and tshark's difference is not the
    /// plain count: it keeps the odd fraction, or its 32-bit nanosecond arithmetic wrapped.
    /// `None` when it is an ordinary duration.
    pub fn odd_time_since(&self, since_ns: i64) -> Option<NsTime> {
        let odd = self.odd_times?;
        let d = NsTime::delta(self.time_stamp(), odd.pair(self.ts_ns - since_ns));
        (d != NsTime::from_ns(since_ns)).then_some(d)
    }

    /// A relative-time field value ending at this frame: [`Value::RelTime`] unless
    /// [`Frame::odd_time_since`] says otherwise.
    pub(crate) fn time_since(&self, since_ns: i64) -> Value<'static> {
        match self.odd_time_since(since_ns) {
            Some(t) => Value::RelNsTime(t),
            None => Value::RelTime(since_ns),
        }
    }

    /// `tcp.len`, when this is a TCP frame.
    pub fn tcp_len(&self) -> Option<u32> {
        self.tcp.as_ref()?;
        match self.reassembled {
            // A reassembled datagram is whole: every byte after the header is payload.
            Some(_) => self
                .tcp_header()
                .map(|h| (h.bytes().len() - h.header_len()) as u32),
            None => self.dissection.payload_len,
        }
    }

    /// TTL (IPv4) or hop limit (IPv6).
    pub fn ttl(&self) -> Option<u8> {
        let d = self.record.data;
        match self.dissection.network {
            Network::Ipv4 { .. } => self.dissection.ipv4(d).map(|h| h.ttl()),
            Network::Ipv6 { .. } => self.dissection.ipv6(d).map(|h| h.hop_limit()),
            Network::None => None,
        }
    }

    /// The UDP header and what follows: from the frame, or from the reassembled datagram this
    /// frame completes.
    pub fn udp_bytes(&self) -> Option<&'a [u8]> {
        match self.reassembled {
            Some(r) if r.proto == 17 && r.data.len() >= 8 => Some(r.data),
            Some(_) => None,
            None => match self.dissection.transport {
                Transport::Udp { .. } => Some(self.dissection.transport_bytes(self.record.data)),
                _ => None,
            },
        }
    }

    /// The UDP header, from the frame or from the reassembled datagram.
    pub fn udp_header(&self) -> Option<keepsight_wire::UdpHeader<'a>> {
        self.udp_bytes().and_then(keepsight_wire::UdpHeader::new)
    }

    /// This frame as the analyses see a TCP segment (`None` unless it is a TCP frame): borrows
    /// the payload, copies only the header values. Reads the TCP and IP headers once each.
    #[inline]
    pub fn segment(&self) -> Option<Segment<'a>> {
        let tcp = self.tcp.as_ref()?;
        let h = self.tcp_header()?;
        let (src, dst, ttl) = self.ip_addresses()?;
        Some(Segment {
            frame: self.number,
            ts_ns: self.ts_ns,
            stream: tcp.stream,
            src: SocketAddr::new(src, h.src_port()),
            dst: SocketAddr::new(dst, h.dst_port()),
            flags: h.flags(),
            seq: tcp.seq,
            ack: tcp.ack,
            len: self.tcp_len().unwrap_or(0),
            payload: self.tcp_payload(),
            window: tcp.window_size,
            ttl,
            analysis: tcp.flags,
        })
    }

    /// On a TLS stream decrypted with a key log, this frame as the analyses of the
    /// application protocol see it: its decrypted application data as payload, numbered in
    /// the stream's own application-data sequence space (see [`tls::PlainPosition`]); times
    /// and analysis flags are the frame's, and so are the TCP flags, plus FIN on the frame
    /// carrying the sender's close_notify (the end of its application data). `None`
    /// elsewhere (use [`Frame::segment`]).
    #[inline]
    pub fn decrypted_segment(&self) -> Option<Segment<'a>> {
        let pos = self.plain?;
        let mut s = self.segment()?;
        let app = self.tls.map_or(&[][..], |t| t.app());
        if self.tls.is_some_and(|t| t.close_notify()) {
            s.flags = keepsight_wire::TcpFlags(s.flags.0 | keepsight_wire::TcpFlags::FIN);
        }
        s.seq = pos.seq;
        s.ack = pos.ack;
        s.len = app.len() as u32;
        s.payload = app;
        Some(s)
    }

    /// [`Frame::decrypted_segment`] when the frame's stream is decrypted, else
    /// [`Frame::segment`]: what an application-protocol analysis reads.
    #[inline]
    pub fn application_segment(&self) -> Option<Segment<'a>> {
        if self.plain.is_some() {
            self.decrypted_segment()
        } else {
            self.segment()
        }
    }

    /// Source and destination socket addresses of a TCP or UDP frame.
    pub fn endpoints(&self) -> Option<(SocketAddr, SocketAddr)> {
        let (sp, dp) = if let Some(t) = self.tcp_header() {
            (t.src_port(), t.dst_port())
        } else if let Some(u) = self.udp_header() {
            (u.src_port(), u.dst_port())
        } else {
            return None;
        };
        let (s, t, _) = self.ip_addresses()?;
        Some((SocketAddr::new(s, sp), SocketAddr::new(t, dp)))
    }

    /// Source and destination addresses and the TTL (IPv4) or hop limit (IPv6).
    #[inline]
    fn ip_addresses(&self) -> Option<(IpAddr, IpAddr, u8)> {
        let d = self.record.data;
        if let Some(h) = self.dissection.ipv4(d) {
            Some((h.src().into(), h.dst().into(), h.ttl()))
        } else {
            let h = self.dissection.ipv6(d)?;
            Some((h.src().into(), h.dst().into(), h.hop_limit()))
        }
    }
}

/// Reads and analyses a capture, one frame at a time.
pub struct Engine {
    reader: CaptureReader,
    tracker: Tracker,
    udp_streams: UdpStreams,
    reasm: reasm::Reassembler,
    tls: tls::TlsTracker,
    decode_as: decode_as::DecodeAs,
    h2: h2::H2Tracker,
    mqtt: mqtt::MqttTracker,
    ws: ws::WsTracker,
    frames: u32,
    first_ts: Option<i64>,
    prev_ts: i64,
    pcapng: bool,
    odd_times: OddTimes,
    damage: Vec<Damage>,
    damaged: u64,
}

/// A record keepsight read but whose content is damaged: reported to the user (tshark only
/// raises an expert note in the frame).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// The damaged frame's number, to look it up in tshark or `keepsight packets`.
    pub frame: u32,
    /// Byte offset of the record in the (decompressed) file.
    pub offset: u64,
    /// What is wrong with it, as shown to the user.
    pub what: String,
}

impl Engine {
    /// Opens a capture file (pcap or pcapng, plain or gzip) for analysis from its first frame.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CaptureError> {
        Ok(Self::from_reader(CaptureReader::open(path)?))
    }

    /// Analyses a reader already opened (a capture held in memory, in tests and fuzzing).
    pub fn from_reader(reader: CaptureReader) -> Self {
        let pcapng = reader.format() == keepsight_capture::Format::PcapNg;
        Engine {
            pcapng,
            reader,
            tracker: Tracker::new(),
            udp_streams: HashMap::new(),
            reasm: reasm::Reassembler::default(),
            tls: tls::TlsTracker::default(),
            decode_as: decode_as::DecodeAs::default(),
            h2: h2::H2Tracker::default(),
            mqtt: mqtt::MqttTracker::default(),
            ws: ws::WsTracker::default(),
            frames: 0,
            first_ts: None,
            prev_ts: 0,
            odd_times: OddTimes::default(),
            damage: Vec::new(),
            damaged: 0,
        }
    }

    /// Decodes the TCP ports of `rules` as their protocols (tshark's `-d`), from the next
    /// frame on.
    pub fn set_decode_as(&mut self, rules: decode_as::DecodeAs) {
        self.decode_as = rules;
    }

    /// Decrypts the TLS streams of the capture with the secrets of `keys` (tshark's
    /// `-o tls.keylog_file:PATH`); call before the first frame.
    pub fn set_tls_keylog(&mut self, keys: std::sync::Arc<keepsight_tls::KeyLog>) {
        self.tls.set_keylog(keys);
    }

    /// Why records of TLS stream `stream` stayed encrypted although a key log was given
    /// (no secret for it, wrong secret, unsupported suite); `None` when all were decrypted
    /// or no key log was given.
    pub fn tls_decryption_note(&self, stream: u32) -> Option<&str> {
        self.tls.decryption_note(stream)
    }

    /// Every TLS stream (`tcp.stream`) of the frames read so far whose records the key log
    /// could not decrypt, with the frame where that was first met and why; empty without a
    /// key log.
    pub fn tls_decryption_notes(&self) -> impl Iterator<Item = (u32, u32, &str)> + '_ {
        self.tls.decryption_notes()
    }

    /// Damaged records met so far (the first [`Engine::DAMAGE_KEPT`]), and how many in all.
    pub fn damage(&self) -> (&[Damage], u64) {
        (&self.damage, self.damaged)
    }

    /// How many damaged records are kept for the report; the rest are only counted, so a
    /// badly broken file cannot grow memory.
    pub const DAMAGE_KEPT: usize = 100;

    /// The underlying reader, for file-level facts (format, interfaces, compression).
    pub fn reader(&self) -> &CaptureReader {
        &self.reader
    }

    /// The underlying reader, to set it up before the first frame (a writer asking for the
    /// container structures).
    pub fn reader_mut(&mut self) -> &mut CaptureReader {
        &mut self.reader
    }

    /// Frames returned so far.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// TCP streams seen so far.
    pub fn tcp_streams(&self) -> u32 {
        self.tracker.streams()
    }

    /// The next frame; `Ok(None)` at the end. After an error the engine is finished; frames
    /// returned before it stay valid results.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        let pcapng = self.pcapng;
        let Some(record) = self.reader.next_record()? else {
            return Ok(None);
        };
        self.frames += 1;
        // A damaged or hostile pcapng can stamp a frame anywhere in i64's range. Within ±2^62 ns
        // (1970 ± 146 years) the difference of any two stamps fits in i64, so every delta the
        // tracker and the analyses take stays exact arithmetic instead of overflowing.
        const STAMP_LIMIT_NS: i64 = 1 << 62;
        let ts_ns = record
            .ts_ns
            .unwrap_or(0)
            .clamp(-STAMP_LIMIT_NS, STAMP_LIMIT_NS);
        let first = *self.first_ts.get_or_insert(ts_ns);
        let time_delta_ns = if self.frames == 1 {
            0
        } else {
            ts_ns - self.prev_ts
        };
        self.prev_ts = ts_ns;
        if let Some(frac) = record.invalid_frac_ns {
            self.odd_times.add(ts_ns, frac);
            self.damaged += 1;
            if self.damage.len() < Self::DAMAGE_KEPT {
                self.damage.push(Damage {
                    frame: self.frames,
                    offset: record.file_offset,
                    what: format!(
                        "time stamp fraction {frac} ns is outside 0..1000000000 (a broken \
                         capture writer); times are shown as tshark shows them"
                    ),
                });
            }
        }
        let dissection = dissect(record.link_type, record.data, record.orig_len);
        let data = record.data;
        let mut tcp = None;
        let mut udp_stream = None;
        let mut reassembled = None;
        let mut tls = None;
        let mut h2 = None;
        let mut app = None;
        let mut mqtt_layer = None;
        let mut ws = None;
        let mut plain = None;
        // Only fragments reach the reassembler: the check is one bit for everything else.
        if dissection.has_problem(keepsight_wire::Problem::Fragment) {
            if let Some(f) = dissection.fragment(data) {
                if self.reasm.add(self.frames, ts_ns, &f) {
                    let r = self.reasm.last();
                    if r.proto == 17 {
                        if let Some(u) = keepsight_wire::UdpHeader::new(r.data) {
                            udp_stream =
                                Some(udp_stream_id(&mut self.udp_streams, &dissection, data, u));
                        }
                    } else if r.proto == 6 {
                        // tshark runs TCP and its analysis on the reassembled segment, in the
                        // frame that completes it.
                        if let Some(h) = keepsight_wire::TcpHeader::new(r.data) {
                            let seglen = (r.data.len() - h.header_len()) as u32;
                            let seg = segment(self.frames, ts_ns, &dissection, data, h, seglen);
                            tcp = Some(self.tracker.process(&seg));
                        }
                    }
                    reassembled = Some(r);
                }
            }
        }
        match dissection.transport {
            Transport::Tcp { .. } => {
                if let (Some(h), Some(seglen)) = (dissection.tcp(data), dissection.payload_len) {
                    let seg = segment(self.frames, ts_ns, &dissection, data, h, seglen);
                    let t = self.tracker.process(&seg);
                    let rule = if self.decode_as.is_empty() {
                        None
                    } else {
                        self.decode_as.tcp_match(seg.src_port, seg.dst_port)
                    };
                    let rule = rule.or_else(|| {
                        (seg.src_port == keepsight_apps::mqtt::PORT
                            || seg.dst_port == keepsight_apps::mqtt::PORT)
                            .then_some((keepsight_apps::mqtt::PORT, decode_as::AppProtocol::Mqtt))
                    });
                    match rule {
                        Some((_, decode_as::AppProtocol::Http2)) => {
                            h2 = h2_layer(&mut self.h2, &t, &seg, dissection.payload(data));
                        }
                        Some((_, decode_as::AppProtocol::Mqtt)) => {
                            mqtt_layer =
                                mqtt_layer_of(&mut self.mqtt, &t, &seg, dissection.payload(data));
                        }
                        Some((_, decode_as::AppProtocol::WebSocket)) => {
                            ws = ws_layer(&mut self.ws, &t, &seg, dissection.payload(data), true);
                        }
                        Some((port, decode_as::AppProtocol::App(kind))) => {
                            let to_server = seg.dst_port == port;
                            app = app_layer(&t, &seg, dissection.payload(data), |p| {
                                apps::decoded_as(kind, p, to_server)
                            });
                        }
                        None => {
                            (tls, plain) =
                                tls_layer(&mut self.tls, &t, &seg, || dissection.payload(data));
                            if tls.is_none() && self.ws.may_be_ws(t.stream) {
                                ws = ws_layer(
                                    &mut self.ws,
                                    &t,
                                    &seg,
                                    dissection.payload(data),
                                    false,
                                );
                            }
                            if tls.is_none() && ws.is_none() && seg.seglen != 0 {
                                let ports = (seg.src_port, seg.dst_port);
                                app = app_layer(&t, &seg, dissection.payload(data), |p| {
                                    apps::recognized(ports, p)
                                });
                            }
                        }
                    }
                    tcp = Some(t);
                }
            }
            Transport::Udp { .. } => {
                if let Some(u) = dissection.udp(data) {
                    udp_stream = Some(udp_stream_id(&mut self.udp_streams, &dissection, data, u));
                }
            }
            Transport::None => {}
        }
        Ok(Some(Frame {
            tls,
            h2,
            app,
            mqtt: mqtt_layer,
            ws,
            plain,
            number: self.frames,
            record,
            ts_ns,
            time_relative_ns: ts_ns - first,
            time_delta_ns,
            time_delta_displayed_ns: 0,
            dissection,
            tcp,
            udp_stream,
            pcapng,
            reassembled,
            odd_times: (!self.odd_times.by_ns.is_empty()).then_some(&self.odd_times),
        }))
    }

    /// IP datagrams waiting for missing fragments.
    pub fn pending_fragments(&self) -> usize {
        self.reasm.pending()
    }
}

/// The TLS records of a TCP segment `seg` (analysed as `t`) of a frame whose payload
/// `payload` gives: in-order payload only, as tshark dissects it (not retransmissions; TCP
/// in IP fragments is not looked at). A FIN or RST without payload frees the ended
/// direction's buffers. A stream known not to be TLS costs one slot lookup.
#[inline]
fn tls_layer<'a>(
    tracker: &'a mut tls::TlsTracker,
    t: &TcpInfo,
    seg: &SegmentHeader,
    payload: impl FnOnce() -> &'a [u8],
) -> (Option<tls::FrameTls<'a>>, Option<tls::PlainPosition>) {
    if !tracker.may_be_tls(t.stream) {
        return (None, None);
    }
    let plain = tracker.plain_position(t.stream, (seg.src, seg.src_port), seg.flags.fin());
    let tls = tls_layer_of_candidate(tracker, t, seg, payload());
    let plain = plain.or_else(|| tls.as_ref().and_then(|t| t.first_plain()));
    (tls, plain)
}

/// [`tls_layer`] for a stream that is TLS or not decided yet.
#[inline(never)]
fn tls_layer_of_candidate<'a>(
    tracker: &'a mut tls::TlsTracker,
    t: &TcpInfo,
    seg: &SegmentHeader,
    payload: &'a [u8],
) -> Option<tls::FrameTls<'a>> {
    let src = (seg.src, seg.src_port);
    match app_input(t, seg, payload.len()) {
        AppInput::End { rst } => {
            tracker.end(t.stream, src, rst);
            None
        }
        AppInput::Nothing => None,
        AppInput::Payload => {
            tracker.segment(seg.frame, t.stream, src, seg.dst_port, t.seq, payload)
        }
    }
}

/// What an application-layer tracker (TLS records, HTTP/2 frames) takes from a TCP segment.
enum AppInput {
    /// A FIN or RST without payload: the sender's direction ended.
    End { rst: bool },
    /// Nothing to feed: an empty segment, or a retransmitted, out-of-order or truncated one.
    Nothing,
    /// In-order payload, whole in the capture.
    Payload,
}

/// The one rule both trackers follow: in-order payload only, and the end of a direction.
#[inline]
fn app_input(t: &TcpInfo, seg: &SegmentHeader, captured: usize) -> AppInput {
    if seg.seglen == 0 {
        return if seg.flags.fin() || seg.flags.rst() {
            AppInput::End {
                rst: seg.flags.rst(),
            }
        } else {
            AppInput::Nothing
        };
    }
    let skipped = flag::RETRANSMISSION | flag::OUT_OF_ORDER | flag::SPURIOUS_RETRANSMISSION;
    if t.flags.has(skipped) || captured != seg.seglen as usize {
        return AppInput::Nothing;
    }
    AppInput::Payload
}

/// The HTTP/2 frames of a TCP segment on a port decoded as HTTP/2: in-order payload only,
/// as for [`tls_layer`]; a FIN or RST without payload frees the ended direction's buffers.
#[inline(never)]
fn h2_layer<'a>(
    tracker: &'a mut h2::H2Tracker,
    t: &TcpInfo,
    seg: &SegmentHeader,
    payload: &[u8],
) -> Option<h2::FrameH2<'a>> {
    let src = (seg.src, seg.src_port);
    match app_input(t, seg, payload.len()) {
        AppInput::End { rst } => {
            tracker.end(t.stream, src, rst);
            None
        }
        AppInput::Nothing => None,
        AppInput::Payload => tracker.segment(t.stream, src, t.seq, payload),
    }
}

/// The MQTT packets of a TCP segment on port 1883 or a port decoded as MQTT: in-order
/// payload only, as for [`tls_layer`]; a FIN or RST without payload drops partial packets.
#[inline(never)]
fn mqtt_layer_of<'a>(
    tracker: &'a mut mqtt::MqttTracker,
    t: &TcpInfo,
    seg: &SegmentHeader,
    payload: &[u8],
) -> Option<mqtt::FrameMqtt<'a>> {
    let src = (seg.src, seg.src_port);
    match app_input(t, seg, payload.len()) {
        AppInput::End { rst } => {
            tracker.end(t.stream, src, rst);
            None
        }
        AppInput::Nothing => None,
        AppInput::Payload => tracker.segment(t.stream, src, t.seq, payload),
    }
}

/// The WebSocket frames of a TCP segment: in-order payload only, as for [`tls_layer`];
/// `decoded` when the port is decoded as `websocket`.
#[inline(never)]
fn ws_layer<'a>(
    tracker: &'a mut ws::WsTracker,
    t: &TcpInfo,
    seg: &SegmentHeader,
    payload: &[u8],
    decoded: bool,
) -> Option<ws::FrameWs<'a>> {
    let src = (seg.src, seg.src_port);
    match app_input(t, seg, payload.len()) {
        AppInput::End { rst } => {
            tracker.end(t.stream, src, rst);
            None
        }
        AppInput::Nothing => None,
        AppInput::Payload => tracker.segment(t.stream, src, decoded, payload),
    }
}

/// The FIX, SMPP or AMQP layer of a TCP segment: in-order payload only, as for
/// [`tls_layer`], found by `find`.
#[inline]
fn app_layer<'a>(
    t: &TcpInfo,
    seg: &SegmentHeader,
    payload: &'a [u8],
    find: impl FnOnce(&'a [u8]) -> Option<apps::FrameApp<'a>>,
) -> Option<apps::FrameApp<'a>> {
    match app_input(t, seg, payload.len()) {
        AppInput::Payload => find(payload),
        _ => None,
    }
}

/// One end of a UDP conversation; an IPv4 address fills the first 4 bytes. Ordered by address,
/// then port, which decides which end a conversation lists first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct UdpEndpoint {
    addr: [u8; 16],
    port: u16,
}

/// A UDP conversation regardless of direction: its lower endpoint first.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct UdpConversation {
    lower: UdpEndpoint,
    upper: UdpEndpoint,
}

/// UDP conversations and their `udp.stream` numbers.
type UdpStreams = HashMap<UdpConversation, u32>;

/// `udp.stream`: conversations numbered in order of first appearance, either direction.
fn udp_stream_id(
    streams: &mut UdpStreams,
    d: &Dissection,
    data: &[u8],
    u: keepsight_wire::UdpHeader<'_>,
) -> u32 {
    let (_, src, dst) = addresses(d, data);
    let a = UdpEndpoint {
        addr: src,
        port: u.src_port(),
    };
    let b = UdpEndpoint {
        addr: dst,
        port: u.dst_port(),
    };
    let key = UdpConversation {
        lower: a.min(b),
        upper: a.max(b),
    };
    let next = streams.len() as u32;
    *streams.entry(key).or_insert(next)
}

fn addresses(d: &Dissection, data: &[u8]) -> (bool, [u8; 16], [u8; 16]) {
    if let Some(h) = d.ipv4(data) {
        let mut s = [0u8; 16];
        let mut t = [0u8; 16];
        s[..4].copy_from_slice(&h.src());
        t[..4].copy_from_slice(&h.dst());
        (false, s, t)
    } else if let Some(h) = d.ipv6(data) {
        (true, h.src(), h.dst())
    } else {
        (false, [0; 16], [0; 16])
    }
}

/// The tracker's view of one TCP segment: addresses from the frame's IP header, the rest from
/// the TCP header `h` (in the frame, or in the datagram the frame's fragment completes).
#[inline]
fn segment(
    frame: u32,
    ts_ns: i64,
    d: &Dissection,
    data: &[u8],
    h: keepsight_wire::TcpHeader<'_>,
    seglen: u32,
) -> SegmentHeader {
    let (ipv6, src, dst) = addresses(d, data);
    let flags = h.flags();
    let window_scale = if flags.syn() {
        h.options().find_map(|o| match o {
            TcpOption::WindowScale(s) => Some(s),
            _ => None,
        })
    } else {
        None
    };
    let sacked_bytes = h
        .options()
        .filter_map(|o| match o {
            TcpOption::Sack(blocks) => Some(
                blocks
                    .chunks_exact(8)
                    .map(|b| {
                        u32::from_be_bytes([b[4], b[5], b[6], b[7]])
                            .wrapping_sub(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    })
                    .fold(0u32, u32::wrapping_add),
            ),
            _ => None,
        })
        .fold(0u32, u32::wrapping_add);
    SegmentHeader {
        frame,
        ts_ns,
        ipv6,
        src,
        dst,
        src_port: h.src_port(),
        dst_port: h.dst_port(),
        seq: h.seq(),
        ack: h.ack(),
        flags,
        window: h.window(),
        seglen,
        window_scale,
        sacked_bytes,
    }
}
