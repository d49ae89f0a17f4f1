//! Baselines for the whole-process benchmark (benches/README.md):
//!
//! `walk raw FILE`    — the bare loop: map the file and hop from one classic-pcap record header
//!                      to the next, touching nothing else (the speed of light for reading).
//! `walk reader FILE` — the same walk through `CaptureReader` (format detection, bounds and
//!                      damage checks, time stamp conversion).
//!
//! Both print the number of records and the bytes of packet data seen.

use keepsight_capture::CaptureReader;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, path) = match (args.get(1), args.get(2)) {
        (Some(m), Some(p)) => (m.as_str(), p.as_str()),
        _ => {
            eprintln!("usage: walk raw|reader FILE");
            std::process::exit(2);
        }
    };
    let start = Instant::now();
    let (records, bytes) = match mode {
        "raw" => raw(path),
        "reader" => {
            let mut r = CaptureReader::open(path).expect("capture opens");
            let (mut n, mut b) = (0u64, 0u64);
            while let Some(rec) = r.next_record().expect("capture reads") {
                n += 1;
                b += rec.data.len() as u64;
            }
            (n, b)
        }
        _ => {
            eprintln!("mode must be raw or reader");
            std::process::exit(2);
        }
    };
    eprintln!(
        "{mode}: {records} records, {bytes} bytes in {:.3} s",
        start.elapsed().as_secs_f64()
    );
}

fn raw(path: &str) -> (u64, u64) {
    let file = std::fs::File::open(path).expect("file opens");
    // SAFETY: read-only map of a file nobody modifies during the benchmark.
    let map = unsafe { memmap2::Mmap::map(&file) }.expect("file maps");
    let mut pos = 24usize;
    let (mut n, mut b) = (0u64, 0u64);
    while pos + 16 <= map.len() {
        let caplen =
            u32::from_le_bytes([map[pos + 8], map[pos + 9], map[pos + 10], map[pos + 11]]) as usize;
        pos += 16 + caplen;
        n += 1;
        b += caplen as u64;
    }
    (n, b)
}
