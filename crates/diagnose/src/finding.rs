//! Findings: what the diagnosis tells, each kind with its own typed details.
//!
//! A finding's JSON is its fixed fields (`severity`, `kind`, `stream`, `frames`, `time`,
//! `message`) followed by its kind's details. Schema 1 wrote the details from a sorted map, so
//! each details struct declares its fields in alphabetical order (a test below holds every kind
//! to it): the typed findings print exactly what the untyped ones did.

use crate::civil::fmt_utc;
use keepsight_http::FindingKind as HttpKind;
use serde::{Serialize, Serializer};

/// How bad a finding is. Ordered: `Critical` first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The connection died, or is about to, because of it.
    Critical,
    /// A fault that explains trouble.
    Error,
    /// Worth a look; harmless by itself.
    Warning,
    /// Context for the other findings.
    Info,
}

impl Severity {
    /// The JSON and text name: `critical`, `error`, `warning`, `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// What a finding is about; the JSON `kind`. The order of the variants is the order findings
/// of one severity are listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A reset right after a heartbeat probe that was late, unanswered or answered too slowly.
    ResetAfterHeartbeatDeadline,
    /// The heartbeat sender closed after probes nobody answered.
    HeartbeatGaveUp,
    /// A probe sent later than the period allows.
    LateHeartbeat,
    /// Whole beats missing, or the beats stopped.
    MissedHeartbeat,
    /// A reply much slower than the connection's (or the service's) usual.
    SlowHeartbeatReply,
    /// A probe that never got its reply.
    UnansweredHeartbeat,
    /// A probe the sender had to retransmit.
    RetransmittedHeartbeat,
    /// Any RST, with its context.
    ConnectionReset,
    /// Idle longer than a middlebox's timeout.
    IdleBeyondMiddleboxTimeout,
    /// Idle, then data nobody acknowledged: a middlebox forgot the connection.
    MiddleboxStateLoss,
    /// An RST with a TTL its claimed sender never used.
    InjectedReset,
    /// TCP keep-alive probes nobody answered.
    KeepaliveUnanswered,
    /// An application log line lined up with capture events.
    LogMatch,
    /// After an idle gap, a forged RST answered the first packet.
    MiddleboxIdleReset,
    /// A TLS peer's FIN cut a record it was sending, with no close_notify before it.
    TlsTruncation,
    /// A TLS peer sent bytes that are no TLS record where a record should start (garbage, a
    /// length beyond what TLS allows): its records cannot be followed from there.
    TlsUnreadable,
    /// An application protocol's heartbeats (FIX, …) stopped longer than its own declared
    /// interval allows, and the session ended (see [`AppStopped`]).
    AppHeartbeatStopped,
    /// A side of an application protocol stayed silent longer than its declared interval
    /// allows, then spoke again.
    AppHeartbeatLate,
    /// An application protocol's probe (Redis PING, SMPP enquire_link, …) never answered.
    AppProbeUnanswered,
    /// An application protocol's message sequence number skipped or went back (FIX MsgSeqNum).
    AppSequenceGap,
    /// Connection attempts nobody answered (see [`crate::connect`]).
    SynUnanswered,
    /// Connection attempts answered by a reset.
    ConnectionRefused,
    /// One source trying many ports or hosts.
    Scan,
    /// A client retrying a server after failed attempts.
    ReconnectStorm,
    /// An HTTP/2 PING nobody acknowledged: a dead connection noticed by its keep-alive.
    Http2PingUnanswered,
    /// An HTTP/2 GOAWAY, explained (graceful drain, max connection age, too_many_pings, ...).
    Http2Goaway,
    /// HTTP/2 streams a GOAWAY refused or left unfinished.
    Http2StreamsCut,
    /// A gRPC call that ended with a non-OK grpc-status (tied to a GOAWAY when one came first).
    GrpcCallFailed,
    /// An HTTP/2 connection closed without a GOAWAY: an idle timeout or a peer gone.
    Http2CloseWithoutGoaway,
    /// HTTP/2 PINGs used as a heartbeat: period and ACK latency.
    Http2PingHeartbeat,
    /// An MQTT broker dropped a client that stayed silent for 1.5 times its keep-alive.
    MqttKeepaliveTimeout,
    /// An MQTT PINGREQ the broker never answered.
    MqttPingUnanswered,
    /// An MQTT broker refused a CONNECT (CONNACK return or reason code).
    MqttConnectRefused,
    /// An MQTT 5 DISCONNECT with a reason code other than success: who sent it, what it means.
    MqttDisconnect,
    /// An MQTT client that goes longer than its own keep-alive without sending anything.
    MqttSlowPings,
    /// An MQTT connection's keep-alive: the declared interval, PINGREQ/PINGRESP as heartbeat.
    MqttKeepalive,
    /// HTTP/1.x findings, made by keepsight-http (see [`crate::http`]).
    Http(HttpKind),
}

impl Kind {
    /// The JSON `kind` (`late_heartbeat`, `http_reuse_race`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ResetAfterHeartbeatDeadline => "reset_after_heartbeat_deadline",
            Kind::HeartbeatGaveUp => "heartbeat_gave_up",
            Kind::LateHeartbeat => "late_heartbeat",
            Kind::MissedHeartbeat => "missed_heartbeat",
            Kind::SlowHeartbeatReply => "slow_heartbeat_reply",
            Kind::UnansweredHeartbeat => "unanswered_heartbeat",
            Kind::RetransmittedHeartbeat => "retransmitted_heartbeat",
            Kind::ConnectionReset => "connection_reset",
            Kind::IdleBeyondMiddleboxTimeout => "idle_beyond_middlebox_timeout",
            Kind::MiddleboxStateLoss => "middlebox_state_loss",
            Kind::InjectedReset => "injected_reset",
            Kind::KeepaliveUnanswered => "keepalive_unanswered",
            Kind::LogMatch => "log_match",
            Kind::MiddleboxIdleReset => "middlebox_idle_reset",
            Kind::TlsTruncation => "tls_truncation",
            Kind::TlsUnreadable => "tls_unreadable",
            Kind::AppHeartbeatStopped => "app_heartbeat_stopped",
            Kind::AppHeartbeatLate => "app_heartbeat_late",
            Kind::AppProbeUnanswered => "app_probe_unanswered",
            Kind::AppSequenceGap => "app_sequence_gap",
            Kind::SynUnanswered => "syn_unanswered",
            Kind::ConnectionRefused => "connection_refused",
            Kind::Scan => "scan",
            Kind::ReconnectStorm => "reconnect_storm",
            Kind::Http2PingUnanswered => "http2_ping_unanswered",
            Kind::Http2Goaway => "http2_goaway",
            Kind::Http2StreamsCut => "http2_streams_cut",
            Kind::GrpcCallFailed => "grpc_call_failed",
            Kind::Http2CloseWithoutGoaway => "http2_close_without_goaway",
            Kind::Http2PingHeartbeat => "http2_ping_heartbeat",
            Kind::MqttKeepaliveTimeout => "mqtt_keepalive_timeout",
            Kind::MqttPingUnanswered => "mqtt_ping_unanswered",
            Kind::MqttConnectRefused => "mqtt_connect_refused",
            Kind::MqttDisconnect => "mqtt_disconnect",
            Kind::MqttSlowPings => "mqtt_slow_pings",
            Kind::MqttKeepalive => "mqtt_keepalive",
            Kind::Http(h) => h.name(),
        }
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Why a connection was reset right after a heartbeat probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineCause {
    /// The probe went out later than the period allows.
    LateProbe,
    /// The probe got no reply before the reset.
    Unanswered,
    /// The reply came after `--timeout`.
    SlowReply,
    /// The receiver answered the probe with the reset itself, as fast as it usually replies:
    /// its application ended the connection when the probe came (closed the socket with the
    /// probe unread, or with SO_LINGER 0); no deadline passed.
    ResetOnProbe,
}

/// `reset_after_heartbeat_deadline`: the reset that followed the last probe, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadlineReset {
    /// `client` or `server`: who sent the RST.
    pub by: &'static str,
    /// Why the deadline passed.
    pub cause: DeadlineCause,
    /// The heartbeat period.
    pub expected_period_s: f64,
    /// Spacing of the late probe from the one before (late probes only).
    pub gap_s: Option<f64>,
    /// How late the probe was (late probes only).
    pub late_by_s: Option<f64>,
    /// The reply's latency (slow replies only).
    pub reply_latency_ms: Option<f64>,
    /// Time from the reply to the reset (slow replies only).
    pub reset_after_reply_ms: Option<f64>,
}

/// `heartbeat_gave_up`: the heartbeat sender closed its connection after probes nobody
/// answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GaveUp {
    /// `client` or `server`: the heartbeat sender, who closed.
    pub by: &'static str,
    /// `fin` or `rst`.
    pub close: &'static str,
    /// The sender's apparent rule, in words ("closes after 3 unanswered beats").
    pub policy: String,
    /// Unanswered probes in a row before the close.
    pub unanswered: u32,
    /// From the first unanswered probe to the close, seconds.
    pub without_reply_s: f64,
}

/// `late_heartbeat`: a probe sent later than the period allows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LateBeat {
    /// The heartbeat period.
    pub expected_period_s: f64,
    /// Time since the probe before.
    pub gap_s: f64,
    /// `gap_s` minus the period.
    pub late_by_s: f64,
}

/// `missed_heartbeat`: whole beats missing between two probes, or the beats stopped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MissedBeats {
    /// The heartbeat period.
    pub expected_period_s: f64,
    /// Time between the two probes around the missing ones.
    pub gap_s: f64,
    /// Beats missing.
    pub missed: i64,
    /// The beats stopped before the connection ended (absent from the JSON when not).
    #[serde(skip_serializing_if = "is_false")]
    pub stopped: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// `slow_heartbeat_reply`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlowReply {
    /// The usual reply latency the reply is measured against: the connection's own before it,
    /// or the same service's other connections'.
    pub baseline_ms: Option<f64>,
    /// `latency_ms / baseline_ms`.
    pub factor: Option<f64>,
    /// This reply's latency.
    pub latency_ms: f64,
    /// `--timeout`, when given.
    pub timeout_ms: Option<f64>,
}

/// `unanswered_heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnansweredProbe {
    /// The receiver's TCP acknowledged the probe (the application did not answer).
    pub acked: bool,
    /// Time waited for the reply, until the next probe or the end.
    pub waited_s: f64,
}

/// `retransmitted_heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetransmittedProbe {
    /// Time from the original probe to its retransmission.
    pub delay_s: f64,
    /// tshark labels the retransmission `[TCP Keep-Alive]`.
    pub tshark_keep_alive: bool,
}

/// `connection_reset`: any RST, with what is known of its context.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reset {
    /// Time since the last data on the connection, when there was some.
    pub after_last_data_s: Option<f64>,
    /// `client` or `server`: who sent the RST.
    pub by: &'static str,
    /// The resetter had already sent its FIN when the peer sent more data.
    pub close_race: bool,
    /// The RST answered the peer's packet on a connection the resetter no longer knew.
    pub half_open: bool,
    /// The RST answered TLS records (an alert or data) the peer sent after the resetter's FIN:
    /// the ordinary end of a TLS connection closed without close_notify, not a close race
    /// (absent from the JSON when not).
    #[serde(skip_serializing_if = "is_false")]
    pub tls_shutdown: bool,
}

/// `tls_truncation`: a side closed (FIN) in the middle of a TLS record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsCut {
    /// `client` or `server`: who cut its own record.
    pub by: &'static str,
    /// Bytes of the record that were sent.
    pub sent_bytes: u32,
    /// The whole record's length (header included), 0 when even the header was cut.
    pub record_len: u32,
    /// The negotiated version (`TLSv1.2`).
    pub version: &'static str,
}

/// `tls_unreadable`: where a side's TLS record stream stopped making sense.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsGarbled {
    /// `client` or `server`: who sent the bytes.
    pub by: &'static str,
    /// The five bytes found where a record header should have been, in hex.
    pub header_hex: String,
    /// What is wrong with them.
    pub reason: String,
    /// The negotiated version (`TLSv1.2`), `TLS` before a Server Hello.
    pub version: &'static str,
}

/// `http2_ping_heartbeat`: one side's HTTP/2 PINGs as a heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct H2Pings {
    /// Median time from a PING to its ACK.
    pub ack_latency_ms: Option<f64>,
    /// PINGs acknowledged.
    pub acked: u32,
    /// `client` or `server`: who sent the PINGs.
    pub by: &'static str,
    /// Longest time from a PING to its ACK.
    pub max_ack_latency_ms: Option<f64>,
    /// Shortest time between two PINGs.
    pub min_interval_s: Option<f64>,
    /// Median time between two PINGs.
    pub period_s: Option<f64>,
    /// PINGs sent.
    pub pings: u32,
    /// PINGs with no DATA or HEADERS since the sender's previous one (what gRPC servers'
    /// ping policing counts).
    pub without_data: u32,
}

/// `http2_ping_unanswered`: a PING that got no ACK.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct H2PingUnanswered {
    /// `client` or `server`: who sent the PING.
    pub by: &'static str,
    /// `fin` or `rst`, when the connection ended after it.
    pub close: Option<&'static str>,
    /// Who ended the connection.
    pub closed_by: Option<&'static str>,
    /// Earlier PINGs of the same sender that were acknowledged.
    pub earlier_acks: u32,
    /// From the PING to the close (or to the end of the capture).
    pub waited_s: f64,
}

/// A setting to change, named as each gRPC implementation names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrpcSetting {
    /// `grpc-core` (C++, Python, Ruby, ... channel arguments) or `grpc-go`.
    pub implementation: &'static str,
    /// The setting.
    pub setting: &'static str,
    /// What to do with it.
    pub should: String,
    /// `client` or `server`.
    pub side: &'static str,
}

/// `http2_goaway`: a GOAWAY (or a two-step drain's pair), explained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct H2GoAway {
    /// Settings that decide it, on both sides (too_many_pings, max connection age).
    pub advice: Vec<GrpcSetting>,
    /// The connection's age when the GOAWAY was sent.
    pub age_s: f64,
    /// `client` or `server`: who sent it.
    pub by: &'static str,
    /// The client's interval between PINGs without data before it (too_many_pings).
    pub client_ping_interval_s: Option<f64>,
    /// The debug data, as text (gRPC: `too_many_pings`, `max_age`).
    pub debug_data: String,
    /// The error code's name (`NO_ERROR`, `ENHANCE_YOUR_CALM`).
    pub error: &'static str,
    /// The error code.
    pub error_code: u32,
    /// The last stream the sender processes; later ones were refused.
    pub last_stream_id: u32,
    /// The first GOAWAY of a two-step drain (last stream 2^31-1), when this one followed it.
    pub notice_frame: Option<u32>,
    /// The client's PINGs without data before it (too_many_pings).
    pub pings_without_data: Option<u32>,
    /// `graceful_shutdown`, `max_connection_age`, `too_many_pings`, `shutdown_notice` or
    /// `peer_error`.
    pub reason: &'static str,
}

/// `http2_streams_cut`: streams a GOAWAY refused or that never finished.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct H2StreamsCut {
    /// `client` or `server`: who sent the GOAWAY.
    pub by: &'static str,
    /// The GOAWAY's last stream.
    pub last_stream_id: u32,
    /// Streams above the last stream id: never processed (safe to retry).
    pub refused: Vec<u32>,
    /// Streams at or below it that had not finished when the connection ended.
    pub unfinished: Vec<u32>,
}

/// `grpc_call_failed`: a call whose trailers carried a non-OK status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrpcFailed {
    /// From the GOAWAY to the failed status, when a GOAWAY came first on the connection.
    pub after_goaway_s: Option<f64>,
    /// That GOAWAY's debug data.
    pub goaway_debug_data: Option<String>,
    /// That GOAWAY's frame.
    pub goaway_frame: Option<u32>,
    /// grpc-message.
    pub grpc_message: Option<String>,
    /// grpc-status.
    pub grpc_status: u32,
    /// The call's method (`:path`).
    pub method: Option<String>,
    /// The status's name (`UNAVAILABLE`).
    pub status: &'static str,
    /// The HTTP/2 stream.
    pub stream_id: u32,
}

/// `mqtt_keepalive`: an MQTT connection's keep-alive and its PINGREQ/PINGRESP heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MqttKeepalive {
    /// The client identifier from CONNECT.
    pub client_id: String,
    /// The keep-alive the client declared in CONNECT (0: off).
    pub keep_alive_s: u16,
    /// The longest time between two packets of the client.
    pub longest_silence_s: Option<f64>,
    /// The longest time from a PINGREQ to its PINGRESP.
    pub max_ping_latency_ms: Option<f64>,
    /// Median time between two PINGREQs.
    pub period_s: Option<f64>,
    /// Median time from a PINGREQ to its PINGRESP.
    pub ping_latency_ms: Option<f64>,
    /// PINGREQs answered.
    pub pingresps: u32,
    /// PINGREQs sent.
    pub pings: u32,
    /// The MQTT 5 broker's Server Keep Alive, which replaces the client's value.
    pub server_keep_alive_s: Option<u16>,
    /// `3.1`, `3.1.1` or `5`.
    pub version: &'static str,
}

/// `mqtt_keepalive_timeout`: the broker closed after the client's silence reached 1.5 times
/// its keep-alive.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MqttKeepaliveTimeout {
    /// The client identifier.
    pub client_id: String,
    /// `fin`, `rst`, or `disconnect` (an MQTT 5 DISCONNECT 0x8D first).
    pub close: &'static str,
    /// The frame of the close.
    pub close_frame: u32,
    /// The keep-alive in force (the broker's Server Keep Alive when it set one).
    pub keep_alive_s: u16,
    /// The client's last packet before the close.
    pub last_client_frame: u32,
    /// Whether that last packet was a PINGREQ.
    pub last_was_pingreq: bool,
    /// 1.5 × the keep-alive: the silence after which the broker must drop the client.
    pub limit_s: f64,
    /// How much later than the limit the broker acted (its timer's granularity).
    pub over_limit_s: f64,
    /// PINGREQs the client sent before it went quiet.
    pub pings: u32,
    /// From the client's last packet to the close.
    pub silent_s: f64,
}

/// `mqtt_ping_unanswered`: a PINGREQ with no PINGRESP.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MqttPingUnanswered {
    /// The client identifier.
    pub client_id: String,
    /// `fin` or `rst`, when the connection ended after it.
    pub close: Option<&'static str>,
    /// Who ended the connection.
    pub closed_by: Option<&'static str>,
    /// Earlier PINGREQs that were answered.
    pub earlier_answered: u32,
    /// From the PINGREQ to the close (or to the end of the capture).
    pub waited_s: f64,
}

/// `mqtt_connect_refused`: a CONNACK that refused the connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MqttConnectRefused {
    /// The client identifier.
    pub client_id: String,
    /// The return code (3.1.1) or reason code (5).
    pub code: u8,
    /// What the code means, as the specification names it.
    pub meaning: &'static str,
    /// `3.1`, `3.1.1` or `5`.
    pub version: &'static str,
}

/// `mqtt_disconnect`: an MQTT 5 DISCONNECT with a reason code other than 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MqttDisconnect {
    /// `client` or `server` (the broker): who sent it.
    pub by: &'static str,
    /// The client identifier.
    pub client_id: String,
    /// What the code means, as the specification names it.
    pub meaning: &'static str,
    /// The reason code.
    pub reason_code: u8,
    /// The Reason String property, when sent.
    pub reason_string: Option<String>,
}

/// `mqtt_slow_pings`: the client went longer than its own keep-alive without a packet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MqttSlowPings {
    /// The client identifier.
    pub client_id: String,
    /// The keep-alive in force.
    pub keep_alive_s: u16,
    /// 1.5 × the keep-alive: the silence at which the broker drops the client.
    pub limit_s: f64,
    /// The longest silence.
    pub longest_silence_s: f64,
    /// The median time between two of the client's packets.
    pub median_silence_s: f64,
    /// Silences longer than the keep-alive (by more than 10 %).
    pub slow_silences: u32,
}

/// `http2_close_without_goaway`: an HTTP/2 connection closed with no GOAWAY.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct H2CloseNoGoaway {
    /// `client` or `server`: who closed.
    pub by: &'static str,
    /// `fin` or `rst`.
    pub close: &'static str,
    /// From the last HTTP/2 frame to the close.
    pub idle_s: f64,
    /// Streams not finished at the close.
    pub open_streams: u32,
}

/// `idle_beyond_middlebox_timeout`: one stream that did not survive its idle gap, or the
/// streams that stayed idle longer than one middlebox's timeout, tallied.
#[derive(Debug, Clone, PartialEq)]
pub enum IdleBeyond {
    /// One stream that died after its idle gap.
    Stream(IdleStream),
    /// The streams idle longer than one middlebox's timeout.
    Tally(IdleTally),
}

impl Serialize for IdleBeyond {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IdleBeyond::Stream(d) => d.serialize(s),
            IdleBeyond::Tally(d) => d.serialize(s),
        }
    }
}

/// One stream idle beyond middlebox timeouts, which then died.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdleStream {
    /// The idle timeouts (seconds) the gap exceeded.
    pub exceeded: Vec<u32>,
    /// The idle gap.
    pub idle_s: f64,
}

/// The streams idle longer than one middlebox's timeout (they were not harmed here).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdleTally {
    /// The first ten such streams.
    pub example_streams: Vec<u32>,
    /// The longest of the idle gaps.
    pub idle_s: f64,
    /// The middlebox (from the table or `--middlebox`).
    pub middlebox: &'static str,
    /// How many streams.
    pub streams_count: u64,
    /// Its idle timeout.
    pub timeout_s: u32,
}

/// `middlebox_state_loss`: idle, then data nobody acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateLoss {
    /// Who reset the connection afterwards, if anyone.
    pub ended_by: Option<&'static str>,
    /// The idle gap before the unacknowledged data.
    pub idle_s: f64,
    /// Retransmissions of that data.
    pub retransmissions: u32,
    /// `client` or `server`: who sent it.
    pub sender: &'static str,
}

/// `injected_reset`: an RST with a TTL its claimed sender never used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForgedReset {
    /// `client` or `server`: the side the RST claims to come from.
    pub by: &'static str,
    /// The RST's TTL.
    pub ttl: u8,
    /// Highest TTL that side used before.
    pub usual_ttl_max: u8,
    /// Lowest TTL that side used before.
    pub usual_ttl_min: u8,
}

/// `middlebox_idle_reset`: after an idle gap, the first packet was answered by a RST its
/// claimed sender never made (a TTL it never used): a stateful box forgot the connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdleReset {
    /// `client` or `server`: the side the RST claims to come from.
    pub by: &'static str,
    /// The idle gap.
    pub idle_s: f64,
    /// Middleboxes of the table that may have done it: their idle timeout fits within the gap
    /// (and not within a shorter gap the connection survived), and they can send resets.
    pub middleboxes: Vec<&'static str>,
    /// Seconds from the packet after the gap to the RST.
    pub reset_after_s: f64,
    /// The longest idle gap the connection survived before.
    pub survived_idle_s: f64,
    /// The RST's TTL.
    pub ttl: u8,
    /// Highest TTL that side used before.
    pub usual_ttl_max: u8,
    /// Lowest TTL that side used before.
    pub usual_ttl_min: u8,
}

/// `keepalive_unanswered`: TCP keep-alive probes nobody answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeepaliveUnanswered {
    /// Idle time before the first probe, when seen.
    pub idle_s: Option<f64>,
    /// Time between unanswered probes, when seen.
    pub interval_s: Option<f64>,
    /// `client` or `server`: who probed.
    pub sender: &'static str,
    /// Probes without an answer.
    pub unanswered: u32,
}

/// `log_match`: an application log line and the capture events it lines up with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogMatch {
    /// The line was written while a heartbeat was overdue, before the late beat or the close
    /// it matches: the application noticed the missing beat at its own deadline (absent from
    /// the JSON when not).
    #[serde(skip_serializing_if = "is_false")]
    pub at_deadline: bool,
    /// Log clock minus capture clock, as the alignment found it.
    pub clock_offset_s: f64,
    /// For a line stamped with its zone to the millisecond or finer: its time, after the log's
    /// measured clock offset, minus the matched event's moment (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<f64>,
    /// Line number in the log, from 1.
    pub line: u32,
    /// The log file the line is in, when more than one `--log` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_file: Option<String>,
    /// The line, as written.
    pub log_text: String,
    /// The kinds of the matched findings, in time order.
    pub matched_kinds: Vec<Kind>,
    /// The streams of the matched findings, each once, ascending.
    pub streams: Vec<u32>,
}

/// Attempts to one port of a server, and how many sources made them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortTally {
    /// Attempts to the port.
    pub attempts: u64,
    /// The port.
    pub port: u16,
    /// Distinct source addresses that tried it.
    pub sources: u64,
}

/// Attempts made by one source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceTally {
    /// At least this many (a top-N count over many sources may undercount by the ones it
    /// forgot).
    pub attempts: u64,
    /// The source address.
    pub source: String,
}

/// What unanswered connection attempts to one server look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SilenceVerdict {
    /// Many sources at a high rate: a SYN flood (or a stampede).
    Flood,
    /// One or a few clients retrying a server that answers nothing: the server (or its host)
    /// is down or unreachable.
    ServerDown,
    /// The same server answered other ports (or the same port at other times) while these
    /// attempts got nothing back: a firewall drops them.
    FirewallDrop,
    /// One source trying many ports: see the `scan` finding.
    Scan,
    /// None of the above fits.
    Unclear,
}

/// `syn_unanswered`: connection attempts (SYNs) to one server that got no answer at all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynUnanswered {
    /// Ports of the same server that did answer (SYN-ACK or RST) in the capture (at most 16).
    pub answered_ports: Vec<u16>,
    /// Connection attempts (`tcp.stream`s opened by a SYN) that got no answer.
    pub attempts: u64,
    /// From the first to the last unanswered SYN.
    pub duration_s: f64,
    /// Whether `sources` (here or in `ports`) is an estimate (±3 %): beyond 64 distinct
    /// sources they are counted in a fixed-size sketch.
    pub estimated: bool,
    /// The ports with the most unanswered attempts (at most 16), most first.
    pub ports: Vec<PortTally>,
    /// Distinct ports the unanswered attempts went to.
    pub ports_count: u64,
    /// Unanswered SYNs (retransmissions included) per second over `duration_s`.
    pub rate_per_s: f64,
    /// The server address.
    pub server: String,
    /// Distinct source addresses of the unanswered attempts.
    pub sources: u64,
    /// A few of the attempts' streams (at most 8).
    pub streams: Vec<u32>,
    /// Unanswered SYN segments, retransmissions included.
    pub syns: u64,
    /// The sources with the most unanswered attempts (at most 5), most first.
    pub top_sources: Vec<SourceTally>,
    /// What the silence looks like.
    pub verdict: SilenceVerdict,
}

/// `connection_refused`: connection attempts to one server answered by a reset (nothing
/// listened on the port, or the server refused).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refused {
    /// Attempts answered by a reset.
    pub attempts: u64,
    /// From the first to the last refused attempt.
    pub duration_s: f64,
    /// Whether a `sources` count is an estimate (±3 %).
    pub estimated: bool,
    /// By port, most attempts first (at most 16).
    pub ports: Vec<PortTally>,
    /// Distinct ports refused.
    pub ports_count: u64,
    /// The server address.
    pub server: String,
    /// Distinct source addresses refused.
    pub sources: u64,
    /// A few of the refused streams (at most 8).
    pub streams: Vec<u32>,
}

/// `scan`: one source trying many ports or many hosts, most attempts failing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scan {
    /// Attempts answered by a SYN-ACK (open ports).
    pub answered: u64,
    /// Attempts it made.
    pub attempts: u64,
    /// From its first attempt to its last.
    pub duration_s: f64,
    /// Whether `hosts` or `ports` is an estimate (±3 %, beyond 1024 distinct).
    pub estimated: bool,
    /// Distinct destination hosts.
    pub hosts: u64,
    /// Distinct destination ports.
    pub ports: u64,
    /// Attempts answered by a reset (closed ports).
    pub refused: u64,
    /// The scanning address.
    pub source: String,
    /// A few of its streams (at most 8).
    pub streams: Vec<u32>,
    /// What it swept: `ports` (many ports), `hosts` (one port on many hosts) or
    /// `ports_and_hosts`.
    pub swept: &'static str,
    /// Attempts that got no answer.
    pub unanswered: u64,
}

/// The earlier connection a reconnect storm followed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EarlierConnection {
    /// `client` or `server`: who closed it (null when the capture shows no close).
    pub by: Option<&'static str>,
    /// The most severe finding on it (`late_heartbeat`, `connection_reset`, ...), if any.
    pub cause: Option<Kind>,
    /// `fin` or `rst`, null when the capture shows no close.
    pub close: Option<&'static str>,
    /// Its last packet.
    pub ended: String,
    /// Seconds from its last packet to the first failed attempt.
    pub reconnect_after_s: f64,
    /// The earlier connection's `tcp.stream`.
    pub stream: u32,
}

/// `reconnect_storm`: a client retrying one server after failed attempts (refused or
/// unanswered), and when it got through.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Storm {
    /// The connection from the same client to the same server that ended shortly before
    /// (within 60 s), when the capture shows it.
    pub after: Option<EarlierConnection>,
    /// Failed attempts in a row.
    pub attempts: u32,
    /// `none` (even spacing), `exponential` (each gap ≥ 1.5 × the previous), `increasing`,
    /// `irregular`, or `unknown` (fewer than 2 gaps).
    pub backoff: &'static str,
    /// Median ratio of a gap to the one before it.
    pub backoff_factor: Option<f64>,
    /// The retrying client's address.
    pub client: String,
    /// Seconds between consecutive attempts, the successful one included (at most 16).
    pub gaps_s: Vec<f64>,
    /// The stream that got through, null when none did in the capture.
    pub got_through: Option<u32>,
    /// Seconds from the first failed attempt to the one that got through.
    pub got_through_after_s: Option<f64>,
    /// Failed attempts answered by a reset.
    pub refused: u32,
    /// The server address.
    pub server: String,
    /// Median of `gaps_s`.
    pub spacing_s: f64,
    /// The failed attempts' streams (at most 16).
    pub streams: Vec<u32>,
    /// Failed attempts that got no answer.
    pub unanswered: u32,
}

/// A side's probe as an application protocol names it, and whether it was answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppProbe {
    /// The peer answered it.
    pub answered: bool,
    /// `client` or `server`: who sent it.
    pub by: &'static str,
    /// Its frame.
    pub frame: u32,
    /// The protocol's name for it (`TestRequest`, `PING`, `enquire_link`).
    pub name: &'static str,
}

/// A side ending an application session in the protocol (FIX Logout), with its reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppGoodbye {
    /// `client` or `server`.
    pub by: &'static str,
    /// Its frame.
    pub frame: u32,
    /// The reason as sent (FIX tag 58), at most 120 characters.
    pub text: Option<String>,
}

/// `app_heartbeat_stopped`: a side of an application protocol went silent for longer than the
/// interval the protocol declared allows, until the session ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppStopped {
    /// `fin` or `rst`: how the connection ended, when it did in the capture.
    pub close: Option<&'static str>,
    /// `client` or `server`: who closed first.
    pub close_by: Option<&'static str>,
    /// A side's goodbye after the silence began.
    pub goodbye: Option<AppGoodbye>,
    /// The field that declared the interval (`HeartBtInt`).
    pub interval_field: &'static str,
    /// The declared interval.
    pub interval_s: f64,
    /// The silent side's last message.
    pub last_frame: u32,
    /// The silence the protocol tolerates (the interval plus its usual allowance).
    pub limit_s: f64,
    /// The peer's probe after the silence began, if it sent one.
    pub probe: Option<AppProbe>,
    /// `fix`, …
    pub protocol: &'static str,
    /// `client` or `server`: the side whose heartbeats stopped.
    pub sender: &'static str,
    /// From its last message to the peer's goodbye, else the close, else the capture's end.
    pub silent_s: f64,
}

/// `app_heartbeat_late`: one side silent beyond the declared interval's limit, then heard again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppLate {
    /// Time between the two messages around the silence.
    pub gap_s: f64,
    /// The field that declared the interval.
    pub interval_field: &'static str,
    /// The declared interval.
    pub interval_s: f64,
    /// `gap_s` minus the interval.
    pub late_by_s: f64,
    /// The silence the protocol tolerates.
    pub limit_s: f64,
    /// `fix`, …
    pub protocol: &'static str,
    /// `client` or `server`: the silent side.
    pub sender: &'static str,
}

/// `app_probe_unanswered`: a protocol-level probe whose answer never came.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppUnanswered {
    /// The protocol's name for the probe.
    pub probe: &'static str,
    /// `fix`, `redis`, …
    pub protocol: &'static str,
    /// `client` or `server`: who probed.
    pub sender: &'static str,
    /// Probes in a row without an answer, the last included.
    pub unanswered: u32,
    /// From the last probe to the end of the connection (or of the capture), seconds.
    pub waited_s: f64,
}

/// `app_sequence_gap`: a message whose sequence number is not the next one expected.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppSeqGap {
    /// The number expected.
    pub expected: u64,
    /// `fix`.
    pub protocol: &'static str,
    /// The number the message carried.
    pub received: u64,
    /// The peer's ResendRequest that followed, if any.
    pub resend_request_frame: Option<u32>,
    /// `client` or `server`: whose numbering skipped.
    pub sender: &'static str,
}

/// A finding's kind with its kind-specific numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum Details {
    /// See [`Kind::ResetAfterHeartbeatDeadline`].
    ResetAfterHeartbeatDeadline(DeadlineReset),
    /// See [`Kind::HeartbeatGaveUp`].
    HeartbeatGaveUp(GaveUp),
    /// See [`Kind::LateHeartbeat`].
    LateHeartbeat(LateBeat),
    /// See [`Kind::MissedHeartbeat`].
    MissedHeartbeat(MissedBeats),
    /// See [`Kind::SlowHeartbeatReply`].
    SlowHeartbeatReply(SlowReply),
    /// See [`Kind::UnansweredHeartbeat`].
    UnansweredHeartbeat(UnansweredProbe),
    /// See [`Kind::RetransmittedHeartbeat`].
    RetransmittedHeartbeat(RetransmittedProbe),
    /// See [`Kind::ConnectionReset`].
    ConnectionReset(Reset),
    /// See [`Kind::IdleBeyondMiddleboxTimeout`].
    IdleBeyondMiddleboxTimeout(IdleBeyond),
    /// See [`Kind::MiddleboxStateLoss`].
    MiddleboxStateLoss(StateLoss),
    /// See [`Kind::InjectedReset`].
    InjectedReset(ForgedReset),
    /// See [`Kind::KeepaliveUnanswered`].
    KeepaliveUnanswered(KeepaliveUnanswered),
    /// See [`Kind::LogMatch`].
    LogMatch(LogMatch),
    /// See [`Kind::MiddleboxIdleReset`].
    MiddleboxIdleReset(IdleReset),
    /// See [`Kind::TlsTruncation`].
    TlsTruncation(TlsCut),
    /// See [`Kind::TlsUnreadable`].
    TlsUnreadable(TlsGarbled),
    /// See [`Kind::AppHeartbeatStopped`].
    AppHeartbeatStopped(AppStopped),
    /// See [`Kind::AppHeartbeatLate`].
    AppHeartbeatLate(AppLate),
    /// See [`Kind::AppProbeUnanswered`].
    AppProbeUnanswered(AppUnanswered),
    /// See [`Kind::AppSequenceGap`].
    AppSequenceGap(AppSeqGap),
    /// See [`Kind::SynUnanswered`].
    SynUnanswered(SynUnanswered),
    /// See [`Kind::ConnectionRefused`].
    ConnectionRefused(Refused),
    /// See [`Kind::Scan`].
    Scan(Scan),
    /// See [`Kind::ReconnectStorm`].
    ReconnectStorm(Storm),
    /// See [`Kind::Http2PingUnanswered`].
    Http2PingUnanswered(H2PingUnanswered),
    /// See [`Kind::Http2Goaway`].
    Http2Goaway(H2GoAway),
    /// See [`Kind::Http2StreamsCut`].
    Http2StreamsCut(H2StreamsCut),
    /// See [`Kind::GrpcCallFailed`].
    GrpcCallFailed(GrpcFailed),
    /// See [`Kind::Http2CloseWithoutGoaway`].
    Http2CloseWithoutGoaway(H2CloseNoGoaway),
    /// See [`Kind::Http2PingHeartbeat`].
    Http2PingHeartbeat(H2Pings),
    /// See [`Kind::MqttKeepaliveTimeout`].
    MqttKeepaliveTimeout(MqttKeepaliveTimeout),
    /// See [`Kind::MqttPingUnanswered`].
    MqttPingUnanswered(MqttPingUnanswered),
    /// See [`Kind::MqttConnectRefused`].
    MqttConnectRefused(MqttConnectRefused),
    /// See [`Kind::MqttDisconnect`].
    MqttDisconnect(MqttDisconnect),
    /// See [`Kind::MqttSlowPings`].
    MqttSlowPings(MqttSlowPings),
    /// See [`Kind::MqttKeepalive`].
    MqttKeepalive(MqttKeepalive),
    /// HTTP findings carry no numbers beyond their frame, except these two.
    Http(HttpKind),
    /// `http_drain`: the server's close ratio and the connections it closed.
    HttpDrain(keepsight_http::DrainFinding),
    /// `http_reuse_race`: the server's idle timeout and the client settings to change.
    HttpReuseRace(keepsight_http::ReuseRaceFinding),
}

impl Details {
    /// The kind these details belong to.
    pub fn kind(&self) -> Kind {
        match self {
            Details::ResetAfterHeartbeatDeadline(_) => Kind::ResetAfterHeartbeatDeadline,
            Details::HeartbeatGaveUp(_) => Kind::HeartbeatGaveUp,
            Details::LateHeartbeat(_) => Kind::LateHeartbeat,
            Details::MissedHeartbeat(_) => Kind::MissedHeartbeat,
            Details::SlowHeartbeatReply(_) => Kind::SlowHeartbeatReply,
            Details::UnansweredHeartbeat(_) => Kind::UnansweredHeartbeat,
            Details::RetransmittedHeartbeat(_) => Kind::RetransmittedHeartbeat,
            Details::ConnectionReset(_) => Kind::ConnectionReset,
            Details::IdleBeyondMiddleboxTimeout(_) => Kind::IdleBeyondMiddleboxTimeout,
            Details::MiddleboxStateLoss(_) => Kind::MiddleboxStateLoss,
            Details::InjectedReset(_) => Kind::InjectedReset,
            Details::KeepaliveUnanswered(_) => Kind::KeepaliveUnanswered,
            Details::LogMatch(_) => Kind::LogMatch,
            Details::MiddleboxIdleReset(_) => Kind::MiddleboxIdleReset,
            Details::TlsTruncation(_) => Kind::TlsTruncation,
            Details::TlsUnreadable(_) => Kind::TlsUnreadable,
            Details::AppHeartbeatStopped(_) => Kind::AppHeartbeatStopped,
            Details::AppHeartbeatLate(_) => Kind::AppHeartbeatLate,
            Details::AppProbeUnanswered(_) => Kind::AppProbeUnanswered,
            Details::AppSequenceGap(_) => Kind::AppSequenceGap,
            Details::SynUnanswered(_) => Kind::SynUnanswered,
            Details::ConnectionRefused(_) => Kind::ConnectionRefused,
            Details::Scan(_) => Kind::Scan,
            Details::ReconnectStorm(_) => Kind::ReconnectStorm,
            Details::Http2PingUnanswered(_) => Kind::Http2PingUnanswered,
            Details::Http2Goaway(_) => Kind::Http2Goaway,
            Details::Http2StreamsCut(_) => Kind::Http2StreamsCut,
            Details::GrpcCallFailed(_) => Kind::GrpcCallFailed,
            Details::Http2CloseWithoutGoaway(_) => Kind::Http2CloseWithoutGoaway,
            Details::Http2PingHeartbeat(_) => Kind::Http2PingHeartbeat,
            Details::MqttKeepaliveTimeout(_) => Kind::MqttKeepaliveTimeout,
            Details::MqttPingUnanswered(_) => Kind::MqttPingUnanswered,
            Details::MqttConnectRefused(_) => Kind::MqttConnectRefused,
            Details::MqttDisconnect(_) => Kind::MqttDisconnect,
            Details::MqttSlowPings(_) => Kind::MqttSlowPings,
            Details::MqttKeepalive(_) => Kind::MqttKeepalive,
            Details::Http(h) => Kind::Http(*h),
            Details::HttpDrain(_) => Kind::Http(HttpKind::HttpDrain),
            Details::HttpReuseRace(_) => Kind::Http(HttpKind::HttpReuseRace),
        }
    }
}

/// The details' fields, flattened into the finding's JSON object.
impl Serialize for Details {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match self {
            Details::ResetAfterHeartbeatDeadline(d) => d.serialize(s),
            Details::HeartbeatGaveUp(d) => d.serialize(s),
            Details::LateHeartbeat(d) => d.serialize(s),
            Details::MissedHeartbeat(d) => d.serialize(s),
            Details::SlowHeartbeatReply(d) => d.serialize(s),
            Details::UnansweredHeartbeat(d) => d.serialize(s),
            Details::RetransmittedHeartbeat(d) => d.serialize(s),
            Details::ConnectionReset(d) => d.serialize(s),
            Details::IdleBeyondMiddleboxTimeout(d) => d.serialize(s),
            Details::MiddleboxStateLoss(d) => d.serialize(s),
            Details::InjectedReset(d) => d.serialize(s),
            Details::KeepaliveUnanswered(d) => d.serialize(s),
            Details::LogMatch(d) => d.serialize(s),
            Details::MiddleboxIdleReset(d) => d.serialize(s),
            Details::TlsTruncation(d) => d.serialize(s),
            Details::TlsUnreadable(d) => d.serialize(s),
            Details::AppHeartbeatStopped(d) => d.serialize(s),
            Details::AppHeartbeatLate(d) => d.serialize(s),
            Details::AppProbeUnanswered(d) => d.serialize(s),
            Details::AppSequenceGap(d) => d.serialize(s),
            Details::SynUnanswered(d) => d.serialize(s),
            Details::ConnectionRefused(d) => d.serialize(s),
            Details::Scan(d) => d.serialize(s),
            Details::ReconnectStorm(d) => d.serialize(s),
            Details::Http2PingUnanswered(d) => d.serialize(s),
            Details::Http2Goaway(d) => d.serialize(s),
            Details::Http2StreamsCut(d) => d.serialize(s),
            Details::GrpcCallFailed(d) => d.serialize(s),
            Details::Http2CloseWithoutGoaway(d) => d.serialize(s),
            Details::Http2PingHeartbeat(d) => d.serialize(s),
            Details::MqttKeepaliveTimeout(d) => d.serialize(s),
            Details::MqttPingUnanswered(d) => d.serialize(s),
            Details::MqttConnectRefused(d) => d.serialize(s),
            Details::MqttDisconnect(d) => d.serialize(s),
            Details::MqttSlowPings(d) => d.serialize(s),
            Details::MqttKeepalive(d) => d.serialize(s),
            Details::Http(_) => s.serialize_struct("Http", 0)?.end(),
            Details::HttpDrain(d) => d.serialize(s),
            Details::HttpReuseRace(d) => d.serialize(s),
        }
    }
}

/// One thing worth telling, with the frames that show it.
#[derive(Debug, Clone)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// `tcp.stream`; absent for findings about no single stream.
    pub stream: Option<u32>,
    /// Evidence, in the order the message cites them.
    pub frames: Vec<u32>,
    /// When it happened (UTC, RFC 3339).
    pub time: String,
    /// When it happened, ns since the epoch.
    pub ts_ns: i64,
    /// When the application on either end may have noticed it (e.g. a connection lost in a
    /// middlebox is noticed when TCP gives up, after the retransmissions): for log matching.
    pub noticed_ns: Option<(i64, i64)>,
    /// What happened and what to check next, in words.
    pub message: String,
    /// The kind and its numbers.
    pub details: Details,
    /// With `--evidence DIR`: the pcapng file of each of the finding's streams.
    pub evidence: Vec<String>,
}

impl Finding {
    /// A finding of `details`' kind; `time` is written from `ts_ns`.
    pub fn new(
        severity: Severity,
        stream: Option<u32>,
        frames: Vec<u32>,
        ts_ns: i64,
        message: String,
        details: Details,
    ) -> Self {
        Finding {
            severity,
            stream,
            frames,
            time: fmt_utc(ts_ns),
            ts_ns,
            noticed_ns: None,
            message,
            details,
            evidence: Vec::new(),
        }
    }

    /// What it is about.
    pub fn kind(&self) -> Kind {
        self.details.kind()
    }

    /// Every stream the finding is about: its own, and for a log line those of all the events
    /// it matched (its own first, maybe repeated).
    pub fn streams(&self) -> impl Iterator<Item = u32> + '_ {
        let matched: &[u32] = match &self.details {
            Details::LogMatch(m) => &m.streams,
            Details::HttpDrain(d) => &d.streams,
            _ => &[],
        };
        self.stream.into_iter().chain(matched.iter().copied())
    }
}

impl Serialize for Finding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json<'a> {
            severity: Severity,
            kind: Kind,
            stream: Option<u32>,
            frames: &'a [u32],
            time: &'a str,
            message: &'a str,
            #[serde(flatten)]
            details: &'a Details,
            #[serde(skip_serializing_if = "<[String]>::is_empty")]
            evidence: &'a [String],
        }
        Json {
            severity: self.severity,
            kind: self.kind(),
            stream: self.stream,
            frames: &self.frames,
            time: &self.time,
            message: &self.message,
            details: &self.details,
            evidence: &self.evidence,
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of every details shape, with every optional field both set and unset.
    fn every_shape() -> Vec<Details> {
        let deadline = DeadlineReset {
            by: "client",
            cause: DeadlineCause::LateProbe,
            expected_period_s: 45.0,
            gap_s: Some(58.0),
            late_by_s: Some(13.0),
            reply_latency_ms: Some(0.37),
            reset_after_reply_ms: Some(0.2),
        };
        let missed = MissedBeats {
            expected_period_s: 10.0,
            gap_s: 20.0,
            missed: 1,
            stopped: false,
        };
        vec![
            Details::ResetAfterHeartbeatDeadline(deadline.clone()),
            Details::ResetAfterHeartbeatDeadline(DeadlineReset {
                cause: DeadlineCause::Unanswered,
                gap_s: None,
                late_by_s: None,
                reply_latency_ms: None,
                reset_after_reply_ms: None,
                ..deadline
            }),
            Details::HeartbeatGaveUp(GaveUp {
                by: "client",
                close: "fin",
                policy: "closes after 3 unanswered beats".into(),
                unanswered: 3,
                without_reply_s: 21.0,
            }),
            Details::LateHeartbeat(LateBeat {
                expected_period_s: 45.0,
                gap_s: 58.0,
                late_by_s: 13.0,
            }),
            Details::MissedHeartbeat(missed.clone()),
            Details::MissedHeartbeat(MissedBeats {
                stopped: true,
                ..missed
            }),
            Details::SlowHeartbeatReply(SlowReply {
                baseline_ms: Some(0.4),
                factor: Some(3750.0),
                latency_ms: 1500.0,
                timeout_ms: Some(1000.0),
            }),
            Details::UnansweredHeartbeat(UnansweredProbe {
                acked: true,
                waited_s: 2.5,
            }),
            Details::RetransmittedHeartbeat(RetransmittedProbe {
                delay_s: 0.2,
                tshark_keep_alive: true,
            }),
            Details::ConnectionReset(Reset {
                after_last_data_s: Some(1.0),
                by: "server",
                close_race: false,
                tls_shutdown: false,
                half_open: true,
            }),
            Details::IdleBeyondMiddleboxTimeout(IdleBeyond::Stream(IdleStream {
                exceeded: vec![60, 240],
                idle_s: 400.0,
            })),
            Details::IdleBeyondMiddleboxTimeout(IdleBeyond::Tally(IdleTally {
                example_streams: vec![1, 2],
                idle_s: 400.0,
                middlebox: "aws-nlb",
                streams_count: 2,
                timeout_s: 350,
            })),
            Details::MiddleboxStateLoss(StateLoss {
                ended_by: Some("server"),
                idle_s: 400.0,
                retransmissions: 3,
                sender: "client",
            }),
            Details::InjectedReset(ForgedReset {
                by: "server",
                ttl: 57,
                usual_ttl_max: 64,
                usual_ttl_min: 63,
            }),
            Details::KeepaliveUnanswered(KeepaliveUnanswered {
                idle_s: Some(7200.0),
                interval_s: None,
                sender: "client",
                unanswered: 9,
            }),
            Details::LogMatch(LogMatch {
                at_deadline: true,
                clock_offset_s: -2.0,
                delay_ms: None,
                line: 3,
                log_file: None,
                log_text: "error".into(),
                matched_kinds: vec![Kind::ConnectionReset, Kind::Http(HttpKind::HttpReuseRace)],
                streams: vec![4],
            }),
            Details::MiddleboxIdleReset(IdleReset {
                by: "server",
                idle_s: 360.0,
                middleboxes: vec!["AWS NAT gateway (idle timeout)"],
                reset_after_s: 0.001,
                survived_idle_s: 60.0,
                ttl: 64,
                usual_ttl_max: 52,
                usual_ttl_min: 52,
            }),
            Details::AppHeartbeatStopped(AppStopped {
                close: Some("fin"),
                close_by: Some("client"),
                goodbye: Some(AppGoodbye {
                    by: "client",
                    frame: 52,
                    text: Some("no heartbeat".into()),
                }),
                interval_field: "HeartBtInt",
                interval_s: 2.0,
                last_frame: 40,
                limit_s: 2.4,
                probe: Some(AppProbe {
                    answered: false,
                    by: "client",
                    frame: 47,
                    name: "TestRequest",
                }),
                protocol: "fix",
                sender: "server",
                silent_s: 6.2,
            }),
            Details::AppHeartbeatStopped(AppStopped {
                close: None,
                close_by: None,
                goodbye: None,
                interval_field: "heartbeat",
                interval_s: 10.0,
                last_frame: 4,
                limit_s: 20.0,
                probe: None,
                protocol: "amqp",
                sender: "client",
                silent_s: 31.0,
            }),
            Details::AppHeartbeatLate(AppLate {
                gap_s: 3.1,
                interval_field: "HeartBtInt",
                interval_s: 2.0,
                late_by_s: 1.1,
                limit_s: 2.4,
                protocol: "fix",
                sender: "client",
            }),
            Details::AppProbeUnanswered(AppUnanswered {
                probe: "PING",
                protocol: "redis",
                sender: "client",
                unanswered: 3,
                waited_s: 3.0,
            }),
            Details::AppSequenceGap(AppSeqGap {
                expected: 12,
                protocol: "fix",
                received: 15,
                resend_request_frame: Some(31),
                sender: "server",
            }),
            Details::SynUnanswered(SynUnanswered {
                answered_ports: vec![80],
                attempts: 3,
                duration_s: 23.0,
                estimated: false,
                ports: vec![PortTally {
                    attempts: 3,
                    port: 5000,
                    sources: 1,
                }],
                ports_count: 1,
                rate_per_s: 0.4,
                server: "10.0.0.9".into(),
                sources: 1,
                streams: vec![0, 1, 2],
                syns: 9,
                top_sources: vec![SourceTally {
                    attempts: 3,
                    source: "10.0.0.2".into(),
                }],
                verdict: SilenceVerdict::ServerDown,
            }),
            Details::ConnectionRefused(Refused {
                attempts: 3,
                duration_s: 2.0,
                estimated: false,
                ports: vec![],
                ports_count: 2,
                server: "10.0.0.1".into(),
                sources: 2,
                streams: vec![0],
            }),
            Details::Scan(Scan {
                answered: 4,
                attempts: 40,
                duration_s: 0.4,
                estimated: false,
                hosts: 1,
                ports: 40,
                refused: 20,
                source: "10.0.0.66".into(),
                streams: vec![1],
                swept: "ports",
                unanswered: 16,
            }),
            Details::ReconnectStorm(Storm {
                after: Some(EarlierConnection {
                    by: Some("server"),
                    cause: Some(Kind::ConnectionReset),
                    close: Some("rst"),
                    ended: "2024-03-01T09:00:10.000000Z".into(),
                    reconnect_after_s: 0.5,
                    stream: 0,
                }),
                attempts: 3,
                backoff: "exponential",
                backoff_factor: Some(2.0),
                client: "10.0.0.2".into(),
                gaps_s: vec![1.0, 2.0, 4.0],
                got_through: Some(4),
                got_through_after_s: Some(7.0),
                refused: 3,
                server: "10.0.0.1:7443".into(),
                spacing_s: 2.0,
                streams: vec![1, 2, 3],
                unanswered: 0,
            }),
            Details::ReconnectStorm(Storm {
                after: None,
                attempts: 3,
                backoff: "unknown",
                backoff_factor: None,
                client: "10.0.0.2".into(),
                gaps_s: vec![1.0],
                got_through: None,
                got_through_after_s: None,
                refused: 0,
                server: "10.0.0.1:7443".into(),
                spacing_s: 1.0,
                streams: vec![1, 2, 3],
                unanswered: 3,
            }),
            Details::Http(HttpKind::HttpIdleClose),
            Details::HttpDrain(keepsight_http::DrainFinding {
                close_ratio: 0.3,
                close_ratio_high: 0.4,
                close_ratio_low: 0.2,
                close_responses: 3,
                closed_at: vec![1, 2, 4],
                ramp: None,
                responses: 10,
                server: "10.0.0.1:80".parse().unwrap(),
                streams: vec![1, 2, 3],
            }),
            Details::HttpDrain(keepsight_http::DrainFinding {
                close_ratio: 0.3,
                close_ratio_high: 0.4,
                close_ratio_low: 0.2,
                close_responses: 3,
                closed_at: vec![1, 2, 4],
                ramp: Some(keepsight_http::Ramp {
                    first_half_ratio: 0.1,
                    second_half_ratio: 0.5,
                }),
                responses: 10,
                server: "10.0.0.1:80".parse().unwrap(),
                streams: vec![1, 2, 3],
            }),
            Details::HttpReuseRace(keepsight_http::ReuseRaceFinding {
                advice: keepsight_http::advice::for_server_idle_timeout(2_000_000_000),
                server_idle_timeout_s: 2.0,
            }),
            Details::Http2PingHeartbeat(H2Pings {
                ack_latency_ms: Some(0.1),
                acked: 3,
                by: "client",
                max_ack_latency_ms: None,
                min_interval_s: Some(1.0),
                period_s: None,
                pings: 3,
                without_data: 2,
            }),
            Details::Http2PingUnanswered(H2PingUnanswered {
                by: "client",
                close: Some("fin"),
                closed_by: None,
                earlier_acks: 2,
                waited_s: 2.0,
            }),
            Details::Http2Goaway(H2GoAway {
                advice: vec![GrpcSetting {
                    implementation: "grpc-go",
                    setting: "keepalive.ClientParameters.Time",
                    should: "at least 5m".into(),
                    side: "client",
                }],
                age_s: 3.0,
                by: "server",
                client_ping_interval_s: Some(1.0),
                debug_data: "too_many_pings".into(),
                error: "ENHANCE_YOUR_CALM",
                error_code: 11,
                last_stream_id: 1,
                notice_frame: None,
                pings_without_data: Some(3),
                reason: "too_many_pings",
            }),
            Details::Http2StreamsCut(H2StreamsCut {
                by: "server",
                last_stream_id: 1,
                refused: vec![3],
                unfinished: vec![],
            }),
            Details::GrpcCallFailed(GrpcFailed {
                after_goaway_s: Some(1.0),
                goaway_debug_data: None,
                goaway_frame: Some(9),
                grpc_message: Some("max connection age".into()),
                grpc_status: 14,
                method: None,
                status: "UNAVAILABLE",
                stream_id: 3,
            }),
            Details::Http2CloseWithoutGoaway(H2CloseNoGoaway {
                by: "server",
                close: "fin",
                idle_s: 3.0,
                open_streams: 0,
            }),
            Details::MqttKeepalive(MqttKeepalive {
                client_id: "c".into(),
                keep_alive_s: 2,
                longest_silence_s: Some(2.0),
                max_ping_latency_ms: None,
                period_s: Some(2.0),
                ping_latency_ms: None,
                pingresps: 1,
                pings: 1,
                server_keep_alive_s: None,
                version: "5",
            }),
            Details::MqttKeepaliveTimeout(MqttKeepaliveTimeout {
                client_id: "c".into(),
                close: "fin",
                close_frame: 9,
                keep_alive_s: 2,
                last_client_frame: 5,
                last_was_pingreq: true,
                limit_s: 3.0,
                over_limit_s: 0.5,
                pings: 2,
                silent_s: 3.5,
            }),
            Details::MqttPingUnanswered(MqttPingUnanswered {
                client_id: "c".into(),
                close: None,
                closed_by: Some("client"),
                earlier_answered: 1,
                waited_s: 2.0,
            }),
            Details::MqttConnectRefused(MqttConnectRefused {
                client_id: "c".into(),
                code: 135,
                meaning: "Not authorized",
                version: "5",
            }),
            Details::MqttDisconnect(MqttDisconnect {
                by: "server",
                client_id: "c".into(),
                meaning: "Keep Alive timeout",
                reason_code: 0x8D,
                reason_string: None,
            }),
            Details::MqttSlowPings(MqttSlowPings {
                client_id: "c".into(),
                keep_alive_s: 2,
                limit_s: 3.0,
                longest_silence_s: 2.6,
                median_silence_s: 2.6,
                slow_silences: 3,
            }),
        ]
    }

    /// How schema 1 wrote a finding: the fixed fields, then the details from a sorted map.
    #[derive(Serialize)]
    struct Schema1<'a> {
        severity: Severity,
        kind: Kind,
        stream: Option<u32>,
        frames: &'a [u32],
        time: &'a str,
        message: &'a str,
        #[serde(flatten)]
        data: serde_json::Map<String, serde_json::Value>,
    }

    #[test]
    fn findings_print_as_schema_1_did() {
        for d in every_shape() {
            let f = Finding::new(Severity::Info, Some(1), vec![2], 0, "m".into(), d);
            let serde_json::Value::Object(data) = serde_json::to_value(&f.details).unwrap() else {
                panic!("details of {} are not an object", f.kind().as_str());
            };
            let old = Schema1 {
                severity: f.severity,
                kind: f.kind(),
                stream: f.stream,
                frames: &f.frames,
                time: &f.time,
                message: &f.message,
                data,
            };
            assert_eq!(
                serde_json::to_string_pretty(&f).unwrap(),
                serde_json::to_string_pretty(&old).unwrap(),
                "{}",
                f.kind().as_str()
            );
        }
    }

    #[test]
    fn kinds_serialize_as_documented() {
        let v = serde_json::to_value(Kind::ResetAfterHeartbeatDeadline).unwrap();
        assert_eq!(v, "reset_after_heartbeat_deadline");
        for d in every_shape() {
            let k = d.kind();
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(
            Kind::Http(HttpKind::HttpTeAndLength).as_str(),
            "http_te_and_length"
        );
        assert!(Severity::Critical < Severity::Info);
        // HTTP findings come after diagnose's own within a severity, in keepsight-http's order.
        assert!(Kind::LogMatch < Kind::Http(HttpKind::HttpBodyShorterThanLength));
        assert!(Kind::Http(HttpKind::HttpIdleClose) < Kind::Http(HttpKind::HttpRequestLimitClose));
    }
}
