//! `keepsight heartbeat serve|client`: an application heartbeat that stays on schedule. The
//! process (checks, runtime, logging, statistics) is `keepsight_keepalive::heartbeat::run`'s.

use crate::outcome::{Failure, Outcome, Status};
use keepsight_keepalive::heartbeat::run::{
    self, ClientEnd, ClientOptions, LogLevel, RunError, RunOptions, ServeOptions, Sink,
};
use keepsight_keepalive::heartbeat::{
    parse_hex_byte, Backoff, ClientExit, Dialect, ThreadPriority, Wire, DEFAULT_MAX_APP_LEN,
};
use keepsight_keepalive::{KeepaliveSettings, SoKeepalive};
use keepsight_time::parse_duration;
use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

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
    fn wire(&self) -> Wire {
        Wire {
            probe: self.probe,
            reply: self.reply,
            max_app_len: self.max_frame,
        }
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
    #[arg(long, value_parser = log_levels())]
    log: Option<LogLevel>,
    /// What the probes are: keepsight's probe/reply bytes, or a protocol's own heartbeat
    /// (fix: Logon with HeartBtInt = --every, Heartbeats, TestRequest when the peer is overdue,
    /// Logout "no heartbeat"; iso8583: 0800/0810 echo tests; amqp: handshake, heartbeat
    /// negotiated in Tune/TuneOk, heartbeat frames; redis: PING/PONG).
    #[arg(long, default_value = "bytes", value_parser = Dialect::parse, value_name = "PROTOCOL")]
    protocol: Dialect,
    #[command(flatten)]
    wire: WireArgs,
    #[command(flatten)]
    stats: StatsArgs,
}

impl StatsArgs {
    fn run(&self) -> RunOptions {
        RunOptions {
            stats: self.stats,
            stats_every: self.stats_every,
            json: self.json,
            duration: self.duration,
            priority: self.priority,
        }
    }
}

/// `--log`'s values, each with its help line.
fn log_levels() -> impl clap::builder::TypedValueParser<Value = LogLevel> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new("beats").help("Every reply, plus events"),
        PossibleValue::new("events").help("Connects, misses, deaths, reconnects"),
        PossibleValue::new("none").help("Nothing but summaries"),
    ])
    .map(|name| LogLevel::from_name(&name).unwrap_or(LogLevel::Events))
}

pub fn run(command: Command) -> Outcome {
    let ended = match command {
        Command::Serve(a) => {
            let options = ServeOptions {
                listen: a.listen,
                wire: a.wire.wire(),
                so_keepalive: a.so_keepalive,
                idle_timeout: a.idle_timeout,
                quiet: a.quiet,
                run: a.stats.run(),
            };
            run::serve(options, Arc::new(Console(a.stats.json))).map(|()| ClientEnd::Stopped)
        }
        Command::Client(a) => {
            let options = ClientOptions {
                connect: a.connect,
                every: a.every,
                timeout: a.timeout,
                misses: a.misses,
                keepalive: a.keepalive,
                user_timeout: a.user_timeout,
                backoff: Backoff {
                    min: a.backoff_min,
                    max: a.backoff_max,
                },
                connect_timeout: a.connect_timeout,
                no_reconnect: a.no_reconnect,
                connections: a.connections,
                bind: a.bind,
                ramp: a.ramp,
                warmup: a.warmup,
                log: a.log,
                wire: a.wire.wire(),
                dialect: a.protocol,
                run: a.stats.run(),
            };
            run::client(options, Arc::new(Console(a.stats.json)))
        }
    };
    match ended {
        Ok(ClientEnd::Stopped) => Ok(Status::Success),
        Ok(ClientEnd::Ended(ClientExit::ConnectFailed(_))) => Ok(Status::CannotRun),
        Ok(ClientEnd::Ended(_)) => Ok(Status::ProblemFound),
        Err(RunError::Usage(why)) => Err(Failure::usage(anyhow::anyhow!(why))),
        Err(RunError::CannotRun(why)) => Err(Failure::cannot_run(anyhow::anyhow!(why))),
    }
}

/// Log lines on stdout, or on stderr when stdout carries the JSON records. Write errors (a
/// closed pipe) are ignored: the heartbeat matters more than its log.
struct Console(bool);

impl Sink for Console {
    fn log(&self, line: &str) {
        if self.0 {
            let _ = writeln!(std::io::stderr(), "{line}");
        } else {
            let _ = writeln!(std::io::stdout(), "{line}");
        }
    }

    fn record(&self, json: &str) {
        let _ = writeln!(std::io::stdout(), "{json}");
    }
}
