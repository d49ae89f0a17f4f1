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
    /// Capture file: pcap or pcapng, optionally gzip-compressed.
    file: PathBuf,
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
    let path = &args.file;
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
