//! `keepsight probe http|path`: measure a live server's keep-alive behaviour and a path's
//! idle timeout by opening real connections and idling them.

use super::{EXIT_FAILURE, EXIT_PROBLEMS};
use anyhow::{bail, Context};
use keepsight_keepalive::heartbeat::{parse_hex_byte, Wire};
use keepsight_probe::http::{HttpOptions, HttpReport};
use keepsight_probe::path::PathReport;
use keepsight_probe::search::{IdleResult, SearchConfig};
use keepsight_probe::{Budget, Progress};
use keepsight_time::parse_duration;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const HTTP_ABOUT: &str = "\
Measure an HTTP/1.x server's keep-alive behaviour: its idle timeout, how many requests it \
serves per connection, whether it keeps the Keep-Alive: timeout/max it advertises, HTTP/1.0 \
keep-alive, pipelining, and the framing of every response read.

The idle timeout is searched in parallel: each round opens --parallel connections, makes one \
request on each, and lets connection k idle for its own duration before a second request. \
While idle, every connection watches for the server closing it: a server that closes idle \
connections (FIN or RST) is measured to the millisecond in one round lasting about as long \
as its timeout. When connections stop working without a visible close (a middlebox that \
forgets silently), the bound is the bracket between the longest idle that worked and the \
shortest that failed, narrowed by further rounds to --precision. Round one spaces the idle \
durations geometrically up to --max-idle; a 60 s timeout takes about two minutes.

Exit status: 0 measured; 1 measured, and the server breaks its own advertisement or sends \
badly framed responses; 3 could not run (bad URL, no connection, no first response).";

const HTTP_AFTER: &str = "\
Examples:
  keepsight probe http http://10.0.0.5:8080/health
  keepsight probe http http://lb.internal/ --max-idle 5m --precision 2s --json
  keepsight probe http http://127.0.0.1:8080/ --max-idle 30s --max-requests 200

Read the result:
  idle timeout  6.002 s ± 0.006 s (observed close, FIN)  the server closed idle connections
  idle timeout  350..352 s (check after idle, no-response)  something forgot them silently
  recommendation  the pool idle timeout to set on clients of this server";

const PATH_ABOUT: &str = "\
Measure the idle timeout of the NATs and firewalls between here and a `keepsight heartbeat \
serve` (start one on the far side first). Connections are opened, idled for chosen \
durations, and then must still carry a heartbeat probe and its reply; a connection that \
does not was forgotten by the path. The search is the one of `probe http` (parallel, \
geometric first round, then splitting the bracket until --precision). The report gives the \
bound and the longest keep-alive interval that keeps connections alive (half the longest \
idle that worked).

Exit status: 0 measured (whatever was found); 3 could not run (no connection, the peer does \
not answer heartbeats).";

const PATH_AFTER: &str = "\
Examples:
  # on the far side:
  keepsight heartbeat serve --listen 0.0.0.0:7000
  # here:
  keepsight probe path server.example:7000
  keepsight probe path 10.0.0.5:7000 --max-idle 30m --precision 10s --json";

#[derive(clap::Subcommand)]
pub enum Command {
    /// Measure an HTTP server's idle timeout, requests per connection, keep-alive honesty.
    #[command(long_about = HTTP_ABOUT, after_long_help = HTTP_AFTER)]
    Http(HttpArgs),
    /// Measure the idle timeout of NATs/firewalls on the path to `keepsight heartbeat serve`.
    #[command(long_about = PATH_ABOUT, after_long_help = PATH_AFTER)]
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

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
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
                search: args.search.config(Duration::from_secs(5))?,
                max_requests: args.max_requests,
                ..HttpOptions::default()
            };
            if opts.max_requests == 0 {
                bail!("--max-requests must be at least 1");
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
            let search = args.search.config(Duration::from_secs(2))?;
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
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keepsight probe: {e}");
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
    };
    let problems = matches!(&report, Report::Http(r) if r.problems);
    let text = match &report {
        Report::Http(r) if json => serde_json::to_string_pretty(r)?,
        Report::Path(r) if json => serde_json::to_string_pretty(r)?,
        Report::Http(r) => http_text(r),
        Report::Path(r) => path_text(r),
    };
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
    Ok(if problems {
        ExitCode::from(EXIT_PROBLEMS)
    } else {
        ExitCode::SUCCESS
    })
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

fn idle_text(i: &IdleResult) -> String {
    let tail = format!(
        "{} round(s), {} connections, {:.1} s{}{}",
        i.rounds,
        i.connections,
        i.elapsed_s,
        i.stopped_by
            .as_ref()
            .map(|s| format!(", stopped by {s}"))
            .unwrap_or_default(),
        if i.inconsistent {
            ", INCONSISTENT results (a longer idle worked where a shorter failed)"
        } else {
            ""
        }
    );
    match i.method.as_str() {
        "observed-close" => {
            let c = i.close.as_ref();
            format!(
                "{:.3} s ± {:.3} s (observed close: {} on {} connection(s) between {:.3} and {:.3} s, {}; {tail})",
                i.estimate_s.unwrap_or(0.0),
                i.precision_s.unwrap_or(0.0),
                c.map(|c| c.how.to_uppercase()).unwrap_or_default(),
                c.map(|c| c.observed_on).unwrap_or(0),
                c.map(|c| c.first_s).unwrap_or(0.0),
                c.map(|c| c.last_s).unwrap_or(0.0),
                match c.and_then(|c| c.announced.as_ref()) {
                    Some(a) => format!("announced by `{a}`"),
                    None => "not announced".into(),
                }
            )
        }
        "check-after-idle" => format!(
            "between {:.3} and {:.3} s, i.e. {:.3} s ± {:.3} s (check after idle failed: {}; {tail})",
            i.lower_s,
            i.upper_s.unwrap_or(0.0),
            i.estimate_s.unwrap_or(0.0),
            i.precision_s.unwrap_or(0.0),
            i.failure.as_deref().unwrap_or("?")
        ),
        "none-found" => format!("none up to {:.3} s ({tail})", i.lower_s),
        _ => format!(
            "not measured: {} ({tail})",
            i.note.as_deref().unwrap_or("no result")
        ),
    }
}

fn list(out: &mut String, title: &str, items: &[String]) {
    if !items.is_empty() {
        out.push_str(&format!("{title}:\n"));
        for i in items {
            out.push_str(&format!("  - {i}\n"));
        }
    }
}

fn http_text(r: &HttpReport) -> String {
    let f = &r.first_response;
    let mut out = format!("probe http {} ({})\n", r.url, r.address);
    out.push_str(&format!(
        "first response:          {} {}, {} framing, {} body bytes, {:.1} ms\n",
        f.status,
        f.version,
        f.framing.name(),
        f.body_bytes,
        f.rtt_s * 1e3
    ));
    out.push_str(&format!(
        "advertised Keep-Alive:   timeout={} max={}\n",
        r.advertised
            .timeout_s
            .map(|t| t.to_string())
            .unwrap_or("-".into()),
        r.advertised
            .max
            .map(|t| t.to_string())
            .unwrap_or("-".into())
    ));
    out.push_str(&format!(
        "idle timeout:            {}\n",
        r.idle_timeout
            .as_ref()
            .map(idle_text)
            .unwrap_or("not measured: the server does not keep connections alive".into())
    ));
    let rpc = &r.requests_per_connection;
    out.push_str(&format!(
        "requests per connection: {} ({}{}{})\n",
        rpc.count,
        rpc.ended_by,
        rpc.close
            .as_ref()
            .map(|c| format!(", {}", c.to_uppercase()))
            .unwrap_or_default(),
        rpc.detail
            .as_ref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    ));
    let yn = |b: bool| if b { "yes" } else { "no" };
    out.push_str(&format!(
        "HTTP/1.0 keep-alive:     {} ({})\n",
        yn(r.http10_keep_alive.supported),
        r.http10_keep_alive.detail
    ));
    out.push_str(&format!(
        "pipelining:              {} ({})\n",
        yn(r.pipelining.supported),
        r.pipelining.detail
    ));
    out.push_str(&format!(
        "framing:                 {} responses checked, {} problem(s)\n",
        r.framing.responses_checked, r.framing.problems_total
    ));
    for p in &r.framing.problems {
        out.push_str(&format!("  ! {p}\n"));
    }
    list(&mut out, "findings", &r.findings);
    list(&mut out, "recommendation", &r.recommendation);
    out.push_str(&format!(
        "({} connections, {:.1} s)",
        r.connections_used, r.elapsed_s
    ));
    out
}

fn path_text(r: &PathReport) -> String {
    let mut out = format!("probe path {} ({})\n", r.target, r.address);
    out.push_str(&format!(
        "idle timeout:       {}\n",
        idle_text(&r.idle_timeout)
    ));
    if let Some(k) = r.keepalive_interval_s {
        out.push_str(&format!("keep-alive every:   {k} s or less\n"));
    }
    list(&mut out, "findings", &r.findings);
    list(&mut out, "recommendation", &r.recommendation);
    out.push_str(&format!(
        "({} connections, {:.1} s)",
        r.connections_used, r.elapsed_s
    ));
    out
}
