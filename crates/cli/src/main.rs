//! `keepsight`: find out why long-lived TCP connections die, and keep them alive.
//!
//! This binary only wires the library crates to the command line: argument parsing, output
//! streams, exit status (decided once, in [`outcome`]). Each subcommand lives in its own module
//! under `cmd/`.

// A binary has no public API: `pub` in its modules only means "used by a sibling module".
#![allow(unreachable_pub)]

mod cmd;
mod outcome;

use clap::{Parser, Subcommand};
use outcome::Status;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "keepsight",
    version,
    about = "Find out why long-lived TCP connections die, and keep them alive.",
    long_about = "Find out why long-lived TCP connections die, and keep them alive.\n\n\
        Analyze a capture as Wireshark would (packets), diagnose heartbeats, keep-alives and \
        resets (diagnose), and tune or test keep-alive at run time (keepalive, heartbeat, serve, proxy).",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Find heartbeats, late beats, keep-alives and what killed each connection; line them up with the app log.
    Diagnose(cmd::diagnose::Args),
    /// The diagnosis as one self-contained HTML page: findings linked to evidence, stream timelines, heartbeat charts.
    Report(cmd::report::Args),
    /// tshark's expert info (-z expert), then keepsight's own findings.
    Expert(cmd::expert::Args),
    /// TCP conversations as tshark -z conv,tcp counts them, plus how each ended, idle gaps, heartbeat period.
    Conv(cmd::conv::Args),
    /// One TCP or UDP conversation's payload as tshark -z follow prints it (ascii, hex, raw, yaml; chunk ranges).
    Follow(cmd::follow::Args),
    /// List the packets of a capture the way tshark does (summary lines, -T fields, -T json).
    Packets(cmd::packets::Args),
    /// HTTP/1.x keep-alive: who closed each connection and why (idle timeout, request limit, reuse race), and badly framed messages.
    Http(cmd::http::Args),
    /// Explain a TCP keep-alive configuration: when a dead peer is noticed, whether a middlebox forgets the connection first.
    Keepalive(cmd::keepalive::Args),
    /// Run an application heartbeat server or client that stays on schedule.
    #[command(subcommand)]
    Heartbeat(cmd::heartbeat::Command),
    /// Serve fixed or static HTTP/1.1 responses with nginx-style keep-alive controls.
    Serve(cmd::serve::Args),
    /// HTTP/1.1 reverse proxy with nginx-style keep-alive controls and a drain mode.
    Proxy(cmd::proxy::Args),
    /// Measure a live HTTP server's keep-alive behaviour, or the idle timeout of the NATs/firewalls on a path.
    #[command(subcommand)]
    Probe(cmd::probe::Command),
    /// Watch live traffic (libpcap, or a capture stream on stdin): alert when a heartbeat is overdue or a connection dies, keep the packets as evidence.
    Watch(cmd::watch::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version end here too: they are not errors.
            let _ = e.print();
            let status = if e.use_stderr() {
                Status::Usage
            } else {
                Status::Success
            };
            return status.exit_code();
        }
    };
    outcome::finish(match cli.command {
        Command::Diagnose(args) => cmd::diagnose::run(args),
        Command::Report(args) => cmd::report::run(args),
        Command::Packets(args) => cmd::packets::run(args),
        Command::Expert(args) => cmd::expert::run(args),
        Command::Conv(args) => cmd::conv::run(args),
        Command::Follow(args) => cmd::follow::run(args),
        Command::Http(args) => cmd::http::run(args),
        Command::Keepalive(args) => cmd::keepalive::run(args),
        Command::Heartbeat(command) => cmd::heartbeat::run(command),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Proxy(args) => cmd::proxy::run(args),
        Command::Probe(command) => cmd::probe::run(command),
        Command::Watch(args) => cmd::watch::run(args),
    })
}
