//! `keepsight heartbeat serve|client`: an application heartbeat that stays on schedule.

use crate::outcome::{Classify, Failure, Outcome, Status};
use anyhow::{anyhow, Context};
use keepsight_keepalive::heartbeat::text::{self as words, Usage};
use keepsight_keepalive::heartbeat::{
    fleet, lifetime, parse_hex_byte, timestamp_now, Backoff, ClientConfig, ClientEvent, ClientExit,
    ClientStats, EventSink, Server, ServerConfig, ServerEvent, ThreadPriority, Wire,
    DEFAULT_MAX_APP_LEN, MAX_DURATION,
};
use keepsight_keepalive::{format_duration, KeepaliveSettings, SoKeepalive};
use keepsight_time::parse_duration;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Answer heartbeat probes.
    #[command(long_about = include_str!("../../help/heartbeat-serve-about.txt"), after_long_help = include_str!("../../help/heartbeat-serve-after.txt"))]
    Serve(ServeArgs),
    /// Send heartbeat probes on a schedule.
    #[command(long_about = include_str!("../../help/heartbeat-client-about.txt"), after_long_help = include_str!("../../help/heartbeat-client-after.txt"))]
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
    fn wire(&self) -> Result<Wire, Failure> {
        let wire = Wire {
            probe: self.probe,
            reply: self.reply,
            max_app_len: self.max_frame,
        };
        wire.validate().or_usage()?;
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

pub fn run(command: Command) -> Outcome {
    let stats_args = match &command {
        Command::Serve(a) => &a.stats,
        Command::Client(a) => &a.stats,
    };
    if let Some(d) = stats_args
        .stats_every
        .filter(|d| *d > MAX_DURATION || d.is_zero())
    {
        return Err(Failure::usage(anyhow!(
            "--stats-every {} must be above zero and at most 366 days",
            format_duration(d)
        )));
    }
    // Many connections need many descriptors; raising to the hard limit is what the admin allows.
    let _ = keepsight_keepalive::raise_fd_limit();
    let priority = stats_args.priority;
    // Try the priority on a scratch thread first, so a refusal is reported, not ignored.
    std::thread::spawn(move || priority.apply_to_current_thread())
        .join()
        .map_err(|_| anyhow!("priority check thread panicked"))??;
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

/// Where log lines go: stdout, or stderr when stdout carries JSON. Output errors (a closed
/// pipe: `keepsight heartbeat client | head`) are ignored: the heartbeat matters more than its
/// log.
#[derive(Clone, Copy)]
struct Logger {
    to_stderr: bool,
}

impl Logger {
    fn line(&self, text: &str) {
        let line = format!("{} {text}", timestamp_now());
        if self.to_stderr {
            emit(&mut std::io::stderr(), &line);
        } else {
            emit(&mut std::io::stdout(), &line);
        }
    }
}

fn emit(out: &mut impl std::io::Write, line: &str) {
    let _ = writeln!(out, "{line}");
}

fn resolve(addr: &str) -> Result<SocketAddr, Failure> {
    addr.to_socket_addrs()
        .with_context(|| format!("cannot resolve `{addr}` (expected HOST:PORT)"))?
        .next()
        .ok_or_else(|| Failure::cannot_run(anyhow!("`{addr}` resolves to no address")))
}

async fn serve(args: ServeArgs) -> Outcome {
    let wire = args.wire.wire()?;
    let addr = resolve(&args.listen)?;
    let logger = Logger {
        to_stderr: args.stats.json,
    };
    let quiet = args.quiet;
    let events: Arc<dyn Fn(&ServerEvent) + Send + Sync> = Arc::new(move |e: &ServerEvent| {
        let connection_event = !matches!(e, ServerEvent::AcceptError { .. });
        if !(quiet && connection_event) {
            logger.line(&words::server_event_text(e));
        }
    });
    let config = ServerConfig {
        wire,
        keepalive: args.so_keepalive,
        idle_timeout: args.idle_timeout,
        events,
        ..ServerConfig::default()
    };
    let server = Server::bind(addr, config)
        .await
        .map_err(|e| Failure::cannot_run(anyhow!("cannot listen on {addr}: {e}")))?;
    let local = server.local_addr()?;
    let stats = server.stats();
    logger.line(&format!(
        "listening on {local} (probe {:02x}, reply {:02x})",
        wire.probe, wire.reply
    ));
    let started = Instant::now();
    let json = args.stats.json;
    let print_stats = move |final_: bool| {
        let s = stats.snapshot();
        let usage = Usage::now();
        if json {
            let elapsed = started.elapsed().as_secs_f64();
            let record = words::server_stats_json(&s, usage, final_, &timestamp_now(), elapsed);
            emit(&mut std::io::stdout(), &record.to_string());
        } else {
            logger.line(&words::server_stats_text(&s, usage));
        }
    };
    let why = tokio::select! {
        _ = server.run() => "server stopped",
        why = lifetime::stop_signal(args.stats.duration) => why,
        _ = lifetime::every(args.stats.stats_every, &print_stats) => "unreachable",
    };
    logger.line(&format!("stopping: {why}"));
    if args.stats.stats || args.stats.stats_every.is_some() {
        print_stats(true);
    }
    Ok(Status::Success)
}

async fn client(args: ClientArgs) -> Outcome {
    let wire = args.wire.wire()?;
    let usage = |text: &str| Err(Failure::usage(anyhow!("{text}")));
    if args.connections == 0 {
        return usage("--connections must be at least 1");
    }
    if args.no_reconnect && args.connections > 1 {
        return usage("--no-reconnect works with a single connection only");
    }
    if args.user_timeout.is_some() && args.keepalive.is_none() {
        // TCP_USER_TIMEOUT alone must not switch keep-alive on behind the user's back.
        return usage(
            "--user-timeout needs --keepalive (use --keepalive on to keep the system's values)",
        );
    }
    let target = resolve(&args.connect)?;
    let mut keepalive = args.keepalive.and_then(|k| k.settings().copied());
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
    base.validate()
        .map_err(|e| Failure::usage(anyhow!("{e}")))?;

    let logger = Logger {
        to_stderr: args.stats.json,
    };
    let many = args.connections > 1;
    let level = args.log.unwrap_or(if many {
        LogLevel::Events
    } else {
        LogLevel::Beats
    });
    let events: EventSink = Arc::new(move |conn, e: &ClientEvent| {
        let beat = matches!(e, ClientEvent::Reply { .. });
        if level == LogLevel::None || (beat && level != LogLevel::Beats) {
            return;
        }
        let who = if many {
            format!("conn={conn} ")
        } else {
            String::new()
        };
        logger.line(&format!("{who}{}", words::client_event_text(e)));
    });

    let stats = Arc::new(ClientStats::default());
    let started = Instant::now();
    let n = args.connections;
    let json = args.stats.json;
    let print_stats = {
        let stats = stats.clone();
        move |final_: bool| {
            let s = stats.snapshot();
            let usage = Usage::now();
            if json {
                let elapsed = started.elapsed().as_secs_f64();
                let record =
                    words::client_stats_json(&s, usage, n, final_, &timestamp_now(), elapsed);
                emit(&mut std::io::stdout(), &record.to_string());
            } else {
                for line in words::client_stats_text(&s) {
                    logger.line(&line);
                }
            }
        }
    };
    let plan = fleet::FleetPlan {
        connections: n,
        bind: args.bind.clone(),
        ramp: args.ramp,
        warmup: args.warmup,
        duration: args.stats.duration,
        stats_every: args.stats.stats_every,
    };
    let end = fleet::run_fleet(&base, &plan, &stats, &events, &print_stats, |line| {
        logger.line(line)
    })
    .await;
    let (why, status) = match &end {
        fleet::FleetEnd::Stopped(why) => (why.to_string(), Status::Success),
        fleet::FleetEnd::ClientEnded(exit) => (
            words::client_exit_text(exit),
            match exit {
                ClientExit::ConnectFailed(_) => Status::CannotRun,
                _ => Status::ProblemFound,
            },
        ),
    };
    logger.line(&format!("stopping: {why}"));
    if args.stats.stats || args.stats.stats_every.is_some() {
        print_stats(true);
    }
    Ok(status)
}
