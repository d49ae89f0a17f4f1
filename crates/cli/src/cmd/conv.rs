//! `keepsight conv`: tshark's `-z conv,tcp` table with the columns tshark lacks (how each
//! conversation ended, longest idle gap, heartbeat period). The table is built by
//! `keepsight_report::conv::ConvPass`; this module reads the capture and prints.

use keepsight_filter::Filter;
use keepsight_report::conv::{render_text, ConvPass, StartColumn};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(after_long_help = "Examples:\n  \
    keepsight conv capture.pcap\n  \
    keepsight conv capture.pcap --tshark        # exactly tshark -q -z conv,tcp\n  \
    keepsight conv capture.pcap -Y 'tcp.port eq 7777' --json\n\n\
    Columns up to Duration are tshark 4.0.17's (`tshark -q -z conv,tcp`): frames and bytes \
    (frame lengths) per direction, `->` from the left endpoint (the first sender), rows by \
    total frames. keepsight adds: Ended (first RST, else first FIN, and which side, A = left), \
    Longest idle (seconds between two consecutive frames of the conversation) and Heartbeat \
    period (as `keepsight diagnose` measures it).\n\n\
    Exit status: 0 read to the end; 1 the capture is damaged (the table covers the frames \
    before the damage); 2 usage error; 3 the file could not be read.")]
pub struct Args {
    /// Capture file: pcap or pcapng, optionally gzip-compressed.
    file: PathBuf,
    /// Count only frames matching this display filter (tshark's `-z conv,tcp,FILTER`).
    #[arg(short = 'Y', long = "display-filter", value_name = "FILTER")]
    filter: Option<String>,
    /// Print only tshark's columns.
    #[arg(long)]
    tshark: bool,
    /// Start column: r (seconds since the first frame, default) or ad (local date and time),
    /// as tshark's -t.
    #[arg(short = 't', value_name = "FORMAT", default_value = "r", value_parser = ["r", "ad"])]
    time_format: String,
    /// JSON (one object per conversation, all numbers unformatted).
    #[arg(long, conflicts_with = "tshark")]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let filter = match args.filter.as_deref().map(Filter::compile).transpose() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("keepsight: -Y: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let path = &args.file;
    let mut engine = match super::open_engine(path) {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    let mut conv = ConvPass::new(!args.tshark);
    let end = super::pass(engine.as_deref_mut(), None, |frame| {
        conv.on_frame(frame, filter.as_ref().is_none_or(|f| f.matches(frame)));
    });
    let rows = conv.finish(end.last_ns);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
    } else {
        let start = if args.time_format == "ad" {
            StartColumn::AbsoluteDate
        } else {
            StartColumn::Relative
        };
        let text = render_text(&rows, args.filter.as_deref(), !args.tshark, start);
        out.write_all(text.as_bytes())?;
    }
    out.flush()?;
    Ok(end.exit(path, "counted"))
}
