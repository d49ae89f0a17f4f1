//! Independent captures on a fixed number of worker threads, results in capture order.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Runs `work(i)` for every `i` in `0..count` on `jobs` threads (0: one per core) and hands
/// each result to `done` on the calling thread, in order of `i`, as soon as it and every
/// result before it are ready (a report can be printed while later captures still run).
/// Only `jobs` captures are analysed at once; a result waits in memory only while an earlier
/// one is still running.
pub fn run<T: Send>(
    count: usize,
    jobs: usize,
    work: impl Fn(usize) -> T + Sync,
    mut done: impl FnMut(usize, T),
) {
    let jobs = if jobs == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        jobs
    }
    .min(count.max(1));
    if jobs <= 1 {
        for i in 0..count {
            done(i, work(i));
        }
        return;
    }
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, T)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, work) = (&next, &work);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || tx.send((i, work(i))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut waiting = BTreeMap::new();
        let mut due = 0;
        for (i, result) in rx {
            waiting.insert(i, result);
            while let Some(result) = waiting.remove(&due) {
                done(due, result);
                due += 1;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::run;

    #[test]
    fn results_come_back_in_order_whatever_finishes_first() {
        for jobs in [0, 1, 2, 5] {
            let mut seen = Vec::new();
            run(
                20,
                jobs,
                |i| {
                    // Early jobs finish last.
                    std::thread::sleep(std::time::Duration::from_millis((20 - i as u64) * 2));
                    i * 10
                },
                |i, r| seen.push((i, r)),
            );
            let want: Vec<_> = (0..20).map(|i| (i, i * 10)).collect();
            assert_eq!(seen, want, "jobs {jobs}");
        }
    }

    #[test]
    fn jobs_run_at_the_same_time() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        run(
            6,
            3,
            |_| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(50));
                running.fetch_sub(1, Ordering::SeqCst);
            },
            |_, _| {},
        );
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }
}
