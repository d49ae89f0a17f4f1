//! Compile and evaluate costs of the filters the issue benchmarks end to end (`tcp.len eq 1`,
//! `tcp.stream eq 7 and tcp.payload eq 01`, `tcp contains "abc"`, `tcp.analysis.keep_alive`),
//! over an in-memory packet so the figures are the filter's own, without capture reading.
//!
//! Run: `cargo bench -p keepsight-filter`.

use keepsight_fields::{ids, FieldId, Packet, Value};
use keepsight_filter::Filter;

fn main() {
    divan::main();
}

/// A mid-stream data segment with a 64-byte payload, answering the fields the filters read.
struct BenchPacket {
    frame: Vec<u8>,
}

impl BenchPacket {
    fn new() -> BenchPacket {
        let mut frame = vec![0u8; 54];
        frame.extend((0..64u8).map(|i| b'a' + (i % 2)));
        BenchPacket { frame }
    }
}

impl Packet for BenchPacket {
    fn visit(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
        match field {
            f if f == ids::FRAME => sink(Value::Bytes(&self.frame)),
            f if f == ids::TCP => sink(Value::Bytes(&self.frame[34..])),
            f if f == ids::TCP_LEN => sink(Value::UInt(64)),
            f if f == ids::TCP_STREAM => sink(Value::UInt(7)),
            f if f == ids::TCP_PAYLOAD => sink(Value::Bytes(&self.frame[54..])),
            f if f == ids::TCP_PORT => {
                sink(Value::UInt(40000));
                sink(Value::UInt(7777));
            }
            _ => {}
        }
    }
}

const FILTERS: &[&str] = &[
    "tcp.len eq 1",
    "tcp.stream eq 7 and tcp.payload eq 01",
    "tcp contains \"abc\"",
    "tcp.analysis.keep_alive",
    "tcp.port != 80 and tcp.payload matches \"^ab\"",
];

#[divan::bench(args = FILTERS)]
fn compile(expr: &str) -> Filter {
    Filter::compile(divan::black_box(expr)).expect("benchmark filters compile")
}

#[divan::bench(args = FILTERS)]
fn evaluate(bencher: divan::Bencher, expr: &str) {
    let f = Filter::compile(expr).expect("benchmark filters compile");
    let pkt = BenchPacket::new();
    bencher.bench_local(|| f.matches(divan::black_box(&pkt)));
}
