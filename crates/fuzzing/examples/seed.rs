//! Writes seed inputs for every fuzz target from the repository's captures and test inputs,
//! in each target's layout: `cargo run -p keepsight-fuzzing --example seed -- OUT_DIR`
//! (then `OUT_DIR/TARGET/` per target). `benches/fuzz.sh` minimizes them into the committed
//! corpus; the seeds themselves are not committed.

use keepsight_engine::capture::CaptureReader;
use keepsight_engine::Engine;
use keepsight_fuzzing::input::SegmentSpec;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest seed written: the fuzzers' inputs stay small, and so does the corpus.
const MAX_SEED: usize = 32 * 1024;

struct Seeds {
    out: PathBuf,
    count: BTreeMap<&'static str, usize>,
}

impl Seeds {
    fn put(&mut self, target: &'static str, data: &[u8]) {
        let data = &data[..data.len().min(MAX_SEED)];
        let dir = self.out.join(target);
        std::fs::create_dir_all(&dir).expect("creating the seed directory");
        // Named by content, so repeated seeds collapse.
        let h = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        std::fs::write(dir.join(format!("{h:016x}")), data).expect("writing a seed");
        *self.count.entry(target).or_default() += 1;
    }
}

/// Every file under `dir` (recursively) that git would see, skipping build output.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "target" || name == "fuzz" || name == "golden" {
            continue;
        }
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// One TCP stream's payload segments: (from the side that did not open it, payload).
type Stream = Vec<(bool, Vec<u8>, bool, bool)>;

fn streams(path: &Path) -> Vec<Stream> {
    let Ok(mut engine) = Engine::open(path) else {
        return Vec::new();
    };
    let mut by_stream: BTreeMap<u32, (std::net::SocketAddr, Stream)> = BTreeMap::new();
    while let Ok(Some(frame)) = engine.next_frame() {
        let Some(s) = frame.segment() else { continue };
        let entry = by_stream.entry(s.stream).or_insert((s.src, Vec::new()));
        let fin = s.flags.0 & keepsight_engine::wire::TcpFlags::FIN != 0;
        let rst = s.flags.0 & keepsight_engine::wire::TcpFlags::RST != 0;
        if !s.payload.is_empty() || fin || rst {
            entry
                .1
                .push((s.src != entry.0, s.payload.to_vec(), fin, rst));
        }
    }
    by_stream.into_values().map(|(_, s)| s).collect()
}

fn conversation(stream: &Stream) -> Vec<u8> {
    let mut out = Vec::new();
    for (server, payload, fin, rst) in stream.iter().take(60) {
        SegmentSpec {
            from_server: *server,
            fin: *fin,
            rst: *rst,
            gap_before: false,
            step: 6,
            payload,
        }
        .write(&mut out);
    }
    out
}

fn one_side(stream: &Stream, server: bool) -> Vec<u8> {
    stream
        .iter()
        .filter(|s| s.0 == server)
        .flat_map(|s| s.1.iter().copied())
        .take(MAX_SEED)
        .collect()
}

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'x' if i + 3 < b.len() => {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap_or("00");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                    i += 2;
                }
                c => out.push(c),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: seed OUT_DIR"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut seeds = Seeds {
        out,
        count: BTreeMap::new(),
    };
    let mut all = Vec::new();
    files(&root.join("tests"), &mut all);
    files(&root.join("crates"), &mut all);
    for path in &all {
        let name = path.to_string_lossy();
        let bytes = std::fs::read(path).unwrap_or_default();
        let is_capture = [".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz"]
            .iter()
            .any(|e| name.ends_with(e));
        if is_capture {
            seeds.put("capture", &bytes);
            let mut cut = vec![0u8];
            cut.extend_from_slice(&bytes[..bytes.len().min(MAX_SEED)]);
            seeds.put("capture_gzip", &cut);
            dissect_seed(&mut seeds, path);
            for s in streams(path).iter().take(8) {
                let conv = conversation(s);
                seeds.put("http_exchange", &conv);
                seeds.put("diagnose_stream", &conv);
                let client = one_side(s, false);
                let server = one_side(s, true);
                if keepsight_tls::record::starts_handshake(&client) {
                    seeds.put("tls_records", &client);
                    seeds.put("tls_records", &server);
                }
                if client.starts_with(keepsight_h2::preface::CLIENT_PREFACE) {
                    seeds.put("h2_frames", &[&[1u8][..], &client].concat());
                    seeds.put("h2_frames", &[&[0u8][..], &server].concat());
                }
                if keepsight_apps::recognize(&client).is_some() {
                    seeds.put("apps", &[&[0u8][..], &conv].concat());
                }
                if keepsight_http::starts_like_message(&server) {
                    seeds.put("http_framing", &server);
                    seeds.put("probe_response", &[&[0u8][..], &server].concat());
                }
                if keepsight_http::starts_with_method(&client) {
                    seeds.put("proxy_request", &client);
                }
            }
        } else if name.ends_with(".log") {
            seeds.put("diagnose_log", &[&[0u8, 0][..], &bytes].concat());
            if let Some(line) = bytes.split(|&c| c == b'\n').next() {
                seeds.put("durations", line);
            }
        } else if name.contains("keylog") && name.ends_with(".txt") {
            seeds.put("tls_records", &bytes);
        } else if name.ends_with("tests/filters/accept.txt")
            || name.ends_with("tests/filters/reject.txt")
            || name.ends_with("tests/filters/random.txt")
            || name.ends_with("tests/filters/known-diffs.txt")
        {
            for line in String::from_utf8_lossy(&bytes).lines() {
                let line = line.split('\t').next().unwrap_or("");
                if !line.trim().is_empty() && !line.starts_with('#') {
                    seeds.put("filter", line.as_bytes());
                }
            }
        } else if name.ends_with("framing-cases.tsv") {
            for line in String::from_utf8_lossy(&bytes).lines() {
                if line.starts_with('#') || line.is_empty() {
                    continue;
                }
                let cols: Vec<&str> = line.split('\t').collect();
                let Some(resp) = cols.get(1) else { continue };
                let resp = unescape(resp);
                seeds.put("http_framing", &resp);
                seeds.put("probe_response", &[&[0u8][..], &resp].concat());
                // The same framing on a request.
                if let Some(head_end) = resp.iter().position(|&c| c == b'\n') {
                    let request = [
                        &b"POST /x HTTP/1.1\r\nHost: a"[..],
                        &resp[head_end.saturating_sub(1)..],
                    ]
                    .concat();
                    seeds.put("proxy_request", &request);
                }
                if let Some(end) = resp.windows(4).position(|w| w == b"\r\n\r\n") {
                    seeds.put("http_framing", &resp[end + 4..]);
                }
                let mut conv = Vec::new();
                for (server, payload) in [
                    (false, &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..]),
                    (true, &resp[..]),
                ] {
                    SegmentSpec {
                        from_server: server,
                        fin: server,
                        rst: false,
                        gap_before: false,
                        step: 3,
                        payload,
                    }
                    .write(&mut conv);
                }
                seeds.put("http_exchange", &conv);
            }
        }
    }
    for s in [
        "1.5s",
        "500ms",
        "30m",
        "1h30m",
        "1h 30m",
        "2d",
        "250us",
        "45",
        "1m30",
        "0s",
        "on",
        "off",
        "30m::10",
        "60:10:3",
        "::",
        "2026-12-07T19:18:00.123456Z",
        "2026-12-07T19:18:00+05:30",
        "Dec  7 19:18:00",
        "[07/Dec/2026:19:18:00 +0000]",
        "Mon Dec  7 19:18:00 2026",
        "1733598000.123",
    ] {
        seeds.put("durations", s.as_bytes());
    }
    for (target, n) in &seeds.count {
        println!("{target}\t{n}");
    }
}

/// The first frames of a capture in the `dissect` layout, plain and with each decode-as rule
/// on the first TCP port seen.
fn dissect_seed(seeds: &mut Seeds, path: &Path) {
    let Ok(mut reader) = CaptureReader::open(path) else {
        return;
    };
    let mut by_link: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    let mut port = 0u16;
    while let Ok(Some(r)) = reader.next_record() {
        let Some(k) = keepsight_fuzzing::LINK_TYPES
            .iter()
            .position(|&l| l == r.link_type)
        else {
            continue;
        };
        let seed = by_link
            .entry(r.link_type)
            .or_insert_with(|| vec![k as u8, 0, 0, 0]);
        if seed.len() + r.data.len() + 3 > MAX_SEED {
            continue;
        }
        seed.extend_from_slice(&(r.data.len() as u16).to_le_bytes());
        seed.push(1);
        seed.extend_from_slice(r.data);
        if port == 0 {
            port = tcp_dst_port(r.data).unwrap_or(0);
        }
    }
    for (_, mut seed) in by_link {
        seeds.put("dissect", &seed);
        if port != 0 {
            for rule in 1..=5u8 {
                seed[1] = rule;
                seed[2..4].copy_from_slice(&port.to_le_bytes());
                seeds.put("dissect", &seed);
            }
        }
    }
}

/// The TCP destination port of an Ethernet/IPv4 frame, if it is one.
fn tcp_dst_port(frame: &[u8]) -> Option<u16> {
    if frame.get(12..14)? != [8, 0] || *frame.get(23)? != 6 {
        return None;
    }
    let ihl = usize::from(frame.get(14)? & 0x0f) * 4;
    let tcp = 14 + ihl;
    Some(u16::from_be_bytes([
        *frame.get(tcp + 2)?,
        *frame.get(tcp + 3)?,
    ]))
}
