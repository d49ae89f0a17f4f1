//! AMQP 0-9-1: after the client's 8-byte protocol header (`AMQP␀␀␉␁`), frames of
//! `type(1) channel(2) size(4) payload(size) 0xCE`. Type 1 is a method (class and method ids,
//! then arguments), 8 a heartbeat. The server proposes a heartbeat interval in Connection.Tune
//! (class 10, method 30: channel-max, frame-max, heartbeat in seconds) and the client settles it
//! in Connection.TuneOk (method 31); 0 turns heartbeats off. Connection.Close (method 50)
//! carries a reply code and text.

use crate::event::{Event, Framing, Scope};

/// The client's protocol header for AMQP 0-9-1.
pub const HEADER: &[u8] = b"AMQP\x00\x00\x09\x01";
const FRAME_END: u8 = 0xCE;
const FRAME_METHOD: u8 = 1;
const FRAME_HEARTBEAT: u8 = 8;
/// Class id of the connection methods.
pub const CONNECTION: u16 = 10;
/// Connection.Start (server → client: versions, mechanisms, locales).
pub const START: u16 = 10;
/// Connection.StartOk (client → server: properties, mechanism, response, locale).
pub const START_OK: u16 = 11;
/// Connection.Tune (server → client: channel-max, frame-max, heartbeat).
pub const TUNE: u16 = 30;
/// Connection.TuneOk (client → server: the values it settles on).
pub const TUNE_OK: u16 = 31;
/// Connection.Open (client → server: virtual host).
pub const OPEN: u16 = 40;
/// Connection.OpenOk (server → client).
pub const OPEN_OK: u16 = 41;
/// Connection.Close (either side: reply code and text).
pub const CLOSE: u16 = 50;
/// Connection.CloseOk.
pub const CLOSE_OK: u16 = 51;

pub(crate) fn starts_header(p: &[u8]) -> bool {
    p.starts_with(HEADER)
}

pub(crate) fn frame_len(b: &[u8]) -> Framing {
    if b.first() == Some(&b'A') {
        let n = b.len().min(HEADER.len());
        return if b[..n] != HEADER[..n] {
            Framing::Broken
        } else if n < HEADER.len() {
            Framing::More
        } else {
            Framing::Len(HEADER.len())
        };
    }
    if b.len() < 7 {
        return Framing::More;
    }
    if !matches!(b[0], 1 | 2 | 3 | 8) {
        return Framing::Broken;
    }
    let size = u32::from_be_bytes([b[3], b[4], b[5], b[6]]) as usize;
    let total = 7 + size + 1;
    if total <= b.len() && b[total - 1] != FRAME_END {
        return Framing::Broken;
    }
    Framing::Len(total)
}

/// Appends one frame: type, channel, payload size, payload, frame-end octet.
pub fn encode_frame(kind: u8, channel: u16, payload: &[u8], out: &mut Vec<u8>) {
    out.push(kind);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(FRAME_END);
}

/// Appends a heartbeat frame (type 8, channel 0, empty payload).
pub fn encode_heartbeat(out: &mut Vec<u8>) {
    encode_frame(FRAME_HEARTBEAT, 0, &[], out);
}

/// Appends a connection-class method frame on channel 0 whose arguments are `args` (already
/// encoded in AMQP's field types).
pub fn encode_connection_method(method: u16, args: &[u8], out: &mut Vec<u8>) {
    let mut payload = Vec::with_capacity(4 + args.len());
    payload.extend_from_slice(&CONNECTION.to_be_bytes());
    payload.extend_from_slice(&method.to_be_bytes());
    payload.extend_from_slice(args);
    encode_frame(FRAME_METHOD, 0, &payload, out);
}

/// Appends an AMQP short string (1-byte length, then at most 255 bytes).
pub fn push_short_str(out: &mut Vec<u8>, s: &[u8]) {
    let s = &s[..s.len().min(255)];
    out.push(s.len() as u8);
    out.extend_from_slice(s);
}

/// Appends an AMQP long string (4-byte length, then the bytes).
pub fn push_long_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// The class id, method id and arguments of a whole method frame; `None` for other frames.
pub fn method(m: &[u8]) -> Option<(u16, u16, &[u8])> {
    if m.first() != Some(&FRAME_METHOD) || m.len() < 8 {
        return None;
    }
    let payload = &m[7..m.len() - 1];
    Some((u16_at(payload, 0)?, u16_at(payload, 2)?, payload.get(4..)?))
}

/// Whether a whole frame is a heartbeat frame.
pub fn is_heartbeat(m: &[u8]) -> bool {
    m.first() == Some(&FRAME_HEARTBEAT)
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// One AMQP 0-9-1 frame: `type(1) channel(2) size(4) payload(size) 0xCE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Frame type: 1 method, 2 content header, 3 content body, 8 heartbeat.
    pub frame_type: u8,
    /// The channel (0: the connection itself).
    pub channel: u16,
    /// The payload, between the size field and the frame-end octet.
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// The whole frame at the start of `b`, or `None` when `b` holds no complete frame (the
    /// protocol header included: it is no frame).
    pub fn parse(b: &'a [u8]) -> Option<Frame<'a>> {
        if b.first() == Some(&b'A') {
            return None;
        }
        let Framing::Len(total) = frame_len(b) else {
            return None;
        };
        if total > b.len() {
            return None;
        }
        Some(Frame {
            frame_type: b[0],
            channel: u16::from_be_bytes([b[1], b[2]]),
            payload: &b[7..total - 1],
        })
    }

    /// A method frame's class and method ids and its arguments.
    pub fn method(&self) -> Option<(u16, u16, &'a [u8])> {
        if self.frame_type != FRAME_METHOD {
            return None;
        }
        Some((
            u16_at(self.payload, 0)?,
            u16_at(self.payload, 2)?,
            self.payload.get(4..)?,
        ))
    }
}

/// The length of what starts `b`: the protocol header or a whole frame; `None` when `b` ends
/// inside it or it is neither.
pub fn unit_len(b: &[u8]) -> Option<usize> {
    match frame_len(b) {
        Framing::Len(n) if n <= b.len() => Some(n),
        _ => None,
    }
}

/// True when `b` starts with the client's protocol header (`AMQP␀␀␉␁`).
pub fn is_protocol_header(b: &[u8]) -> bool {
    starts_header(b)
}

/// The arguments of a Connection-class method (class 10), the ones that set up, tune and
/// close a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionMethod<'a> {
    /// Start (10): the server's version, properties table, mechanisms and locales.
    Start {
        /// Protocol major version.
        version_major: u8,
        /// Protocol minor version.
        version_minor: u8,
        /// The server-properties field table, as sent.
        server_properties: &'a [u8],
        /// Security mechanisms, space-separated.
        mechanisms: &'a [u8],
        /// Message locales, space-separated.
        locales: &'a [u8],
    },
    /// Start-Ok (11): the client's choice.
    StartOk {
        /// The client-properties field table, as sent.
        client_properties: &'a [u8],
        /// The chosen mechanism.
        mechanism: &'a [u8],
        /// The security response.
        response: &'a [u8],
        /// The chosen locale.
        locale: &'a [u8],
    },
    /// Tune (30) or Tune-Ok (31): limits and the heartbeat interval in seconds.
    Tune {
        /// Highest channel number.
        channel_max: u16,
        /// Largest frame size.
        frame_max: u32,
        /// Heartbeat interval in seconds (0: off).
        heartbeat: u16,
    },
    /// Open (40): the virtual host.
    Open {
        /// The virtual host.
        virtual_host: &'a [u8],
        /// Reserved (capabilities in 0-8).
        capabilities: &'a [u8],
        /// Reserved bit (insist in 0-8).
        insist: bool,
    },
    /// Open-Ok (41).
    OpenOk {
        /// Reserved (known-hosts in 0-8).
        known_hosts: &'a [u8],
    },
    /// Close (50): why, and which method caused it.
    Close {
        /// Reply code (200: normal).
        reply_code: u16,
        /// Reply text.
        reply_text: &'a [u8],
        /// Class of the failing method (0: none).
        class_id: u16,
        /// The failing method (0: none).
        method_id: u16,
    },
}

/// Reads AMQP argument types one after another.
struct Args<'a> {
    b: &'a [u8],
}

impl<'a> Args<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.b.get(..n)?, self.b.get(n..)?);
        self.b = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn short_str(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn long_str(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()?;
        self.take(usize::try_from(n).ok()?)
    }
}

impl<'a> ConnectionMethod<'a> {
    /// The Connection method `method` with arguments `args`; `None` for another method, or
    /// arguments cut short.
    pub fn parse(method: u16, args: &'a [u8]) -> Option<ConnectionMethod<'a>> {
        let mut a = Args { b: args };
        Some(match method {
            10 => ConnectionMethod::Start {
                version_major: a.u8()?,
                version_minor: a.u8()?,
                server_properties: a.long_str()?,
                mechanisms: a.long_str()?,
                locales: a.long_str()?,
            },
            11 => ConnectionMethod::StartOk {
                client_properties: a.long_str()?,
                mechanism: a.short_str()?,
                response: a.long_str()?,
                locale: a.short_str()?,
            },
            TUNE | TUNE_OK => ConnectionMethod::Tune {
                channel_max: a.u16()?,
                frame_max: a.u32()?,
                heartbeat: a.u16()?,
            },
            40 => ConnectionMethod::Open {
                virtual_host: a.short_str()?,
                capabilities: a.short_str()?,
                insist: a.u8()? & 1 != 0,
            },
            41 => ConnectionMethod::OpenOk {
                known_hosts: a.short_str()?,
            },
            CLOSE => ConnectionMethod::Close {
                reply_code: a.u16()?,
                reply_text: a.short_str()?,
                class_id: a.u16()?,
                method_id: a.u16()?,
            },
            _ => return None,
        })
    }
}

/// The AMQP 0-9-1 name of a class and of one of its methods (`Connection`, `Tune-Ok`);
/// `None` for ids the specification does not define.
pub fn method_name(class: u16, method: u16) -> Option<(&'static str, &'static str)> {
    let (class_name, methods): (&str, &[(u16, &str)]) = match class {
        CONNECTION => (
            "Connection",
            &[
                (10, "Start"),
                (11, "Start-Ok"),
                (20, "Secure"),
                (21, "Secure-Ok"),
                (30, "Tune"),
                (31, "Tune-Ok"),
                (40, "Open"),
                (41, "Open-Ok"),
                (50, "Close"),
                (51, "Close-Ok"),
                (60, "Blocked"),
                (61, "Unblocked"),
            ],
        ),
        20 => (
            "Channel",
            &[
                (10, "Open"),
                (11, "Open-Ok"),
                (20, "Flow"),
                (21, "Flow-Ok"),
                (40, "Close"),
                (41, "Close-Ok"),
            ],
        ),
        40 => (
            "Exchange",
            &[
                (10, "Declare"),
                (11, "Declare-Ok"),
                (20, "Delete"),
                (21, "Delete-Ok"),
                (30, "Bind"),
                (31, "Bind-Ok"),
                (40, "Unbind"),
                (51, "Unbind-Ok"),
            ],
        ),
        50 => (
            "Queue",
            &[
                (10, "Declare"),
                (11, "Declare-Ok"),
                (20, "Bind"),
                (21, "Bind-Ok"),
                (30, "Purge"),
                (31, "Purge-Ok"),
                (40, "Delete"),
                (41, "Delete-Ok"),
                (50, "Unbind"),
                (51, "Unbind-Ok"),
            ],
        ),
        60 => (
            "Basic",
            &[
                (10, "Qos"),
                (11, "Qos-Ok"),
                (20, "Consume"),
                (21, "Consume-Ok"),
                (30, "Cancel"),
                (31, "Cancel-Ok"),
                (40, "Publish"),
                (50, "Return"),
                (60, "Deliver"),
                (70, "Get"),
                (71, "Get-Ok"),
                (72, "Get-Empty"),
                (80, "Ack"),
                (90, "Reject"),
                (100, "Recover-Async"),
                (110, "Recover"),
                (111, "Recover-Ok"),
                (120, "Nack"),
            ],
        ),
        85 => ("Confirm", &[(10, "Select"), (11, "Select-Ok")]),
        90 => (
            "Tx",
            &[
                (10, "Select"),
                (11, "Select-Ok"),
                (20, "Commit"),
                (21, "Commit-Ok"),
                (30, "Rollback"),
                (31, "Rollback-Ok"),
            ],
        ),
        _ => return None,
    };
    methods
        .iter()
        .find(|(id, _)| *id == method)
        .map(|&(_, name)| (class_name, name))
}

#[derive(Debug, Clone, Default)]
pub(crate) struct State;

impl State {
    pub(crate) fn on_message(&mut self, _dir: usize, m: &[u8], on: &mut dyn FnMut(Event<'_>)) {
        let Some(frame) = Frame::parse(m) else {
            return on(Event::Message);
        };
        if frame.frame_type == FRAME_HEARTBEAT {
            return on(Event::Beat);
        }
        let ev = match frame.method() {
            Some((CONNECTION, method, args)) => match ConnectionMethod::parse(method, args) {
                Some(ConnectionMethod::Tune { heartbeat, .. }) => Event::Interval {
                    ms: u64::from(heartbeat) * 1000,
                    scope: Scope::Both,
                },
                Some(ConnectionMethod::Close { reply_text, .. }) => Event::Goodbye {
                    text: Some(reply_text),
                },
                _ => Event::Message,
            },
            _ => Event::Message,
        };
        on(ev);
    }
}
