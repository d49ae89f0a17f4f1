//! The bounds every input must stay within: CPU time of the checking thread and bytes allocated
//! at the peak, both measured around one check.
//!
//! CPU time rather than wall time, so a loaded machine (the fuzzers share it with builds) does
//! not turn a fast input into a "hang". Memory is counted by [`CountingAlloc`], which the
//! binaries that run the checks (the cargo-fuzz targets, the replay test) install as their
//! global allocator; without it the memory bound is not checked, and [`Budget::watch`] says so.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Largest CPU time one input may take. Typical inputs take well under a millisecond; a second
/// is far beyond any linear parse of the lengths fuzzed (up to 1 MiB) even unoptimized and
/// under coverage instrumentation, and well below libFuzzer's own 20-minute default.
pub const MAX_CPU: Duration = Duration::from_secs(1);

/// Memory any check may hold at its peak beyond what it held before, whatever the input: the
/// fixed buffers (reassembly windows, HPACK tables, header limits) are far smaller.
pub const FIXED_ALLOWANCE: usize = 32 << 20;

/// Memory a check may hold per input byte on top of [`FIXED_ALLOWANCE`]: copies of the input
/// (a capture read from bytes, payloads kept as evidence) are a small multiple of it.
pub const PER_INPUT_BYTE: usize = 16;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The system allocator, counting bytes in use and their peak so a check can be held to a
/// memory bound. Install it with `#[global_allocator]` in the binary that runs the checks.
pub struct CountingAlloc;

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s
// contract; the counters are only bookkeeping.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same layout, same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same layout, same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this layout (every allocation goes
        // through this type).
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; `ptr` came from `System` with `layout`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

fn grew(by: usize) {
    INSTALLED.store(true, Ordering::Relaxed);
    let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

/// CPU time the calling thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// What one check used.
#[derive(Clone, Copy, Debug)]
pub struct Used {
    /// CPU time of the checking thread.
    pub cpu: Duration,
    /// Peak bytes allocated beyond those in use when the check began; `None` when
    /// [`CountingAlloc`] is not the global allocator.
    pub peak_bytes: Option<usize>,
}

/// The bounds of one check.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Largest CPU time.
    pub cpu: Duration,
    /// Largest peak of extra bytes.
    pub bytes: usize,
}

impl Budget {
    /// The bound for an input of `len` bytes: [`MAX_CPU`], and [`FIXED_ALLOWANCE`] plus
    /// [`PER_INPUT_BYTE`] per byte.
    pub fn for_input(len: usize) -> Budget {
        Budget {
            cpu: MAX_CPU,
            bytes: FIXED_ALLOWANCE.saturating_add(len.saturating_mul(PER_INPUT_BYTE)),
        }
    }

    /// Runs `check`, measures it and panics (which the fuzzer reports as a crash, and the
    /// replay test as a failure) when it went over either bound.
    pub fn watch(self, target: &str, check: impl FnOnce()) -> Used {
        // The counters are process-wide: two checks at once would see each other's bytes.
        let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let base = CURRENT.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let started = thread_cpu();
        check();
        let cpu = thread_cpu().saturating_sub(started);
        let peak_bytes = INSTALLED
            .load(Ordering::Relaxed)
            .then(|| PEAK.load(Ordering::Relaxed).saturating_sub(base));
        assert!(
            cpu <= self.cpu,
            "{target}: one input took {cpu:?} of CPU (bound {:?})",
            self.cpu
        );
        if let Some(peak) = peak_bytes {
            assert!(
                peak <= self.bytes,
                "{target}: one input held {peak} bytes at the peak (bound {})",
                self.bytes
            );
        }
        Used { cpu, peak_bytes }
    }
}
