//! A moment in a stream that findings point at: which frame, when, which direction, and the
//! TTL it arrived with (the unit the per-stream state and the protocol watches record).

/// One segment's place: frame number, time, direction, TTL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    pub frame: u32,
    pub ts: i64,
    pub dir: u8,
    pub ttl: u8,
}
