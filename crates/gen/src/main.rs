//! `keepsight-gen`: writes a deterministic synthetic capture and, optionally, its ground truth.

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use std::time::Instant;

/// Write a deterministic synthetic capture (heartbeats, TCP keep-alive, HTTP keep-alive, HTTPS
/// keep-alive and heartbeats inside TLS, bulk transfers with loss, resets) and its ground truth.
#[derive(Parser)]
#[command(name = "keepsight-gen", version)]
struct Args {
    /// Frames to write (exactly).
    #[arg(long)]
    packets: u64,
    /// Seed: the same arguments always give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Capture file to write.
    #[arg(long)]
    out: PathBuf,
    /// Write pcapng instead of pcap.
    #[arg(long)]
    pcapng: bool,
    /// Span, in seconds, the traffic is sized for [default: the shape's; estate 10800].
    #[arg(long)]
    duration: Option<u64>,
    /// What to generate: estate (the default mix), syn-flood, short-http (see the README).
    #[arg(long, default_value = "estate", value_parser = shape_names())]
    shape: String,
    /// Keep-alive idle time in seconds [default: 7200, or 2/3 of a shorter duration].
    #[arg(long)]
    ka_idle: Option<u64>,
    /// Keep-alive interval in seconds [default: 75, scaled with a shortened idle time].
    #[arg(long)]
    ka_interval: Option<u64>,
    /// Also write the ground truth as JSON to this file.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Print what was written to stderr.
    #[arg(long)]
    stats: bool,
}

fn shape_names() -> clap::builder::PossibleValuesParser {
    keepsight_gen::shapes::SCENARIOS
        .iter()
        .map(|s| clap::builder::PossibleValue::new(s.name).help(s.about))
        .collect::<Vec<_>>()
        .into()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scenario =
        keepsight_gen::shapes::scenario(&args.shape).expect("clap accepts only scenario names");
    let config = keepsight_gen::Config {
        packets: args.packets,
        seed: args.seed,
        duration_s: args.duration.unwrap_or(scenario.default_duration_s),
        pcapng: args.pcapng,
        keepalive_idle_s: args.ka_idle,
        keepalive_interval_s: args.ka_interval,
        shape: scenario.name,
    };
    let started = Instant::now();
    let truth = keepsight_gen::generate_file(&config, &args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    if let Some(path) = &args.truth {
        let json = serde_json::to_vec_pretty(&truth)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.stats {
        let c = &truth.counts;
        let span = (truth.last_time_us - truth.first_time_us) as f64 / 1e6;
        eprintln!(
            "{} frames, {} streams, {span:.0} s, in {:.2} s; keep-alive {} / ACK {}, dup ACK {}, \
             fast retrans {}, RTO retrans {}, RST {}, heartbeats {}+{}, HTTP {} requests / {} responses, \
             TLS {} ClientHellos / {} cleartext alerts / heartbeats {}+{}",
            c.frames,
            truth.connections.len(),
            started.elapsed().as_secs_f64(),
            c.keep_alive,
            c.keep_alive_ack,
            c.duplicate_ack,
            c.fast_retransmission,
            c.rto_retransmission,
            c.rst,
            c.heartbeat_probes,
            c.heartbeat_replies,
            c.http_requests,
            c.http_responses,
            c.tls_client_hellos,
            c.tls_cleartext_alerts,
            c.tls_heartbeat_probes,
            c.tls_heartbeat_replies,
        );
        let mut by_shape = std::collections::BTreeMap::<String, (u64, u64)>::new();
        for conn in &truth.connections {
            let e = by_shape.entry(format!("{:?}", conn.shape())).or_default();
            e.0 += 1;
            e.1 += conn.counts.frames;
        }
        for (shape, (conns, frames)) in by_shape {
            eprintln!(
                "  {shape:<12} {conns:>7} streams {frames:>10} frames ({:.1} %)",
                100.0 * frames as f64 / c.frames as f64
            );
        }
    }
    Ok(())
}
