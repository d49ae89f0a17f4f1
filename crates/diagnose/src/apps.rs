//! Streams that speak an application protocol with its own heartbeat (FIX, …; recognized and
//! framed by `keepsight-apps`): what each side said about liveness, kept per direction in
//! bounded memory while the stream is fed, and judged against the interval the protocol
//! declared when the stream is summarized (`summarize::apps`).

use crate::event::Event;
use crate::sig::{Known, Sig};
use keepsight_apps::{Event as AppEvent, Protocol, Scope, Session};
use std::cell::Cell;

/// Late gaps and sequence gaps kept per direction (more are only counted).
pub(crate) const MAX_APP_RECORDS: usize = 8;
/// Characters of a goodbye's text kept.
const MAX_TEXT: usize = 120;

/// A silence longer than the protocol allows between two messages of one side.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LateGap {
    pub from: Event,
    pub to: Event,
    pub interval_ns: i64,
}

/// A sequence number that skipped (or went back), and the peer's ResendRequest after it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeqGap {
    pub at: Event,
    pub expected: u64,
    pub received: u64,
    pub resend_request: Option<Event>,
}

/// What one side said.
#[derive(Debug, Clone, Default)]
pub(crate) struct AppDir {
    /// The interval this side must keep, ns (none declared, or 0: heartbeats off).
    pub interval_ns: Option<i64>,
    pub last: Option<Event>,
    pub late: Vec<LateGap>,
    /// Late gaps in all, the unrecorded included.
    pub late_count: u64,
    /// Its probes: the last one, and whether the peer answered it.
    pub last_probe: Option<(Event, bool)>,
    /// Probes in a row that got no answer before the next one, up to the last.
    pub unanswered_run: u32,
    /// The first of that run.
    pub first_unanswered: Option<Event>,
    pub goodbye: Option<(Event, Option<String>)>,
    pub seq_gaps: Vec<SeqGap>,
    /// Sequence gaps in all, the unrecorded included.
    pub seq_gap_count: u64,
    /// Where its bytes stopped making sense.
    pub lost: Option<Event>,
}

/// A recognized stream's protocol session and both sides' records.
#[derive(Debug, Clone)]
pub(crate) struct AppWatch {
    pub session: Session,
    pub dirs: [AppDir; 2],
}

impl AppWatch {
    /// The watch of a stream whose first payload is `first_payload`, when it is a protocol
    /// `keepsight-apps` knows.
    pub(crate) fn recognize(first_payload: &[u8]) -> Option<Box<AppWatch>> {
        keepsight_apps::recognize(first_payload).map(|p| {
            Box::new(AppWatch {
                session: Session::new(p),
                dirs: Default::default(),
            })
        })
    }

    pub(crate) fn protocol(&self) -> Protocol {
        self.session.protocol()
    }

    /// New in-order payload of direction `d` (`whole`: not cut by the capture).
    pub(crate) fn on_payload(&mut self, ev: Event, seq: u32, payload: &[u8], whole: bool) {
        let d = ev.dir as usize;
        let protocol = self.session.protocol();
        let dirs = &mut self.dirs;
        self.session.feed(d, seq, payload, whole, &mut |e| {
            on_event(protocol, dirs, d, ev, e);
        });
    }
}

/// What a protocol said one whole message was, for heartbeat discovery.
#[derive(Debug, Clone, Copy)]
enum Said {
    Probe,
    Reply,
}

impl AppWatch {
    /// Whether heartbeat discovery should take this stream's messages from the protocol
    /// ([`AppWatch::on_payload_known`]) rather than guess from their bytes: for the protocols
    /// whose beats are probes the peer answers (Redis PING, SMPP enquire_link, ISO 8583 echo
    /// tests), as long as direction `d` can still be framed.
    pub(crate) fn names_messages(&self, d: usize) -> bool {
        !self.protocol().beats_independently() && self.dirs[d].lost.is_none()
    }

    /// [`AppWatch::on_payload`] that also tells heartbeat discovery what each whole message is
    /// (`known`, with the sequence number after it): a probe, a reply, or any other message, so
    /// that a one-off message whose bytes resemble a probe (an SMPP unbind next to
    /// enquire_links) is never taken for a beat.
    pub(crate) fn on_payload_known(
        &mut self,
        ev: Event,
        seq: u32,
        payload: &[u8],
        whole: bool,
        known: &mut dyn FnMut(Known, u32),
    ) {
        let d = ev.dir as usize;
        let protocol = self.session.protocol();
        let dirs = &mut self.dirs;
        let said = Cell::new(None);
        self.session.feed_messages(
            d,
            seq,
            payload,
            whole,
            &mut |e| {
                match e {
                    AppEvent::Probe => said.set(Some(Said::Probe)),
                    AppEvent::Reply => said.set(Some(Said::Reply)),
                    _ => {}
                }
                on_event(protocol, dirs, d, ev, e);
            },
            &mut |bytes, end| {
                let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
                let name = Sig::of(len, bytes);
                let k = match said.take() {
                    // These protocols declare no interval: discovery measures the period.
                    Some(Said::Probe) => Known::Probe {
                        name,
                        len,
                        declared_period_ns: None,
                    },
                    Some(Said::Reply) => Known::Reply { name, len },
                    None => Known::Other { len },
                };
                known(k, end);
            },
        );
    }
}

fn on_event(protocol: Protocol, dirs: &mut [AppDir; 2], d: usize, ev: Event, e: AppEvent<'_>) {
    let p = 1 - d;
    if let AppEvent::Lost = e {
        dirs[d].lost.get_or_insert(ev);
        return;
    }
    if let AppEvent::SequenceGap { expected, received } = e {
        let me = &mut dirs[d];
        me.seq_gap_count += 1;
        if me.seq_gaps.len() < MAX_APP_RECORDS {
            me.seq_gaps.push(SeqGap {
                at: ev,
                expected,
                received,
                resend_request: None,
            });
        }
        return;
    }
    // Every message proves its sender alive: a silence is measured between any two.
    let me = &mut dirs[d];
    if let (Some(last), Some(interval)) = (me.last, me.interval_ns.filter(|&i| i > 0)) {
        let limit = protocol.silence_limit_ns(interval);
        if ev.ts - last.ts > limit && me.goodbye.is_none() {
            me.late_count += 1;
            if me.late.len() < MAX_APP_RECORDS {
                me.late.push(LateGap {
                    from: last,
                    to: ev,
                    interval_ns: interval,
                });
            }
        }
    }
    me.last = Some(ev);
    match e {
        AppEvent::Interval { ms, scope } => {
            let ns = (ms.min(i64::MAX as u64 / 1_000_000) * 1_000_000) as i64;
            let targets = match scope {
                Scope::Both => [Some(0), Some(1)],
                Scope::Dir(x) => [Some(usize::from(x) & 1), None],
            };
            for t in targets.into_iter().flatten() {
                dirs[t].interval_ns = (ns > 0).then_some(ns);
            }
        }
        AppEvent::Beat => {}
        AppEvent::Probe => {
            match me.last_probe {
                Some((e, false)) => {
                    me.unanswered_run += 1;
                    me.first_unanswered.get_or_insert(e);
                }
                _ => {
                    me.unanswered_run = 0;
                    me.first_unanswered = None;
                }
            }
            me.last_probe = Some((ev, false));
        }
        AppEvent::Reply => {
            if let Some((_, answered)) = dirs[p].last_probe.as_mut() {
                *answered = true;
            }
        }
        AppEvent::Goodbye { text } => {
            let text = text.map(|t| {
                let s = String::from_utf8_lossy(t);
                s.chars().take(MAX_TEXT).collect()
            });
            me.goodbye.get_or_insert((ev, text));
        }
        AppEvent::ResendRequest { .. } => {
            // It asks the peer again for what the peer's last gap skipped.
            if let Some(g) = dirs[p]
                .seq_gaps
                .iter_mut()
                .rev()
                .find(|g| g.resend_request.is_none() && g.at.ts <= ev.ts)
            {
                g.resend_request = Some(ev);
            }
        }
        AppEvent::Message | AppEvent::SequenceGap { .. } | AppEvent::Lost => {}
    }
}
