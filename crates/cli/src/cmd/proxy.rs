//! `keepsight proxy`: HTTP/1.1 reverse proxy to one upstream with nginx-style keep-alive
//! controls and a drain mode.

use super::serve::{run_server, socket_addr, ListenArgs};
use keepsight_proxy::proxy::{ProxyHandler, UpstreamConfig};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

fn duration(s: &str) -> Result<Duration, String> {
    keepsight_time::parse_duration(s).map_err(|e| e.to_string())
}

#[derive(clap::Args, Debug)]
#[command(after_long_help = PROXY_EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Upstream HTTP/1.1 server, `HOST:PORT`.
    #[arg(long, value_parser = socket_addr, value_name = "ADDR")]
    pub upstream: SocketAddr,
    /// Idle upstream connections kept for reuse, per worker (nginx `keepalive` in an upstream
    /// block); 0: a new upstream connection per request.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub upstream_keepalive: usize,
    /// Close a pooled upstream connection idle this long.
    #[arg(long, value_parser = duration, default_value = "60s")]
    pub upstream_keepalive_timeout: Duration,
    /// Requests per upstream connection before it is closed; 0: no limit.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub upstream_keepalive_requests: u64,
    /// nginx `proxy_connect_timeout`.
    #[arg(long, value_parser = duration, default_value = "10s")]
    pub upstream_connect_timeout: Duration,
    /// Longest wait between two reads from the upstream (nginx `proxy_read_timeout`).
    #[arg(long, value_parser = duration, default_value = "60s")]
    pub upstream_read_timeout: Duration,
    /// Do not resend idempotent requests that hit a pooled connection the upstream had closed.
    #[arg(long)]
    pub no_retry: bool,
}

const PROXY_EXAMPLES: &str = "\
Examples:
  # Forward :8080 to a local app, keeping up to 64 idle upstream connections
  keepsight proxy --listen 127.0.0.1:8080 --upstream 127.0.0.1:9000

  # Move clients off this VIP: close 30% of keep-alive connections after their response,
  # so clients reconnect and re-resolve DNS; raise the share later without a restart
  keepsight proxy --upstream 127.0.0.1:9000 --drain-ratio 0.3 --admin 127.0.0.1:9901
  curl -X POST 'http://127.0.0.1:9901/drain?ratio=1'

  # Ramp the share from 10% to 100% over ten minutes
  keepsight proxy --upstream 127.0.0.1:9000 --drain-ramp '0.1..1.0 over 10m'

  # nginx-like client side: 65 s idle (advertise 60), 1000 requests, 1 h lifetime
  keepsight proxy --upstream 127.0.0.1:9000 --keepalive-timeout 65s,60s \\
      --keepalive-requests 1000 --keepalive-time 1h --so-keepalive 30m::10

Framing: requests with both Content-Length and Transfer-Encoding, a Transfer-Encoding other
than `chunked`, differing Content-Lengths, bad chunk sizes, obsolete line folding or a space
before a colon are answered 400 and the connection is closed; oversized heads get 431.
Hop-by-hop headers are removed in both directions and framing is recomputed.

Graceful shutdown: SIGTERM or SIGINT (or POST /shutdown on the admin endpoint).";

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut up = UpstreamConfig::new(args.upstream);
    up.keepalive = args.upstream_keepalive;
    up.keepalive_timeout = args.upstream_keepalive_timeout;
    up.keepalive_requests = args.upstream_keepalive_requests;
    up.connect_timeout = args.upstream_connect_timeout;
    up.read_timeout = args.upstream_read_timeout;
    up.retry_reused = !args.no_retry;
    // run_server runs one event loop per worker thread; each keeps its own pool.
    up.per_thread_pool = true;
    let handler = Arc::new(ProxyHandler::new(up));
    let h = handler.clone();
    let extra: Arc<dyn Fn() -> String + Send + Sync> = Arc::new(move || {
        format!(
            "\"upstream_connects\":{},\"upstream_retries\":{},\"upstream_idle\":{}",
            h.upstream_connects.load(Ordering::Relaxed),
            h.retries.load(Ordering::Relaxed),
            h.idle_connections()
        )
    });
    let pruner = handler.clone();
    run_server("proxy", &args.listen, handler, Some(extra), move |_| {
        // Pooled connections past their idle timeout are closed even when no request comes to
        // reuse them, so the upstream is not left holding sockets we will never use. The thread
        // ends with the process.
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            pruner.prune_idle();
        });
    })
}
