//! The listener flags `keepsight serve` and `keepsight proxy` share (names and defaults follow
//! nginx), as a `clap` argument group, and the [`Options`] they ask for. Built with the `clap`
//! feature only: the library itself takes [`Options`].

use crate::proxy::{UpstreamAddr, UpstreamTls};
use crate::{drain, log::AccessLog, parse_socket_addr, Options};
use keepsight_time::parse_duration;
use keepsight_tlsio::rustls::ServerConfig as TlsServerConfig;
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
    #[arg(long, value_parser = crate::parse_keepalive_timeout, default_value = "75s", value_name = "TIMEOUT[,HEADER]")]
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
    pub so_keepalive: Option<crate::SoKeepalive>,
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
    /// Terminate TLS (1.2 and 1.3, ALPN http/1.1) with this certificate chain, PEM, leaf first;
    /// needs --tls-key. Every keep-alive control above works the same inside TLS; the handshake
    /// must finish within --header-timeout, and TLS connections do not park.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// TLS to an `https://` upstream: whom to trust, and the name to check.
#[derive(clap::Args, Debug)]
pub struct UpstreamTlsArgs {
    /// https upstream: trust the CA certificates in this PEM file instead of the built-in
    /// Mozilla roots.
    #[arg(long, value_name = "FILE")]
    pub upstream_cacert: Option<PathBuf>,
    /// https upstream: accept any certificate (the connection is still encrypted).
    #[arg(long)]
    pub upstream_insecure: bool,
    /// https upstream: send this name as SNI and check the certificate against it instead of
    /// the host in --upstream.
    #[arg(long, value_name = "NAME")]
    pub upstream_sni: Option<String>,
}

impl UpstreamTlsArgs {
    /// The TLS the proxy speaks to `upstream`: none for a plain one (where these flags are
    /// refused), else a client configuration from the flags.
    pub fn tls(&self, upstream: &UpstreamAddr) -> Result<Option<UpstreamTls>, String> {
        let Some(host) = &upstream.tls_host else {
            if self.upstream_cacert.is_some()
                || self.upstream_insecure
                || self.upstream_sni.is_some()
            {
                return Err(
                    "--upstream-cacert, --upstream-insecure and --upstream-sni need an https:// --upstream"
                        .into(),
                );
            }
            return Ok(None);
        };
        let config =
            keepsight_tlsio::client_config(self.upstream_cacert.as_deref(), self.upstream_insecure)
                .map_err(|e| e.to_string())?;
        let name = keepsight_tlsio::server_name(self.upstream_sni.as_deref().unwrap_or(host))
            .map_err(|e| e.to_string())?;
        Ok(Some(UpstreamTls { config, name }))
    }
}

impl ListenArgs {
    /// The TLS server configuration of `--tls-cert`/`--tls-key`, read (and checked to match)
    /// before anything listens; `None` without them.
    pub fn tls(&self) -> Result<Option<Arc<TlsServerConfig>>, keepsight_tlsio::ConfigError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => keepsight_tlsio::server_config(cert, key).map(Some),
            _ => Ok(None),
        }
    }

    /// The listener options the flags ask for; the access log is opened here, so a path that
    /// cannot be written is refused before anything listens.
    pub fn options(&self) -> Result<Options, AccessLogError> {
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
            Some(path) => Some(AccessLog::open(path).map_err(|source| AccessLogError {
                path: path.clone(),
                source,
            })?),
            None => None,
        };
        Ok(o)
    }
}

/// The access log named by `--access-log` could not be opened.
#[derive(Debug)]
pub struct AccessLogError {
    /// The path as given.
    pub path: PathBuf,
    /// Why it could not be opened.
    pub source: std::io::Error,
}
