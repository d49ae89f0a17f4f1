//! One drained run captured with tshark on loopback and read back by Wireshark's own HTTP
//! dissector: what crossed the wire, not what our counters say. (Once `keepsight http` exists,
//! the same capture is the input to check it against.)

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn drained_run_on_the_wire() {
    let mut o = opts();
    o.server.keepalive_requests = 0;
    o.drain_ratio = 0.5;
    let s = serve_fixed(o, "wire\n", Duration::ZERO);
    let port = s.addr.port();
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("drain.pcapng");
    // A UDP marker port in the capture filter: the run starts only once a marker datagram is in
    // the file, because "Capturing on" can come before the loopback ring sees packets (on a
    // loaded machine the first connections of the run were missing from the capture).
    let marker = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let marker_port = marker.local_addr().unwrap().port();
    let mut child = Command::new("tshark")
        .args([
            "-i",
            "lo",
            "-f",
            &format!("tcp port {port} or udp dst port {marker_port}"),
            "-w",
        ])
        .arg(&pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tshark (apt-get install tshark; capturing needs root)");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let t0 = Instant::now();
    let mut line = String::new();
    while !line.contains("Capturing on") {
        line.clear();
        if err.read_line(&mut line).unwrap() == 0 || t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("tshark did not start capturing: {line}");
        }
    }
    let tshark = ChildGuard(child);
    let captured = |filter: &str| -> usize {
        Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
            .unwrap_or(0)
    };
    let marker_filter = format!("udp.dstport == {marker_port}");
    let waited = Instant::now();
    loop {
        marker.send_to(b"mark", ("127.0.0.1", marker_port)).unwrap();
        if captured(&marker_filter) > 0 {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "tshark captured no marker datagram in 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = peer(
        &["drain", "127.0.0.1", &port.to_string(), "100"],
        Duration::from_secs(30),
    );
    assert_eq!(r["closes"], 50, "{r}");
    // Wait until the capture holds every server FIN (the last segments of the run), then stop
    // tshark (SIGTERM, it finishes the file). A fixed sleep lost the tail on a loaded machine.
    let fin_filter = format!("tcp.flags.fin == 1 && tcp.srcport == {port}");
    let fins_captured = || captured(&fin_filter);
    let waited = Instant::now();
    while fins_captured() < 50 && waited.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(250));
    }
    std::thread::sleep(Duration::from_millis(300));
    drop(tshark);

    let fields = |filter: &str, field: &str| -> Vec<String> {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args(["-Y", filter, "-T", "fields", "-e", field])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let responses = fields("http.response", "http.connection");
    assert_eq!(responses.len(), 100, "{responses:?}");
    assert_eq!(
        responses.iter().filter(|c| c.as_str() == "close").count(),
        50
    );
    let streams: std::collections::BTreeSet<String> =
        fields("tcp.flags.syn == 1 && tcp.flags.ack == 0", "tcp.stream")
            .into_iter()
            .collect();
    assert_eq!(streams.len(), 50, "one connection per close");
    // Every connection ended with FINs, never a reset, and the server sent a FIN on each.
    assert!(fields("tcp.flags.reset == 1", "tcp.stream").is_empty());
    let server_fins = fields(
        &format!("tcp.flags.fin == 1 && tcp.srcport == {port}"),
        "tcp.stream",
    );
    assert_eq!(server_fins.len(), 50, "{server_fins:?}");
    let lengths = fields("http.response", "http.content_length_header");
    assert!(lengths.iter().all(|l| l == "5"), "{lengths:?}");
}
