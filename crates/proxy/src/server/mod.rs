//! The client-facing HTTP/1.1 server: accept loop, per-connection keep-alive policy, graceful
//! shutdown, and the `Exchange` through which a handler reads one request and writes its response.
//!
//! Split by job, like hyper's `proto/h1`; each module uses only those listed before it:
//! - [`config`]: [`ServerConfig`], [`CloseReason`], [`Stats`], [`Control`];
//! - `exchange`: the [`Handler`] trait and the [`Exchange`] API, with the response framing and
//!   keep-alive decision, and the client socket's buffers;
//! - `idle`: the idle set (deadlines and wake-ups of waiting keep-alive connections);
//! - `ready`: readiness futures (the idle wait, the first read of a request);
//! - `shared`: what a listener's connections share, and each one's slot in the limit;
//! - `connection`: the connection loop (idle wait, parking, requests, rejection);
//! - `tls`: the connection loop of a TLS listener (handshake, idle wait through TLS, the
//!   same requests as `connection`, close_notify);
//! - `listener`: the accept loop, the idle sweeper, (re)starting connection tasks.

pub mod config;
mod connection;
mod exchange;
mod idle;
mod listener;
mod ready;
mod shared;
mod tls;

pub use config::{CloseReason, Control, ServerConfig, Stats};
pub use exchange::{BodyLen, Exchange, Handler, HandlerError};
pub(crate) use exchange::{BodyPiece, BodyState};
pub use listener::serve;

#[cfg(test)]
mod tests {
    /// Every idle keep-alive client costs one connection task; its size is the size of this
    /// future. Guard it so a large local held across an await does not creep back in (a 4 KiB
    /// array in the lingering close once made it 5.7 KB; a per-connection `Sleep` and
    /// `Notified`, and arguments stored twice by an `async fn`, made it 650 bytes; the buffers
    /// and a semaphore permit held while idle, 216 bytes).
    #[tokio::test]
    async fn idle_connection_task_stays_small() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _c = tokio::net::TcpStream::connect(l.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, peer) = l.accept().await.unwrap();
        let h = crate::serve::ServeHandler::new(
            crate::serve::Content::Fixed {
                status: 200,
                body: bytes::Bytes::new(),
                headers: vec![],
            },
            std::time::Duration::ZERO,
        );
        let shared = std::sync::Arc::new(super::shared::Shared {
            cfg: Default::default(),
            ctl: Default::default(),
            handler: std::sync::Arc::new(h),
            log: None,
            idle: super::idle::IdleSet::new(),
            parked: crate::park::ParkedSet::new(Default::default())
                .ok()
                .map(|(set, _)| set),
            slots: tokio::sync::Semaphore::new(1),
            epoch: std::time::Instant::now(),
        });
        let info = crate::conn_info::ConnInfo {
            conn_id: 1,
            started_ns: 0,
            peer: crate::conn_info::CompactAddr::new(peer),
        };
        // Exactly what `serve` spawns.
        let f = super::connection::connection(stream, info, super::shared::ConnSlot(shared), 0);
        let size = std::mem::size_of_val(&f);
        eprintln!("connection task future: {size} bytes");
        // 128 bytes now (socket 32, who the connection is 40, shared pointer 8, request
        // count 4, the idle wait 40). tokio 1.54 puts its header, scheduler, id and trailer
        // (about 104 bytes) around the future and rounds the task to 128 bytes: a future of
        // up to 152 bytes keeps the task a 256-byte allocation instead of 384.
        assert!(size <= 152, "connection future is {size} bytes");
    }

    /// The compact peer address gives back the address the socket reported.
    #[test]
    fn compact_addr_round_trips() {
        for a in [
            "127.0.0.1:80",
            "255.254.253.252:65535",
            "0.0.0.0:0",
            "[::1]:8080",
            "[fe80::1%7]:443",
            "[2001:db8::ff00:42:8329]:1",
            "[::ffff:10.0.0.1]:22",
        ] {
            let addr: std::net::SocketAddr = a.parse().unwrap();
            assert_eq!(crate::conn_info::CompactAddr::new(addr).get(), addr, "{a}");
        }
    }
}
