//! Per-stream online state: everything one TCP connection needs to be diagnosed at its end,
//! updated segment by segment in constant memory (no per-packet record is kept).

pub(crate) use crate::event::Event;
use crate::options::Options;
pub(crate) use crate::sig::{Known, Sig};
use crate::stats::{DurationStats, Sample};
use crate::template::{Shape, Template, MAX_BEAT_LEN, MAX_TEMPLATE_LEN, SIG_BYTES};
use keepsight_tcp::{flag, Segment};
use std::net::SocketAddr;

/// Bytes the peer may send between two beats of a template heartbeat (a reply, or two):
/// more, most of the time, is request/response traffic that merely repeats.
const MAX_PEER_BYTES_PER_BEAT: u64 = 2 * MAX_TEMPLATE_LEN as u64;
/// A message longer than [`MAX_BEAT_LEN`] is a template beat only if its sender sent nothing
/// for this long before it: a beat is sent on its own, once a period, while a segment that
/// follows its side's data within milliseconds continues a burst (a response body after its
/// head, a transfer's last segment). This also keeps the template's work off busy streams.
pub(crate) const MIN_QUIET_BEFORE_LONG_BEAT_NS: i64 = 10_000_000;
/// Heartbeat candidates tracked per direction.
const CANDIDATES: usize = 3;
/// Gaps kept exactly per candidate to estimate its period.
pub(crate) const GAP_SAMPLE: usize = 48;
/// Anomaly records kept per candidate and kind (more are only counted).
pub(crate) const MAX_RECORDS: usize = 32;
/// An idle gap at least this long arms the state-loss watch: a NAT or firewall that forgot the
/// connection drops (or rejects) whatever comes next. Short on purpose: lab NATs use seconds.
pub(crate) const STATE_LOSS_MIN_IDLE_NS: i64 = 5_000_000_000;

/// What TLS adds around a small message: the record header, TLS 1.2's explicit nonce, a
/// 16-byte tag and TLS 1.3's inner content type, with room for padding. A TLS record up to
/// [`MAX_BEAT_LEN`] plus this may carry a heartbeat.
pub(crate) const TLS_BEAT_OVERHEAD: u32 = 48;
/// A TLS 1.3 encrypted alert's record length: 2 bytes of alert, the inner content type and a
/// 16-byte tag (every AEAD suite TLS 1.3 defines but the rare CCM_8).
const TLS13_ALERT_LEN: usize = 2 + 1 + 16;
/// Records one segment may hand to heartbeat discovery (more are not looked at: a segment
/// with that many small records is bulk data, not a beat).
const TLS_MESSAGES_PER_SEGMENT: usize = 8;

/// Whether a stream is TLS: undecided until its first payload.
#[derive(Debug, Clone, Default)]
pub(crate) enum TlsMode {
    #[default]
    Undecided,
    Plain,
    Tls(Box<TlsWatch>),
}

/// A TLS record seen on a stream, as the close analysis needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TlsRecordEvent {
    pub ev: Event,
    /// An alert on the wire: content type 21, or a TLS 1.3 encrypted record of an alert's
    /// size (2 bytes, its inner type and a 16-byte tag). Encrypted, close_notify and a fatal
    /// alert look alike.
    pub alert: bool,
    /// A decrypted alert's description (with a key log), which then says which one it was.
    pub decrypted_alert: Option<u8>,
}

/// The TLS view of a stream whose first payload opened a handshake (keepsight-tls): records
/// become the messages heartbeat discovery sees, and the records around the FINs tell how
/// the connection was shut down.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsWatch {
    pub dirs: [keepsight_tls::Direction; 2],
    pub session: keepsight_tls::Session,
    /// With a key log: the stream's decryption state.
    pub decryptor: Option<Box<keepsight_tls::Decryptor>>,
    /// Per direction: its last record.
    pub last_record: [Option<TlsRecordEvent>; 2],
    /// Per direction: its last record when it sent its FIN.
    pub before_fin: [Option<TlsRecordEvent>; 2],
    /// Per direction: the first record it sent after the peer's FIN.
    pub after_peer_fin: [Option<TlsRecordEvent>; 2],
    /// Per direction: its FIN came in the middle of a record (bytes of it sent, record length).
    pub cut: [Option<(Event, usize, usize)>; 2],
    /// Per direction: RFC 6520 heartbeat records (content type 24).
    pub heartbeat_records: [u64; 2],
    /// Per direction: the segment whose bytes were no TLS record where one should start,
    /// and those bytes.
    pub unreadable: [Option<(Event, [u8; keepsight_tls::record::HEADER_LEN])>; 2],
    /// The stream's first alert record after data flowed: where a TLS close begins.
    pub first_alert: Option<Event>,
}

impl TlsWatch {
    /// The negotiated version's name, `TLS` before a Server Hello.
    pub(crate) fn version_name(&self) -> &'static str {
        keepsight_tls::record::version_name(self.session.version)
    }
}

/// A record's signature as heartbeat discovery sees it: its header (content type, version,
/// length), since what follows is ciphertext that differs every time; `len` is the whole
/// record's.
fn tls_sig(r: &keepsight_tls::Record<'_>) -> Sig {
    let mut b = [0u8; SIG_BYTES];
    b[..keepsight_tls::record::HEADER_LEN]
        .copy_from_slice(&r.bytes()[..keepsight_tls::record::HEADER_LEN]);
    Sig {
        len: r.bytes().len() as u32,
        n: keepsight_tls::record::HEADER_LEN as u8,
        b,
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Beat {
    pub frame: u32,
    pub ts: i64,
    pub seq: u32,
}

/// One heartbeat probe as it was seen, with its reply when one came: what a candidate
/// heartbeat logs when [`crate::Options::record_beats`] asks for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BeatLog {
    pub probe_frame: u32,
    pub probe_ns: i64,
    pub reply: Option<(u32, i64)>,
}

impl BeatLog {
    pub(crate) fn probe(b: Beat) -> Self {
        BeatLog {
            probe_frame: b.frame,
            probe_ns: b.ts,
            reply: None,
        }
    }
}

/// The interval between two consecutive probes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gap {
    pub gap: i64,
    pub prev_frame: u32,
    pub frame: u32,
    pub ts: i64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    pub frame: u32,
    pub ts: i64,
    pub seq_end: u32,
    /// When the peer's TCP acknowledged the probe (it arrived, even if the app did not answer).
    pub acked: Option<(u32, i64)>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Reply {
    pub probe_frame: u32,
    pub probe_ts: i64,
    pub frame: u32,
    pub ts: i64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Unanswered {
    pub frame: u32,
    pub ts: i64,
    pub acked: Option<(u32, i64)>,
    /// The next probe, or the close, that shows no answer came.
    pub until_frame: Option<u32>,
    pub until_ts: i64,
    /// `until_frame` is the connection's close (RST or FIN), not the next probe.
    pub until_close: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Retrans {
    pub frame: u32,
    pub ts: i64,
    pub orig_frame: u32,
    pub orig_ts: i64,
    pub tshark_keepalive: bool,
}

/// One recurring small payload in one direction: maybe a heartbeat probe.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// The first beat's signature: the candidate's name (a template's beats differ).
    pub sig: Sig,
    /// The structure its beats share (`None` on TLS, whose records are told by their header
    /// and length, and for HTTP heads, which only match by identical bytes).
    pub tmpl: Option<Template>,
    /// The last beat's length (a template's beats may differ in length).
    pub last_len: u32,
    /// Payload bytes the peer sent since the last beat.
    pub peer_bytes: u64,
    /// Beats before which the peer sent more than [`MAX_PEER_BYTES_PER_BEAT`].
    pub bulky: u64,
    /// Named by a protocol module ([`Stream::on_known_message`]), not guessed: it is a
    /// heartbeat whatever its length or byte variation, and `declared` is its period when the
    /// protocol says it (FIX HeartBtInt, AMQP Tune).
    pub known: bool,
    pub declared: Option<i64>,
    pub count: u64,
    /// The candidate's first payload: of two messages that alternate, the one that came first
    /// on the connection opened the exchange (see [`crate::roles`]).
    pub first: Beat,
    pub last: Beat,
    pub last_gap: Option<Gap>,
    pub gaps: Sample<Gap>,
    /// Period and tolerance fixed once the gap sample is full (or given): later gaps are
    /// classified on arrival and only the abnormal ones are kept.
    pub frozen: Option<(i64, i64)>,
    pub big_gaps: Vec<Gap>,
    pub pending: Option<Pending>,
    pub replies: u64,
    pub reply_sigs: [(Option<Sig>, u64); 2],
    pub latency: DurationStats,
    pub last_reply: Option<Reply>,
    /// The slowest replies, slowest first.
    pub slowest: Vec<(i64, Reply)>,
    pub unanswered: Vec<Unanswered>,
    pub unanswered_count: u64,
    pub retrans: Vec<Retrans>,
    pub retrans_count: u64,
    pub dropped: u64,
    /// Beats that came right after the peer's data (answers rather than beats).
    pub follows_peer: u64,
    /// The connection's usual reply latency, and the replies far slower than it
    /// (see [`crate::reply_baseline`]).
    pub baseline: crate::reply_baseline::Baseline<Reply>,
    /// Every beat with its reply, when [`Options::record_beats`] asks for them.
    pub log: Option<Vec<BeatLog>>,
}

impl Candidate {
    fn new(sig: Sig, tmpl: Option<Template>, beat: Beat) -> Self {
        Candidate {
            sig,
            tmpl,
            last_len: sig.len,
            peer_bytes: 0,
            bulky: 0,
            known: false,
            declared: None,
            count: 1,
            first: beat,
            last: beat,
            last_gap: None,
            gaps: Sample::default(),
            frozen: None,
            big_gaps: Vec::new(),
            pending: None,
            replies: 0,
            reply_sigs: [(None, 0); 2],
            latency: DurationStats::default(),
            last_reply: None,
            slowest: Vec::new(),
            unanswered: Vec::new(),
            unanswered_count: 0,
            retrans: Vec::new(),
            retrans_count: 0,
            dropped: 0,
            follows_peer: 0,
            baseline: Default::default(),
            log: None,
        }
    }

    fn push_unanswered(&mut self, u: Unanswered) {
        self.unanswered_count += 1;
        if self.unanswered.len() < MAX_RECORDS {
            self.unanswered.push(u);
        } else {
            self.dropped += 1;
        }
    }

    fn beat(&mut self, beat: Beat, len: u32, seq_end: u32, opts: &Options) {
        if self.peer_bytes > MAX_PEER_BYTES_PER_BEAT {
            self.bulky += 1;
        }
        self.peer_bytes = 0;
        self.last_len = len;
        if let Some(p) = self.pending.take() {
            self.push_unanswered(Unanswered {
                frame: p.frame,
                ts: p.ts,
                acked: p.acked,
                until_frame: Some(beat.frame),
                until_ts: beat.ts,
                until_close: false,
            });
        }
        let gap = Gap {
            gap: beat.ts - self.last.ts,
            prev_frame: self.last.frame,
            frame: beat.frame,
            ts: beat.ts,
        };
        self.last_gap = Some(gap);
        if opts.record_beats && self.count == 1 {
            // The log starts at the second beat, with the first and its reply: most candidates
            // are one-off payloads that never need one.
            let mut first = BeatLog::probe(self.first);
            first.reply = self
                .last_reply
                .filter(|r| r.probe_frame == self.first.frame)
                .map(|r| (r.frame, r.ts));
            self.log = Some(vec![first]);
        }
        self.count += 1;
        self.last = beat;
        self.last_reply = None;
        if let Some(log) = &mut self.log {
            log.push(BeatLog::probe(beat));
        }
        self.pending = Some(Pending {
            frame: beat.frame,
            ts: beat.ts,
            seq_end,
            acked: None,
        });
        if let Some(p) = opts
            .period_ns
            .map(|p| p.clamp(1, crate::period::MAX_PERIOD_NS))
        {
            if self.frozen.is_none() {
                let tol = crate::period::default_tolerance(p, 0);
                self.frozen = Some((p, crate::period::with_timeout(tol, 0, opts.timeout_ns)));
            }
        }
        match self.frozen {
            None => {
                self.gaps.push(GAP_SAMPLE, gap);
                if self.gaps.items.len() == GAP_SAMPLE {
                    self.frozen = crate::period::estimate(self.gaps.items.iter().map(|g| g.gap))
                        .map(|(p, t, j)| (p, crate::period::with_timeout(t, j, opts.timeout_ns)));
                }
            }
            Some((period, tol)) => {
                if self.gaps.items.len() < GAP_SAMPLE {
                    self.gaps.push(GAP_SAMPLE, gap);
                } else if gap.gap > period + tol || gap.gap < period - tol {
                    if self.big_gaps.len() < MAX_RECORDS * 4 {
                        self.big_gaps.push(gap);
                    } else {
                        self.dropped += 1;
                    }
                }
            }
        }
    }

    fn reply(&mut self, frame: u32, ts: i64, sig: Sig) {
        let Some(p) = self.pending.take() else { return };
        let lat = ts - p.ts;
        self.replies += 1;
        self.latency.push(lat);
        let r = Reply {
            probe_frame: p.frame,
            probe_ts: p.ts,
            frame,
            ts,
        };
        self.baseline.on_reply(lat, r);
        self.last_reply = Some(r);
        // The pending probe is the last one logged: its reply.
        if let Some(b) = self.log.as_mut().and_then(|l| l.last_mut()) {
            if b.probe_frame == p.frame {
                b.reply = Some((frame, ts));
            }
        }
        // Space-saving count of the two most frequent reply payloads.
        if let Some(slot) = self.reply_sigs.iter_mut().find(|(s, _)| *s == Some(sig)) {
            slot.1 += 1;
        } else if let Some(slot) = self.reply_sigs.iter_mut().find(|(s, _)| s.is_none()) {
            *slot = (Some(sig), 1);
        } else if let Some(slot) = self.reply_sigs.iter_mut().min_by_key(|(_, c)| *c) {
            *slot = (Some(sig), slot.1 + 1);
        }
        // As many as the other anomaly records: a connection slow from its first reply has all
        // its replies here, to be judged against its siblings' latency.
        const SLOWEST: usize = MAX_RECORDS;
        if self.slowest.len() < SLOWEST || self.slowest.last().is_some_and(|(l, _)| lat > *l) {
            let at = self
                .slowest
                .iter()
                .position(|(l, _)| lat > *l)
                .unwrap_or(self.slowest.len());
            self.slowest.insert(at, (lat, r));
            self.slowest.truncate(SLOWEST);
        }
    }

    /// Whether its beats matched by template rather than by identical bytes, or are longer than
    /// an exact beat: such a candidate must also show the peer staying quiet between beats.
    pub(crate) fn by_template(&self) -> bool {
        !self.known && (self.sig.len > MAX_BEAT_LEN || self.tmpl.is_some_and(|t| t.varied))
    }

    /// What identifies this heartbeat across the connections to one service: its signature,
    /// or for a template whose bytes vary, its fixed leading bytes and shortest length.
    pub(crate) fn key(&self) -> Sig {
        match self.tmpl {
            Some(t) if t.varied => {
                let (b, n) = t.key_bytes();
                Sig {
                    len: t.len_min,
                    n,
                    b,
                }
            }
            _ => self.sig,
        }
    }

    pub(crate) fn reply_sig(&self) -> Option<Sig> {
        self.reply_sigs
            .iter()
            .filter(|(s, _)| s.is_some())
            .max_by_key(|(_, c)| *c)
            .and_then(|(s, _)| *s)
    }
}

/// TCP keep-alive probes sent by one side.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keepalive {
    pub probes: u64,
    pub unanswered: u64,
    pub first_frame: u32,
    pub pending: Option<(u32, i64)>,
    pub last_probe: Option<(i64, bool)>,
    pub idle_min: Option<i64>,
    /// Spacing of probes that follow an unanswered probe (keepintvl).
    pub gaps_after_unanswered: Sample<i64>,
    /// Spacing of probes that follow an answered probe, with no data in between.
    pub gaps_after_answered: Sample<i64>,
    pub run: u32,
    pub run_frames: Vec<u32>,
    pub run_start_ts: i64,
    /// (unanswered probes in a row, frame of the sender's RST/FIN) when the sender gave up.
    pub gave_up: Option<(u32, u32, i64)>,
    /// The last run of unanswered probes still open at the end.
    pub max_run: u32,
    pub max_run_frames: Vec<u32>,
    pub max_run_start_ts: i64,
    pub max_run_end_ts: i64,
}

impl Keepalive {
    fn close_run(&mut self, ts: i64) {
        if self.run > self.max_run {
            self.max_run = self.run;
            self.max_run_frames = self.run_frames.clone();
            self.max_run_start_ts = self.run_start_ts;
            self.max_run_end_ts = ts;
        }
    }

    fn unanswered_probe(&mut self, frame: u32, ts: i64) {
        self.unanswered += 1;
        if self.run == 0 {
            self.run_frames.clear();
            self.run_start_ts = ts;
        }
        self.run += 1;
        if self.run_frames.len() < 16 {
            self.run_frames.push(frame);
        }
    }
}

/// Armed after a long idle gap: does the first data after it get acknowledged?
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watch {
    pub dir: u8,
    pub idle: i64,
    pub idle_from_frame: u32,
    pub frame: u32,
    pub ts: i64,
    pub seq_end: u32,
    pub retrans: u32,
    pub last_retrans_frame: u32,
    pub last_retrans_ts: i64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct StateLoss {
    pub watch: Watch,
    /// `rst` (with the frame, and who) or `silence`.
    pub end: Option<Event>,
}

/// At the first RST, when the packet before it ended the stream's longest silence: that
/// silence, and the longest one the connection had survived before it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdleBeforeRst {
    pub idle: i64,
    /// The last packet before the silence.
    pub from_frame: u32,
    pub survived: i64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Injected {
    pub rst: Event,
    pub usual_min: u8,
    pub usual_max: u8,
    pub usual_n: u32,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Dir {
    pub nxt: u32,
    pub nxt_set: bool,
    pub ttl_min: u8,
    pub ttl_max: u8,
    pub ttl_n: u32,
    pub segments: u64,
    /// This side's last advertised window (`u32::MAX` until seen).
    pub window: u32,
    /// Time of this side's last new payload.
    pub last_data_ts: Option<i64>,
    /// Time of the new payload before that one: a message longer than an exact beat is only
    /// looked at as a template beat when its side was quiet before it (see
    /// [`MIN_QUIET_BEFORE_LONG_BEAT_NS`]).
    pub prev_data_ts: Option<i64>,
    /// Time of this side's last segment.
    pub last_ts: Option<i64>,
    pub bytes: u64,
    pub cands: Vec<Candidate>,
    pub ka: Option<Box<Keepalive>>,
    pub fin: Option<Event>,
}

#[derive(Debug)]
pub(crate) struct Stream {
    pub id: u32,
    pub addr: [SocketAddr; 2],
    /// Index of the client side, and how it was decided.
    pub client: Option<(u8, &'static str)>,
    pub first_ts: i64,
    pub first_frame: u32,
    pub last_ts: i64,
    pub last_frame: u32,
    pub last_dir: u8,
    pub packets: u64,
    pub max_idle: i64,
    pub max_idle_frames: [u32; 2],
    /// Time of the segment that ended the longest idle gap.
    pub max_idle_ts: i64,
    /// The longest idle gap before the one that is now `max_idle`.
    pub survived_idle: i64,
    pub last_activity_ts: i64,
    pub last_data: Option<(u32, i64)>,
    pub dirs: [Dir; 2],
    pub rst: Option<Event>,
    /// At the first RST: the packet just before it, and when the resetting side last sent.
    pub rst_ctx: Option<(Event, Option<i64>)>,
    /// The first RST carried an ACK covering everything its peer had sent: the resetting TCP
    /// still held the connection (an application abort), since a TCP answering a segment of a
    /// connection it no longer knows acknowledges nothing (RFC 9293 3.10.7.1: no ACK flag when
    /// the segment had one).
    pub rst_acked_peer: bool,
    pub idle_before_rst: Option<IdleBeforeRst>,
    pub watch: Option<Watch>,
    pub state_loss: Option<StateLoss>,
    pub injected: Option<Injected>,
    pub closed_at: Option<i64>,
    /// Who sent the connection's first small payload (one that may be a beat: at most
    /// [`MAX_BEAT_LEN`] bytes, or [`MAX_TEMPLATE_LEN`] outside TLS): who spoke first, even when
    /// the capture cut that payload.
    pub first_small_dir: Option<u8>,
    /// Whether the stream is TLS, and its record-level view when it is.
    pub tls: TlsMode,
    /// Whether the stream is HTTP/2, and its frame-level record when it is.
    pub h2: crate::h2::H2Mode,
    /// Whether the stream is WebSocket, and its frame-level record when it is.
    pub ws: crate::ws::WsMode,
    /// The application protocol with its own heartbeat it speaks, when recognized.
    pub app: Option<Box<crate::apps::AppWatch>>,
    /// The MQTT record, when one side's first payload was a CONNECT.
    pub mqtt: Option<Box<crate::mqtt::MqttConn>>,
}

#[inline]
fn after(a: u32, b: u32) -> bool {
    // Sequence-space comparison: a is later than b.
    (a.wrapping_sub(b) as i32) > 0
}

impl Stream {
    pub(crate) fn new(seg: &Segment<'_>) -> Self {
        Stream {
            id: seg.stream,
            addr: [seg.src, seg.dst],
            client: None,
            first_ts: seg.ts_ns,
            first_frame: seg.frame,
            last_ts: seg.ts_ns,
            last_frame: seg.frame,
            last_dir: 0,
            packets: 0,
            max_idle: 0,
            max_idle_frames: [seg.frame, seg.frame],
            max_idle_ts: seg.ts_ns,
            survived_idle: 0,
            last_activity_ts: seg.ts_ns,
            last_data: None,
            dirs: [
                Dir {
                    window: u32::MAX,
                    ..Dir::default()
                },
                Dir {
                    window: u32::MAX,
                    ..Dir::default()
                },
            ],
            rst: None,
            rst_ctx: None,
            rst_acked_peer: false,
            idle_before_rst: None,
            watch: None,
            state_loss: None,
            injected: None,
            closed_at: None,
            first_small_dir: None,
            tls: TlsMode::Undecided,
            h2: crate::h2::H2Mode::Undecided,
            ws: crate::ws::WsMode::Undecided,
            app: None,
            mqtt: None,
        }
    }

    /// The stream after its first segment `seg`: what [`Stream::new`] and
    /// [`Stream::on_segment`] make of it.
    pub(crate) fn replayed(seg: &Segment<'_>, opts: &Options, plaintext: &mut Vec<u8>) -> Self {
        let mut s = Stream::new(seg);
        s.on_segment(seg, opts, plaintext);
        s
    }

    /// The side of the client: from the handshake when seen, else the side with the higher
    /// (ephemeral-looking) port, else the first sender.
    pub(crate) fn client_dir(&self) -> (usize, &'static str) {
        if let Some((d, how)) = self.client {
            return (d as usize, how);
        }
        let (p0, p1) = (self.addr[0].port(), self.addr[1].port());
        if p0 != p1 {
            let d = if p0 > p1 { 0 } else { 1 };
            return (d, "ports");
        }
        (0, "first_packet")
    }

    /// Takes one segment of the stream; `plaintext` is scratch space for decrypting its TLS
    /// records when [`Options::tls_keys`] is given.
    pub(crate) fn on_segment(
        &mut self,
        seg: &Segment<'_>,
        opts: &Options,
        plaintext: &mut Vec<u8>,
    ) {
        let d = usize::from(seg.src != self.addr[0]);
        let p = 1 - d;
        let ts = seg.ts_ns;
        self.packets += 1;
        let gap = ts - self.last_ts;
        if seg.flags.rst()
            && self.rst.is_none()
            && self.packets > 1
            && self.max_idle > 0
            && self.max_idle_frames[1] == self.last_frame
        {
            self.idle_before_rst = Some(IdleBeforeRst {
                idle: self.max_idle,
                from_frame: self.max_idle_frames[0],
                survived: self.survived_idle,
            });
        }
        if gap > self.max_idle {
            self.survived_idle = self.max_idle;
            self.max_idle = gap;
            self.max_idle_frames = [self.last_frame, seg.frame];
            self.max_idle_ts = ts;
        }
        let syn = seg.flags.syn();
        let fin = seg.flags.fin();
        let rst = seg.flags.rst();
        if syn && self.client.is_none() {
            let c = if seg.flags.ack() { p } else { d };
            self.client = Some((c as u8, "handshake"));
        }
        let ev = Event {
            frame: seg.frame,
            ts,
            dir: d as u8,
            ttl: seg.ttl,
        };

        if rst {
            if self.rst.is_none() && self.packets > 1 {
                let prev = Event {
                    frame: self.last_frame,
                    ts: self.last_ts,
                    dir: self.last_dir,
                    ttl: 0,
                };
                self.rst_ctx = Some((prev, self.dirs[d].last_ts));
                let peer = &self.dirs[p];
                self.rst_acked_peer = seg.flags.ack() && peer.nxt_set && !after(peer.nxt, seg.ack);
            }
            self.on_rst(ev);
        } else {
            let dir = &mut self.dirs[d];
            if dir.ttl_n == 0 {
                dir.ttl_min = seg.ttl;
                dir.ttl_max = seg.ttl;
            } else {
                dir.ttl_min = dir.ttl_min.min(seg.ttl);
                dir.ttl_max = dir.ttl_max.max(seg.ttl);
            }
            dir.ttl_n += 1;
        }
        self.dirs[d].segments += 1;

        // Which heartbeat candidate, if any, this payload retransmits (same bytes at the same
        // sequence number as its last probe): tshark may call such a 1-byte segment a keep-alive.
        let tls = matches!(self.tls, TlsMode::Tls(_));
        let max_beat = if tls {
            MAX_BEAT_LEN + TLS_BEAT_OVERHEAD
        } else {
            MAX_TEMPLATE_LEN
        };
        let beat_retrans = if seg.len > 0 && seg.len <= max_beat && !syn && !rst {
            let payload = &seg.payload[..seg.payload.len().min(seg.len as usize)];
            // A TLS probe is retransmitted as the same whole record.
            let record = tls.then(|| keepsight_tls::Record::split(payload)).flatten();
            let sig = match record {
                Some((r, [])) => tls_sig(&r),
                _ => Sig::of(seg.len, payload),
            };
            self.dirs[d]
                .cands
                .iter()
                .position(|c| {
                    c.last.seq == seg.seq
                        && (c.sig == sig
                            || c.tmpl.is_some_and(|t| t.varied) && c.last_len == seg.len)
                })
                .filter(|&i| self.dirs[d].cands[i].last.frame != seg.frame)
        } else {
            None
        };
        let dir = &self.dirs[d];
        // A Linux zero-window probe has the keep-alive shape (tshark flags it so too); it is told
        // apart by the peer's closed window.
        let keepalive = beat_retrans.is_none()
            && self.dirs[p].window != 0
            && !syn
            && !fin
            && !rst
            && seg.len <= 1
            && ((dir.nxt_set && seg.seq == dir.nxt.wrapping_sub(1))
                || seg.analysis.has(flag::KEEP_ALIVE));
        let peer_ka_pending = self.dirs[p]
            .ka
            .as_ref()
            .is_some_and(|k| k.pending.is_some());
        let keepalive_ack = !keepalive
            && seg.len == 0
            && !syn
            && !fin
            && !rst
            && (seg.analysis.has(flag::KEEP_ALIVE_ACK) || peer_ka_pending);

        // A non-reset segment from the peer answers its pending keep-alive probe.
        if !rst && peer_ka_pending {
            if let Some(k) = self.dirs[p].ka.as_mut() {
                k.pending = None;
                k.close_run(ts);
                k.run = 0;
                if let Some(lp) = k.last_probe.as_mut() {
                    lp.1 = true;
                }
            }
        }

        if keepalive {
            self.on_keepalive_probe(d, seg.frame, ts);
        } else if let Some(i) = beat_retrans {
            let c = &mut self.dirs[d].cands[i];
            c.retrans_count += 1;
            if c.retrans.len() < MAX_RECORDS {
                c.retrans.push(Retrans {
                    frame: seg.frame,
                    ts,
                    orig_frame: c.last.frame,
                    orig_ts: c.last.ts,
                    tshark_keepalive: seg.analysis.has(flag::KEEP_ALIVE),
                });
            } else {
                c.dropped += 1;
            }
        } else if !keepalive_ack {
            self.last_activity_ts = ts;
        }

        // Retransmitted data: counted against the state-loss watch.
        let seq_end = seg.seq.wrapping_add(seg.len);
        let is_new_data = seg.len > 0
            && !keepalive
            && (!self.dirs[d].nxt_set || after(seq_end, self.dirs[d].nxt));
        if seg.len > 0 && !keepalive {
            if let Some(w) = self.watch.as_mut() {
                if w.dir as usize == d && !is_new_data {
                    w.retrans += 1;
                    w.last_retrans_frame = seg.frame;
                    w.last_retrans_ts = ts;
                }
            }
        }
        // The peer acknowledging the watched data: the path still holds the connection.
        if let Some(w) = self.watch {
            if w.dir as usize == p && seg.flags.ack() && !rst && !after(w.seq_end, seg.ack) {
                self.watch = None;
            }
        }

        if is_new_data && beat_retrans.is_none() {
            self.last_data = Some((seg.frame, ts));
            self.dirs[d].prev_data_ts = self.dirs[d].last_data_ts;
            self.dirs[d].last_data_ts = Some(ts);
            self.dirs[d].bytes += u64::from(seg.len);
            if gap >= STATE_LOSS_MIN_IDLE_NS && self.watch.is_none() && self.state_loss.is_none() {
                self.watch = Some(Watch {
                    dir: d as u8,
                    idle: gap,
                    idle_from_frame: self.last_frame,
                    frame: seg.frame,
                    ts,
                    seq_end,
                    retrans: 0,
                    last_retrans_frame: 0,
                    last_retrans_ts: 0,
                });
            }
            let payload = &seg.payload[..seg.payload.len().min(seg.len as usize)];
            if matches!(self.tls, TlsMode::Undecided) {
                self.tls = if keepsight_tls::record::starts_handshake(payload) {
                    let mut watch = Box::<TlsWatch>::default();
                    if opts.tls_keys.is_some() {
                        watch.decryptor = Some(Box::default());
                    }
                    TlsMode::Tls(watch)
                } else {
                    self.app = crate::apps::AppWatch::recognize(payload);
                    if keepsight_apps::mqtt::starts_connect(payload) {
                        self.mqtt = Some(Box::new(crate::mqtt::MqttConn::new(d as u8)));
                    }
                    TlsMode::Plain
                };
            }
            if matches!(self.tls, TlsMode::Plain) && !matches!(self.h2, crate::h2::H2Mode::No) {
                let forced = matches!(self.h2, crate::h2::H2Mode::Undecided)
                    && opts.http2_ports.iter().any(|&(lo, hi)| {
                        (lo..=hi).contains(&seg.src.port()) || (lo..=hi).contains(&seg.dst.port())
                    });
                self.h2
                    .on_payload(d, seg.seq, payload, seg.frame, ts, forced);
            }
            let whole = payload.len() == seg.len as usize;
            if let Some(m) = self.mqtt.as_mut() {
                let at = crate::mqtt::At {
                    frame: seg.frame,
                    ts,
                };
                m.feed(d, seg.seq, payload, whole, at);
            }
            if matches!(self.tls, TlsMode::Plain) && !matches!(self.ws, crate::ws::WsMode::No) {
                let decoded = opts.websocket_ports.iter().any(|&(lo, hi)| {
                    (lo..=hi).contains(&seg.src.port()) || (lo..=hi).contains(&seg.dst.port())
                });
                self.ws
                    .on_payload(d, payload, whole, seg.frame, ts, decoded);
            }
            // A protocol that names its probes and replies tells heartbeat discovery what each
            // message is; the bytes are guessed from only where it cannot.
            let mut named_by_protocol = false;
            if let Some(mut app) = self.app.take() {
                if app.names_messages(d) {
                    named_by_protocol = true;
                    app.on_payload_known(ev, seg.seq, payload, whole, &mut |known, end| {
                        self.on_known_message(d, seg, known, end, opts)
                    });
                } else {
                    app.on_payload(ev, seg.seq, payload, whole);
                }
                self.app = Some(app);
            }
            if named_by_protocol {
                // Discovery heard every whole message from the protocol above.
            } else if matches!(self.tls, TlsMode::Tls(_)) {
                // A TLS stream's messages are its records, whatever the segments.
                let whole = payload.len() == seg.len as usize;
                let mut messages = [(Sig::of(0, &[]), 0u32); TLS_MESSAGES_PER_SEGMENT];
                let keys = opts.tls_keys.as_deref();
                let payload = whole.then_some(payload);
                let n = self.tls_records(d, seg, payload, ev, &mut messages, keys, plaintext);
                for &(sig, len) in &messages[..n] {
                    self.on_message(
                        d,
                        seg,
                        sig,
                        None,
                        len,
                        MAX_BEAT_LEN + TLS_BEAT_OVERHEAD,
                        seq_end,
                        opts,
                    );
                }
            } else {
                let sig = Sig::of(seg.len, payload);
                self.on_message(
                    d,
                    seg,
                    sig,
                    Some(payload),
                    seg.len,
                    MAX_BEAT_LEN,
                    seq_end,
                    opts,
                );
            }
        }

        // ACK of a pending probe by the peer's TCP.
        if seg.flags.ack() && !rst {
            for c in self.dirs[p].cands.iter_mut() {
                if let Some(pd) = c.pending.as_mut() {
                    if pd.acked.is_none() && !after(pd.seq_end, seg.ack) {
                        pd.acked = Some((seg.frame, ts));
                    }
                }
            }
        }

        if fin && self.dirs[d].fin.is_none() {
            self.h2.end(Some(d));
            self.ws.end(Some(d));
            if let TlsMode::Tls(t) = &mut self.tls {
                t.before_fin[d] = t.last_record[d];
                let pending = t.dirs[d].pending();
                if pending > 0 {
                    t.cut[d] = Some((ev, pending, t.dirs[d].pending_record_len()));
                }
                // Nothing more comes from this side: an ended stream holds no record buffer.
                t.dirs[d].release();
            }
            self.dirs[d].fin = Some(ev);
            if let Some(k) = self.dirs[d].ka.as_mut() {
                k.close_run(ts);
            }
            if self.dirs[p].fin.is_some() {
                self.closed_at = Some(ts);
            }
        }

        let end = seq_end
            .wrapping_add(u32::from(syn))
            .wrapping_add(u32::from(fin));
        let dir = &mut self.dirs[d];
        if !rst && !syn {
            dir.window = seg.window;
        }
        if !rst && (!dir.nxt_set || after(end, dir.nxt)) {
            dir.nxt = end;
            dir.nxt_set = true;
        }
        self.last_ts = ts;
        self.last_frame = seg.frame;
        self.last_dir = d as u8;
        self.dirs[d].last_ts = Some(ts);
    }

    /// One message of direction `d` (a payload, or a TLS record) of length `len`, for
    /// heartbeat discovery: it answers the peer's pending probes, and may be a probe itself
    /// when at most `max_len` bytes long, or, with its bytes (`templated`: not TLS), up to
    /// [`MAX_TEMPLATE_LEN`] as the beat of a template.
    #[allow(clippy::too_many_arguments)]
    fn on_message(
        &mut self,
        d: usize,
        seg: &Segment<'_>,
        sig: Sig,
        templated: Option<&[u8]>,
        len: u32,
        max_len: u32,
        seq_end: u32,
        opts: &Options,
    ) {
        let p = 1 - d;
        let syn = seg.flags.syn();
        let quiet_before = || {
            self.dirs[d]
                .prev_data_ts
                .is_none_or(|t| seg.ts_ns - t >= MIN_QUIET_BEFORE_LONG_BEAT_NS)
        };
        let small =
            len <= max_len || templated.is_some() && len <= MAX_TEMPLATE_LEN && quiet_before();
        if self.first_small_dir.is_none() && small && !syn {
            // A first payload that acknowledges data the capture never showed (a frame cut
            // before its TCP header) answers the peer, who spoke first.
            let peer = &self.dirs[p];
            let answers_unseen = seg.flags.ack() && peer.nxt_set && after(seg.ack, peer.nxt);
            self.first_small_dir = Some(if answers_unseen { p } else { d } as u8);
        }
        let eligible = match opts.probe.as_deref() {
            Some(pb) => sig.is(pb),
            None => small,
        };
        // The message as the peer's probes see their answer: a beat of one of this side's
        // candidates is named by that candidate, so that replies whose bytes vary still count
        // as one reply (see [`crate::roles`]).
        let mut named = sig;
        if eligible && !syn {
            let beat = Beat {
                frame: seg.frame,
                ts: seg.ts_ns,
                seq: seg.seq,
            };
            // A probe the user named is one whatever its length.
            let max_len = if opts.probe.is_some() {
                u32::MAX
            } else {
                max_len
            };
            if let Some(n) =
                self.on_small_payload(d, sig, templated, len, max_len, beat, seq_end, opts)
            {
                named = n;
            }
        }
        // The peer's pending probes are answered by this payload.
        for c in self.dirs[p].cands.iter_mut() {
            c.peer_bytes = c.peer_bytes.saturating_add(u64::from(len));
            if c.pending.is_some() && opts.reply.as_deref().is_none_or(|r| sig.is(r)) {
                c.reply(seg.frame, seg.ts_ns, named);
            }
        }
    }

    /// The hook for protocol modules (FIX, ISO 8583, SMPP, AMQP, STOMP, Redis …): one message
    /// of direction `d`, framed by the protocol's own rules, handed to the same machinery as the
    /// beats discovery finds (late, missed, slow, unanswered, gave up, retransmitted). Call it
    /// *instead of* the generic path for every message of a stream the module recognized
    /// (whatever its kind, so that replies and the peer's traffic are seen), with `seq_end` the
    /// TCP sequence number after the message. A [`Known::Probe`] becomes (or feeds) the
    /// candidate named `name`, exempt from discovery's length, template and beat-count rules;
    /// its `declared_period_ns` replaces the guessed period. A [`Known::Reply`] answers the
    /// peer's pending probe and is reported under `name`. [`Known::Other`] answers nothing:
    /// only a protocol's reply may (a FIX order is no answer to a TestRequest).
    pub(crate) fn on_known_message(
        &mut self,
        d: usize,
        seg: &Segment<'_>,
        known: Known,
        seq_end: u32,
        opts: &Options,
    ) {
        let p = 1 - d;
        let beat = Beat {
            frame: seg.frame,
            ts: seg.ts_ns,
            seq: seg.seq,
        };
        if self.first_small_dir.is_none() && !matches!(known, Known::Other { .. }) {
            // Who opened the exchanges (see crate::roles).
            self.first_small_dir = Some(d as u8);
        }
        match known {
            Known::Probe {
                name,
                len,
                declared_period_ns,
            } => {
                let cands = &mut self.dirs[d].cands;
                if let Some(c) = cands.iter_mut().find(|c| c.sig == name) {
                    c.beat(beat, len, seq_end, opts);
                } else {
                    let mut c = Candidate::new(name, None, beat);
                    c.known = true;
                    c.pending = Some(Pending {
                        frame: beat.frame,
                        ts: beat.ts,
                        seq_end,
                        acked: None,
                    });
                    if let Some(period) = declared_period_ns
                        .filter(|&p| p > 0)
                        .map(|p| p.min(crate::period::MAX_PERIOD_NS))
                    {
                        let tol = crate::period::default_tolerance(period, 0);
                        c.declared = Some(period);
                        c.frozen =
                            Some((period, crate::period::with_timeout(tol, 0, opts.timeout_ns)));
                    }
                    // A protocol's own heartbeat takes the slot of a guessed candidate.
                    if cands.len() < CANDIDATES {
                        cands.reserve_exact(1);
                        cands.push(c);
                    } else if let Some(slot) = cands
                        .iter_mut()
                        .filter(|c| !c.known)
                        .min_by_key(|c| c.count)
                    {
                        *slot = c;
                    }
                }
            }
            Known::Reply { name, len } => {
                for c in self.dirs[p].cands.iter_mut() {
                    c.peer_bytes = c.peer_bytes.saturating_add(u64::from(len));
                    if c.pending.is_some() {
                        c.reply(seg.frame, seg.ts_ns, name);
                    }
                }
            }
            Known::Other { len } => {
                for c in self.dirs[p].cands.iter_mut() {
                    c.peer_bytes = c.peer_bytes.saturating_add(u64::from(len));
                }
            }
        }
    }

    /// Feeds a TLS stream's new payload (`None`: cut by the capture, so the record stream is
    /// lost from here) to its record reassembler; writes the records that may be heartbeat
    /// messages (application data and RFC 6520 heartbeats) to `out` and returns how many.
    #[allow(clippy::too_many_arguments)]
    fn tls_records(
        &mut self,
        d: usize,
        seg: &Segment<'_>,
        payload: Option<&[u8]>,
        ev: Event,
        out: &mut [(Sig, u32); TLS_MESSAGES_PER_SEGMENT],
        keys: Option<&keepsight_tls::KeyLog>,
        plaintext: &mut Vec<u8>,
    ) -> usize {
        let TlsMode::Tls(t) = &mut self.tls else {
            return 0;
        };
        let peer_fin = self.dirs[1 - d].fin.is_some();
        let Some(payload) = payload else {
            // Skipping the bytes leaves a gap the reassembler will see.
            return 0;
        };
        let t = &mut **t;
        let pushed = t.dirs[d].push(seg.seq, payload);
        if t.dirs[d].is_lost() && t.unreadable[d].is_none() {
            if let Some(header) = t.dirs[d].bad_header() {
                t.unreadable[d] = Some((ev, header));
            }
        }
        let mut n = 0;
        for r in pushed.records(&t.dirs[d], payload) {
            let ctx = t.session.observe(d, &r);
            // With a key log, a decrypted record is read by what it holds: its own content
            // type, alert and bytes.
            let opened = match (t.decryptor.as_mut(), keys) {
                (Some(dec), Some(keys)) => match dec.record(keys, d, &r, plaintext) {
                    keepsight_tls::Opened::Plain { content_type, data } => {
                        Some((content_type, data))
                    }
                    _ => None,
                },
                _ => None,
            };
            let ty = opened.map_or(r.content_type(), |(ty, _)| ty);
            // A cleartext alert says what it is; only close_notify (0) closes gracefully.
            let clear_close = || match opened {
                Some((_, body)) => body.get(1) == Some(&0),
                None => ctx.encrypted || r.alert().is_some_and(|(_, desc)| desc == 0),
            };
            let decrypted_alert = match opened {
                Some((keepsight_tls::ContentType::ALERT, body)) => body.get(1).copied(),
                _ => None,
            };
            let alert = (ty == keepsight_tls::ContentType::ALERT
                && (decrypted_alert.is_some() || clear_close()))
                || (opened.is_none() && ctx.opaque && usize::from(r.length()) == TLS13_ALERT_LEN);
            let rec = TlsRecordEvent {
                ev,
                alert,
                decrypted_alert,
            };
            if alert && t.first_alert.is_none() && t.last_record[d].is_some() {
                t.first_alert = Some(ev);
            }
            t.last_record[d] = Some(rec);
            if peer_fin && t.after_peer_fin[d].is_none() {
                t.after_peer_fin[d] = Some(rec);
            }
            if ty == keepsight_tls::ContentType::HEARTBEAT {
                t.heartbeat_records[d] += 1;
            }
            let message = ty == keepsight_tls::ContentType::APPLICATION_DATA
                || ty == keepsight_tls::ContentType::HEARTBEAT;
            if message && n < out.len() {
                out[n] = match opened {
                    Some((_, data)) => (Sig::of(data.len() as u32, data), data.len() as u32),
                    None => (tls_sig(&r), r.bytes().len() as u32),
                };
                n += 1;
            }
        }
        n
    }

    fn on_rst(&mut self, ev: Event) {
        let d = ev.dir as usize;
        if let TlsMode::Tls(t) = &mut self.tls {
            t.dirs
                .iter_mut()
                .for_each(keepsight_tls::Direction::release);
        }
        if self.rst.is_none() {
            self.rst = Some(ev);
            self.closed_at = Some(ev.ts);
            let dir = &self.dirs[d];
            // A reset whose TTL/hop limit the sender never used: someone else on the path made it.
            if dir.ttl_n >= 2 && (ev.ttl < dir.ttl_min || ev.ttl > dir.ttl_max) {
                self.injected = Some(Injected {
                    rst: ev,
                    usual_min: dir.ttl_min,
                    usual_max: dir.ttl_max,
                    usual_n: dir.ttl_n,
                });
            }
        }
        if let Some(w) = self.watch.take() {
            // The pattern needs the retransmissions: a reset answering the first segment after an
            // idle gap may just as well be a restarted peer or a close race.
            if w.retrans > 0 {
                self.state_loss = Some(StateLoss {
                    watch: w,
                    end: Some(ev),
                });
            }
        }
        if let Some(k) = self.dirs[d].ka.as_mut() {
            if let Some((f, t)) = k.pending.take() {
                k.unanswered_probe(f, t);
            }
            if k.run > 0 && k.gave_up.is_none() {
                k.gave_up = Some((k.run, ev.frame, ev.ts));
            }
            k.close_run(ev.ts);
        }
        for c in self.dirs[d].cands.iter_mut() {
            // The sender reset before any answer: that probe went unanswered.
            if let Some(pd) = c.pending.take() {
                c.push_unanswered(Unanswered {
                    frame: pd.frame,
                    ts: pd.ts,
                    acked: pd.acked,
                    until_frame: Some(ev.frame),
                    until_ts: ev.ts,
                    until_close: true,
                });
            }
        }
    }

    fn on_keepalive_probe(&mut self, d: usize, frame: u32, ts: i64) {
        let last_activity = self.last_activity_ts;
        let k = self.dirs[d].ka.get_or_insert_with(Default::default);
        if k.probes == 0 {
            k.first_frame = frame;
        }
        k.probes += 1;
        let prev_unanswered = if let Some((f, t)) = k.pending.take() {
            k.unanswered_probe(f, t);
            true
        } else {
            false
        };
        match k.last_probe {
            Some((lp, answered)) if lp >= last_activity => {
                if prev_unanswered || !answered {
                    k.gaps_after_unanswered.push(16, ts - lp);
                } else {
                    k.gaps_after_answered.push(16, ts - lp);
                }
            }
            _ => {
                let idle = ts - last_activity;
                if k.idle_min.is_none_or(|m| idle < m) {
                    k.idle_min = Some(idle);
                }
            }
        }
        k.last_probe = Some((ts, false));
        k.pending = Some((frame, ts));
    }

    /// A message that may be a beat: counted to the candidate it matches (identical leading
    /// bytes and length, else its template), or a new candidate. Returns the name of the
    /// candidate it went to.
    #[allow(clippy::too_many_arguments)]
    fn on_small_payload(
        &mut self,
        d: usize,
        sig: Sig,
        templated: Option<&[u8]>,
        len: u32,
        max_len: u32,
        beat: Beat,
        seq_end: u32,
        opts: &Options,
    ) -> Option<Sig> {
        let peer_data = self.dirs[1 - d].last_data_ts;
        let cands = &mut self.dirs[d].cands;
        let mut at = cands.iter().position(|c| c.sig == sig);
        // Only a message that matched no candidate byte for byte is looked at more closely
        // (most beats of a steady heartbeat stop at the comparison above).
        let shape = match (at, templated) {
            (None, Some(bytes)) if !crate::template::is_http_head(bytes) => {
                Some(Shape::of(len, bytes)).filter(|s| s.may_be_beat(max_len))
            }
            _ => None,
        };
        if let (None, Some(shape)) = (at, shape.as_ref()) {
            at = cands.iter_mut().position(|c| {
                c.tmpl.as_mut().is_some_and(|t| {
                    let absorbed = t.absorb(shape);
                    t.varied |= absorbed;
                    absorbed
                })
            });
        }
        if let Some(c) = at.map(|i| &mut cands[i]) {
            // A payload that follows the peer's data quickly, every time, is an answer to it,
            // not a beat of its own.
            let since_prev = beat.ts - c.last.ts;
            if peer_data.is_some_and(|t| t > c.last.ts && (beat.ts - t) * 4 < since_prev) {
                c.follows_peer += 1;
            }
            c.beat(beat, len, seq_end, opts);
            return Some(c.sig);
        }
        if len > max_len && shape.is_none() {
            // Longer than an exact beat: only a template may hold it.
            return None;
        }
        let mut c = Candidate::new(sig, shape.map(Template::new), beat);
        c.pending = Some(Pending {
            frame: beat.frame,
            ts: beat.ts,
            seq_end,
            acked: None,
        });
        if cands.len() < CANDIDATES {
            // Grown one slot at a time (at most CANDIDATES times per direction): most streams
            // hold one candidate, and a candidate is ~700 bytes.
            cands.reserve_exact(1);
            cands.push(c);
        } else if let Some(slot) = cands
            .iter_mut()
            .filter(|c| c.count <= 1)
            .min_by_key(|c| c.last.ts)
        {
            // Only one-off payloads are displaced, so a real heartbeat keeps its slot.
            *slot = c;
        } else {
            return None;
        }
        Some(sig)
    }

    /// Called when the stream is summarized: settle what is still pending at `end_ts`.
    pub(crate) fn settle(&mut self, end_ts: i64, unanswered_after_ns: i64) {
        if let Some(w) = self.watch.take() {
            if w.retrans > 0 {
                self.state_loss = Some(StateLoss {
                    watch: w,
                    end: None,
                });
            }
        }
        for dir in self.dirs.iter_mut() {
            if let Some(k) = dir.ka.as_mut() {
                if let Some((f, t)) = k.pending {
                    if end_ts - t >= unanswered_after_ns {
                        k.pending = None;
                        k.unanswered_probe(f, t);
                    }
                }
                k.close_run(end_ts);
            }
        }
        for d in 0..2 {
            for i in 0..self.dirs[d].cands.len() {
                let Some(pd) = self.dirs[d].cands[i].pending else {
                    continue;
                };
                // A probe still pending when the connection closed got no answer until the
                // close; when its own sender closed, the sender stopped waiting for it, however
                // soon (as a sender's RST already settles its pending probes).
                let close = self.close_after(pd.ts);
                let unanswered = close.is_some_and(|e| e.dir as usize == d)
                    || end_ts - pd.ts >= unanswered_after_ns;
                if unanswered {
                    let c = &mut self.dirs[d].cands[i];
                    c.pending = None;
                    c.push_unanswered(Unanswered {
                        frame: pd.frame,
                        ts: pd.ts,
                        acked: pd.acked,
                        until_frame: close.map(|e| e.frame),
                        until_ts: close.map_or(end_ts, |e| e.ts),
                        until_close: close.is_some(),
                    });
                }
            }
        }
    }

    /// The first close (RST or FIN, either side, or a TLS alert) at or after `ts`.
    pub(crate) fn close_after(&self, ts: i64) -> Option<Event> {
        self.rst
            .iter()
            .chain(self.dirs.iter().filter_map(|d| d.fin.as_ref()))
            .chain(self.tls_alert().as_ref())
            .filter(|e| e.ts >= ts)
            .min_by_key(|e| e.ts)
            .copied()
    }

    /// On a TLS stream, its first alert after data flowed (its close begins there).
    pub(crate) fn tls_alert(&self) -> Option<Event> {
        match &self.tls {
            TlsMode::Tls(t) => t.first_alert,
            _ => None,
        }
    }

    /// How the connection began to close: its first RST, else its first FIN or (TLS) alert,
    /// whichever came first, named `rst`, `fin` or `tls_alert`.
    pub(crate) fn first_close(&self) -> Option<(&'static str, Event)> {
        if let Some(r) = self.rst {
            return Some(("rst", r));
        }
        let fin = self.dirs.iter().filter_map(|d| d.fin).min_by_key(|e| e.ts);
        match (fin, self.tls_alert()) {
            (Some(f), Some(a)) if a.ts < f.ts => Some(("tls_alert", a)),
            (None, Some(a)) => Some(("tls_alert", a)),
            (f, _) => f.map(|f| ("fin", f)),
        }
    }
}
