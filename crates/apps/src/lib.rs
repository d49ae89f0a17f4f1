//! `keepsight-apps`: what application protocols that carry their own heartbeats say about
//! liveness, read from a TCP stream's in-order payload.
//!
//! Payment, trading and messaging links rarely rely on TCP keep-alive: the protocol itself says
//! how often each side must speak and how the peer reacts when it does not. FIX declares
//! `HeartBtInt` in its Logon and probes a silent peer with a TestRequest; AMQP 0-9-1 negotiates a
//! heartbeat in Connection.Tune; STOMP in its `heart-beat` header; Redis, SMPP and ISO 8583 links
//! ping with PING, `enquire_link` and the 0800 echo test. This crate recognizes such a stream by
//! its first bytes ([`recognize`]), cuts each direction's bytes into the protocol's messages and
//! hands out, per message, the few [`Event`]s liveness analysis needs: the interval the protocol
//! declared, beats, probes and their replies, goodbyes with their text, sequence gaps.
//!
//! It is sans-IO: [`Session::feed`] takes one segment's payload with its relative sequence
//! number and calls back with events; it never reads a socket or a file. Memory per direction
//! is one partial message, at most [`MAX_MESSAGE`] bytes.
//!
//! The message parsers of the protocols tshark dissects ([`fix`], [`smpp`], [`amqp`]) are public:
//! `keepsight-engine` reads its `fix.*`, `smpp.*` and `amqp.*` fields with them, so one parser per
//! protocol serves both liveness and display. What it is not: a dissector for display (no field
//! tree; `keepsight-engine` owns fields), nor a validator of everything a protocol allows. It judges nothing either: whether a beat was late
//! or a session died is `keepsight-diagnose`'s call, with the interval and the tolerance this
//! crate reports ([`Protocol::silence_limit_ns`]). Bytes it cannot frame stop the analysis of
//! that direction (reported once as [`Event::Lost`]) rather than guess.

pub mod amqp;
mod event;
pub mod fix;
pub mod iso8583;
pub mod mqtt;
mod reasm;
pub mod redis;
pub mod smpp;
mod stomp;

pub use event::{Event, Framing, Scope};
use reasm::Reassembly;
pub use reasm::MAX_MESSAGE;

/// An application protocol this crate recognizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// FIX 4.x / FIXT 1.1 tag=value over TCP.
    Fix,
    /// Redis RESP (PING / PONG).
    Redis,
    /// AMQP 0-9-1 (heartbeat frames, interval from Connection.Tune).
    Amqp,
    /// SMPP 3.4 / 5.0 (enquire_link / enquire_link_resp).
    Smpp,
    /// STOMP 1.1 / 1.2 (EOL heart-beats, negotiated in the `heart-beat` header).
    Stomp,
    /// ISO 8583:1987 with a 2-byte length prefix (0800/0810 echo tests, field 70 = 301).
    Iso8583,
}

impl Protocol {
    /// The lowercase name used in JSON (`fix`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Fix => "fix",
            Protocol::Redis => "redis",
            Protocol::Amqp => "amqp",
            Protocol::Smpp => "smpp",
            Protocol::Stomp => "stomp",
            Protocol::Iso8583 => "iso8583",
        }
    }

    /// Whether each side beats on its own schedule (FIX Heartbeat, AMQP heartbeat frames,
    /// STOMP EOLs) rather than answering the peer's probes (Redis PING, SMPP enquire_link,
    /// ISO 8583 echo): such beats are no probe/reply pairs, so only this crate's events judge
    /// them.
    pub fn beats_independently(self) -> bool {
        matches!(self, Protocol::Fix | Protocol::Amqp | Protocol::Stomp)
    }

    /// The name a user reads (`FIX`).
    pub fn display_name(self) -> &'static str {
        match self {
            Protocol::Fix => "FIX",
            Protocol::Redis => "Redis",
            Protocol::Amqp => "AMQP",
            Protocol::Smpp => "SMPP",
            Protocol::Stomp => "STOMP",
            Protocol::Iso8583 => "ISO 8583",
        }
    }

    /// The name of the message that asks the peer to prove it is alive (`TestRequest`).
    pub fn probe_name(self) -> &'static str {
        match self {
            Protocol::Fix => "TestRequest",
            Protocol::Redis => "PING",
            Protocol::Amqp => "heartbeat",
            Protocol::Smpp => "enquire_link",
            Protocol::Stomp => "heart-beat",
            Protocol::Iso8583 => "echo test",
        }
    }

    /// What a side does when it sends the protocol's goodbye (`logged out`).
    pub fn goodbye_words(self) -> &'static str {
        match self {
            Protocol::Fix => "logged out",
            Protocol::Redis => "quit",
            Protocol::Amqp => "sent Connection.Close",
            Protocol::Smpp => "unbound",
            Protocol::Stomp => "disconnected",
            Protocol::Iso8583 => "signed off",
        }
    }

    /// The name of the field (or header) that carries the heartbeat interval (`HeartBtInt`);
    /// `none` for a protocol that declares none (Redis: clients ping on their own schedule).
    pub fn interval_field(self) -> &'static str {
        match self {
            Protocol::Fix => "HeartBtInt",
            Protocol::Redis => "none",
            Protocol::Amqp => "heartbeat",
            Protocol::Smpp => "none",
            Protocol::Stomp => "heart-beat",
            Protocol::Iso8583 => "none",
        }
    }

    /// How long a side may stay silent, given its declared interval, before its peer is
    /// entitled to consider it late, in nanoseconds.
    ///
    /// FIX: a side sends a Heartbeat when it has sent nothing for `HeartBtInt`; its peer sends
    /// a TestRequest when it has received nothing for `HeartBtInt` plus "some reasonable
    /// transmission time" (FIX Session Protocol, Heartbeat), which engines commonly take as 20 %
    /// of the interval (QuickFIX's default), so the limit is 1.2 × `HeartBtInt`.
    ///
    /// AMQP 0-9-1: a peer that receives no octets for two heartbeat intervals should close the
    /// connection (AMQP 0-9-1 specification, 4.2.7), so the limit is 2 × the interval.
    ///
    /// STOMP asks the receiver to "take into account an error margin" without a number; the
    /// limit is 1.5 × the negotiated interval, stomp.py's default receive scale.
    pub fn silence_limit_ns(self, interval_ns: i64) -> i64 {
        match self {
            Protocol::Fix => interval_ns + interval_ns / 5,
            Protocol::Redis | Protocol::Smpp | Protocol::Iso8583 => interval_ns,
            Protocol::Amqp => 2 * interval_ns,
            Protocol::Stomp => interval_ns + interval_ns / 2,
        }
    }
}

/// Which protocol a stream speaks, from the first payload one of its sides sent; `None` when it
/// is none of those this crate knows. Recognition looks at this payload only, never at ports.
pub fn recognize(first_payload: &[u8]) -> Option<Protocol> {
    if fix::starts_message(first_payload) {
        return Some(Protocol::Fix);
    }
    if redis::starts_command(first_payload) {
        return Some(Protocol::Redis);
    }
    if amqp::starts_header(first_payload) {
        return Some(Protocol::Amqp);
    }
    if smpp::starts_bind(first_payload) {
        return Some(Protocol::Smpp);
    }
    if stomp::starts_connect(first_payload) {
        return Some(Protocol::Stomp);
    }
    if iso8583::starts_message(first_payload) {
        return Some(Protocol::Iso8583);
    }
    None
}

/// How long the message of `protocol` at the start of `b` is: the one framing rule both the
/// capture analysis and a live client (`keepsight heartbeat client --protocol`) use.
pub fn message_len(protocol: Protocol, b: &[u8]) -> Framing {
    if b.is_empty() {
        return Framing::More;
    }
    match protocol {
        Protocol::Fix => fix::frame_len(b),
        Protocol::Redis => redis::frame_len(b),
        Protocol::Amqp => amqp::frame_len(b),
        Protocol::Smpp => smpp::frame_len(b),
        Protocol::Stomp => stomp::frame_len(b),
        Protocol::Iso8583 => iso8583::frame_len(b),
    }
}

/// One recognized stream: both directions' framing and the protocol's session state.
#[derive(Debug, Clone)]
pub struct Session {
    protocol: Protocol,
    dirs: [Reassembly; 2],
    state: State,
}

/// Each protocol's session state (both directions).
#[derive(Debug, Clone)]
enum State {
    Fix(fix::State),
    Redis(redis::State),
    Amqp(amqp::State),
    Smpp(smpp::State),
    Stomp(stomp::State),
    Iso8583(iso8583::State),
}

impl Session {
    /// A session of `protocol`, before any byte.
    pub fn new(protocol: Protocol) -> Self {
        Session {
            protocol,
            dirs: Default::default(),
            state: match protocol {
                Protocol::Fix => State::Fix(Default::default()),
                Protocol::Redis => State::Redis(Default::default()),
                Protocol::Amqp => State::Amqp(Default::default()),
                Protocol::Smpp => State::Smpp(Default::default()),
                Protocol::Stomp => State::Stomp(Default::default()),
                Protocol::Iso8583 => State::Iso8583(Default::default()),
            },
        }
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Feeds the payload of one segment sent in direction `dir` (0 or 1), whose first byte has
    /// relative sequence number `seq`; `whole` is false when the capture cut the payload short
    /// (the rest of this direction is then lost). Calls `on` with each event in order.
    pub fn feed(
        &mut self,
        dir: usize,
        seq: u32,
        payload: &[u8],
        whole: bool,
        on: &mut dyn FnMut(Event<'_>),
    ) {
        self.feed_messages(dir, seq, payload, whole, on, &mut |_, _| {});
    }

    /// [`Session::feed`] that also hands each whole message to `on_message`, with the sequence
    /// number just after it, once its events are out: for an analysis that must know which
    /// bytes made a probe, a reply or any other message.
    pub fn feed_messages(
        &mut self,
        dir: usize,
        seq: u32,
        payload: &[u8],
        whole: bool,
        on: &mut dyn FnMut(Event<'_>),
        on_message: &mut dyn FnMut(&[u8], u32),
    ) {
        let state = &mut self.state;
        let framing = match state {
            State::Fix(_) => fix::frame_len,
            State::Redis(_) => redis::frame_len,
            State::Amqp(_) => amqp::frame_len,
            State::Smpp(_) => smpp::frame_len,
            State::Stomp(_) => stomp::frame_len,
            State::Iso8583(_) => iso8583::frame_len,
        };
        let mut piece = |m: reasm::Piece<'_>| match m {
            reasm::Piece::Message(bytes, end) => {
                match state {
                    State::Fix(s) => s.on_message(dir, bytes, on),
                    State::Redis(s) => s.on_message(dir, bytes, on),
                    State::Amqp(s) => s.on_message(dir, bytes, on),
                    State::Smpp(s) => s.on_message(dir, bytes, on),
                    State::Stomp(s) => s.on_message(dir, bytes, on),
                    State::Iso8583(s) => s.on_message(dir, bytes, on),
                }
                on_message(bytes, end);
            }
            reasm::Piece::Lost => on(Event::Lost),
        };
        self.dirs[dir].feed(seq, payload, whole, framing, &mut piece);
    }
}

#[cfg(test)]
mod tests;
