//! `keepsight probe http|path`: measure a live server's keep-alive behaviour and a path's
//! idle timeout by opening real connections and idling them.

use crate::outcome::{Failure, Outcome, Status};
use keepsight_keepalive::heartbeat::{parse_hex_byte, Wire};
use keepsight_probe::http::TlsOptions;
use keepsight_probe::run::{self, Limits, RunError, Target};
use keepsight_probe::Progress;
use keepsight_time::parse_duration;
use std::io::Write;
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
    fn limits(&self) -> Limits {
        Limits {
            max_idle: self.max_idle,
            precision: self.precision,
            parallel: self.parallel,
            reply_timeout: self.reply_timeout,
            connect_timeout: self.connect_timeout,
            max_time: self.max_time,
            max_connections: self.max_connections,
        }
    }
}

#[derive(clap::Args)]
pub struct HttpArgs {
    /// http://HOST[:PORT][/PATH], or https://… for HTTP/1.1 inside TLS.
    url: String,
    /// https: trust the CA certificates in this PEM file instead of the built-in Mozilla roots.
    #[arg(long, value_name = "FILE")]
    cacert: Option<std::path::PathBuf>,
    /// https: accept any server certificate (the handshake is still real TLS).
    #[arg(long, short = 'k')]
    insecure: bool,
    /// https: send this name as SNI and check the certificate against it instead of the URL's
    /// host (the URL may then name an address).
    #[arg(long, value_name = "NAME")]
    sni: Option<String>,
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
    let (target, search) = match command {
        Command::Http(a) => (
            Target::Http {
                url: a.url,
                max_requests: a.max_requests,
                tls: TlsOptions {
                    cacert: a.cacert,
                    insecure: a.insecure,
                    server_name: a.sni,
                },
            },
            a.search,
        ),
        Command::Path(a) => {
            let wire = Wire {
                probe: a.probe,
                reply: a.reply,
                ..Wire::default()
            };
            let addr = a.target;
            (Target::Path { addr, wire }, a.search)
        }
    };
    let (progress, bar) = progress();
    let result = run::run(target, &search.limits(), &progress);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = match result {
        Ok(report) => report,
        Err(RunError::Usage(why)) => return Err(Failure::usage(anyhow::anyhow!(why))),
        Err(e @ RunError::Runtime(_)) => return Err(Failure::cannot_run(e)),
        Err(e) => return Err(Failure::cannot_run(e).said_by("keepsight probe")),
    };
    let _ = writeln!(std::io::stdout(), "{}", report.render(search.json)?);
    Ok(Status::problem_if(report.problems()))
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
