//! A whole heartbeat process, as `keepsight heartbeat serve|client` runs it: options checked
//! and turned into a server or a fleet of clients, a runtime at the asked priority, a log line
//! per event, statistics every so often and at the end, until a signal or a time limit.
//! Where the lines go is the caller's [`Sink`].

use super::client::{Backoff, ClientConfig, ClientEvent, ClientExit, ClientStats, EventSink};
use super::dialect::Dialect;
use super::protocol::Wire;
use super::server::{Server, ServerConfig, ServerEvent};
use super::text::{self as words, Usage};
use super::{fleet, lifetime, timestamp_now, ThreadPriority, MAX_DURATION};
use crate::{format_duration, KeepaliveSettings, SoKeepalive};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a heartbeat process writes. Output errors are the sink's to ignore: a closed pipe
/// (`keepsight heartbeat client | head`) must not stop the heartbeat.
pub trait Sink: Send + Sync + 'static {
    /// One log line, time stamp included.
    fn log(&self, line: &str);
    /// One statistics record as a line of JSON.
    fn record(&self, json: &str);
}

/// Why a heartbeat process could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The options are out of range or contradict each other.
    #[error("{0}")]
    Usage(String),
    /// The address, the socket, the runtime or the priority was refused.
    #[error("{0}")]
    CannotRun(String),
}

/// How a process reports and how long it lives; `serve` and `client` share these.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Print a statistics summary on exit.
    pub stats: bool,
    /// Also print one this often (implies `stats`).
    pub stats_every: Option<Duration>,
    /// Statistics as JSON records through [`Sink::record`] instead of log lines.
    pub json: bool,
    /// Stop after this long (else at Ctrl-C or SIGTERM).
    pub duration: Option<Duration>,
    /// Scheduling priority of the runtime's threads.
    pub priority: ThreadPriority,
}

/// `keepsight heartbeat serve`: a server answering probes.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// `HOST:PORT` to listen on.
    pub listen: String,
    /// Probe and reply bytes, largest application payload.
    pub wire: Wire,
    /// Kernel keep-alive on accepted sockets.
    pub so_keepalive: Option<SoKeepalive>,
    /// Close connections that send nothing for this long.
    pub idle_timeout: Option<Duration>,
    /// Log no connection events (accept errors still are).
    pub quiet: bool,
    /// Statistics and lifetime.
    pub run: RunOptions,
}

/// What a client process logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// Every reply, plus events.
    Beats,
    /// Connects, misses, deaths, reconnects.
    Events,
    /// Nothing but summaries.
    None,
}

impl LogLevel {
    /// The level named `beats`, `events` or `none`.
    pub fn from_name(name: &str) -> Option<LogLevel> {
        match name {
            "beats" => Some(LogLevel::Beats),
            "events" => Some(LogLevel::Events),
            "none" => Some(LogLevel::None),
            _ => None,
        }
    }
}

/// `keepsight heartbeat client`: one or many connections probing one server.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// `HOST:PORT` of the server.
    pub connect: String,
    /// Probe period.
    pub every: Duration,
    /// A probe without a reply after this long is a miss.
    pub timeout: Duration,
    /// Consecutive misses that declare the peer dead.
    pub misses: u32,
    /// Kernel keep-alive underneath the heartbeat.
    pub keepalive: Option<SoKeepalive>,
    /// TCP_USER_TIMEOUT; only together with `keepalive`, which it must not switch on by itself.
    pub user_timeout: Option<Duration>,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// Give up on one connect after this long.
    pub connect_timeout: Duration,
    /// Stop when the connection ends instead of reconnecting (one connection only).
    pub no_reconnect: bool,
    /// Connections to hold, their probes spread over the period.
    pub connections: usize,
    /// Source addresses, used in turn.
    pub bind: Vec<IpAddr>,
    /// Time over which to open the connections.
    pub ramp: Option<Duration>,
    /// Leave connection set-up out of the latency histograms.
    pub warmup: Option<Duration>,
    /// What to log (default: beats for one connection, events for several).
    pub log: Option<LogLevel>,
    /// Probe and reply bytes, largest application payload.
    pub wire: Wire,
    /// The byte protocol of `wire`, or an application protocol's framing.
    pub dialect: Dialect,
    /// Statistics and lifetime.
    pub run: RunOptions,
}

/// How a client process ended once its last words are written.
#[derive(Debug)]
pub enum ClientEnd {
    /// A signal or the time limit stopped it: nothing went wrong.
    Stopped,
    /// The only client, which does not reconnect, ended: the peer died or closed, or it never
    /// connected.
    Ended(ClientExit),
}

/// Runs a heartbeat server until a signal or the time limit.
pub fn serve(options: ServeOptions, sink: Arc<dyn Sink>) -> Result<(), RunError> {
    let runtime = runtime(&options.run)?;
    runtime.block_on(serve_on(options, sink))
}

/// Runs a heartbeat client fleet until a signal, the time limit or (without reconnects) the end
/// of its connection.
pub fn client(options: ClientOptions, sink: Arc<dyn Sink>) -> Result<ClientEnd, RunError> {
    let runtime = runtime(&options.run)?;
    let (base, plan) = client_plan(&options)?;
    runtime.block_on(client_on(options, base, plan, sink))
}

/// The checked run options and a multi-threaded runtime whose threads run at their priority.
fn runtime(run: &RunOptions) -> Result<tokio::runtime::Runtime, RunError> {
    if let Some(d) = run.stats_every.filter(|d| *d > MAX_DURATION || d.is_zero()) {
        return Err(RunError::Usage(format!(
            "--stats-every {} must be above zero and at most 366 days",
            format_duration(d)
        )));
    }
    // Many connections need many descriptors; raising to the hard limit is what the admin allows.
    let _ = crate::raise_fd_limit();
    let priority = run.priority;
    // Try the priority on a scratch thread first, so a refusal is reported, not ignored.
    std::thread::spawn(move || priority.apply_to_current_thread())
        .join()
        .map_err(|_| RunError::CannotRun("priority check thread panicked".into()))?
        .map_err(|e| RunError::CannotRun(e.to_string()))?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(move || {
            let _ = priority.apply_to_current_thread();
        })
        .build()
        .map_err(|e| RunError::CannotRun(format!("cannot start the async runtime: {e}")))
}

/// Log lines with their time stamp.
#[derive(Clone)]
struct Log(Arc<dyn Sink>);

impl Log {
    fn line(&self, text: &str) {
        self.0.log(&format!("{} {text}", timestamp_now()));
    }
}

fn resolve(addr: &str) -> Result<SocketAddr, RunError> {
    addr.to_socket_addrs()
        .map_err(|e| {
            RunError::CannotRun(format!("cannot resolve `{addr}` (expected HOST:PORT): {e}"))
        })?
        .next()
        .ok_or_else(|| RunError::CannotRun(format!("`{addr}` resolves to no address")))
}

fn checked(wire: Wire) -> Result<Wire, RunError> {
    wire.validate()
        .map_err(|e| RunError::Usage(e.to_string()))?;
    Ok(wire)
}

async fn serve_on(options: ServeOptions, sink: Arc<dyn Sink>) -> Result<(), RunError> {
    let wire = checked(options.wire)?;
    let addr = resolve(&options.listen)?;
    let log = Log(sink.clone());
    let quiet = options.quiet;
    let event_log = log.clone();
    let events: Arc<dyn Fn(&ServerEvent) + Send + Sync> = Arc::new(move |e: &ServerEvent| {
        let connection_event = !matches!(e, ServerEvent::AcceptError { .. });
        if !(quiet && connection_event) {
            event_log.line(&words::server_event_text(e));
        }
    });
    let config = ServerConfig {
        wire,
        keepalive: options.so_keepalive,
        idle_timeout: options.idle_timeout,
        events,
        ..ServerConfig::default()
    };
    let server = Server::bind(addr, config)
        .await
        .map_err(|e| RunError::CannotRun(format!("cannot listen on {addr}: {e}")))?;
    let local = server
        .local_addr()
        .map_err(|e| RunError::CannotRun(e.to_string()))?;
    let stats = server.stats();
    log.line(&format!(
        "listening on {local} (probe {:02x}, reply {:02x})",
        wire.probe, wire.reply
    ));
    let started = Instant::now();
    let print_stats = |final_: bool| {
        let s = stats.snapshot();
        let usage = Usage::now();
        if options.run.json {
            let elapsed = started.elapsed().as_secs_f64();
            let record = words::server_stats_json(&s, usage, final_, &timestamp_now(), elapsed);
            sink.record(&record.to_string());
        } else {
            log.line(&words::server_stats_text(&s, usage));
        }
    };
    let why = tokio::select! {
        _ = server.run() => "server stopped",
        why = lifetime::stop_signal(options.run.duration) => why,
        _ = lifetime::every(options.run.stats_every, &print_stats) => "unreachable",
    };
    finish(&log, &options.run, why, print_stats);
    Ok(())
}

/// The last words of a process: why it stops, then the final statistics when asked for.
fn finish(log: &Log, run: &RunOptions, why: &str, print_stats: impl Fn(bool)) {
    log.line(&format!("stopping: {why}"));
    if run.stats || run.stats_every.is_some() {
        print_stats(true);
    }
}

/// The client configuration every connection starts from, and the fleet around it.
fn client_plan(o: &ClientOptions) -> Result<(ClientConfig, fleet::FleetPlan), RunError> {
    let wire = checked(o.wire)?;
    let usage = |text: &str| Err(RunError::Usage(text.to_string()));
    if o.connections == 0 {
        return usage("--connections must be at least 1");
    }
    if o.no_reconnect && o.connections > 1 {
        return usage("--no-reconnect works with a single connection only");
    }
    if o.user_timeout.is_some() && o.keepalive.is_none() {
        // TCP_USER_TIMEOUT alone must not switch keep-alive on behind the user's back.
        return usage(
            "--user-timeout needs --keepalive (use --keepalive on to keep the system's values)",
        );
    }
    let target = resolve(&o.connect)?;
    let mut keepalive = o.keepalive.and_then(|k| k.settings().copied());
    if let Some(ut) = o.user_timeout {
        keepalive
            .get_or_insert_with(KeepaliveSettings::default)
            .user_timeout = Some(ut);
    }
    let base = ClientConfig {
        every: o.every,
        timeout: o.timeout,
        misses: o.misses,
        wire,
        dialect: o.dialect,
        keepalive,
        connect_timeout: o.connect_timeout,
        backoff: o.backoff,
        reconnect: !o.no_reconnect,
        ..ClientConfig::new(target)
    };
    base.validate().map_err(RunError::Usage)?;
    let plan = fleet::FleetPlan {
        connections: o.connections,
        bind: o.bind.clone(),
        ramp: o.ramp,
        warmup: o.warmup,
        duration: o.run.duration,
        stats_every: o.run.stats_every,
    };
    Ok((base, plan))
}

async fn client_on(
    o: ClientOptions,
    base: ClientConfig,
    plan: fleet::FleetPlan,
    sink: Arc<dyn Sink>,
) -> Result<ClientEnd, RunError> {
    let log = Log(sink.clone());
    let many = o.connections > 1;
    let level = o.log.unwrap_or(if many {
        LogLevel::Events
    } else {
        LogLevel::Beats
    });
    let event_log = log.clone();
    let events: EventSink = Arc::new(move |conn, e: &ClientEvent| {
        let beat = matches!(e, ClientEvent::Reply { .. } | ClientEvent::Beat { .. });
        if level == LogLevel::None || (beat && level != LogLevel::Beats) {
            return;
        }
        let who = if many {
            format!("conn={conn} ")
        } else {
            String::new()
        };
        event_log.line(&format!("{who}{}", words::client_event_text(e)));
    });
    let stats = Arc::new(ClientStats::default());
    let started = Instant::now();
    let print_stats = |final_: bool| {
        let s = stats.snapshot();
        let usage = Usage::now();
        if o.run.json {
            let elapsed = started.elapsed().as_secs_f64();
            let time = timestamp_now();
            let record = words::client_stats_json(&s, usage, o.connections, final_, &time, elapsed);
            sink.record(&record.to_string());
        } else {
            for line in words::client_stats_text(&s) {
                log.line(&line);
            }
        }
    };
    let end = fleet::run_fleet(&base, &plan, &stats, &events, &print_stats, |line| {
        log.line(line)
    })
    .await;
    let (why, end) = match end {
        fleet::FleetEnd::Stopped(why) => (why.to_string(), ClientEnd::Stopped),
        fleet::FleetEnd::ClientEnded(exit) => {
            (words::client_exit_text(&exit), ClientEnd::Ended(exit))
        }
    };
    finish(&log, &o.run, &why, print_stats);
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ClientOptions {
        ClientOptions {
            connect: "127.0.0.1:7000".into(),
            every: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            misses: 3,
            keepalive: None,
            user_timeout: None,
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(5),
            no_reconnect: false,
            connections: 1,
            bind: Vec::new(),
            ramp: None,
            warmup: None,
            log: None,
            wire: Wire::default(),
            dialect: Dialect::Bytes,
            run: RunOptions {
                stats: false,
                stats_every: None,
                json: false,
                duration: None,
                priority: ThreadPriority::Inherit,
            },
        }
    }

    fn usage_error(o: &ClientOptions) -> String {
        match client_plan(o) {
            Err(RunError::Usage(why)) => why,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn contradictory_client_options_are_usage_errors() {
        let o = ClientOptions {
            connections: 0,
            ..options()
        };
        assert_eq!(usage_error(&o), "--connections must be at least 1");
        let o = ClientOptions {
            connections: 2,
            no_reconnect: true,
            ..options()
        };
        assert!(usage_error(&o).contains("single connection"));
        let o = ClientOptions {
            user_timeout: Some(Duration::from_secs(5)),
            ..options()
        };
        assert!(usage_error(&o).starts_with("--user-timeout needs --keepalive"));
        let o = ClientOptions {
            every: Duration::ZERO,
            ..options()
        };
        assert_eq!(usage_error(&o), "the probe period must be above zero");
        let o = ClientOptions {
            wire: Wire {
                reply: 0x01,
                ..Wire::default()
            },
            ..options()
        };
        assert!(usage_error(&o).contains("must differ"));
    }

    #[test]
    fn user_timeout_rides_on_the_keepalive_asked_for() {
        let o = ClientOptions {
            keepalive: Some(KeepaliveSettings::parse_nginx("30s::").unwrap()),
            user_timeout: Some(Duration::from_secs(20)),
            connections: 3,
            bind: vec!["127.0.0.2".parse().unwrap()],
            ..options()
        };
        let (base, plan) = client_plan(&o).unwrap();
        let k = base.keepalive.unwrap();
        assert_eq!(k.idle, Some(Duration::from_secs(30)));
        assert_eq!(k.user_timeout, Some(Duration::from_secs(20)));
        assert!(base.reconnect);
        assert_eq!((plan.connections, plan.bind.len()), (3, 1));
    }

    #[test]
    fn an_unresolvable_server_cannot_run() {
        let o = ClientOptions {
            connect: "no port".into(),
            ..options()
        };
        match client_plan(&o) {
            Err(RunError::CannotRun(why)) => {
                assert!(why.starts_with("cannot resolve `no port` (expected HOST:PORT): "))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_zero_statistics_period_is_refused_before_anything_starts() {
        let run = RunOptions {
            stats_every: Some(Duration::ZERO),
            ..options().run
        };
        match runtime(&run) {
            Err(RunError::Usage(why)) => assert_eq!(
                why,
                "--stats-every 0s must be above zero and at most 366 days"
            ),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn log_levels_by_name() {
        assert_eq!(LogLevel::from_name("beats"), Some(LogLevel::Beats));
        assert_eq!(LogLevel::from_name("none"), Some(LogLevel::None));
        assert_eq!(LogLevel::from_name("all"), None);
    }
}
