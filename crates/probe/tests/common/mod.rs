//! What the probe's framing tests share: one GET read by the prober's own response reader.

use keepsight_probe::conn::Conn;
use keepsight_probe::response::{read_response, ReadError, Response};
use keepsight_probe::Budget;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// Sends one `GET /` to `addr` and reads the answer with the prober's response reader.
pub(crate) fn read_one_response(addr: SocketAddr) -> Result<Response, ReadError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let budget = Budget::new(Duration::from_secs(10), 2);
            let mut c = Conn::open(
                &keepsight_probe::conn::Dest::plain(addr),
                Duration::from_secs(2),
                &budget,
            )
            .await
            .unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", deadline)
                .await
                .unwrap();
            read_response(&mut c, deadline, false).await
        })
}
