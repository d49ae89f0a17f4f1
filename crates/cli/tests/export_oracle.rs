//! `keepsight packets -T psml`, `-T pdml` and `-T ek` against tshark 4.0.17's own on every
//! capture of the committed corpus (`tests/corpus/MANIFEST.tsv`), with and without `-Y` and
//! `-c`.
//!
//! PDML and EK: keepsight writes the protocols whose tree it records in full (frame, eth, vlan,
//! ieee8021ad, sll, null, raw, ip, ipv6, tcp, udp, data so far; see `Layer::EXPORTED`), each of which must be byte for byte tshark's element (PDML)
//! or member (EK), in tshark's order; and every such protocol tshark writes, keepsight writes,
//! with these documented exceptions, which the test checks are exactly that and nothing else:
//! - `frame.protocols` where tshark dissects a protocol keepsight does not (HTTP on its ports,
//!   ICMP, ARP, JXTA's heuristic), or holds a segment for its HTTP reassembly (no `data`
//!   there): that one field differs, the rest of `frame` must not;
//! - the IPv4 layer of a frame that completes a fragmented datagram: its fragment list points
//!   into the reassembled datagram, which keepsight's recorded tree does not carry yet, so the
//!   layer is left out of that frame rather than written in part;
//! - the frame of a pcapng custom block (tshark names the block's enterprise, which keepsight
//!   does not carry; `-V` leaves it out too);
//! - TCP, UDP and Data carried in IP fragments (the same second data source), and UDP over IPv6 with an
//!   illegal zero checksum (its expert item is not recorded field by field yet);
//! - Data where tshark hands the payload to a dissector keepsight lacks (JXTA's heuristic on
//!   11 bulk-loss-rx frames): keepsight writes a Data layer tshark has not;
//! - a second `ip` (or `udp`) inside an ICMP error (tshark dissects the quoted datagram;
//!   keepsight does not dissect ICMP);
//! - the IPv6 layer of a packet with extension headers (hop-by-hop, destination options,
//!   fragment), which keepsight's recorded tree does not carry field by field yet;
//! - EK's `tcp` member where tshark nests in it a protocol keepsight does not write (HTTP on its
//!   ports, `_ws_short` after a cut payload): keepsight's member must be tshark's without that
//!   last object.
//!
//! PDML's header carries the time of the run, which is left out of the comparison.
//!
//! PSML: the header (the column structure) must be byte for byte tshark's, and keepsight must print a
//! `<packet>` for every packet tshark prints. Each packet tshark's Protocol column names TCP is
//! compared whole; the others carry a protocol keepsight does not dissect (ARP, ICMP, ICMPv6,
//! HTTP, TLS without keys...), whose Protocol and Info columns keepsight leaves to tshark. Two
//! documented differences are allowed, each only in the section it concerns:
//! - segments tshark marks `[TCP segment of a reassembled PDU]` of HTTP/1 messages on its HTTP
//!   ports (synth captures), which keepsight's listing does not reassemble (TLS and HTTP/2
//!   segments keepsight marks itself, and those are compared);
//! - `[Packet size limited during capture]`, which tshark's heuristic sub-dissectors append to
//!   the Info of a snap-length-cut payload (the same rule as the summary-line oracle).

mod common;
use common::{assert_no_differences, corpus, repo, run_parallel, tshark_available};
use std::path::Path;
use std::process::Command;

const SNAP_SUFFIX: &str = "[Packet size limited during capture]";

fn output(program: &str, args: &[&str], file: &Path) -> String {
    let mut c = Command::new(program);
    c.env("TZ", "UTC").args(args).arg("-r").arg(file);
    let out = c.output().expect("command runs");
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The sections of one `<packet>` element.
fn sections(packet: &str) -> Vec<&str> {
    packet
        .split("<section>")
        .skip(1)
        .map(|s| s.split("</section>").next().unwrap_or(""))
        .collect()
}

/// The element without its sections' text: the markup around them must be the same.
fn skeleton(packet: &str) -> String {
    packet
        .split("<section>")
        .map(|s| s.split_once("</section>").map_or(s, |(_, rest)| rest))
        .collect::<Vec<_>>()
        .join("<section></section>")
}

/// Where keepsight's PSML differs from tshark's on `file` with `opts`.
fn psml_differences(file: &Path, opts: &[&str]) -> Vec<String> {
    let keepsight = env!("CARGO_BIN_EXE_keepsight");
    let mut ks_args = vec!["packets", "-T", "psml"];
    ks_args.extend_from_slice(opts);
    let mut ts_args = vec!["-T", "psml"];
    ts_args.extend_from_slice(opts);
    let theirs = output("tshark", &ts_args, file);
    let ours = output(keepsight, &ks_args, file);
    let name = file.strip_prefix(repo()).unwrap_or(file).display();
    let (t, o): (Vec<&str>, Vec<&str>) = (
        theirs.split("<packet>").collect(),
        ours.split("<packet>").collect(),
    );
    if t[0] != o[0] {
        return vec![format!("{name} {opts:?}: header\n{}\n{}", t[0], o[0])];
    }
    if t.len() != o.len() {
        return vec![format!(
            "{name} {opts:?}: tshark prints {} packets, keepsight {}",
            t.len() - 1,
            o.len() - 1
        )];
    }
    if theirs.ends_with("</psml>\n") != ours.ends_with("</psml>\n") {
        return vec![format!("{name} {opts:?}: trailer")];
    }
    let mut problems = Vec::new();
    for (tp, op) in t.iter().zip(&o).skip(1) {
        let (ts, os) = (sections(tp), sections(op));
        if ts.get(4) != Some(&"TCP") {
            continue;
        }
        let pdu = "[TCP segment of a reassembled PDU]";
        if ts.get(6).is_some_and(|i| i.ends_with(pdu))
            && !os.get(6).is_some_and(|i| i.ends_with(pdu))
        {
            // A segment of an HTTP/1 message tshark reassembles on its HTTP ports: keepsight's
            // listing does not reassemble HTTP, as the summary-line oracle documents.
            continue;
        }
        if ts.len() != os.len() {
            problems.push(format!("{name} {opts:?}:\n{tp}\n{op}"));
            continue;
        }
        let differs = ts.iter().zip(&os).enumerate().any(|(i, (a, b))| match i {
            6 => a.strip_suffix(SNAP_SUFFIX).unwrap_or(a) != *b,
            _ => a != b,
        });
        if differs || skeleton(tp) != skeleton(op) {
            problems.push(format!("{name} {opts:?}:\n{tp}\n{op}"));
        }
    }
    problems
}

#[test]
fn psml_matches_tshark_on_every_capture() {
    if !tshark_available() {
        return;
    }
    let files = corpus();
    let problems = run_parallel(&files, |f| psml_differences(f, &[]));
    assert_no_differences(&problems);
}

#[test]
fn psml_with_a_filter_and_a_count_matches_tshark() {
    if !tshark_available() {
        return;
    }
    let dir = repo().join("tests/corpus");
    let mut problems = Vec::new();
    problems.extend(psml_differences(
        &dir.join("heartbeat.pcap"),
        &["-Y", "tcp.len eq 1", "-t", "dd"],
    ));
    problems.extend(psml_differences(
        &dir.join("bulk-loss-tx.pcapng"),
        &["-Y", "tcp.analysis.flags", "-c", "400", "-t", "ud"],
    ));
    problems.extend(psml_differences(
        &dir.join("keepalive.pcapng"),
        &["-c", "7"],
    ));
    assert_no_differences(&problems);
}

/// The protocols keepsight writes in PDML and EK.
const EXPORTED: [&str; 12] = [
    "frame",
    "eth",
    "vlan",
    "ieee8021ad",
    "sll",
    "null",
    "raw",
    "ip",
    "ipv6",
    "tcp",
    "udp",
    "data",
];

fn run(program: &str, args: &[&str]) -> String {
    let mut c = Command::new(program);
    c.env("TZ", "UTC").args(args);
    let out = c.output().expect("command runs");
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Both programs' output for `-T format` on `file` with `opts`.
fn both(format: &str, file: &Path, opts: &[&str]) -> (String, String) {
    let file = file.to_str().expect("UTF-8 path");
    let mut args = vec!["-r", file, "-T", format];
    args.extend_from_slice(opts);
    let theirs = run("tshark", &args);
    let mut ks = vec!["packets"];
    ks.extend_from_slice(&args);
    let ours = run(env!("CARGO_BIN_EXE_keepsight"), &ks);
    (theirs, ours)
}

/// `frame.protocols`'s value in a PDML frame element or an EK frame member.
fn protocols(text: &str) -> Option<&str> {
    let (_, rest) = text
        .split_once("name=\"frame.protocols\"")
        .or_else(|| text.split_once("\"frame_frame_protocols\":"))?;
    let rest = rest.split_once("show=\"").map_or(rest, |(_, r)| r);
    let rest = rest.trim_start_matches('"');
    rest.split('"').next()
}

/// The protocols keepsight dissects in `frame.protocols`; a frame naming another is beyond it.
const DISSECTED: [&str; 11] = [
    "eth",
    "ethertype",
    "vlan",
    "sll",
    "null",
    "raw",
    "ip",
    "ipv6",
    "tcp",
    "udp",
    "data",
];

/// Compares keepsight's protocol `ours` with tshark's `theirs` (a PDML element or an EK
/// member): identical, or (frame only) differing in `frame.protocols` alone where tshark
/// names a protocol keepsight does not dissect.
fn same_layer(name: &str, theirs: &str, ours: &str) -> bool {
    if theirs == ours {
        return true;
    }
    if name == "tcp" {
        return tcp_with_a_nested_protocol(theirs, ours);
    }
    if name != "frame" {
        return false;
    }
    let (Some(tp), Some(op)) = (protocols(theirs), protocols(ours)) else {
        return false;
    };
    // A segment tshark holds for its HTTP reassembly (HTTP ports) has no data layer there.
    if op == format!("{tp}:data") && theirs.replace(tp, "") == ours.replace(op, "") {
        return true;
    }
    let beyond = tp
        .split(':')
        .any(|p| !DISSECTED.contains(&p) && !p.starts_with("ipv6."));
    beyond && theirs.replace(tp, "") == ours.replace(op, "")
}

/// tshark's EK nests the protocol it hands a TCP payload to inside the `tcp` member when that
/// protocol keepsight does not write (HTTP on its ports, `_ws_short` after a payload cut by the
/// snap length): the member is keepsight's with that one object added at its end.
fn tcp_with_a_nested_protocol(theirs: &str, ours: &str) -> bool {
    let Some(head) = ours.strip_suffix('}') else {
        return false;
    };
    let Some(rest) = theirs
        .strip_prefix(head)
        .and_then(|r| r.strip_prefix(",\""))
    else {
        return false;
    };
    let Some((key, value)) = rest.split_once("\":") else {
        return false;
    };
    !EXPORTED.contains(&key) && !key.starts_with("tcp_") && value.starts_with('{')
}

/// Whether tshark's packet names a protocol above TCP/UDP that keepsight does not dissect.
fn beyond_keepsight(theirs_packet: &str) -> bool {
    protocols(theirs_packet).is_some_and(|p| {
        p.split(':')
            .any(|p| !DISSECTED.contains(&p) && !p.starts_with("ipv6."))
    })
}

/// Whether tshark's layer `name` in a packet is one of the documented exceptions keepsight
/// leaves out.
fn left_out_on_purpose(name: &str, theirs_packet: &str, nth: usize) -> bool {
    let reassembled = [
        "\"ip.fragments\"",
        "\"ip_ip_fragments\"",
        "\"ipv6.fragments\"",
        "\"ipv6_ipv6_fragments\"",
    ];
    if (name == "tcp" || name == "udp" || name == "data")
        && reassembled.iter().any(|r| theirs_packet.contains(r))
    {
        return true;
    }
    // IPv6 extension headers are not recorded field by field yet: the layer is left out.
    let extensions = [
        "\"ipv6.hopopts\"",
        "\"ipv6.dstopts\"",
        "\"ipv6.fraghdr\"",
        "\"ipv6_hopopts\"",
        "\"ipv6_dstopts\"",
        "\"ipv6_fraghdr\"",
    ];
    if name == "ipv6" && extensions.iter().any(|e| theirs_packet.contains(e)) {
        return true;
    }
    if name == "udp"
        && (theirs_packet.contains("zero-value illegal")
            || theirs_packet.contains("udp_udp_checksum_zero"))
    {
        return true;
    }
    // A pcapng custom block: tshark titles it by its enterprise, which keepsight does not
    // carry, so keepsight writes no frame for it (as -V prints none).
    if name == "frame"
        && (theirs_packet.contains("PCAPNG Custom Block")
            || theirs_packet.contains("\"frame_frame_cb_pen\""))
    {
        return true;
    }
    name == "ip"
        && (nth > 0
            || theirs_packet.contains("\"ip.fragments\"")
            || theirs_packet.contains("\"ip_ip_fragments\""))
}

/// The top-level `<proto>` elements of a PDML packet, by name.
fn pdml_layers(packet: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for chunk in packet.split("\n  <proto name=\"").skip(1) {
        let mut name = chunk.split('"').next().unwrap_or("").to_string();
        // tshark wraps the Data layer's field in a pseudo-protocol of this name.
        if name == "fake-field-wrapper" && chunk.contains("\n    <field name=\"data\" ") {
            name = "data".to_string();
        }
        // An empty protocol is one `<proto .../>` line; the others end at their `</proto>`.
        let first_line = chunk.find('\n').unwrap_or(chunk.len());
        let end = if chunk[..first_line].ends_with("/>") {
            first_line
        } else {
            chunk
                .find("\n  </proto>")
                .map_or(chunk.len(), |e| e + "\n  </proto>".len())
        };
        out.push((name, chunk[..end].to_string()));
    }
    out
}

/// The members of EK's `layers` object, by name, as raw text (duplicates kept).
fn ek_layers(document: &str) -> Vec<(String, String)> {
    let Some(start) = document.find("\"layers\":{") else {
        return Vec::new();
    };
    let body = &document[start + "\"layers\":{".len()..];
    let mut out = Vec::new();
    let (mut depth, mut in_string, mut escaped, mut member_start) = (0i32, false, false, 0usize);
    for (i, c) in body.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' if depth == 0 => {
                out.push(body[member_start..i].to_string());
                break;
            }
            '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(body[member_start..i].to_string());
                member_start = i + 1;
            }
            _ => {}
        }
    }
    out.into_iter()
        .filter(|m| !m.is_empty())
        .map(|m| (m.split('"').nth(1).unwrap_or("").to_string(), m))
        .collect()
}

/// Compares one packet's exported layers.
fn compare_layers(
    what: &str,
    theirs: &[(String, String)],
    ours: &[(String, String)],
    theirs_packet: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    let mut ours_iter = ours.iter().peekable();
    for (name, layer) in theirs {
        if !EXPORTED.contains(&name.as_str()) {
            continue;
        }
        let nth = *seen.entry(name).and_modify(|n| *n += 1).or_insert(0);
        match ours_iter.peek() {
            Some((o, text)) if o == name => {
                if !same_layer(name, layer, text) {
                    problems.push(format!(
                        "{what}: {name} differs\n  tshark:    {layer}\n  keepsight: {text}"
                    ));
                }
                ours_iter.next();
            }
            _ if left_out_on_purpose(name, theirs_packet, nth) => {}
            _ => problems.push(format!("{what}: keepsight has no {name}")),
        }
    }
    for (name, _) in ours_iter {
        // Payload tshark hands to a dissector keepsight lacks (JXTA's heuristic on
        // bulk-loss-rx) is Data to keepsight, as its -V shows.
        if name == "data" && beyond_keepsight(theirs_packet) {
            continue;
        }
        problems.push(format!("{what}: keepsight writes {name}, tshark does not"));
    }
    problems
}

/// Where keepsight's PDML differs from tshark's on `file` with `opts`.
fn pdml_differences(file: &Path, opts: &[&str]) -> Vec<String> {
    let (theirs, ours) = both("pdml", file, opts);
    let name = file
        .strip_prefix(repo())
        .unwrap_or(file)
        .display()
        .to_string();
    let untimed = |s: &str| -> String {
        let (head, rest) = s.split_once(" time=\"").unwrap_or((s, ""));
        let rest = rest.split_once('"').map_or(rest, |(_, r)| r);
        format!("{head}{rest}")
    };
    let (theirs, ours) = (untimed(&theirs), untimed(&ours));
    let (t, o): (Vec<&str>, Vec<&str>) = (
        theirs.split("<packet>").collect(),
        ours.split("<packet>").collect(),
    );
    if t[0] != o[0] {
        return vec![format!("{name} {opts:?}: header\n{}\n{}", t[0], o[0])];
    }
    if t.len() != o.len() {
        return vec![format!(
            "{name} {opts:?}: tshark prints {} packets, keepsight {}",
            t.len() - 1,
            o.len() - 1
        )];
    }
    if !ours.ends_with("</packet>\n\n\n</pdml>\n") && o.len() > 1 {
        return vec![format!("{name} {opts:?}: trailer")];
    }
    let mut problems = Vec::new();
    for (i, (tp, op)) in t.iter().zip(&o).enumerate().skip(1) {
        // tshark's geninfo pseudo-protocol is always written; compare it whole.
        let (tl, ol) = (pdml_layers(tp), pdml_layers(op));
        if tl.first() != ol.first() {
            problems.push(format!("{name} {opts:?} packet {i}: geninfo differs"));
        }
        problems.extend(compare_layers(
            &format!("{name} {opts:?} packet {i}"),
            &tl[1..],
            &ol[1..],
            tp,
        ));
    }
    problems
}

/// Where keepsight's EK differs from tshark's on `file` with `opts`.
fn ek_differences(file: &Path, opts: &[&str]) -> Vec<String> {
    let (theirs, ours) = both("ek", file, opts);
    let name = file
        .strip_prefix(repo())
        .unwrap_or(file)
        .display()
        .to_string();
    let (t, o): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), ours.lines().collect());
    if t.len() != o.len() {
        return vec![format!(
            "{name} {opts:?}: tshark prints {} lines, keepsight {}",
            t.len(),
            o.len()
        )];
    }
    let mut problems = Vec::new();
    for (i, (tl, ol)) in t.iter().zip(&o).enumerate() {
        let what = format!("{name} {opts:?} line {}", i + 1);
        if i % 2 == 0 {
            if tl != ol {
                problems.push(format!("{what}: index line\n  {tl}\n  {ol}"));
            }
            continue;
        }
        let prefix = |s: &str| s.split("\"layers\"").next().unwrap_or("").to_string();
        if prefix(tl) != prefix(ol) {
            problems.push(format!("{what}: timestamp\n  {tl}\n  {ol}"));
        }
        problems.extend(compare_layers(&what, &ek_layers(tl), &ek_layers(ol), tl));
    }
    problems
}

#[test]
fn pdml_matches_tshark_on_every_capture() {
    if !tshark_available() {
        return;
    }
    let problems = run_parallel(&corpus(), |f| pdml_differences(f, &[]));
    assert_no_differences(&problems);
}

#[test]
fn ek_matches_tshark_on_every_capture() {
    if !tshark_available() {
        return;
    }
    let problems = run_parallel(&corpus(), |f| ek_differences(f, &[]));
    assert_no_differences(&problems);
}

#[test]
fn pdml_and_ek_with_a_filter_and_a_count_match_tshark() {
    if !tshark_available() {
        return;
    }
    let dir = repo().join("tests/corpus");
    let mut problems = Vec::new();
    for (file, opts) in [
        ("heartbeat.pcap", &["-Y", "tcp.len eq 1"][..]),
        (
            "bulk-loss-tx.pcapng",
            &["-Y", "tcp.analysis.flags", "-c", "300"][..],
        ),
        ("keepalive.pcapng", &["-c", "7"][..]),
        (
            "crafted/frag/tcp-fragments.pcap",
            &["-Y", "ip.flags.mf == 1 or ip.frag_offset > 0"][..],
        ),
    ] {
        problems.extend(pdml_differences(&dir.join(file), opts));
        problems.extend(ek_differences(&dir.join(file), opts));
    }
    assert_no_differences(&problems);
}
