//! `keepsight heartbeat` (being built).

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Answer heartbeat probes.
    Serve {},
    /// Send heartbeat probes on a schedule.
    Client {},
}

pub fn run(_command: Command) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`keepsight heartbeat` is not built yet")
}
