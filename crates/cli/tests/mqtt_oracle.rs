//! Differential tests of the MQTT layer against tshark 4.0.17 on the real capture the
//! mqtt-keepalive scenario recorded (tests/scenarios/mqtt-keepalive: mosquitto brokers on
//! 1883 and 47883-47885; MQTT 3.1.1 and 5 clients with CONNECT/CONNACK, refused CONNACKs,
//! PINGREQ/PINGRESP, QoS 0 and 1 PUBLISH with PUBACK, SUBSCRIBE/SUBACK, MQTT 5 properties, a
//! SUBSCRIBE and a PUBLISH in one segment, a PUBLISH split over two segments, DISCONNECT with a
//! reason code). keepsight must show every `mqtt.*` field it registers, `frame.protocols`, the
//! Protocol and Info columns and the one-line listing byte for byte, on 1883 alone (tshark's
//! default) and with `-d tcp.port==N,mqtt` for the odd ports, and select the same frames for
//! display filters on the new fields.

mod common;
use common::{
    assert_no_differences, line_differences, output_of, packets_output, repo, tshark_available,
};

/// The `-d` rules of a run: none (only port 1883 is MQTT), or the scenario's odd ports too.
const DECODE_AS: [&[&str]; 3] = [
    &[],
    &["-d", "tcp.port==47883-47885,mqtt"],
    &[
        "-d",
        "tcp.port==47883,mqtt",
        "-d",
        "tcp.port==47884-47885,mqtt",
    ],
];

fn args(decode_as: &[&str], more: &[&str]) -> Vec<String> {
    let cap = repo().join("tests/scenarios/mqtt-keepalive/capture.pcapng");
    let mut a = vec!["-r".to_string(), cap.display().to_string()];
    a.extend(decode_as.iter().map(|s| s.to_string()));
    a.extend(more.iter().map(|s| s.to_string()));
    a
}

/// Every `mqtt` field keepsight registers.
fn mqtt_fields() -> Vec<String> {
    let list = packets_output(&["--list-fields".to_string()]);
    let f: Vec<String> = list
        .lines()
        .filter_map(|l| l.split('\t').next())
        .filter(|n| *n == "mqtt" || n.starts_with("mqtt."))
        .map(str::to_string)
        .collect();
    assert!(f.len() > 50, "mqtt fields are registered: {f:?}");
    f
}

#[test]
fn every_mqtt_field_and_column_matches_tshark() {
    if !tshark_available() {
        return;
    }
    let fields = mqtt_fields();
    let mut problems = Vec::new();
    for d in DECODE_AS {
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
            "tcp.len",
            "-e",
            "data.len",
            "-e",
            "_ws.col.Protocol",
            "-e",
            "_ws.col.Info",
        ];
        for f in &fields {
            more.extend(["-e", f.as_str()]);
        }
        let a = args(d, &more);
        let theirs = output_of("tshark", &a);
        // The capture holds what the comparison is about: tshark sees MQTT 5 on the odd ports.
        assert!(theirs.matches("Ping Request").count() >= 5, "{d:?}");
        if !d.is_empty() {
            assert!(theirs.contains("Disconnect Req"), "{d:?}");
            assert!(
                theirs.contains("[TCP segment of a reassembled PDU]"),
                "{d:?}"
            );
        }
        problems.extend(line_differences(&format!("fields {d:?}"), &a));
    }
    assert_no_differences(&problems);
}

#[test]
fn the_one_line_listing_matches_tsharks_with_and_without_a_filter() {
    if !tshark_available() {
        return;
    }
    let mut problems = Vec::new();
    for d in DECODE_AS {
        for filter in [&[][..], &["-Y", "mqtt"], &["-Y", "tcp.len > 0"]] {
            problems.extend(line_differences(
                &format!("{d:?} {filter:?}"),
                &args(d, filter),
            ));
        }
    }
    assert_no_differences(&problems);
}

const FILTERS: &[&str] = &[
    "mqtt",
    "mqtt.msgtype == 12 || mqtt.msgtype == 13",
    "mqtt.kalive == 2",
    "mqtt.kalive > 5",
    "mqtt.ver == 5",
    "mqtt.protoname == \"MQTT\"",
    "mqtt.clientid contains \"quiet\"",
    "mqtt.conflag.cleansess",
    "mqtt.conack.val == 5",
    "mqtt.connack.reason_code == 135",
    "mqtt.connack.reason_code == 0",
    "mqtt.disconnect.reason_code == 4",
    "mqtt.disconnect.reason_code",
    "mqtt.msgtype == 14 && !mqtt.disconnect.reason_code",
    "mqtt.topic == \"plant/1/temp\"",
    "mqtt.topic contains \"state\"",
    "mqtt.msgid == 2",
    "mqtt.qos == 1",
    "mqtt.len > 100",
    "mqtt.hdrflags == 0x82",
    "mqtt.property_id == 0x11",
    "mqtt.prop_number == 60",
    "mqtt.property.content_type == \"text/plain\"",
    "mqtt.properties && mqtt.msgtype == 3",
    "mqtt.suback.qos == 1",
    "mqtt.sub.qos == 1",
    "mqtt.subscription_options == 0",
    "mqtt.clientid == \"stalled-broker-client\" || tcp.srcport == 47885",
    "tcp.len > 0 && !mqtt",
];

#[test]
fn display_filters_select_the_frames_tshark_selects() {
    if !tshark_available() {
        return;
    }
    let mut problems = Vec::new();
    for filter in FILTERS {
        let a = args(
            DECODE_AS[1],
            &["-Y", filter, "-T", "fields", "-e", "frame.number"],
        );
        let (theirs, ours) = (output_of("tshark", &a), packets_output(&a));
        if theirs != ours {
            problems.push(format!(
                "-Y {filter:?}: tshark frames {:?}, keepsight {:?}",
                theirs.split_whitespace().collect::<Vec<_>>(),
                ours.split_whitespace().collect::<Vec<_>>()
            ));
        }
    }
    assert_no_differences(&problems);
}
