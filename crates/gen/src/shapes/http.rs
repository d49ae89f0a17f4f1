//! HTTP/1.1 keep-alive, server port 80 (an nginx with `keepalive_timeout 75s`).
//!
//! Sessions arrive as a Poisson process from a pool of internet clients. Each connection
//! carries 1-30 requests (1 + an exponential of mean 4): GETs, 8 % POSTs with a JSON body, all
//! in one segment each; think times between a response and the next request are mostly
//! sub-second, some seconds, a few minutes. Responses (`Server: nginx`, all bodies valid JSON):
//!
//! * ~4 % `304 Not Modified` (no body), to requests carrying `If-None-Match`;
//! * ~20 % `Transfer-Encoding: chunked`, streamed in 2-6 writes 0.3-20 ms apart, the last one
//!   ending with the `0` chunk;
//! * the rest `Content-Length`: mostly 60 B - 9 KB, 7 % 20-150 KB sent in slow start (initial
//!   window 10 segments, doubling each round trip, at most 40 in flight).
//!
//! The server ACKs a request on its own when it takes over 40 ms to answer; the client ACKs every
//! second segment, a lone last one after 40 ms unless its next request goes first. No segment of
//! this service is 1 byte long (tshark 4.0.17 calls a chunked body whose last LF arrives alone
//! malformed, and `tcp.len == 1` is kept for heartbeats).
//!
//! How connections end ([`CloseCause`]):
//! * `HttpIdleTimeout`: the client goes quiet (55 % after its last request, or a think time
//!   beyond 75 s); the server sends FIN exactly 75 s after the last frame of its last response;
//!   the client ACKs it and closes too.
//! * `HttpReuseRace`: the first idle-timeout close of the capture and about 1 in 25 of the
//!   others: the client's next request crosses the server's FIN (it arrives 10 µs - RTT/2 after
//!   it, acknowledging the data but not the FIN), and the server answers it with a bare RST.
//! * `HttpConnectionClose`: 15 % of sessions get `Connection: close` on their last response; the
//!   server's FIN follows it at once.
//! * `ClientQuit`: otherwise the client closes (FIN) within 70 s after its last response.
//! * `HttpShortBody`: exactly one response per capture — the 2nd response of the first session
//!   from the 4th on that plans at least 3 requests — declares `Content-Length: 4096` and sends
//!   2600 bytes of body; the server closes 60 s later. It never completes, so it is not an
//!   `http.response` for tshark; [`ShortBody`] gives its header frame.
//!
//! Truth: [`HttpTruth`] per connection (idle timeout, response kinds, the short body and the
//! race frames), the close, and request/response counts (complete messages in the capture).

use crate::clock::{Micros, MS, SEC};
use crate::rng::Rng;
use crate::sim::{Actor, Ctx, Mark, Tag};
use crate::tcp::{Dir, Tcp};
use crate::truth::{CloseCause, Detail, HttpTruth, ReuseRace, ShortBody, Side, Teardown};
use keepsight_wire::TcpFlags;

pub(crate) const IDLE_TIMEOUT: Micros = 75 * SEC;

/// What a keep-alive client does once a response has arrived at `end` (drawn in this order, so
/// every shape that uses it draws the same numbers for the same choices).
pub(crate) enum AfterResponse {
    /// It sends its next request at this time (think time after the ACK's round trip).
    Request(Micros),
    /// It had no more to ask and closes at this time.
    Quit(Micros),
    /// It leaves the connection idle (the server's idle timeout decides).
    Wait,
}

/// [`AfterResponse`] for a response that was (`last`) or was not the session's last request.
pub(crate) fn after_response(rng: &mut Rng, end: Micros, rtt: Micros, last: bool) -> AfterResponse {
    if !last {
        let y = rng.range(0, 99);
        let think = 1_000
            + if y < 60 {
                rng.exp(300.0 * MS as f64)
            } else if y < 95 {
                rng.exp(8.0 * SEC as f64)
            } else {
                rng.exp(120.0 * SEC as f64)
            } as Micros;
        AfterResponse::Request(end + rtt + think)
    } else if rng.chance(0.45) {
        AfterResponse::Quit(
            end + rtt + 1_000 + (rng.exp(12.0 * SEC as f64) as Micros).min(70 * SEC),
        )
    } else {
        AfterResponse::Wait
    }
}
const SHORT_DECLARED: usize = 4096;
const SHORT_SENT: usize = 2600;
const SHORT_HOLD: Micros = 60 * SEC;
const DELAYED_ACK: Micros = 40 * MS;
const RACE_ONE_IN: u64 = 25;
/// Time between back-to-back segments leaving the server (1 Gbit/s).
const SEGMENT_GAP: Micros = 12;
const INITIAL_WINDOW: u32 = 10;
const MAX_IN_FLIGHT: u32 = 40;

/// Packets per session, on average (measured): sizes the arrival rate.
pub(crate) const PACKETS_PER_SESSION: f64 = 47.0;

const PATHS: &[&str] = &[
    "/v2/catalog/items/",
    "/v2/catalog/search?page=",
    "/v2/cart/",
    "/v2/orders/",
    "/v2/users/me/addresses/",
    "/assets/bundle.",
    "/v2/stock/",
];

const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
    "okhttp/4.12.0",
    "Dalvik/2.1.0 (Linux; U; Android 14)",
    "python-httpx/0.27.0",
    "Go-http-client/1.1",
];

/// A valid JSON document of exactly `len` bytes (`len >= 16`): records, then padding.
pub(crate) fn json_body(rng: &mut Rng, records: &[Vec<u8>], len: usize) -> Vec<u8> {
    const HEAD: &[u8] = b"{\"items\":[";
    const TAIL_START: &[u8] = b"],\"pad\":\"";
    const TAIL_END: &[u8] = b"\"}";
    let fixed = TAIL_START.len() + TAIL_END.len();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(HEAD);
    let mut first = true;
    loop {
        let line = rng.pick(records);
        let extra = line.len() + usize::from(!first);
        if out.len() + extra + fixed > len {
            break;
        }
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(line);
        first = false;
    }
    if out.len() + fixed > len {
        // Too short for even the head: a bare padded string.
        out.clear();
        out.push(b'"');
        out.resize(len - 1, b'x');
        out.push(b'"');
        return out;
    }
    out.extend_from_slice(TAIL_START);
    out.resize(len - TAIL_END.len(), b'x');
    out.extend_from_slice(TAIL_END);
    out
}

/// `Date:` value for a time since the Unix epoch.
pub(crate) fn http_date(epoch_us: u64) -> String {
    keepsight_time::http_date((epoch_us / SEC) as i64)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    NotModified,
    Chunked,
    Length,
}

enum Next {
    Request,
    IdleClose,
    ShortClose,
    ClientQuit,
}

pub(crate) struct Session {
    tcp: Tcp,
    agent: &'static str,
    requests_planned: u32,
    responses: u32,
    short_response: Option<u32>,
    last_response_end: Micros,
    next: Next,
}

impl Session {
    pub(crate) fn start(ctx: &mut Ctx) -> Session {
        let shared = &mut ctx.world.http_shared;
        shared.sessions += 1;
        let number = shared.sessions;
        let requests_planned = (1 + ctx.rng.exp(4.0) as u32).min(30);
        let short_response = if !shared.short_body_placed && number >= 4 && requests_planned >= 3 {
            shared.short_body_placed = true;
            Some(2)
        } else {
            None
        };
        let pool = ctx.world.http_clients.len() as u64;
        let host = ctx.rng.range(0, pool - 1) as usize;
        let client = ctx.world.http_clients[host].connect();
        let detail = Detail::Http(HttpTruth {
            idle_timeout_us: IDLE_TIMEOUT,
            chunked_responses: 0,
            content_length_responses: 0,
            not_modified_responses: 0,
            short_body: None,
            reuse_race: None,
        });
        let server = ctx.world.http;
        let tcp = Tcp::new(ctx, client, server, detail);
        Session {
            tcp,
            agent: ctx.rng.pick::<&str>(AGENTS),
            requests_planned,
            responses: 0,
            short_response,
            last_response_end: 0,
            next: Next::Request,
        }
    }

    fn http_truth<'a>(&self, ctx: &'a mut Ctx) -> &'a mut HttpTruth {
        match ctx.detail(self.tcp.id) {
            Detail::Http(h) => h,
            _ => unreachable!("an HTTP connection"),
        }
    }

    fn request_bytes(&self, ctx: &mut Ctx, body: Body) -> Vec<u8> {
        let path = format!("{}{}", ctx.rng.pick(PATHS), ctx.rng.range(1, 99_999));
        let mut head = String::new();
        let post = body != Body::NotModified && ctx.rng.chance(0.08);
        let json = if post {
            let len = ctx.rng.range(60, 900) as usize;
            Some(json_body(&mut ctx.rng, &ctx.world.text, len))
        } else {
            None
        };
        head += if post { "POST " } else { "GET " };
        head += &path;
        head += " HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: ";
        head += self.agent;
        head += "\r\nAccept: application/json\r\n";
        if body == Body::NotModified {
            head += &format!("If-None-Match: \"{:08x}\"\r\n", ctx.rng.u32());
        }
        let mut out = head.into_bytes();
        if let Some(json) = json {
            out.extend_from_slice(
                format!(
                    "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    json.len()
                )
                .as_bytes(),
            );
            out.extend_from_slice(&json);
        } else {
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// The server's writes for one response: (time, bytes).
    fn response_writes(
        &self,
        ctx: &mut Ctx,
        at: Micros,
        body: Body,
        short: bool,
        close: bool,
    ) -> Vec<(Micros, Vec<u8>)> {
        let mut head = String::new();
        head += if body == Body::NotModified {
            "HTTP/1.1 304 Not Modified\r\n"
        } else {
            "HTTP/1.1 200 OK\r\n"
        };
        head += "Server: nginx\r\nDate: ";
        head += &http_date(ctx.world.epoch_us + at);
        head += "\r\n";
        let connection = if close {
            "Connection: close\r\n"
        } else {
            "Connection: keep-alive\r\n"
        };
        match body {
            Body::NotModified => {
                head += connection;
                head += &format!("ETag: \"{:08x}\"\r\n\r\n", ctx.rng.u32());
                vec![(at, head.into_bytes())]
            }
            Body::Length => {
                let len = if short {
                    SHORT_DECLARED
                } else if ctx.rng.chance(0.07) {
                    ctx.rng.range(20_000, 150_000) as usize
                } else {
                    // 4096 is the short body's declared length, which names it in the capture.
                    match (ctx.rng.lognormal(1_200.0, 0.9) as usize).clamp(60, 9_000) {
                        SHORT_DECLARED => SHORT_DECLARED + 1,
                        len => len,
                    }
                };
                head += &format!(
                    "Content-Type: application/json\r\nContent-Length: {len}\r\n{connection}\r\n"
                );
                let mut bytes = head.into_bytes();
                let json = json_body(&mut ctx.rng, &ctx.world.text, len);
                let sent = if short { SHORT_SENT } else { len };
                bytes.extend_from_slice(&json[..sent]);
                vec![(at, bytes)]
            }
            Body::Chunked => {
                head += "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n";
                head += connection;
                head += "\r\n";
                let pieces = ctx.rng.range(2, 6) as usize;
                let sizes: Vec<usize> = (0..pieces)
                    .map(|_| ctx.rng.range(40, 3_000) as usize)
                    .collect();
                let json = json_body(&mut ctx.rng, &ctx.world.text, sizes.iter().sum());
                let mut writes = Vec::with_capacity(pieces);
                let (mut t, mut offset) = (at, 0);
                for (i, size) in sizes.iter().enumerate() {
                    let mut w = if i == 0 {
                        std::mem::take(&mut head).into_bytes()
                    } else {
                        Vec::new()
                    };
                    w.extend_from_slice(format!("{size:x}\r\n").as_bytes());
                    w.extend_from_slice(&json[offset..offset + size]);
                    w.extend_from_slice(b"\r\n");
                    if i + 1 == pieces {
                        w.extend_from_slice(b"0\r\n\r\n");
                    }
                    offset += size;
                    writes.push((t, w));
                    t += ctx.rng.range(300, 20_000);
                }
                writes
            }
        }
    }

    /// Sends the writes as segments in slow start, with the client's ACKs. Returns the time of
    /// the last segment and whether the client still owes an ACK for it.
    fn send_writes(
        &mut self,
        ctx: &mut Ctx,
        writes: &[(Micros, Vec<u8>)],
        complete: bool,
        header_mark: Mark,
    ) -> (Micros, bool) {
        let mss = usize::from(self.tcp.mss);
        let rtt = self.tcp.rtt;
        let mut window = INITIAL_WINDOW;
        let mut in_round = 0;
        let mut round_start = writes[0].0;
        let mut last = 0;
        let mut unacked = 0;
        for (wi, (write_at, data)) in writes.iter().enumerate() {
            let mut t = (*write_at).max(last + SEGMENT_GAP);
            if wi > 0 && t >= round_start + rtt {
                // The earlier writes are acknowledged: a new round, same window.
                in_round = 0;
            }
            let mut offset = 0;
            while offset < data.len() {
                let mut end = (offset + mss).min(data.len());
                if data.len() - end == 1 {
                    end -= 1; // never leave a 1-byte tail
                }
                if in_round == window {
                    round_start = (round_start + rtt + SEGMENT_GAP).max(t);
                    t = round_start;
                    window = (window * 2).min(MAX_IN_FLIGHT);
                    in_round = 0;
                } else if in_round == 0 {
                    round_start = t;
                }
                let last_of_write = end == data.len();
                let last_of_response = last_of_write && wi + 1 == writes.len();
                let flags = if last_of_write {
                    TcpFlags::PSH | TcpFlags::ACK
                } else {
                    TcpFlags::ACK
                };
                let tag = if complete && last_of_response {
                    Tag::HttpResponse
                } else {
                    Tag::Plain
                };
                let mark = if wi == 0 && offset == 0 {
                    header_mark
                } else {
                    Mark::None
                };
                let payload = &data[offset..end];
                self.tcp
                    .send(ctx, Dir::ToClient, t, flags, payload, tag, mark);
                in_round += 1;
                unacked += 1;
                if unacked == 2 {
                    let ack = self.tcp.server.nxt;
                    self.tcp
                        .ack_to(ctx, Dir::ToServer, t + rtt, ack, Tag::Plain);
                    unacked = 0;
                }
                last = t;
                t += SEGMENT_GAP;
                offset = end;
            }
            if unacked == 1 {
                if let Some((next_at, _)) = writes.get(wi + 1) {
                    if (*next_at).max(last + SEGMENT_GAP) - last > DELAYED_ACK {
                        let ack = self.tcp.server.nxt;
                        self.tcp.ack_to(
                            ctx,
                            Dir::ToServer,
                            last + rtt + DELAYED_ACK,
                            ack,
                            Tag::Plain,
                        );
                        unacked = 0;
                    }
                }
            }
        }
        (last, unacked == 1)
    }

    /// One request and its response; decides what comes next and returns when.
    fn exchange(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros> {
        let number = self.responses + 1;
        let last = number == self.requests_planned;
        let short = self.short_response == Some(number);
        let x = ctx.rng.range(0, 99);
        let body = if short {
            Body::Length
        } else if x < 4 {
            Body::NotModified
        } else if x < 24 {
            Body::Chunked
        } else {
            Body::Length
        };
        let request = self.request_bytes(ctx, body);
        let pa = TcpFlags::PSH | TcpFlags::ACK;
        self.tcp.send(
            ctx,
            Dir::ToServer,
            now,
            pa,
            &request,
            Tag::HttpRequest,
            Mark::None,
        );
        let service = if ctx.rng.chance(0.03) {
            ctx.rng.range(50 * MS, 400 * MS)
        } else {
            30 + ctx.rng.lognormal(2_000.0, 1.0) as Micros
        };
        if service > DELAYED_ACK {
            self.tcp.ack(ctx, Dir::ToClient, now + DELAYED_ACK);
        }
        let close = last && !short && ctx.rng.chance(0.15);
        let writes = self.response_writes(ctx, now + service, body, short, close);
        let header_mark = if short {
            Mark::ShortBodyHeader
        } else {
            Mark::None
        };
        let (end, owes_ack) = self.send_writes(ctx, &writes, !short, header_mark);
        self.responses = number;
        self.last_response_end = end;
        let h = self.http_truth(ctx);
        match body {
            Body::NotModified => h.not_modified_responses += 1,
            Body::Chunked => h.chunked_responses += 1,
            Body::Length => h.content_length_responses += 1,
        }
        if short {
            h.short_body = Some(ShortBody {
                response: number,
                header_frame: 0,
                declared: SHORT_DECLARED as u64,
                received: SHORT_SENT as u64,
            });
        }
        let rtt = self.tcp.rtt;
        let delayed_ack_at = end + rtt + DELAYED_ACK;
        let owe_ack = |ctx: &mut Ctx, tcp: &mut Tcp, client_next: Micros| {
            if owes_ack && client_next > delayed_ack_at {
                tcp.ack(ctx, Dir::ToServer, delayed_ack_at);
            }
        };
        if short {
            owe_ack(ctx, &mut self.tcp, Micros::MAX);
            self.next = Next::ShortClose;
            return Some(end + SHORT_HOLD);
        }
        if close {
            self.close_after_response(ctx, end);
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
            owe_ack(ctx, &mut self.tcp, Micros::MAX);
            return Some(quiet_until);
        }
        owe_ack(ctx, &mut self.tcp, next_at);
        Some(next_at)
    }

    /// `Connection: close`: the server's FIN right after the response, the client's ACK and FIN.
    fn close_after_response(&mut self, ctx: &mut Ctx, end: Micros) {
        ctx.plan_close(
            self.tcp.id,
            Teardown::Fin,
            Side::Server,
            CloseCause::HttpConnectionClose,
        );
        let fin_at = end + ctx.rng.range(15, 60);
        self.server_fin_then_client(ctx, fin_at, Mark::Close);
    }

    /// Server FIN at `at`; the client ACKs it one round trip later, closes in turn, and the
    /// server ACKs that.
    fn server_fin_then_client(&mut self, ctx: &mut Ctx, at: Micros, mark: Mark) {
        let fa = TcpFlags::FIN | TcpFlags::ACK;
        self.tcp
            .send(ctx, Dir::ToClient, at, fa, &[], Tag::Plain, mark);
        let ack_at = at + self.tcp.rtt;
        self.tcp.ack(ctx, Dir::ToServer, ack_at);
        let fin_at = ack_at + ctx.rng.range(100, 30_000);
        self.tcp
            .send(ctx, Dir::ToServer, fin_at, fa, &[], Tag::Plain, Mark::None);
        let last_ack_at = fin_at + ctx.rng.range(10, 40);
        self.tcp.ack(ctx, Dir::ToClient, last_ack_at);
    }

    fn idle_close(&mut self, now: Micros, ctx: &mut Ctx) {
        let shared = &mut ctx.world.http_shared;
        shared.idle_closes += 1;
        let race = shared.idle_closes == 1 || ctx.rng.range(1, RACE_ONE_IN) == 1;
        if !race {
            ctx.plan_close(
                self.tcp.id,
                Teardown::Fin,
                Side::Server,
                CloseCause::HttpIdleTimeout,
            );
            self.server_fin_then_client(ctx, now, Mark::Close);
            return;
        }
        ctx.plan_close(
            self.tcp.id,
            Teardown::Fin,
            Side::Server,
            CloseCause::HttpReuseRace,
        );
        self.http_truth(ctx).reuse_race = Some(ReuseRace {
            fin_frame: 0,
            request_frame: 0,
            rst_frame: 0,
        });
        let fin_seq = self.tcp.server.nxt;
        let fa = TcpFlags::FIN | TcpFlags::ACK;
        self.tcp
            .send_in_flight(ctx, Dir::ToClient, now, fa, &[], Tag::Plain, Mark::RaceFin);
        let request_at = now + ctx.rng.range(10, (self.tcp.rtt / 2).max(11));
        let request = self.request_bytes(ctx, Body::Length);
        let pa = TcpFlags::PSH | TcpFlags::ACK;
        self.tcp.send(
            ctx,
            Dir::ToServer,
            request_at,
            pa,
            &request,
            Tag::HttpRequest,
            Mark::RaceRequest,
        );
        // Data for a socket already closed: the kernel resets, with the sequence number the
        // request acknowledged.
        let rst_at = request_at + ctx.rng.range(10, 30);
        let rst = TcpFlags::RST;
        self.tcp.raw(
            ctx,
            Dir::ToClient,
            rst_at,
            rst,
            fin_seq,
            0,
            &[],
            Tag::Plain,
            Mark::RaceRst,
        );
    }
}

impl Actor for Session {
    fn step(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros> {
        match self.next {
            Next::Request => {
                if self.responses == 0 {
                    let ready = self.tcp.handshake(ctx, now);
                    let first_request = ready + ctx.rng.range(20, 400);
                    return self.exchange(first_request, ctx);
                }
                self.exchange(now, ctx)
            }
            Next::IdleClose => {
                self.idle_close(now, ctx);
                None
            }
            Next::ShortClose => {
                ctx.plan_close(
                    self.tcp.id,
                    Teardown::Fin,
                    Side::Server,
                    CloseCause::HttpShortBody,
                );
                self.server_fin_then_client(ctx, now, Mark::Close);
                None
            }
            Next::ClientQuit => {
                ctx.plan_close(
                    self.tcp.id,
                    Teardown::Fin,
                    Side::Client,
                    CloseCause::ClientQuit,
                );
                let reply_after = ctx.rng.range(10, 40);
                self.tcp
                    .close_both(ctx, Dir::ToServer, now, reply_after, Mark::Close);
                None
            }
        }
    }
}
