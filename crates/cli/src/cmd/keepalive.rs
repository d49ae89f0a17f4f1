//! `keepsight keepalive`: explain a kernel keep-alive configuration as a timeline.

use crate::outcome::{Failure, Outcome, Status};
use anyhow::Context;
use keepsight_keepalive::explain::Explanation;
use keepsight_keepalive::{KeepaliveSettings, SoKeepalive, SystemDefaults};
use keepsight_time::parse_duration;
use std::io::Write;
use std::time::Duration;

#[derive(clap::Args)]
#[command(long_about = include_str!("../../help/keepalive-about.txt"), after_long_help = include_str!("../../help/keepalive-after.txt"))]
pub struct Args {
    /// Idle time before the first probe (TCP_KEEPIDLE), e.g. 7200, 2h, 30m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "nginx")]
    idle: Option<Duration>,
    /// Time between unanswered probes (TCP_KEEPINTVL), e.g. 75, 75s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "nginx")]
    interval: Option<Duration>,
    /// Unanswered probes before the connection is dropped (TCP_KEEPCNT, 1..=127).
    #[arg(long, value_name = "N", conflicts_with = "nginx")]
    probes: Option<u32>,
    /// nginx's so_keepalive value: on, off, or [idle]:[intvl]:[cnt] such as 30m::10
    /// (empty fields = system default).
    #[arg(long, value_name = "SPEC", value_parser = KeepaliveSettings::parse_nginx)]
    nginx: Option<SoKeepalive>,
    /// TCP_USER_TIMEOUT: with keep-alive on, Linux drops the connection once the peer has been
    /// silent this long (after at least one probe) and ignores the probe count.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    user_timeout: Option<Duration>,
    /// Idle timeout of a NAT, firewall or load balancer on the path, e.g. 350s (AWS NAT gateway).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    middlebox: Option<Duration>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Check a gRPC client/server pair of keep-alive settings instead (the flags below, named
    /// after grpc-core's channel arguments and grpc-go's keepalive fields; --middlebox applies).
    #[arg(long, conflicts_with_all = ["idle", "interval", "probes", "nginx", "user_timeout"])]
    grpc: bool,
    /// Client PING interval (GRPC_ARG_KEEPALIVE_TIME_MS, ClientParameters.Time); none: the
    /// client sends no keep-alive PING (the default).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "grpc")]
    client_time: Option<Duration>,
    /// How long the client waits for a PING's ACK (GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
    /// ClientParameters.Timeout; default 20s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "grpc")]
    client_timeout: Option<Duration>,
    /// The client pings with no call open (GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
    /// ClientParameters.PermitWithoutStream).
    #[arg(long, requires = "grpc")]
    client_permit_without_calls: bool,
    /// grpc-core client: PINGs without data before it waits for data
    /// (GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA; default 2; 0 = unlimited, as grpc-go).
    #[arg(long, value_name = "N", requires = "grpc")]
    client_max_pings_without_data: Option<u32>,
    /// Smallest PING interval the server accepts
    /// (GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, EnforcementPolicy.MinTime;
    /// default 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "grpc")]
    server_min_time: Option<Duration>,
    /// The server accepts PINGs with no call open (GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
    /// EnforcementPolicy.PermitWithoutStream).
    #[arg(long, requires = "grpc")]
    server_permit_without_calls: bool,
    /// Early PINGs the server forgives before its GOAWAY (GRPC_ARG_HTTP2_MAX_PING_STRIKES;
    /// default 2; 0 = unlimited).
    #[arg(long, value_name = "N", requires = "grpc")]
    server_max_ping_strikes: Option<u32>,
}

/// `--grpc`: the pair's verdict, text or JSON; a too_many_pings GOAWAY or a middlebox that
/// cuts idle connections first is a problem (exit 1).
fn run_grpc(args: &Args) -> Outcome {
    use keepsight_keepalive::grpc::{self, GrpcPair};
    let pair = GrpcPair {
        client_time: args.client_time,
        client_timeout: args.client_timeout.unwrap_or(grpc::DEFAULT_CLIENT_TIMEOUT),
        client_permit_without_calls: args.client_permit_without_calls,
        client_max_pings_without_data: args
            .client_max_pings_without_data
            .unwrap_or(grpc::DEFAULT_MAX_PINGS_WITHOUT_DATA),
        server_min_time: args
            .server_min_time
            .unwrap_or(grpc::DEFAULT_SERVER_MIN_TIME),
        server_permit_without_calls: args.server_permit_without_calls,
        server_max_ping_strikes: args
            .server_max_ping_strikes
            .unwrap_or(grpc::DEFAULT_MAX_PING_STRIKES),
        middlebox: args.middlebox,
    };
    let verdict = pair.check();
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&verdict)?)
    } else {
        verdict.render_text(&pair)
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(Status::problem_if(verdict.is_problem()))
}

pub fn run(args: Args) -> Outcome {
    if args.grpc {
        return run_grpc(&args);
    }
    let flags = KeepaliveSettings {
        idle: args.idle,
        interval: args.interval,
        count: args.probes,
        user_timeout: args.user_timeout,
    };
    let system = SystemDefaults::read().map_err(|e| e.to_string());
    let explanation = Explanation::new(flags, args.nginx, args.middlebox, system)
        .context("these values would be refused by the kernel")
        .map_err(Failure::usage)?;
    let text = if args.json {
        format!(
            "{}\n",
            serde_json::to_string_pretty(&explanation.to_json())?
        )
    } else {
        explanation.render_text()
    };
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(Status::problem_if(explanation.loses_to_middlebox()))
}
