//! Streams that ended with nothing to tell but how, kept in a compact record while the capture
//! is read, for a diagnoser whose caller lists only the notable streams
//! ([`crate::Listing::Notable`]).
//!
//! A busy server's capture is mostly such streams (300k short connections, each opened, used and
//! closed): their full report costs ~280 bytes, this record 96, and the views that list notable
//! streams read none of them. The few a view does read (a storm's earlier connection, a reset
//! with a finding, a stream a timeline draws) are rebuilt at the end, identical.

use crate::report::{Close, Endpoints, StreamReport, UtcTime};
use std::net::{SocketAddr, SocketAddrV4};

/// The values the compact record stores as an index, in that index's order.
const KINDS: [&str; 2] = ["fin", "rst"];
const SIDES: [&str; 2] = ["client", "server"];
const ROLES_FROM: [&str; 3] = ["handshake", "ports", "first_packet"];

/// A closed stream's report without heartbeat, kernel keep-alive or TLS close, in 96 bytes.
pub(crate) struct Ended {
    stream: u32,
    first_frame: u32,
    last_frame: u32,
    close_frame: u32,
    max_idle_frames: [u32; 2],
    packets: u64,
    start: i64,
    end: i64,
    close_time: i64,
    max_idle_s: f64,
    /// NaN when the stream carried no payload.
    after_last_data_s: f64,
    ends: Ends,
    kind: u8,
    by: u8,
    roles_from: u8,
}

/// Client and server: two IPv4 endpoints in place, anything else boxed.
enum Ends {
    V4 {
        client: SocketAddrV4,
        server: SocketAddrV4,
    },
    Other(Box<[SocketAddr; 2]>),
}

fn index_of(table: &[&str], value: &str) -> Option<u8> {
    table.iter().position(|t| *t == value).map(|i| i as u8)
}

impl Ended {
    /// The compact record of `r`, or `None` when `r` tells more than where, when and how it
    /// ended (or says it with a value the record has no room for): such a report is kept whole.
    pub(crate) fn compact(r: &StreamReport) -> Option<Ended> {
        let close = r.close.as_deref()?;
        if r.heartbeat.is_some()
            || !r.tcp_keepalive.is_empty()
            || close.tls.is_some()
            || close.after_last_beat_s.is_some()
            || close.after_last_data_s.is_some_and(f64::is_nan)
        {
            return None;
        }
        let ends = match (r.endpoints.client, r.endpoints.server) {
            (SocketAddr::V4(client), SocketAddr::V4(server)) => Ends::V4 { client, server },
            (client, server) => Ends::Other(Box::new([client, server])),
        };
        Some(Ended {
            stream: r.stream,
            first_frame: r.first_frame,
            last_frame: r.last_frame,
            close_frame: close.frame,
            max_idle_frames: r.max_idle_frames,
            packets: r.packets,
            start: r.start.0,
            end: r.end.0,
            close_time: close.time.0,
            max_idle_s: r.max_idle_s,
            after_last_data_s: close.after_last_data_s.unwrap_or(f64::NAN),
            ends,
            kind: index_of(&KINDS, close.kind)?,
            by: index_of(&SIDES, close.by)?,
            roles_from: index_of(&ROLES_FROM, r.endpoints.roles_from)?,
        })
    }

    /// The stream's number.
    pub(crate) fn stream(&self) -> u32 {
        self.stream
    }

    /// The client's address and the server's endpoint (what a reconnect storm is keyed by).
    pub(crate) fn pair(&self) -> (std::net::IpAddr, SocketAddr) {
        let (client, server) = self.endpoints();
        (client.ip(), server)
    }

    /// Whether it ended with a reset.
    pub(crate) fn reset(&self) -> bool {
        KINDS[self.kind as usize] == "rst"
    }

    /// Frames seen.
    pub(crate) fn packets(&self) -> u64 {
        self.packets
    }

    fn endpoints(&self) -> (SocketAddr, SocketAddr) {
        match &self.ends {
            Ends::V4 { client, server } => (SocketAddr::V4(*client), SocketAddr::V4(*server)),
            Ends::Other(both) => (both[0], both[1]),
        }
    }

    /// The report it was made from, field for field.
    pub(crate) fn report(&self) -> StreamReport {
        let (client, server) = self.endpoints();
        StreamReport {
            stream: self.stream,
            endpoints: Endpoints {
                client,
                server,
                roles_from: ROLES_FROM[self.roles_from as usize],
            },
            start: UtcTime(self.start),
            end: UtcTime(self.end),
            first_frame: self.first_frame,
            last_frame: self.last_frame,
            packets: self.packets,
            close: Some(Box::new(Close {
                kind: KINDS[self.kind as usize],
                by: SIDES[self.by as usize],
                frame: self.close_frame,
                time: UtcTime(self.close_time),
                after_last_beat_s: None,
                after_last_data_s: (!self.after_last_data_s.is_nan())
                    .then_some(self.after_last_data_s),
                tls: None,
            })),
            max_idle_s: self.max_idle_s,
            max_idle_frames: self.max_idle_frames,
            heartbeat: None,
            tcp_keepalive: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(client: &str, server: &str, kind: &'static str, data: Option<f64>) -> StreamReport {
        StreamReport {
            stream: 7,
            endpoints: Endpoints {
                client: client.parse().unwrap(),
                server: server.parse().unwrap(),
                roles_from: "handshake",
            },
            start: UtcTime(1_709_283_600_000_001_234),
            end: UtcTime(1_709_283_601_500_000_999),
            first_frame: 10,
            last_frame: 19,
            packets: 10,
            close: Some(Box::new(Close {
                kind,
                by: "server",
                frame: 17,
                time: UtcTime(1_709_283_601_400_000_000),
                after_last_beat_s: None,
                after_last_data_s: data,
                tls: None,
            })),
            max_idle_s: 1.25,
            max_idle_frames: [12, 13],
            heartbeat: None,
            tcp_keepalive: Vec::new(),
        }
    }

    #[test]
    fn the_record_gives_back_the_same_report() {
        for (c, s, kind, data) in [
            ("10.0.0.1:40000", "10.0.0.2:80", "fin", Some(0.5)),
            ("[2001:db8::1]:40000", "[2001:db8::2]:443", "rst", None),
            ("10.0.0.1:40000", "[2001:db8::2]:443", "fin", None),
        ] {
            let r = report(c, s, kind, data);
            let e = Ended::compact(&r).expect("an ordinary end");
            let back = e.report();
            assert_eq!(
                serde_json::to_string(&back).unwrap(),
                serde_json::to_string(&r).unwrap()
            );
            assert_eq!(e.pair(), (r.endpoints.client.ip(), r.endpoints.server));
            assert_eq!(e.reset(), kind == "rst");
        }
    }

    #[test]
    fn a_report_with_more_to_tell_stays_whole() {
        let mut r = report("10.0.0.1:40000", "10.0.0.2:80", "fin", None);
        r.close.as_mut().unwrap().after_last_beat_s = Some(1.0);
        assert!(Ended::compact(&r).is_none());
        let mut r = report("10.0.0.1:40000", "10.0.0.2:80", "fin", None);
        r.close = None;
        assert!(Ended::compact(&r).is_none());
        let mut r = report("10.0.0.1:40000", "10.0.0.2:80", "fin", None);
        r.endpoints.roles_from = "guessed";
        assert!(Ended::compact(&r).is_none());
    }

    #[test]
    fn the_record_is_96_bytes() {
        assert!(
            std::mem::size_of::<Ended>() <= 96,
            "{}",
            std::mem::size_of::<Ended>()
        );
    }
}
