//! A user-space stand-in for `tc qdisc … netem`: two namespaces joined through a pair of TUN
//! devices, with a relay that delays, jitters, reorders and drops each IP packet on its way.
//!
//! Why not netem itself: kernels built without `CONFIG_NET_SCH_NETEM` (this project's CI VM is
//! one) refuse the qdisc, and a test that needs loss and delay must still run there. The
//! packets are the kernel's own, both TCP stacks are real; only the wire in between is this
//! relay, which does what netem does to each packet: drop with a probability, hold for a delay
//! with uniform jitter (independent per packet, so packets overtake each other as with netem's
//! jitter), and send a share at once ahead of the delayed ones (netem's `reorder`).

use crate::ns::in_ns;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the relay does to every packet, in each direction.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    /// Time each packet is held (netem `delay`).
    pub delay: Duration,
    /// Uniform spread around `delay`, `delay ± jitter` (netem's second `delay` value).
    pub jitter: Duration,
    /// Share of packets dropped, 0.0 to 1.0 (netem `loss`).
    pub loss: f64,
    /// Share of packets sent at once, ahead of the delayed ones (netem `reorder`).
    pub reorder: f64,
    /// Seed of the relay's random choices, so a run's decisions can be repeated.
    pub seed: u64,
}

/// A running impaired link; stops relaying (the path goes dead) when dropped.
pub struct ImpairedLink {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<RelayCounts>>,
}

impl ImpairedLink {
    /// The link whose relay `threads` run until `stop` is set.
    pub(crate) fn new(
        stop: Arc<AtomicBool>,
        threads: Vec<std::thread::JoinHandle<RelayCounts>>,
    ) -> ImpairedLink {
        ImpairedLink { stop, threads }
    }
}

/// Packets seen by one direction of the relay.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RelayCounts {
    /// Packets read from the sending side.
    pub seen: u64,
    /// Packets dropped by `loss`.
    pub dropped: u64,
    /// Packets sent ahead of the delayed ones by `reorder`.
    pub sent_at_once: u64,
}

impl ImpairedLink {
    /// Stops the relay and returns what each direction (a → b, b → a) did.
    pub fn stop(mut self) -> Vec<RelayCounts> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .drain(..)
            .map(|t| t.join().expect("relay thread"))
            .collect()
    }
}

impl Drop for ImpairedLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;

/// Opens a TUN device named `name` inside namespace `ns` (the device lives where it is made).
pub(crate) fn open_tun(ns: &str, name: &str) -> File {
    let name = name.to_string();
    in_ns(ns, move || {
        let file = File::options()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .expect("open /dev/net/tun (CONFIG_TUN)");
        // struct ifreq: 16 bytes of name, then the flags (a short) in a 24-byte union.
        let mut ifr = [0u8; 40];
        ifr[..name.len()].copy_from_slice(name.as_bytes());
        ifr[16..18].copy_from_slice(&(IFF_TUN | IFF_NO_PI).to_ne_bytes());
        // SAFETY: TUNSETIFF reads and writes one struct ifreq, which `ifr` is in size and layout.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, ifr.as_mut_ptr()) };
        assert_eq!(
            rc,
            0,
            "TUNSETIFF {name}: {}",
            std::io::Error::last_os_error()
        );
        file
    })
    .join()
    .expect("tun thread")
}

/// A packet waiting for its time; the heap yields the earliest due first.
struct Held {
    due: Instant,
    order: u64,
    bytes: Vec<u8>,
}
impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        (self.due, self.order) == (o.due, o.order)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.due, o.order).cmp(&(self.due, self.order))
    }
}

/// splitmix64: small, seedable, good enough to decide a packet's fate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub(crate) fn spawn_relay(
    mut from: File,
    mut to: File,
    imp: Impairment,
    stream: u64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<RelayCounts> {
    std::thread::spawn(move || {
        let mut rng = Rng(imp.seed ^ stream.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let mut held = BinaryHeap::new();
        let mut counts = RelayCounts::default();
        let mut buf = vec![0u8; 65_536];
        let mut order = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            while held.peek().is_some_and(|h: &Held| h.due <= now) {
                let h = held.pop().expect("peeked");
                // A full device queue drops the packet, as a full qdisc would.
                let _ = to.write(&h.bytes);
            }
            let wait = held
                .peek()
                .map(|h| h.due.saturating_duration_since(now))
                .unwrap_or(Duration::from_millis(20))
                .min(Duration::from_millis(20));
            let mut pfd = libc::pollfd {
                fd: from.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = wait.as_micros().div_ceil(1000) as libc::c_int;
            // SAFETY: one valid pollfd for the duration of the call.
            if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
                continue;
            }
            let Ok(n) = from.read(&mut buf) else { continue };
            counts.seen += 1;
            if rng.unit() < imp.loss {
                counts.dropped += 1;
                continue;
            }
            let due = if rng.unit() < imp.reorder {
                counts.sent_at_once += 1;
                now
            } else {
                let spread = imp.jitter.as_secs_f64() * (2.0 * rng.unit() - 1.0);
                let d = (imp.delay.as_secs_f64() + spread).max(0.0);
                now + Duration::from_secs_f64(d)
            };
            order += 1;
            held.push(Held {
                due,
                order,
                bytes: buf[..n].to_vec(),
            });
        }
        counts
    })
}
