//! The protocols a heartbeat client can speak: its own byte protocol, or an application
//! protocol's real framing (FIX, ISO 8583, AMQP 0-9-1, Redis), so lab tests and probes produce
//! the bytes real sessions do. The schedule, the timeout and the miss count stay the client's
//! one engine; a dialect only says what a slot sends, what the peer's bytes mean, and how a
//! session opens and ends. Messages are framed and encoded with keepsight-apps, the codec the
//! capture analysis reads them with.

use super::protocol::{Decoder, Frame, Wire};
use keepsight_apps::{amqp, fix, iso8583, redis, Framing, Protocol, MAX_MESSAGE};
use std::time::Duration;

/// What a heartbeat client speaks on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// keepsight's own protocol: one probe byte, one reply byte (see the crate documentation).
    #[default]
    Bytes,
    /// FIX 4.4: Logon with HeartBtInt (108) from the period, a Heartbeat (`35=0`) each period,
    /// a TestRequest (`35=1`) when the peer is overdue, answered by a Heartbeat echoing its
    /// TestReqID (112); a Logout (`35=5`, 58 "no heartbeat") when the peer is declared dead.
    Fix,
    /// ISO 8583 with a 2-byte length prefix: an 0800 echo test (70 = 301, trace number in
    /// field 11) each period, answered by an 0810 with the same trace number.
    Iso8583,
    /// AMQP 0-9-1: the connection handshake up to Connection.OpenOk, with the heartbeat
    /// negotiated in Tune/TuneOk, then a heartbeat frame each negotiated period; the peer is
    /// judged by whether it sent anything within the period plus the timeout.
    Amqp,
    /// Redis: `PING` each period, answered in order (`+PONG`).
    Redis,
}

/// Whether a slot asked the peer for an answer or only proved this side alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// A probe the peer must answer within the timeout.
    Probe,
    /// An unsolicited beat: the peer proves itself alive by its own traffic.
    Beat,
}

/// What the peer's bytes meant.
#[derive(Debug)]
pub(crate) enum Heard {
    /// The session is open; beats may start, at the negotiated period when the protocol
    /// negotiates one.
    Ready {
        /// The period the peer and this client settled on, when it differs from the asked one.
        every: Option<Duration>,
    },
    /// The answer to a probe: `id` names which one (a trace number, a TestReqID); `None`
    /// means the oldest outstanding one (answers come in order).
    Reply {
        /// [`Dialect::probe_id`] of the probe answered.
        id: Option<u64>,
    },
    /// An application frame (own byte protocol only).
    App(Vec<u8>),
    /// The peer ends the session (Logout, Connection.Close, sign-off), with its words.
    Goodbye(String),
}

impl Dialect {
    /// Parses `bytes`, `fix`, `iso8583`, `amqp` or `redis`.
    pub fn parse(s: &str) -> Result<Dialect, crate::ParseError> {
        match s {
            "bytes" => Ok(Dialect::Bytes),
            "fix" => Ok(Dialect::Fix),
            "iso8583" => Ok(Dialect::Iso8583),
            "amqp" => Ok(Dialect::Amqp),
            "redis" => Ok(Dialect::Redis),
            _ => Err(crate::ParseError::new(
                "protocol",
                s,
                "expected bytes, fix, iso8583, amqp or redis",
            )),
        }
    }

    /// The name `parse` reads.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Bytes => "bytes",
            Dialect::Fix => "fix",
            Dialect::Iso8583 => "iso8583",
            Dialect::Amqp => "amqp",
            Dialect::Redis => "redis",
        }
    }

    fn protocol(self) -> Option<Protocol> {
        match self {
            Dialect::Bytes => None,
            Dialect::Fix => Some(Protocol::Fix),
            Dialect::Iso8583 => Some(Protocol::Iso8583),
            Dialect::Amqp => Some(Protocol::Amqp),
            Dialect::Redis => Some(Protocol::Redis),
        }
    }

    /// Checks that the period can be said in the protocol: FIX's HeartBtInt and AMQP's
    /// heartbeat are whole seconds (AMQP's at most 65535).
    pub fn validate_period(self, every: Duration) -> Result<(), String> {
        if !matches!(self, Dialect::Fix | Dialect::Amqp) {
            return Ok(());
        }
        if every.subsec_nanos() != 0 || every.as_secs() == 0 {
            return Err(format!(
                "{} declares its heartbeat interval in whole seconds: the period must be 1s, 2s, ...",
                self.protocol().map_or("", Protocol::display_name)
            ));
        }
        if self == Dialect::Amqp && every.as_secs() > u64::from(u16::MAX) {
            return Err("AMQP's heartbeat is at most 65535 s".into());
        }
        Ok(())
    }

    /// The identifier a probe's answer carries back, for probe number `seq`: the ISO 8583
    /// trace number (6 digits, from 1) or the FIX TestReqID's number.
    pub(crate) fn probe_id(self, seq: u64) -> u64 {
        match self {
            Dialect::Iso8583 => (seq + 1) % 1_000_000,
            _ => seq,
        }
    }
}

/// The FIX SenderCompID and TargetCompID this client logs on with.
const FIX_SENDER: &[u8] = b"KEEPSIGHT";
const FIX_TARGET: &[u8] = b"PEER";
const FIX_BEGIN: &str = "FIX.4.4";
const TEST_REQ_PREFIX: &[u8] = b"TEST";
/// AMQP reply code for a connection closed by one side's decision (connection-forced).
const AMQP_CONNECTION_FORCED: u16 = 320;

/// One connection's side of a dialect: framing state and what it has sent.
pub(crate) struct Speaker {
    dialect: Dialect,
    wire: Wire,
    decoder: Decoder,
    /// Bytes of the peer's unfinished message (application protocols only).
    partial: Vec<u8>,
    /// The MsgSeqNum of the next FIX message this side sends.
    fix_seq: u64,
    /// The period asked for, in whole seconds (FIX HeartBtInt, AMQP's proposal).
    every_secs: u64,
    /// The session is open (Logon answered, Connection.OpenOk received).
    open: bool,
    /// A goodbye was already sent: answer the peer's with none.
    said_goodbye: bool,
}

impl Speaker {
    pub(crate) fn new(dialect: Dialect, wire: Wire, every: Duration) -> Self {
        Speaker {
            dialect,
            wire,
            decoder: Decoder::new(wire),
            partial: Vec::new(),
            fix_seq: 1,
            every_secs: every.as_secs().max(1),
            open: false,
            said_goodbye: false,
        }
    }

    /// Writes what opens a session; returns whether it is open already (no handshake).
    pub(crate) fn open(&mut self, out: &mut Vec<u8>) -> bool {
        match self.dialect {
            Dialect::Fix => {
                let interval = self.every_secs.to_string();
                self.fix_message(
                    b"A",
                    &[(98, b"0"), (108, interval.as_bytes()), (141, b"Y")],
                    out,
                );
            }
            Dialect::Amqp => out.extend_from_slice(amqp::HEADER),
            Dialect::Bytes | Dialect::Iso8583 | Dialect::Redis => self.open = true,
        }
        self.open
    }

    /// The name of what the client waits for before beating, for a timeout message.
    pub(crate) fn awaited(&self) -> &'static str {
        match self.dialect {
            Dialect::Fix => "the peer's Logon",
            Dialect::Amqp => "Connection.OpenOk",
            _ => "the session",
        }
    }

    /// Writes slot `seq`'s message. `peer_overdue`: the peer has sent nothing for longer than
    /// the period plus the timeout.
    pub(crate) fn slot(&mut self, seq: u64, peer_overdue: bool, out: &mut Vec<u8>) -> Slot {
        match self.dialect {
            Dialect::Bytes => {
                out.push(self.wire.probe);
                Slot::Probe
            }
            Dialect::Redis => {
                redis::encode_command(&[b"PING"], out);
                Slot::Probe
            }
            Dialect::Iso8583 => {
                let now = fix_time();
                // MMDDhhmmss out of YYYYMMDD-hh:mm:ss.sss.
                let mut transmitted = [0u8; 10];
                transmitted[..4].copy_from_slice(&now[4..8]);
                transmitted[4..6].copy_from_slice(&now[9..11]);
                transmitted[6..8].copy_from_slice(&now[12..14]);
                transmitted[8..10].copy_from_slice(&now[15..17]);
                let stan = self.dialect.probe_id(seq) as u32;
                iso8583::encode_network(b"0800", &transmitted, stan, None, b"301", out);
                Slot::Probe
            }
            Dialect::Fix if peer_overdue => {
                let mut id = TEST_REQ_PREFIX.to_vec();
                id.extend_from_slice(seq.to_string().as_bytes());
                self.fix_message(b"1", &[(112, &id)], out);
                Slot::Probe
            }
            Dialect::Fix => {
                self.fix_message(b"0", &[], out);
                Slot::Beat
            }
            Dialect::Amqp => {
                amqp::encode_heartbeat(out);
                Slot::Beat
            }
        }
    }

    /// Writes the goodbye of a client that declares its peer dead (FIX Logout, AMQP
    /// Connection.Close), with `text` as its reason.
    pub(crate) fn goodbye(&mut self, text: &str, out: &mut Vec<u8>) {
        if self.said_goodbye || !self.open {
            return;
        }
        self.said_goodbye = true;
        match self.dialect {
            Dialect::Fix => self.fix_message(b"5", &[(58, text.as_bytes())], out),
            Dialect::Amqp => {
                let mut args = AMQP_CONNECTION_FORCED.to_be_bytes().to_vec();
                amqp::push_short_str(&mut args, text.as_bytes());
                args.extend_from_slice(&[0, 0, 0, 0]);
                amqp::encode_connection_method(amqp::CLOSE, &args, out);
            }
            Dialect::Bytes | Dialect::Iso8583 | Dialect::Redis => {}
        }
    }

    /// Reads the peer's bytes: answers what the protocol says to answer (into `out`) and
    /// reports what matters to the schedule.
    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
        on: &mut dyn FnMut(Heard),
    ) -> Result<(), String> {
        let Some(protocol) = self.dialect.protocol() else {
            let reply = self.wire.reply;
            return self
                .decoder
                .feed(data, |frame| match frame {
                    Frame::Reply => on(Heard::Reply { id: None }),
                    Frame::Probe => out.push(reply),
                    Frame::App(payload) => on(Heard::App(payload.to_vec())),
                })
                .map_err(|e| e.to_string());
        };
        self.partial.extend_from_slice(data);
        let mut at = 0;
        loop {
            match keepsight_apps::message_len(protocol, &self.partial[at..]) {
                Framing::Len(n) if at + n <= self.partial.len() => {
                    let message = self.partial[at..at + n].to_vec();
                    at += n;
                    self.on_message(&message, out, on)?;
                }
                Framing::Len(n) if n > MAX_MESSAGE => {
                    return Err(format!(
                        "the peer announced a {} message of {n} bytes (at most {MAX_MESSAGE})",
                        protocol.display_name()
                    ))
                }
                Framing::Len(_) | Framing::More => break,
                Framing::Broken => {
                    return Err(format!(
                        "the peer's bytes are not {} messages",
                        protocol.display_name()
                    ))
                }
            }
        }
        self.partial.drain(..at);
        if self.partial.is_empty() {
            // An idle connection keeps no buffer.
            self.partial = Vec::new();
        }
        Ok(())
    }

    fn on_message(
        &mut self,
        m: &[u8],
        out: &mut Vec<u8>,
        on: &mut dyn FnMut(Heard),
    ) -> Result<(), String> {
        match self.dialect {
            Dialect::Bytes => {}
            Dialect::Redis => {
                // RESP3 pushes ('>') are not answers; everything else answers the oldest
                // command, in order.
                if m.first() != Some(&b'>') {
                    on(Heard::Reply { id: None });
                }
            }
            Dialect::Iso8583 => {
                let body = &m[2..];
                let code = iso8583::field(body, 70);
                let stan = iso8583::field(body, 11).and_then(decimal);
                match (body.get(..4), code) {
                    (Some(b"0810"), Some(b"301")) => on(Heard::Reply { id: stan }),
                    (Some(b"0800"), Some(b"301")) => {
                        let transmitted = iso8583::field(body, 7)
                            .and_then(|t| <[u8; 10]>::try_from(t).ok())
                            .unwrap_or([b'0'; 10]);
                        let stan = stan.unwrap_or(0) as u32;
                        iso8583::encode_network(
                            b"0810",
                            &transmitted,
                            stan,
                            Some(b"00"),
                            b"301",
                            out,
                        );
                    }
                    (Some(b"0800"), Some(b"002")) => on(Heard::Goodbye("signed off".into())),
                    _ => {}
                }
            }
            Dialect::Fix => self.on_fix(m, out, on),
            Dialect::Amqp => self.on_amqp(m, out, on)?,
        }
        Ok(())
    }

    fn on_fix(&mut self, m: &[u8], out: &mut Vec<u8>, on: &mut dyn FnMut(Heard)) {
        // A garbled message (wrong CheckSum) has no type: ignored, as an engine does.
        let Some(kind) = fix::field(m, 35) else {
            return;
        };
        match kind {
            b"A" if !self.open => {
                self.open = true;
                on(Heard::Ready { every: None });
            }
            b"0" => {
                if let Some(id) = fix::field(m, 112)
                    .and_then(|id| id.strip_prefix(TEST_REQ_PREFIX))
                    .and_then(decimal)
                {
                    on(Heard::Reply { id: Some(id) });
                }
            }
            b"1" => {
                let id = fix::field(m, 112).unwrap_or_default().to_vec();
                self.fix_message(b"0", &[(112, &id)], out);
            }
            b"5" => {
                let text = fix::field(m, 58).map(|t| String::from_utf8_lossy(t).into_owned());
                if !self.said_goodbye {
                    self.said_goodbye = true;
                    self.fix_message(b"5", &[], out);
                }
                on(Heard::Goodbye(match text {
                    Some(t) => format!("the peer logged out: {t}"),
                    None => "the peer logged out".into(),
                }));
            }
            _ => {}
        }
    }

    fn on_amqp(
        &mut self,
        m: &[u8],
        out: &mut Vec<u8>,
        on: &mut dyn FnMut(Heard),
    ) -> Result<(), String> {
        let Some((amqp::CONNECTION, method, args)) = amqp::method(m) else {
            return Ok(());
        };
        match method {
            amqp::START => {
                let mut ok = Vec::new();
                // client-properties: an empty table.
                ok.extend_from_slice(&0u32.to_be_bytes());
                amqp::push_short_str(&mut ok, b"PLAIN");
                amqp::push_long_str(&mut ok, b"\0guest\0guest");
                amqp::push_short_str(&mut ok, b"en_US");
                amqp::encode_connection_method(amqp::START_OK, &ok, out);
            }
            amqp::TUNE => {
                let (Some(channel_max), Some(frame_max), Some(proposed)) = (
                    args.get(0..2),
                    args.get(2..6),
                    args.get(6..8)
                        .map(|b| u64::from(u16::from_be_bytes([b[0], b[1]]))),
                ) else {
                    return Err("the peer's Connection.Tune is too short".into());
                };
                // The lower of the two non-zero proposals, as clients negotiate it.
                let settled = match proposed {
                    0 => self.every_secs,
                    p => p.min(self.every_secs),
                };
                let mut ok = Vec::new();
                ok.extend_from_slice(channel_max);
                ok.extend_from_slice(frame_max);
                ok.extend_from_slice(&(settled as u16).to_be_bytes());
                amqp::encode_connection_method(amqp::TUNE_OK, &ok, out);
                let mut open = Vec::new();
                amqp::push_short_str(&mut open, b"/");
                amqp::push_short_str(&mut open, b"");
                open.push(0);
                amqp::encode_connection_method(amqp::OPEN, &open, out);
                self.every_secs = settled;
            }
            amqp::OPEN_OK if !self.open => {
                self.open = true;
                on(Heard::Ready {
                    every: Some(Duration::from_secs(self.every_secs)),
                });
            }
            amqp::CLOSE => {
                let text = args
                    .get(2)
                    .and_then(|&n| args.get(3..3 + usize::from(n)))
                    .map(|t| String::from_utf8_lossy(t).into_owned())
                    .unwrap_or_default();
                amqp::encode_connection_method(amqp::CLOSE_OK, &[], out);
                self.said_goodbye = true;
                on(Heard::Goodbye(format!(
                    "the peer sent Connection.Close: {text}"
                )));
            }
            _ => {}
        }
        Ok(())
    }

    /// Appends a FIX message of type `kind` with the standard header (MsgSeqNum, comp ids,
    /// SendingTime) before `body`.
    fn fix_message(&mut self, kind: &[u8], body: &[(u32, &[u8])], out: &mut Vec<u8>) {
        let seq = self.fix_seq.to_string();
        self.fix_seq += 1;
        let time = fix_time();
        let mut fields: Vec<(u32, &[u8])> = vec![
            (35, kind),
            (34, seq.as_bytes()),
            (49, FIX_SENDER),
            (52, &time),
            (56, FIX_TARGET),
        ];
        fields.extend_from_slice(body);
        fix::encode(FIX_BEGIN, &fields, out);
    }
}

/// The UTC time as FIX's UTCTimestamp with milliseconds: `YYYYMMDD-hh:mm:ss.sss`.
fn fix_time() -> [u8; 21] {
    // From 2026-11-29T01:34:15.123Z.
    let rfc = keepsight_time::rfc3339::now_millis();
    let r = rfc.as_bytes();
    let mut t = [b'0'; 21];
    if r.len() >= 23 {
        t[0..4].copy_from_slice(&r[0..4]);
        t[4..6].copy_from_slice(&r[5..7]);
        t[6..8].copy_from_slice(&r[8..10]);
        t[8] = b'-';
        t[9..21].copy_from_slice(&r[11..23]);
    }
    t
}

fn decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 18 {
        return None;
    }
    v.iter().try_fold(0u64, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix_time_has_fix_layout() {
        let t = fix_time();
        assert_eq!(
            (t[8], t[11], t[14], t[17]),
            (b'-', b':', b':', b'.'),
            "{t:?}"
        );
    }

    #[test]
    fn fix_heartbeats_number_themselves_and_test_requests_come_back_by_id() {
        let mut s = Speaker::new(Dialect::Fix, Wire::default(), Duration::from_secs(2));
        let mut out = Vec::new();
        assert!(!s.open(&mut out));
        assert_eq!(fix::field(&out, 108), Some(&b"2"[..]));
        out.clear();
        // The peer's Logon opens the session.
        let mut peer = Vec::new();
        fix::encode("FIX.4.4", &[(35, b"A"), (34, b"1"), (108, b"2")], &mut peer);
        let mut heard = Vec::new();
        s.feed(&peer[..10], &mut out, &mut |h| heard.push(format!("{h:?}")))
            .unwrap();
        s.feed(&peer[10..], &mut out, &mut |h| heard.push(format!("{h:?}")))
            .unwrap();
        assert_eq!(heard, ["Ready { every: None }"]);
        assert_eq!(s.slot(0, false, &mut out), Slot::Beat);
        assert_eq!(fix::field(&out, 34), Some(&b"2"[..]));
        out.clear();
        assert_eq!(s.slot(1, true, &mut out), Slot::Probe);
        assert_eq!(fix::field(&out, 112), Some(&b"TEST1"[..]));
        let mut answer = Vec::new();
        fix::encode(
            "FIX.4.4",
            &[(35, b"0"), (34, b"2"), (112, b"TEST1")],
            &mut answer,
        );
        heard.clear();
        s.feed(&answer, &mut out, &mut |h| heard.push(format!("{h:?}")))
            .unwrap();
        assert_eq!(heard, ["Reply { id: Some(1) }"]);
        assert!(s.feed(b"8=FIX.4.4\x019=x", &mut out, &mut |_| {}).is_err());
    }
}
