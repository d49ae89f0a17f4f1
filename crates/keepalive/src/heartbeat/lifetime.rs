//! How long a heartbeat process runs: until Ctrl-C, SIGTERM or a time limit, with a periodic
//! task (statistics) beside it.

use std::time::Duration;

/// Waits for Ctrl-C, SIGTERM or the end of `limit`, and says which.
pub async fn stop_signal(limit: Option<Duration>) -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let term_recv = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    let limit = async {
        match limit {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted",
        _ = term_recv => "terminated",
        _ = limit => "duration reached",
    }
}

/// Calls `task(false)` every `every` (the first time one period from now), forever; never
/// without a period. `false` tells a statistics printer that this is not the final summary.
pub async fn every(every: Option<Duration>, task: impl Fn(bool)) {
    match every {
        Some(every) if !every.is_zero() => {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                task(false);
            }
        }
        _ => std::future::pending::<()>().await,
    }
}
