//! The hot path promise: evaluating the common filter shapes allocates nothing per packet.
//! A counting global allocator (per thread, so the test harness's own threads do not interfere)
//! measures `Filter::matches` after one warm-up call (a regex may fill its cache once).

use keepsight_fields::{ids, FieldId, Packet, Value};
use keepsight_filter::Filter;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every request is passed unchanged to the system allocator, which upholds
// GlobalAlloc's contract; counting touches only a thread-local Cell, which does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's layout obligations are forwarded as they are.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, i.e. from the system allocator, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Segment {
    frame: Vec<u8>,
}

impl Packet for Segment {
    fn visit(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
        match field {
            f if f == ids::FRAME => sink(Value::Bytes(&self.frame)),
            f if f == ids::TCP => sink(Value::Bytes(&self.frame[34..])),
            f if f == ids::TCP_LEN => sink(Value::UInt(self.frame.len() as u64 - 54)),
            f if f == ids::TCP_STREAM => sink(Value::UInt(7)),
            f if f == ids::TCP_PAYLOAD => sink(Value::Bytes(&self.frame[54..])),
            f if f == ids::TCP_PORT => {
                sink(Value::UInt(40000));
                sink(Value::UInt(7777));
            }
            f if f == ids::IP_ADDR => {
                sink(Value::Ipv4([10, 0, 0, 1]));
                sink(Value::Ipv4([10, 0, 0, 2]));
            }
            f if f == ids::ETH_SRC => sink(Value::Ether([2, 0, 0, 0, 0, 1])),
            f if f == ids::TCP_ANALYSIS_KEEP_ALIVE => sink(Value::Present),
            _ => {}
        }
    }
}

#[test]
fn matching_common_filters_does_not_allocate() {
    let mut frame = vec![0u8; 54];
    frame.extend_from_slice(b"\x01xxabcxx");
    let pkt = Segment { frame };
    for expr in [
        "tcp.len eq 1",
        "tcp.stream eq 7 and tcp.payload eq 01",
        "tcp contains \"abc\"",
        "tcp.analysis.keep_alive",
        "tcp.port != 80 and ip.addr == 10.0.0.0/8",
        "tcp.payload[0:2] == 01:78 or eth.src == 02:00:00:00:00:01",
        "tcp.port in {80, 7000..8000}",
        "tcp.payload matches \"^.xxa\"",
        "not tcp.flags.reset and len(tcp.payload) > 3",
    ] {
        let f = Filter::compile(expr).expect("compiles");
        let warm = f.matches(&pkt);
        let before = ALLOCS.with(Cell::get);
        let mut hits = 0;
        for _ in 0..100 {
            hits += usize::from(f.matches(&pkt));
        }
        let allocs = ALLOCS.with(Cell::get) - before;
        assert_eq!(
            allocs, 0,
            "`{expr}` allocated {allocs} times in 100 evaluations"
        );
        assert_eq!(
            hits,
            if warm { 100 } else { 0 },
            "`{expr}` is deterministic"
        );
    }

    // Control: a multi-range slice builds a new byte string, so the counter must see it.
    let f = Filter::compile("tcp.payload[0:1,2:1] == 01:78").expect("compiles");
    let before = ALLOCS.with(Cell::get);
    assert!(f.matches(&pkt));
    assert!(
        ALLOCS.with(Cell::get) > before,
        "the allocation counter counts"
    );
}
