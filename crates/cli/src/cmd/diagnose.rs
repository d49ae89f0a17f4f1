//! `keepsight diagnose`: heartbeats, late beats, keep-alives and what killed each connection,
//! lined up with the application log. This module handles the command line; the flags are
//! parsed by `keepsight_diagnose::flags`, the analyses composed by
//! `keepsight_report::analyses` and the report rendered by `keepsight-diagnose`.

use super::EXIT_FAILURE;
use anyhow::Context;
use keepsight_diagnose::{AppLog, Flags, LogOptions, Options};
use keepsight_report::analyses::Analyses;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(after_long_help = "Examples:\n  \
    keepsight diagnose capture.pcapng\n  \
    keepsight diagnose capture.pcapng --log app.log --log-date 2024-03-01 --log-tz +01:00\n  \
    keepsight diagnose capture.pcap --period 45s --timeout 1s --probe 01 --reply 41 --json\n\n\
    Without options everything is inferred: heartbeat payloads, period, sender, keep-alive settings. \
    The JSON schema is documented in crates/diagnose/README.md.\n\n\
    Exit status: 0 the capture was analysed; 1 the capture is damaged (the frames before the \
    damage are still analysed); 2 usage error; 3 a file could not be read.")]
pub struct Args {
    /// Capture file: pcap or pcapng, optionally gzip-compressed.
    file: PathBuf,
    /// Print the report as JSON (stable schema) instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub(crate) analysis: Analysis,
    /// Findings shown per kind in the text report (the JSON has them all).
    #[arg(long, value_name = "N", default_value_t = 5)]
    max_per_kind: usize,
}

/// The analysis options `diagnose` and `report` share (same flags, same meaning).
#[derive(clap::Args)]
pub(crate) struct Analysis {
    /// Heartbeat period, instead of inferring it (e.g. 45s, 500ms).
    #[arg(long, value_name = "DURATION")]
    period: Option<String>,
    /// How long the heartbeat sender waits for the reply (e.g. 1s); flags slower replies.
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
    /// Heartbeat probe payload in hex (e.g. 01): only this payload is taken as the probe.
    #[arg(long, value_name = "HEX")]
    probe: Option<String>,
    /// Heartbeat reply payload in hex (e.g. 41).
    #[arg(long, value_name = "HEX")]
    reply: Option<String>,
    /// Application log to line up with the capture (ISO-8601, syslog, or HH:MM:SS lines).
    #[arg(long, value_name = "FILE")]
    pub(crate) log: Option<PathBuf>,
    /// Date of a log whose lines carry only HH:MM:SS (default: the capture's first day).
    #[arg(long, value_name = "YYYY-MM-DD")]
    log_date: Option<String>,
    /// Time zone of the log's timestamps that carry none: UTC, +HH:MM or -HH:MM (default: the
    /// zone under which the log lines up with the capture).
    #[arg(long, value_name = "ZONE")]
    log_tz: Option<String>,
    /// Extra middlebox idle timeout to compare idle gaps against, NAME=SECONDS (repeatable).
    #[arg(long, value_name = "NAME=SECONDS")]
    middlebox: Vec<String>,
    /// Compare idle gaps only against --middlebox entries, not the built-in cloud/conntrack table.
    #[arg(long)]
    no_default_middleboxes: bool,
}

/// [`options`], with the error already reported: exit 3 when the log file cannot be read, 2
/// for a bad option value (a usage error).
pub(crate) fn options_or_exit(args: &Analysis) -> Result<Options, ExitCode> {
    options(args).map_err(|e| {
        eprintln!("keepsight: {e:#}");
        if args.log.as_ref().is_some_and(|p| !p.exists()) {
            ExitCode::from(EXIT_FAILURE)
        } else {
            ExitCode::from(2)
        }
    })
}

fn options(args: &Analysis) -> anyhow::Result<Options> {
    let mut opts = Options::from_flags(&Flags {
        period: args.period.as_deref(),
        timeout: args.timeout.as_deref(),
        probe: args.probe.as_deref(),
        reply: args.reply.as_deref(),
        middleboxes: &args.middlebox,
        no_default_middleboxes: args.no_default_middleboxes,
    })?;
    if let Some(path) = &args.log {
        let text = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
        let text = String::from_utf8_lossy(&text);
        let lo = LogOptions::from_flags(args.log_date.as_deref(), args.log_tz.as_deref())?;
        opts.log = Some(AppLog::parse(&text, lo));
    }
    Ok(opts)
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
    let mut analyses = Analyses::new(opts);
    let end = super::pass(Some(&mut engine), None, |frame| {
        analyses.on_frame(frame);
    });
    let report = analyses.diagnosis(end.last_ns);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        out.write_all(report.render_text(args.max_per_kind).as_bytes())?;
    }
    out.flush()?;
    Ok(end.exit(path, "analysed"))
}
