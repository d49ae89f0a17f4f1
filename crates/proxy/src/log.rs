//! Access log: one line per request, naming the connection and the request's number on it, so
//! a reader can see which responses closed which connections and why.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What one access log line says about one request.
pub struct LogEntry<'a> {
    /// Connection number, unique in the process.
    pub conn_id: u64,
    /// Number of the request on its connection, from 1.
    pub req_no: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// Request method.
    pub method: &'a str,
    /// Request target, as sent (escaped when written).
    pub target: &'a [u8],
    /// Minor HTTP version: 0 or 1.
    pub minor: u8,
    /// Status code sent.
    pub status: u16,
    /// Body bytes sent.
    pub body_bytes: u64,
    /// Time from the request head to the end of the response.
    pub duration: Duration,
    /// Why the connection closed after this response, or `keep-alive`.
    pub close: &'a str,
    /// A short tag from the handler (why the upstream failed, `retried`...).
    pub note: &'a str,
}

/// Line-buffered up to a bound: lines are written in batches, and `flush` (called by the
/// owner on a timer and at exit) pushes out the rest.
pub struct AccessLog {
    out: Mutex<Box<dyn Write + Send>>,
    buf: Mutex<Vec<u8>>,
}

impl AccessLog {
    /// A log writing to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        AccessLog {
            out: Mutex::new(out),
            buf: Mutex::new(Vec::with_capacity(64 * 1024)),
        }
    }

    /// Adds one line; it reaches `out` when the buffer fills or at the next [`AccessLog::flush`].
    pub fn write(&self, e: &LogEntry<'_>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        // The target is untrusted bytes: escape anything that could forge a log line.
        let mut target = String::with_capacity(e.target.len());
        for &b in e.target {
            if b.is_ascii_graphic() && b != b'"' && b != b'\\' {
                target.push(b as char);
            } else {
                target.push_str(&format!("\\x{b:02x}"));
            }
        }
        let line = format!(
            "{}.{:03} conn={} req={} peer={} \"{} {} HTTP/1.{}\" {} {} {:.3}ms {}{}{}\n",
            now.as_secs(),
            now.subsec_millis(),
            e.conn_id,
            e.req_no,
            e.peer,
            e.method,
            target,
            e.minor,
            e.status,
            e.body_bytes,
            e.duration.as_secs_f64() * 1000.0,
            e.close,
            if e.note.is_empty() { "" } else { " " },
            e.note,
        );
        let full = {
            let Ok(mut buf) = self.buf.lock() else { return };
            buf.extend_from_slice(line.as_bytes());
            if buf.len() < 32 * 1024 {
                return;
            }
            std::mem::take(&mut *buf)
        };
        self.write_out(&full);
    }

    /// Writes out what is buffered.
    pub fn flush(&self) {
        let pending = match self.buf.lock() {
            Ok(mut b) => std::mem::take(&mut *b),
            Err(_) => return,
        };
        self.write_out(&pending);
    }

    fn write_out(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Ok(mut out) = self.out.lock() {
            let _ = out.write_all(bytes);
            let _ = out.flush();
        }
    }
}
