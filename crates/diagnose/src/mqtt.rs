//! MQTT on a stream, as the keep-alive diagnosis needs it: a stream is MQTT when one side's
//! first payload is a CONNECT (on any port). Each direction's in-order payload is cut into
//! packets by keepsight-apps; what is recorded is bounded: the CONNECT's keep-alive, version
//! and client id, the CONNACK's code (and an MQTT 5 broker's Server Keep Alive), each
//! PINGREQ with its PINGRESP, DISCONNECTs with their reason codes, and the client's silences
//! (the time between two of its packets, which the broker's keep-alive timer measures).

use keepsight_apps::mqtt::{self, kind, Direction, PropValue, V5};

/// The most PINGREQs and DISCONNECTs kept per connection; later ones are only counted.
pub(crate) const MAX_PINGS: usize = 4096;
const MAX_DISCONNECTS: usize = 4;
/// Longest client id or reason string kept.
const MAX_TEXT: usize = 128;

/// Where a packet was seen (the frame that completed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct At {
    pub frame: u32,
    pub ts: i64,
}

/// A PINGREQ and its PINGRESP.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ping {
    pub at: At,
    pub resp: Option<At>,
}

/// A DISCONNECT.
#[derive(Debug, Clone)]
pub(crate) struct Disconnect {
    pub dir: u8,
    pub at: At,
    /// MQTT 5 reason code (`None` in 3.1.1, or when an MQTT 5 sender left it out: 0).
    pub code: Option<u8>,
    /// MQTT 5 Reason String property.
    pub reason_string: Option<String>,
}

/// One MQTT connection's record.
#[derive(Debug)]
pub(crate) struct MqttConn {
    dirs: [Direction; 2],
    /// The direction that sent CONNECT.
    pub client_dir: u8,
    /// Protocol level from CONNECT (3, 4, 5).
    pub version: u8,
    pub client_id: String,
    /// CONNECT's keep-alive in seconds, and where.
    pub keep_alive: Option<(u16, At)>,
    /// MQTT 5 CONNACK's Server Keep Alive: the value the broker imposes instead.
    pub server_keep_alive: Option<u16>,
    /// CONNACK's return or reason code, and where.
    pub connack: Option<(u8, At)>,
    pub pings: Vec<Ping>,
    pub pings_dropped: u32,
    pub disconnects: Vec<Disconnect>,
    /// The client's last packet.
    pub last_client: Option<At>,
    /// The client's silences longer than its keep-alive (with 10 % tolerance for timers):
    /// count, and the longest with the packets around it.
    pub slow_silences: u32,
    pub longest_silence: Option<(i64, At, At)>,
    /// Client silences (between two of its packets), for the median.
    pub silences: Vec<i64>,
    /// Bytes a direction could not cut into packets: the rest of it is not followed.
    pub lost: [bool; 2],
}

/// Text kept from a packet, bounded.
fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(MAX_TEXT)]).into_owned()
}

impl MqttConn {
    /// A connection whose direction `client_dir` opened with a CONNECT.
    pub(crate) fn new(client_dir: u8) -> Self {
        MqttConn {
            dirs: Default::default(),
            client_dir,
            version: 0,
            client_id: String::new(),
            keep_alive: None,
            server_keep_alive: None,
            connack: None,
            pings: Vec::new(),
            pings_dropped: 0,
            disconnects: Vec::new(),
            last_client: None,
            slow_silences: 0,
            longest_silence: None,
            silences: Vec::new(),
            lost: [false; 2],
        }
    }

    /// The keep-alive in force, in seconds: the broker's Server Keep Alive when it imposed
    /// one, else the client's; `None` without a CONNECT or when it is 0 (off).
    pub(crate) fn effective_keep_alive(&self) -> Option<u16> {
        self.server_keep_alive
            .or(self.keep_alive.map(|(k, _)| k))
            .filter(|&k| k > 0)
    }

    /// Feeds one segment's payload from direction `dir` (relative sequence number `seq`);
    /// `whole` is false when the capture cut it.
    pub(crate) fn feed(&mut self, dir: usize, seq: u32, payload: &[u8], whole: bool, at: At) {
        if self.lost[dir] {
            return;
        }
        let mut dirs = std::mem::take(&mut self.dirs);
        let fed = dirs[dir].feed(seq, payload, whole, &mut |m| self.on_packet(dir, m, at));
        self.dirs = dirs;
        if fed == mqtt::Fed::Lost {
            self.lost[dir] = true;
        }
    }

    fn on_packet(&mut self, dir: usize, m: &[u8], at: At) {
        let Some(p) = mqtt::Packet::parse(m) else {
            return;
        };
        let from_client = dir == usize::from(self.client_dir);
        if from_client {
            if let Some(last) = self.last_client {
                let gap = at.ts - last.ts;
                if self.silences.len() < MAX_PINGS {
                    self.silences.push(gap);
                }
                if let Some(k) = self.effective_keep_alive() {
                    let limit = i64::from(k) * 1_100_000_000;
                    if gap > limit {
                        self.slow_silences += 1;
                    }
                }
                if self.longest_silence.is_none_or(|(g, _, _)| gap > g) {
                    self.longest_silence = Some((gap, last, at));
                }
            }
            self.last_client = Some(at);
        }
        match p.kind() {
            kind::CONNECT if from_client => {
                if let Some(c) = mqtt::Connect::parse(p.body) {
                    self.version = c.version;
                    self.client_id = text(c.client_id);
                    self.keep_alive = Some((c.keep_alive, at));
                }
            }
            kind::CONNACK if !from_client => {
                if let Some(c) = mqtt::Connack::parse(p.body, self.version) {
                    self.connack = Some((c.code, at));
                    if let Some(props) = c.properties {
                        self.server_keep_alive =
                            mqtt::properties(props).find_map(|(id, v)| match (id, v) {
                                (mqtt::prop::SERVER_KEEP_ALIVE, PropValue::Number(n)) => {
                                    u16::try_from(n).ok()
                                }
                                _ => None,
                            });
                    }
                }
            }
            kind::PINGREQ if from_client => {
                if self.pings.len() < MAX_PINGS {
                    self.pings.push(Ping { at, resp: None });
                } else {
                    self.pings_dropped += 1;
                }
            }
            kind::PINGRESP if !from_client => {
                if let Some(p) = self.pings.iter_mut().rev().find(|p| p.resp.is_none()) {
                    p.resp = Some(at);
                }
            }
            kind::DISCONNECT if self.disconnects.len() < MAX_DISCONNECTS => {
                let (code, reason_string) = if self.version == V5 {
                    let (code, props) = mqtt::disconnect_reason(p.body);
                    let reason = props.and_then(|props| {
                        mqtt::properties(props).find_map(|(id, v)| match (id, v) {
                            (mqtt::prop::REASON_STRING, PropValue::Str(s)) => Some(text(s)),
                            _ => None,
                        })
                    });
                    (Some(code), reason)
                } else {
                    (None, None)
                };
                self.disconnects.push(Disconnect {
                    dir: dir as u8,
                    at,
                    code,
                    reason_string,
                });
            }
            _ => {}
        }
    }
}
