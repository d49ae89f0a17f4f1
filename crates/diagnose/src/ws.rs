//! WebSocket on a stream, as the diagnosis needs it: a stream is WebSocket after an HTTP/1.1
//! `Upgrade: websocket` request answered by `101` (on any port), or from its first byte on a
//! port the user decoded as `websocket` (a capture that begins after the handshake). Each
//! direction's payload is cut into frames by keepsight-ws; what the keep-alive analysis
//! needs is recorded, bounded: the upgrade, pings and the pongs that answer them, close
//! frames with code and reason, the last frame.

use crate::h2::At;
use keepsight_ws::upgrade::{Fed, Handshake};
use keepsight_ws::{CloseBody, Direction, Opcode};

/// The most pings kept per connection; later ones are only counted.
pub(crate) const MAX_PINGS: usize = 2048;
/// Longest close reason kept (RFC 6455 allows 123 bytes).
const MAX_REASON: usize = 123;
/// Longest ping payload compared with pongs.
const MAX_PING_PAYLOAD: usize = 16;

/// Whether a stream is WebSocket.
#[derive(Default)]
pub(crate) enum WsMode {
    /// No payload yet.
    #[default]
    Undecided,
    /// Watching an HTTP/1.1 handshake, with the request's first frame.
    Handshake(Box<(Handshake, At)>),
    /// Not WebSocket (or no longer followed: bytes missing from the capture).
    No,
    /// WebSocket, with its record.
    Yes(Box<WsConn>),
}

impl std::fmt::Debug for WsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WsMode::Undecided => f.write_str("Undecided"),
            WsMode::Handshake(_) => f.write_str("Handshake"),
            WsMode::No => f.write_str("No"),
            WsMode::Yes(c) => write!(f, "Yes({} pings)", c.pings.len()),
        }
    }
}

/// The HTTP/1.1 upgrade that began the connection.
#[derive(Debug, Clone)]
pub(crate) struct Upgrade {
    /// The request's frame and time.
    pub asked: At,
    /// The `101` answer.
    pub answered: At,
    pub path: String,
    pub deflate: bool,
}

/// A ping and the pong that answered it.
#[derive(Debug, Clone)]
pub(crate) struct Ping {
    pub dir: u8,
    pub at: At,
    payload: [u8; MAX_PING_PAYLOAD],
    len: u8,
    pub pong: Option<At>,
}

/// A close frame.
#[derive(Debug, Clone)]
pub(crate) struct Close {
    pub dir: u8,
    pub at: At,
    pub code: Option<u16>,
    pub reason: String,
}

/// One WebSocket connection's record.
#[derive(Default)]
pub(crate) struct WsConn {
    dirs: [Direction; 2],
    pub upgrade: Option<Upgrade>,
    /// The client's direction: the one that asked for the upgrade, or that masks its frames.
    pub client_dir: Option<u8>,
    pub pings: Vec<Ping>,
    pub pings_dropped: u32,
    /// The first close frame of each direction.
    pub closes: [Option<Close>; 2],
    /// The last frame (either way).
    pub last: Option<At>,
}

impl WsMode {
    /// Feeds the next payload of direction `d` (`decoded`: the port is decoded as
    /// websocket; `whole`: the capture holds all of the segment's bytes).
    pub(crate) fn on_payload(
        &mut self,
        d: usize,
        payload: &[u8],
        whole: bool,
        frame: u32,
        ts: i64,
        decoded: bool,
    ) {
        let at = At { frame, ts };
        if matches!(self, WsMode::Undecided) {
            *self = if decoded {
                WsMode::Yes(Box::default())
            } else if Handshake::first_look(payload) == Some(false) {
                // Not HTTP, or an HTTP request that asks for no upgrade: most streams.
                WsMode::No
            } else {
                WsMode::Handshake(Box::new((Handshake::default(), at)))
            };
        }
        if !whole {
            *self = WsMode::No;
            return;
        }
        let mut data = payload;
        if let WsMode::Handshake(w) = self {
            let (h, asked) = &mut **w;
            match h.feed(d, payload, ts) {
                Fed::Http => return,
                Fed::Not => {
                    *self = WsMode::No;
                    return;
                }
                Fed::WebSocket(offset) => {
                    let u = h.upgraded().unwrap_or_else(unreachable_upgrade);
                    let conn = WsConn {
                        client_dir: Some(1 - d as u8),
                        upgrade: Some(Upgrade {
                            asked: *asked,
                            answered: at,
                            path: u.path,
                            deflate: u.deflate,
                        }),
                        ..WsConn::default()
                    };
                    *self = WsMode::Yes(Box::new(conn));
                    data = &payload[offset..];
                }
            }
        }
        if let WsMode::Yes(c) = self {
            c.push(d, data, at);
        }
    }

    /// Frees the frame buffers of a direction that ended (FIN), or both (RST: `None`).
    pub(crate) fn end(&mut self, d: Option<usize>) {
        if let WsMode::Yes(c) = self {
            for (i, dir) in c.dirs.iter_mut().enumerate() {
                if d.is_none_or(|d| d == i) {
                    dir.release();
                }
            }
        }
    }
}

/// [`Handshake::feed`] says WebSocket only once both sides agreed, so the facts exist; an
/// empty record stands in rather than a panic should that ever change.
fn unreachable_upgrade() -> keepsight_ws::upgrade::Upgraded {
    keepsight_ws::upgrade::Upgraded {
        asked_at: 0,
        path: String::new(),
        deflate: false,
    }
}

impl WsConn {
    fn push(&mut self, d: usize, data: &[u8], at: At) {
        let Self {
            dirs,
            client_dir,
            pings,
            pings_dropped,
            closes,
            last,
            ..
        } = self;
        dirs[d].push(data, |item| {
            let h = item.header;
            *last = Some(at);
            if h.masked && client_dir.is_none() {
                *client_dir = Some(d as u8);
            }
            match h.opcode {
                Opcode::PING => {
                    if pings.len() == MAX_PINGS {
                        *pings_dropped += 1;
                        return;
                    }
                    let mut payload = [0u8; MAX_PING_PAYLOAD];
                    let len = item.payload.len().min(MAX_PING_PAYLOAD);
                    payload[..len].copy_from_slice(&item.payload[..len]);
                    pings.push(Ping {
                        dir: d as u8,
                        at,
                        payload,
                        len: len as u8,
                        pong: None,
                    });
                }
                Opcode::PONG => {
                    let len = item.payload.len().min(MAX_PING_PAYLOAD);
                    // The latest unanswered ping of the other side with the same payload; a
                    // pong that answers none is unsolicited (a one-way heartbeat).
                    if let Some(p) = pings.iter_mut().rev().take(64).find(|p| {
                        usize::from(p.dir) != d
                            && p.pong.is_none()
                            && p.payload[..usize::from(p.len)] == item.payload[..len]
                    }) {
                        p.pong = Some(at);
                    }
                }
                Opcode::CLOSE if closes[d].is_none() => {
                    let body = CloseBody::parse(item.payload);
                    let reason = &body.reason[..body.reason.len().min(MAX_REASON)];
                    closes[d] = Some(Close {
                        dir: d as u8,
                        at,
                        code: body.code,
                        reason: String::from_utf8_lossy(reason).into_owned(),
                    });
                }
                _ => {}
            }
        });
    }

    /// The close frame that began the closing handshake, and the answer to it.
    pub(crate) fn closing(&self) -> Option<(&Close, Option<&Close>)> {
        let mut cs: Vec<&Close> = self.closes.iter().flatten().collect();
        cs.sort_by_key(|c| c.at.ts);
        let first = *cs.first()?;
        Some((first, cs.get(1).copied()))
    }
}
