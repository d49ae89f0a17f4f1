//! `keepsight diagnose`: heartbeats, late beats, keep-alives and what killed each connection,
//! lined up with the application log. This module handles the command line; the flags are
//! parsed by `keepsight_diagnose::flags`, the analyses composed by
//! `keepsight_report::analyses` and the report rendered by `keepsight-diagnose`.

use crate::outcome::{Failure, Outcome};
use anyhow::Context;
use keepsight_diagnose::{AppLog, Flags, Listing, LogOptions, Options};
use keepsight_report::analyses::Analyses;
use keepsight_report::read::read_frames;
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(after_long_help = include_str!("../../help/diagnose-after.txt"))]
pub struct Args {
    /// Capture file: pcap or pcapng, optionally gzip-compressed. Several files or a directory:
    /// files that continue one another (dumpcap ring-buffer names, or contiguous times) are
    /// read as one capture; the other captures are analysed in parallel (see -j) and reported
    /// one after the other.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print the report as JSON (stable schema) instead of text.
    #[arg(long, conflicts_with = "ndjson")]
    json: bool,
    /// Stream the findings as JSON lines (one object per finding: the fields of --json's
    /// findings plus `capture` and `file`), for log pipelines.
    #[arg(long)]
    ndjson: bool,
    #[command(flatten)]
    jobs: super::fleet::Jobs,
    #[command(flatten)]
    pub(crate) analysis: Analysis,
    /// Findings shown per kind in the text report (the JSON has them all).
    #[arg(long, value_name = "N", default_value_t = 5)]
    max_per_kind: usize,
    /// Save the packets of each stream a finding names to DIR/stream-N.pcapng (created if
    /// missing; at most 100 streams, most severe findings first); each finding names its files.
    #[arg(long, value_name = "DIR")]
    evidence: Option<PathBuf>,
    #[command(flatten)]
    tables: super::tables::TableArgs,
}

/// The analysis options `diagnose` and `report` share (same flags, same meaning).
#[derive(clap::Args)]
pub(crate) struct Analysis {
    #[command(flatten)]
    pub(crate) keys: super::TlsKeys,
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
    /// Application log to line up with the capture; repeatable (client and server logs, each
    /// with its own zone and clock offset). Formats are recognized line by line: see below.
    #[arg(long, value_name = "FILE")]
    pub(crate) log: Vec<PathBuf>,
    /// Date of a log whose lines carry only HH:MM:SS (default: the capture's first day). Once
    /// for every --log, or once per --log in order.
    #[arg(long, value_name = "YYYY-MM-DD")]
    log_date: Vec<String>,
    /// Time zone of the log's timestamps that carry none: UTC, +HH:MM or -HH:MM (default: the
    /// zone under which the log lines up with the capture). Once, or once per --log.
    // A zone west of UTC starts with '-' (`--log-tz -03:00`): a value, not an option.
    #[arg(long, value_name = "ZONE", allow_hyphen_values = true)]
    log_tz: Vec<String>,
    /// Read the log in this format only, when detection is unsure (names below). Once, or
    /// once per --log.
    #[arg(long, value_name = "NAME")]
    log_format: Vec<String>,
    /// Extra middlebox idle timeout to compare idle gaps against, NAME=DURATION, e.g.
    /// corp-nat=350s (repeatable).
    #[arg(long, value_name = "NAME=DURATION")]
    middlebox: Vec<String>,
    /// Compare idle gaps only against --middlebox entries, not the built-in cloud/conntrack table.
    #[arg(long)]
    no_default_middleboxes: bool,
    /// Take a TCP port's streams as a protocol from their first byte, as tshark's -d:
    /// tcp.port==PORT,http2 (HTTP/2 is also recognized by its preface on any port) (repeatable).
    #[arg(short = 'd', value_name = "tcp.port==PORT,PROTOCOL")]
    decode_as: Vec<String>,
}

/// The analysis options the flags ask for, with the application log read: a bad option value
/// is a usage error (exit 2), a log that cannot be read a failure to run (exit 3).
pub(crate) fn options(args: &Analysis) -> Result<Options, Failure> {
    let mut opts = Options::from_flags(&Flags {
        period: args.period.as_deref(),
        timeout: args.timeout.as_deref(),
        probe: args.probe.as_deref(),
        reply: args.reply.as_deref(),
        middleboxes: &args.middlebox,
        no_default_middleboxes: args.no_default_middleboxes,
    })
    .map_err(Failure::usage)?;
    let rules = keepsight_report::packets::decode_as::parse(&args.decode_as)
        .map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
    opts.http2_ports = rules
        .tcp_ranges(keepsight_engine::decode_as::AppProtocol::Http2)
        .collect();
    opts.websocket_ports = rules
        .tcp_ranges(keepsight_engine::decode_as::AppProtocol::WebSocket)
        .collect();
    opts.tls_keys = args.keys.load()?;
    let log_options = LogOptions::per_log(
        args.log.len(),
        &args.log_date,
        &args.log_tz,
        &args.log_format,
    )
    .map_err(Failure::usage)?;
    for (path, o) in args.log.iter().zip(log_options) {
        let log = AppLog::read(path, o).with_context(|| format!("{}", path.display()))?;
        opts.logs.push(log);
    }
    Ok(opts)
}

pub fn run(args: Args) -> Outcome {
    if args.ndjson || super::fleet::is_fleet(&args.files) {
        if args.tables.wanted() {
            return Err(Failure::usage(anyhow::anyhow!(
                "--parquet takes one capture file, without --ndjson (run diagnose --parquet once per capture: the tables of many runs share DIR)"
            )));
        }
        return run_fleet(args);
    }
    let mut opts = options(&args.analysis)?;
    let path = &args.files[0];
    let mut tables = args.tables.start(path, &mut opts)?;
    let mut engine = super::open_capture_keyed(path, &opts.tls_keys)?;
    // The text names no stream that has nothing to tell; the JSON and the tables list them all.
    let every = args.json || args.tables.wanted();
    let mut analyses = Analyses::new(opts);
    if !every {
        analyses = analyses.lists_notable();
    }
    if tables.is_some() {
        analyses = analyses.records_isns();
    }
    let end = read_frames(
        Some(&mut engine),
        |_| {},
        |frame| {
            let segment = analyses.on_frame(frame);
            if let Some(t) = &mut tables {
                t.on_frame(frame, segment.as_ref().map(|(s, _)| s));
            }
        },
    );
    let isns = analyses.take_isns();
    let listing = if every {
        Listing::Every
    } else {
        Listing::Notable { also: &|_| false }
    };
    let mut report = analyses.diagnosis(end.last_ns, listing);
    if let Some(dir) = &args.evidence {
        let streams: Vec<u32> = report.findings.iter().flat_map(|f| f.streams()).collect();
        let files = save_evidence(path, streams, dir)?;
        for f in &mut report.findings {
            let mut named: Vec<String> = Vec::new();
            for s in f.streams() {
                if let Some(p) = files.get(&s).map(|p| p.display().to_string()) {
                    if !named.contains(&p) {
                        named.push(p);
                    }
                }
            }
            f.evidence = named;
        }
    }
    if let Some(t) = tables {
        let first_interface = engine.reader().interfaces().first();
        t.finish(
            &report,
            &isns,
            first_interface.and_then(|i| i.name.as_deref()),
        )?;
    }
    let json = args.json.then_some(&report);
    super::print_report(json, || report.render_text(args.max_per_kind))?;
    super::warn_undecrypted(path, &engine);
    super::outcome(&end, path, "analysed")
}

/// Several files, a directory, or `--ndjson`: one diagnosis per capture (files that continue
/// one another read as one), `-j` at a time; text and NDJSON printed as each capture is done,
/// in capture order; JSON as one document (`captures[]`, each with its files' frame spans and
/// its diagnosis as `--json` gives it for one file).
fn run_fleet(args: Args) -> Outcome {
    use std::io::Write;
    if args.evidence.is_some() {
        return Err(Failure::usage(anyhow::anyhow!(
            "--evidence takes one capture file, without --ndjson"
        )));
    }
    let opts = options(&args.analysis)?;
    let keys = opts.tls_keys.clone();
    let every = args.json || args.ndjson;
    let analyse = |engine: &mut keepsight_engine::Engine, _: &keepsight_fleet::Capture| {
        let mut analyses = Analyses::new(opts.clone());
        if !every {
            analyses = analyses.lists_notable();
        }
        let end = read_frames(
            Some(engine),
            |_| {},
            |frame| {
                analyses.on_frame(frame);
            },
        );
        let listing = if every {
            Listing::Every
        } else {
            Listing::Notable { also: &|_| false }
        };
        (analyses.diagnosis(end.last_ns, listing), end)
    };
    let mut documents = Vec::new();
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
            let mut out = std::io::stdout().lock();
            if args.json {
                documents.push(result);
            } else if args.ndjson {
                if let Some(report) = &result.report {
                    for f in &report.findings {
                        let first = f.frames.first().map(|&n| u64::from(n));
                        let at = first.map(|n| keepsight_fleet::locate(&result.files, n));
                        let file = at
                            .as_ref()
                            .and_then(|a| a.file.clone())
                            .or_else(|| result.files.first().map(|f| f.file.clone()))
                            .unwrap_or_default();
                        let line = keepsight_diagnose::finding::FindingLine {
                            finding: f,
                            capture: &result.capture,
                            file: &file,
                            file_frame: at
                                .and_then(|a| a.file_frame)
                                .filter(|_| result.files.len() > 1),
                        };
                        serde_json::to_writer(&mut out, &line)?;
                        writeln!(out)?;
                    }
                }
            } else {
                out.write_all(keepsight_fleet::heading(&result).as_bytes())?;
                if let Some(report) = &result.report {
                    out.write_all(report.render_text(args.max_per_kind).as_bytes())?;
                    writeln!(out)?;
                }
            }
            out.flush()?;
            Ok(())
        },
    )?;
    if args.json {
        let document = keepsight_fleet::Document {
            schema: 1,
            captures: documents,
        };
        super::print_report(Some(&document), String::new)?;
    }
    Ok(status)
}

/// `--evidence DIR`: reads the capture a second time and saves the packets of `streams`, one
/// pcapng per stream; returns each stream's file.
pub(crate) fn save_evidence(
    path: &std::path::Path,
    streams: Vec<u32>,
    dir: &std::path::Path,
) -> Result<std::collections::BTreeMap<u32, PathBuf>, Failure> {
    if keepsight_report::is_stdin(path) {
        return Err(Failure::usage(anyhow::anyhow!(
            "--evidence reads the capture a second time: give a file, not standard input"
        )));
    }
    let mut again = super::open_capture(path)?;
    keepsight_report::evidence::save_streams(&mut again, streams, dir)
        .map_err(|e| Failure::cannot_run(anyhow::anyhow!(e)))
}
