//! `keepsight proxy`: HTTP/1.1 reverse proxy to one upstream with nginx-style keep-alive
//! controls and a drain mode.

use super::serve::run_server;
use crate::outcome::Failure;
use crate::outcome::Outcome;
use keepsight_proxy::flags::{ListenArgs, UpstreamTlsArgs};
use keepsight_proxy::proxy::{ProxyHandler, UpstreamAddr, UpstreamConfig};
use keepsight_time::parse_duration;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args, Debug)]
#[command(after_long_help = include_str!("../../help/proxy-after.txt"))]
pub struct Args {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Upstream HTTP/1.1 server, `HOST:PORT`; `https://HOST[:PORT]` speaks TLS to it (see
    /// --upstream-cacert), `http://HOST[:PORT]` is the same as `HOST:PORT`.
    #[arg(long, value_parser = keepsight_proxy::proxy::parse_upstream, value_name = "ADDR|URL")]
    pub upstream: UpstreamAddr,
    #[command(flatten)]
    pub upstream_tls: UpstreamTlsArgs,
    /// Idle upstream connections kept for reuse, per worker (nginx `keepalive` in an upstream
    /// block); 0: a new upstream connection per request.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub upstream_keepalive: usize,
    /// Close a pooled upstream connection idle this long.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub upstream_keepalive_timeout: Duration,
    /// Requests per upstream connection before it is closed; 0: no limit.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub upstream_keepalive_requests: u64,
    /// nginx `proxy_connect_timeout`.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub upstream_connect_timeout: Duration,
    /// Longest wait between two reads from the upstream (nginx `proxy_read_timeout`).
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub upstream_read_timeout: Duration,
    /// Do not resend idempotent requests that hit a pooled connection the upstream had closed.
    #[arg(long)]
    pub no_retry: bool,
}

pub fn run(args: Args) -> Outcome {
    let mut up = UpstreamConfig::new(args.upstream.addr);
    up.tls = args
        .upstream_tls
        .tls(&args.upstream)
        .map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
    up.keepalive = args.upstream_keepalive;
    up.keepalive_timeout = args.upstream_keepalive_timeout;
    up.keepalive_requests = args.upstream_keepalive_requests;
    up.connect_timeout = args.upstream_connect_timeout;
    up.read_timeout = args.upstream_read_timeout;
    up.retry_reused = !args.no_retry;
    // run_server runs one event loop per worker thread; each keeps its own pool.
    up.per_thread_pool = true;
    let handler = Arc::new(ProxyHandler::new(up));
    handler.spawn_pruner();
    let h = handler.clone();
    let extra: Arc<dyn Fn() -> String + Send + Sync> = Arc::new(move || h.upstream_stats_json());
    run_server("keepsight proxy", &args.listen, handler, Some(extra))
}
