//! TLS records of one direction (`keepsight-tls`): the reassembler must hand out the same
//! records however the bytes are split into segments, each record within the protocol's
//! limit; every record is then read as the dissector does (handshakes, hellos and their
//! extensions, alerts, the session's naming). The input also goes to the key-log parser.

use crate::input::piece_lengths;
use keepsight_tls::record::{handshake_type, Hello, MAX_RECORD_LEN};
use keepsight_tls::{Direction, KeyLog, Record, Session};

/// The records `stream` yields when pushed in pieces of `lengths`, and whether the direction
/// was lost.
fn records(stream: &[u8], lengths: &[usize]) -> (Vec<Vec<u8>>, bool) {
    let mut dir = Direction::new();
    let mut out = Vec::new();
    let mut seq = 1u32;
    let mut at = 0;
    for &n in lengths {
        let payload = &stream[at..at + n];
        at += n;
        let pushed = dir.push(seq, payload);
        seq = seq.wrapping_add(n as u32);
        for r in pushed.records(&dir, payload) {
            out.push(r.bytes().to_vec());
        }
    }
    (out, dir.is_lost())
}

fn read_record(r: &Record<'_>, session: &mut Session, dir: usize) {
    assert!(
        r.bytes().len() <= 5 + MAX_RECORD_LEN,
        "a record of {} bytes was handed out",
        r.bytes().len()
    );
    let ctx = session.observe(dir, r);
    let _ = Session::protocol_name(r, &ctx);
    let _ = r.alert();
    for h in r.handshakes() {
        let _ = h.name();
        let client = h.msg_type == handshake_type::CLIENT_HELLO;
        if client || h.msg_type == handshake_type::SERVER_HELLO {
            if let Some(hello) = Hello::parse(h.body, client) {
                let _ = hello.suites().count();
                let _ = hello.extensions().count();
                let _ = hello.server_names().count();
                let _ = hello.alpn().count();
                let _ = hello.supported_versions().count();
                let _ = hello.negotiated_version();
            }
        }
    }
}

pub(super) fn tls_records(data: &[u8]) {
    let whole = records(data, &[data.len()]);
    let split = records(data, &piece_lengths(data, data.len()));
    assert_eq!(
        whole, split,
        "the records depend on how the stream is split"
    );
    let mut session = Session::default();
    for (k, bytes) in whole.0.iter().enumerate() {
        let (r, rest) = Record::split(bytes).expect("a handed-out record reads as one");
        assert!(rest.is_empty(), "a handed-out record has bytes after it");
        read_record(&r, &mut session, k % 2);
    }
    let _ = KeyLog::parse(data);
}
