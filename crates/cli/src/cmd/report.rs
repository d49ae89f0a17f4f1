//! `keepsight report`: the diagnosis of a capture as one self-contained HTML page (summary and
//! findings first, then per-stream timelines, heartbeat interval charts, HTTP connections and
//! the conversation table). One streaming pass feeds `keepsight_report::html::ReportPass`, which
//! runs the same analyses as `diagnose` (plus the conversation table and the timeline sketches)
//! and builds the page; this module handles the command line and the output file.

use super::diagnose::{options_or_exit, Analysis};
use super::EXIT_FAILURE;
use anyhow::Context;
use keepsight_report::html::{PassInfo, ReportPass};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(after_long_help = "Examples:\n  \
    keepsight report capture.pcapng -o report.html\n  \
    keepsight report capture.pcapng --log app.log --log-date 2024-03-01 -o report.html\n\n\
    The page needs no network: styles, script and charts are inside the file. It opens with what \
    happened (what reset which connection and why), then every finding with a link to its \
    evidence on the stream's timeline, then per-stream timelines (packets, heartbeats with the \
    late ones in red, TCP keep-alive probes, SYN/FIN/RST, idle gaps against middlebox timeouts, \
    matched log lines), heartbeat interval charts, HTTP connections and framing faults, and a \
    sortable conversation table.\n\n\
    Whatever the capture's size the page stays small: --max-streams streams are drawn in detail \
    (those the findings name first), packet counts are bucketed, heartbeat intervals merged \
    keeping the longest; the page says what it left out.\n\n\
    Exit status: 0 the report was written; 1 the capture is damaged (the report covers the frames \
    before the damage and is still written); 2 usage error; 3 a file could not be read or written.")]
pub struct Args {
    /// Capture file: pcap or pcapng, optionally gzip-compressed.
    file: PathBuf,
    /// Where to write the HTML page ("-" for standard output).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    #[command(flatten)]
    analysis: Analysis,
    /// Streams drawn in detail (timeline and heartbeat chart); the others are only in the tables.
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=100))]
    max_streams: u32,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = match options_or_exit(&args.analysis) {
        Ok(o) => o,
        Err(code) => return Ok(code),
    };
    let path = &args.file;
    let mut engine = match super::open_capture(path) {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    // Create the output before the (possibly long) pass, so a bad path fails at once.
    let to_stdout = args.output.as_os_str() == "-";
    let mut out_file = if to_stdout {
        None
    } else {
        match std::fs::File::create(&args.output) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("keepsight: {}: {e}", args.output.display());
                return Ok(ExitCode::from(EXIT_FAILURE));
            }
        }
    };
    let progress = progress_bar(engine.reader().len_hint(), &args.output);
    let mut pass = ReportPass::new(opts, args.max_streams as usize);
    let end = super::pass(Some(&mut engine), progress.as_ref(), |frame| {
        pass.on_frame(frame);
    });
    let file = path.display().to_string();
    let page = pass.finish(PassInfo {
        file: &file,
        first_ns: end.first_ns,
        last_ns: end.last_ns,
        damage: end.damage.as_ref().map(|e| e.to_string()),
    });
    let written = match out_file.as_mut() {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(page.html.as_bytes())
                .and_then(|_| out.flush())
        }
        Some(f) => f.write_all(page.html.as_bytes()).and_then(|_| f.flush()),
    };
    if let Err(e) = written.with_context(|| format!("{}", args.output.display())) {
        eprintln!("keepsight: {e:#}");
        return Ok(ExitCode::from(EXIT_FAILURE));
    }
    if !to_stdout {
        eprintln!(
            "keepsight: wrote {} ({} bytes): {} findings, {} streams drawn",
            args.output.display(),
            page.html.len(),
            page.findings,
            page.streams_drawn
        );
    }
    Ok(end.exit(path, "analysed"))
}

/// A progress bar on stderr for big files, only when stderr is a terminal (the page goes to a
/// file, or to a stdout that is then not a terminal).
fn progress_bar(total: Option<u64>, output: &std::path::Path) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    let total = total?;
    if !std::io::stderr().is_terminal()
        || (output.as_os_str() == "-" && std::io::stdout().is_terminal())
        || total < (64 << 20)
    {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}
