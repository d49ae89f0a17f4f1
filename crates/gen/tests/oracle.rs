//! The generator against tshark 4.0.17: what the truth claims about a capture is what tshark
//! finds in it, frame by frame where the truth names frames, stream by stream for the counts.
//! And: the same configuration gives the same bytes.

use keepsight_gen::truth::{
    CloseCause, Counts, Detail, ProbeOutcome, ReconnectRole, ReconnectTruth, Side, Teardown,
};
use keepsight_gen::{generate, generate_file, Config, Truth};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

fn tshark_available() -> bool {
    keepsight_testlab::require_tool("tshark")
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("keepsight-gen-{name}-{}", std::process::id()))
}

/// `tshark -T fields` output, one row per frame.
fn tshark_fields(capture: &Path, two_pass: bool, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args([
        "-n",
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "ip.check_checksum:TRUE",
    ]);
    if two_pass {
        cmd.arg("-2");
    }
    cmd.arg("-r")
        .arg(capture)
        .args(["-T", "fields", "-E", "separator=/t"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// Columns of the per-frame tshark run.
const FIELDS: &[&str] = &[
    "frame.number",
    "frame.time_epoch",
    "tcp.stream",
    "ip.src",
    "ipv6.src",
    "tcp.srcport",
    "tcp.len",
    "tcp.flags.syn",
    "tcp.flags.fin",
    "tcp.flags.reset",
    "tcp.analysis.keep_alive",
    "tcp.analysis.keep_alive_ack",
    "tcp.analysis.duplicate_ack",
    "tcp.analysis.fast_retransmission",
    "tcp.analysis.retransmission",
    "http.request",
    "http.response",
    "tcp.checksum.status",
    "ip.checksum.status",
    "_ws.malformed",
    "_ws.expert.severity",
    "tcp.analysis.reused_ports",
    "tls.handshake.type",
    "tls.alert_message.desc",
    // Never in a generated capture:
    "tcp.analysis.out_of_order",
    "tcp.analysis.lost_segment",
    "tcp.analysis.ack_lost_segment",
    "tcp.analysis.spurious_retransmission",
    "tcp.analysis.window_update",
    "tcp.analysis.window_full",
    "tcp.analysis.zero_window",
    "tcp.analysis.zero_window_probe",
];

struct Frame {
    number: u64,
    time_us: u64,
    stream: usize,
    src: SocketAddr,
    len: u64,
    syn: bool,
    fin: bool,
    rst: bool,
    flags: [bool; 7],
    reused_ports: bool,
    client_hello: bool,
    cleartext_alert: bool,
}

fn set(s: &str) -> bool {
    !s.is_empty() && s != "0"
}

fn parse(rows: Vec<Vec<String>>) -> Vec<Frame> {
    rows.into_iter()
        .map(|r| {
            assert_eq!(r.len(), FIELDS.len(), "{r:?}");
            let number = r[0].parse().unwrap();
            for (i, name) in FIELDS.iter().enumerate().skip(24) {
                assert!(r[i].is_empty(), "frame {number}: {name} = {}", r[i]);
            }
            assert_eq!(r[17], "1", "frame {number}: TCP checksum status");
            assert!(
                r[18].is_empty() || r[18] == "1",
                "frame {number}: IP checksum status"
            );
            assert!(r[19].is_empty(), "frame {number} is malformed");
            // Chat (0x200000), note (0x400000) and warning (0x600000, resets) only: no error.
            for sev in r[20].split(',').filter(|s| !s.is_empty()) {
                let sev: u32 = sev.parse().unwrap();
                assert!(sev < 0x80_0000, "frame {number}: expert severity {sev:#x}");
            }
            let (secs, frac) = r[1].split_once('.').unwrap();
            let time_us =
                secs.parse::<u64>().unwrap() * 1_000_000 + frac[..6].parse::<u64>().unwrap();
            let ip: IpAddr = if r[3].is_empty() { &r[4] } else { &r[3] }.parse().unwrap();
            let flags = [10, 11, 12, 13, 14, 15, 16].map(|i| set(&r[i]));
            Frame {
                number,
                time_us,
                stream: r[2].parse().unwrap(),
                src: SocketAddr::new(ip, r[5].parse().unwrap()),
                len: r[6].parse().unwrap(),
                syn: set(&r[7]),
                fin: set(&r[8]),
                rst: set(&r[9]),
                flags,
                reused_ports: set(&r[21]),
                client_hello: r[22].split(',').any(|t| t == "1"),
                cleartext_alert: !r[23].is_empty(),
            }
        })
        .collect()
}

/// What tshark flags, counted like the truth's [`Counts`] (without the truth's own notions:
/// heartbeats and timer retransmissions).
fn tshark_counts(frames: &[&Frame]) -> Counts {
    let mut c = Counts::default();
    for f in frames {
        c.frames += 1;
        c.syn += u64::from(f.syn);
        c.fin += u64::from(f.fin);
        c.rst += u64::from(f.rst);
        c.one_byte_payloads += u64::from(f.len == 1);
        let [ka, ka_ack, dup, fast, retrans, req, resp] = f.flags.map(u64::from);
        c.keep_alive += ka;
        c.keep_alive_ack += ka_ack;
        c.duplicate_ack += dup;
        c.fast_retransmission += fast;
        c.retransmission += retrans;
        c.http_requests += req;
        c.http_responses += resp;
        c.reused_ports += u64::from(f.reused_ports);
        c.tls_client_hellos += u64::from(f.client_hello);
        c.tls_cleartext_alerts += u64::from(f.cleartext_alert);
    }
    c
}

/// The truth's counts with the fields tshark cannot know zeroed.
fn comparable(c: &Counts) -> Counts {
    Counts {
        heartbeat_probes: 0,
        heartbeat_replies: 0,
        rto_retransmission: 0,
        tls_heartbeat_probes: 0,
        tls_heartbeat_replies: 0,
        ..*c
    }
}

fn check_against_tshark(capture: &Path, truth: &Truth) {
    let frames = parse(tshark_fields(capture, true, FIELDS));
    assert_eq!(frames.len() as u64, truth.packets);
    assert_eq!(frames[0].time_us, truth.first_time_us);
    assert_eq!(frames.last().unwrap().time_us, truth.last_time_us);
    assert!(
        frames.windows(2).all(|w| w[0].time_us <= w[1].time_us),
        "frames in time order"
    );

    let all: Vec<&Frame> = frames.iter().collect();
    assert_eq!(
        tshark_counts(&all),
        comparable(&truth.counts),
        "whole capture"
    );
    let c = &truth.counts;
    assert_eq!(
        c.one_byte_payloads,
        c.heartbeat_probes + c.heartbeat_replies
    );
    assert_eq!(
        c.retransmission,
        c.fast_retransmission + c.rto_retransmission
    );

    let mut by_stream: BTreeMap<usize, Vec<&Frame>> = BTreeMap::new();
    for f in &frames {
        by_stream.entry(f.stream).or_default().push(f);
    }
    assert_eq!(by_stream.len(), truth.connections.len(), "tcp.stream count");
    let frame = |n: u64| &frames[n as usize - 1];
    for conn in &truth.connections {
        let s = &by_stream[&(conn.stream as usize)];
        let what = format!("stream {} ({:?})", conn.stream, conn.shape());
        assert_eq!(tshark_counts(s), comparable(&conn.counts), "{what}");
        assert_eq!(s[0].number, conn.first_frame, "{what}");
        assert_eq!(s.last().unwrap().number, conn.last_frame, "{what}");
        assert!(
            s[0].syn && s[0].src == conn.client,
            "{what} opens with the client's SYN"
        );
        // Every 1-byte segment of a heartbeat connection is a probe or a reply, and there are
        // none elsewhere.
        let one_byte = s.iter().filter(|f| f.len == 1).count() as u64;
        assert_eq!(
            one_byte,
            conn.counts.heartbeat_probes + conn.counts.heartbeat_replies,
            "{what}"
        );
        let from = |side: Side| match side {
            Side::Client => conn.client,
            Side::Server => conn.server,
        };
        if let Some(close) = conn.close {
            let f = frame(close.frame);
            assert_eq!(f.stream, conn.stream as usize, "{what}");
            assert_eq!(f.src, from(close.by), "{what}: close by {:?}", close.by);
            match close.how {
                Teardown::Fin => assert!(f.fin && !f.rst, "{what}: frame {} FIN", f.number),
                Teardown::Rst => assert!(f.rst, "{what}: frame {} RST", f.number),
            }
            if close.cause == CloseCause::KeepaliveDeadPeer {
                // The nine unanswered probes come right before the reset.
                let before: Vec<_> = s.iter().filter(|g| g.number < close.frame).collect();
                let probes = &before[before.len() - 9..];
                assert!(
                    probes.iter().all(|p| p.flags[0] && p.src == conn.server),
                    "{what}"
                );
            }
        } else {
            assert!(
                !s.iter().any(|f| f.fin || f.rst),
                "{what}: open, no FIN or RST"
            );
        }
        match &conn.detail {
            Detail::Heartbeat(h) => {
                for late in &h.late_beats {
                    let f = frame(late.frame);
                    assert!(f.len == 1 && f.src == conn.client, "{what}: late beat");
                    let previous = s
                        .iter()
                        .rev()
                        .find(|g| g.number < late.frame && g.len == 1 && g.src == conn.client)
                        .expect("a beat before the late one");
                    assert_eq!(f.time_us - previous.time_us, late.gap_us, "{what}");
                }
            }
            Detail::Http(h) => {
                if let Some(race) = h.reuse_race {
                    assert!(frame(race.fin_frame).fin, "{what}");
                    assert!(frame(race.request_frame).flags[5], "{what}: request");
                    assert!(frame(race.rst_frame).rst, "{what}");
                    assert_eq!(frame(race.rst_frame).src, conn.server, "{what}");
                }
            }
            Detail::Keepalive(k) => {
                let prober = from(k.prober);
                assert!(
                    s.iter().filter(|f| f.flags[0]).all(|f| f.src == prober),
                    "{what}: probes come from the {:?}",
                    k.prober
                );
            }
            Detail::SynFlood => assert_eq!(s.len(), 1, "{what}: one SYN"),
            Detail::ShortHttp => assert_eq!(s.len(), 8, "{what}: eight frames"),
            Detail::ScanProbe(p) => {
                let frames = match p.outcome {
                    ProbeOutcome::Open => 3,
                    ProbeOutcome::Closed => 2,
                    ProbeOutcome::Filtered => 1,
                };
                assert_eq!(s.len(), frames, "{what}: {:?}", p.outcome);
                assert_eq!(s[0].time_us, p.syn_us, "{what}: SYN time");
            }
            Detail::Reconnect(r) => {
                assert_eq!(s[0].time_us, r.syn_us, "{what}: SYN time");
                if r.role == ReconnectRole::Refused {
                    assert_eq!(s.len(), 2, "{what}: SYN, RST/ACK");
                }
            }
            Detail::TlsHeartbeat(h) => {
                // Late pings are told by their time since the previous ping: the records'
                // lengths, not their bytes, make them pings.
                for late in &h.late_beats {
                    let f = frame(late.frame);
                    assert!(f.src == conn.client && f.len > 0, "{what}: late beat");
                    let previous = s
                        .iter()
                        .rev()
                        .find(|g| g.number < late.frame && g.len == f.len && g.src == conn.client)
                        .expect("a beat before the late one");
                    assert_eq!(f.time_us - previous.time_us, late.gap_us, "{what}");
                }
            }
            Detail::Bulk(_) | Detail::Refused | Detail::TroubledHeartbeat(_) | Detail::Https(_) => {
            }
        }
        if let Some(tls) = conn.tls() {
            assert_eq!(conn.counts.tls_client_hellos, 1, "{what}: one ClientHello");
            assert_eq!(
                conn.counts.tls_cleartext_alerts,
                u64::from(tls.refused_alert.is_some()),
                "{what}"
            );
            if let Some(rst) = tls.shutdown_reset_frame {
                let f = frame(rst);
                let closer = from(conn.close.expect("closed").by);
                assert!(f.rst && f.src == closer, "{what}: shutdown reset {rst}");
            }
        }
    }

    // The one short body: the only response header declaring 4096 bytes.
    let short: Vec<u64> = truth
        .connections
        .iter()
        .filter_map(|c| match &c.detail {
            Detail::Http(h) => h.short_body.map(|s| s.header_frame),
            _ => None,
        })
        .collect();
    let declared = tshark_frames(capture, "tcp.payload contains \"Content-Length: 4096\"");
    assert_eq!(declared, short);
}

fn tshark_frames(capture: &Path, filter: &str) -> Vec<u64> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(capture)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .expect("tshark runs");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

/// Every shape and every documented event is present, so the comparison covers them.
fn assert_everything_happens(truth: &Truth) {
    let c = &truth.counts;
    for (name, n) in [
        ("keep-alive", c.keep_alive),
        ("keep-alive ACK", c.keep_alive_ack),
        ("duplicate ACK", c.duplicate_ack),
        ("fast retransmission", c.fast_retransmission),
        ("RTO retransmission", c.rto_retransmission),
        ("RST", c.rst),
        ("heartbeat", c.heartbeat_probes),
        ("HTTP request", c.http_requests),
        ("HTTP response", c.http_responses),
        ("TLS ClientHello", c.tls_client_hellos),
        ("TLS cleartext alert", c.tls_cleartext_alerts),
        ("TLS heartbeat", c.tls_heartbeat_probes),
    ] {
        assert!(n > 0, "no {name} in the capture");
    }
    let causes: Vec<CloseCause> = truth
        .connections
        .iter()
        .filter_map(|c| c.close.map(|c| c.cause))
        .collect();
    for cause in [
        CloseCause::LateHeartbeat,
        CloseCause::KeepaliveDeadPeer,
        CloseCause::HttpIdleTimeout,
        CloseCause::HttpReuseRace,
        CloseCause::HttpConnectionClose,
        CloseCause::HttpShortBody,
        CloseCause::ClientQuit,
        CloseCause::TransferDone,
        CloseCause::TransferAborted,
        CloseCause::Refused,
        CloseCause::TlsHandshakeRefused,
    ] {
        assert!(causes.contains(&cause), "no {cause:?} close in the capture");
    }
    let http = |f: fn(&keepsight_gen::truth::HttpTruth) -> u32| {
        truth
            .connections
            .iter()
            .map(|c| match &c.detail {
                Detail::Http(h) => f(h),
                _ => 0,
            })
            .sum::<u32>()
    };
    assert!(http(|h| h.chunked_responses) > 0);
    assert!(http(|h| h.not_modified_responses) > 0);
    assert!(truth.connections.iter().any(|c| c.client.is_ipv6()));
    let tls: Vec<&keepsight_gen::truth::TlsTruth> =
        truth.connections.iter().filter_map(|c| c.tls()).collect();
    for version in ["TLSv1.2", "TLSv1.3"] {
        assert!(tls.iter().any(|t| t.version.as_deref() == Some(version)));
    }
    assert!(tls.iter().any(|t| t.shutdown_reset_frame.is_some()));
    assert!(truth.connections.iter().any(|c| {
        c.shape() == keepsight_gen::truth::ShapeKind::TlsHeartbeat
            && c.close
                .is_some_and(|c| c.cause == CloseCause::LateHeartbeat)
    }));
}

#[test]
fn tshark_finds_what_the_truth_claims() {
    if !tshark_available() {
        return;
    }
    let path = scratch("oracle.pcap");
    let truth = generate_file(&Config::new(40_000, 7), &path).unwrap();
    assert_everything_happens(&truth);
    check_against_tshark(&path, &truth);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_short_duration_still_has_keepalive_and_the_same_agreement() {
    if !tshark_available() {
        return;
    }
    let path = scratch("short.pcapng");
    let config = Config {
        duration_s: 900,
        pcapng: true,
        ..Config::new(20_000, 3)
    };
    let truth = generate_file(&config, &path).unwrap();
    assert!(truth.counts.keep_alive > 0 && truth.counts.keep_alive_ack > 0);
    let span_s = (truth.last_time_us - truth.first_time_us) / 1_000_000;
    assert!((600..1_200).contains(&span_s), "span {span_s} s for 900 s");
    check_against_tshark(&path, &truth);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn pcap_and_pcapng_hold_the_same_frames() {
    if !tshark_available() {
        return;
    }
    let (pcap, pcapng) = (scratch("same.pcap"), scratch("same.pcapng"));
    let config = Config::new(5_000, 11);
    let a = generate_file(&config, &pcap).unwrap();
    let b = generate_file(
        &Config {
            pcapng: true,
            ..config
        },
        &pcapng,
    )
    .unwrap();
    assert_eq!(a.connections, b.connections);
    let fields = [
        "frame.time_epoch",
        "frame.len",
        "frame.cap_len",
        "eth.src",
        "tcp.seq_raw",
        "tcp.ack_raw",
        "data.data",
    ];
    let fields = &fields[..];
    assert_eq!(
        tshark_fields(&pcap, false, fields),
        tshark_fields(&pcapng, false, fields)
    );
    let _ = std::fs::remove_file(&pcap);
    let _ = std::fs::remove_file(&pcapng);
}

#[test]
fn the_same_arguments_give_the_same_bytes() {
    for pcapng in [false, true] {
        let config = Config {
            pcapng,
            ..Config::new(30_000, 5)
        };
        let (first, truth_a) = generate(&config, Vec::new()).unwrap();
        let (second, truth_b) = generate(&config, Vec::new()).unwrap();
        assert!(first == second, "two runs differ (pcapng: {pcapng})");
        assert_eq!(truth_a, truth_b);
        let other = Config { seed: 6, ..config };
        let (third, _) = generate(&other, Vec::new()).unwrap();
        assert!(first != third, "another seed gives another capture");
    }
}

#[test]
fn exactly_the_requested_number_of_frames() {
    for packets in [1, 2, 3, 17, 1_000] {
        let (bytes, truth) = generate(&Config::new(packets, 1), Vec::new()).unwrap();
        assert_eq!(truth.counts.frames, packets);
        let per_stream: u64 = truth.connections.iter().map(|c| c.counts.frames).sum();
        assert_eq!(per_stream, packets);
        assert!(bytes.len() > 24);
    }
    assert!(generate(&Config::new(0, 1), Vec::new()).is_err());
}

#[test]
fn the_default_scenario_is_the_estate() {
    let estate = keepsight_gen::shapes::scenario("estate").unwrap();
    let config = Config::scenario(estate, 2_000, 4);
    assert_eq!(config, Config::new(2_000, 4));
    assert!(keepsight_gen::shapes::scenario("no-such-shape").is_none());
    let unknown = Config {
        shape: "no-such-shape",
        ..config
    };
    let err = generate(&unknown, Vec::new()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn a_syn_flood_is_one_unanswered_syn_per_stream() {
    let flood = keepsight_gen::shapes::scenario("syn-flood").unwrap();
    let config = Config::scenario(flood, 3_000, 2);
    let (_, truth) = generate(&config, Vec::new()).unwrap();
    assert_eq!(truth.connections.len(), 3_000);
    assert_eq!(truth.counts.syn, 3_000);
    let span_s = (truth.last_time_us - truth.first_time_us) as f64 / 1e6;
    assert!((8.0..12.0).contains(&span_s), "{span_s} s for 10 s");
    let sources: std::collections::BTreeSet<SocketAddr> =
        truth.connections.iter().map(|c| c.client).collect();
    assert_eq!(sources.len(), 3_000, "no source address and port repeats");
    assert!(truth
        .connections
        .iter()
        .all(|c| c.close.is_none() && c.server.port() == 443 && c.detail == Detail::SynFlood));
    if !tshark_available() {
        return;
    }
    let path = scratch("flood.pcap");
    generate_file(&config, &path).unwrap();
    check_against_tshark(&path, &truth);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn short_http_reuses_ports_with_a_handful_open() {
    let short = keepsight_gen::shapes::scenario("short-http").unwrap();
    let config = Config {
        pcapng: true,
        ..Config::scenario(short, 4_000, 9)
    };
    let (_, truth) = generate(&config, Vec::new()).unwrap();
    assert_eq!(truth.connections.len(), 500);
    assert_eq!(truth.counts.http_requests, 500);
    assert_eq!(truth.counts.http_responses, 500);
    assert_eq!(truth.counts.reused_ports, 500 - 6 * 16);
    // Open connections at any frame: a stream is open from its first to its last frame.
    let mut edges: Vec<(u64, i32)> = truth
        .connections
        .iter()
        .flat_map(|c| [(c.first_frame, 1), (c.last_frame + 1, -1)])
        .collect();
    edges.sort();
    let mut open = 0;
    let most = edges
        .iter()
        .map(|(_, d)| {
            open += d;
            open
        })
        .max()
        .unwrap();
    assert!((2..=6).contains(&most), "{most} open at once");
    if !tshark_available() {
        return;
    }
    let path = scratch("short-http.pcapng");
    generate_file(&config, &path).unwrap();
    check_against_tshark(&path, &truth);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_scan_probes_ports_and_hosts_as_its_truth_says() {
    use keepsight_gen::shapes::scan;
    // The whole scenario: 2,175 frames.
    let config = Config::scenario(keepsight_gen::shapes::scenario("scan").unwrap(), 2_175, 5);
    let (_, truth) = generate(&config, Vec::new()).unwrap();
    assert_eq!(truth.counts.frames, 2_175);
    let probes = |scanner: [u8; 4]| -> Vec<&keepsight_gen::truth::Connection> {
        truth
            .connections
            .iter()
            .filter(|c| c.client.ip() == std::net::IpAddr::from(scanner))
            .collect()
    };
    let ports: std::collections::BTreeSet<u16> = probes(scan::PORT_SCANNER)
        .iter()
        .map(|c| c.server.port())
        .collect();
    assert_eq!(ports.len(), usize::from(scan::PORTS));
    let hosts: std::collections::BTreeSet<std::net::IpAddr> = probes(scan::HOST_SCANNER)
        .iter()
        .map(|c| c.server.ip())
        .collect();
    assert_eq!(hosts.len(), usize::from(scan::HOSTS));
    if !tshark_available() {
        return;
    }
    let path = scratch("scan.pcap");
    generate_file(&config, &path).unwrap();
    check_against_tshark(&path, &truth);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_reconnect_storm_follows_its_policies() {
    use keepsight_gen::shapes::reconnect_storm::{BACK, CRASH};
    let config = Config {
        pcapng: true,
        ..Config::scenario(
            keepsight_gen::shapes::scenario("reconnect-storm").unwrap(),
            209,
            1,
        )
    };
    let (_, truth) = generate(&config, Vec::new()).unwrap();
    // The whole story: nothing is cut.
    let (_, uncut) = generate(
        &Config {
            packets: 10_000,
            ..config.clone()
        },
        Vec::new(),
    )
    .unwrap();
    assert_eq!(uncut.counts.frames, 209);
    let epoch = keepsight_gen::EPOCH_S * 1_000_000;
    for client in 0..3 {
        let mine: Vec<&ReconnectTruth> = truth
            .connections
            .iter()
            .filter_map(|c| match &c.detail {
                Detail::Reconnect(r) if r.client == client => Some(r),
                _ => None,
            })
            .collect();
        let roles: Vec<ReconnectRole> = mine.iter().map(|r| r.role).collect();
        assert_eq!(roles[0], ReconnectRole::Died);
        assert_eq!(*roles.last().unwrap(), ReconnectRole::GotThrough);
        for r in &mine[1..mine.len() - 1] {
            assert_eq!(r.role, ReconnectRole::Refused);
            assert!((epoch + CRASH..epoch + BACK).contains(&r.syn_us));
        }
        assert!(mine.last().unwrap().syn_us >= epoch + BACK);
    }
    if !tshark_available() {
        return;
    }
    let path = scratch("storm.pcapng");
    generate_file(&config, &path).unwrap();
    check_against_tshark(&path, &truth);
    let _ = std::fs::remove_file(&path);
}
