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
}

pub fn run(args: Args) -> Outcome {
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
