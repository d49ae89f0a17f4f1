//! Running a started server to its end: wait for SIGTERM, SIGINT or a shutdown asked through
//! the admin endpoint, then drain gracefully and wait for the workers.

use crate::proxy::ProxyHandler;
use crate::Workers;
use std::io;
use std::sync::atomic::Ordering;
use std::time::Duration;

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
