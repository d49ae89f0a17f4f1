//! What a protocol module says about one message (the liveness events the crate hands out),
//! and how it frames messages: the vocabulary every protocol module shares.

/// Which direction(s) an interval binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Both sides must speak at least this often (FIX, AMQP).
    Both,
    /// Only the side that sends direction `d` (STOMP negotiates each way apart).
    Dir(u8),
}

/// What one message means for liveness. Borrowed text lives as long as the segment's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// The heartbeat interval the protocol declared, in milliseconds (0: heartbeats off).
    Interval {
        /// The interval.
        ms: u64,
        /// Which sides it binds.
        scope: Scope,
    },
    /// An unsolicited heartbeat (FIX Heartbeat without TestReqID, an AMQP heartbeat frame).
    Beat,
    /// A request the peer must answer to prove it is alive (FIX TestRequest, Redis PING, SMPP
    /// enquire_link).
    Probe,
    /// The answer to the peer's probe (FIX Heartbeat carrying the TestReqID, `+PONG`,
    /// enquire_link_resp).
    Reply,
    /// The side ends the session (FIX Logout, AMQP Connection.Close), with its text when it
    /// gave one.
    Goodbye {
        /// The reason given (FIX tag 58, AMQP reply-text), as sent.
        text: Option<&'a [u8]>,
    },
    /// The side asks for messages again (FIX ResendRequest).
    ResendRequest {
        /// First sequence number asked for.
        begin: u64,
        /// Last one (0: up to the latest).
        end: u64,
    },
    /// The sequence number of a message is not the next expected: messages in between were
    /// lost (`received > expected`) or the sender went back (`received < expected`).
    SequenceGap {
        /// The number this direction's next message should have carried.
        expected: u64,
        /// The number it carried.
        received: u64,
    },
    /// Any other message: traffic that also proves the sender alive.
    Message,
    /// The bytes of this direction can no longer be framed (a gap in the capture, a broken
    /// length or checksum): no more events come from it.
    Lost,
}

/// How long a message at the start of a direction's bytes is ([`crate::message_len`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// This many bytes (at least 1).
    Len(usize),
    /// Not enough bytes yet to tell.
    More,
    /// Not a message of the protocol.
    Broken,
}
