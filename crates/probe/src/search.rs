//! The parallel idle search shared by `probe http` and `probe path`.
//!
//! Each round opens several connections at once, makes one exchange on each (so the idle
//! period starts from a known quiet point), then lets connection *k* idle for its own test
//! duration before checking that it still carries an exchange. While idle, every connection
//! also watches for the peer closing it (FIN or RST): a server that closes idle connections
//! is measured directly, to the millisecond, on every connection still idle. A middlebox that
//! forgets silently is only seen by the check failing; the bound is then the bracket between
//! the longest idle that worked and the shortest that failed, and further rounds split that
//! bracket until it is within the requested precision.
//!
//! Round one spaces its test durations geometrically up to `--max-idle`, so an unknown timeout
//! of any size is bracketed to a fixed ratio in one round that lasts only about as long as the
//! timeout itself (tests beyond the first failure are abandoned). Later rounds space them
//! evenly inside the bracket. With 32 connections, a 60 s timeout is bracketed to about
//! ±8 s in round one and to about ±0.3 s in round two: about two minutes in all.

use crate::conn::{Conn, Dest, IoFail};
use crate::{secs, Budget, Progress};
use keepsight_keepalive::heartbeat::Wire;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::time::Instant;

/// The exchange that shows a connection still works.
#[derive(Clone)]
pub enum Check {
    /// Send this HTTP request, read one complete response.
    Http(Arc<Vec<u8>>),
    /// Send the probe byte, read the reply byte (`keepsight heartbeat serve`).
    Heartbeat(Wire),
}

impl Check {
    /// One exchange on `conn`, finished before `deadline`.
    pub async fn run(&self, conn: &mut Conn, deadline: Instant) -> Result<(), IoFail> {
        match self {
            Check::Http(request) => {
                conn.write_all(request, deadline).await?;
                crate::response::read_response(conn, deadline, false)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.into_io())
            }
            Check::Heartbeat(wire) => {
                conn.write_all(&[wire.probe], deadline).await?;
                while conn.buf.is_empty() {
                    conn.fill(deadline).await?;
                }
                let b = conn.buf[0];
                conn.consume(1);
                if b == wire.reply {
                    Ok(())
                } else {
                    Err(IoFail::Other(format!(
                        "expected the reply byte {:02x}, got {b:02x}: is the peer `keepsight heartbeat serve` with the same --probe/--reply?",
                        wire.reply
                    )))
                }
            }
        }
    }
}

/// How the parallel idle search proceeds.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// Longest idle period tried.
    pub max_idle: Duration,
    /// Stop when the bound is known to ± this.
    pub precision: Duration,
    /// Connections per round.
    pub parallel: usize,
    /// How long a check may take before it counts as failed.
    pub reply_timeout: Duration,
    /// How long a connect may take.
    pub connect_timeout: Duration,
    /// Shortest idle period tried in the first round.
    pub first: Duration,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            max_idle: Duration::from_secs(600),
            precision: Duration::from_secs(1),
            parallel: 32,
            reply_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            first: Duration::from_millis(250),
        }
    }
}

/// What one connection of a round saw.
#[derive(Debug, Clone)]
enum Seen {
    /// The check after `test` of idle was answered.
    Alive,
    /// The check after `test` of idle failed.
    Failed(IoFail),
    /// The peer closed the connection while it idled.
    Closed {
        after: Duration,
        how: IoFail,
        announced: Option<String>,
    },
    /// Stopped: a shorter idle had already failed, or the time cap was reached.
    Abandoned,
    /// Could not open it or make the first exchange.
    OpenFailed(String),
}

#[derive(Debug, Clone)]
struct Outcome {
    test: Duration,
    rtt: Option<Duration>,
    seen: Seen,
}

/// How the peer closed idle connections, when it did.
#[derive(Debug, Clone, Serialize)]
pub struct CloseInfo {
    /// `fin` or `rst`.
    pub how: String,
    /// Connections on which the close was seen.
    pub observed_on: usize,
    /// Earliest and latest close, seconds of idle.
    pub first_s: f64,
    /// Latest close, seconds of idle.
    pub last_s: f64,
    /// First line of anything the peer sent before closing (e.g. `HTTP/1.1 408 ...`); null
    /// when it closed without a word.
    pub announced: Option<String>,
}

/// The result of an idle search. Seconds throughout.
#[derive(Debug, Clone, Serialize)]
pub struct IdleResult {
    /// `observed-close`: the peer closed idle connections and we saw it happen;
    /// `check-after-idle`: connections stopped carrying data after an idle period, without
    /// a close we could see (a middlebox forgetting, or a close swallowed on the way);
    /// `none-found`: every idle period tried (up to `lower_s`) worked;
    /// `not-measured`: the search could not run (see `note`).
    pub method: String,
    /// Best estimate of the idle timeout.
    pub estimate_s: Option<f64>,
    /// ± around the estimate.
    pub precision_s: Option<f64>,
    /// Longest idle known to work.
    pub lower_s: f64,
    /// Shortest idle known to fail (or latest close seen).
    pub upper_s: Option<f64>,
    /// How the peer closed, when a close was seen.
    pub close: Option<CloseInfo>,
    /// How the check after the shortest failing idle failed: `no-response`, `rst`, `fin`.
    pub failure: Option<String>,
    /// Median time of the first exchange on a fresh connection.
    pub rtt_s: Option<f64>,
    /// Search rounds run.
    pub rounds: u32,
    /// Connections the search opened.
    pub connections: u32,
    /// Time the search took.
    pub elapsed_s: f64,
    /// Results that contradict a single timeout (a longer idle worked where a shorter failed).
    pub inconsistent: bool,
    /// Why the search ended before reaching the precision: `max-time`, `max-connections`.
    pub stopped_by: Option<String>,
    /// Why the search could not run, when it could not.
    pub note: Option<String>,
}

#[derive(Clone, Copy, Debug)]
struct Stop {
    at: Duration,
    /// A close was seen (other idle connections should keep watching a little, to see it too).
    passive: bool,
}

/// Runs the search against `dest`.
pub async fn idle_search(
    dest: &Dest,
    check: Check,
    cfg: &SearchConfig,
    budget: &Budget,
    progress: &Progress,
) -> IdleResult {
    let started = Instant::now();
    let mut res = IdleResult {
        method: "not-measured".into(),
        estimate_s: None,
        precision_s: None,
        lower_s: 0.0,
        upper_s: None,
        close: None,
        failure: None,
        rtt_s: None,
        rounds: 0,
        connections: 0,
        elapsed_s: 0.0,
        inconsistent: false,
        stopped_by: None,
        note: None,
    };
    // Slack for connecting, the first exchange and the last check around the idle period;
    // under a tight --max-time, a third of what is left, so a shorter search still runs.
    let slack = (cfg.connect_timeout.min(Duration::from_secs(1)) + cfg.reply_timeout)
        .min(budget.remaining() / 3);
    let mut lo = Duration::ZERO;
    let mut hi: Option<Duration> = None;
    let mut rtts = Vec::new();
    let mut first_failure: Option<IoFail> = None;
    loop {
        let n = cfg.parallel.min(budget.left() as usize);
        if n == 0 {
            res.stopped_by = Some("max-connections".into());
            break;
        }
        let tests: Vec<Duration> = match hi {
            None => {
                let room = budget.remaining().saturating_sub(slack);
                let top = cfg.max_idle.min(room);
                if top < cfg.max_idle {
                    res.stopped_by = Some("max-time".into());
                }
                if top.is_zero() {
                    res.note = Some("the --max-time cap left no time for an idle search".into());
                    break;
                }
                ladder(cfg.first.min(top), top, n)
            }
            Some(h) => {
                if budget.remaining() < h + slack {
                    res.stopped_by = Some("max-time".into());
                    break;
                }
                let step = (h - lo).as_secs_f64() / (n + 1) as f64;
                (1..=n)
                    .map(|k| lo + Duration::from_secs_f64(step * k as f64))
                    .collect()
            }
        };
        res.rounds += 1;
        progress(&format!(
            "idle search round {}: {} connections idling {:.2}s to {:.2}s",
            res.rounds,
            tests.len(),
            tests[0].as_secs_f64(),
            tests[tests.len() - 1].as_secs_f64()
        ));
        let outcomes = round(dest, &check, &tests, cfg, budget).await;
        res.connections += outcomes.len() as u32;
        rtts.extend(outcomes.iter().filter_map(|o| o.rtt));
        if budget.remaining().is_zero() {
            res.stopped_by = Some("max-time".into());
        }

        // A close seen while idle measures the timeout directly: done.
        let closes: Vec<(Duration, &IoFail, &Option<String>)> = outcomes
            .iter()
            .filter_map(|o| match &o.seen {
                Seen::Closed {
                    after,
                    how,
                    announced,
                } => Some((*after, how, announced)),
                _ => None,
            })
            .collect();
        let alive_max_below = |limit: Duration| {
            outcomes
                .iter()
                .filter(|o| matches!(o.seen, Seen::Alive) && o.test < limit)
                .map(|o| o.test)
                .max()
        };
        if !closes.is_empty() {
            let mut after: Vec<Duration> = closes.iter().map(|c| c.0).collect();
            after.sort();
            let (first, last) = (after[0], after[after.len() - 1]);
            let median = after[after.len() / 2];
            let rtt = median_of(&mut rtts).unwrap_or_default();
            // The peer's timer started when it sent its last byte, up to one RTT before our
            // idle period started; a few ms more for scheduling on both ends.
            let precision = (last - first) / 2 + rtt + Duration::from_millis(5);
            let fins = closes.iter().filter(|c| *c.1 == IoFail::Eof).count();
            res.method = "observed-close".into();
            res.estimate_s = Some(secs(median));
            res.precision_s = Some(secs(precision));
            lo = lo.max(alive_max_below(first).unwrap_or_default());
            res.inconsistent = outcomes
                .iter()
                .any(|o| matches!(o.seen, Seen::Alive) && o.test > last);
            res.lower_s = secs(lo);
            res.upper_s = Some(secs(last));
            res.close = Some(CloseInfo {
                how: if fins * 2 >= closes.len() {
                    "fin"
                } else {
                    "rst"
                }
                .into(),
                observed_on: closes.len(),
                first_s: secs(first),
                last_s: secs(last),
                announced: closes.iter().find_map(|c| c.2.clone()),
            });
            res.stopped_by = None;
            break;
        }
        let failed = outcomes
            .iter()
            .filter_map(|o| match &o.seen {
                Seen::Failed(f) => Some((o.test, f)),
                _ => None,
            })
            .min_by_key(|(t, _)| *t);
        let open_failed = outcomes.iter().find_map(|o| match &o.seen {
            Seen::OpenFailed(e) => Some(e.clone()),
            _ => None,
        });
        match failed {
            Some((f, how)) => {
                if outcomes
                    .iter()
                    .any(|o| matches!(o.seen, Seen::Alive) && o.test > f)
                {
                    res.inconsistent = true;
                }
                lo = lo.max(alive_max_below(f).unwrap_or_default());
                hi = Some(f);
                first_failure = Some(how.clone());
            }
            None => {
                let best = outcomes
                    .iter()
                    .filter(|o| matches!(o.seen, Seen::Alive))
                    .map(|o| o.test)
                    .max();
                match best {
                    Some(b) if hi.is_none() => {
                        res.method = "none-found".into();
                        res.lower_s = secs(b);
                        break;
                    }
                    Some(b) => lo = lo.max(b),
                    None => {
                        res.note = Some(match open_failed {
                            Some(e) => format!("no connection could be used: {e}"),
                            None => "no connection reached its idle check".into(),
                        });
                        break;
                    }
                }
            }
        }
        let h = hi.expect("set above");
        if (h - lo) / 2 <= cfg.precision || res.stopped_by.is_some() || res.rounds >= 20 {
            break;
        }
    }
    if let Some(h) = hi {
        if res.method == "not-measured" || res.close.is_none() {
            res.method = "check-after-idle".into();
            res.lower_s = secs(lo);
            res.upper_s = Some(secs(h));
            res.estimate_s = Some(secs((lo + h) / 2));
            res.precision_s = Some(secs((h - lo) / 2));
            res.failure = first_failure.map(|f| f.name().to_string());
            res.note = None;
        }
    }
    res.rtt_s = median_of(&mut rtts).map(secs);
    res.elapsed_s = secs(started.elapsed());
    res
}

fn median_of(v: &mut [Duration]) -> Option<Duration> {
    v.sort();
    v.get(v.len() / 2).copied()
}

/// `n` durations from `first` to `top`, geometrically spaced (ratio constant), last = `top`.
fn ladder(first: Duration, top: Duration, n: usize) -> Vec<Duration> {
    if n <= 1 || first >= top {
        return vec![top];
    }
    let ratio = (top.as_secs_f64() / first.as_secs_f64()).powf(1.0 / (n - 1) as f64);
    let mut v: Vec<Duration> = (0..n)
        .map(|k| Duration::from_secs_f64(first.as_secs_f64() * ratio.powi(k as i32)))
        .collect();
    v[n - 1] = top;
    v
}

/// One round: every test duration on its own connection, all at once.
async fn round(
    dest: &Dest,
    check: &Check,
    tests: &[Duration],
    cfg: &SearchConfig,
    budget: &Budget,
) -> Vec<Outcome> {
    let (stop_tx, stop_rx) = watch::channel::<Option<Stop>>(None);
    let stop_tx = Arc::new(stop_tx);
    let mut set = tokio::task::JoinSet::new();
    for (i, &test) in tests.iter().enumerate() {
        let (check, cfg, budget, dest) = (check.clone(), cfg.clone(), budget.clone(), dest.clone());
        let (stop_tx, stop_rx) = (stop_tx.clone(), stop_rx.clone());
        set.spawn(async move {
            let (rtt, seen, sent_at) =
                one(&dest, &check, test, &cfg, &budget, &stop_tx, stop_rx).await;
            // A check sent late (a busy machine) tested the idle it really had.
            let test = sent_at.unwrap_or(test);
            (i, Outcome { test, rtt, seen })
        });
    }
    let mut out: Vec<Option<Outcome>> = vec![None; tests.len()];
    loop {
        match tokio::time::timeout_at(budget.deadline, set.join_next()).await {
            Ok(Some(Ok((i, o)))) => out[i] = Some(o),
            Ok(Some(Err(_))) => {}
            Ok(None) => break,
            Err(_) => {
                set.abort_all();
                break;
            }
        }
    }
    drop(stop_tx);
    out.into_iter()
        .zip(tests)
        .map(|(o, &test)| {
            o.unwrap_or(Outcome {
                test,
                rtt: None,
                seen: Seen::Abandoned,
            })
        })
        .collect()
}

fn publish(stop: &watch::Sender<Option<Stop>>, at: Duration, passive: bool) {
    stop.send_modify(|s| match s {
        Some(old) if old.at <= at => {}
        _ => *s = Some(Stop { at, passive }),
    });
}

/// One connection of a round: open, exchange, idle `test` while watching for a close, check.
async fn one(
    dest: &Dest,
    check: &Check,
    test: Duration,
    cfg: &SearchConfig,
    budget: &Budget,
    stop_tx: &watch::Sender<Option<Stop>>,
    mut stop_rx: watch::Receiver<Option<Stop>>,
) -> (Option<Duration>, Seen, Option<Duration>) {
    let mut conn = match Conn::open(dest, cfg.connect_timeout, budget).await {
        Ok(c) => c,
        Err(e) => return (None, Seen::OpenFailed(e.to_string()), None),
    };
    let t0 = Instant::now();
    if let Err(e) = check
        .run(&mut conn, (t0 + cfg.reply_timeout).min(budget.deadline))
        .await
    {
        return (
            None,
            Seen::OpenFailed(format!("the first exchange failed: {e}")),
            None,
        );
    }
    let idle_start = Instant::now();
    let rtt = idle_start - t0;
    let mut give_up_at = idle_start + test + Duration::from_secs(86400);
    let test_at = idle_start + test;
    let mut announced: Vec<u8> = Vec::new();
    let mut scratch = [0u8; 4096];
    loop {
        tokio::select! {
            biased;
            r = conn.stream.read(&mut scratch) => {
                let after = idle_start.elapsed();
                let how = match r {
                    Ok(0) => IoFail::Eof,
                    Ok(n) => {
                        let room = 200usize.saturating_sub(announced.len());
                        announced.extend_from_slice(&scratch[..n.min(room)]);
                        continue;
                    }
                    Err(e) => IoFail::from_io(&e),
                };
                publish(stop_tx, after, true);
                let announced = (!announced.is_empty()).then(|| {
                    let text = String::from_utf8_lossy(&announced);
                    text.lines().next().unwrap_or_default().trim().to_string()
                });
                return (Some(rtt), Seen::Closed { after, how, announced }, None);
            }
            _ = tokio::time::sleep_until(test_at.min(give_up_at)) => {
                if Instant::now() >= give_up_at {
                    return (Some(rtt), Seen::Abandoned, None);
                }
                break;
            }
            changed = stop_rx.changed() => {
                if changed.is_err() {
                    // The round is over.
                    return (Some(rtt), Seen::Abandoned, None);
                }
                let s = *stop_rx.borrow_and_update();
                if let Some(s) = s.filter(|s| s.at < test) {
                    if !s.passive {
                        return (Some(rtt), Seen::Abandoned, None);
                    }
                    // Keep watching a little: this connection should see the close too,
                    // which tells the spread of the peer's timer.
                    give_up_at = give_up_at.min(idle_start + s.at + s.at / 10 + Duration::from_millis(200));
                }
            }
        }
    }
    if let Some(s) = *stop_rx.borrow() {
        if s.at < test {
            return (Some(rtt), Seen::Abandoned, None);
        }
    }
    let sent_at = idle_start.elapsed();
    let deadline = (Instant::now() + cfg.reply_timeout).min(budget.deadline);
    match check.run(&mut conn, deadline).await {
        Ok(()) => (Some(rtt), Seen::Alive, Some(sent_at)),
        Err(e) => {
            publish(stop_tx, sent_at, false);
            (Some(rtt), Seen::Failed(e), Some(sent_at))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladder_is_geometric_and_ends_at_top() {
        let v = ladder(Duration::from_millis(250), Duration::from_secs(600), 32);
        assert_eq!(v.len(), 32);
        assert_eq!(v[0], Duration::from_millis(250));
        assert_eq!(v[31], Duration::from_secs(600));
        let r1 = v[1].as_secs_f64() / v[0].as_secs_f64();
        let r2 = v[30].as_secs_f64() / v[29].as_secs_f64();
        assert!((r1 - r2).abs() < 1e-6, "{r1} vs {r2}");
        assert_eq!(
            ladder(Duration::from_secs(1), Duration::from_secs(1), 5).len(),
            1
        );
    }
}
