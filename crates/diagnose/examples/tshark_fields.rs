//! Development aid, not the product: runs the diagnoser on segments that tshark dissects, so the
//! detector can be checked against real captures independently of keepsight's own engine.
//!
//!     cargo run --release -p keepsight-diagnose --example tshark_fields -- CAPTURE [--json] [--log FILE] [--log-tz +01:00]

use keepsight_diagnose::{AppLog, Diagnoser, LogOptions, Options};
use keepsight_tcp::{flag, AnalysisFlags, Segment, TcpFlags};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};

const FIELDS: &[&str] = &[
    "frame.number",
    "frame.time_epoch",
    "tcp.stream",
    "ip.src",
    "ipv6.src",
    "tcp.srcport",
    "ip.dst",
    "ipv6.dst",
    "tcp.dstport",
    "tcp.flags",
    "tcp.seq",
    "tcp.ack",
    "tcp.len",
    "tcp.payload",
    "tcp.window_size",
    "ip.ttl",
    "ipv6.hlim",
];

const FLAGS: &[(&str, u32)] = &[
    ("tcp.analysis.retransmission", flag::RETRANSMISSION),
    ("tcp.analysis.lost_segment", flag::LOST_PACKET),
    ("tcp.analysis.ack_lost_segment", flag::ACK_LOST_PACKET),
    ("tcp.analysis.keep_alive", flag::KEEP_ALIVE),
    ("tcp.analysis.duplicate_ack", flag::DUPLICATE_ACK),
    ("tcp.analysis.zero_window", flag::ZERO_WINDOW),
    ("tcp.analysis.zero_window_probe", flag::ZERO_WINDOW_PROBE),
    (
        "tcp.analysis.zero_window_probe_ack",
        flag::ZERO_WINDOW_PROBE_ACK,
    ),
    ("tcp.analysis.keep_alive_ack", flag::KEEP_ALIVE_ACK),
    ("tcp.analysis.out_of_order", flag::OUT_OF_ORDER),
    (
        "tcp.analysis.fast_retransmission",
        flag::FAST_RETRANSMISSION,
    ),
    ("tcp.analysis.window_update", flag::WINDOW_UPDATE),
    ("tcp.analysis.window_full", flag::WINDOW_FULL),
    ("tcp.analysis.reused_ports", flag::REUSED_PORTS),
    (
        "tcp.analysis.spurious_retransmission",
        flag::SPURIOUS_RETRANSMISSION,
    ),
];

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: tshark_fields CAPTURE [--json] [--log FILE] [--log-tz +HH:MM] [--period 45s] [--timeout 1s]");
        std::process::exit(2);
    };
    let mut opts = Options::default();
    let mut json = false;
    let mut log_path = None;
    let mut tz = 0i32;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--json" => json = true,
            "--log" => {
                i += 1;
                log_path = args.get(i).cloned();
            }
            "--log-tz" => {
                i += 1;
                let v = args.get(i).map(String::as_str).unwrap_or("0");
                let sign = if v.starts_with('-') { -1 } else { 1 };
                let v = v.trim_start_matches(['+', '-']);
                let (h, m) = v.split_once(':').unwrap_or((v, "0"));
                tz = sign
                    * (h.parse::<i32>().unwrap_or(0) * 3600 + m.parse::<i32>().unwrap_or(0) * 60);
            }
            "--period" => {
                i += 1;
                opts.period_ns = args
                    .get(i)
                    .and_then(|v| keepsight_diagnose::options::parse_duration(v).ok());
            }
            "--timeout" => {
                i += 1;
                opts.timeout_ns = args
                    .get(i)
                    .and_then(|v| keepsight_diagnose::options::parse_duration(v).ok());
            }
            other => eprintln!("ignored: {other}"),
        }
        i += 1;
    }
    if let Some(p) = log_path {
        let text = std::fs::read_to_string(&p).expect("read log");
        opts.logs = vec![AppLog::parse(
            &text,
            LogOptions {
                format: None,
                date: None,
                tz_offset_s: Some(tz),
            },
        )];
    }
    let mut cmd = Command::new("tshark");
    cmd.args(["-r", path, "-T", "fields", "-E", "separator=|", "-Y", "tcp"]);
    for f in FIELDS.iter().chain(FLAGS.iter().map(|(f, _)| f)) {
        cmd.args(["-e", f]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run tshark");
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut d = Diagnoser::new(opts);
    let mut last = 0i64;
    let mut payload = Vec::new();
    for line in out.lines() {
        let Ok(line) = line else { break };
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < FIELDS.len() + FLAGS.len() || f[2].is_empty() {
            continue;
        }
        let num = |s: &str| s.parse::<u64>().unwrap_or(0);
        let ts = {
            let (a, b) = f[1].split_once('.').unwrap_or((f[1], "0"));
            let frac = format!("{b:0<9}");
            a.parse::<i64>().unwrap_or(0) * 1_000_000_000 + frac[..9].parse::<i64>().unwrap_or(0)
        };
        last = last.max(ts);
        let ip = |v4: &str, v6: &str| -> IpAddr {
            if !v4.is_empty() {
                v4.parse().unwrap()
            } else {
                v6.parse().unwrap()
            }
        };
        let src = SocketAddr::new(ip(f[3], f[4]), num(f[5]) as u16);
        let dst = SocketAddr::new(ip(f[6], f[7]), num(f[8]) as u16);
        payload.clear();
        payload.extend(hex(f[13]));
        let mut analysis = 0;
        for (k, (_, bit)) in FLAGS.iter().enumerate() {
            if !f[FIELDS.len() + k].is_empty() {
                analysis |= bit;
            }
        }
        let ttl = if !f[15].is_empty() {
            num(f[15])
        } else {
            num(f[16])
        };
        d.on_segment(&Segment {
            frame: num(f[0]) as u32,
            ts_ns: ts,
            stream: num(f[2]) as u32,
            src,
            dst,
            flags: TcpFlags(u16::from_str_radix(f[9].trim_start_matches("0x"), 16).unwrap_or(0)),
            seq: num(f[10]) as u32,
            ack: num(f[11]) as u32,
            len: num(f[12]) as u32,
            payload: &payload,
            window: num(f[14]) as u32,
            ttl: ttl as u8,
            analysis: AnalysisFlags(analysis),
        });
    }
    let _ = child.wait();
    let r = d.finish(last);
    if json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap());
    } else {
        print!("{}", r.render_text(5));
    }
}
