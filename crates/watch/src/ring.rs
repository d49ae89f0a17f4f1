//! The evidence ring: the last packets (as the pcapng blocks the engine read), each with its
//! TCP stream, dropped oldest first past an age and a byte budget.

use std::collections::VecDeque;
use std::io::Write;

struct Entry {
    ts_ns: i64,
    stream: Option<u32>,
    block: Vec<u8>,
}

/// Packets of the last `keep_ns`, at most `keep_bytes` of them.
pub(crate) struct Ring {
    keep_ns: i64,
    keep_bytes: usize,
    entries: VecDeque<Entry>,
    bytes: usize,
    /// The latest time pushed: what age is measured from.
    latest_ns: i64,
}

impl Ring {
    pub(crate) fn new(keep_ns: i64, keep_bytes: usize) -> Self {
        Ring {
            keep_ns,
            keep_bytes,
            entries: VecDeque::new(),
            bytes: 0,
            latest_ns: i64::MIN,
        }
    }

    /// Keeps a copy of `block`, reusing the buffer of the oldest packet when it goes.
    pub(crate) fn push(&mut self, ts_ns: i64, stream: Option<u32>, block: &[u8]) {
        self.latest_ns = self.latest_ns.max(ts_ns);
        let mut spare = None;
        while !self.entries.is_empty() && self.bytes + block.len() > self.keep_bytes {
            spare = self.pop();
        }
        if block.len() > self.keep_bytes {
            return;
        }
        let mut buf = spare.unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(block);
        self.bytes += buf.len();
        self.entries.push_back(Entry {
            ts_ns,
            stream,
            block: buf,
        });
        self.expire(self.latest_ns);
    }

    fn pop(&mut self) -> Option<Vec<u8>> {
        let e = self.entries.pop_front()?;
        self.bytes -= e.block.len();
        Some(e.block)
    }

    /// Drops the packets older than the ring keeps at `now_ns`.
    pub(crate) fn expire(&mut self, now_ns: i64) {
        let limit = now_ns.saturating_sub(self.keep_ns);
        while self.entries.front().is_some_and(|e| e.ts_ns < limit) {
            self.pop();
        }
    }

    /// The time of the oldest packet kept.
    pub(crate) fn oldest_ns(&self) -> Option<i64> {
        self.entries.front().map(|e| e.ts_ns)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Writes the blocks of the packets of `streams`, oldest first.
    pub(crate) fn write_streams(
        &self,
        streams: &[u32],
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        for e in &self.entries {
            if e.stream.is_some_and(|s| streams.contains(&s)) {
                out.write_all(&e.block)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_within_age_and_bytes() {
        let mut r = Ring::new(10, 100);
        for t in 0..20 {
            r.push(t, Some((t % 2) as u32), &[t as u8; 20]);
        }
        // 100 bytes hold five packets of 20: the last five.
        assert_eq!((r.len(), r.bytes(), r.oldest_ns()), (5, 100, Some(15)));
        let mut out = Vec::new();
        r.write_streams(&[1], &mut out).unwrap();
        assert_eq!(out, [[15u8; 20], [17; 20], [19; 20]].concat());
        r.expire(28);
        assert_eq!((r.len(), r.oldest_ns()), (2, Some(18)));
        // Bigger than the budget: not kept at all.
        r.push(30, None, &[0; 101]);
        assert_eq!(r.len(), 0);
    }
}
