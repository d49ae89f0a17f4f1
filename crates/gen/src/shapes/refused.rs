//! Connection attempts to a port where nothing listens: port 8874 of the bulk host.
//!
//! Attempts arrive as a Poisson process from the internet clients: a SYN, answered 10-40 µs
//! later by the server's kernel with RST/ACK (sequence number 0, acknowledging the SYN, window
//! 0; [`CloseCause::Refused`]). Half of the clients try once more 1 s later from a new port.
//! Each attempt is its own `tcp.stream`.

use crate::clock::{Micros, SEC};
use crate::sim::{Actor, Ctx, Mark, Tag};
use crate::tcp::{Dir, Tcp};
use crate::truth::{CloseCause, Detail, Side, Teardown};
use keepsight_wire::TcpFlags;

/// Packets per arrival, on average (SYN and RST, 1.5 attempts).
pub(crate) const PACKETS_PER_ARRIVAL: f64 = 3.0;

pub(crate) struct Attempt {
    host: usize,
    retry: bool,
}

impl Attempt {
    pub(crate) fn start(ctx: &mut Ctx) -> Attempt {
        let pool = ctx.world.http_clients.len() as u64;
        Attempt {
            host: ctx.rng.range(0, pool - 1) as usize,
            retry: ctx.rng.chance(0.5),
        }
    }
}

impl Actor for Attempt {
    fn step(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros> {
        let client = ctx.world.http_clients[self.host].connect();
        let server = ctx.world.closed;
        let mut tcp = Tcp::new(ctx, client, server, Detail::Refused);
        ctx.plan_close(tcp.id, Teardown::Rst, Side::Server, CloseCause::Refused);
        let syn_seq = tcp.client.nxt;
        tcp.syn(ctx, now);
        // No socket answers: the kernel's reset carries no window.
        tcp.server.window = 0;
        let rst_at = now + ctx.rng.range(10, 40);
        let flags = TcpFlags::RST | TcpFlags::ACK;
        let ack = syn_seq.wrapping_add(1);
        tcp.raw(
            ctx,
            Dir::ToClient,
            rst_at,
            flags,
            0,
            ack,
            &[],
            Tag::Plain,
            Mark::Close,
        );
        if std::mem::take(&mut self.retry) {
            return Some(now + SEC);
        }
        None
    }
}
