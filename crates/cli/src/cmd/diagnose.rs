//! `keepsight diagnose`: heartbeats, late beats, keep-alives and what killed each connection,
//! lined up with the application log. This module only feeds engine frames (as
//! `keepsight_tcp::Segment`) to the diagnoser and handles the command line; the analysis is in
//! `keepsight-diagnose`.

use super::EXIT_FAILURE;
use anyhow::{bail, Context};
use keepsight_diagnose::middlebox::Middlebox;
use keepsight_diagnose::options::{parse_duration, parse_hex};
use keepsight_diagnose::{AppLog, Diagnoser, LogOptions, Options};
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
    /// Time zone of the log's timestamps that carry none: UTC (default), +HH:MM or -HH:MM.
    #[arg(long, value_name = "ZONE", default_value = "UTC")]
    log_tz: String,
    /// Extra middlebox idle timeout to compare idle gaps against, NAME=SECONDS (repeatable).
    #[arg(long, value_name = "NAME=SECONDS")]
    middlebox: Vec<String>,
    /// Compare idle gaps only against --middlebox entries, not the built-in cloud/conntrack table.
    #[arg(long)]
    no_default_middleboxes: bool,
}

fn parse_tz(s: &str) -> anyhow::Result<i32> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("utc") || t == "Z" || t == "z" {
        return Ok(0);
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => bail!("--log-tz {s}: expected UTC, +HH:MM or -HH:MM"),
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let h: i32 = h
        .parse()
        .with_context(|| format!("--log-tz {s}: bad hours"))?;
    let m: i32 = m
        .parse()
        .with_context(|| format!("--log-tz {s}: bad minutes"))?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        bail!("--log-tz {s}: out of range");
    }
    Ok(sign * (h * 3600 + m * 60))
}

fn parse_date(s: &str) -> anyhow::Result<(i64, u32, u32)> {
    let parts: Vec<&str> = s.split('-').collect();
    if let [y, m, d] = parts[..] {
        if let (Ok(y), Ok(m), Ok(d)) = (y.parse(), m.parse(), d.parse()) {
            if (1..=12).contains(&m) && (1..=31).contains(&d) {
                return Ok((y, m, d));
            }
        }
    }
    bail!("--log-date {s}: expected YYYY-MM-DD")
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

pub(crate) fn options(args: &Analysis) -> anyhow::Result<Options> {
    let dur = |v: &Option<String>, name: &str| -> anyhow::Result<Option<i64>> {
        v.as_deref()
            .map(|s| {
                parse_duration(s).with_context(|| {
                    format!("--{name} {s}: expected a duration such as 45s or 500ms")
                })
            })
            .transpose()
    };
    let hex = |v: &Option<String>, name: &str| -> anyhow::Result<Option<Vec<u8>>> {
        v.as_deref()
            .map(|s| {
                parse_hex(s).with_context(|| format!("--{name} {s}: expected hex bytes such as 01"))
            })
            .transpose()
    };
    let mut opts = Options {
        period_ns: dur(&args.period, "period")?,
        timeout_ns: dur(&args.timeout, "timeout")?,
        probe: hex(&args.probe, "probe")?,
        reply: hex(&args.reply, "reply")?,
        ..Options::default()
    };
    if args.no_default_middleboxes {
        opts.middleboxes.clear();
    }
    for m in &args.middlebox {
        let (name, secs) = m
            .rsplit_once('=')
            .with_context(|| format!("--middlebox {m}: expected NAME=SECONDS"))?;
        let secs: u32 = secs
            .trim()
            .parse()
            .with_context(|| format!("--middlebox {m}: bad seconds"))?;
        // The table holds &'static str: a handful of user entries live for the whole run.
        let name: &'static str = Box::leak(name.trim().to_string().into_boxed_str());
        opts.middleboxes.push(Middlebox {
            name,
            idle_timeout_s: secs,
            source: "--middlebox",
        });
    }
    opts.middleboxes.sort_by_key(|m| m.idle_timeout_s);
    if let Some(path) = &args.log {
        let text = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
        let text = String::from_utf8_lossy(&text);
        let lo = LogOptions {
            date: args.log_date.as_deref().map(parse_date).transpose()?,
            tz_offset_s: parse_tz(&args.log_tz)?,
        };
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
    let mut a = Analyses::new(opts);
    let end = super::pass(Some(&mut engine), None, |frame| {
        a.on_frame(frame);
    });
    let report = a.diagnosis(end.last_ns);
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

/// The analyses `diagnose` and `report` run on every frame: the connection diagnosis, and the
/// HTTP/1.x keep-alive and framing analysis (bounded: only messages with a verdict are kept),
/// whose findings join the diagnosis at the end.
pub(crate) struct Analyses {
    d: Diagnoser,
    http: keepsight_http::Analyzer,
}

impl Analyses {
    pub(crate) fn new(opts: Options) -> Self {
        Analyses {
            d: Diagnoser::new(opts),
            http: keepsight_http::Analyzer::new(keepsight_http::Options::default()),
        }
    }

    /// Feeds one frame; returns its diagnosis segment (TCP frames only) for callers that
    /// draw it too.
    pub(crate) fn on_frame<'a>(
        &mut self,
        frame: &keepsight_engine::Frame<'a>,
    ) -> Option<keepsight_tcp::Segment<'a>> {
        let segment = frame.segment()?;
        self.http.segment(&segment);
        self.d.on_segment(&segment);
        Some(segment)
    }

    /// The diagnosis (HTTP findings included) and the HTTP report. `last_ns`: the capture's
    /// last frame time, where still-open streams end.
    pub(crate) fn finish(
        self,
        last_ns: i64,
    ) -> (keepsight_diagnose::Report, keepsight_http::Report) {
        let Analyses { mut d, http } = self;
        let http = http.finish();
        for f in http.findings.iter().cloned() {
            d.add_finding(http_finding(f));
        }
        (d.finish(last_ns), http)
    }

    /// [`Analyses::finish`] without the HTTP report, which is dropped before the diagnosis is
    /// summarized (its kept messages would add to the peak).
    pub(crate) fn diagnosis(self, last_ns: i64) -> keepsight_diagnose::Report {
        let Analyses { mut d, http } = self;
        for f in http.finish().findings {
            d.add_finding(http_finding(f));
        }
        d.finish(last_ns)
    }
}

/// An HTTP finding in diagnose's terms. Severity: what breaks a client's request is an error;
/// a server closing an idle or used-up connection is how keep-alive works, worth knowing only.
pub(crate) fn http_finding(f: keepsight_http::Finding) -> keepsight_diagnose::Finding {
    use keepsight_diagnose::{Kind, Severity};
    use keepsight_http::FindingKind as H;
    let (severity, kind) = match f.kind {
        H::HttpBodyShorterThanLength => (Severity::Error, Kind::HttpBodyShorterThanLength),
        H::HttpBodyLongerThanLength => (Severity::Error, Kind::HttpBodyLongerThanLength),
        H::HttpUnterminatedChunked => (Severity::Error, Kind::HttpUnterminatedChunked),
        H::HttpInvalidChunk => (Severity::Error, Kind::HttpInvalidChunk),
        H::HttpTeAndLength => (Severity::Error, Kind::HttpTeAndLength),
        H::HttpDuplicateContentLength => (Severity::Error, Kind::HttpDuplicateContentLength),
        H::HttpResponseWithoutRequest => (Severity::Warning, Kind::HttpResponseWithoutRequest),
        H::HttpReuseRace => (Severity::Error, Kind::HttpReuseRace),
        H::HttpIdleClose => (Severity::Info, Kind::HttpIdleClose),
        H::HttpRequestLimitClose => (Severity::Info, Kind::HttpRequestLimitClose),
    };
    keepsight_diagnose::Finding::new(
        severity,
        kind,
        Some(f.stream),
        vec![f.frame],
        f.ts_ns,
        f.text,
    )
}
