//! `--metrics ADDR`: the watch's counts in Prometheus's text exposition format, served over
//! plain HTTP/1.1 at `/metrics` by one small thread. The watch loop publishes a fresh text now
//! and then ([`Published::set`]); a scrape reads the last one, so a slow scraper never holds
//! the loop up.

use crate::Summary;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The text the endpoint serves, shared with the serving thread.
#[derive(Clone, Default)]
pub struct Published(Arc<Mutex<String>>);

impl Published {
    /// Replaces what scrapes read.
    pub fn set(&self, text: String) {
        if let Ok(mut t) = self.0.lock() {
            *t = text;
        }
    }

    fn get(&self) -> String {
        self.0.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

/// The counts as Prometheus text; `pcap`: libpcap's (received, dropped), for live interfaces.
pub fn render(s: &Summary, pcap: Option<(u64, u64)>) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, v) in samples {
            out.push_str(&format!("{name}{labels} {v}\n"));
        }
    };
    let one = |v: u64| [(String::new(), v)];
    metric(
        "keepsight_watch_packets_total",
        "counter",
        "Packets fed to the diagnosis.",
        &one(s.packets),
    );
    let by_kind: Vec<(String, u64)> = s
        .alerts
        .iter()
        .map(|(k, n)| (format!("{{kind=\"{k}\"}}"), *n))
        .collect();
    metric(
        "keepsight_watch_alerts_total",
        "counter",
        "Alerts raised, by finding kind (missed_heartbeat, connection_reset...).",
        &by_kind,
    );
    metric(
        "keepsight_watch_open_streams",
        "gauge",
        "TCP streams followed (open, or closed and not yet settled).",
        &one(s.live_streams as u64),
    );
    metric(
        "keepsight_watch_ring_packets",
        "gauge",
        "Packets kept in memory for evidence.",
        &one(s.ring_packets as u64),
    );
    metric(
        "keepsight_watch_ring_bytes",
        "gauge",
        "Bytes of packets kept in memory for evidence.",
        &one(s.ring_bytes as u64),
    );
    metric(
        "keepsight_watch_evidence_files_total",
        "counter",
        "Evidence pcapng files written.",
        &one(s.evidence_files),
    );
    if let Some((received, dropped)) = pcap {
        metric(
            "keepsight_watch_pcap_received_total",
            "counter",
            "Packets libpcap received from the kernel.",
            &one(received),
        );
        metric(
            "keepsight_watch_pcap_dropped_total",
            "counter",
            "Packets dropped for lack of buffer space (kernel and interface), as libpcap counts them.",
            &one(dropped),
        );
    }
    out
}

/// Serves `published` at `http://ADDR/metrics` on its own thread; returns the address bound
/// (port 0 picks one).
pub fn serve(addr: SocketAddr, published: Published) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("keepsight-metrics".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                // One request per connection; a client that sends nothing is dropped.
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut line = String::new();
                let mut reader = BufReader::new(&conn);
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // The rest of the head, up to the blank line.
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let path = line.split_whitespace().nth(1).unwrap_or("");
                let (status, body) = match (line.starts_with("GET "), path) {
                    (true, "/metrics") => ("200 OK", published.get()),
                    (true, _) => ("404 Not Found", "not found: try /metrics\n".into()),
                    (false, _) => ("405 Method Not Allowed", String::new()),
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        })?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_scrape_reads_the_last_published_counts() {
        let published = Published::default();
        let addr = serve("127.0.0.1:0".parse().unwrap(), published.clone()).unwrap();
        let mut s = Summary {
            packets: 42,
            ..Summary::default()
        };
        s.alerts.insert("missed_heartbeat", 2);
        published.set(render(&s, Some((50, 1))));
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut got = String::new();
        conn.read_to_string(&mut got).unwrap();
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        assert!(
            got.contains("\nkeepsight_watch_packets_total 42\n"),
            "{got}"
        );
        assert!(got.contains("\nkeepsight_watch_alerts_total{kind=\"missed_heartbeat\"} 2\n"));
        assert!(got.contains("\nkeepsight_watch_pcap_dropped_total 1\n"));
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut got = String::new();
        conn.read_to_string(&mut got).unwrap();
        assert!(got.starts_with("HTTP/1.1 404"), "{got}");
    }
}
