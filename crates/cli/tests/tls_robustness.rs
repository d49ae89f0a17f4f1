//! Malformed TLS through the whole CLI: a handshake message longer than its record, a
//! handshake cut by the client's FIN, a record header claiming more than TLS allows
//! (2^14 + 2048), cleartext after a valid handshake, a record of unknown version, an unknown
//! cipher suite, and key logs that are wrong or belong to another session. Every command ends
//! in time without a panic, and each fault is told with its stream and frame: `diagnose`'s
//! `tls_truncation` and `tls_unreadable` findings, and the decryption warnings of a key log
//! that does not fit.
//!
//! The capture is written here byte by byte (Ethernet, IPv4, TCP; no checksums), so every
//! frame number is known.

mod common;
use common::scratch;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

const SERVER_PORT: u16 = 8443;

/// A classic pcap being written, one frame per call, 1 ms apart.
struct Pcap {
    bytes: Vec<u8>,
    frames: u64,
    t_us: u64,
}

impl Pcap {
    fn new() -> Pcap {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        bytes.extend_from_slice(&[2, 0, 4, 0]);
        for v in [0u32, 0, 65_535, 1] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        Pcap {
            bytes,
            frames: 0,
            t_us: 1_795_000_000_000_000,
        }
    }

    /// Writes one TCP segment and returns its frame number.
    #[allow(clippy::too_many_arguments)]
    fn segment(
        &mut self,
        from_client: bool,
        port: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) -> u64 {
        let (client, server) = ([10, 1, 0, 1], [10, 1, 0, 2]);
        let (src, dst, sport, dport) = if from_client {
            (client, server, port, SERVER_PORT)
        } else {
            (server, client, SERVER_PORT, port)
        };
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
        let total = (40 + payload.len()) as u16;
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&ack.to_be_bytes());
        f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        self.t_us += 1_000;
        for v in [
            (self.t_us / 1_000_000) as u32,
            (self.t_us % 1_000_000) as u32,
            f.len() as u32,
            f.len() as u32,
        ] {
            self.bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.bytes.extend_from_slice(&f);
        self.frames += 1;
        self.frames
    }
}

/// One connection of the capture: handshake on creation, then data either way.
struct Conn {
    port: u16,
    seq: [u32; 2],
}

const PSH_ACK: u8 = 0x18;
const FIN_ACK: u8 = 0x11;

impl Conn {
    fn open(p: &mut Pcap, port: u16) -> Conn {
        let mut c = Conn {
            port,
            seq: [1_000, 5_000],
        };
        p.segment(true, port, c.seq[0], 0, 0x02, b"");
        c.seq[0] += 1;
        p.segment(false, port, c.seq[1], c.seq[0], 0x12, b"");
        c.seq[1] += 1;
        p.segment(true, port, c.seq[0], c.seq[1], 0x10, b"");
        c
    }

    fn send(&mut self, p: &mut Pcap, from_client: bool, flags: u8, payload: &[u8]) -> u64 {
        let i = usize::from(!from_client);
        let frame = p.segment(
            from_client,
            self.port,
            self.seq[i],
            self.seq[1 - i],
            flags,
            payload,
        );
        self.seq[i] += payload.len() as u32 + u32::from(flags & 0x01 != 0);
        frame
    }

    fn client(&mut self, p: &mut Pcap, payload: &[u8]) -> u64 {
        self.send(p, true, PSH_ACK, payload)
    }

    fn server(&mut self, p: &mut Pcap, payload: &[u8]) -> u64 {
        self.send(p, false, PSH_ACK, payload)
    }

    /// The client's FIN, the server's, the last ACK; returns the client's FIN frame.
    fn close(&mut self, p: &mut Pcap) -> u64 {
        let fin = self.send(p, true, FIN_ACK, b"");
        self.send(p, false, FIN_ACK, b"");
        self.send(p, true, 0x10, b"");
        fin
    }
}

/// A record; `claimed` overrides the length its header gives.
fn record(content_type: u8, version: u16, body: &[u8], claimed: Option<u16>) -> Vec<u8> {
    let mut r = vec![content_type];
    r.extend_from_slice(&version.to_be_bytes());
    r.extend_from_slice(&claimed.unwrap_or(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// A handshake message; `claimed` overrides the length its header gives.
fn handshake(kind: u8, body: &[u8], claimed: Option<u32>) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&claimed.unwrap_or(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(body);
    m
}

fn client_hello(random: [u8; 32]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&random);
    b.push(0);
    b.extend_from_slice(&[0, 4, 0xc0, 0x2f, 0x13, 0x01, 1, 0]);
    let name = b"bad.keepsight.test";
    let n = name.len() as u16;
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&(n + 5).to_be_bytes());
    ext.extend_from_slice(&(n + 3).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&n.to_be_bytes());
    ext.extend_from_slice(name);
    b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    b.extend_from_slice(&ext);
    b
}

fn server_hello(suite: u16) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&[0x5a; 32]);
    b.push(0);
    b.extend_from_slice(&suite.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0]);
    b
}

fn hello_record(random: [u8; 32]) -> Vec<u8> {
    record(22, 0x0301, &handshake(1, &client_hello(random), None), None)
}

/// The server's hello and ChangeCipherSpec, then the client's ChangeCipherSpec and
/// encrypted Finished: a TLS 1.2 handshake in the clear parts keepsight reads. Returns the
/// frames of the server's flight and of the client's Finished.
fn tls12_handshake(p: &mut Pcap, c: &mut Conn, random: [u8; 32], suite: u16) -> (u64, u64) {
    c.client(p, &hello_record(random));
    let mut flight = record(22, 0x0303, &handshake(2, &server_hello(suite), None), None);
    flight.extend(record(20, 0x0303, &[1], None));
    let server = c.server(p, &flight);
    let mut finish = record(20, 0x0303, &[1], None);
    finish.extend(record(22, 0x0303, &[0x33; 40], None));
    (server, c.client(p, &finish))
}

/// What the capture holds, by frame.
struct Faults {
    /// The client's FIN cutting its own handshake record.
    truncated_fin: u64,
    /// A server record header claiming 20,480 bytes.
    oversized: u64,
    /// The client's cleartext HTTP after its handshake.
    cleartext: u64,
    /// A client record of version 9.9 and no body.
    bad_version: u64,
    /// Where a key log fitting no stream is noticed: stream 2's client Finished (with a wrong
    /// secret), stream 3's and 4's server flights (no secret; an unknown suite).
    key_frames: [u64; 3],
    /// Frames in all.
    frames: u64,
}

const UNKNOWN_SUITE_RANDOM: [u8; 32] = [0x11; 32];
const WRONG_SECRET_RANDOM: [u8; 32] = [0x22; 32];

fn malformed_capture(path: &Path) -> Faults {
    let mut p = Pcap::new();
    // A Client Hello whose message claims 5,000 bytes in a record of 60: legal only if more
    // records followed; none do.
    let mut c = Conn::open(&mut p, 40_001);
    let lying = record(
        22,
        0x0301,
        &handshake(1, &client_hello([1; 32]), Some(5_000)),
        None,
    );
    c.client(&mut p, &lying);
    c.server(
        &mut p,
        &record(22, 0x0303, &handshake(2, &server_hello(0x1301), None), None),
    );
    c.close(&mut p);

    // A Client Hello record of 669 bytes, 100 of them sent, then the client's FIN.
    let mut c = Conn::open(&mut p, 40_002);
    let mut long = handshake(1, &client_hello([2; 32]), None);
    long.resize(664, 0x42);
    c.client(&mut p, &record(22, 0x0301, &long, None)[..100]);
    let truncated_fin = c.close(&mut p);

    // A valid TLS 1.2 handshake, then a record header claiming 0x5000 bytes.
    let mut c = Conn::open(&mut p, 40_003);
    let (_, wrong_secret) = tls12_handshake(&mut p, &mut c, WRONG_SECRET_RANDOM, 0xc02f);
    let oversized = c.server(&mut p, &record(23, 0x0303, &[0x77; 1_400], Some(0x5000)));
    c.server(&mut p, &[0x78; 1_400]);
    c.close(&mut p);

    // A valid handshake, then the client speaks cleartext HTTP.
    let mut c = Conn::open(&mut p, 40_004);
    let (no_secret, _) = tls12_handshake(&mut p, &mut c, [4; 32], 0xc02f);
    let cleartext = c.client(&mut p, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    c.server(&mut p, &record(23, 0x0303, &[0x55; 50], None));
    c.close(&mut p);

    // A cipher suite no one knows, records flowing after it.
    let mut c = Conn::open(&mut p, 40_005);
    let (unknown_suite, _) = tls12_handshake(&mut p, &mut c, UNKNOWN_SUITE_RANDOM, 0x1337);
    c.server(&mut p, &record(23, 0x0303, &[0x66; 60], None));
    c.close(&mut p);

    // An empty record of version 9.9.
    let mut c = Conn::open(&mut p, 40_006);
    tls12_handshake(&mut p, &mut c, [6; 32], 0xc02f);
    let bad_version = c.client(&mut p, &record(23, 0x0909, &[], None));
    c.client(&mut p, &record(23, 0x0303, &[0x44; 30], None));
    c.close(&mut p);

    std::fs::write(path, &p.bytes).unwrap();
    Faults {
        truncated_fin,
        oversized,
        cleartext,
        bad_version,
        key_frames: [wrong_secret, no_secret, unknown_suite],
        frames: p.frames,
    }
}

/// Runs keepsight under coreutils' `timeout`, failing the test if it takes over 60 s (a
/// hang: `timeout` exits 124) or fails (a panic exits 101).
fn keepsight(args: &[&str]) -> (String, String) {
    let out = Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_keepsight"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("timeout and keepsight run");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_ne!(out.status.code(), Some(124), "keepsight {args:?} hung");
    assert!(
        out.status.success(),
        "keepsight {args:?}: {:?}\n{stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "keepsight {args:?}: {stderr}");
    (stdout, stderr)
}

const TLS_FIELDS: &[&str] = &[
    "tls.record.content_type",
    "tls.record.length",
    "tls.record.version",
    "tls.handshake.type",
    "tls.handshake.length",
    "tls.handshake.ciphersuite",
    "tls.handshake.extensions_server_name",
    "tls.app_data",
    "_ws.col.Info",
];

#[test]
fn malformed_tls_is_told_with_its_frame_and_never_panics() {
    let dir = scratch("tls-robustness");
    let cap = dir.join("malformed.pcap");
    let faults = malformed_capture(&cap);
    let c = cap.display().to_string();

    let mut args = vec!["packets", &c, "-T", "fields"];
    for f in TLS_FIELDS {
        args.extend(["-e", f]);
    }
    let (fields, _) = keepsight(&args);
    assert_eq!(fields.lines().count() as u64, faults.frames);
    keepsight(&["packets", &c, "-V"]);
    keepsight(&["http", &c]);
    keepsight(&["follow", &c, "2"]);

    let (json, _) = keepsight(&["diagnose", &c, "--json"]);
    let report: Value = serde_json::from_str(&json).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let of = |kind: &str| -> Vec<(u64, u64, String)> {
        findings
            .iter()
            .filter(|f| f["kind"] == kind)
            .map(|f| {
                (
                    f["stream"].as_u64().unwrap(),
                    f["frames"][0].as_u64().unwrap(),
                    f["by"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        of("tls_truncation"),
        vec![(1, faults.truncated_fin, "client".to_string())]
    );
    assert_eq!(
        of("tls_unreadable"),
        vec![
            (2, faults.oversized, "server".to_string()),
            (3, faults.cleartext, "client".to_string()),
            (5, faults.bad_version, "client".to_string()),
        ]
    );
    let reason = |stream: u64| -> String {
        let f = findings
            .iter()
            .find(|f| f["kind"] == "tls_unreadable" && f["stream"] == stream)
            .unwrap();
        f["reason"].as_str().unwrap().to_string()
    };
    assert_eq!(
        reason(2),
        "a record header claims 20480 bytes, more than TLS allows (18432)"
    );
    assert_eq!(
        reason(3),
        "bytes that are no TLS record header (47 45 54 20 2f)"
    );
    assert_eq!(
        reason(5),
        "bytes that are no TLS record header (17 09 09 00 00)"
    );
    // The text report names the frame too.
    let (text, _) = keepsight(&["diagnose", &c]);
    assert!(
        text.contains(&format!(
            "the server's TLS records stop making sense in frame {}",
            faults.oversized
        )),
        "{text}"
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn key_logs_that_do_not_fit_are_told_per_stream() {
    let dir = scratch("tls-robustness-keys");
    let cap = dir.join("malformed.pcap");
    let faults = malformed_capture(&cap);
    let c = cap.display().to_string();
    // A master secret for the unknown suite's session, a wrong one for stream 2's, and one
    // for a session that is not in the capture.
    let keylog = dir.join("keylog.txt");
    std::fs::write(
        &keylog,
        format!(
            "CLIENT_RANDOM {} {}\nCLIENT_RANDOM {} {}\nCLIENT_RANDOM {} {}\n",
            hex(&UNKNOWN_SUITE_RANDOM),
            hex(&[0xab; 48]),
            hex(&WRONG_SECRET_RANDOM),
            hex(&[0xcd; 48]),
            hex(&[0x99; 32]),
            hex(&[0xef; 48]),
        ),
    )
    .unwrap();
    let k = keylog.display().to_string();
    for command in [
        vec!["packets", &c, "--tls-keylog", &k],
        vec!["diagnose", &c, "--tls-keylog", &k],
        vec!["http", &c, "--tls-keylog", &k],
    ] {
        let (_, err) = keepsight(&command);
        let [wrong_secret, no_secret, unknown_suite] = faults.key_frames;
        for want in [
            format!("TLS stream 2 (tcp.stream): record 3 from the client did not decrypt (authentication tag mismatch): the key log's secret for this stream is wrong; later records of that direction are left encrypted (frame {wrong_secret})"),
            format!("TLS stream 3 (tcp.stream): no secret for this stream in the key log (client random {}) (frame {no_secret})", hex(&[4; 32])),
            format!("TLS stream 4 (tcp.stream): cipher suite 0x1337 is not one keepsight decrypts (TLS 1.2/1.3 AES-GCM and ChaCha20-Poly1305 only) (frame {unknown_suite})"),
        ] {
            assert!(err.contains(&want), "{command:?}: no {want:?} in\n{err}");
        }
    }
}
