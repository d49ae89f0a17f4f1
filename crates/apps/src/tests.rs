use super::*;

/// A FIX 4.4 message with the given body fields (after 8 and 9), BodyLength and CheckSum
/// computed as the spec says.
fn fix_message(fields: &[(u32, &str)]) -> Vec<u8> {
    let body: String = fields.iter().map(|(t, v)| format!("{t}={v}\x01")).collect();
    let mut m = format!("8=FIX.4.4\x019={}\x01{body}", body.len()).into_bytes();
    let sum = m.iter().fold(0u8, |s, &c| s.wrapping_add(c));
    m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    m
}

fn events(s: &mut Session, dir: usize, seq: u32, p: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    s.feed(dir, seq, p, true, &mut |e| out.push(format!("{e:?}")));
    out
}

#[test]
fn fix_session_events_in_order_across_segment_boundaries() {
    let logon = fix_message(&[
        (35, "A"),
        (34, "1"),
        (49, "C"),
        (56, "S"),
        (98, "0"),
        (108, "30"),
    ]);
    let beat = fix_message(&[(35, "0"), (34, "2")]);
    let test = fix_message(&[(35, "1"), (34, "3"), (112, "T1")]);
    let logout = fix_message(&[(35, "5"), (34, "4"), (58, "no heartbeat")]);
    assert_eq!(recognize(&logon), Some(Protocol::Fix));
    let mut all = [logon, beat, test, logout].concat();
    let mut s = Session::new(Protocol::Fix);
    // Cut at every 7th byte: messages span segments and segments hold several messages.
    let mut got = Vec::new();
    let mut seq = 0u32;
    for chunk in all.chunks(7) {
        got.extend(events(&mut s, 0, seq, chunk));
        // A retransmission of the same bytes changes nothing.
        got.extend(events(&mut s, 0, seq, chunk));
        seq += chunk.len() as u32;
    }
    assert_eq!(
        got,
        [
            "Interval { ms: 30000, scope: Both }",
            "Beat",
            "Probe",
            "Goodbye { text: Some([110, 111, 32, 104, 101, 97, 114, 116, 98, 101, 97, 116]) }",
        ]
    );
    // A wrong checksum: the message is ignored, the next one still framed.
    let n = all.len();
    all[n - 3] = b'9';
    let mut s = Session::new(Protocol::Fix);
    let got = events(&mut s, 0, 0, &all);
    assert_eq!(got.len(), 3);
}

#[test]
fn fix_sequence_gaps_and_resend_requests() {
    let mut s = Session::new(Protocol::Fix);
    let a = fix_message(&[(35, "A"), (34, "1"), (108, "2")]);
    let b = fix_message(&[(35, "0"), (34, "5")]);
    let dup = fix_message(&[(35, "D"), (34, "3"), (43, "Y")]);
    let rr = fix_message(&[(35, "2"), (34, "2"), (7, "2"), (16, "0")]);
    let p = [a, b, dup].concat();
    let got = events(&mut s, 0, 0, &p);
    assert_eq!(
        got,
        [
            "Interval { ms: 2000, scope: Both }",
            "SequenceGap { expected: 2, received: 5 }",
            "Beat",
            "Message",
        ]
    );
    let got = events(&mut s, 1, 0, &rr);
    assert_eq!(got, ["ResendRequest { begin: 2, end: 0 }"]);
}

#[test]
fn fix_framing_failures_lose_the_direction_once() {
    let mut s = Session::new(Protocol::Fix);
    let m = fix_message(&[(35, "0"), (34, "1")]);
    assert_eq!(events(&mut s, 0, 0, &m), ["Beat"]);
    // Bytes missing from the capture: the next message cannot be trusted to start anywhere.
    assert_eq!(events(&mut s, 0, m.len() as u32 + 10, &m), ["Lost"]);
    assert!(events(&mut s, 0, 2 * m.len() as u32 + 10, &m).is_empty());
    // Not FIX after a FIX start.
    let mut s = Session::new(Protocol::Fix);
    assert_eq!(events(&mut s, 1, 0, b"8=FIX.4.4\x019=x\x01"), ["Lost"]);
    // A BodyLength beyond the bound ends the direction instead of buffering.
    let mut s = Session::new(Protocol::Fix);
    assert_eq!(
        events(&mut s, 1, 0, b"8=FIX.4.4\x019=999999999\x0135=0"),
        ["Lost"]
    );
    assert_eq!(recognize(b"GET / HTTP/1.1\r\n"), None);
    assert_eq!(recognize(b"8=FIXME"), None);
}

fn resp(args: &[&str]) -> Vec<u8> {
    let mut m = format!("*{}\r\n", args.len());
    for a in args {
        m.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    m.into_bytes()
}

#[test]
fn redis_pings_matched_to_their_replies_through_a_pipeline() {
    let ping = resp(&["PING"]);
    assert_eq!(recognize(&ping), Some(Protocol::Redis));
    assert_eq!(recognize(b"*1\r\n$4\r\n"), None, "no command name yet");
    assert_eq!(recognize(b"*0\r\n"), None);
    let mut s = Session::new(Protocol::Redis);
    // PING, GET, PING pipelined; the replies come in order, split across segments.
    let cmds = [ping.clone(), resp(&["GET", "k"]), resp(&["ping"])].concat();
    assert_eq!(events(&mut s, 0, 0, &cmds), ["Probe", "Message", "Probe"]);
    let replies = b"+PONG\r\n$5\r\nhello\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n";
    let (a, b) = replies.split_at(12);
    let mut got = events(&mut s, 1, 0, a);
    got.extend(events(&mut s, 1, a.len() as u32, b));
    assert_eq!(got, ["Reply", "Message", "Reply"]);
    // A reply nobody asked for answers no PING.
    assert_eq!(
        events(&mut s, 1, replies.len() as u32, b"+OK\r\n"),
        ["Message"]
    );
    // RESP3 aggregates and a push.
    let mut s = Session::new(Protocol::Redis);
    events(&mut s, 0, 0, &resp(&["HELLO", "3"]));
    let map = b"%1\r\n+server\r\n+redis\r\n>2\r\n$7\r\nmessage\r\n:1\r\n";
    assert_eq!(events(&mut s, 1, 0, map), ["Message", "Message"]);
    // Not RESP.
    assert_eq!(events(&mut s, 1, map.len() as u32, b"PONG\r\n"), ["Lost"]);
}

fn amqp_frame(ty: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![ty, 0, 0];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f.push(0xCE);
    f
}

#[test]
fn amqp_tune_heartbeats_and_close() {
    let header = b"AMQP\x00\x00\x09\x01";
    assert_eq!(recognize(header), Some(Protocol::Amqp));
    assert_eq!(
        recognize(b"AMQP\x00\x01\x00\x00"),
        None,
        "AMQP 1.0 is another protocol"
    );
    let mut s = Session::new(Protocol::Amqp);
    assert_eq!(events(&mut s, 0, 0, header), ["Message"]);
    // Connection.Tune: channel-max 2047, frame-max 131072, heartbeat 60 (server).
    let tune = amqp_frame(1, &[0, 10, 0, 30, 0x07, 0xff, 0, 2, 0, 0, 0, 60]);
    let hb = amqp_frame(8, &[]);
    let mut close = vec![0, 10, 0, 50, 1, 64, 11];
    close.extend_from_slice(b"missed beat");
    close.extend_from_slice(&[0, 0, 0, 0]);
    let server = [tune, hb.clone(), amqp_frame(1, &close)].concat();
    let (a, b) = server.split_at(5);
    let mut got = events(&mut s, 1, 0, a);
    got.extend(events(&mut s, 1, 5, b));
    assert_eq!(
        got,
        [
            "Interval { ms: 60000, scope: Both }",
            "Beat",
            "Goodbye { text: Some([109, 105, 115, 115, 101, 100, 32, 98, 101, 97, 116]) }"
        ]
    );
    // A frame whose end octet is wrong.
    let mut bad = hb.clone();
    bad[7] = 0;
    assert_eq!(events(&mut s, 0, 8, &bad), ["Lost"]);
}

fn pdu(id: u32, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut p = ((16 + body.len()) as u32).to_be_bytes().to_vec();
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(body);
    p
}

#[test]
fn smpp_enquire_link_and_unbind() {
    let bind = pdu(9, 1, b"esme1\0secret\0\0\x34\0\0\0");
    assert_eq!(recognize(&bind), Some(Protocol::Smpp));
    assert_eq!(
        recognize(&pdu(0x15, 1, b"")),
        None,
        "an SMPP session opens with a bind"
    );
    let mut s = Session::new(Protocol::Smpp);
    let esme = [bind, pdu(0x15, 2, b""), pdu(6, 3, b"")].concat();
    assert_eq!(
        events(&mut s, 0, 0, &esme),
        ["Message", "Probe", "Goodbye { text: None }"]
    );
    assert_eq!(events(&mut s, 1, 0, &pdu(0x8000_0015, 2, b"")), ["Reply"]);
    assert_eq!(
        events(&mut s, 1, 16, &[0, 0, 0, 3]),
        ["Lost"],
        "a length below the header"
    );
}

#[test]
fn stomp_heart_beats_negotiated_per_direction() {
    let connect = b"CONNECT\naccept-version:1.2\nhost:/\nheart-beat:1000,3000\n\n\0";
    assert_eq!(recognize(connect), Some(Protocol::Stomp));
    let mut s = Session::new(Protocol::Stomp);
    assert_eq!(events(&mut s, 0, 0, connect), ["Message"]);
    let connected = b"CONNECTED\r\nversion:1.2\r\nheart-beat:2000,500\r\n\r\n\0\n";
    assert_eq!(
        events(&mut s, 1, 0, connected),
        [
            "Interval { ms: 3000, scope: Dir(1) }",
            "Interval { ms: 1000, scope: Dir(0) }",
            "Beat"
        ]
    );
    // A body with a NUL inside, framed by content-length; EOL beats; an ERROR with its text.
    let c = connect.len() as u32;
    let send = b"SEND\ndestination:/q\ncontent-length:3\n\na\0b\0\n\r\n";
    assert_eq!(events(&mut s, 0, c, send), ["Message", "Beat", "Beat"]);
    let err = b"ERROR\nmessage:heart-beat timeout\n\n\0";
    let got = events(&mut s, 1, connected.len() as u32, err);
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("Goodbye { text: Some("));
    assert_eq!(
        events(&mut s, 0, c + send.len() as u32, b"send\n\n\0"),
        ["Lost"]
    );
}

/// An ISO 8583 network management message: MTI, binary bitmaps with fields 7, 11 and 70.
fn iso(mti: &str, stan: u32, code: &str) -> Vec<u8> {
    let mut body = mti.as_bytes().to_vec();
    // Primary: bit 1 (secondary), 7, 11. Secondary: 70 (bit 6 of it).
    body.extend_from_slice(&[0x82, 0x20, 0, 0, 0, 0, 0, 0]);
    body.extend_from_slice(&[0x04, 0, 0, 0, 0, 0, 0, 0]);
    body.extend_from_slice(b"1207185959");
    body.extend_from_slice(format!("{stan:06}").as_bytes());
    body.extend_from_slice(code.as_bytes());
    let mut m = (body.len() as u16).to_be_bytes().to_vec();
    m.extend_from_slice(&body);
    m
}

#[test]
fn iso8583_echo_tests_and_sign_off() {
    let echo = iso("0800", 1, "301");
    assert_eq!(recognize(&echo), Some(Protocol::Iso8583));
    let mut s = Session::new(Protocol::Iso8583);
    let acq = [echo, iso("0800", 2, "001"), iso("0800", 3, "002")].concat();
    assert_eq!(
        events(&mut s, 0, 0, &acq),
        ["Probe", "Message", "Goodbye { text: None }"]
    );
    let reply = iso("0810", 1, "301");
    let (a, b) = reply.split_at(1);
    let mut got = events(&mut s, 1, 0, a);
    got.extend(events(&mut s, 1, 1, b));
    assert_eq!(got, ["Reply"]);
    // A field 2 (LLVAR PAN) before 70 is skipped by its length.
    let mut with_pan = iso("0800", 4, "301");
    with_pan[6] |= 0x40;
    with_pan.splice(22..22, b"16".iter().chain(b"4000123412341234").copied());
    let n = (with_pan.len() - 2) as u16;
    with_pan[..2].copy_from_slice(&n.to_be_bytes());
    assert_eq!(events(&mut s, 0, acq.len() as u32, &with_pan), ["Probe"]);
    assert_eq!(recognize(b"\x00\x10GET / HTTP/1.1"), None);
}

/// Bytes after a valid opening, cut anywhere and mixed with garbage: no panic, and the buffer
/// never holds more than one message's bound.
#[test]
fn garbage_after_a_valid_opening_never_panics_nor_grows() {
    let openings: [(Protocol, Vec<u8>); 6] = [
        (
            Protocol::Fix,
            fix_message(&[(35, "A"), (34, "1"), (108, "30")]),
        ),
        (Protocol::Redis, resp(&["PING"])),
        (Protocol::Amqp, b"AMQP\x00\x00\x09\x01".to_vec()),
        (Protocol::Smpp, pdu(9, 1, b"esme\0pw\0\0\x34\0\0\0")),
        (Protocol::Stomp, b"CONNECT\nheart-beat:1,1\n\n\0".to_vec()),
        (Protocol::Iso8583, iso("0800", 1, "301")),
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for (p, open) in openings {
        assert_eq!(recognize(&open), Some(p));
        for round in 0..200 {
            let mut s = Session::new(p);
            let mut stream = open.clone();
            // Valid openings repeated, then bytes of every kind.
            stream.extend_from_slice(&open);
            for _ in 0..(next() % 3000) {
                let b = next() as u8;
                stream.push(if round % 2 == 0 { b } else { b % 16 + b'0' });
            }
            let mut seq = 0u32;
            let mut rest = &stream[..];
            while !rest.is_empty() {
                let n = (next() as usize % 700 + 1).min(rest.len());
                s.feed(0, seq, &rest[..n], true, &mut |_| {});
                s.feed(1, seq, &rest[..n], true, &mut |_| {});
                seq += n as u32;
                rest = &rest[n..];
            }
            assert!(s.dirs.iter().all(|d| d.buffered() <= MAX_MESSAGE + 700));
        }
    }
}

/// What the encoders write is what the recognizers read back: the same BodyLength and
/// CheckSum as the test's own `fix_message()`, an echo test the ISO 8583 reader calls a probe with its
/// trace number, AMQP and Redis frames of the lengths the framing rules expect.
#[test]
fn encoders_write_what_the_readers_accept() {
    let mut m = Vec::new();
    fix::encode(
        "FIX.4.4",
        &[(35, b"1"), (34, b"12"), (112, b"TEST12")],
        &mut m,
    );
    assert_eq!(m, fix_message(&[(35, "1"), (34, "12"), (112, "TEST12")]));
    assert_eq!(fix::field(&m, 112), Some(&b"TEST12"[..]));
    assert_eq!(message_len(Protocol::Fix, &m), Framing::Len(m.len()));
    let mut s = Session::new(Protocol::Fix);
    assert_eq!(events(&mut s, 0, 0, &m), ["Probe"]);

    let mut iso = Vec::new();
    iso8583::encode_network(b"0800", b"1207213000", 1234567, None, b"301", &mut iso);
    assert_eq!(recognize(&iso), Some(Protocol::Iso8583));
    assert_eq!(iso8583::field(&iso[2..], 11), Some(&b"234567"[..]));
    assert_eq!(iso8583::field(&iso[2..], 7), Some(&b"1207213000"[..]));
    let mut s = Session::new(Protocol::Iso8583);
    assert_eq!(events(&mut s, 0, 0, &iso), ["Probe"]);
    let mut answer = Vec::new();
    iso8583::encode_network(b"0810", b"1207213000", 7, Some(b"00"), b"301", &mut answer);
    assert_eq!(iso8583::field(&answer[2..], 39), Some(&b"00"[..]));
    assert_eq!(events(&mut s, 1, 0, &answer), ["Reply"]);

    let mut amqp_bytes = amqp::HEADER.to_vec();
    amqp::encode_heartbeat(&mut amqp_bytes);
    assert_eq!(&amqp_bytes[8..], [8, 0, 0, 0, 0, 0, 0, 0xce]);
    let mut s = Session::new(Protocol::Amqp);
    assert_eq!(events(&mut s, 0, 0, &amqp_bytes), ["Message", "Beat"]);

    let mut ping = Vec::new();
    redis::encode_command(&[b"PING"], &mut ping);
    assert_eq!(ping, b"*1\r\n$4\r\nPING\r\n");
    assert!(redis::is_pong(b"+PONG\r\n"));
    assert!(redis::is_pong(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"));
    assert!(!redis::is_pong(b"+OK\r\n"));
}
