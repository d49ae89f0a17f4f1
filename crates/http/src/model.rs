//! What the analysis reports: messages with framing verdicts, connections with their close
//! story, findings for `keepsight diagnose`, and server-setting estimates. All serializable; the
//! JSON field names are the stable schema of `keepsight http --json` ([`crate::json`]): times in
//! nanoseconds here are written as RFC 3339 UTC, durations as float seconds with `_s` names.

use serde::Serialize;
use std::net::SocketAddr;

/// Which side of the exchange a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Sent by the client.
    Request,
    /// Sent by the server.
    Response,
}

pub use crate::framing::Framing;

/// How an unfinished message ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "by", content = "frame")]
pub enum End {
    /// The sender closed (FIN) in this frame.
    Fin(u32),
    /// A reset (RST) in this frame ended the connection.
    Rst(u32),
    /// The next message started in this frame.
    NextMessage(u32),
    /// The capture ended first.
    CaptureEnd,
}

/// One verdict about a message's framing or headers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    /// Fewer body bytes than Content-Length before the sender closed / reset / started the
    /// next message.
    BodyShorterThanLength {
        /// Content-Length as the header said.
        declared: u64,
        /// Body bytes that arrived.
        received: u64,
        /// What cut the body short.
        ended: End,
    },
    /// More bytes than Content-Length: `excess` stray bytes from `excess_frame`, before the next
    /// message (`next_frame`) or the end of the connection.
    BodyLongerThanLength {
        /// Content-Length as the header said.
        declared: u64,
        /// Bytes beyond the declared length.
        excess: u64,
        /// Frame where the stray bytes start.
        excess_frame: u32,
        /// Frame where the next message starts, if one did.
        next_frame: Option<u32>,
    },
    /// Chunked body that never got its last chunk.
    UnterminatedChunked {
        /// Encoded body bytes that arrived.
        received: u64,
        /// What cut the body short.
        ended: End,
    },
    /// A chunk-size line that is not hex, or chunk data not followed by CRLF.
    InvalidChunk {
        /// Frame holding the bad line.
        frame: u32,
        /// The offending line, lossily decoded.
        line: String,
    },
    /// Both Content-Length and Transfer-Encoding (request-smuggling risk; chunked wins).
    TeAndLength,
    /// Several Content-Length values that differ (RFC 9112 §6.3: unrecoverable).
    DuplicateContentLength {
        /// Every Content-Length value, as sent.
        values: Vec<String>,
    },
    /// A Content-Length that is not a number.
    InvalidContentLength {
        /// The value as sent.
        value: String,
    },
    /// A response with no request before it on this connection.
    ResponseWithoutRequest,
    /// Header section cut by the end of the connection or capture.
    HeadersIncomplete {
        /// Header bytes that arrived.
        received: u64,
        /// What cut them short.
        ended: End,
    },
    /// Bytes missing from the capture inside this message.
    CaptureGap {
        /// How many bytes are missing.
        bytes: u64,
    },
    /// The capture ended while the body was still arriving (not a fault).
    CutByCaptureEnd {
        /// Body bytes that arrived before the end.
        received: u64,
    },
}

impl Verdict {
    /// True for verdicts that describe a fault of the sender (not of the capture).
    pub fn is_fault(&self) -> bool {
        !matches!(
            self,
            Verdict::CaptureGap { .. } | Verdict::CutByCaptureEnd { .. }
        )
    }
}

/// One HTTP message.
#[derive(Clone, Debug, Serialize)]
pub struct Message {
    /// Request or response.
    pub kind: Kind,
    /// The `tcp.stream` the message travelled on.
    pub stream: u32,
    /// 1-based number of the request (requests) or of the request answered (responses).
    pub number: u32,
    /// Frame where the message starts, where its header section ends, and where it ends (the
    /// frame tshark shows the message in); `frame` is 0 for a message that never ended.
    pub first_frame: u32,
    /// Frame where the header section ends (the body starts after it).
    pub header_frame: u32,
    /// Frame where the message ends (tshark shows it there); 0 when it never ended.
    pub frame: u32,
    /// Time of the message's first frame.
    #[serde(rename = "first_time", serialize_with = "crate::json::time")]
    pub first_ts_ns: i64,
    /// Time of the frame the message ends in.
    #[serde(rename = "time", serialize_with = "crate::json::time")]
    pub ts_ns: i64,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Request method (requests only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Request target as sent (requests only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Status code (responses only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// Reason phrase (responses only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phrase: Option<String>,
    /// `Host` header value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `Connection` header value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// `Keep-Alive` header value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<String>,
    /// Content-Length, when one valid value was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_length: Option<u64>,
    /// `Transfer-Encoding` header value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_encoding: Option<String>,
    /// The `Content-Type` media type without its parameters, lowercased (what tshark's
    /// Info column shows in parentheses after a message with a body). Not in the JSON, whose
    /// schema it would change.
    #[serde(skip)]
    pub content_type: Option<String>,
    /// How the body's end is found (RFC 9112 §6).
    pub framing: Framing,
    /// Body bytes seen (for chunked: the encoded bytes).
    pub body_bytes: u64,
    /// `http.request_in` (responses) / `http.response_in` (requests): the partner's end frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_in: Option<u32>,
    /// `http.response_in` (requests): the frame where the answering response ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_in: Option<u32>,
    /// `http.time`: response end frame time minus request end frame time.
    #[serde(
        rename = "response_time_s",
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::json::opt_secs"
    )]
    pub time_ns: Option<i64>,
    /// Framing verdicts; empty for a well-framed message.
    pub verdicts: Vec<Verdict>,
}

impl Message {
    /// True when some verdict is a fault of the sender (not of the capture).
    pub fn is_faulty(&self) -> bool {
        self.verdicts.iter().any(Verdict::is_fault)
    }
    /// `GET /a HTTP/1.1` or `HTTP/1.1 200 OK`.
    pub fn line(&self) -> String {
        match self.kind {
            Kind::Request => format!(
                "{} {} HTTP/1.{}",
                self.method.as_deref().unwrap_or("?"),
                self.uri.as_deref().unwrap_or("?"),
                self.version
            ),
            Kind::Response => format!(
                "HTTP/1.{} {} {}",
                self.version,
                self.code.unwrap_or(0),
                self.phrase.as_deref().unwrap_or("")
            ),
        }
    }
}

/// The end of a connection that did something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The side that sent the requests.
    Client,
    /// The side that answered them.
    Server,
}

/// Who closed a connection and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Close {
    /// The server closed (FIN) an idle keep-alive connection `idle_ns` after its last response.
    ServerIdleTimeout {
        /// Frame of the server's FIN.
        frame: u32,
        /// Time from the end of the last response to the FIN.
        #[serde(rename = "idle_s", serialize_with = "crate::json::secs")]
        idle_ns: i64,
    },
    /// The server said `Connection: close` on response `after` (a request limit like nginx
    /// `keepalive_requests`) and closed.
    ServerRequestLimit {
        /// Frame of the server's FIN.
        frame: u32,
        /// Responses sent on the connection, the last one saying close.
        after: u32,
    },
    /// The server said `Connection: close` (or HTTP/1.0 without keep-alive) on its first
    /// response and closed: keep-alive off, or a limit of 1.
    ServerSaidClose {
        /// Frame of the server's FIN.
        frame: u32,
        /// Responses sent on the connection.
        after: u32,
    },
    /// The server said `Connection: close` on response `after` and closed, while it closes its
    /// connections after varying numbers of requests: it is draining them (see
    /// [`ServerEstimate::drain`]), not applying a request limit.
    ServerDrain {
        /// Frame of the server's FIN.
        frame: u32,
        /// Responses sent on the connection, the last one saying close.
        after: u32,
    },
    /// The client asked for `Connection: close` and the server closed.
    ClientAskedClose {
        /// Frame of the server's FIN.
        frame: u32,
    },
    /// The server's close marks the end of a close-delimited body.
    ServerEndOfBody {
        /// Frame of the server's FIN.
        frame: u32,
    },
    /// The server closed while a response was incomplete or a request unanswered.
    ServerClosedMidExchange {
        /// Frame of the server's FIN or RST.
        frame: u32,
    },
    /// The reuse race: the client sent `request_frame` on a connection the server had closed
    /// (`fin_frame`, `idle_ns` after its last response); the server answered with RST.
    ReuseRace {
        /// The request sent on the already-closed connection.
        request_frame: u32,
        /// The server's FIN that closed it.
        fin_frame: u32,
        /// The server's RST answering the late request, if captured.
        rst_frame: Option<u32>,
        /// Time from the end of the last response to the server's FIN.
        #[serde(rename = "idle_s", serialize_with = "crate::json::secs")]
        idle_ns: i64,
        /// How long after the server's FIN the client sent its request.
        #[serde(rename = "sent_after_fin_s", serialize_with = "crate::json::secs")]
        sent_after_fin_ns: i64,
    },
    /// The client closed an idle connection.
    ClientClose {
        /// Frame of the client's FIN.
        frame: u32,
        /// Time from the end of the last response to the client's FIN.
        #[serde(rename = "idle_s", serialize_with = "crate::json::secs")]
        idle_ns: i64,
    },
    /// The client closed while waiting for a response (gave up after `waited_ns`).
    ClientGaveUp {
        /// Frame of the client's FIN.
        frame: u32,
        /// Time the client waited for the response.
        #[serde(rename = "waited_s", serialize_with = "crate::json::secs")]
        waited_ns: i64,
    },
    /// A reset ended the connection.
    Reset {
        /// Which side sent the RST.
        by: Side,
        /// Frame of the RST.
        frame: u32,
        /// True when a request was still waiting for its response.
        while_waiting: bool,
    },
    /// The connection left HTTP (a `101` upgrade such as WebSocket, or a `CONNECT` tunnel):
    /// its end belongs to the protocol inside, not to HTTP keep-alive.
    Tunnel {
        /// Frame of the first FIN or RST.
        frame: u32,
    },
    /// Still open when the capture ended.
    Open,
}

impl Close {
    /// The JSON `kind` of this close (`server_idle_timeout`, `reuse_race`...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Close::ServerIdleTimeout { .. } => "server_idle_timeout",
            Close::ServerRequestLimit { .. } => "server_request_limit",
            Close::ServerSaidClose { .. } => "server_said_close",
            Close::ServerDrain { .. } => "server_drain",
            Close::ClientAskedClose { .. } => "client_asked_close",
            Close::ServerEndOfBody { .. } => "server_end_of_body",
            Close::ServerClosedMidExchange { .. } => "server_closed_mid_exchange",
            Close::ReuseRace { .. } => "reuse_race",
            Close::ClientClose { .. } => "client_close",
            Close::ClientGaveUp { .. } => "client_gave_up",
            Close::Reset { .. } => "reset",
            Close::Tunnel { .. } => "tunnel",
            Close::Open => "open",
        }
    }
}

/// One HTTP connection (a TCP stream on which at least one HTTP message was seen).
#[derive(Clone, Debug, Serialize)]
pub struct Connection {
    /// The `tcp.stream` of the connection.
    pub stream: u32,
    /// The side that sent the requests.
    pub client: SocketAddr,
    /// The side that answered them.
    pub server: SocketAddr,
    /// First frame of the connection in the capture.
    pub first_frame: u32,
    /// Time of the first frame.
    #[serde(rename = "first_time", serialize_with = "crate::json::time")]
    pub first_ts_ns: i64,
    /// Time of the last frame.
    #[serde(rename = "last_time", serialize_with = "crate::json::time")]
    pub last_ts_ns: i64,
    /// True when the SYN was captured (else the capture began mid-connection).
    pub saw_syn: bool,
    /// Minor version of the server's responses (else of the requests).
    pub version: u8,
    /// Requests seen.
    pub requests: u32,
    /// Responses seen.
    pub responses: u32,
    /// Idle times between a response's end and the next request, in order (at most 64 kept).
    #[serde(rename = "idle_gaps_s", serialize_with = "crate::json::secs_list")]
    pub idle_gaps_ns: Vec<i64>,
    /// The longest of the idle gaps.
    #[serde(rename = "max_idle_s", serialize_with = "crate::json::secs")]
    pub max_idle_ns: i64,
    /// Last `Connection` / `Keep-Alive` values the server sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_header: Option<String>,
    /// `Keep-Alive: timeout=` the server last announced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive_timeout_s: Option<u64>,
    /// `Keep-Alive: max=` the server last announced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive_max: Option<u64>,
    /// What the headers mean for this version: "persistent", "close after this response", ...
    pub persistence: std::borrow::Cow<'static, str>,
    /// Who closed the connection and why.
    pub close: Close,
    /// Messages parsed on this connection, and how many had a fault verdict.
    pub message_count: u64,
    /// Messages with a fault verdict.
    pub faulty_count: u64,
    /// Messages (all of them, or only faulty ones, see [`crate::Options`]).
    pub messages: Vec<Message>,
}

/// Finding kinds for `keepsight diagnose` (the names are its JSON `kind`s; the order of the
/// variants is the order diagnose lists them in within a severity).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A body shorter than its Content-Length.
    HttpBodyShorterThanLength,
    /// A body longer than its Content-Length.
    HttpBodyLongerThanLength,
    /// A chunked body without its last chunk.
    HttpUnterminatedChunked,
    /// A chunk-size line that is not hex, or chunk data without its CRLF.
    HttpInvalidChunk,
    /// Content-Length and Transfer-Encoding together (request-smuggling risk).
    HttpTeAndLength,
    /// Several Content-Length values that differ.
    HttpDuplicateContentLength,
    /// A response with no request before it.
    HttpResponseWithoutRequest,
    /// A server closing an idle keep-alive connection (its idle timeout).
    HttpIdleClose,
    /// A server closing after a number of requests (its request limit).
    HttpRequestLimitClose,
    /// A request sent on a connection the server had just closed.
    HttpReuseRace,
    /// A server closing its connections like a coin flip per response (one per server).
    HttpDrain,
}

impl FindingKind {
    /// The finding's JSON `kind` (`http_body_shorter_than_length`...).
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::HttpBodyShorterThanLength => "http_body_shorter_than_length",
            FindingKind::HttpBodyLongerThanLength => "http_body_longer_than_length",
            FindingKind::HttpUnterminatedChunked => "http_unterminated_chunked",
            FindingKind::HttpInvalidChunk => "http_invalid_chunk",
            FindingKind::HttpTeAndLength => "http_te_and_length",
            FindingKind::HttpDuplicateContentLength => "http_duplicate_content_length",
            FindingKind::HttpResponseWithoutRequest => "http_response_without_request",
            FindingKind::HttpIdleClose => "http_idle_close",
            FindingKind::HttpRequestLimitClose => "http_request_limit_close",
            FindingKind::HttpReuseRace => "http_reuse_race",
            FindingKind::HttpDrain => "http_drain",
        }
    }
}

/// One finding: kind, where, and a sentence for a person.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// What was found.
    pub kind: FindingKind,
    /// The `tcp.stream` it was found on.
    pub stream: u32,
    /// The frame that shows it.
    pub frame: u32,
    /// Time of that frame.
    #[serde(rename = "time", serialize_with = "crate::json::time")]
    pub ts_ns: i64,
    /// One sentence for a person.
    pub text: String,
    /// The numbers behind the finding, for the kinds that have some (their fields appear in
    /// the finding's JSON object, as in `keepsight diagnose --json`).
    #[serde(flatten)]
    pub details: Option<FindingDetails>,
}

/// The numbers of the finding kinds that carry more than a frame.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FindingDetails {
    /// `http_drain`.
    Drain(DrainFinding),
    /// `http_reuse_race`.
    ReuseRace(ReuseRaceFinding),
}

/// `http_drain`: a server that closes its connections after varying numbers of requests.
/// Fields in alphabetical order (diagnose's JSON lists a finding's details so).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DrainFinding {
    /// Close responses / all responses of this server.
    pub close_ratio: f64,
    /// Upper end of the ratio's 95 % Wilson interval.
    pub close_ratio_high: f64,
    /// Lower end of the ratio's 95 % Wilson interval.
    pub close_ratio_low: f64,
    /// How many responses of this server said `Connection: close` and closed.
    pub close_responses: u64,
    /// The request counts the closes came at, smallest first (at most 64).
    pub closed_at: Vec<u32>,
    /// Present when the ratio changed between the two halves of the capture.
    pub ramp: Option<Ramp>,
    /// Responses of this server.
    pub responses: u64,
    /// The draining server.
    pub server: SocketAddr,
    /// The connections the server closed so.
    pub streams: Vec<u32>,
}

/// `http_reuse_race`: what the client should change, from the server's measured idle timeout.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReuseRaceFinding {
    /// Client settings that avoid the race, per client library.
    pub advice: Vec<crate::advice::Advice>,
    /// The shortest idle time after which this server was seen closing a connection.
    pub server_idle_timeout_s: f64,
}

/// A server draining its connections: `Connection: close` on a share of its responses that
/// does not depend on how many requests a connection carried.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Drain {
    /// Close responses / all responses of this server.
    pub close_ratio: f64,
    /// 95 % Wilson score interval of the ratio.
    pub close_ratio_low: f64,
    /// Upper end of the 95 % Wilson interval.
    pub close_ratio_high: f64,
    /// Present when the ratio changed over the capture (the two halves' intervals do not
    /// overlap): a drain ramping up (or down).
    pub ramp: Option<Ramp>,
}

/// The close ratio in the first and in the second half of a server's responses.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ramp {
    /// Close ratio over the first half of the server's responses.
    pub first_half_ratio: f64,
    /// Close ratio over the second half.
    pub second_half_ratio: f64,
}

/// Server settings estimated from how servers closed connections.
#[derive(Clone, Debug, Serialize)]
pub struct ServerEstimate {
    /// The server estimated.
    pub server: SocketAddr,
    /// Idle closes (and reuse races) seen, with the idle times they closed after.
    pub idle_closes: u32,
    /// Shortest idle time the server closed after.
    #[serde(
        rename = "idle_timeout_min_s",
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::json::opt_secs"
    )]
    pub idle_timeout_min_ns: Option<i64>,
    /// Longest idle time the server closed after.
    #[serde(
        rename = "idle_timeout_max_s",
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::json::opt_secs"
    )]
    pub idle_timeout_max_ns: Option<i64>,
    /// Longest idle gap the server did NOT close on (the timeout is above it).
    #[serde(
        rename = "longest_survived_idle_s",
        serialize_with = "crate::json::secs"
    )]
    pub longest_survived_idle_ns: i64,
    /// `Keep-Alive: timeout=` the server announced, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub announced_timeout_s: Option<u64>,
    /// Request-limit closes and the request counts they happened at.
    pub limit_closes: Vec<u32>,
    /// The request count every limit close came at (an estimate of `keepalive_requests`);
    /// absent while the closes come at varying counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_limit: Option<u32>,
    /// Null unless the server closes after varying numbers of requests (draining).
    pub drain: Option<Drain>,
}

/// The whole analysis.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Every HTTP connection, problem connections first.
    pub connections: Vec<Connection>,
    /// Every finding, in capture order.
    pub findings: Vec<Finding>,
    /// One estimate per server seen closing connections.
    pub servers: Vec<ServerEstimate>,
    /// Messages parsed.
    pub messages: u64,
    /// Messages with a fault verdict.
    pub faulty_messages: u64,
}
