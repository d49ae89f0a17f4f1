//! `keepsight http`: HTTP/1.x keep-alive analysis of a capture — per connection who closed it
//! and why (idle timeout, request limit, reuse race, ...), per message the framing verdict.
//! This module feeds engine frames (as `keepsight_tcp::Segment`) to the analyzer and prints; the analysis is in
//! `keepsight-http`.

use super::EXIT_PROBLEMS;
use keepsight_http::report::{close_text, estimate_text, secs, verdict_text};
use keepsight_http::{Analyzer, Close, Connection, Kind, Options, Report};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(after_long_help = "Examples:\n  \
    keepsight http capture.pcapng\n  \
    keepsight http capture.pcapng --stream 4 --all\n  \
    keepsight http capture.pcapng -Y 'tcp.port == 8080'\n  \
    keepsight http capture.pcap --json\n\n\
    HTTP is recognised by content (any port). Framing follows RFC 9112; unlike tshark 4.0, a \
    response whose body is shorter than its Content-Length is reported, not hidden.\n\n\
    Exit status: 0 the capture was analysed; 1 the capture is damaged (the frames before the \
    damage are still analysed); 2 usage error; 3 the file could not be read.")]
pub struct Args {
    /// Capture file: pcap or pcapng, optionally gzip-compressed.
    file: PathBuf,
    /// Print the report as JSON (every message, every connection) instead of text.
    #[arg(long)]
    json: bool,
    /// Only this TCP stream (tcp.stream).
    #[arg(long, value_name = "N")]
    stream: Option<u32>,
    /// Only connections with at least one frame matching this display filter (Wireshark
    /// syntax), e.g. 'tcp.port == 8080' or 'ip.addr == 10.0.0.1'. Whole connections are
    /// analysed, never single frames (reassembly needs every segment); costs a second read.
    #[arg(short = 'Y', long = "display-filter", value_name = "FILTER")]
    filter: Option<String>,
    /// List every message of the shown connections, not only faulty ones.
    #[arg(long)]
    all: bool,
    /// Connections listed in the text report (problem connections first; JSON has all).
    #[arg(long, value_name = "N", default_value_t = 50)]
    max_connections: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let path = &args.file;
    // With -Y: a first pass finds the streams with a matching frame.
    let streams: Option<HashSet<u32>> = match &args.filter {
        None => None,
        Some(expr) => {
            let filter = match keepsight_filter::Filter::compile(expr) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("keepsight: invalid display filter:\n{e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let mut engine = match super::open_capture(path) {
                Ok(e) => e,
                Err(code) => return Ok(code),
            };
            let mut set = HashSet::new();
            // A read error here shows up again (and is reported) in the main pass.
            while let Ok(Some(frame)) = engine.next_frame() {
                if let Some(tcp) = frame.tcp.as_ref() {
                    if !set.contains(&tcp.stream) && filter.matches(&frame) {
                        set.insert(tcp.stream);
                    }
                }
            }
            Some(set)
        }
    };
    let mut engine = match super::open_capture(path) {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    let mut a = Analyzer::new(Options {
        keep_all_messages: args.json || args.all,
    });
    let mut damage = None;
    loop {
        let frame = match engine.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                damage = Some(e);
                break;
            }
        };
        let Some(tcp) = frame.tcp.as_ref() else {
            continue;
        };
        if args.stream.is_some_and(|s| s != tcp.stream)
            || streams
                .as_ref()
                .is_some_and(|set| !set.contains(&tcp.stream))
        {
            continue;
        }
        if let Some(segment) = frame.segment() {
            a.segment(&segment);
        }
    }
    let report = a.finish();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        let name = path.display().to_string();
        out.write_all(render_text(&report, &name, args.all, args.max_connections).as_bytes())?;
    }
    out.flush()?;
    if let Some(e) = damage {
        eprintln!(
            "keepsight: {}: {e} (the frames before it were analysed)",
            path.display()
        );
        return Ok(ExitCode::from(EXIT_PROBLEMS));
    }
    Ok(ExitCode::SUCCESS)
}

/// Problem connections first: reuse races, faulty messages, resets, mid-exchange closes.
fn severity(c: &Connection) -> u8 {
    match c.close {
        Close::ReuseRace { .. } => 0,
        _ if c.faulty_count > 0 => 1,
        Close::Reset { .. }
        | Close::ServerClosedMidExchange { .. }
        | Close::ClientGaveUp { .. } => 2,
        Close::ServerIdleTimeout { .. } | Close::ServerRequestLimit { .. } => 3,
        _ => 4,
    }
}

fn render_text(r: &Report, file: &str, all: bool, max: usize) -> String {
    let mut s = String::new();
    let reqs: u64 = r.connections.iter().map(|c| u64::from(c.requests)).sum();
    let resps: u64 = r.connections.iter().map(|c| u64::from(c.responses)).sum();
    let _ = writeln!(
        s,
        "HTTP keep-alive analysis of {file}: {} connection(s), {reqs} request(s), {resps} response(s), {} faulty message(s)",
        r.connections.len(),
        r.faulty_messages
    );
    if r.connections.is_empty() {
        s.push_str("No HTTP/1.x traffic found.\n");
        return s;
    }
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &r.connections {
        *kinds.entry(c.close.kind_name()).or_default() += 1;
    }
    s.push_str("How connections ended: ");
    let parts: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    s.push_str(&parts.join(", "));
    s.push('\n');

    if !r.servers.is_empty() {
        s.push_str("\nServer keep-alive settings (estimated from how the servers closed)\n");
        for e in &r.servers {
            for line in estimate_text(e) {
                let _ = writeln!(s, "  {}  {line}", e.server);
            }
        }
    }

    let mut order: Vec<&Connection> = r.connections.iter().collect();
    order.sort_by_key(|c| (severity(c), c.stream));
    let shown: Vec<&Connection> = {
        let mut v: Vec<&Connection> = order.into_iter().take(max).collect();
        v.sort_by_key(|c| c.stream);
        v
    };
    let _ = writeln!(
        s,
        "\nConnections{}",
        if shown.len() < r.connections.len() {
            format!(
                " ({} of {}, problems first; --max-connections for more, --json for all)",
                shown.len(),
                r.connections.len()
            )
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        s,
        "  {:>6}  {:<45} {:<8} {:>8}  {:>9}  {:<}",
        "stream", "client -> server", "version", "req/resp", "max idle", "end"
    );
    for c in &shown {
        let _ = writeln!(
            s,
            "  {:>6}  {:<45} HTTP/1.{} {:>8}  {:>9}  {}",
            c.stream,
            format!("{} -> {}", c.client, c.server),
            c.version,
            format!("{}/{}", c.requests, c.responses),
            if c.idle_gaps_ns.is_empty() {
                "-".to_string()
            } else {
                secs(c.max_idle_ns)
            },
            c.close.kind_name()
        );
        let _ = writeln!(s, "          why: {}", close_text(&c.close));
        let _ = writeln!(
            s,
            "          headers: {}{}",
            c.connection_header
                .as_deref()
                .map(|h| format!("Connection: {h} — "))
                .unwrap_or_default(),
            c.persistence
        );
        if !c.saw_syn {
            s.push_str("          note: the capture began after this connection opened\n");
        }
        for m in &c.messages {
            let faulty = !m.verdicts.is_empty();
            if !(faulty || all) {
                continue;
            }
            let frames = if m.frame != 0 {
                format!("frames {}-{}", m.first_frame, m.frame)
            } else {
                format!("frames {}- (unfinished)", m.first_frame)
            };
            let pair = match (m.kind, m.request_in, m.response_in) {
                (Kind::Response, Some(f), _) => format!("  (request in frame {f})"),
                (Kind::Request, _, Some(f)) => format!("  (response in frame {f})"),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "          #{} {}  {}{pair}",
                m.number,
                m.line().trim_end(),
                frames
            );
            for v in &m.verdicts {
                let _ = writeln!(s, "             -> {}", verdict_text(m, v));
            }
        }
    }
    if !r.findings.is_empty() {
        s.push_str("\nFindings (the kinds `keepsight diagnose` will report)\n");
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &r.findings {
            *by.entry(f.kind.name()).or_default() += 1;
        }
        for (k, n) in by {
            let _ = writeln!(s, "  {k}: {n}");
        }
    }
    s.push_str(&keepsight_http::report::reuse_race_advice_text(r));
    s
}
