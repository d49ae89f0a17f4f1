//! The ground truth of a generated capture: what the generator put into the file, counted from
//! the frames actually written (the capture is cut at exactly `--packets` frames, so a connection
//! still open at the cut is reported open and its unwritten events are not claimed).
//!
//! Frame and stream numbers are 1-based frame numbers and 0-based `tcp.stream` numbers as tshark
//! gives them: every connection is one stream, numbered in the order of its first frame (the
//! estate never reuses a client port; `short-http` does, always with a new initial sequence
//! number, which tshark takes for a new stream). Durations are integer microseconds (`_us`), exact.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Frame counts, for the whole capture or one connection. Each field names the tshark 4.0.17
/// field or filter it predicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Frames (every frame is Ethernet + IPv4/IPv6 + TCP).
    pub frames: u64,
    /// `tcp.flags.syn == 1` (SYN and SYN/ACK).
    pub syn: u64,
    /// `tcp.flags.fin == 1`.
    pub fin: u64,
    /// `tcp.flags.reset == 1`.
    pub rst: u64,
    /// `tcp.analysis.keep_alive`: kernel keep-alive probes (length 0, seq = next seq − 1).
    pub keep_alive: u64,
    /// `tcp.analysis.keep_alive_ack`: the peer's answers to them.
    pub keep_alive_ack: u64,
    /// `tcp.analysis.duplicate_ack`: a bulk receiver's ACKs repeating the hole's edge.
    pub duplicate_ack: u64,
    /// `tcp.analysis.fast_retransmission`: resent after three duplicate ACKs.
    pub fast_retransmission: u64,
    /// Resent after the retransmission timer (no fast-retransmission flag).
    pub rto_retransmission: u64,
    /// `tcp.analysis.retransmission`: fast and timer retransmissions (tshark sets this flag on
    /// fast retransmissions too).
    pub retransmission: u64,
    /// Application heartbeat probes (1-byte payload).
    pub heartbeat_probes: u64,
    /// Application heartbeat replies (1-byte payload).
    pub heartbeat_replies: u64,
    /// `tcp.len == 1`: always exactly the heartbeat probes and replies.
    pub one_byte_payloads: u64,
    /// `http.request` with two-pass dissection (`tshark -2`): complete requests.
    pub http_requests: u64,
    /// `http.response` with `tshark -2`: complete responses (a body shorter than its
    /// Content-Length never completes, so it is not counted).
    pub http_responses: u64,
    /// `tcp.analysis.reused_ports`: a SYN from the address and port of an earlier stream to the
    /// same server (with another initial sequence number, so a new `tcp.stream`).
    #[serde(default)]
    pub reused_ports: u64,
    /// `tls.handshake.type == 1`: frames holding a ClientHello.
    #[serde(default)]
    pub tls_client_hellos: u64,
    /// `tls.alert_message.desc`: frames holding a cleartext alert (a refused handshake).
    #[serde(default)]
    pub tls_cleartext_alerts: u64,
    /// Heartbeat pings inside TLS (one application-data record each).
    #[serde(default)]
    pub tls_heartbeat_probes: u64,
    /// Heartbeat pongs inside TLS.
    #[serde(default)]
    pub tls_heartbeat_replies: u64,
}

/// The kinds of traffic the generator makes; see each module of `shapes` for what they emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShapeKind {
    /// Application heartbeats (`shapes::heartbeat`).
    Heartbeat,
    /// Idle connections with kernel keep-alive (`shapes::keepalive`).
    Keepalive,
    /// HTTP/1.1 keep-alive (`shapes::http`).
    Http,
    /// Bulk downloads with loss (`shapes::bulk`).
    Bulk,
    /// Refused connection attempts (`shapes::refused`).
    Refused,
    /// Heartbeats with a chosen trouble (`shapes::troubled_heartbeat`).
    TroubledHeartbeat,
    /// Spoofed SYNs nobody answers (`shapes::syn_flood`).
    SynFlood,
    /// Short HTTP/1.1 `Connection: close` exchanges (`shapes::short_http`).
    ShortHttp,
    /// Port and host scans (`shapes::scan`).
    Scan,
    /// Clients reconnecting to a server that went down and came back (`shapes::reconnect_storm`).
    ReconnectStorm,
    /// HTTPS keep-alive (`shapes::tls::https`).
    Https,
    /// Application heartbeats inside TLS (`shapes::tls::heartbeat`).
    TlsHeartbeat,
}

/// One end of a connection: the client opened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The end that sent the SYN.
    Client,
    /// The end that answered it.
    Server,
}

/// How a connection was torn down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Teardown {
    /// A FIN (orderly close).
    Fin,
    /// An RST (abort).
    Rst,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseCause {
    /// Heartbeat: the client got the reply to a late beat and aborted (RST).
    LateHeartbeat,
    /// The client closed an idle connection gracefully (FIN first).
    ClientQuit,
    /// Keep-alive: nine probes unanswered, the server's kernel aborted (RST).
    KeepaliveDeadPeer,
    /// HTTP: the server closed an idle keep-alive connection after its idle timeout.
    HttpIdleTimeout,
    /// HTTP: as `HttpIdleTimeout`, but the client sent a request just after the server's FIN
    /// (before it arrived), and the server answered the request with RST.
    HttpReuseRace,
    /// HTTP: the server closed after a response carrying `Connection: close`.
    HttpConnectionClose,
    /// HTTP: the server closed 60 s after sending a body shorter than its Content-Length.
    HttpShortBody,
    /// Bulk: all data received, the client closed.
    TransferDone,
    /// Bulk: the client aborted mid-transfer (RST).
    TransferAborted,
    /// Nothing listens on the port: the server's kernel answered the SYN with RST/ACK.
    Refused,
    /// Troubled heartbeat: the client closed after its configured number of unanswered beats
    /// in a row (`shapes::troubled_heartbeat`).
    HeartbeatGaveUp,
    /// Scan: the scanner's RST after the SYN-ACK of an open port (a half-open scan).
    ScanAbort,
    /// Reconnect storm: the server's application crashed and its kernel reset the connection.
    ServerCrash,
    /// Reconnect storm: the client closed at the end of the scenario.
    ScenarioEnd,
    /// TLS: the server refused the ClientHello with a cleartext fatal alert, then its FIN.
    TlsHandshakeRefused,
}

/// The frame that started the teardown: the first FIN or RST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Close {
    /// FIN or RST.
    pub how: Teardown,
    /// Who sent it.
    pub by: Side,
    /// Its frame number.
    pub frame: u64,
    /// Why.
    pub cause: CloseCause,
}

/// A heartbeat sent later than its period allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LateBeat {
    /// Frame of the late probe.
    pub frame: u64,
    /// Time since the previous probe.
    pub gap_us: u64,
}

/// A heartbeat connection (`shapes::heartbeat`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatTruth {
    /// Sent by the client.
    pub probe: u8,
    /// Sent by the server.
    pub reply: u8,
    /// Time between probes.
    pub period_us: u64,
    /// Every on-time probe is within ± this of `period_us` after the previous one.
    pub jitter_us: u64,
    /// Every reply follows its probe by `[min, max]`.
    pub reply_latency_us: [u64; 2],
    /// Every late beat written, in order.
    pub late_beats: Vec<LateBeat>,
}

/// What a TLS connection negotiated and how it shut down (`shapes::tls`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsTruth {
    /// The negotiated version as tshark names it (`TLSv1.2`, `TLSv1.3`); none when the server
    /// refused the ClientHello.
    pub version: Option<String>,
    /// The server's `tls.handshake.ciphersuite`; none when refused.
    pub cipher_suite: Option<u16>,
    /// The ClientHello's `tls.handshake.extensions_server_name`.
    pub server_name: String,
    /// The protocol the server picked by ALPN, if the client offered any.
    pub alpn: Option<String>,
    /// The cleartext fatal alert's description (`tls.alert_message.desc`) of a refusal.
    pub refused_alert: Option<u8>,
    /// The sides that sent an (encrypted) close_notify before their FIN, in order, as
    /// planned (the capture may cut them).
    pub close_notify: Vec<Side>,
    /// The reset a closed socket's kernel sent when the peer's close_notify reached it after
    /// its FIN (an ordinary TLS shutdown, not a fault).
    pub shutdown_reset_frame: Option<u64>,
}

/// An HTTPS keep-alive connection (`shapes::tls::https`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpsTruth {
    /// Its TLS.
    pub tls: TlsTruth,
    /// The server closes a connection idle this long after its last response.
    pub idle_timeout_us: u64,
    /// Requests sent (planned; the capture may cut the last).
    pub requests: u32,
    /// Responses streamed in several writes.
    pub streamed_responses: u32,
}

/// A heartbeat connection inside TLS (`shapes::tls::heartbeat`): each ping and pong is one
/// application-data record of a fixed length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsHeartbeatTruth {
    /// Its TLS.
    pub tls: TlsTruth,
    /// `tls.record.length` of every ping (client to server).
    pub probe_record_len: u16,
    /// `tls.record.length` of every pong.
    pub reply_record_len: u16,
    /// Time between pings.
    pub period_us: u64,
    /// Every on-time ping is within ± this of `period_us` after the previous one.
    pub jitter_us: u64,
    /// Every pong follows its ping by `[min, max]`.
    pub reply_latency_us: [u64; 2],
    /// Every late ping written, in order.
    pub late_beats: Vec<LateBeat>,
}

/// One beat of a troubled heartbeat connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TroubledBeat {
    /// When the probe was sent (`frame.time_epoch`, µs).
    pub sent_us: u64,
    /// When its reply followed it (µs after the probe); none when unanswered.
    pub reply_latency_us: Option<u64>,
}

/// A heartbeat connection with a chosen trouble (`shapes::troubled_heartbeat`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TroubledHeartbeatTruth {
    /// Sent by the client.
    pub probe: Vec<u8>,
    /// Sent by the server.
    pub reply: Vec<u8>,
    /// Time between probes (± 1 ms).
    pub period_us: u64,
    /// Every beat, in order.
    pub beats: Vec<TroubledBeat>,
}

/// An idle connection kept by kernel keep-alive (`shapes::keepalive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepaliveTruth {
    /// The side whose kernel sends the probes.
    pub prober: Side,
    /// Idle time before the first probe (after the last segment of the exchange).
    pub idle_us: u64,
    /// Time between unanswered probes.
    pub interval_us: u64,
    /// The peer is gone: probes stay unanswered and the prober resets after nine.
    pub peer_dead: bool,
}

/// A response whose body is shorter than its Content-Length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShortBody {
    /// Its number among the connection's responses (1-based).
    pub response: u32,
    /// Frame holding its header.
    pub header_frame: u64,
    /// Its Content-Length.
    pub declared: u64,
    /// Body bytes sent.
    pub received: u64,
}

/// The frames of a reuse race.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReuseRace {
    /// The server's FIN.
    pub fin_frame: u64,
    /// The client's request that crossed it.
    pub request_frame: u64,
    /// The server's RST answering the request.
    pub rst_frame: u64,
}

/// An HTTP/1.1 connection (`shapes::http`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpTruth {
    /// The server closes a connection idle this long (FIN exactly this long after the end of
    /// its last response).
    pub idle_timeout_us: u64,
    /// Responses sent (planned; the capture may cut the last) with a chunked body,
    pub chunked_responses: u32,
    /// with a Content-Length body,
    pub content_length_responses: u32,
    /// and `304 Not Modified`.
    pub not_modified_responses: u32,
    /// The capture's one short body, if on this connection.
    pub short_body: Option<ShortBody>,
    /// The reuse race that ended this connection, if one did.
    pub reuse_race: Option<ReuseRace>,
}

/// A bulk transfer (`shapes::bulk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkTruth {
    /// Data segments of the transfer as planned (the capture may cut it).
    pub planned_segments: u32,
}

/// How the target of one scan probe answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// SYN-ACK (something listens); the scanner then resets.
    Open,
    /// RST/ACK (nothing listens).
    Closed,
    /// Nothing (a firewall drops the SYN, or no host): one SYN, never re-sent.
    Filtered,
}

/// One probe of a scan (`shapes::scan`): the scanner is the connection's client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanProbeTruth {
    /// How the target answered.
    pub outcome: ProbeOutcome,
    /// When its SYN was sent (`frame.time_epoch`, µs).
    pub syn_us: u64,
}

/// What a connection of the reconnect-storm scenario is in its client's story.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconnectRole {
    /// The connection that was up when the server crashed (reset by the server).
    Died,
    /// An attempt while the server was down: SYN answered by RST/ACK.
    Refused,
    /// The first attempt after the server came back: it got through.
    GotThrough,
}

/// One connection of the reconnect-storm scenario (`shapes::reconnect_storm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconnectTruth {
    /// Which client (0-based; each client is one address).
    pub client: u32,
    /// Its part in the story.
    pub role: ReconnectRole,
    /// When its SYN was sent (`frame.time_epoch`, µs).
    pub syn_us: u64,
}

/// What a connection is, by shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "snake_case")]
pub enum Detail {
    /// See [`HeartbeatTruth`].
    Heartbeat(HeartbeatTruth),
    /// See [`KeepaliveTruth`].
    Keepalive(KeepaliveTruth),
    /// See [`HttpTruth`].
    Http(HttpTruth),
    /// See [`BulkTruth`].
    Bulk(BulkTruth),
    /// A refused attempt: SYN and RST/ACK.
    Refused,
    /// See [`TroubledHeartbeatTruth`].
    TroubledHeartbeat(TroubledHeartbeatTruth),
    /// One spoofed SYN, never answered: a stream of one frame, open (no close).
    SynFlood,
    /// One short exchange: handshake, one request, one `Connection: close` response, the
    /// server's FIN first.
    ShortHttp,
    /// See [`ScanProbeTruth`].
    ScanProbe(ScanProbeTruth),
    /// See [`ReconnectTruth`].
    Reconnect(ReconnectTruth),
    /// See [`HttpsTruth`].
    Https(HttpsTruth),
    /// See [`TlsHeartbeatTruth`].
    TlsHeartbeat(TlsHeartbeatTruth),
}

/// One TCP connection of the capture (one `tcp.stream`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// Its `tcp.stream`.
    pub stream: u32,
    /// The client's address and port.
    pub client: SocketAddr,
    /// The server's address and port.
    pub server: SocketAddr,
    /// Frame number of its first frame (the SYN).
    pub first_frame: u64,
    /// Frame number of its last frame in the capture.
    pub last_frame: u64,
    /// Its frames, counted.
    pub counts: Counts,
    /// `None`: still open when the capture ends.
    pub close: Option<Close>,
    /// What the shape says about it.
    pub detail: Detail,
}

impl Connection {
    /// Which shape made it.
    pub fn shape(&self) -> ShapeKind {
        match self.detail {
            Detail::Heartbeat(_) => ShapeKind::Heartbeat,
            Detail::Keepalive(_) => ShapeKind::Keepalive,
            Detail::Http(_) => ShapeKind::Http,
            Detail::Bulk(_) => ShapeKind::Bulk,
            Detail::Refused => ShapeKind::Refused,
            Detail::TroubledHeartbeat(_) => ShapeKind::TroubledHeartbeat,
            Detail::SynFlood => ShapeKind::SynFlood,
            Detail::ShortHttp => ShapeKind::ShortHttp,
            Detail::ScanProbe(_) => ShapeKind::Scan,
            Detail::Reconnect(_) => ShapeKind::ReconnectStorm,
            Detail::Https(_) => ShapeKind::Https,
            Detail::TlsHeartbeat(_) => ShapeKind::TlsHeartbeat,
        }
    }

    /// Its TLS, for the TLS shapes.
    pub fn tls(&self) -> Option<&TlsTruth> {
        match &self.detail {
            Detail::Https(h) => Some(&h.tls),
            Detail::TlsHeartbeat(h) => Some(&h.tls),
            _ => None,
        }
    }
}

/// Everything the generator claims about one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// `keepsight-gen` and its version.
    pub generator: String,
    /// Frames asked for (and written).
    pub packets: u64,
    /// The seed used.
    pub seed: u64,
    /// Whether the file is pcapng.
    pub pcapng: bool,
    /// Time of the first frame, microseconds since the Unix epoch.
    pub first_time_us: u64,
    /// Time of the last frame.
    pub last_time_us: u64,
    /// The whole capture's frames, counted.
    pub counts: Counts,
    /// Indexed by `tcp.stream`.
    pub connections: Vec<Connection>,
}
