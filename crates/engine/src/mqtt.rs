//! MQTT packets per frame, on TCP port 1883 (tshark's MQTT port) and on ports decoded as
//! `mqtt`: each direction's in-order payload cut into packets (`keepsight_apps::mqtt`), a
//! packet split over segments shown in the frame that completes it and several packets of one
//! segment shown together, as tshark's reassembly does. The connection's protocol version,
//! which says whether packets carry MQTT 5 properties, comes from its CONNECT.

use keepsight_apps::mqtt::{self, Direction, Fed};
use std::ops::Range;

/// How a segment contributed to its direction's packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MqttRole {
    /// It completed packets: the frame shows them.
    Packets,
    /// It starts a packet that a later segment completes.
    Starts,
    /// It carries the middle of a packet.
    Continues,
}

/// The MQTT layer of one frame: a reference to the tracker's current layer.
#[derive(Clone, Copy, Debug)]
pub struct FrameMqtt<'a> {
    layer: &'a Layer,
}

/// One packet of a frame's layer, with the protocol version its connection declared (0: no
/// CONNECT seen).
#[derive(Clone, Copy, Debug)]
pub struct MqttPacket<'a> {
    /// The whole packet, fixed header included.
    pub bytes: &'a [u8],
    /// The protocol level of the connection's CONNECT (3, 4, 5), or 0.
    pub version: u8,
}

impl<'a> MqttPacket<'a> {
    /// The packet's parts.
    pub fn packet(&self) -> Option<mqtt::Packet<'a>> {
        mqtt::Packet::parse(self.bytes)
    }
}

#[derive(Debug, Default)]
struct Layer {
    role: Option<MqttRole>,
    bytes: Vec<u8>,
    packets: Vec<(Range<usize>, u8)>,
}

impl<'a> FrameMqtt<'a> {
    /// What the segment did to its direction's packets.
    pub fn role(&self) -> MqttRole {
        self.layer.role.unwrap_or(MqttRole::Continues)
    }

    /// The packets this frame's segment completed, in order.
    pub fn packets(&self) -> impl Iterator<Item = MqttPacket<'a>> + 'a {
        let layer = self.layer;
        layer.packets.iter().map(move |(r, version)| MqttPacket {
            bytes: &layer.bytes[r.clone()],
            version: *version,
        })
    }
}

struct MqttStream {
    first_sender: ([u8; 16], u16),
    version: u8,
    dirs: [Direction; 2],
}

/// Every MQTT stream's state, indexed by `tcp.stream`, and the current frame's layer.
#[derive(Default)]
pub(crate) struct MqttTracker {
    /// Per stream: 0 none yet, else 1 + the index of its [`MqttStream`].
    slots: Vec<u32>,
    streams: Vec<MqttStream>,
    layer: Layer,
}

impl MqttTracker {
    /// A FIN or RST without payload: the ended directions drop their partial packet.
    pub(crate) fn end(&mut self, stream: u32, src: ([u8; 16], u16), rst: bool) {
        let Some(&slot) = self.slots.get(stream as usize) else {
            return;
        };
        if slot == 0 {
            return;
        }
        let s = &mut self.streams[(slot - 1) as usize];
        let dir = usize::from(src != s.first_sender);
        for (i, d) in s.dirs.iter_mut().enumerate() {
            if rst || i == dir {
                *d = Direction::default();
            }
        }
    }

    /// Feeds one in-order payload segment of `stream` from `src` at relative sequence number
    /// `seq`; the frame's MQTT layer when the segment completes, starts or continues packets.
    pub(crate) fn segment<'a>(
        &'a mut self,
        stream: u32,
        src: ([u8; 16], u16),
        seq: u32,
        payload: &[u8],
    ) -> Option<FrameMqtt<'a>> {
        let i = stream as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, 0);
        }
        if self.slots[i] == 0 {
            self.streams.push(MqttStream {
                first_sender: src,
                version: 0,
                dirs: Default::default(),
            });
            self.slots[i] = self.streams.len() as u32;
        }
        let s = &mut self.streams[(self.slots[i] - 1) as usize];
        let dir = usize::from(src != s.first_sender);
        let layer = &mut self.layer;
        layer.bytes.clear();
        layer.packets.clear();
        let version = &mut s.version;
        let fed = s.dirs[dir].feed(seq, payload, true, &mut |m| {
            if m[0] >> 4 == mqtt::kind::CONNECT {
                if let Some(c) = mqtt::Packet::parse(m).and_then(|p| mqtt::Connect::parse(p.body)) {
                    *version = c.version;
                }
            }
            let start = layer.bytes.len();
            layer.bytes.extend_from_slice(m);
            layer.packets.push((start..layer.bytes.len(), *version));
        });
        layer.role = match fed {
            Fed::Packets => Some(MqttRole::Packets),
            Fed::Starts => Some(MqttRole::Starts),
            Fed::Continues => Some(MqttRole::Continues),
            Fed::Nothing | Fed::Lost => return None,
        };
        Some(FrameMqtt { layer: &self.layer })
    }
}

/// A PUBLISH's MQTT 5 Content Type property.
pub fn publish_content_type(p: MqttPacket<'_>) -> Option<&[u8]> {
    let pk = p.packet()?;
    if pk.kind() != mqtt::kind::PUBLISH || p.version != mqtt::V5 {
        return None;
    }
    let (_, _, at) = mqtt::publish_head(&pk)?;
    let props = mqtt::Reader {
        rest: &pk.body[at..],
    }
    .properties()?;
    mqtt::properties(props).find_map(|(id, v)| match (id, v) {
        (mqtt::prop::CONTENT_TYPE, mqtt::PropValue::Str(s)) => Some(s),
        _ => None,
    })
}
