//! `keepsight watch`: the diagnosis of live traffic, alerting as things happen. This module
//! handles the command line and the output; the sources are `keepsight-live`'s, the loop and
//! its alerts `keepsight-watch`'s.

use crate::outcome::{Failure, Outcome, Status};
use keepsight_live::{CaptureOptions, Event, Live, LiveError};
use keepsight_watch::exec::Exec;
use keepsight_watch::metrics;
use keepsight_watch::{Alert, Watch, WatchOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// How long the loop waits for a packet before it looks at the clock.
const TICK: Duration = Duration::from_millis(100);

#[derive(clap::Args)]
#[command(after_long_help = include_str!("../../help/watch-after.txt"))]
pub struct Args {
    /// Interface to capture on through libpcap (`any` for all); repeatable. Needs root or the
    /// CAP_NET_RAW capability.
    #[arg(
        short = 'i',
        value_name = "IFACE",
        required_unless_present = "read",
        conflicts_with = "read"
    )]
    interface: Vec<String>,
    /// Read a pcap or pcapng stream instead: `-` for standard input (`tcpdump -w - | keepsight
    /// watch -r -`), or a file (replayed on its own clock).
    #[arg(short = 'r', value_name = "FILE")]
    read: Option<PathBuf>,
    /// Capture filter, in tcpdump's BPF syntax (e.g. "tcp port 7000").
    #[arg(short = 'f', value_name = "BPF", requires = "interface")]
    filter: Option<String>,
    /// Bytes kept of each packet.
    #[arg(short = 's', value_name = "SNAPLEN", default_value_t = 262_144)]
    snaplen: u32,
    /// One JSON object per alert and line (the fields of diagnose's findings, and `trigger`).
    #[arg(long)]
    json: bool,
    /// Command run by `sh -c` for each alert, with the alert's JSON on its standard input.
    #[arg(long, value_name = "CMD")]
    exec: Option<String>,
    /// How long packets stay in memory for the evidence (e.g. 5m, 30s).
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    keep: String,
    /// The most memory the kept packets take: bytes, or with K, M or G (binary units).
    #[arg(long, value_name = "SIZE", default_value = "256M")]
    keep_bytes: String,
    /// Write each alert's packets (its streams, from before to a little after) to
    /// DIR/alert-N-KIND.pcapng (created if missing); the alert names its file.
    #[arg(long, value_name = "DIR")]
    evidence: Option<PathBuf>,
    /// Serve the counts (packets, alerts by kind, open streams, the ring, libpcap's received
    /// and dropped) in Prometheus's text format at http://ADDR/metrics, e.g. 127.0.0.1:9108.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
    #[command(flatten)]
    analysis: super::diagnose::Analysis,
}

/// `256M`, `64K`, `1G`, `1000`: a size in bytes.
fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (digits, shift) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 10),
        Some((i, 'M' | 'm')) => (&s[..i], 20),
        Some((i, 'G' | 'g')) => (&s[..i], 30),
        _ => (s, 0),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size (bytes, or a number with K, M or G)"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Opens live interfaces (`watch -i`, `packets -i`): a capture filter that does not compile is a
/// usage error, missing rights or a missing interface a failure to run.
pub(crate) fn open_interfaces(
    interfaces: &[String],
    filter: Option<String>,
    snap_len: u32,
) -> Result<Live, Failure> {
    keepsight_live::open_interfaces(&CaptureOptions {
        interfaces: interfaces.to_vec(),
        filter,
        snap_len,
    })
    .map_err(|e| match e {
        LiveError::Filter { .. } => Failure::usage(anyhow::anyhow!(e)),
        _ => Failure::cannot_run(anyhow::anyhow!(e)),
    })
}

fn open(args: &Args) -> Result<Live, Failure> {
    let Some(p) = &args.read else {
        return open_interfaces(&args.interface, args.filter.clone(), args.snaplen);
    };
    let opened = match keepsight_report::is_stdin(p) {
        true => keepsight_live::open_stream(Box::new(std::io::stdin())),
        false => keepsight_live::open_file(p),
    };
    let name = p.display();
    // Not a capture, or damaged: a problem found (exit 1); unreadable: could not run (exit 3).
    opened.map_err(|e| match e {
        LiveError::Stream(ref c)
            if !matches!(c.kind, keepsight_engine::capture::ErrorKind::Io(_)) =>
        {
            Failure::problem(anyhow::anyhow!("{name}: {e}"))
        }
        _ => Failure::cannot_run(anyhow::anyhow!("{name}: {e}")),
    })
}

pub fn run(args: Args) -> Outcome {
    let diagnosis = super::diagnose::options(&args.analysis)?;
    let keep_ns = keepsight_diagnose::options::parse_duration(&args.keep)
        .map_err(|why| Failure::usage(anyhow::anyhow!("--keep {:?}: {why}", args.keep)))?;
    let keep_bytes = parse_size(&args.keep_bytes)
        .map_err(|why| Failure::usage(anyhow::anyhow!("--keep-bytes: {why}")))?;
    let opts = WatchOptions {
        keep_ns,
        keep_bytes,
        evidence: args.evidence.clone(),
        ..WatchOptions::default()
    };
    let mut live = open(&args)?;
    let mut watch = Watch::new(diagnosis, opts)?;
    keepsight_live::stop_on_signals()?;
    let mut exec = args.exec.clone().map(Exec::new);
    let published = match args.metrics {
        Some(addr) => {
            let p = metrics::Published::default();
            let bound = metrics::serve(addr, p.clone())
                .map_err(|e| Failure::cannot_run(anyhow::anyhow!("--metrics {addr}: {e}")))?;
            eprintln!("keepsight watch: metrics at http://{bound}/metrics");
            Some(p)
        }
        None => None,
    };
    let pcap_counts = |live: &Live| {
        let s = live.stats();
        args.read.is_none().then_some((s.received, s.dropped))
    };
    let mut published_at = std::time::Instant::now();
    let mut alerts: Vec<Alert> = Vec::new();
    let mut out = std::io::stdout().lock();
    let mut damage = None;
    loop {
        if keepsight_live::stop_requested() {
            break;
        }
        match live.next(TICK) {
            Some(Event::Interface(i, iface)) => watch.interface(i, &iface),
            Some(Event::Packet(p)) => {
                watch.packet(&p, &mut alerts);
                live.recycle(p.data);
            }
            Some(Event::End(e)) => {
                if e.is_some() {
                    damage = e;
                }
                if live.ended() {
                    break;
                }
            }
            None if live.ended() => break,
            None => watch.tick(&mut alerts),
        }
        emit(&mut out, &mut alerts, args.json, exec.as_mut())?;
        for w in watch.take_warnings() {
            eprintln!("keepsight watch: warning: {w}");
        }
        if let Some(p) = &published {
            if published_at.elapsed() >= Duration::from_secs(1) {
                published_at = std::time::Instant::now();
                p.set(metrics::render(&watch.summary(), pcap_counts(&live)));
            }
        }
    }
    let stats = live.stats();
    let summary = match args.read {
        Some(_) => watch.finish(&mut alerts),
        None => watch.finish_now(&mut alerts),
    };
    if let Some(p) = &published {
        p.set(metrics::render(&summary, pcap_counts(&live)));
    }
    emit(&mut out, &mut alerts, args.json, exec.as_mut())?;
    if let Some(e) = exec.as_mut() {
        e.wait_all();
    }
    let mut err = std::io::stderr().lock();
    if args.json {
        let mut v: serde_json::Value = serde_json::from_str(&summary.json())?;
        v["summary"]["pcap_received"] = stats.received.into();
        v["summary"]["pcap_dropped"] = stats.dropped.into();
        writeln!(err, "{v}")?;
    } else {
        write!(err, "{}", summary.text())?;
        if args.read.is_none() {
            writeln!(
                err,
                "  libpcap: {} received, {} dropped",
                stats.received, stats.dropped
            )?;
        }
    }
    match damage {
        Some(e) => Err(Failure::problem(anyhow::anyhow!(
            "{}: {e} (the packets before it were watched)",
            args.read
                .as_ref()
                .map_or("capture".into(), |p| p.display().to_string())
        ))),
        None => Ok(Status::Success),
    }
}

/// Prints each alert on its own line (flushed: whoever reads the output sees it now) and runs
/// `--exec` for it.
fn emit(
    out: &mut impl Write,
    alerts: &mut Vec<Alert>,
    json: bool,
    mut exec: Option<&mut Exec>,
) -> Result<(), Failure> {
    if alerts.is_empty() {
        return Ok(());
    }
    for a in alerts.drain(..) {
        let line = if json { a.json() } else { a.text() };
        writeln!(out, "{line}")?;
        if let Some(e) = exec.as_deref_mut() {
            let j = if json { line } else { a.json() };
            if let Err(err) = e.run(&j) {
                eprintln!("keepsight watch: warning: --exec: {err}");
            }
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("M").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }
}
