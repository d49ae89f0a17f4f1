//! `keepsight heartbeat serve|client`: an application heartbeat that stays on schedule.

use super::{EXIT_FAILURE, EXIT_PROBLEMS};
use anyhow::{bail, Context};
use keepsight_keepalive::heartbeat::{
    parse_hex_byte, run_client, timestamp_now, Backoff, ClientConfig, ClientEvent, ClientExit,
    ClientStats, EventSink, Server, ServerConfig, ServerEvent, Summary, ThreadPriority, Wire,
    DEFAULT_MAX_APP_LEN, MAX_DURATION,
};
use keepsight_keepalive::{format_duration, process_usage, KeepaliveSettings, SoKeepalive};
use keepsight_time::parse_duration;
use serde_json::json;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVE_ABOUT: &str = "\
Answer heartbeat probes: every probe byte (default 01) gets one reply byte (default 41), in \
order; application frames (02, 4-byte big-endian length, payload) are echoed back. Runs until \
interrupted (Ctrl-C, SIGTERM) or for --duration.

Log lines and the --stats summary carry UTC timestamps with milliseconds. With --json the \
summaries are JSON objects on stdout and the log goes to stderr.";

const SERVE_AFTER: &str = "\
Examples:
  keepsight heartbeat serve --listen 127.0.0.1:7000
  keepsight heartbeat serve --listen [::]:7000 --so-keepalive 60s:10s:3 --idle-timeout 3m
  keepsight heartbeat serve --listen 0.0.0.0:7000 --quiet --stats-every 10s --json";

const CLIENT_ABOUT: &str = "\
Send heartbeat probes on a fixed schedule and tell how the peer answers.

Probe k is due at start + k × --every on the monotonic clock: neither slow replies nor work in \
between shift the schedule. Each reply is timed against its own probe. A probe unanswered after \
--timeout is a miss; --misses consecutive misses declare the peer dead (never the first miss \
alone, unless --misses 1), the connection is closed and a new one is made after a jittered \
exponential backoff (--backoff-min doubling up to --backoff-max, each wait drawn from its upper \
half).

Runs until interrupted (Ctrl-C, SIGTERM), for --duration, or with --no-reconnect until the \
first connection ends. Exit status: 0; 1 when the run ended because the peer was declared dead \
or the connection was lost (with --no-reconnect); 3 when it could not run.";

const CLIENT_AFTER: &str = "\
Examples:
  keepsight heartbeat client --connect 10.0.0.5:7000 --every 45s --timeout 1s --misses 3
  keepsight heartbeat client --connect host:7000 --every 10s --keepalive 30s:5s:3 --stats
  keepsight heartbeat client --connect 127.0.0.1:7000 --connections 5000 \\
      --bind 127.0.0.2,127.0.0.3 --every 5s --log events --stats-every 10s --json";

#[derive(clap::Subcommand)]
pub enum Command {
    /// Answer heartbeat probes.
    #[command(long_about = SERVE_ABOUT, after_long_help = SERVE_AFTER)]
    Serve(ServeArgs),
    /// Send heartbeat probes on a schedule.
    #[command(long_about = CLIENT_ABOUT, after_long_help = CLIENT_AFTER)]
    Client(ClientArgs),
}

#[derive(clap::Args)]
pub struct WireArgs {
    /// Probe byte, two hex digits.
    #[arg(long, default_value = "01", value_parser = parse_hex_byte, value_name = "HEX")]
    probe: u8,
    /// Reply byte, two hex digits.
    #[arg(long, default_value = "41", value_parser = parse_hex_byte, value_name = "HEX")]
    reply: u8,
    /// Largest application payload accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_APP_LEN, value_name = "BYTES")]
    max_frame: u32,
}

impl WireArgs {
    fn wire(&self) -> anyhow::Result<Wire> {
        let wire = Wire {
            probe: self.probe,
            reply: self.reply,
            max_app_len: self.max_frame,
        };
        wire.validate()?;
        Ok(wire)
    }
}

#[derive(clap::Args)]
pub struct StatsArgs {
    /// Print a statistics summary on exit.
    #[arg(long)]
    stats: bool,
    /// Also print one every DURATION (implies --stats).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    stats_every: Option<Duration>,
    /// Summaries as JSON objects (one per line) on stdout; the log moves to stderr.
    #[arg(long)]
    json: bool,
    /// Stop after this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Scheduling priority of the runtime threads: normal, nice:N, realtime[:N] (SCHED_FIFO;
    /// needs root). Keeps beats on time when every core is busy.
    #[arg(long, default_value = "normal", value_parser = ThreadPriority::parse, value_name = "PRIORITY")]
    priority: ThreadPriority,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:7000 or [::]:7000.
    #[arg(long, value_name = "ADDR")]
    listen: String,
    /// Kernel keep-alive on accepted sockets, nginx syntax: on, off, [idle]:[intvl]:[cnt].
    #[arg(long, value_name = "SPEC", value_parser = KeepaliveSettings::parse_nginx)]
    so_keepalive: Option<SoKeepalive>,
    /// Close connections that send nothing for this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    idle_timeout: Option<Duration>,
    /// Do not log each connection.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    wire: WireArgs,
    #[command(flatten)]
    stats: StatsArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogLevel {
    /// Every reply, plus events.
    Beats,
    /// Connects, misses, deaths, reconnects.
    Events,
    /// Nothing but summaries.
    None,
}

#[derive(clap::Args)]
pub struct ClientArgs {
    /// Server address, e.g. 10.0.0.5:7000 or host:7000.
    #[arg(long, value_name = "ADDR")]
    connect: String,
    /// Probe period.
    #[arg(long, default_value = "45s", value_name = "DURATION", value_parser = parse_duration)]
    every: Duration,
    /// A probe without a reply after this long is a miss.
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = parse_duration)]
    timeout: Duration,
    /// Consecutive misses that declare the peer dead.
    #[arg(long, default_value_t = 3, value_name = "N")]
    misses: u32,
    /// Also turn on kernel keep-alive underneath, nginx syntax: on, [idle]:[intvl]:[cnt].
    #[arg(long, value_name = "SPEC", value_parser = KeepaliveSettings::parse_nginx)]
    keepalive: Option<SoKeepalive>,
    /// TCP_USER_TIMEOUT on the client socket (sent data unacknowledged this long kills it).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    user_timeout: Option<Duration>,
    /// First reconnect delay (doubles per failure, jittered).
    #[arg(long, default_value = "500ms", value_name = "DURATION", value_parser = parse_duration)]
    backoff_min: Duration,
    /// Longest reconnect delay.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    backoff_max: Duration,
    /// Give up on connect after this long.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = parse_duration)]
    connect_timeout: Duration,
    /// Stop when the connection ends instead of reconnecting.
    #[arg(long)]
    no_reconnect: bool,
    /// Number of connections to hold (their probes are spread over the period).
    #[arg(long, default_value_t = 1, value_name = "N")]
    connections: usize,
    /// Source addresses to connect from, comma-separated, used in turn.
    #[arg(long, value_name = "IP[,IP...]", value_delimiter = ',')]
    bind: Vec<IpAddr>,
    /// Time over which to open the connections (default: 1 ms per connection).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    ramp: Option<Duration>,
    /// Leave the first DURATION (connection setup) out of the RTT and lateness histograms;
    /// counts of probes, misses and reconnects still cover the whole run.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    warmup: Option<Duration>,
    /// What to log (default: beats for one connection, events for several).
    #[arg(long, value_enum)]
    log: Option<LogLevel>,
    #[command(flatten)]
    wire: WireArgs,
    #[command(flatten)]
    stats: StatsArgs,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let stats_args = match &command {
        Command::Serve(a) => &a.stats,
        Command::Client(a) => &a.stats,
    };
    if let Some(d) = stats_args
        .stats_every
        .filter(|d| *d > MAX_DURATION || d.is_zero())
    {
        bail!(
            "--stats-every {} must be above zero and at most 366 days",
            format_duration(d)
        );
    }
    // Many connections need many descriptors; raising to the hard limit is what the admin allows.
    let _ = keepsight_keepalive::raise_fd_limit();
    let priority = match &command {
        Command::Serve(a) => a.stats.priority,
        Command::Client(a) => a.stats.priority,
    };
    // Try the priority on a scratch thread first, so a refusal is reported, not ignored.
    std::thread::spawn(move || priority.apply_to_current_thread())
        .join()
        .map_err(|_| anyhow::anyhow!("priority check thread panicked"))??;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(move || {
            let _ = priority.apply_to_current_thread();
        })
        .build()
        .context("cannot start the async runtime")?;
    match command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Client(args) => runtime.block_on(client(args)),
    }
}

/// Where log lines go: stdout, or stderr when stdout carries JSON.
#[derive(Clone, Copy)]
struct Logger {
    to_stderr: bool,
}

impl Logger {
    fn line(&self, text: &str) {
        if self.to_stderr {
            emit(
                &mut std::io::stderr(),
                &format!("{} {text}", timestamp_now()),
            );
        } else {
            emit(
                &mut std::io::stdout(),
                &format!("{} {text}", timestamp_now()),
            );
        }
    }
}

/// Writes one line, ignoring a closed pipe (`keepsight heartbeat client | head` must not
/// panic) and any other output error: the heartbeat matters more than its log.
fn emit(out: &mut impl std::io::Write, line: &str) {
    let _ = writeln!(out, "{line}");
}

fn resolve(addr: &str) -> anyhow::Result<SocketAddr> {
    addr.to_socket_addrs()
        .with_context(|| format!("cannot resolve `{addr}` (expected HOST:PORT)"))?
        .next()
        .with_context(|| format!("`{addr}` resolves to no address"))
}

/// Waits for Ctrl-C, SIGTERM or the end of `--duration`.
async fn stop_signal(duration: Option<Duration>) -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let term_recv = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    let limit = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted",
        _ = term_recv => "terminated",
        _ = limit => "duration reached",
    }
}

fn ms(x: f64) -> String {
    format!("{x:.3}ms")
}

fn summary_text(s: &Summary) -> String {
    format!(
        "n={} p50={} p90={} p99={} p99.9={} max={}",
        s.count,
        ms(s.p50_ms),
        ms(s.p90_ms),
        ms(s.p99_ms),
        ms(s.p999_ms),
        ms(s.max_ms)
    )
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let wire = args.wire.wire()?;
    let addr = resolve(&args.listen)?;
    let logger = Logger {
        to_stderr: args.stats.json,
    };
    let quiet = args.quiet;
    let events: Arc<dyn Fn(&ServerEvent) + Send + Sync> =
        Arc::new(move |e: &ServerEvent| match e {
            ServerEvent::Accepted { peer } if !quiet => logger.line(&format!("accepted {peer}")),
            ServerEvent::Closed { peer, reason } if !quiet => {
                logger.line(&format!("closed {peer}: {reason}"))
            }
            ServerEvent::AcceptError { error } => logger.line(&format!("accept failed: {error}")),
            _ => {}
        });
    let config = ServerConfig {
        wire,
        keepalive: args.so_keepalive,
        idle_timeout: args.idle_timeout,
        events,
        ..ServerConfig::default()
    };
    let server = match Server::bind(addr, config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("keepsight: cannot listen on {addr}: {e}");
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
    };
    let local = server.local_addr()?;
    let stats = server.stats();
    logger.line(&format!(
        "listening on {local} (probe {:02x}, reply {:02x})",
        wire.probe, wire.reply
    ));
    let started = Instant::now();
    let print_stats = {
        let stats = stats.clone();
        let json = args.stats.json;
        move |final_: bool| {
            let s = stats.snapshot();
            let (cpu, rss) = process_usage();
            if json {
                emit(
                    &mut std::io::stdout(),
                    &json!({
                        "kind": "server-stats",
                        "final": final_,
                        "time": timestamp_now(),
                        "elapsed_s": started.elapsed().as_secs_f64(),
                        "server": s,
                        "cpu_s": cpu,
                        "rss_kib": rss,
                    })
                    .to_string(),
                );
            } else {
                logger.line(&format!(
                    "stats: open={} accepted={} probes_answered={} app_frames={} protocol_errors={} idle_closed={} cpu={cpu:.2}s rss={rss}KiB",
                    s.open, s.accepted, s.probes_answered, s.app_frames, s.protocol_errors, s.idle_closed
                ));
            }
        }
    };
    let periodic = {
        let print_stats = print_stats.clone();
        let every = args.stats.stats_every;
        async move {
            match every {
                Some(every) if !every.is_zero() => {
                    let mut tick =
                        tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                    loop {
                        tick.tick().await;
                        print_stats(false);
                    }
                }
                _ => std::future::pending::<()>().await,
            }
        }
    };
    let why = tokio::select! {
        _ = server.run() => "server stopped",
        why = stop_signal(args.stats.duration) => why,
        _ = periodic => "unreachable",
    };
    logger.line(&format!("stopping: {why}"));
    if args.stats.stats || args.stats.stats_every.is_some() {
        print_stats(true);
    }
    Ok(ExitCode::SUCCESS)
}

async fn client(args: ClientArgs) -> anyhow::Result<ExitCode> {
    let wire = args.wire.wire()?;
    let target = resolve(&args.connect)?;
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if args.no_reconnect && args.connections > 1 {
        bail!("--no-reconnect works with a single connection only");
    }
    let mut keepalive = match args.keepalive {
        None => None,
        Some(SoKeepalive::Off) => None,
        Some(SoKeepalive::On(s)) => Some(s),
    };
    if let Some(ut) = args.user_timeout {
        keepalive
            .get_or_insert_with(KeepaliveSettings::default)
            .user_timeout = Some(ut);
    }
    let mut base = ClientConfig::new(target);
    base.every = args.every;
    base.timeout = args.timeout;
    base.misses = args.misses;
    base.wire = wire;
    base.keepalive = keepalive;
    base.connect_timeout = args.connect_timeout;
    base.backoff = Backoff {
        min: args.backoff_min,
        max: args.backoff_max,
    };
    base.reconnect = !args.no_reconnect;
    if let Err(e) = base.validate() {
        bail!("{e}");
    }
    if args.user_timeout.is_some() && args.keepalive.is_none() {
        // TCP_USER_TIMEOUT alone must not switch keep-alive on behind the user's back.
        bail!("--user-timeout needs --keepalive (use --keepalive on to keep the system's values)");
    }

    let logger = Logger {
        to_stderr: args.stats.json,
    };
    let level = args.log.unwrap_or(if args.connections == 1 {
        LogLevel::Beats
    } else {
        LogLevel::Events
    });
    let many = args.connections > 1;
    let events: EventSink = Arc::new(move |conn, e: &ClientEvent| {
        if level == LogLevel::None {
            return;
        }
        let who = if many {
            format!("conn={conn} ")
        } else {
            String::new()
        };
        let text = match e {
            ClientEvent::Reply { seq, rtt, lateness } => {
                if level != LogLevel::Beats {
                    return;
                }
                format!(
                    "reply seq={seq} rtt={} late={}",
                    ms(rtt.as_secs_f64() * 1e3),
                    ms(lateness.as_secs_f64() * 1e3)
                )
            }
            ClientEvent::Connected { local, peer, keepalive } => match keepalive {
                Some(k) => format!(
                    "connected {local} -> {peer} (keep-alive idle={} interval={} probes={} user_timeout={})",
                    format_duration(k.idle),
                    format_duration(k.interval),
                    k.count,
                    k.user_timeout.map(format_duration).unwrap_or_else(|| "off".into())
                ),
                None => format!("connected {local} -> {peer}"),
            },
            ClientEvent::ConnectFailed { error } => error.clone(),
            ClientEvent::LateReply { seq, rtt } => {
                format!("late reply seq={seq} rtt={} (already counted as a miss)", ms(rtt.as_secs_f64() * 1e3))
            }
            ClientEvent::Miss { seq, consecutive } => {
                format!("miss seq={seq} (no reply within the timeout; {consecutive} in a row)")
            }
            ClientEvent::Skipped { slots, behind } => format!(
                "client fell {} behind schedule: skipped {slots} probe slot(s)",
                format_duration(*behind)
            ),
            ClientEvent::Dead { consecutive, silent_for } => format!(
                "peer declared dead after {consecutive} consecutive misses (nothing heard for {})",
                ms(silent_for.as_secs_f64() * 1e3)
            ),
            ClientEvent::Closed { reason } => format!("connection ended: {reason}"),
            ClientEvent::Reconnecting { delay } => {
                format!("reconnecting in {}", ms(delay.as_secs_f64() * 1e3))
            }
            ClientEvent::App { payload } => format!("application frame, {} bytes", payload.len()),
            ClientEvent::AppTooLong { len } => {
                format!("application payload of {len} bytes not sent: longer than --max-frame")
            }
        };
        logger.line(&format!("{who}{text}"));
    });

    let stats = Arc::new(ClientStats::default());
    let started = Instant::now();
    let n = args.connections;
    let ramp = args.ramp.unwrap_or(Duration::from_millis(n as u64));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let mut config = base.clone();
        if !args.bind.is_empty() {
            config.bind = Some(args.bind[i % args.bind.len()]);
        }
        // Spread first probes over one period so n connections do not beat in lockstep.
        let phase = args.every.mul_f64(i as f64 / n as f64);
        let start_at = ramp.mul_f64(i as f64 / n as f64);
        config.first_probe_delay = phase.saturating_sub(start_at);
        let stats = stats.clone();
        let events = events.clone();
        tasks.spawn(async move {
            tokio::time::sleep(start_at).await;
            run_client(config, i, stats, events).await
        });
    }
    let print_stats = {
        let stats = stats.clone();
        let json = args.stats.json;
        move |final_: bool| {
            let s = stats.snapshot();
            let (cpu, rss) = process_usage();
            if json {
                emit(
                    &mut std::io::stdout(),
                    &json!({
                        "kind": "client-stats",
                        "final": final_,
                        "time": timestamp_now(),
                        "elapsed_s": started.elapsed().as_secs_f64(),
                        "connections": n,
                        "client": s,
                        "cpu_s": cpu,
                        "rss_kib": rss,
                    })
                    .to_string(),
                );
            } else {
                logger.line(&format!(
                    "stats: probes={} replies={} misses={} late_replies={} dead={} connects={} reconnects={} connect_failures={} skipped_slots={}",
                    s.probes_sent, s.replies, s.misses, s.late_replies, s.dead_declared, s.connects, s.reconnects, s.connect_failures, s.skipped_slots
                ));
                logger.line(&format!("stats: rtt {}", summary_text(&s.rtt)));
                logger.line(&format!("stats: lateness {}", summary_text(&s.lateness)));
            }
        }
    };
    let periodic = {
        let print_stats = print_stats.clone();
        let every = args.stats.stats_every;
        async move {
            match every {
                Some(every) if !every.is_zero() => {
                    let mut tick =
                        tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                    loop {
                        tick.tick().await;
                        print_stats(false);
                    }
                }
                _ => std::future::pending::<()>().await,
            }
        }
    };
    let warmup = {
        let stats = stats.clone();
        let warmup = args.warmup;
        async move {
            if let Some(w) = warmup {
                tokio::time::sleep(w).await;
                stats.reset_histograms();
                logger.line(&format!(
                    "warm-up of {} over: latency histograms restart",
                    format_duration(w)
                ));
            }
            std::future::pending::<()>().await
        }
    };
    let mut code = ExitCode::SUCCESS;
    tokio::select! {
        _ = warmup => {}
        why = stop_signal(args.stats.duration) => logger.line(&format!("stopping: {why}")),
        _ = periodic => {}
        done = tasks.join_next() => {
            // Only a client without reconnect ends by itself.
            if let Some(Ok(exit)) = done {
                let text = match &exit {
                    ClientExit::Dead => "peer declared dead".to_string(),
                    ClientExit::Closed(r) => format!("connection ended: {r}"),
                    ClientExit::ConnectFailed(r) => r.clone(),
                };
                logger.line(&format!("stopping: {text}"));
                code = match exit {
                    ClientExit::ConnectFailed(_) => ExitCode::from(EXIT_FAILURE),
                    _ => ExitCode::from(EXIT_PROBLEMS),
                };
            }
        }
    }
    tasks.abort_all();
    if args.stats.stats || args.stats.stats_every.is_some() {
        print_stats(true);
    }
    Ok(code)
}
