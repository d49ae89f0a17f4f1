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
    /// Capture file: pcap or pcapng, optionally gzip-compressed. Several files or a directory:
    /// files that continue one another (dumpcap ring-buffer names, or contiguous times) are
    /// read as one capture; the other captures are counted in parallel (see -j) and their
    /// tables printed one after the other.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    jobs: super::fleet::Jobs,
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
    if super::fleet::is_fleet(&args.files) {
        return run_fleet(args, filter);
    }
    let path = &args.files[0];
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

/// Several files or a directory: one table per capture (files that continue one another read
/// as one), `-j` at a time; the text printed as each capture is done, in capture order; the
/// JSON one document (`captures[]`, each with its files' frame spans and its table as
/// `--json` gives it for one file).
fn run_fleet(args: Args, filter: Option<keepsight_filter::Filter>) -> Outcome {
    use std::io::Write;
    let start = if args.time_format == "ad" {
        StartColumn::AbsoluteDate
    } else {
        StartColumn::Relative
    };
    let analyse = |engine: &mut keepsight_engine::Engine, _: &keepsight_fleet::Capture| {
        let mut conv = ConvPass::new(!args.tshark);
        let end = read_frames(
            Some(engine),
            |_| {},
            |frame| {
                conv.on_frame(frame, filter.as_ref().is_none_or(|f| f.matches(frame)));
            },
        );
        (conv.finish_table(end.last_ns), end)
    };
    let mut tables = Vec::new();
    let to_terminal = {
        use std::io::IsTerminal;
        std::io::stdout().is_terminal()
    };
    let status = super::fleet::run(
        &super::fleet::plan(&args.files, args.jobs.jobs)?,
        args.jobs.jobs,
        &None,
        to_terminal,
        analyse,
        |result| {
            if args.json {
                let rows: Vec<Row> = result
                    .report
                    .as_ref()
                    .map_or(Vec::new(), |t| t.rows().collect());
                tables.push((result, rows));
                return Ok(());
            }
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            out.write_all(keepsight_fleet::heading(&result).as_bytes())?;
            if let Some(table) = &result.report {
                write_text(
                    &mut out,
                    table.rows(),
                    args.filter.as_deref(),
                    !args.tshark,
                    start,
                )?;
                writeln!(out)?;
            }
            out.flush()?;
            Ok(())
        },
    )?;
    if args.json {
        let document = keepsight_fleet::Document {
            schema: 1,
            captures: tables
                .iter()
                .map(|(r, rows)| keepsight_fleet::CaptureResult {
                    capture: r.capture.clone(),
                    joined: r.joined,
                    files: r.files.clone(),
                    error: r.error.clone(),
                    report: r.report.as_ref().map(|_| Document::new(rows)),
                })
                .collect(),
        };
        super::print_report(Some(&document), String::new)?;
    }
    Ok(status)
}
