//! Differential tests of the FIX, SMPP and AMQP 0-9-1 layers against tshark 4.0.17, on the real
//! captures the heartbeat scenarios recorded: tests/scenarios/fix-heartbeat (two FIX 4.4
//! sessions: Logon, orders and executions, Heartbeats, TestRequest, ResendRequest,
//! SequenceReset, Logout with text), smpp-enquire-link (bind_transceiver, enquire_link and
//! unbind with their responses) and amqp-heartbeat (Connection.Start to Close, Tune with a 2 s
//! heartbeat, heartbeat frames) and redis-ping (PING/PONG, QUIT, CLIENT PAUSE). tshark finds
//! FIX and SMPP by its heuristics, AMQP and RESP with `-d tcp.port==N,amqp|resp`; keepsight must show every `fix.*`, `smpp.*` and `amqp.*` field it
//! registers, `frame.protocols`, `data` and the Protocol and Info columns byte for byte, the
//! one-line listing with and without a display filter (FIX's Info needs tshark's tree), and
//! the same frames for display filters on the new fields.

mod common;
use common::{
    assert_no_differences, line_differences, output_of, packets_output, repo, tshark_available,
};
use std::process::Command;

/// A capture, the protocol it carries and the `-d` rules tshark needs for it (none when its
/// heuristic finds the protocol by itself).
struct Case {
    capture: &'static str,
    protocol: &'static str,
    decode_as: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        capture: "fix-heartbeat",
        protocol: "fix",
        decode_as: &[],
    },
    Case {
        capture: "smpp-enquire-link",
        protocol: "smpp",
        decode_as: &[],
    },
    Case {
        capture: "amqp-heartbeat",
        protocol: "amqp",
        decode_as: &["-d", "tcp.port==47533,amqp"],
    },
    Case {
        capture: "redis-ping",
        protocol: "resp",
        decode_as: &["-d", "tcp.port==47532,resp"],
    },
    // Decode-as on a port the heuristic would find anyway gives the same dissection.
    Case {
        capture: "fix-heartbeat",
        protocol: "fix",
        decode_as: &["-d", "tcp.port==47531,fix"],
    },
    Case {
        capture: "smpp-enquire-link",
        protocol: "smpp",
        decode_as: &["-d", "tcp.port==47534,smpp"],
    },
];

fn args_of(case: &Case, more: &[&str]) -> Vec<String> {
    let cap = repo()
        .join("tests/scenarios")
        .join(case.capture)
        .join("capture.pcapng");
    let mut a = vec!["-r".to_string(), cap.display().to_string()];
    a.extend(case.decode_as.iter().map(|s| s.to_string()));
    a.extend(more.iter().map(|s| s.to_string()));
    a
}

/// Every field keepsight registers for `protocol` (and the protocol itself).
fn fields_of(protocol: &str) -> Vec<String> {
    let list = packets_output(&["--list-fields".to_string()]);
    let prefix = format!("{protocol}.");
    let f: Vec<String> = list
        .lines()
        .filter_map(|l| l.split('\t').next())
        .filter(|n| *n == protocol || n.starts_with(&prefix))
        .map(str::to_string)
        .collect();
    assert!(f.len() > 8, "{protocol} fields are registered: {f:?}");
    f
}

#[test]
fn every_field_and_column_matches_tshark() {
    if !tshark_available() {
        return;
    }
    let mut problems = Vec::new();
    for case in CASES {
        let mut more = vec![
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=|",
            "-e",
            "frame.number",
            "-e",
            "frame.protocols",
            "-e",
            "data.len",
            "-e",
            "_ws.col.Protocol",
            "-e",
            "_ws.col.Info",
        ];
        let fields = fields_of(case.protocol);
        for f in &fields {
            more.extend(["-e", f.as_str()]);
        }
        let args = args_of(case, &more);
        let theirs = output_of("tshark", &args);
        let upper = case.protocol.to_ascii_uppercase();
        assert!(
            theirs.matches(&upper).count() >= 10,
            "{}: tshark decodes {upper} in it",
            case.capture
        );
        problems.extend(line_differences(case.capture, &args));
    }
    assert_no_differences(&problems);
}

#[test]
fn the_one_line_listing_matches_tsharks_with_and_without_a_filter() {
    if !tshark_available() {
        return;
    }
    let mut problems = Vec::new();
    for case in CASES {
        problems.extend(line_differences(case.capture, &args_of(case, &[])));
        // tshark builds the tree under a display filter, and FIX names its messages only then.
        let filtered = args_of(case, &["-Y", case.protocol]);
        problems.extend(line_differences(case.capture, &filtered));
        let tcp = args_of(case, &["-Y", "tcp"]);
        problems.extend(line_differences(case.capture, &tcp));
    }
    // Without -d the AMQP stream is plain TCP with data, as tshark shows it.
    let plain = Case {
        capture: "amqp-heartbeat",
        protocol: "amqp",
        decode_as: &[],
    };
    problems.extend(line_differences("amqp without -d", &args_of(&plain, &[])));
    assert_no_differences(&problems);
}

/// Display filters on the new fields, each with the capture whose protocol it reads.
const FILTERS: &[(&str, &str)] = &[
    ("fix-heartbeat", "fix"),
    ("fix-heartbeat", "fix.MsgType == \"0\""),
    (
        "fix-heartbeat",
        "fix.MsgType == \"1\" || fix.MsgType == \"5\"",
    ),
    ("fix-heartbeat", "fix.TestReqID"),
    ("fix-heartbeat", "fix.HeartBtInt == \"2\""),
    ("fix-heartbeat", "fix.Text contains \"heartbeat\""),
    (
        "fix-heartbeat",
        "fix.SenderCompID == \"KSSERVER\" && fix.MsgType == \"0\"",
    ),
    ("fix-heartbeat", "fix.PossDupFlag == \"Y\""),
    ("fix-heartbeat", "fix.checksum_good == 1"),
    ("fix-heartbeat", "fix.checksum_bad == 1"),
    ("fix-heartbeat", "!fix && tcp.len > 0"),
    ("smpp-enquire-link", "smpp"),
    ("smpp-enquire-link", "smpp.command_id == 0x00000015"),
    ("smpp-enquire-link", "smpp.command_id == 0x80000015"),
    ("smpp-enquire-link", "smpp.command_status == 0"),
    ("smpp-enquire-link", "smpp.command_id == \"Enquire_link\""),
    ("smpp-enquire-link", "smpp.command_id == \"Unbind - resp\""),
    ("smpp-enquire-link", "smpp.sequence_number > 3"),
    ("smpp-enquire-link", "smpp.system_id == \"esme1\""),
    ("smpp-enquire-link", "smpp.password"),
    (
        "smpp-enquire-link",
        "!smpp.system_type && smpp.command_id == 0x00000009",
    ),
    ("smpp-enquire-link", "smpp.interface_version == 0x34"),
    ("amqp-heartbeat", "amqp"),
    ("amqp-heartbeat", "amqp.type == 8"),
    (
        "amqp-heartbeat",
        "amqp.method.class == \"Connection\" && amqp.method.method == 50",
    ),
    (
        "amqp-heartbeat",
        "amqp.method.class == 10 && amqp.method.method == 30",
    ),
    ("amqp-heartbeat", "amqp.method.arguments.heartbeat == 2"),
    ("amqp-heartbeat", "amqp.method.arguments.reply_code == 200"),
    (
        "amqp-heartbeat",
        "amqp.method.arguments.virtual_host == \"/\"",
    ),
    ("amqp-heartbeat", "amqp.method.arguments.capabilities"),
    ("amqp-heartbeat", "amqp.method.arguments"),
    ("amqp-heartbeat", "!amqp && tcp.len > 0"),
    ("redis-ping", "resp"),
    ("redis-ping", "resp.string == \"PONG\""),
    ("redis-ping", "resp.bulk_string.value == \"PING\""),
    ("redis-ping", "resp.array.length > 1"),
    ("redis-ping", "resp.bulk_string.length == 5"),
    ("redis-ping", "!resp && tcp.len > 0"),
];

#[test]
fn display_filters_select_the_frames_tshark_selects() {
    if !tshark_available() {
        return;
    }
    let mut problems = Vec::new();
    for (capture, filter) in FILTERS {
        let case = CASES
            .iter()
            .find(|c| c.capture == *capture)
            .expect("a case");
        let args = args_of(case, &["-Y", filter, "-T", "fields", "-e", "frame.number"]);
        let (theirs, ours) = (output_of("tshark", &args), packets_output(&args));
        if theirs != ours {
            problems.push(format!(
                "{capture}: {filter}: tshark {theirs:?}, keepsight {ours:?}"
            ));
        }
        if theirs.is_empty() && !filter.contains("bad") && !filter.starts_with('!') {
            problems.push(format!("{capture}: {filter} selects no frame"));
        }
    }
    assert_no_differences(&problems);
}

#[test]
fn an_unknown_decode_as_name_is_refused_with_the_known_ones() {
    let cap = repo().join("tests/scenarios/fix-heartbeat/capture.pcapng");
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .args(["packets", "-r"])
        .arg(&cap)
        .args(["-d", "tcp.port==47531,fixx"])
        .output()
        .expect("keepsight runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for name in ["fixx", "http2", "fix", "smpp", "amqp", "resp"] {
        assert!(err.contains(name), "{name} in {err}");
    }
}
