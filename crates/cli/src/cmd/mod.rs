//! One module per subcommand. Each exposes `Args` (clap) and `run(Args) -> anyhow::Result<ExitCode>`.

pub mod conv;
pub mod diagnose;
pub mod expert;
pub mod follow;
pub mod heartbeat;
pub mod http;
pub mod keepalive;
pub mod packets;
pub mod proxy;
pub mod serve;

/// Exit codes shared by every subcommand, so scripts can tell outcomes apart.
/// 0: success. 1: the command ran but found problems (damaged capture, failed check).
/// 2: usage error (clap's own code). 3: the command could not run (I/O, bind, ...).
pub const EXIT_PROBLEMS: u8 = 1;
pub const EXIT_FAILURE: u8 = 3;
