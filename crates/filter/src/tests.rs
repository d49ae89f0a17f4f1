//! Unit tests of the whole chain (parse, check, evaluate) over hand-built packets. The expected
//! results restate tshark 4.0.17 behaviour recorded in the shared reference (§2.1) or checked
//! by running tshark on crafted captures; the differential test in crates/cli checks the same
//! against tshark directly.

use super::*;
use keepsight_fields::{lookup, Value};

/// A packet as a list of (field, value) occurrences, in tree order.
#[derive(Clone, Debug, Default)]
pub(crate) struct TestPacket {
    vals: Vec<(FieldId, Owned)>,
}

#[derive(Clone, Debug)]
#[allow(dead_code)]
pub(crate) enum Owned {
    #[allow(dead_code)]
    Present,
    Bool(bool),
    U(u64),
    I(i64),
    B(Vec<u8>),
    /// A protocol: its tvb and the length of its item (header) at the start of it.
    P(Vec<u8>, usize),
    S(String),
    V4([u8; 4]),
    V6([u8; 16]),
    Mac([u8; 6]),
    Rel(i64),
    Abs(i64),
    Frame(u32),
}

impl TestPacket {
    pub(crate) fn with(mut self, name: &str, v: Owned) -> Self {
        let id = lookup(name).unwrap_or_else(|| panic!("test uses unknown field {name}"));
        self.vals.push((id, v));
        self
    }
}

impl Packet for TestPacket {
    fn visit(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
        for (id, v) in &self.vals {
            if *id != field {
                continue;
            }
            sink(match v {
                Owned::Present => Value::Present,
                Owned::Bool(b) => Value::Bool(*b),
                Owned::U(x) => Value::UInt(*x),
                Owned::I(x) => Value::Int(*x),
                Owned::B(b) => Value::Bytes(b),
                Owned::P(tvb, item) => Value::Protocol {
                    item: &tvb[..*item],
                    tvb,
                },
                Owned::S(s) => Value::Str(s),
                Owned::V4(a) => Value::Ipv4(*a),
                Owned::V6(a) => Value::Ipv6(*a),
                Owned::Mac(m) => Value::Ether(*m),
                Owned::Rel(t) => Value::RelTime(*t),
                Owned::Abs(t) => Value::AbsTime(*t),
                Owned::Frame(n) => Value::FrameNum(*n),
            });
        }
    }
}

use Owned::*;

/// A TCP segment 10.0.0.1:40000 -> 10.0.0.2:7777 (or the reverse), stream 0, with `payload`.
pub(crate) fn tcp(num: u32, payload: &[u8], flags: u64, to_server: bool) -> TestPacket {
    let (sp, dp) = if to_server {
        (40000, 7777)
    } else {
        (7777, 40000)
    };
    let (src, dst) = if to_server {
        ([10, 0, 0, 1], [10, 0, 0, 2])
    } else {
        ([10, 0, 0, 2], [10, 0, 0, 1])
    };
    let mut hdr = vec![0u8; 20];
    hdr[0..2].copy_from_slice(&(sp as u16).to_be_bytes());
    hdr[2..4].copy_from_slice(&(dp as u16).to_be_bytes());
    hdr[12] = 0x50;
    hdr[13] = flags as u8;
    let mut tcp_bytes = hdr.clone();
    tcp_bytes.extend_from_slice(payload);
    let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
    frame.extend_from_slice(&[0x45; 20]);
    frame.extend_from_slice(&tcp_bytes);
    let mut p = TestPacket::default()
        .with("frame", B(frame.clone()))
        .with("frame.number", U(num as u64))
        .with("frame.len", U(frame.len() as u64))
        .with("frame.time_relative", Rel(num as i64 * 1_000_000_000))
        .with("frame.time_delta_displayed", Rel(0))
        .with(
            "frame.protocols",
            S(if payload.is_empty() {
                "eth:ethertype:ip:tcp"
            } else {
                "eth:ethertype:ip:tcp:data"
            }
            .into()),
        )
        .with("eth", P(frame.clone(), 14))
        .with("eth.src", Mac([2, 0, 0, 0, 0, 1]))
        .with("ip", P(frame[14..].to_vec(), 20))
        .with("ip.hdr_len", U(20))
        .with("ip.src", V4(src))
        .with("ip.dst", V4(dst))
        .with("ip.addr", V4(src))
        .with("ip.addr", V4(dst))
        .with("tcp", P(tcp_bytes, 20))
        .with("tcp.srcport", U(sp))
        .with("tcp.dstport", U(dp))
        .with("tcp.port", U(sp))
        .with("tcp.port", U(dp))
        .with("tcp.stream", U(0))
        .with("tcp.len", U(payload.len() as u64))
        .with("tcp.hdr_len", U(20))
        .with("tcp.flags", U(flags))
        .with("tcp.flags.reset", Bool(flags & 4 != 0))
        .with("tcp.flags.syn", Bool(flags & 2 != 0))
        .with("tcp.flags.fin", Bool(flags & 1 != 0))
        .with("tcp.window_size_scalefactor", I(-1))
        .with("tcp.time_delta", Rel(45_000_000_000));
    if !payload.is_empty() {
        p = p.with("tcp.payload", B(payload.to_vec()));
    }
    p
}

fn sel(expr: &str, pkts: &[TestPacket]) -> Vec<u32> {
    let f = Filter::compile(expr).unwrap_or_else(|e| panic!("{expr} should compile:\n{e}"));
    pkts.iter()
        .enumerate()
        .filter(|(_, p)| f.matches(*p))
        .map(|(i, _)| i as u32 + 1)
        .collect()
}

/// 1: SYN, 2: 0x01 probe, 3: 'A' reply, 4: "AA", 5: RST, 6: "xxabcxx", 7: "ABC", 8: FIN,
/// 9: 01 02, 10: a UDP-only packet.
fn corpus() -> Vec<TestPacket> {
    vec![
        tcp(1, b"", 0x02, true),
        tcp(2, b"\x01", 0x18, true),
        tcp(3, b"A", 0x18, false),
        tcp(4, b"AA", 0x18, true),
        tcp(5, b"", 0x14, false),
        tcp(6, b"xxabcxx", 0x18, true),
        tcp(7, b"ABC", 0x18, false),
        tcp(8, b"", 0x11, true),
        tcp(9, b"\x01\x02", 0x18, true),
        TestPacket::default()
            .with("frame.number", U(10))
            .with("frame.protocols", S("eth:ethertype:ip:udp:data".into()))
            .with("udp", B(vec![0x13, 0x88, 0x13, 0x89, 0, 8, 0, 0]))
            .with("udp.port", U(5000))
            .with("udp.port", U(5001))
            .with("ip.addr", V4([10, 0, 0, 1]))
            .with("ip.addr", V4([192, 168, 1, 7]))
            .with("frame.time_delta_displayed", Rel(5)),
    ]
}

#[test]
fn the_issue_filters_select_what_tshark_selects() {
    let c = corpus();
    assert_eq!(sel("tcp.len eq 1", &c), [2, 3]);
    assert_eq!(sel("tcp.flags.fin eq 1", &c), [8]);
    assert_eq!(sel("tcp.flags.reset eq 1", &c), [5]);
    assert_eq!(sel("tcp.payload eq 01", &c), [2]);
    assert_eq!(sel("tcp.stream eq 0 and tcp.payload eq 01", &c), [2]);
    assert_eq!(
        sel(
            "tcp.stream eq 0 and (tcp.len == 1 or tcp.flags.reset == 1)",
            &c
        ),
        [2, 3, 5]
    );
    assert_eq!(sel("tcp contains \"abc\"", &c), [6]);
    assert_eq!(sel("tcp.payload contains 61:62:63", &c), [6]);
    assert_eq!(sel("frame contains \"abc\"", &c), [6]);
}

#[test]
fn protocols_search_their_layer_but_compare_their_header() {
    // tshark 4.0.17 on tests/filters/extents.pcap: `contains`/`matches` see the layer's data,
    // slices, len(), == and ordering the protocol's header item.
    let c = corpus();
    assert_eq!(sel("eth contains \"abc\"", &c), [6]);
    // `matches` is case-insensitive, as PCRE2 is compiled by tshark.
    assert_eq!(sel("ip matches \"abc\"", &c), [6, 7]);
    assert_eq!(sel("tcp matches \"abc\"", &c), [6, 7]);
    let tcp_frames: Vec<u32> = (1..=9).collect();
    assert_eq!(sel("eth[14:] == \"\"", &c), tcp_frames);
    assert_eq!(sel("tcp[20:] contains \"abc\"", &c), Vec::<u32>::new());
    assert_eq!(sel("tcp[2:] contains \"abc\"", &c), Vec::<u32>::new());
    assert_eq!(
        sel("len(tcp) == 20 and len(ip) == 20 and len(eth) == 14", &c),
        tcp_frames
    );
    assert_eq!(sel("tcp == tcp[0:20]", &c), tcp_frames);
}

#[test]
fn literal_forms_of_one_value_agree() {
    let c = corpus();
    for e in [
        "tcp.len == 1",
        "tcp.len eq 01",
        "tcp.len == 0x1",
        "tcp.len == 0b1",
        "tcp.len == '\\x01'",
        "tcp.len any_eq 1",
    ] {
        assert_eq!(sel(e, &c), [2, 3], "{e}");
    }
    assert_eq!(
        sel("tcp.len == 010", &c),
        Vec::<u32>::new(),
        "010 is octal 8"
    );
    for e in [
        "tcp.payload == 1",
        "tcp.payload == \"\\x01\"",
        "tcp.payload == 0x01",
        "tcp.payload[0:1] == 01 and tcp.len == 1",
        ":01 == tcp.payload or tcp.payload == :01",
    ] {
        if e.starts_with(':') {
            assert!(
                Filter::compile(e).is_err(),
                "a literal cannot be on the left"
            );
            continue;
        }
        assert_eq!(sel(e, &c), [2], "{e}");
    }
    for e in [
        "tcp.payload == 41:41",
        "tcp.payload == 41-41",
        "tcp.payload == 41.41",
        "tcp.payload == 4141",
        "tcp.payload == \"AA\"",
    ] {
        assert_eq!(sel(e, &c), [4], "{e}");
    }
    for e in [
        "tcp.flags.reset == 1",
        "tcp.flags.reset == True",
        "tcp.flags.reset == TRUE",
        "tcp.flags.reset == \"Set\"",
        "tcp.flags.reset == \"set\"",
        "tcp.flags.reset != 0",
        "tcp.flags.reset == 2",
        "tcp.flags & 0x04",
    ] {
        assert_eq!(sel(e, &c), [5], "{e}");
    }
    assert_eq!(
        sel("tcp.payload == 102", &c),
        Vec::<u32>::new(),
        "102 is the bytes 10 02"
    );
}

#[test]
fn multi_occurrence_quantifiers() {
    let c = corpus();
    let all_tcp: Vec<u32> = (1..=9).collect();
    assert_eq!(sel("tcp.port == 7777", &c), all_tcp);
    assert_eq!(
        sel("tcp.port != 7777", &c),
        Vec::<u32>::new(),
        "every packet has 7777 on one side"
    );
    assert_eq!(sel("tcp.port ~= 7777", &c), all_tcp);
    assert_eq!(sel("tcp.port !== 7777", &c), all_tcp);
    assert_eq!(sel("tcp.port === 7777", &c), Vec::<u32>::new());
    assert_eq!(sel("all tcp.port > 7000", &c), all_tcp);
    assert_eq!(sel("all tcp.port > 8000", &c), Vec::<u32>::new());
    assert_eq!(
        sel("udp.port != 80", &c),
        [10],
        "absent field: != is false, not true"
    );
    assert_eq!(sel("tcp.port in {7777, 1..2}", &c), all_tcp);
    assert_eq!(sel("tcp.port not in {7777}", &c), [10]);
    assert_eq!(
        sel("all tcp.port in {7777, 40000}", &c),
        Vec::<u32>::new(),
        "one member must hold them all"
    );
    assert_eq!(
        sel("all tcp.port in {7000..50000}", &c),
        (1..=9).collect::<Vec<_>>()
    );
    assert_eq!(sel("tcp.srcport > tcp.dstport", &c), [1, 2, 4, 6, 8, 9]);
}

#[test]
fn strings_bytes_slices_and_functions() {
    let c = corpus();
    assert_eq!(sel("tcp.payload contains \"ABC\"", &c), [7]);
    assert_eq!(sel("tcp.payload matches \"abc\"", &c), [6, 7]);
    assert_eq!(sel("tcp.payload ~ \"(?-i)abc\"", &c), [6]);
    assert_eq!(sel("tcp.payload matches \"^\\x01$\"", &c), [2]);
    assert_eq!(sel("tcp.payload[-1] == 78", &c), [6]);
    assert_eq!(sel("tcp.payload[2:3] == \"abc\"", &c), [6]);
    assert_eq!(sel("tcp.payload[1-2] == \"xa\"", &c), [6]);
    assert_eq!(sel("tcp.payload[:2] == \"xx\"", &c), [6]);
    assert_eq!(sel("tcp.payload[2:] == \"abcxx\"", &c), [6]);
    assert_eq!(sel("tcp.payload[0:1,2-3] == \"xab\"", &c), [6]);
    assert_eq!(
        sel("tcp.payload[0:10] == \"AA\"", &c),
        Vec::<u32>::new(),
        "out of range: no value"
    );
    assert_eq!(sel("tcp.payload[1:] == \"\"", &c), [2, 3]);
    assert_eq!(sel("len(tcp.payload) == 7", &c), [6]);
    assert_eq!(
        sel("len(tcp) == 20", &c),
        (1..=9).collect::<Vec<_>>(),
        "a protocol's length is its header's"
    );
    assert_eq!(sel("count(tcp.port) == 2", &c), (1..=9).collect::<Vec<_>>());
    assert_eq!(sel("count(tcp.payload) == 0", &c), Vec::<u32>::new());
    assert_eq!(sel("upper(frame.protocols) contains \"UDP\"", &c), [10]);
    assert_eq!(sel("string(tcp.srcport) == \"7777\"", &c), [3, 5, 7]);
    assert_eq!(
        sel("max(tcp.srcport, tcp.dstport) == 40000", &c),
        (1..=9).collect::<Vec<_>>()
    );
    assert_eq!(
        sel("abs(tcp.window_size_scalefactor) == 1", &c),
        (1..=9).collect::<Vec<_>>()
    );
    assert_eq!(
        sel("tcp.payload > 41", &c),
        [4, 6, 7, 9],
        "bytes order by length first"
    );
    assert_eq!(
        sel("frame.protocols > \"eth:ethertype:ip:tcp\"", &c),
        [2, 3, 4, 6, 7, 9, 10]
    );
    assert_eq!(sel("tcp.len + 1 == 2", &c), [2, 3]);
    assert_eq!(sel("tcp.len * 3 & 1", &c), [2, 3, 6, 7]);
    assert_eq!(sel("-tcp.len == -2", &c), [4, 9]);
    assert_eq!(sel("{tcp.len + 1} * 2 == 4", &c), [2, 3]);
    assert_eq!(sel("tcp.payload & 01", &c), [2, 3, 4, 7, 9]);
}

#[test]
fn addresses_times_and_existence() {
    let c = corpus();
    assert_eq!(
        sel("ip.addr == 10.0.0.0/24", &c),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(sel("ip.addr == 192.168.0.0/16", &c), [10]);
    assert_eq!(sel("ip.src == 10.0.0.2", &c), [3, 5, 7]);
    assert_eq!(sel("ip.src[3] == 02", &c), [3, 5, 7]);
    assert_eq!(
        sel("eth.src == 02-00-00-00-00-01", &c),
        (1..=9).collect::<Vec<_>>()
    );
    assert_eq!(
        sel("eth.src == 0200.0000.0001", &c),
        (1..=9).collect::<Vec<_>>()
    );
    assert_eq!(sel("frame.time_relative > 7.5", &c), [8, 9]);
    assert_eq!(sel("frame.time_relative >= 7", &c), [7, 8, 9]);
    assert_eq!(sel("tcp.time_delta > 40", &c), (1..=9).collect::<Vec<_>>());
    assert_eq!(
        sel("tcp.flags.reset", &c),
        (1..=9).collect::<Vec<_>>(),
        "a boolean exists with value 0"
    );
    assert_eq!(sel("!tcp.flags.reset", &c), [10]);
    assert_eq!(sel("tcp.payload", &c), [2, 3, 4, 6, 7, 9]);
    assert_eq!(sel("udp", &c), [10]);
    assert_eq!(sel("not tcp and not udp", &c), Vec::<u32>::new());
    assert_eq!(
        sel(
            "frame.number == 1 or frame.number == 2 and frame.number == 3",
            &c
        ),
        [1]
    );
    assert_eq!(
        sel("tcp.payload[1:]", &c),
        [4, 6, 7, 9],
        "a bare slice needs bytes"
    );
}

#[test]
fn rules_found_by_random_differential_testing() {
    let c = corpus();
    let tcp: Vec<u32> = (1..=9).collect();
    let none = Vec::<u32>::new();
    // A negative number next to an unsigned field compares with nothing.
    assert_eq!(sel("tcp.len == -1", &c), none);
    assert_eq!(sel("tcp.len >= -1", &c), none);
    assert_eq!(sel("tcp.len != -1", &c), tcp);
    assert_eq!(sel("tcp.srcport === -1", &c), tcp);
    assert_eq!(sel("tcp.port !== -1", &c), none);
    assert_eq!(sel("all tcp.port > -1", &c), tcp);
    assert_eq!(sel("tcp.port in {-1..7777}", &c), none);
    assert_eq!(
        sel("-tcp.len == -1", &c),
        [2, 3],
        "a negated field is signed"
    );
    // CIDR masks apply to ordering too.
    assert_eq!(sel("ip.addr > 10.0.0.0/24", &c), [10]);
    assert_eq!(sel("ip.src <= 0.0.0.0/0", &c), tcp);
    assert_eq!(sel("ip.src > 0.0.0.0/0", &c), none);
    // Out-of-range slices are empty, not absent.
    assert_eq!(sel("tcp.payload[0:10] == \"\"", &c), [2, 3, 4, 6, 7, 9]);
    assert_eq!(sel("tcp.payload[0,30] == 01", &c), [2, 9]);
    // Protocols order like byte strings; hex-looking protocol names are protocols.
    assert_eq!(sel("frame > 01:02", &c), (1..=9).collect::<Vec<_>>());
    assert_eq!(
        sel("tcp.payload[0] <= ff", &c),
        none,
        "`ff` is Foundation Fieldbus, absent"
    );
    assert_eq!(sel("tcp.payload[0] <= 0xff", &c), [2, 3, 4, 6, 7, 9]);
    assert_eq!(sel("!ff", &c), (1..=10).collect::<Vec<_>>());
}

#[test]
fn time_delta_displayed_matches_nothing_inside_a_filter() {
    let c = corpus();
    assert_eq!(
        sel("frame.time_delta_displayed > 40", &c),
        Vec::<u32>::new()
    );
    assert_eq!(sel("frame.time_delta_displayed > 0", &c), Vec::<u32>::new());
    assert_eq!(
        sel("frame.time_delta_displayed", &c),
        (1..=10).collect::<Vec<_>>()
    );
    assert!(!Filter::compile("frame.time_delta_displayed")
        .unwrap()
        .fields()
        .any(|f| f.name() == "frame"));
}

fn err(expr: &str) -> String {
    match Filter::compile(expr) {
        Ok(_) => panic!("{expr} should be rejected"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn errors_point_at_the_token_and_say_what_to_do() {
    let e = err("tcp.lenn == 1");
    assert!(
        e.contains("unknown field `tcp.lenn` — did you mean `tcp.len`?"),
        "{e}"
    );
    assert!(e.starts_with("tcp.lenn == 1\n^~~~~~~~\n"), "{e}");
    let e = err("tcp.len == \"abc\"");
    assert!(
        e.contains("`tcp.len` is an unsigned integer (32 bits); `\"abc\"` is a string"),
        "{e}"
    );
    assert!(e.contains("\n           ^~~~~\n"), "{e}");
    assert!(err("tcp.flags.reset == true").contains("lowercase `true`"));
    assert!(err("tcp.payload == 01:").contains("`:`"));
    assert!(err("tcp.len == 08").contains("not a valid number"));
    assert!(err("tcp.hdr_len == 276").contains("maximum is 255"));
    assert!(err("tcp.port in {80 443}").contains("commas"));
    assert!(err("tcp.len xor tcp.flags.fin").contains("xor"));
    assert!(err("tcp.analysis.keep_alive == 1").contains("no value"));
    assert!(err("tcp.len contains 1").contains("contains"));
    assert!(err("tcp.payload matches 41").contains("double-quoted"));
    assert!(err("ip.src == \"10.0.0.1\"").contains("without quotes"));
    assert!(err("dns.qry.name").contains("unknown field `dns.qry.name`"));
    assert!(err("dns.qry.name").contains("does not dissect this protocol"));
    assert!(err("lower(tcp.payload) == \"a\"").contains("string fields"));
    assert!(err("tcp.flags.syn == tcp.len").contains("cannot be compared"));
    assert!(err("tcp.srcport[0] == 1").contains("cannot be sliced"));
    assert!(err("1 == tcp.len").contains("left side"));
    assert!(err("(tcp.flags & 4) == 4").contains("unexpected"));
    assert!(err("tcp.payload[1-0]").contains("greater"));
    assert!(err("").contains("empty"));
}

#[test]
fn reports_the_fields_it_reads() {
    let f = Filter::compile("tcp.stream eq 7 and tcp.payload eq 01 or len(tcp) > 20").unwrap();
    let names: Vec<&str> = f.fields().map(|id| id.name()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for n in ["tcp.stream", "tcp.payload", "tcp"] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
}

#[test]
fn filter_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Filter>();
}

/// A small deterministic generator, so failures reproduce without extra dependencies.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
}

#[test]
fn never_panics_on_random_input() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let pieces = [
        "tcp",
        "tcp.len",
        "tcp.payload",
        "frame",
        "ip.addr",
        "eth.src",
        "tcp.port",
        "frame.time",
        "tcp.flags.reset",
        "frame.protocols",
        "==",
        "!=",
        "===",
        "!==",
        "~=",
        "~",
        ">",
        "<=",
        "eq",
        "contains",
        "matches",
        "in",
        "not in",
        "and",
        "or",
        "not",
        "!",
        "&&",
        "||",
        "&",
        "+",
        "-",
        "*",
        "/",
        "%",
        "(",
        ")",
        "{",
        "}",
        "[",
        "]",
        "[1:2]",
        "[-1]",
        "[0-3,5:]",
        ",",
        "..",
        "1",
        "0x1",
        "010",
        "01:02",
        "0102",
        "1.2",
        "10.0.0.0/8",
        "::1",
        "fe80::/10",
        "\"abc\"",
        "\"\\x01\"",
        "r\"\\d\"",
        "'a'",
        "'\\n'",
        "len(",
        "count(",
        "upper(",
        "string(",
        "max(",
        "True",
        ":01",
        "\"(\"",
        "\"[\"",
        "all",
        "any",
        "é",
        "\u{0}",
        "\"",
        "'",
        "\\",
        "#",
        "$",
        "@",
        "^^",
        "9999999999999999999999",
        "-1",
        "..",
    ];
    // KEEPSIGHT_FUZZ_ITERS raises the count for a longer local run (release mode recommended).
    let iters: usize = std::env::var("KEEPSIGHT_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    for _ in 0..iters {
        let n = 1 + rng.next() % 8;
        let mut s = String::new();
        for _ in 0..n {
            let piece: &&str = rng.pick(&pieces[..]);
            s.push_str(piece);
            if rng.next() & 3 != 0 {
                s.push(' ');
            }
        }
        if let Ok(f) = Filter::compile(&s) {
            for p in corpus() {
                let _ = f.matches(&p);
            }
        }
    }
    for _ in 0..iters {
        let len = rng.next() % 24;
        let bytes: Vec<u8> = (0..len)
            .map(|_| *rng.pick(b"tcp.len=!<>&|()[]{}:\"'\\0123456789abcdefx-, ~\xc3\xa9"))
            .collect();
        let s = String::from_utf8_lossy(&bytes);
        if let Ok(f) = Filter::compile(&s) {
            for p in corpus() {
                let _ = f.matches(&p);
            }
        }
    }
    let deep = "(".repeat(10_000) + "tcp" + &")".repeat(10_000);
    assert!(
        Filter::compile(&deep).is_err(),
        "refused, not a stack overflow"
    );
    let deep = "!".repeat(10_000) + "tcp";
    assert!(Filter::compile(&deep).is_err());
    let deep = "-".repeat(10_000) + "tcp.len == 1";
    assert!(Filter::compile(&deep).is_err());
    // Long flat chains are fine (generated filters) and must not recurse per operand.
    let long = vec!["tcp.len == 1"; 50_000].join(" or ");
    assert!(Filter::compile(&long).is_ok());
    let long = "tcp.len".to_string() + &" + 1".repeat(50_000) + " == 2";
    assert!(
        Filter::compile(&long).is_err(),
        "refused, not a stack overflow"
    );
    let long = "tcp.payload".to_string() + &"[0]".repeat(50_000) + " == 01";
    assert!(Filter::compile(&long).is_err());
    let long = "tcp.len == ".to_string() + &"1 + ".repeat(50_000) + "1";
    assert!(Filter::compile(&long).is_err());
}

/// Set identities that hold whatever the packets are: and ⊆ each side, or ⊇ each side,
/// not A partitions the frames with A, De Morgan, double negation.
#[test]
fn logical_identities_hold_on_random_packets() {
    let atoms = [
        "tcp.len == 1",
        "tcp.payload contains \"a\"",
        "tcp.port != 7777",
        "tcp.flags.reset",
        "tcp.payload",
        "tcp.payload matches \"^x\"",
        "ip.addr == 10.0.0.0/30",
        "tcp.srcport > tcp.dstport",
        "len(tcp.payload) > 2",
        "tcp.port in {1..40000}",
        "udp",
        "tcp.payload[0] == 01",
        "all tcp.port > 7000",
        "frame contains 02:00",
    ];
    let mut rng = Rng(42);
    let mut pkts = Vec::new();
    for i in 0..200u32 {
        let len = (rng.next() % 5) as usize;
        let payload: Vec<u8> = (0..len).map(|_| *rng.pick(b"\x01axAbc")).collect();
        let flags = *rng.pick(&[0x02u64, 0x10, 0x18, 0x14, 0x11]);
        let p = if rng.next() & 7 == 0 {
            corpus().pop().unwrap_or_default()
        } else {
            tcp(i, &payload, flags, rng.next() & 1 == 0)
        };
        pkts.push(p);
    }
    let set = |e: &str| -> Vec<bool> {
        let f = Filter::compile(e).unwrap_or_else(|x| panic!("{e}: {x}"));
        pkts.iter().map(|p| f.matches(p)).collect()
    };
    for a in &atoms {
        for b in &atoms {
            let (sa, sb) = (set(a), set(b));
            let and = set(&format!("({a}) and ({b})"));
            let or = set(&format!("({a}) or ({b})"));
            let not_a = set(&format!("not ({a})"));
            let dm = set(&format!("not (not ({a}) or not ({b}))"));
            for i in 0..pkts.len() {
                assert!(!and[i] || (sa[i] && sb[i]), "{a} and {b}");
                assert_eq!(or[i], sa[i] || sb[i], "{a} or {b}");
                assert_ne!(not_a[i], sa[i], "not {a}");
                assert_eq!(dm[i], and[i], "De Morgan {a} {b}");
            }
        }
        assert_eq!(set(&format!("!!({a})")), set(a));
    }
}

#[test]
fn canonical_text_spells_each_operator_one_way_and_compiles_to_itself() {
    for (given, canonical) in [
        (
            "tcp.port eq 80 && !tcp.flags.syn",
            "((tcp.port == 80) and (not (tcp.flags.syn)))",
        ),
        (
            "ip.addr in {10.0.0.1, 10.0.0.2..10.0.0.9}",
            "(ip.addr in {10.0.0.1, 10.0.0.2 .. 10.0.0.9})",
        ),
        (
            "tcp.payload[0:2] == 47:45 || frame.len > 1+2*3",
            "((tcp.payload[0:2] == 47:45) or (frame.len > {1 + {2 * 3}}))",
        ),
        (
            "http.host matches \"a\\\"b\\x01\"",
            "(http.host matches \"a\\\"b\\x01\")",
        ),
        ("all tcp.port != 80", "(all tcp.port != 80)"),
    ] {
        let f = Filter::compile(given).unwrap();
        assert_eq!(f.canonical(), canonical, "{given}");
        let again = Filter::compile(canonical).unwrap();
        assert_eq!(again.canonical(), canonical);
    }
}
