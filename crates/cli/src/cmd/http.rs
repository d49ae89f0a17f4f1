//! `keepsight http`: HTTP/1.x keep-alive analysis of a capture — per connection who closed it
//! and why (idle timeout, request limit, reuse race, ...), per message the framing verdict.
//! The passes are `keepsight_report::analyses`', the analysis and both renderings (text,
//! JSON) `keepsight-http`'s; this module handles the command line and prints.

use crate::outcome::Outcome;
use keepsight_report::analyses::{http_analysis, streams_where};
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(after_long_help = include_str!("../../help/http-after.txt"))]
pub struct Args {
    /// Capture file: pcap or pcapng, optionally gzip-compressed. Several files or a directory:
    /// files that continue one another (dumpcap ring-buffer names, or contiguous times) are
    /// read as one capture; the other captures are analysed in parallel (see -j) and reported
    /// one after the other.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    jobs: super::fleet::Jobs,
    /// Print the report as JSON (every message, every connection) instead of text; times are
    /// RFC 3339 UTC, durations seconds (`_s`), as in every keepsight JSON.
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
    #[command(flatten)]
    keys: super::TlsKeys,
}

pub fn run(args: Args) -> Outcome {
    if super::fleet::is_fleet(&args.files) {
        return run_fleet(args);
    }
    let path = &args.files[0];
    let filter = super::compile_filter(args.filter.as_deref(), "invalid display filter:\n")?;
    let keys = args.keys.load()?;
    // With -Y: a first pass finds the streams with a matching frame.
    let streams = match &filter {
        None => None,
        Some(f) => Some(streams_where(
            &mut *super::open_capture_keyed(path, &keys)?,
            |frame| f.matches(frame),
        )),
    };
    let mut engine = super::open_capture_keyed(path, &keys)?;
    let (report, end) = http_analysis(&mut engine, args.json || args.all, |stream| {
        args.stream.is_none_or(|s| s == stream)
            && streams.as_ref().is_none_or(|set| set.contains(&stream))
    });
    let json = args
        .json
        .then(|| keepsight_http::json::Document::new(&report));
    super::print_report(json.as_ref(), || {
        let name = path.display().to_string();
        keepsight_http::text::render_text(&report, &name, args.all, args.max_connections)
    })?;
    super::warn_undecrypted(path, &engine);
    super::outcome(&end, path, "analysed")
}

/// Several files or a directory: one analysis per capture (files that continue one another
/// read as one), `-j` at a time; the text printed as each capture is done, in capture order;
/// the JSON one document (`captures[]`, each with its files' frame spans and its report as
/// `--json` gives it for one file).
fn run_fleet(args: Args) -> Outcome {
    use std::io::Write;
    let filter = super::compile_filter(args.filter.as_deref(), "invalid display filter:\n")?;
    let keys = args.keys.load()?;
    let analyse = |engine: &mut keepsight_engine::Engine, capture: &keepsight_fleet::Capture| {
        let streams = filter.as_ref().map(|f| {
            super::fleet::reopen(capture, &keys)
                .map(|mut again| streams_where(&mut again, |frame| f.matches(frame)))
                .unwrap_or_default()
        });
        http_analysis(engine, args.json || args.all, |stream| {
            args.stream.is_none_or(|s| s == stream)
                && streams.as_ref().is_none_or(|set| set.contains(&stream))
        })
    };
    let mut reports = Vec::new();
    let to_terminal = {
        use std::io::IsTerminal;
        std::io::stdout().is_terminal()
    };
    let status = super::fleet::run(
        &super::fleet::plan(&args.files, args.jobs.jobs)?,
        args.jobs.jobs,
        &keys,
        to_terminal,
        analyse,
        |result| {
            if args.json {
                reports.push(result);
                return Ok(());
            }
            let mut out = std::io::stdout().lock();
            out.write_all(keepsight_fleet::heading(&result).as_bytes())?;
            if let Some(report) = &result.report {
                let text = keepsight_http::text::render_text(
                    report,
                    &result.capture,
                    args.all,
                    args.max_connections,
                );
                out.write_all(text.as_bytes())?;
                writeln!(out)?;
            }
            out.flush()?;
            Ok(())
        },
    )?;
    if args.json {
        let document = keepsight_fleet::Document {
            schema: 1,
            captures: reports
                .iter()
                .map(|r| keepsight_fleet::CaptureResult {
                    capture: r.capture.clone(),
                    joined: r.joined,
                    files: r.files.clone(),
                    error: r.error.clone(),
                    report: r.report.as_ref().map(keepsight_http::json::Document::new),
                })
                .collect(),
        };
        super::print_report(Some(&document), String::new)?;
    }
    Ok(status)
}
