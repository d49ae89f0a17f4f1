//! The accept loop of one listener, its idle sweeper, and the start (or restart, after
//! parking) of each connection's task.

use super::config::{Control, ServerConfig};
use super::connection::connection;
use super::exchange::Handler;
use super::idle::IdleSet;
use super::shared::{ConnSlot, Shared};
use super::tls::tls_connection;
use crate::conn_info::{CompactAddr, ConnInfo};
use crate::log::AccessLog;
use crate::park::{ParkedSet, Unparked};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

/// Tick of the idle sweeper: fine enough for the shortest timeout, coarse for the usual ones.
fn sweep_tick(cfg: &ServerConfig) -> Duration {
    let shortest = [cfg.keepalive_timeout, cfg.header_timeout]
        .into_iter()
        .filter(|d| !d.is_zero())
        .min()
        .unwrap_or(Duration::from_secs(1));
    (shortest / 16).clamp(Duration::from_millis(5), Duration::from_millis(250))
}

/// The listener's clock: idle deadlines, parking, and at shutdown the wake-up of every idle
/// and parked connection.
async fn sweep<H: Handler>(
    shared: Arc<Shared<H>>,
    tick: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(tick);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut trim = TrimPolicy::default();
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        tokio::select! {
            _ = every.tick() => {}
            r = shutdown.changed() => if r.is_err() { break } else { continue },
        }
        let now = Instant::now();
        shared.idle.expire(now);
        if let Some(parked) = &shared.parked {
            let now_ns = shared.ns_since_epoch(now);
            for un in parked.expire(now_ns) {
                shared.ctl.stats.closed_idle.fetch_add(1, Ordering::Relaxed);
                drop(un.stream);
                // Counts the connection closed and gives back its place in the limit.
                drop(ConnSlot(shared.clone()));
            }
            trim.after_tick(parked.len(), now);
        }
    }
    shared.idle.close_all();
    if let Some(parked) = &shared.parked {
        for un in parked.close_all() {
            resume(&shared, un);
        }
    }
}

/// Give freed memory back to the system after many connections parked. Their tasks and
/// reactor registrations are freed into the allocator's bins, where glibc keeps them resident
/// (it only returns the top of the heap by itself); `malloc_trim` returns the free pages in
/// the middle too. At most once a second, and only after at least 64 more connections parked.
#[derive(Default)]
struct TrimPolicy {
    parked_at_last: usize,
    last: Option<Instant>,
}

impl TrimPolicy {
    fn after_tick(&mut self, parked: usize, now: Instant) {
        if parked < self.parked_at_last {
            self.parked_at_last = parked;
        }
        let recent = self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1));
        if parked >= self.parked_at_last + 64 && !recent {
            self.parked_at_last = parked;
            self.last = Some(now);
            trim_heap();
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}

/// A connection just accepted, its slot in the limit already taken: count it and give it a task.
fn start_connection<H: Handler>(shared: &Arc<Shared<H>>, stream: TcpStream, peer: SocketAddr) {
    // TCP_NODELAY is set when it matters (a second response on the connection, or a
    // response written in several parts), as nginx does: a client that sends one request
    // and closes gets its answer in one write and saves the system call.
    let ctl = &shared.ctl;
    ctl.stats
        .connections_accepted
        .fetch_add(1, Ordering::Relaxed);
    let conn_id = ctl.next_conn_id.fetch_add(1, Ordering::Relaxed);
    // The connection future is built here and spawned as is: wrapping it in an `async`
    // block would keep a second copy of its arguments in every connection task.
    let info = ConnInfo {
        conn_id,
        started_ns: shared.epoch.elapsed().as_nanos() as u64,
        peer: CompactAddr::new(peer),
    };
    match &shared.cfg.tls {
        Some(tls) => {
            let tls = tls.clone();
            tokio::spawn(tls_connection(stream, info, ConnSlot(shared.clone()), tls));
        }
        None => {
            tokio::spawn(connection(stream, info, ConnSlot(shared.clone()), 0));
        }
    }
}

/// Shutting down: closing the listener would reset the connections the kernel has already
/// completed into its backlog, requests and all (nginx resets them). Take them instead and
/// serve what they sent; every response says `Connection: close`. Only a client that connects
/// in the instant between this and the close is still reset, and one beyond the connection
/// limit.
fn take_backlog<H: Handler>(listener: &TcpListener, shared: &Arc<Shared<H>>) {
    let sock = socket2::SockRef::from(listener);
    while let Ok(permit) = shared.slots.try_acquire() {
        let Ok((conn, addr)) = sock.accept() else {
            break; // WouldBlock: the backlog is empty (or accept failed: nothing to rescue).
        };
        let (Some(peer), Ok(())) = (addr.as_socket(), conn.set_nonblocking(true)) else {
            continue;
        };
        let Ok(stream) = TcpStream::from_std(std::net::TcpStream::from(conn)) else {
            continue;
        };
        permit.forget();
        start_connection(shared, stream, peer);
    }
}

/// Give a parked connection a task again.
fn resume<H: Handler>(shared: &Arc<Shared<H>>, un: Unparked) {
    let slot = ConnSlot(shared.clone());
    match TcpStream::from_std(un.stream) {
        Ok(stream) => {
            tokio::spawn(connection(stream, un.info, slot, un.req_no));
        }
        // Dropping the slot counts the connection closed.
        Err(_) => drop(slot),
    }
}

/// Run a server on `listener` until `ctl.shutdown()` is called, then drain and return.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    cfg: Arc<ServerConfig>,
    ctl: Arc<Control>,
    handler: Arc<H>,
    log: Option<Arc<AccessLog>>,
) {
    let permits = cfg.max_connections.clamp(1, Semaphore::MAX_PERMITS as u32);
    let mut shutdown = ctl.subscribe();
    let (parked, parker) = match cfg.park_after.is_zero() {
        true => (None, None),
        false => match ParkedSet::new(ctl.stats.connections_parked.clone()) {
            Ok((set, parker)) => (Some(set), Some(parker)),
            Err(e) => {
                eprintln!("keepsight: idle connections stay in their tasks: epoll: {e}");
                (None, None)
            }
        },
    };
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        ctl: ctl.clone(),
        handler,
        log,
        idle: IdleSet::new(),
        parked,
        slots: Semaphore::new(permits as usize),
        epoch: Instant::now(),
    });
    let sweeper = tokio::spawn(sweep(shared.clone(), sweep_tick(&cfg), ctl.subscribe()));
    let watcher = parker.map(|parker| {
        let shared = shared.clone();
        tokio::spawn(async move {
            let set = shared.parked.as_ref().expect("a parker comes with its set");
            parker.run(set, |un| resume(&shared, un)).await
        })
    });
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Hold a slot before accepting: at the limit, new clients wait in the listen backlog
        // (as with nginx's worker_connections) instead of being accepted and dropped.
        let permit = tokio::select! {
            p = shared.slots.acquire() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                eprintln!("keepsight: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // From here the slot belongs to the connection's `ConnSlot`, which gives it back.
        permit.forget();
        start_connection(&shared, stream, peer);
    }
    take_backlog(&listener, &shared);
    drop(listener);
    // Every connection holds one permit; having them all back means every connection is done.
    let _ = tokio::time::timeout(cfg.shutdown_timeout, shared.slots.acquire_many(permits)).await;
    sweeper.abort();
    if let Some(w) = watcher {
        w.abort();
    }
}
