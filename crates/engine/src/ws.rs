//! WebSocket frames per frame, as tshark finds them: after an HTTP/1.1 `Upgrade: websocket`
//! answered by `101` on any TCP stream (tshark's HTTP dissector follows the upgrade by
//! itself), or from the first payload byte on ports decoded as `websocket` (`-d
//! tcp.port==N,websocket`, for captures that begin after the handshake). Each direction's
//! in-order payload is cut into frames by `keepsight-ws`; a stream whose first payload is not
//! an HTTP request or response costs one slot lookup per segment afterwards.

use keepsight_ws::upgrade::{Fed, Handshake};
use keepsight_ws::{FrameHeader, SegmentRole};
use std::ops::Range;

/// One frame the current segment completed, with its unmasked payload's place in the layer.
#[derive(Clone, Debug)]
struct WsItem {
    header: FrameHeader,
    payload: Range<usize>,
}

/// A WebSocket frame as the field readers and columns see it.
#[derive(Clone, Copy, Debug)]
pub struct WsView<'a> {
    /// The frame's header.
    pub header: FrameHeader,
    /// The unmasked payload (empty when the frame was too long to keep).
    pub payload: &'a [u8],
}

/// The WebSocket layer of one frame: a reference to the tracker's current layer.
#[derive(Clone, Copy, Debug)]
pub struct FrameWs<'a> {
    layer: &'a Layer,
}

#[derive(Debug, Default)]
struct Layer {
    dir: u8,
    role: SegmentRole,
    /// Found by following an HTTP upgrade (tshark lists `http` before `websocket`).
    upgraded: bool,
    /// `permessage-deflate` agreed: tshark shows RSV1 as `websocket.pmc`.
    deflate: bool,
    items: Vec<WsItem>,
    bytes: Vec<u8>,
}

impl<'a> FrameWs<'a> {
    /// Which direction of the stream sent it (0: the side that sent the first payload).
    pub fn dir(&self) -> u8 {
        self.layer.dir
    }

    /// Whether the segment completed frames or only carried part of one.
    pub fn role(&self) -> SegmentRole {
        self.layer.role
    }

    /// True when the stream became WebSocket by an HTTP upgrade (not by a decode-as rule).
    pub fn upgraded(&self) -> bool {
        self.layer.upgraded
    }

    /// True when the handshake agreed on per-message compression.
    pub fn deflate(&self) -> bool {
        self.layer.deflate
    }

    /// The frames this segment completed, in order.
    pub fn frames(&self) -> impl Iterator<Item = WsView<'a>> + 'a {
        let layer = self.layer;
        layer.items.iter().map(move |it| WsView {
            header: it.header,
            payload: &layer.bytes[it.payload.clone()],
        })
    }
}

enum Slot {
    /// Not looked at yet.
    New,
    /// Watching the HTTP handshake.
    Handshake(Box<Handshake>),
    /// WebSocket: frame cutters per direction.
    Ws(Box<WsStream>),
    /// Not WebSocket.
    Not,
}

struct WsStream {
    first_sender: ([u8; 16], u16),
    upgraded: bool,
    deflate: bool,
    dirs: [keepsight_ws::Direction; 2],
}

/// Every stream's WebSocket state, indexed by `tcp.stream`, and the current frame's layer.
#[derive(Default)]
pub(crate) struct WsTracker {
    slots: Vec<Slot>,
    /// The first sender of each stream still watched for a handshake.
    senders: Vec<([u8; 16], u16)>,
    layer: Layer,
}

impl WsTracker {
    /// True when `stream` may still carry WebSocket: the one check for other streams.
    #[inline]
    pub(crate) fn may_be_ws(&self, stream: u32) -> bool {
        !matches!(self.slots.get(stream as usize), Some(Slot::Not))
    }

    /// A FIN or RST without payload ends direction `src` (or, for RST, the stream): buffers
    /// are freed.
    pub(crate) fn end(&mut self, stream: u32, src: ([u8; 16], u16), rst: bool) {
        let Some(slot) = self.slots.get_mut(stream as usize) else {
            return;
        };
        match slot {
            Slot::Ws(s) => {
                let dir = usize::from(src != s.first_sender);
                for (i, d) in s.dirs.iter_mut().enumerate() {
                    if rst || i == dir {
                        d.release();
                    }
                }
            }
            Slot::Handshake(_) if rst => *slot = Slot::Not,
            _ => {}
        }
    }

    /// Feeds one in-order payload segment of `stream` from `src`; `decoded` says the stream's
    /// port is decoded as `websocket` (frames from the first byte). The frame's WebSocket
    /// layer when it carries frames or part of one.
    pub(crate) fn segment<'a>(
        &'a mut self,
        stream: u32,
        src: ([u8; 16], u16),
        decoded: bool,
        payload: &[u8],
    ) -> Option<FrameWs<'a>> {
        let i = stream as usize;
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || Slot::New);
            self.senders.resize(i + 1, ([0; 16], 0));
        }
        let slot = &mut self.slots[i];
        if matches!(slot, Slot::New) {
            self.senders[i] = src;
            *slot = if decoded {
                Slot::Ws(Box::new(WsStream {
                    first_sender: src,
                    upgraded: false,
                    deflate: false,
                    dirs: Default::default(),
                }))
            } else if Handshake::first_look(payload) == Some(false) {
                Slot::Not
            } else {
                Slot::Handshake(Box::default())
            };
        }
        let mut data = payload;
        if let Slot::Handshake(h) = slot {
            let dir = usize::from(src != self.senders[i]);
            match h.feed(dir, payload, 0) {
                Fed::Http => return None,
                Fed::Not => {
                    *slot = Slot::Not;
                    return None;
                }
                Fed::WebSocket(at) => {
                    let deflate = h.upgraded().is_some_and(|u| u.deflate);
                    *slot = Slot::Ws(Box::new(WsStream {
                        first_sender: self.senders[i],
                        upgraded: true,
                        deflate,
                        dirs: Default::default(),
                    }));
                    data = &payload[at..];
                    if data.is_empty() {
                        return None;
                    }
                }
            }
        }
        let Slot::Ws(s) = slot else {
            return None;
        };
        let dir = usize::from(src != s.first_sender);
        let layer = &mut self.layer;
        layer.items.clear();
        layer.bytes.clear();
        let (items, bytes) = (&mut layer.items, &mut layer.bytes);
        let role = s.dirs[dir].push(data, |item| {
            let start = bytes.len();
            bytes.extend_from_slice(item.payload);
            items.push(WsItem {
                header: item.header,
                payload: start..bytes.len(),
            });
        });
        layer.dir = dir as u8;
        layer.role = role;
        layer.upgraded = s.upgraded;
        layer.deflate = s.deflate;
        Some(FrameWs { layer: &self.layer })
    }
}
