//! The estate: the servers each shape talks to, the client hosts, and the payload material.
//!
//! Addresses come from ranges reserved for documentation and benchmarking, so nothing in a
//! capture points at a real network: servers 192.0.2.0/24 and 2001:db8:f::/64, internet
//! clients 198.18.0.0/15 and 2001:db8:c::/48, data-centre clients 10.60.0.0/16 and
//! fd00:60::/64. The capture point is the servers' switch port: client frames arrive from the
//! router's MAC (VRRP 00:00:5e:00:01:01), server frames leave towards it.

use crate::clock::{Micros, MS};
use crate::packet::Ip;
use crate::rng::Rng;

pub(crate) const ROUTER_MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x01];

/// The port of the heartbeat service.
pub(crate) const HEARTBEAT_PORT: u16 = 7443;
/// The port of the keepalive service.
pub(crate) const KEEPALIVE_PORT: u16 = 15432;
/// The port of the http service.
pub(crate) const HTTP_PORT: u16 = 80;
/// The port of the bulk service.
pub(crate) const BULK_PORT: u16 = 8873;
/// The port of the refused service (nothing listens there).
pub(crate) const REFUSED_PORT: u16 = 8874;
pub(crate) const HTTPS_PORT: u16 = 443;
pub(crate) const TLS_HEARTBEAT_PORT: u16 = 8443;

/// Share of client hosts on IPv6.
const IPV6_SHARE: f64 = 0.15;

/// A client host.
pub(crate) struct Host {
    pub(crate) ip: Ip,
    pub(crate) ttl: u8,
    /// Round trip between the capture point and this host.
    pub(crate) rtt: Micros,
    port: u16,
}

impl Host {
    /// The next ephemeral port (Linux's default range 32768-60999). A host makes far fewer
    /// connections than that in one capture, so no port is reused and each connection is its
    /// own `tcp.stream`.
    pub(crate) fn next_port(&mut self) -> u16 {
        let p = self.port;
        self.port = if p >= 60_999 { 32_768 } else { p + 1 };
        p
    }

    /// The client end of a new connection from this host.
    pub(crate) fn connect(&mut self) -> Client {
        Client {
            ip: self.ip,
            ttl: self.ttl,
            rtt: self.rtt,
            port: self.next_port(),
        }
    }
}

/// The client end of one connection.
#[derive(Clone, Copy)]
pub(crate) struct Client {
    pub(crate) ip: Ip,
    pub(crate) ttl: u8,
    pub(crate) rtt: Micros,
    pub(crate) port: u16,
}

/// A service: one host with an IPv4 and an IPv6 address.
#[derive(Clone, Copy)]
pub(crate) struct Server {
    pub(crate) v4: Ip,
    pub(crate) v6: Ip,
    pub(crate) mac: [u8; 6],
    pub(crate) port: u16,
}

impl Server {
    /// Server host `index` (192.0.2.(10 + index) and 2001:db8:f::(0x10 + index)) on `port`.
    pub(crate) fn new(index: u8, port: u16) -> Server {
        let mut v6 = [0u8; 16];
        v6[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0f]);
        v6[15] = 0x10 + index;
        Server {
            v4: Ip::V4([192, 0, 2, 10 + index]),
            v6: Ip::V6(v6),
            mac: [0x0c, 0xc4, 0x7a, 0x3e, 0x51, index],
            port,
        }
    }

    pub(crate) fn address(&self, v6: bool) -> Ip {
        if v6 {
            self.v6
        } else {
            self.v4
        }
    }
}

/// Where clients come from.
#[derive(Clone, Copy)]
pub(crate) enum Network {
    /// Across the internet: 5-80 ms round trips (median ~18 ms), 4-14 hops away.
    Internet,
    /// The same data centre: 0.2-3 ms round trips, one hop.
    DataCentre,
}

pub(crate) struct World {
    pub(crate) heartbeat: Server,
    pub(crate) keepalive: Server,
    pub(crate) http: Server,
    pub(crate) bulk: Server,
    /// The bulk host's port where nothing listens.
    pub(crate) closed: Server,
    pub(crate) https: Server,
    pub(crate) tls_heartbeat: Server,
    hosts_made: u32,
    /// Browsers and apps: several connections each over the capture.
    pub(crate) http_clients: Vec<Host>,
    /// Backup agents pulling from the bulk service.
    pub(crate) bulk_clients: Vec<Host>,
    /// JSON records that HTTP bodies are assembled from.
    pub(crate) text: Vec<Vec<u8>>,
    /// Incompressible blocks that bulk segments are cut from.
    pub(crate) noise: Vec<Vec<u8>>,
    pub(crate) keepalive_idle: Micros,
    pub(crate) keepalive_interval: Micros,
    pub(crate) bulk_max_segments: u32,
    /// The world's time 0, µs since the Unix epoch (for HTTP `Date:` headers).
    pub(crate) epoch_us: u64,
    pub(crate) http_shared: HttpShared,
    pub(crate) bulk_shared: BulkShared,
    /// HTTPS sessions started so far.
    pub(crate) https_sessions: u64,
}

impl World {
    pub(crate) fn new(
        rng: &mut Rng,
        http_clients: usize,
        bulk_max_segments: u32,
        keepalive_idle: Micros,
        keepalive_interval: Micros,
        epoch_us: u64,
    ) -> World {
        let mut w = World {
            heartbeat: Server::new(1, HEARTBEAT_PORT),
            keepalive: Server::new(2, KEEPALIVE_PORT),
            http: Server::new(3, HTTP_PORT),
            bulk: Server::new(4, BULK_PORT),
            closed: Server::new(4, REFUSED_PORT),
            https: Server::new(5, HTTPS_PORT),
            tls_heartbeat: Server::new(6, TLS_HEARTBEAT_PORT),
            hosts_made: 0,
            http_clients: Vec::new(),
            bulk_clients: Vec::new(),
            text: Vec::new(),
            noise: Vec::new(),
            keepalive_idle,
            keepalive_interval,
            bulk_max_segments,
            epoch_us,
            http_shared: Default::default(),
            bulk_shared: Default::default(),
            https_sessions: 0,
        };
        w.http_clients = (0..http_clients)
            .map(|_| w.new_host(rng, Network::Internet))
            .collect();
        w.bulk_clients = (0..48)
            .map(|_| w.new_host(rng, Network::DataCentre))
            .collect();
        w.text = body_records(rng);
        w.noise = (0..16)
            .map(|_| {
                let mut b = vec![0u8; 1460];
                rng.fill(&mut b);
                b
            })
            .collect();
        w
    }

    /// A new client host with its own address.
    pub(crate) fn new_host(&mut self, rng: &mut Rng, network: Network) -> Host {
        self.hosts_made += 1;
        let n = self.hosts_made;
        let v6 = rng.chance(IPV6_SHARE);
        let ip = match (network, v6) {
            (Network::Internet, false) => {
                Ip::V4([198, 18 + (n >> 16) as u8 % 2, (n >> 8) as u8, n as u8])
            }
            (Network::Internet, true) => {
                let mut a = [0u8; 16];
                a[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0c]);
                a[12..].copy_from_slice(&n.to_be_bytes());
                Ip::V6(a)
            }
            (Network::DataCentre, false) => Ip::V4([10, 60, (n >> 8) as u8, n as u8]),
            (Network::DataCentre, true) => {
                let mut a = [0u8; 16];
                a[..4].copy_from_slice(&[0xfd, 0x00, 0x00, 0x60]);
                a[12..].copy_from_slice(&n.to_be_bytes());
                Ip::V6(a)
            }
        };
        let (ttl, rtt) = match network {
            Network::Internet => {
                let initial = if rng.chance(0.3) { 128 } else { 64 };
                let rtt = rng.lognormal(18.0 * MS as f64, 0.7) as Micros;
                (initial - rng.range(4, 14) as u8, rtt.clamp(5 * MS, 80 * MS))
            }
            Network::DataCentre => (63, rng.range(200, 3_000)),
        };
        Host {
            ip,
            ttl,
            rtt,
            port: rng.range(32_768, 60_999) as u16,
        }
    }
}

/// What all HTTP sessions of one capture share.
#[derive(Default)]
pub(crate) struct HttpShared {
    pub(crate) sessions: u64,
    pub(crate) short_body_placed: bool,
    pub(crate) idle_closes: u64,
}

/// What all bulk transfers of one capture share.
#[derive(Default)]
pub(crate) struct BulkShared {
    pub(crate) transfers: u64,
}

/// JSON records that bodies are assembled from.
pub(crate) fn body_records(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 0..400 {
        let record = format!(
            "{{\"sku\":\"K-{:06}\",\"name\":\"part {}\",\"stock\":{},\"price\":{}.{:02},\"warehouse\":\"{}\"}}",
            rng.range(0, 999_999),
            i,
            rng.range(0, 500),
            rng.range(1, 900),
            rng.range(0, 99),
            rng.pick(&["ams", "fra", "dub", "waw"]),
        );
        out.push(record.into_bytes());
    }
    out
}
