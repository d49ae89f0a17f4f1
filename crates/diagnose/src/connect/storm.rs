//! Retry runs: per (client address, server endpoint), the client's attempts in order and how
//! each ended. When an attempt gets through after [`MIN_FAILED`] or more failed ones in a row,
//! or a run of failures stops (a gap of [`MAX_GAP_NS`], or the end of the capture), that run is
//! a reconnect storm.
//!
//! An attempt's outcome may be known out of order (a refusal at once, silence only seconds
//! later), so a run is judged only once every attempt before the one that got through has
//! ended: parallel connections opened together never look like retries.

use super::tally::Outcome;
use rustc_hash::FxHashMap;
use std::net::IpAddr;

/// Failed attempts in a row that make a storm.
pub(crate) const MIN_FAILED: usize = 3;
/// Attempts further apart than this are not one run of retries.
pub(crate) const MAX_GAP_NS: i64 = 60_000_000_000;
/// (client, server endpoint) pairs followed at once.
pub(crate) const KEYS: usize = 1 << 15;
/// Attempts kept per pair (older ones are only counted).
const RING: usize = 64;
/// Storms kept (more are counted).
const STORMS: usize = 4096;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt {
    pub(crate) ts: i64,
    pub(crate) stream: u32,
    pub(crate) frame: u32,
    pub(crate) outcome: Outcome,
}

#[derive(Default)]
struct Run {
    attempts: Vec<Attempt>,
    /// Failed attempts dropped from the front of a full ring.
    dropped: u32,
    first_ts: Option<i64>,
    last_ts: i64,
}

/// One reconnect storm.
pub(crate) struct StormRecord {
    pub(crate) client: IpAddr,
    pub(crate) endpoint: u32,
    /// The failed attempts (the first [`RING`] kept).
    pub(crate) failed: Vec<Attempt>,
    pub(crate) failed_count: u32,
    pub(crate) first_ts: i64,
    pub(crate) success: Option<Attempt>,
}

#[derive(Default)]
pub(crate) struct Retries {
    runs: FxHashMap<(IpAddr, u32), Run>,
    storms: Vec<StormRecord>,
    pub(crate) untracked: u64,
    pub(crate) storms_dropped: u64,
}

impl Retries {
    pub(crate) fn attempt(
        &mut self,
        client: IpAddr,
        endpoint: u32,
        stream: u32,
        frame: u32,
        ts: i64,
    ) {
        let key = (client, endpoint);
        if !self.runs.contains_key(&key) && self.runs.len() >= KEYS {
            self.untracked += 1;
            return;
        }
        let run = self.runs.entry(key).or_default();
        if !run.attempts.is_empty() && ts - run.last_ts > MAX_GAP_NS {
            let mut run = std::mem::take(run);
            close(&mut run, key, &mut self.storms, &mut self.storms_dropped);
            self.runs.insert(key, run);
        }
        let run = self.runs.entry(key).or_default();
        if run.attempts.len() == RING {
            run.attempts.remove(0);
            run.dropped += 1;
        }
        if run.attempts.is_empty() && run.dropped == 0 {
            run.first_ts = Some(ts);
        }
        run.attempts.push(Attempt {
            ts,
            stream,
            frame,
            outcome: Outcome::Pending,
        });
        run.last_ts = ts;
    }

    pub(crate) fn outcome(&mut self, client: IpAddr, endpoint: u32, stream: u32, outcome: Outcome) {
        let key = (client, endpoint);
        let Some(run) = self.runs.get_mut(&key) else {
            return;
        };
        let Some(a) = run.attempts.iter_mut().rev().find(|a| a.stream == stream) else {
            return;
        };
        a.outcome = outcome;
        settle(run, key, &mut self.storms, &mut self.storms_dropped);
    }

    /// Closes the runs whose last attempt is older than [`MAX_GAP_NS`] and forgets them.
    pub(crate) fn sweep(&mut self, now: i64) {
        let storms = &mut self.storms;
        let dropped = &mut self.storms_dropped;
        self.runs.retain(|&key, run| {
            let idle = now - run.last_ts > MAX_GAP_NS;
            let settled = run.attempts.iter().all(|a| a.outcome != Outcome::Pending);
            if idle && settled {
                close(run, key, storms, dropped);
                false
            } else {
                true
            }
        });
    }

    /// Closes every run (attempts still pending are failures by now).
    pub(crate) fn finish(&mut self) {
        let mut keys: Vec<(IpAddr, u32)> = self.runs.keys().copied().collect();
        keys.sort_unstable();
        for key in keys {
            if let Some(mut run) = self.runs.remove(&key) {
                for a in &mut run.attempts {
                    if a.outcome == Outcome::Pending {
                        a.outcome = Outcome::Unanswered;
                    }
                }
                settle(&mut run, key, &mut self.storms, &mut self.storms_dropped);
                close(&mut run, key, &mut self.storms, &mut self.storms_dropped);
            }
        }
        self.storms.sort_by_key(|s| (s.first_ts, s.endpoint));
    }

    pub(crate) fn storms(&self) -> &[StormRecord] {
        &self.storms
    }
}

fn record(
    storms: &mut Vec<StormRecord>,
    dropped: &mut u64,
    key: (IpAddr, u32),
    run: &Run,
    failed: &[Attempt],
    success: Option<Attempt>,
) {
    let count = failed.len() + run.dropped as usize;
    if count < MIN_FAILED {
        return;
    }
    if storms.len() >= STORMS {
        *dropped += 1;
        return;
    }
    storms.push(StormRecord {
        client: key.0,
        endpoint: key.1,
        failed: failed.to_vec(),
        failed_count: count as u32,
        first_ts: run
            .first_ts
            .unwrap_or_else(|| failed.first().map_or(0, |a| a.ts)),
        success,
    });
}

/// Judges every attempt that got through once all the attempts before it have ended.
fn settle(run: &mut Run, key: (IpAddr, u32), storms: &mut Vec<StormRecord>, dropped: &mut u64) {
    loop {
        let Some(i) = run
            .attempts
            .iter()
            .position(|a| a.outcome == Outcome::Answered)
        else {
            return;
        };
        if run.attempts[..i]
            .iter()
            .any(|a| a.outcome == Outcome::Pending)
        {
            return;
        }
        let success = run.attempts[i];
        record(storms, dropped, key, run, &run.attempts[..i], Some(success));
        run.attempts.drain(..=i);
        run.dropped = 0;
        run.first_ts = run.attempts.first().map(|a| a.ts);
    }
}

/// Ends a run: its failures so far are a storm that did not get through (when enough).
fn close(run: &mut Run, key: (IpAddr, u32), storms: &mut Vec<StormRecord>, dropped: &mut u64) {
    let failed: Vec<Attempt> = run
        .attempts
        .iter()
        .copied()
        .filter(|a| matches!(a.outcome, Outcome::Refused | Outcome::Unanswered))
        .collect();
    if !failed.is_empty() {
        record(storms, dropped, key, run, &failed, None);
    }
    run.attempts.clear();
    run.dropped = 0;
    run.first_ts = None;
}
