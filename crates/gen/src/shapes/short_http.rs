//! Scenario `short-http`: a busy HTTP/1.1 server on 192.0.2.13:80 answering short
//! `Connection: close` exchanges, a handful at a time, the clients reusing their ports.
//!
//! Six internet clients each run one connection after another. A connection is eight frames:
//! the handshake; a `GET` with `Connection: close` (one segment); after a 50 µs - 20 ms service
//! time the response (`200 OK`, `Content-Length` of 60-1,200 bytes of JSON, `Connection:
//! close`, one segment) and the server's FIN right after it; the client's FIN/ACK one round
//! trip later; the server's last ACK. At most six connections are open at any moment.
//!
//! Each client cycles through 16 source ports, so every port comes back every 16 connections:
//! the server holds the previous connection in TIME_WAIT (it closed first), and the client's new
//! initial sequence number is above the old one (Linux's ISN grows with time, 1 per 64 ns), so
//! the server accepts the SYN. tshark starts a new `tcp.stream` for it and flags the SYN
//! `tcp.analysis.reused_ports`. The pause between a client's connections is exponential, its mean
//! sized so that `--packets` span about `--duration` (default 3600 s); 2.4M frames are 300k
//! connections.
//!
//! Truth: one [`Detail::ShortHttp`] connection per exchange, closed by the server's FIN
//! ([`CloseCause::HttpConnectionClose`]); `reused_ports` counts its SYN when the port came back.

use super::http::{http_date, json_body};
use crate::clock::{Micros, MS, SEC};
use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::sim::{Actor, Ctx, Mark, Tag};
use crate::tcp::{Dir, Tcp};
use crate::truth::{CloseCause, Detail, Side, Teardown};
use crate::world::{Client, Host, Network, World};
use crate::Config;
use keepsight_wire::TcpFlags;

/// `--shape short-http`.
pub const SCENARIO: Scenario = Scenario {
    name: "short-http",
    about: "short HTTP/1.1 Connection: close exchanges, six clients reusing 16 ports each (1 h)",
    default_duration_s: 3600,
    world,
    populate,
};

/// Clients, each with one connection open at a time.
pub const CLIENTS: usize = 6;
/// Source ports each client cycles through.
pub const PORTS_PER_CLIENT: u16 = 16;
/// Frames per connection.
pub const FRAMES_PER_CONNECTION: u64 = 8;

fn world(config: &Config, rng: &mut Rng, epoch_us: u64) -> World {
    let (idle, interval) = config.keepalive_us();
    World::new(rng, 1, 1, idle, interval, epoch_us)
}

fn populate(ctx: &mut Ctx, config: &Config) {
    let connections = config.packets.div_ceil(FRAMES_PER_CONNECTION).max(1);
    let per_client = connections.div_ceil(CLIENTS as u64) as f64;
    let cycle = (config.duration_s * SEC) as f64 / per_client;
    for _ in 0..CLIENTS {
        let host = ctx.world.new_host(&mut ctx.rng, Network::Internet);
        // A connection takes about two round trips and the service time.
        let busy = (2 * host.rtt + MS) as f64;
        let first_port = ctx.rng.range(32_768, 60_999 - u64::from(PORTS_PER_CLIENT)) as u16;
        let isn_secret = ctx.rng.u32();
        let start = ctx.rng.range(0, 100 * MS);
        let client = Loop {
            host,
            first_port,
            isn_secret,
            connections: 0,
            mean_pause: (cycle - busy).max(100.0),
        };
        ctx.spawn(start, Box::new(client));
    }
}

/// One client's connections, one after another.
struct Loop {
    host: Host,
    first_port: u16,
    /// The per-connection part of the client's initial sequence numbers.
    isn_secret: u32,
    connections: u64,
    mean_pause: f64,
}

impl Actor for Loop {
    fn step(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros> {
        let slot = (self.connections % u64::from(PORTS_PER_CLIENT)) as u16;
        let reused = self.connections >= u64::from(PORTS_PER_CLIENT);
        self.connections += 1;
        let client = Client {
            ip: self.host.ip,
            ttl: self.host.ttl,
            rtt: self.host.rtt,
            port: self.first_port + slot,
        };
        let server = ctx.world.http;
        let mut tcp = Tcp::new(ctx, client, server, Detail::ShortHttp);
        // Linux: a keyed hash of the addresses and ports plus a clock ticking every 64 ns, so
        // a port's next connection starts above its last one.
        let port_key = self.isn_secret.wrapping_mul(u32::from(client.port) | 1);
        tcp.client.nxt = port_key.wrapping_add(((now * 1_000) >> 6) as u32);
        ctx.plan_close(
            tcp.id,
            Teardown::Fin,
            Side::Server,
            CloseCause::HttpConnectionClose,
        );
        let syn_tag = if reused {
            Tag::ReusedPortsSyn
        } else {
            Tag::Plain
        };
        let acked = tcp.handshake_tagged(ctx, now, syn_tag);

        let request_at = acked + ctx.rng.range(5, 30);
        let request = format!(
            "GET /v2/stock/{} HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: \
             Go-http-client/1.1\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
            ctx.rng.range(1, 99_999)
        );
        let pa = TcpFlags::PSH | TcpFlags::ACK;
        tcp.send(
            ctx,
            Dir::ToServer,
            request_at,
            pa,
            request.as_bytes(),
            Tag::HttpRequest,
            Mark::None,
        );

        let service = (ctx.rng.lognormal(400.0, 1.0) as Micros).clamp(50, 20 * MS);
        let response_at = request_at + service;
        let len = ctx.rng.range(60, 1_200) as usize;
        let mut response = format!(
            "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {len}\r\nConnection: close\r\n\r\n",
            http_date(ctx.world.epoch_us + response_at)
        )
        .into_bytes();
        response.extend_from_slice(&json_body(&mut ctx.rng, &ctx.world.text, len));
        tcp.send(
            ctx,
            Dir::ToClient,
            response_at,
            pa,
            &response,
            Tag::HttpResponse,
            Mark::None,
        );
        let fin_at = response_at + ctx.rng.range(5, 20);
        let reply_after = tcp.rtt + ctx.rng.range(5, 60);
        let closed = tcp.close_both(ctx, Dir::ToClient, fin_at, reply_after, Mark::Close);
        Some(closed + 1 + ctx.rng.exp(self.mean_pause) as Micros)
    }
}
