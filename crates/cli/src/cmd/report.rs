//! `keepsight report`: the diagnosis of a capture as one self-contained HTML page (summary and
//! findings first, then per-stream timelines, heartbeat interval charts, HTTP connections and
//! the conversation table). One streaming pass feeds `keepsight_report::html::ReportPass`, which
//! runs the same analyses as `diagnose` (plus the conversation table and the timeline sketches)
//! and builds the page; this module handles the command line and the output file.

use super::diagnose::{options, Analysis};
use crate::outcome::Outcome;
use anyhow::Context;
use keepsight_report::html::ReportPass;
use keepsight_report::read::read_frames;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(after_long_help = include_str!("../../help/report-after.txt"))]
pub struct Args {
    /// Capture file: pcap or pcapng, optionally gzip-compressed. Several files or a directory
    /// that continue one another (dumpcap ring-buffer names, or contiguous times) are read as
    /// one capture; a page draws one capture (use diagnose for independent ones).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Where to write the HTML page ("-" for standard output).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    #[command(flatten)]
    analysis: Analysis,
    /// Streams drawn in detail (timeline and heartbeat chart); the others are only in the tables.
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=100))]
    max_streams: u32,
    /// Save the packets of each stream a finding names to DIR/stream-N.pcapng (created if
    /// missing; at most 100 streams, most severe findings first).
    #[arg(long, value_name = "DIR")]
    evidence: Option<PathBuf>,
}

pub fn run(args: Args) -> Outcome {
    if super::fleet::is_fleet(&args.files) {
        return run_set(args);
    }
    let opts = options(&args.analysis)?;
    let path = &args.files[0];
    let mut engine = super::open_capture_keyed(path, &opts.tls_keys)?;
    // Create the output before the (possibly long) pass, so a bad path fails at once.
    let to_stdout = args.output.as_os_str() == "-";
    let mut out: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        let file = std::fs::File::create(&args.output);
        Box::new(file.with_context(|| format!("{}", args.output.display()))?)
    };
    let progress = {
        use std::io::IsTerminal;
        super::progress_bar(
            engine.reader().len_hint(),
            to_stdout && std::io::stdout().is_terminal(),
        )
    };
    let mut pass = ReportPass::new(opts, args.max_streams as usize);
    let at = |offset| {
        if let Some(p) = &progress {
            p.set_position(offset);
        }
    };
    let end = read_frames(Some(&mut engine), at, |frame| pass.on_frame(frame));
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let page = pass.finish(&path.display().to_string(), &end);
    out.write_all(page.html.as_bytes())
        .and_then(|_| out.flush())
        .with_context(|| format!("{}", args.output.display()))?;
    if !to_stdout {
        eprintln!(
            "keepsight: wrote {} ({} bytes): {} findings, {} streams drawn",
            args.output.display(),
            page.html.len(),
            page.findings,
            page.streams_drawn
        );
    }
    if let Some(dir) = &args.evidence {
        let files = super::diagnose::save_evidence(path, page.finding_streams.clone(), dir)?;
        eprintln!(
            "keepsight: wrote the packets of {} finding stream(s) to {}",
            files.len(),
            dir.display()
        );
    }
    super::warn_undecrypted(path, &engine);
    super::outcome(&end, path, "analysed")
}

/// Several files or a directory that make one capture: the page of the set read as one
/// capture (frame numbers global, as `mergecap -a` numbers them).
fn run_set(args: Args) -> Outcome {
    use crate::outcome::Failure;
    let captures = super::fleet::plan(&args.files, 0)?;
    if captures.len() != 1 {
        let names: Vec<&str> = captures.iter().map(|c| c.name.as_str()).collect();
        return Err(Failure::usage(anyhow::anyhow!(
            "a report draws one capture, and these files make {}: {} (diagnose takes \
             several captures)",
            captures.len(),
            names.join(", ")
        )));
    }
    if args.evidence.is_some() {
        return Err(Failure::usage(anyhow::anyhow!(
            "--evidence takes one capture file"
        )));
    }
    let opts = options(&args.analysis)?;
    let keys = opts.tls_keys.clone();
    let to_stdout = args.output.as_os_str() == "-";
    let mut out: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        let file = std::fs::File::create(&args.output);
        Box::new(file.with_context(|| format!("{}", args.output.display()))?)
    };
    let analyse = |engine: &mut keepsight_engine::Engine, capture: &keepsight_fleet::Capture| {
        let mut pass = ReportPass::new(opts.clone(), args.max_streams as usize);
        let end = read_frames(Some(engine), |_| {}, |frame| pass.on_frame(frame));
        (pass.finish(&capture.name, &end), end)
    };
    let output_on_terminal = {
        use std::io::IsTerminal;
        to_stdout && std::io::stdout().is_terminal()
    };
    super::fleet::run(&captures, 1, &keys, output_on_terminal, analyse, |result| {
        let Some(page) = result.report else {
            return Ok(());
        };
        out.write_all(page.html.as_bytes())
            .and_then(|_| out.flush())
            .with_context(|| format!("{}", args.output.display()))?;
        if !to_stdout {
            eprintln!(
                "keepsight: wrote {} ({} bytes): {} findings, {} streams drawn",
                args.output.display(),
                page.html.len(),
                page.findings,
                page.streams_drawn
            );
        }
        Ok(())
    })
}
