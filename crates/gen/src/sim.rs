//! The discrete-event loop. Actors (one per connection, plus the arrival processes that start
//! connections) run in time order; each step emits frames stamped at or after the step's time
//! into a reorder buffer, and every buffered frame older than the earliest pending step is final
//! and goes to the file. Memory therefore follows the live connections and their in-flight
//! bursts, never the file size. Ties are broken by emission order, so a connection's frames
//! keep their order and the whole run is deterministic.

use crate::clock::Micros;
use crate::output::Sink;
use crate::packet::{Path, SegmentSpec};
use crate::rng::Rng;
use crate::truth::{Close, CloseCause, Connection, Counts, Detail, Side, Teardown};
use crate::world::World;
use keepsight_wire::TcpFlags;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};
use std::net::SocketAddr;

/// Something that acts over time: a connection or an arrival process.
pub(crate) trait Actor {
    /// Acts at `now`, emitting frames stamped `>= now`. Returns when to act next (`>= now`), or
    /// `None` when finished.
    fn step(&mut self, now: Micros, ctx: &mut Ctx) -> Option<Micros>;
}

/// What a frame means for the truth counts (beyond its flags and length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tag {
    Plain,
    HeartbeatProbe,
    HeartbeatReply,
    KeepAlive,
    KeepAliveAck,
    DuplicateAck,
    FastRetransmission,
    RtoRetransmission,
    HttpRequest,
    HttpResponse,
    /// A SYN reusing an earlier stream's addresses and ports.
    ReusedPortsSyn,
    TlsClientHello,
    TlsAlert,
    TlsHeartbeatProbe,
    TlsHeartbeatReply,
}

/// A frame whose number the truth records once it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mark {
    None,
    Close,
    LateBeat(u32),
    ShortBodyHeader,
    RaceFin,
    RaceRequest,
    RaceRst,
    /// The reset answering a close_notify that reached a closed socket.
    TlsShutdownRst,
}

/// Index of a connection's truth record.
pub(crate) type ConnId = u32;

struct Pending {
    conn: ConnId,
    tag: Tag,
    mark: Mark,
    flags: u16,
    payload_len: usize,
    bytes: Vec<u8>,
}

/// Frames emitted but not yet final, ordered by (time, emission order).
#[derive(Default)]
struct ReorderBuffer {
    order: BinaryHeap<Reverse<(Micros, u64, u32)>>,
    slots: Vec<Pending>,
    free: Vec<u32>,
    emitted: u64,
}

impl ReorderBuffer {
    fn earliest(&self) -> Option<Micros> {
        self.order.peek().map(|Reverse((t, _, _))| *t)
    }
}

struct ConnRecord {
    stream: Option<u32>,
    public: Connection,
    close: Option<Close>,
}

/// Builds the truth from the frames as they are written.
struct TruthBuilder {
    conns: Vec<ConnRecord>,
    streams: u32,
    frames: u64,
    counts: Counts,
    first_us: Option<Micros>,
    last_us: Micros,
}

fn count(c: &mut Counts, tag: Tag, flags: u16, payload_len: usize) {
    c.frames += 1;
    c.syn += u64::from(flags & TcpFlags::SYN != 0);
    c.fin += u64::from(flags & TcpFlags::FIN != 0);
    c.rst += u64::from(flags & TcpFlags::RST != 0);
    c.one_byte_payloads += u64::from(payload_len == 1);
    match tag {
        Tag::Plain => {}
        Tag::HeartbeatProbe => c.heartbeat_probes += 1,
        Tag::HeartbeatReply => c.heartbeat_replies += 1,
        Tag::KeepAlive => c.keep_alive += 1,
        Tag::KeepAliveAck => c.keep_alive_ack += 1,
        Tag::DuplicateAck => c.duplicate_ack += 1,
        Tag::FastRetransmission => {
            c.fast_retransmission += 1;
            c.retransmission += 1;
        }
        Tag::RtoRetransmission => {
            c.rto_retransmission += 1;
            c.retransmission += 1;
        }
        Tag::HttpRequest => c.http_requests += 1,
        Tag::HttpResponse => c.http_responses += 1,
        Tag::ReusedPortsSyn => c.reused_ports += 1,
        Tag::TlsClientHello => c.tls_client_hellos += 1,
        Tag::TlsAlert => c.tls_cleartext_alerts += 1,
        Tag::TlsHeartbeatProbe => c.tls_heartbeat_probes += 1,
        Tag::TlsHeartbeatReply => c.tls_heartbeat_replies += 1,
    }
}

impl TruthBuilder {
    fn on_written(&mut self, at: Micros, p: &Pending) {
        self.frames += 1;
        let frame = self.frames;
        self.first_us.get_or_insert(at);
        self.last_us = at;
        count(&mut self.counts, p.tag, p.flags, p.payload_len);
        let rec = &mut self.conns[p.conn as usize];
        if rec.stream.is_none() {
            rec.stream = Some(self.streams);
            rec.public.first_frame = frame;
            self.streams += 1;
        }
        rec.public.last_frame = frame;
        count(&mut rec.public.counts, p.tag, p.flags, p.payload_len);
        match (p.mark, &mut rec.public.detail) {
            (Mark::None, _) => {}
            (Mark::Close, _) => {
                if let Some(c) = rec.close.as_mut() {
                    c.frame = frame;
                }
            }
            (Mark::LateBeat(i), Detail::Heartbeat(h)) => h.late_beats[i as usize].frame = frame,
            (Mark::LateBeat(i), Detail::TlsHeartbeat(h)) => h.late_beats[i as usize].frame = frame,
            (Mark::TlsShutdownRst, Detail::Https(h)) => h.tls.shutdown_reset_frame = Some(frame),
            (Mark::TlsShutdownRst, Detail::TlsHeartbeat(h)) => {
                h.tls.shutdown_reset_frame = Some(frame)
            }
            (Mark::ShortBodyHeader, Detail::Http(h)) => {
                if let Some(s) = h.short_body.as_mut() {
                    s.header_frame = frame;
                }
            }
            (Mark::RaceFin | Mark::RaceRequest | Mark::RaceRst, Detail::Http(h)) => {
                if p.mark == Mark::RaceFin {
                    if let Some(c) = rec.close.as_mut() {
                        c.frame = frame;
                    }
                }
                if let Some(r) = h.reuse_race.as_mut() {
                    match p.mark {
                        Mark::RaceFin => r.fin_frame = frame,
                        Mark::RaceRequest => r.request_frame = frame,
                        _ => r.rst_frame = frame,
                    }
                }
            }
            (mark, _) => unreachable!("mark {mark:?} on a connection of another shape"),
        }
    }

    /// The public truth: written connections by stream, events whose frames were all written.
    fn finish(self) -> (Counts, Vec<Connection>, Option<Micros>, Micros) {
        let mut conns: Vec<Connection> = self
            .conns
            .into_iter()
            .filter_map(|r| {
                let stream = r.stream?;
                let mut c = r.public;
                c.stream = stream;
                c.close = r.close.filter(|c| c.frame != 0);
                match &mut c.detail {
                    Detail::Heartbeat(h) => h.late_beats.retain(|b| b.frame != 0),
                    Detail::TlsHeartbeat(h) => h.late_beats.retain(|b| b.frame != 0),
                    Detail::Http(h) => {
                        h.short_body = h.short_body.filter(|s| s.header_frame != 0);
                        h.reuse_race = h.reuse_race.filter(|r| {
                            r.fin_frame != 0 && r.request_frame != 0 && r.rst_frame != 0
                        });
                    }
                    _ => {}
                }
                Some(c)
            })
            .collect();
        conns.sort_by_key(|c| c.stream);
        (self.counts, conns, self.first_us, self.last_us)
    }
}

/// Everything an actor may touch while it steps.
pub(crate) struct Ctx {
    pub(crate) rng: Rng,
    pub(crate) world: World,
    buffer: ReorderBuffer,
    truth: TruthBuilder,
    spawned: Vec<(Micros, Box<dyn Actor>)>,
    now: Micros,
}

impl Ctx {
    /// Starts `actor` at `at`.
    pub(crate) fn spawn(&mut self, at: Micros, actor: Box<dyn Actor>) {
        assert!(
            at >= self.now,
            "actor started at {at}, before now {}",
            self.now
        );
        self.spawned.push((at, actor));
    }

    /// Opens a truth record for a new connection.
    pub(crate) fn new_connection(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        detail: Detail,
    ) -> ConnId {
        let id = self.truth.conns.len() as ConnId;
        self.truth.conns.push(ConnRecord {
            stream: None,
            public: Connection {
                stream: 0,
                client,
                server,
                first_frame: 0,
                last_frame: 0,
                counts: Counts::default(),
                close: None,
                detail,
            },
            close: None,
        });
        id
    }

    /// The connection's detail, for shapes that record facts as they plan them.
    pub(crate) fn detail(&mut self, conn: ConnId) -> &mut Detail {
        &mut self.truth.conns[conn as usize].public.detail
    }

    /// Plans how the connection ends; the frame emitted with [`Mark::Close`] fills in its
    /// number.
    pub(crate) fn plan_close(&mut self, conn: ConnId, how: Teardown, by: Side, cause: CloseCause) {
        self.truth.conns[conn as usize].close = Some(Close {
            how,
            by,
            frame: 0,
            cause,
        });
    }

    /// Encodes one frame and buffers it until it is final.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn emit(
        &mut self,
        at: Micros,
        conn: ConnId,
        path: &mut Path,
        seg: &SegmentSpec,
        tag: Tag,
        mark: Mark,
    ) {
        // A frame stamped before the current step could land behind frames already written.
        assert!(
            at >= self.now,
            "frame at {at} before the step at {}",
            self.now
        );
        let b = &mut self.buffer;
        let slot = match b.free.pop() {
            Some(s) => s,
            None => {
                b.slots.push(Pending {
                    conn: 0,
                    tag: Tag::Plain,
                    mark: Mark::None,
                    flags: 0,
                    payload_len: 0,
                    bytes: Vec::with_capacity(1600),
                });
                (b.slots.len() - 1) as u32
            }
        };
        let p = &mut b.slots[slot as usize];
        p.conn = conn;
        p.tag = tag;
        p.mark = mark;
        p.flags = seg.flags;
        p.payload_len = seg.payload.len();
        p.bytes.clear();
        path.encode(seg, &mut p.bytes);
        b.order.push(Reverse((at, b.emitted, slot)));
        b.emitted += 1;
    }
}

/// Runs the world until `packets` frames are written to `sink`.
pub(crate) struct Simulation<W: Write> {
    ctx: Ctx,
    actors: BinaryHeap<Reverse<(Micros, u64)>>,
    slots: Vec<Option<Box<dyn Actor>>>,
    free: Vec<u64>,
    sink: Sink<W>,
    epoch_us: u64,
}

/// What a finished run hands back to build the public truth.
pub(crate) struct Outcome<W> {
    pub(crate) out: W,
    pub(crate) counts: Counts,
    pub(crate) connections: Vec<Connection>,
    pub(crate) first_us: Option<u64>,
    pub(crate) last_us: u64,
}

impl<W: Write> Simulation<W> {
    pub(crate) fn new(rng: Rng, world: World, sink: Sink<W>, epoch_us: u64) -> Self {
        Simulation {
            ctx: Ctx {
                rng,
                world,
                buffer: ReorderBuffer::default(),
                truth: TruthBuilder {
                    conns: Vec::new(),
                    streams: 0,
                    frames: 0,
                    counts: Counts::default(),
                    first_us: None,
                    last_us: 0,
                },
                spawned: Vec::new(),
                now: 0,
            },
            actors: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            sink,
            epoch_us,
        }
    }

    pub(crate) fn ctx(&mut self) -> &mut Ctx {
        &mut self.ctx
    }

    fn adopt_spawned(&mut self) {
        for (at, actor) in self.ctx.spawned.drain(..) {
            let id = match self.free.pop() {
                Some(id) => {
                    self.slots[id as usize] = Some(actor);
                    id
                }
                None => {
                    self.slots.push(Some(actor));
                    (self.slots.len() - 1) as u64
                }
            };
            self.actors.push(Reverse((at, id)));
        }
    }

    /// Writes buffered frames stamped before `before` (all of them for `None`), up to `limit`
    /// frames in total.
    fn flush(&mut self, before: Option<Micros>, limit: u64) -> io::Result<()> {
        let b = &mut self.ctx.buffer;
        while self.ctx.truth.frames < limit {
            let Some(&Reverse((at, _, slot))) = b.order.peek() else {
                break;
            };
            if before.is_some_and(|t| at >= t) {
                break;
            }
            b.order.pop();
            let p = &b.slots[slot as usize];
            self.sink.write(self.epoch_us + at, &p.bytes)?;
            self.ctx.truth.on_written(self.epoch_us + at, p);
            b.free.push(slot);
        }
        Ok(())
    }

    /// Runs until `packets` frames are written (or the world falls silent).
    pub(crate) fn run(mut self, packets: u64) -> io::Result<Outcome<W>> {
        self.adopt_spawned();
        while self.ctx.truth.frames < packets {
            let next = self.actors.peek().map(|Reverse((t, _))| *t);
            let frames_first = match (self.ctx.buffer.earliest(), next) {
                (Some(e), Some(n)) => e < n,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if frames_first {
                self.flush(next, packets)?;
                continue;
            }
            let Some(Reverse((now, id))) = self.actors.pop() else {
                break;
            };
            let mut actor = self.slots[id as usize]
                .take()
                .expect("scheduled actor exists");
            self.ctx.now = now;
            match actor.step(now, &mut self.ctx) {
                Some(at) => {
                    assert!(at >= now, "actor rescheduled at {at}, before now {now}");
                    self.slots[id as usize] = Some(actor);
                    self.actors.push(Reverse((at, id)));
                }
                None => self.free.push(id),
            }
            self.adopt_spawned();
        }
        let (counts, connections, first_us, last_us) = self.ctx.truth.finish();
        Ok(Outcome {
            out: self.sink.into_inner(),
            counts,
            connections,
            first_us,
            last_us,
        })
    }
}
