//! `keepsight conv`: tshark's `-z conv,tcp` table with the columns tshark lacks (how each
//! conversation ended, longest idle gap, heartbeat period). The table is built by
//! `keepsight_report::conv::ConvPass`; this module reads the capture and prints.

use crate::outcome::Outcome;
use keepsight_report::conv::{write_text, ConvPass, Document, Row, StartColumn};
use keepsight_report::read::read_frames;
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(after_long_help = include_str!("../../help/conv-after.txt"))]
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
    /// JSON (schema 2: one object per conversation under `conversations`, times RFC 3339 UTC,
    /// durations in seconds).
    #[arg(long, conflicts_with = "tshark")]
    json: bool,
}

pub fn run(args: Args) -> Outcome {
    let filter = super::compile_filter(args.filter.as_deref(), "-Y: ")?;
    let path = &args.file;
    let mut engine = super::open_engine(path)?;
    let mut conv = ConvPass::new(!args.tshark);
    let end = read_frames(
        engine.as_deref_mut(),
        |_| {},
        |frame| {
            conv.on_frame(frame, filter.as_ref().is_none_or(|f| f.matches(frame)));
        },
    );
    let table = conv.finish_table(end.last_ns);
    let start = if args.time_format == "ad" {
        StartColumn::AbsoluteDate
    } else {
        StartColumn::Relative
    };
    // The text is written row by row; only the JSON document holds every row at once.
    let rows: Vec<Row> = if args.json {
        table.rows().collect()
    } else {
        Vec::new()
    };
    let json = args.json.then(|| Document::new(&rows));
    super::write_report(json.as_ref(), |out| {
        write_text(
            out,
            table.rows(),
            args.filter.as_deref(),
            !args.tshark,
            start,
        )
    })?;
    super::outcome(&end, path, "counted")
}
