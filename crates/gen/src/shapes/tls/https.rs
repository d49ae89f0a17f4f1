//! HTTPS keep-alive, server port 443 (an nginx with TLS, HTTP/1.1 only, `keepalive_timeout 75s`).
//!
//! Sessions arrive as a Poisson process from the HTTP clients' pool. Each opens with TCP and a
//! TLS handshake: 65 % TLS 1.3 (AES-128-GCM mostly, AES-256-GCM, ChaCha20-Poly1305), 35 %
//! TLS 1.2 (ECDHE-RSA with AES-GCM or ChaCha20-Poly1305; most of those clients could do 1.3 and
//! say so in supported_versions and key_share, the server cannot). Clients offer ALPN
//! `h2,http/1.1` (70 %), `http/1.1` (20 %) or nothing; the server picks `http/1.1`. SNI is
//! one of the service's names. About 1 session in 40 names a host the server does not serve:
//! the server answers the ClientHello with a cleartext fatal alert (unrecognized_name or
//! handshake_failure) and its FIN (the 3rd session always) ([`CloseCause::TlsHandshakeRefused`]).
//!
//! Then 1-30 requests (as [`super::super::http`]), each one application-data record; TLS 1.3
//! clients send the first one behind their Finished, in the same segment. Responses: one write
//! of records up to 2^14 bytes of plaintext (7 % are 20-150 KB, so records span many segments),
//! or (20 %) streamed in 2-5 writes 0.3-20 ms apart whose first holds two records. About 1
//! response in 25 loses its last segment beyond the capture point: it is resent after the
//! retransmission timeout (round trip + 200 ms).
//!
//! Closes: the server's idle timeout (close_notify and FIN 75 s after the last response;
//! [`CloseCause::HttpIdleTimeout`]), `Connection: close` on the last response (15 %;
//! [`CloseCause::HttpConnectionClose`]), or the client quitting within 70 s
//! ([`CloseCause::ClientQuit`]), each side with close_notify or a bare FIN. A close_notify
//! answering the peer's FIN reaches a closed socket, whose kernel resets: the truth's
//! `shutdown_reset_frame`.

use super::wire::{Params, Version};
use super::{Conn, Opened};
use crate::clock::{Micros, MS};
use crate::sim::{Actor, Ctx, Mark, Tag};
use crate::tcp::{Dir, Tcp};
use crate::truth::{CloseCause, Detail, HttpsTruth, Side, Teardown, TlsTruth};

use crate::shapes::http::{after_response, AfterResponse, IDLE_TIMEOUT};
const RECORD_LOSS_ONE_IN: u64 = 25;
const REFUSED_ONE_IN: u64 = 40;
/// This session is always refused, so every capture that reaches it has a refusal.
const FIRST_REFUSED: u64 = 3;

/// Packets per session, on average (measured): sizes the arrival rate.
pub(crate) const PACKETS_PER_SESSION: f64 = 41.0;

const NAMES: &[&str] = &["api.example.com", "www.example.com", "static.example.com"];
const UNKNOWN_NAME: &str = "legacy.example.net";
/// unrecognized_name and handshake_failure.
const REFUSALS: &[u8] = &[112, 40];

enum Next {
    Open,
    Request,
    IdleClose,
    ClientQuit,
}

/// One HTTPS keep-alive connection.
pub(crate) struct Session {
    conn: Conn,
    refuse: Option<u8>,
    requests_planned: u32,
    responses: u32,
    next: Next,
}

/// The parameters of one connection, drawn.
fn params(ctx: &mut Ctx, sni: &'static str, alpn: bool) -> Params {
    let rng = &mut ctx.rng;
    let tls13 = rng.chance(0.65);
    let x = rng.range(0, 99);
    let (version, suite, client_tls13) = if tls13 {
        let suite = if x < 70 {
            0x1301
        } else if x < 90 {
            0x1302
        } else {
            0x1303
        };
        (Version::Tls13, suite, true)
    } else {
        let suite = if x < 60 {
            0xc02f
        } else if x < 85 {
            0xc030
        } else {
            0xcca8
        };
        (Version::Tls12, suite, rng.chance(0.6))
    };
    let alpn_offered: &'static [&'static str] = if !alpn {
        &[]
    } else {
        let y = rng.range(0, 9);
        if y < 7 {
            &["h2", "http/1.1"]
        } else if y < 9 {
            &["http/1.1"]
        } else {
            &[]
        }
    };
    Params {
        version,
        suite,
        sni,
        alpn_offered,
        alpn: (!alpn_offered.is_empty()).then_some("http/1.1"),
        client_tls13,
    }
}

/// What the truth says about a connection's TLS.
pub(crate) fn tls_truth(p: &Params, refused: Option<u8>) -> TlsTruth {
    TlsTruth {
        version: match (refused, p.version) {
            (Some(_), _) => None,
            (None, Version::Tls12) => Some("TLSv1.2".to_string()),
            (None, Version::Tls13) => Some("TLSv1.3".to_string()),
        },
        cipher_suite: refused.is_none().then_some(p.suite),
        server_name: p.sni.to_string(),
        alpn: if refused.is_none() {
            p.alpn.map(str::to_string)
        } else {
            None
        },
        refused_alert: refused,
        close_notify: Vec::new(),
        shutdown_reset_frame: None,
    }
}

impl Session {
    pub(crate) fn start(ctx: &mut Ctx) -> Session {
        ctx.world.https_sessions += 1;
        let refuse =
            if ctx.rng.range(1, REFUSED_ONE_IN) == 1 || ctx.world.https_sessions == FIRST_REFUSED {
                Some(*ctx.rng.pick(REFUSALS))
            } else {
                None
            };
        let sni = if refuse.is_some() {
            UNKNOWN_NAME
        } else {
            *ctx.rng.pick(NAMES)
        };
        let p = params(ctx, sni, true);
        let requests_planned = (1 + ctx.rng.exp(4.0) as u32).min(30);
        let pool = ctx.world.http_clients.len() as u64;
        let host = ctx.rng.range(0, pool - 1) as usize;
        let client = ctx.world.http_clients[host].connect();
        let detail = Detail::Https(HttpsTruth {
            tls: tls_truth(&p, refuse),
            idle_timeout_us: IDLE_TIMEOUT,
            requests: 0,
            streamed_responses: 0,
        });
        let server = ctx.world.https;
        let tcp = Tcp::new(ctx, client, server, detail);
        Session {
            conn: Conn::new(tcp, p),
            refuse,
            requests_planned,
            responses: 0,
            next: Next::Open,
        }
    }

    fn truth<'a>(&self, ctx: &'a mut Ctx) -> &'a mut HttpsTruth {
        match ctx.detail(self.conn.tcp.id) {
            Detail::Https(h) => h,
            _ => unreachable!("an HTTPS connection"),
        }
    }

    fn request_len(ctx: &mut Ctx) -> usize {
        let head = ctx.rng.range(180, 520) as usize;
        if ctx.rng.chance(0.08) {
            head + ctx.rng.range(60, 900) as usize
        } else {
            head
        }
    }

    /// One request (unless it went with the client's Finished) and its response; decides
    /// what comes next and returns when (`None`: the server closed after it).
    /// The server is busy sending until `server_free`.
    fn exchange(
        &mut self,
        now: Micros,
        ctx: &mut Ctx,
        request_sent: bool,
        server_free: Micros,
    ) -> Option<Micros> {
        let number = self.responses + 1;
        let last = number == self.requests_planned;
        self.truth(ctx).requests += 1;
        let mut arrived = now;
        if !request_sent {
            let len = Self::request_len(ctx);
            self.conn
                .params
                .app_data(&mut ctx.rng, &mut self.conn.buf, len);
            arrived = self.conn.write(ctx, Dir::ToServer, now, Tag::Plain, false);
        }
        let service = if ctx.rng.chance(0.03) {
            ctx.rng.range(50 * MS, 400 * MS)
        } else {
            30 + ctx.rng.lognormal(2_000.0, 1.0) as Micros
        };
        let head = ctx.rng.range(180, 260) as usize;
        let lose = ctx.rng.range(1, RECORD_LOSS_ONE_IN) == 1;
        let mut t = (arrived + service).max(server_free + super::SEGMENT_GAP);
        let end = if ctx.rng.chance(0.2) {
            self.truth(ctx).streamed_responses += 1;
            let writes = ctx.rng.range(2, 5);
            let mut end = t;
            for w in 0..writes {
                if w == 0 {
                    self.conn
                        .params
                        .app_data(&mut ctx.rng, &mut self.conn.buf, head);
                }
                let chunk = ctx.rng.range(40, 3_000) as usize;
                self.conn
                    .params
                    .app_data(&mut ctx.rng, &mut self.conn.buf, chunk);
                end = self
                    .conn
                    .write(ctx, Dir::ToClient, t, Tag::Plain, lose && w + 1 == writes);
                t = end + ctx.rng.range(300, 20_000);
            }
            end
        } else {
            let body = if ctx.rng.chance(0.07) {
                ctx.rng.range(20_000, 150_000) as usize
            } else {
                (ctx.rng.lognormal(1_200.0, 0.9) as usize).clamp(60, 9_000)
            };
            self.conn
                .params
                .app_data(&mut ctx.rng, &mut self.conn.buf, head + body);
            self.conn.write(ctx, Dir::ToClient, t, Tag::Plain, lose)
        };
        self.responses = number;
        let rtt = self.conn.tcp.rtt;
        if last && ctx.rng.chance(0.15) {
            // Connection: close, then close_notify and FIN at once.
            self.plan(ctx, Side::Server, CloseCause::HttpConnectionClose);
            let fin_at = end + ctx.rng.range(15, 60);
            self.server_closes(ctx, fin_at);
            return None;
        }
        let quiet_until = end + IDLE_TIMEOUT;
        let next_at = match after_response(&mut ctx.rng, end, rtt, last) {
            AfterResponse::Request(at) => {
                self.next = Next::Request;
                at
            }
            AfterResponse::Quit(at) => {
                self.next = Next::ClientQuit;
                at
            }
            AfterResponse::Wait => quiet_until,
        };
        if next_at >= quiet_until {
            self.next = Next::IdleClose;
            return Some(quiet_until);
        }
        Some(next_at)
    }

    fn plan(&mut self, ctx: &mut Ctx, by: Side, cause: CloseCause) {
        ctx.plan_close(self.conn.tcp.id, Teardown::Fin, by, cause);
    }

    /// Who sends close_notify, as the truth records it.
    fn notify(&mut self, ctx: &mut Ctx, side: Side) {
        self.truth(ctx).tls.close_notify.push(side);
    }

    /// The server's close_notify and FIN at `at`; the client answers a round trip later,
    /// mostly with a bare FIN (a browser), sometimes with its own close_notify.
    fn server_closes(&mut self, ctx: &mut Ctx, at: Micros) -> Micros {
        self.notify(ctx, Side::Server);
        let fin = self.conn.close(ctx, Dir::ToClient, at, true, Mark::Close);
        let client_notify = ctx.rng.chance(0.3);
        if client_notify {
            self.notify(ctx, Side::Client);
        }
        let after = self.conn.tcp.rtt + ctx.rng.range(100, 30_000);
        self.conn
            .answer_close(ctx, Dir::ToClient, fin, after, client_notify)
    }

    /// The client quits: close_notify and FIN (curl) or a bare FIN; nginx answers alike.
    fn client_quits(&mut self, ctx: &mut Ctx, at: Micros) -> Micros {
        self.plan(ctx, Side::Client, CloseCause::ClientQuit);
        let client_notify = ctx.rng.chance(0.6);
        if client_notify {
            self.notify(ctx, Side::Client);
        }
        let fin = self
            .conn
            .close(ctx, Dir::ToServer, at, client_notify, Mark::Close);
        let server_notify = ctx.rng.chance(0.5);
        if server_notify {
            self.notify(ctx, Side::Server);
        }
        let after = ctx.rng.range(20, 80);
        self.conn
            .answer_close(ctx, Dir::ToServer, fin, after, server_notify)
    }

    fn step_inner(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros> {
        match self.next {
            Next::Open => match self.conn.open(ctx, now, self.refuse) {
                Opened::Refused => {
                    self.plan(ctx, Side::Server, CloseCause::TlsHandshakeRefused);
                    None
                }
                Opened::Ready(at) => {
                    let first = Self::request_len(ctx);
                    let (ready, server_free, coalesced) = self.conn.finish(ctx, at, first);
                    let start = if coalesced { at } else { ready };
                    self.next = Next::Request;
                    self.exchange(start, ctx, coalesced, server_free)
                }
            },
            Next::Request => self.exchange(now, ctx, false, 0),
            Next::IdleClose => {
                self.plan(ctx, Side::Server, CloseCause::HttpIdleTimeout);
                self.server_closes(ctx, now);
                None
            }
            Next::ClientQuit => {
                self.client_quits(ctx, now);
                None
            }
        }
    }
}

impl Actor for Session {
    fn step(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros> {
        let next = self.step_inner(now, ctx);
        self.conn.flush_owed(ctx, next.unwrap_or(Micros::MAX));
        next
    }
}

/// The parameters of a heartbeat client's connection: no ALPN.
pub(crate) fn heartbeat_params(ctx: &mut Ctx) -> Params {
    params(ctx, "hb.example.com", false)
}
