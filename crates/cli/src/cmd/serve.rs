//! `keepsight serve`: fixed or static HTTP/1.1 responses with nginx-style keep-alive controls.
//! The listener flags it shares with `keepsight proxy` are `keepsight_proxy::flags::ListenArgs`.

use crate::outcome::{Failure, Outcome, Status};
use keepsight_proxy::flags::ListenArgs;
use keepsight_proxy::serve::{Content, ServeHandler};
use keepsight_proxy::{serve_until_stopped, server::Handler, RunError};
use keepsight_time::parse_duration;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Serves until SIGTERM/SIGINT or admin `/shutdown`, drains, and says so as `speaker`.
pub(crate) fn run_server<H: Handler>(
    speaker: &'static str,
    args: &ListenArgs,
    handler: Arc<H>,
    extra_stats: Option<Arc<dyn Fn() -> String + Send + Sync>>,
) -> Outcome {
    let say = |what: &str| eprintln!("{speaker}: {what}");
    let mut options = args.options().map_err(|e| {
        anyhow::Error::new(e.source).context(format!("open access log {}", e.path.display()))
    })?;
    options.server.tls = args
        .tls()
        .map_err(|e| Failure::cannot_run(e).said_by(speaker))?;
    match serve_until_stopped(options, handler, extra_stats, args.workers, say) {
        Ok(()) => Ok(Status::Success),
        Err(RunError::Start(e)) => Err(Failure::cannot_run(e).said_by(speaker)),
        Err(e) => Err(Failure::cannot_run(e)),
    }
}

#[derive(clap::Args, Debug)]
#[command(after_long_help = include_str!("../../help/serve-after.txt"))]
pub struct Args {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Status code of the fixed response.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(200..=599))]
    pub status: u16,
    /// Body of the fixed response.
    #[arg(long, conflicts_with_all = ["body_size", "root"])]
    pub body: Option<String>,
    /// Fixed response body of this many bytes (`x` repeated).
    #[arg(long, value_name = "BYTES", conflicts_with = "root")]
    pub body_size: Option<usize>,
    /// Serve files under this directory instead of a fixed response (GET and HEAD).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Extra response header, `Name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = keepsight_proxy::serve::parse_header_arg)]
    pub headers: Vec<(String, String)>,
    /// Wait this long before each response (holds requests in flight, for drain tests).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub delay: Duration,
}

pub fn run(args: Args) -> Outcome {
    let content = Content::from_flags(
        args.root.as_deref(),
        args.body.as_deref(),
        args.body_size,
        args.status,
        &args.headers,
    )
    .map_err(|e| Failure::cannot_run(anyhow::anyhow!(e)))?;
    let handler = Arc::new(ServeHandler::new(content, args.delay));
    run_server("keepsight serve", &args.listen, handler, None)
}
