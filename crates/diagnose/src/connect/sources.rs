//! The sources with the most connection attempts (space-saving top-k), each with the distinct
//! ports and hosts it tried and how its attempts ended: what a scan is recognized by.

use super::distinct::{ip_key, Distinct};
use super::tally::{Outcome, SOURCE_EXACT, STREAM_SAMPLE};
use rustc_hash::FxHashMap;
use std::net::{IpAddr, SocketAddr};

/// Sources tracked at once.
const K: usize = 32;

/// One tracked source; its counts start when it was last taken in.
pub(crate) struct Source {
    pub(crate) ip: IpAddr,
    /// Space-saving count (attempts, plus the count of the source it replaced).
    count: u64,
    pub(crate) attempts: u64,
    pub(crate) answered: u64,
    pub(crate) refused: u64,
    pub(crate) unanswered: u64,
    pub(crate) ports: Distinct<SOURCE_EXACT>,
    pub(crate) hosts: Distinct<SOURCE_EXACT>,
    pub(crate) first_ts: i64,
    pub(crate) last_ts: i64,
    pub(crate) streams: Vec<u32>,
}

#[derive(Default)]
pub(crate) struct Sources {
    top: Vec<Source>,
    index: FxHashMap<IpAddr, u32>,
}

impl Sources {
    pub(crate) fn attempt(&mut self, ip: IpAddr, dst: SocketAddr, stream: u32, ts: i64) {
        let i = match self.index.get(&ip) {
            Some(&i) => i as usize,
            None if self.top.len() < K => {
                self.top.push(Source {
                    ip,
                    count: 0,
                    attempts: 0,
                    answered: 0,
                    refused: 0,
                    unanswered: 0,
                    ports: Distinct::default(),
                    hosts: Distinct::default(),
                    first_ts: ts,
                    last_ts: ts,
                    streams: Vec::new(),
                });
                self.index.insert(ip, (self.top.len() - 1) as u32);
                self.top.len() - 1
            }
            None => {
                // Replace the source with the fewest attempts; it inherits that count.
                let (i, _) = self
                    .top
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| s.count)
                    .expect("K sources");
                let s = &mut self.top[i];
                self.index.remove(&s.ip);
                s.ip = ip;
                s.attempts = 0;
                s.answered = 0;
                s.refused = 0;
                s.unanswered = 0;
                s.ports.clear();
                s.hosts.clear();
                s.first_ts = ts;
                s.streams.clear();
                self.index.insert(ip, i as u32);
                i
            }
        };
        let s = &mut self.top[i];
        s.count += 1;
        s.attempts += 1;
        s.ports.insert(u128::from(dst.port()));
        s.hosts.insert(ip_key(dst.ip()));
        s.last_ts = ts;
        if s.streams.len() < STREAM_SAMPLE {
            s.streams.push(stream);
        }
    }

    pub(crate) fn outcome(&mut self, ip: IpAddr, outcome: Outcome) {
        let Some(&i) = self.index.get(&ip) else {
            return;
        };
        let s = &mut self.top[i as usize];
        match outcome {
            Outcome::Answered | Outcome::Pending => s.answered += 1,
            Outcome::Refused => s.refused += 1,
            Outcome::Unanswered => s.unanswered += 1,
        }
    }

    pub(crate) fn late_answer(&mut self, ip: IpAddr) {
        if let Some(&i) = self.index.get(&ip) {
            let s = &mut self.top[i as usize];
            if s.unanswered > 0 {
                s.unanswered -= 1;
                s.answered += 1;
            }
        }
    }

    pub(crate) fn top(&self) -> &[Source] {
        &self.top
    }
}
