//! Running a server to its end, as the `serve` and `proxy` commands do: start the workers, say
//! where they listen, wait for SIGTERM, SIGINT or a shutdown asked through the admin endpoint,
//! then drain gracefully and wait for the workers.

use crate::log::AccessLog;
use crate::proxy::ProxyHandler;
use crate::server::Handler;
use crate::start::{start_workers, Options, StartError, Workers};
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Why a server run from the command line ended in error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The listener, the admin endpoint or a worker could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The signal handlers could not be installed.
    #[error("signal handling: {0}")]
    Signals(io::Error),
}

/// Serves on `workers` threads (default: one per CPU) until a stop is asked, then drains.
/// `say` hears where it listens (scripts read these lines to learn a port 0's number), the
/// start of the drain and the final counters.
pub fn serve_until_stopped<H: Handler>(
    options: Options,
    handler: Arc<H>,
    extra_stats: Option<Arc<dyn Fn() -> String + Send + Sync>>,
    workers: Option<usize>,
    say: impl Fn(&str),
) -> Result<(), RunError> {
    let workers =
        workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let w = start_workers(options, handler, extra_stats, workers)?;
    say(&format!("listening on {}", w.running.addr));
    if let Some(a) = w.running.admin {
        say(&format!("admin on {a}"));
    }
    // The calling thread only waits for a stop, then for the workers to drain.
    w.run_until_stopped(say).map_err(RunError::Signals)
}

impl AccessLog {
    /// The access log at `path`, appended to (`-`: standard output).
    pub fn open(path: &Path) -> io::Result<Arc<AccessLog>> {
        if path.as_os_str() == "-" {
            return Ok(Arc::new(AccessLog::new(Box::new(io::stdout()))));
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Arc::new(AccessLog::new(Box::new(file))))
    }
}

impl Workers {
    /// Blocks the calling thread until a stop is asked (SIGTERM, SIGINT, admin `/shutdown`),
    /// shuts down gracefully and joins the workers. `say` is told what happens, for the
    /// operator: the start of the drain, then the final counters as JSON.
    pub fn run_until_stopped(self, say: impl Fn(&str)) -> io::Result<()> {
        let ctl = self.running.ctl.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            loop {
                tokio::select! {
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                    // The admin endpoint only flags the shutdown: look at it often enough.
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {
                        if ctl.is_shutting_down() {
                            break;
                        }
                    }
                }
            }
            say("shutting down gracefully");
            ctl.shutdown();
            io::Result::Ok(())
        })?;
        self.join();
        say(&format!("stopped: {}", ctl.stats.to_json()));
        Ok(())
    }
}

impl ProxyHandler {
    /// Closes pooled connections past their idle timeout every second, even when no request
    /// comes to reuse them, so the upstream is not left holding sockets nobody will use. The
    /// thread lives as long as the process.
    pub fn spawn_pruner(self: &Arc<Self>) {
        let handler = self.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            handler.prune_idle();
        });
    }

    /// The proxy's own counters as JSON members (`"upstream_connects":N,...`), to append to the
    /// server's statistics object.
    pub fn upstream_stats_json(&self) -> String {
        format!(
            "\"upstream_connects\":{},\"upstream_retries\":{},\"upstream_idle\":{}",
            self.upstream_connects.load(Ordering::Relaxed),
            self.retries.load(Ordering::Relaxed),
            self.idle_connections()
        )
    }
}
