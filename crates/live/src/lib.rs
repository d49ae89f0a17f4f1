//! `keepsight-live`: packets as they happen, for `keepsight watch`.
//!
//! Two kinds of source hand out the same [`Event`]s through one bounded channel:
//! - live interfaces through libpcap ([`open_interfaces`]: one thread per interface, `any`
//!   included, with a BPF filter and a snap length), which also keep libpcap's counts of packets
//!   received and dropped ([`Live::stats`]);
//! - a pcap or pcapng stream read once, front to back ([`open_stream`]: `tcpdump -w - |`, or a
//!   file), through `keepsight-capture`'s reader.
//!
//! A source thread blocks on the channel when the consumer falls behind, so memory stays
//! bounded by the channel; libpcap then counts what the kernel had to drop. Packet buffers go
//! back to a small pool ([`Live::recycle`]) so a steady stream allocates nothing per packet.
//!
//! What this crate is not: it does not dissect or analyse (the engine and the analyses do), and
//! it does not write captures.

pub mod pcapng;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Packets the channel holds before a source waits for the consumer.
const CHANNEL_PACKETS: usize = 4096;
/// Buffers kept for reuse at most.
const POOL_MAX: usize = 1024;
/// How often a libpcap source wakes without packets (to publish its statistics).
const READ_TIMEOUT_MS: i32 = 100;

/// One captured frame.
#[derive(Debug)]
pub struct LivePacket {
    /// Capture time, ns since the Unix epoch.
    pub ts_ns: i64,
    /// Index of its interface, as announced by [`Event::Interface`].
    pub interface: u32,
    /// Bytes on the wire (more than `data.len()` when cut by the snap length).
    pub orig_len: u32,
    /// The captured bytes.
    pub data: Vec<u8>,
}

/// An interface packets are captured on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Its name (`eth0`, `any`; for a stream, the name the file gives it or `-`).
    pub name: String,
    /// LINKTYPE_* of its frames.
    pub link_type: u32,
    /// The most bytes kept per frame (0: no limit).
    pub snap_len: u32,
}

/// What a source says.
#[derive(Debug)]
pub enum Event {
    /// A new interface, before its first packet; indexes count from 0.
    Interface(u32, Interface),
    /// A packet.
    Packet(LivePacket),
    /// The source ended: the stream's end, or the error that stopped a source.
    End(Option<String>),
}

/// Why a source could not start.
#[derive(Debug)]
pub enum LiveError {
    /// The process may not capture: it needs root or the CAP_NET_RAW capability.
    Permission {
        /// The interface.
        interface: String,
        /// libpcap's words.
        detail: String,
    },
    /// The BPF filter does not compile.
    Filter {
        /// The filter as given.
        filter: String,
        /// libpcap's words.
        detail: String,
    },
    /// The interface cannot be opened (missing, down...).
    Interface {
        /// The interface.
        interface: String,
        /// libpcap's words.
        detail: String,
    },
    /// The stream is not a capture, or cannot be read.
    Stream(keepsight_capture::CaptureError),
}

impl std::fmt::Display for LiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LiveError::Permission { interface, detail } => write!(
                f,
                "cannot capture on {interface}: {detail}: capturing needs root or the CAP_NET_RAW \
                 capability (sudo setcap cap_net_raw,cap_net_admin=eip /path/to/keepsight)"
            ),
            LiveError::Filter { filter, detail } => {
                write!(f, "capture filter {filter:?} does not compile: {detail}")
            }
            LiveError::Interface { interface, detail } => {
                write!(f, "cannot capture on {interface}: {detail}")
            }
            LiveError::Stream(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LiveError {}

/// How to open live interfaces.
#[derive(Clone, Debug)]
pub struct CaptureOptions {
    /// Interface names (`any` for all).
    pub interfaces: Vec<String>,
    /// A BPF capture filter (tcpdump's syntax).
    pub filter: Option<String>,
    /// The most bytes kept per frame.
    pub snap_len: u32,
}

/// libpcap's counts for one interface, published by its thread.
#[derive(Default)]
struct Counts {
    received: AtomicU64,
    dropped: AtomicU64,
}

/// Totals over every interface, as libpcap counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets the kernel passed to libpcap.
    pub received: u64,
    /// Packets dropped for lack of buffer space (kernel and interface).
    pub dropped: u64,
}

/// Buffers handed back by the consumer, for the sources to fill again.
type Pool = Arc<Mutex<Vec<Vec<u8>>>>;

/// Running sources: receive their [`Event`]s.
pub struct Live {
    rx: Receiver<Event>,
    counts: Vec<Arc<Counts>>,
    pool: Pool,
    /// Sources that have not ended yet.
    running: usize,
}

impl Live {
    /// The next event, or `None` when nothing came within `timeout` (or every source ended and
    /// said so already).
    pub fn next(&mut self, timeout: Duration) -> Option<Event> {
        if self.running == 0 {
            return None;
        }
        match self.rx.recv_timeout(timeout) {
            Ok(Event::End(e)) => {
                self.running -= 1;
                Some(Event::End(e))
            }
            Ok(ev) => Some(ev),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                self.running = 0;
                Some(Event::End(None))
            }
        }
    }

    /// Whether every source has ended.
    pub fn ended(&self) -> bool {
        self.running == 0
    }

    /// Gives a packet's buffer back for reuse.
    pub fn recycle(&self, mut buf: Vec<u8>) {
        if let Ok(mut pool) = self.pool.lock() {
            if pool.len() < POOL_MAX {
                buf.clear();
                pool.push(buf);
            }
        }
    }

    /// libpcap's counts so far, over every interface (zero for a stream).
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        for c in &self.counts {
            s.received += c.received.load(Ordering::Relaxed);
            s.dropped += c.dropped.load(Ordering::Relaxed);
        }
        s
    }
}

fn take_buffer(pool: &Pool, data: &[u8]) -> Vec<u8> {
    let mut buf = pool
        .lock()
        .ok()
        .and_then(|mut p| p.pop())
        .unwrap_or_default();
    buf.extend_from_slice(data);
    buf
}

fn classify(interface: &str, e: pcap::Error) -> LiveError {
    let detail = e.to_string();
    let lower = detail.to_ascii_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        LiveError::Permission {
            interface: interface.to_string(),
            detail,
        }
    } else {
        LiveError::Interface {
            interface: interface.to_string(),
            detail,
        }
    }
}

/// Opens every interface of `opts` (all before the first packet, so a permission or filter
/// problem is reported before anything runs) and starts one capture thread each.
pub fn open_interfaces(opts: &CaptureOptions) -> Result<Live, LiveError> {
    let mut opened = Vec::new();
    for name in &opts.interfaces {
        let snap = i32::try_from(opts.snap_len).unwrap_or(i32::MAX);
        let cap = pcap::Capture::from_device(name.as_str())
            .and_then(|c| {
                c.snaplen(snap)
                    .promisc(false)
                    .immediate_mode(true)
                    .timeout(READ_TIMEOUT_MS)
                    .precision(pcap::Precision::Nano)
                    .open()
            })
            .map_err(|e| classify(name, e))?;
        let mut cap = cap;
        if let Some(f) = &opts.filter {
            cap.filter(f, true).map_err(|e| LiveError::Filter {
                filter: f.clone(),
                detail: e.to_string(),
            })?;
        }
        let link_type = cap.get_datalink().0 as u32;
        opened.push((name.clone(), link_type, cap));
    }
    let (tx, rx) = sync_channel(CHANNEL_PACKETS);
    let pool: Pool = Arc::default();
    let mut counts = Vec::new();
    for (index, (name, link_type, cap)) in opened.into_iter().enumerate() {
        let index = index as u32;
        let iface = Interface {
            name,
            link_type,
            snap_len: opts.snap_len,
        };
        // Announced before any thread runs: every interface precedes every packet.
        let _ = tx.send(Event::Interface(index, iface));
        let c = Arc::new(Counts::default());
        counts.push(c.clone());
        let (tx, pool) = (tx.clone(), pool.clone());
        std::thread::Builder::new()
            .name(format!("keepsight-capture-{index}"))
            .spawn(move || capture_loop(cap, index, &tx, &pool, &c))
            .map_err(|e| LiveError::Interface {
                interface: format!("#{index}"),
                detail: e.to_string(),
            })?;
    }
    Ok(Live {
        rx,
        running: counts.len(),
        counts,
        pool,
    })
}

fn capture_loop(
    mut cap: pcap::Capture<pcap::Active>,
    index: u32,
    tx: &SyncSender<Event>,
    pool: &Pool,
    counts: &Counts,
) {
    let mut since_stats = 0u32;
    loop {
        let ev = match cap.next_packet() {
            Ok(p) => {
                let h = p.header;
                // With nanosecond precision libpcap puts nanoseconds in tv_usec.
                let ts_ns = h.ts.tv_sec * 1_000_000_000 + h.ts.tv_usec;
                Some(Event::Packet(LivePacket {
                    ts_ns,
                    interface: index,
                    orig_len: h.len,
                    data: take_buffer(pool, p.data),
                }))
            }
            Err(pcap::Error::TimeoutExpired) => None,
            Err(e) => Some(Event::End(Some(e.to_string()))),
        };
        since_stats += 1;
        if ev.is_none() || since_stats >= 1024 {
            since_stats = 0;
            if let Ok(s) = cap.stats() {
                counts.received.store(s.received.into(), Ordering::Relaxed);
                counts.dropped.store(
                    u64::from(s.dropped) + u64::from(s.if_dropped),
                    Ordering::Relaxed,
                );
            }
        }
        let end = matches!(ev, Some(Event::End(_)));
        if let Some(ev) = ev {
            if tx.send(ev).is_err() || end {
                return;
            }
        }
    }
}

/// Reads a pcap or pcapng stream (standard input for `-r -`, or a file) on its own thread; its
/// interfaces are announced as the stream declares them. The stream's header is read here, so a
/// stream that is not a capture is an error before anything runs.
pub fn open_stream(input: Box<dyn std::io::Read + Send>) -> Result<Live, LiveError> {
    let reader = keepsight_capture::CaptureReader::from_read(input).map_err(LiveError::Stream)?;
    Ok(start_reader(reader))
}

/// [`open_stream`] over a capture file.
pub fn open_file(path: &std::path::Path) -> Result<Live, LiveError> {
    let reader = keepsight_capture::CaptureReader::open(path).map_err(LiveError::Stream)?;
    Ok(start_reader(reader))
}

fn start_reader(mut reader: keepsight_capture::CaptureReader) -> Live {
    let (tx, rx) = sync_channel(CHANNEL_PACKETS);
    let pool: Pool = Arc::default();
    let p = pool.clone();
    let spawned = std::thread::Builder::new()
        .name("keepsight-stream".into())
        .spawn(move || stream_loop(&mut reader, &tx, &p));
    Live {
        rx,
        counts: Vec::new(),
        pool,
        running: usize::from(spawned.is_ok()),
    }
}

fn stream_loop(reader: &mut keepsight_capture::CaptureReader, tx: &SyncSender<Event>, pool: &Pool) {
    let mut announced: Vec<bool> = Vec::new();
    loop {
        let (id, ev) = match reader.next_record() {
            Ok(Some(r)) => (
                r.interface_id,
                Event::Packet(LivePacket {
                    ts_ns: r.ts_ns.unwrap_or(0),
                    interface: r.interface_id,
                    orig_len: r.orig_len,
                    data: take_buffer(pool, r.data),
                }),
            ),
            Ok(None) => {
                let _ = tx.send(Event::End(None));
                return;
            }
            Err(e) => {
                let _ = tx.send(Event::End(Some(e.to_string())));
                return;
            }
        };
        let i = id as usize;
        if announced.get(i) != Some(&true) {
            let Some(d) = reader.interfaces().get(i) else {
                let _ = tx.send(Event::End(Some(format!(
                    "packet on undeclared interface {id}"
                ))));
                return;
            };
            let iface = Interface {
                name: d.name.clone().unwrap_or_else(|| "-".into()),
                link_type: d.link_type,
                snap_len: d.snap_len,
            };
            if announced.len() <= i {
                announced.resize(i + 1, false);
            }
            announced[i] = true;
            if tx.send(Event::Interface(id, iface)).is_err() {
                return;
            }
        }
        if tx.send(ev).is_err() {
            return;
        }
    }
}

/// A [`Live`] source as a pcapng byte stream, for a reader that blocks until the next packet
/// (`keepsight packets -i`): the section header first, each interface before its first packet,
/// then a block per packet; the end of the sources is the end of the stream, and a source's
/// error is the stream's read error.
pub struct PcapngStream {
    live: Live,
    /// Source interface index → the index written.
    written: Vec<Option<u32>>,
    next_index: u32,
    buf: Vec<u8>,
    at: usize,
}

impl Live {
    /// This source as a pcapng byte stream ([`PcapngStream`]).
    pub fn into_pcapng(self) -> PcapngStream {
        let mut buf = Vec::new();
        pcapng::section_header(&mut buf);
        PcapngStream {
            live: self,
            written: Vec::new(),
            next_index: 0,
            buf,
            at: 0,
        }
    }
}

impl std::io::Read for PcapngStream {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.buf.len() {
            self.buf.clear();
            self.at = 0;
            match self
                .live
                .next(Duration::from_millis(READ_TIMEOUT_MS as u64))
            {
                Some(Event::Interface(i, f)) => {
                    let i = i as usize;
                    if self.written.len() <= i {
                        self.written.resize(i + 1, None);
                    }
                    if self.written[i].is_none() {
                        pcapng::interface(&mut self.buf, f.link_type, f.snap_len, &f.name);
                        self.written[i] = Some(self.next_index);
                        self.next_index += 1;
                    }
                }
                Some(Event::Packet(p)) => {
                    if let Some(Some(i)) = self.written.get(p.interface as usize) {
                        pcapng::packet(&mut self.buf, *i, p.ts_ns, p.orig_len, &p.data);
                    }
                    self.live.recycle(p.data);
                }
                Some(Event::End(Some(e))) => return Err(std::io::Error::other(e)),
                Some(Event::End(None)) if self.live.ended() => return Ok(0),
                Some(Event::End(None)) => {}
                None if self.live.ended() => return Ok(0),
                None => {}
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Set by SIGINT or SIGTERM once [`stop_on_signals`] installed the handler.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// Makes SIGINT and SIGTERM set a flag instead of killing the process, so a watch can print
/// its summary and write its pending evidence; [`stop_requested`] reads the flag.
pub fn stop_on_signals() -> std::io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler only
        // stores to an atomic, which is async-signal-safe; the pointers passed are to live
        // locals for the duration of the call.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether SIGINT or SIGTERM arrived since [`stop_on_signals`].
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_announces_its_interface_then_its_packets_then_ends() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/corpus/heartbeat.pcap");
        let bytes = std::fs::read(&path).unwrap();
        let mut live = open_stream(Box::new(std::io::Cursor::new(bytes))).unwrap();
        let mut packets = 0;
        let mut first = None;
        loop {
            match live.next(Duration::from_secs(5)) {
                Some(Event::Interface(i, f)) => {
                    assert_eq!((i, packets), (0, 0));
                    assert_eq!(f.link_type, 1);
                }
                Some(Event::Packet(p)) => {
                    packets += 1;
                    first.get_or_insert(p.ts_ns);
                    live.recycle(p.data);
                }
                Some(Event::End(e)) => {
                    assert!(e.is_none(), "{e:?}");
                    break;
                }
                None => panic!("the stream stalled"),
            }
        }
        assert!(live.ended());
        assert!(packets > 30 && first.unwrap() > 1_000_000_000_000_000_000);
    }

    /// Re-read as pcapng, a stream gives back the same packets, times and link type.
    #[test]
    fn a_source_read_as_pcapng_gives_back_every_packet() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/corpus/ipv6-mixed-sll.pcap");
        let mut original = keepsight_capture::CaptureReader::open(&path).unwrap();
        let live = open_file(&path).unwrap();
        let mut again =
            keepsight_capture::CaptureReader::from_read(Box::new(live.into_pcapng())).unwrap();
        let mut n = 0;
        while let Some(a) = original.next_record().unwrap() {
            let (ts, link, len, data) = (a.ts_ns, a.link_type, a.orig_len, a.data.to_vec());
            let b = again
                .next_record()
                .unwrap()
                .expect("fewer packets read back");
            assert_eq!(
                (b.ts_ns, b.link_type, b.orig_len, b.data),
                (ts, link, len, &data[..])
            );
            n += 1;
        }
        assert!(again.next_record().unwrap().is_none());
        assert!(n > 50);
    }

    #[test]
    fn a_stream_that_is_not_a_capture_is_refused_before_it_runs() {
        let e = open_stream(Box::new(std::io::Cursor::new(b"hello, world".to_vec())));
        assert!(matches!(e, Err(LiveError::Stream(_))));
    }

    #[test]
    fn a_missing_interface_is_named() {
        let e = open_interfaces(&CaptureOptions {
            interfaces: vec!["watchnosuch0".into()],
            filter: None,
            snap_len: 262_144,
        });
        match e {
            Err(e) => assert!(e.to_string().contains("watchnosuch0"), "{e}"),
            Ok(_) => panic!("opened a missing interface"),
        }
    }
}
