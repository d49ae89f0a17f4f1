//! `keepsight serve`: fixed or static HTTP/1.1 responses with nginx-style keep-alive controls.
//! Also holds the listener options shared with `keepsight proxy`.

use crate::outcome::{Failure, Outcome, Status};
use anyhow::Context;
use keepsight_proxy::serve::{Content, ServeHandler};
use keepsight_proxy::{drain, log::AccessLog, server::Handler, Options};
use keepsight_proxy::{parse_socket_addr, serve_until_stopped, RunError};
use keepsight_time::parse_duration;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Listener options shared by `serve` and `proxy`; names and defaults follow nginx.
#[derive(clap::Args, Debug)]
pub struct ListenArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, value_parser = parse_socket_addr, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Idle time allowed between requests, optionally followed by the value advertised in
    /// `Keep-Alive: timeout=N` (nginx `keepalive_timeout`). `0` disables keep-alive.
    #[arg(long, value_parser = keepsight_proxy::parse_keepalive_timeout, default_value = "75s", value_name = "TIMEOUT[,HEADER]")]
    pub keepalive_timeout: (Duration, Option<Duration>),
    /// Close a connection after this many responses (nginx `keepalive_requests`); 0: no limit.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub keepalive_requests: u64,
    /// Close a connection older than this after its current response (nginx `keepalive_time`).
    #[arg(long, value_parser = parse_duration, default_value = "1h")]
    pub keepalive_time: Duration,
    /// Time to receive a whole request head (nginx `client_header_timeout`); for the first
    /// request it also bounds the wait for its first byte.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub header_timeout: Duration,
    /// Longest wait between two reads of a request body (nginx `client_body_timeout`).
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub body_timeout: Duration,
    /// Longest wait for a write to the client to progress (nginx `send_timeout`).
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub send_timeout: Duration,
    /// TCP keep-alive on the listening socket, inherited by accepted connections, in nginx's
    /// `so_keepalive=` syntax: `on`, `off` or `IDLE:INTERVAL:COUNT` (e.g. `30m::10`).
    #[arg(long, value_parser = keepsight_keepalive::KeepaliveSettings::parse_nginx, value_name = "on|off|IDLE:INTVL:CNT")]
    pub so_keepalive: Option<keepsight_proxy::SoKeepalive>,
    /// Most client connections open at once; more wait in the listen backlog.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub max_connections: u32,
    /// Largest request head in bytes; larger is answered 431 and the connection closed.
    #[arg(long, default_value_t = 8192, value_name = "BYTES")]
    pub max_head_size: usize,
    /// Largest request body in bytes (nginx `client_max_body_size`); 0: no limit.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub max_body_size: u64,
    /// Share of keep-alive responses to send with `Connection: close` (then close).
    #[arg(long, value_parser = drain::parse_ratio, default_value = "0", value_name = "RATIO")]
    pub drain_ratio: f64,
    /// Ramp the drain ratio linearly from start-up: `FROM..TO over DURATION`.
    #[arg(long, value_parser = drain::parse_ramp, value_name = "FROM..TO over DURATION")]
    pub drain_ramp: Option<drain::Ramp>,
    /// Loopback address of the admin endpoint (drain ratio, counters, shutdown).
    #[arg(long, value_parser = parse_socket_addr, value_name = "ADDR")]
    pub admin: Option<SocketAddr>,
    /// Write one access log line per request to this file (`-`: standard output).
    #[arg(long, value_name = "PATH")]
    pub access_log: Option<PathBuf>,
    /// How long graceful shutdown (SIGTERM, SIGINT, admin `/shutdown`) waits for in-flight
    /// requests.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub shutdown_timeout: Duration,
    /// An idle keep-alive connection quiet this long leaves its task and waits in a per-worker
    /// table until its next byte (about 60 bytes instead of about 850 per idle client; costs
    /// a few system calls when it wakes). `0` keeps every connection in its task.
    #[arg(long, value_parser = parse_duration, default_value = "1s", value_name = "DURATION")]
    pub park_idle_after: Duration,
    /// Worker threads, each with its own event loop like nginx's worker processes (default: one
    /// per CPU).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
}

impl ListenArgs {
    fn options(&self) -> Result<Options, Failure> {
        let mut o = Options::new(self.listen);
        o.server.keepalive_timeout = self.keepalive_timeout.0;
        o.server.keepalive_header = self.keepalive_timeout.1;
        o.server.keepalive_requests = self.keepalive_requests;
        o.server.keepalive_time = self.keepalive_time;
        o.server.header_timeout = self.header_timeout;
        o.server.body_timeout = self.body_timeout;
        o.server.send_timeout = self.send_timeout;
        o.server.max_connections = self.max_connections.max(1);
        o.server.max_head = self.max_head_size.max(256);
        o.server.max_body = self.max_body_size;
        o.server.shutdown_timeout = self.shutdown_timeout;
        o.server.park_after = self.park_idle_after;
        o.so_keepalive = self.so_keepalive;
        o.drain_ratio = self.drain_ratio;
        o.drain_ramp = self.drain_ramp;
        o.admin = self.admin;
        o.access_log = match &self.access_log {
            Some(path) => Some(
                AccessLog::open(path)
                    .with_context(|| format!("open access log {}", path.display()))?,
            ),
            None => None,
        };
        Ok(o)
    }
}

/// Serves until SIGTERM/SIGINT or admin `/shutdown`, drains, and says so as `speaker`.
pub(crate) fn run_server<H: Handler>(
    speaker: &'static str,
    args: &ListenArgs,
    handler: Arc<H>,
    extra_stats: Option<Arc<dyn Fn() -> String + Send + Sync>>,
) -> Outcome {
    let say = |what: &str| eprintln!("{speaker}: {what}");
    match serve_until_stopped(args.options()?, handler, extra_stats, args.workers, say) {
        Ok(()) => Ok(Status::Success),
        Err(RunError::Start(e)) => Err(Failure::cannot_run(e).said_by(speaker)),
        Err(e) => Err(Failure::cannot_run(e)),
    }
}

#[derive(clap::Args, Debug)]
#[command(after_long_help = include_str!("../../help/serve-after.txt"))]
pub struct Args {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Status code of the fixed response.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(200..=599))]
    pub status: u16,
    /// Body of the fixed response.
    #[arg(long, conflicts_with_all = ["body_size", "root"])]
    pub body: Option<String>,
    /// Fixed response body of this many bytes (`x` repeated).
    #[arg(long, value_name = "BYTES", conflicts_with = "root")]
    pub body_size: Option<usize>,
    /// Serve files under this directory instead of a fixed response (GET and HEAD).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Extra response header, `Name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = keepsight_proxy::serve::parse_header_arg)]
    pub headers: Vec<(String, String)>,
    /// Wait this long before each response (holds requests in flight, for drain tests).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub delay: Duration,
}

pub fn run(args: Args) -> Outcome {
    let content = Content::from_flags(
        args.root.as_deref(),
        args.body.as_deref(),
        args.body_size,
        args.status,
        &args.headers,
    )
    .map_err(|e| Failure::cannot_run(anyhow::anyhow!(e)))?;
    let handler = Arc::new(ServeHandler::new(content, args.delay));
    run_server("keepsight serve", &args.listen, handler, None)
}
