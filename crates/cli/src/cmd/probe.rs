//! `keepsight probe http|path`: measure a live server's keep-alive behaviour and a path's
//! idle timeout by opening real connections and idling them.

use crate::outcome::{Classify, Failure, Outcome, Status};
use anyhow::{bail, Context};
use keepsight_keepalive::heartbeat::{parse_hex_byte, Wire};
use keepsight_probe::http::{HttpOptions, HttpReport};
use keepsight_probe::path::PathReport;
use keepsight_probe::search::SearchConfig;
use keepsight_probe::text::{http_text, path_text};
use keepsight_probe::{Budget, Progress};
use keepsight_time::parse_duration;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Measure an HTTP server's idle timeout, requests per connection, keep-alive honesty.
    #[command(long_about = include_str!("../../help/probe-http-about.txt"), after_long_help = include_str!("../../help/probe-http-after.txt"))]
    Http(HttpArgs),
    /// Measure the idle timeout of NATs/firewalls on the path to `keepsight heartbeat serve`.
    #[command(long_about = include_str!("../../help/probe-path-about.txt"), after_long_help = include_str!("../../help/probe-path-after.txt"))]
    Path(PathArgs),
}

#[derive(clap::Args)]
pub struct SearchArgs {
    /// Longest idle period tried; a timeout beyond it is reported as none found.
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = parse_duration)]
    max_idle: Duration,
    /// Stop the idle search once the bound is known to ± this.
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = parse_duration)]
    precision: Duration,
    /// Connections idling at once in each search round.
    #[arg(long, default_value_t = 32, value_name = "N")]
    parallel: usize,
    /// An answer slower than this counts as none (default: 5s for http, 2s for path). Keep it
    /// well above the round-trip time, or a slow answer passes for a forgotten connection.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    reply_timeout: Option<Duration>,
    /// Give up on a connect after this long.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = parse_duration)]
    connect_timeout: Duration,
    /// Hard cap on the whole run; the result so far is reported when it is reached.
    #[arg(long, default_value = "15m", value_name = "DURATION", value_parser = parse_duration)]
    max_time: Duration,
    /// Hard cap on connections opened in the whole run.
    #[arg(long, default_value_t = 256, value_name = "N")]
    max_connections: u32,
    /// The report as one JSON object on stdout (schema: crates/probe/README.md).
    #[arg(long)]
    json: bool,
}

impl SearchArgs {
    fn config(&self, default_reply: Duration) -> anyhow::Result<SearchConfig> {
        if self.max_idle.is_zero() || self.precision.is_zero() {
            bail!("--max-idle and --precision must be above zero");
        }
        if self.parallel == 0 || self.parallel > 1000 {
            bail!("--parallel must be from 1 to 1000");
        }
        if self.max_connections < 2 {
            bail!("--max-connections must be at least 2");
        }
        if self.max_time.is_zero() {
            bail!("--max-time must be above zero");
        }
        let reply_timeout = self.reply_timeout.unwrap_or(default_reply);
        if reply_timeout.is_zero() || self.connect_timeout.is_zero() {
            bail!("--reply-timeout and --connect-timeout must be above zero");
        }
        Ok(SearchConfig {
            max_idle: self.max_idle,
            precision: self.precision,
            parallel: self.parallel,
            reply_timeout,
            connect_timeout: self.connect_timeout,
            ..SearchConfig::default()
        })
    }
}

#[derive(clap::Args)]
pub struct HttpArgs {
    /// http://HOST[:PORT][/PATH] (plain HTTP/1.x; https is not supported).
    url: String,
    /// Stop counting requests per connection after this many.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_requests: u64,
    #[command(flatten)]
    search: SearchArgs,
}

#[derive(clap::Args)]
pub struct PathArgs {
    /// Address of a `keepsight heartbeat serve`, HOST:PORT.
    target: String,
    /// Probe byte the server answers, two hex digits.
    #[arg(long, default_value = "01", value_parser = parse_hex_byte, value_name = "HEX")]
    probe: u8,
    /// Reply byte it answers with.
    #[arg(long, default_value = "41", value_parser = parse_hex_byte, value_name = "HEX")]
    reply: u8,
    #[command(flatten)]
    search: SearchArgs,
}

pub fn run(command: Command) -> Outcome {
    // Parallel idle connections need descriptors; raise to the hard limit the admin allows.
    let _ = keepsight_keepalive::raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let json = match &command {
        Command::Http(a) => a.search.json,
        Command::Path(a) => a.search.json,
    };
    let (progress, bar) = progress();
    let result = match command {
        Command::Http(args) => {
            let mut opts = HttpOptions {
                search: args.search.config(Duration::from_secs(5)).or_usage()?,
                max_requests: args.max_requests,
                ..HttpOptions::default()
            };
            if opts.max_requests == 0 {
                return Err(Failure::usage(anyhow::anyhow!(
                    "--max-requests must be at least 1"
                )));
            }
            opts.search.parallel = opts
                .search
                .parallel
                .min(args.search.max_connections as usize);
            let budget = Budget::new(args.search.max_time, args.search.max_connections);
            runtime
                .block_on(keepsight_probe::http::probe(
                    &args.url, &opts, &budget, &progress,
                ))
                .map(|r| Report::Http(Box::new(r)))
        }
        Command::Path(args) => {
            let search = args.search.config(Duration::from_secs(2)).or_usage()?;
            let budget = Budget::new(args.search.max_time, args.search.max_connections);
            let wire = Wire {
                probe: args.probe,
                reply: args.reply,
                ..Wire::default()
            };
            runtime
                .block_on(keepsight_probe::path::probe(
                    &args.target,
                    wire,
                    &search,
                    &budget,
                    &progress,
                ))
                .map(|r| Report::Path(Box::new(r)))
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = result.map_err(|e| Failure::cannot_run(e).said_by("keepsight probe"))?;
    let problems = matches!(&report, Report::Http(r) if r.problems);
    let text = match &report {
        Report::Http(r) if json => serde_json::to_string_pretty(r)?,
        Report::Path(r) if json => serde_json::to_string_pretty(r)?,
        Report::Http(r) => http_text(r),
        Report::Path(r) => path_text(r),
    };
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
    Ok(Status::problem_if(problems))
}

enum Report {
    Http(Box<HttpReport>),
    Path(Box<PathReport>),
}

/// A spinner with the current step on stderr when it is a terminal; nothing otherwise.
fn progress() -> (Progress, Option<indicatif::ProgressBar>) {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return (keepsight_probe::no_progress(), None);
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let b = bar.clone();
    (
        Arc::new(move |m: &str| b.set_message(m.to_string())),
        Some(bar),
    )
}
