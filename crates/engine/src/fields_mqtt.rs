//! `mqtt.*` field values of a frame's MQTT layer ([`crate::mqtt`]), one occurrence per packet
//! (and per topic, property or reason code within it), in tshark 4.0.17's tree order.

use crate::mqtt::MqttPacket;
use crate::Frame;
use keepsight_apps::mqtt::{self, connect_flag, kind, prop, PropValue, Reader, V5};
use keepsight_fields::ids::*;
use keepsight_fields::{FieldId, Value};

/// The summary tshark's `-T fields` prints for the protocol field: its name and the packet
/// type.
fn summary(ty: u8) -> &'static str {
    match ty {
        kind::CONNECT => "MQ Telemetry Transport Protocol, Connect Command",
        kind::CONNACK => "MQ Telemetry Transport Protocol, Connect Ack",
        kind::PUBLISH => "MQ Telemetry Transport Protocol, Publish Message",
        kind::PUBACK => "MQ Telemetry Transport Protocol, Publish Ack",
        kind::PUBREC => "MQ Telemetry Transport Protocol, Publish Received",
        kind::PUBREL => "MQ Telemetry Transport Protocol, Publish Release",
        kind::PUBCOMP => "MQ Telemetry Transport Protocol, Publish Complete",
        kind::SUBSCRIBE => "MQ Telemetry Transport Protocol, Subscribe Request",
        kind::SUBACK => "MQ Telemetry Transport Protocol, Subscribe Ack",
        kind::UNSUBSCRIBE => "MQ Telemetry Transport Protocol, Unsubscribe Request",
        kind::UNSUBACK => "MQ Telemetry Transport Protocol, Unsubscribe Ack",
        kind::PINGREQ => "MQ Telemetry Transport Protocol, Ping Request",
        kind::PINGRESP => "MQ Telemetry Transport Protocol, Ping Response",
        kind::DISCONNECT => "MQ Telemetry Transport Protocol, Disconnect Req",
        kind::AUTH => "MQ Telemetry Transport Protocol, Authentication Exchange",
        _ => "MQ Telemetry Transport Protocol, Unknown",
    }
}

impl Frame<'_> {
    /// The values of an `mqtt.*` field.
    pub(crate) fn visit_mqtt(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
        let Some(layer) = &self.mqtt else {
            return;
        };
        for p in layer.packets() {
            visit_packet(p, field, sink);
        }
    }

    /// True when a PUBLISH here declares a `text/plain` content type: tshark hands its
    /// message to the line-based text dissector.
    pub(crate) fn mqtt_has_text(&self) -> bool {
        self.mqtt.is_some_and(|l| {
            l.packets()
                .any(|p| crate::mqtt::publish_content_type(p) == Some(b"text/plain"))
        })
    }
}

fn str_value(v: &[u8], sink: &mut dyn FnMut(Value<'_>)) {
    if let Ok(s) = std::str::from_utf8(v) {
        sink(Value::Str(s));
    }
}

/// A string with its two-byte length field.
fn len_and_str(
    field: FieldId,
    len_id: FieldId,
    str_id: FieldId,
    v: Option<&[u8]>,
    sink: &mut dyn FnMut(Value<'_>),
) {
    let Some(v) = v else {
        return;
    };
    if field == len_id {
        sink(Value::UInt(v.len() as u64));
    } else if field == str_id {
        str_value(v, sink);
    }
}

/// The fields of a properties block.
fn visit_properties(props: &[u8], field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
    match field {
        MQTT_PROPERTIES => return sink(Value::Present),
        MQTT_PROPERTY_LEN => return sink(Value::UInt(props.len() as u64)),
        _ => {}
    }
    for (id, v) in mqtt::properties(props) {
        match (field, v) {
            (MQTT_PROPERTY_ID, _) => sink(Value::UInt(id.into())),
            (MQTT_PROPERTY_CONTENT_TYPE, PropValue::Str(s)) if id == prop::CONTENT_TYPE => {
                str_value(s, sink)
            }
            (MQTT_PROPERTY_MAX_QOS, PropValue::Number(n)) if id == prop::MAX_QOS => {
                sink(Value::UInt(n))
            }
            (MQTT_PROPERTY_TOPIC_ALIAS, PropValue::Number(n)) if id == prop::TOPIC_ALIAS => {
                sink(Value::UInt(n))
            }
            (MQTT_PROP_NUMBER, PropValue::Number(n))
                if id != prop::MAX_QOS && id != prop::TOPIC_ALIAS =>
            {
                sink(Value::UInt(n))
            }
            (MQTT_PROP_STRING_LEN, PropValue::Str(s)) if id != prop::CONTENT_TYPE => {
                sink(Value::UInt(s.len() as u64))
            }
            (MQTT_PROP_STRING, PropValue::Str(s)) if id != prop::CONTENT_TYPE => str_value(s, sink),
            (MQTT_PROP_KEY_LEN, PropValue::Pair(k, _)) => sink(Value::UInt(k.len() as u64)),
            (MQTT_PROP_KEY, PropValue::Pair(k, _)) => str_value(k, sink),
            (MQTT_PROP_VALUE_LEN, PropValue::Pair(_, v)) => sink(Value::UInt(v.len() as u64)),
            (MQTT_PROP_VALUE, PropValue::Pair(_, v)) => str_value(v, sink),
            _ => {}
        }
    }
}

fn visit_packet(p: MqttPacket<'_>, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
    let Some(pk) = p.packet() else {
        return;
    };
    let ty = pk.kind();
    let v5 = p.version == V5;
    match field {
        MQTT => return sink(Value::Str(summary(ty))),
        MQTT_HDRFLAGS => return sink(Value::UInt(pk.first.into())),
        MQTT_MSGTYPE => return sink(Value::UInt(ty.into())),
        MQTT_HDR_RESERVED if ty != kind::PUBLISH => return sink(Value::UInt(pk.flags().into())),
        MQTT_DUPFLAG if ty == kind::PUBLISH => return sink(Value::Bool(pk.first & 8 != 0)),
        MQTT_QOS if ty == kind::PUBLISH => return sink(Value::UInt(pk.qos().into())),
        MQTT_RETAIN if ty == kind::PUBLISH => return sink(Value::Bool(pk.first & 1 != 0)),
        MQTT_LEN => return sink(Value::UInt(pk.remaining)),
        _ => {}
    }
    let mut r = Reader { rest: pk.body };
    match ty {
        kind::CONNECT => {
            let Some(c) = mqtt::Connect::parse(pk.body) else {
                return;
            };
            let flag = |bit: u8| Value::Bool(c.flags & bit != 0);
            match field {
                MQTT_PROTO_LEN => sink(Value::UInt(c.protocol_name.len() as u64)),
                MQTT_PROTONAME => str_value(c.protocol_name, sink),
                MQTT_VER => sink(Value::UInt(c.version.into())),
                MQTT_CONFLAGS => sink(Value::UInt(c.flags.into())),
                MQTT_CONFLAG_UNAME => sink(flag(connect_flag::USERNAME)),
                MQTT_CONFLAG_PASSWD => sink(flag(connect_flag::PASSWORD)),
                MQTT_CONFLAG_RETAIN => sink(flag(connect_flag::WILL_RETAIN)),
                MQTT_CONFLAG_QOS => sink(Value::UInt(
                    ((c.flags & connect_flag::WILL_QOS) >> 3).into(),
                )),
                MQTT_CONFLAG_WILLFLAG => sink(flag(connect_flag::WILL)),
                MQTT_CONFLAG_CLEANSESS => sink(flag(connect_flag::CLEAN)),
                MQTT_CONFLAG_RESERVED => sink(flag(connect_flag::RESERVED)),
                MQTT_KALIVE => sink(Value::UInt(c.keep_alive.into())),
                MQTT_WILLMSG_LEN => {
                    if let Some(m) = c.will_message {
                        sink(Value::UInt(m.len() as u64))
                    }
                }
                MQTT_WILLMSG => {
                    if let Some(m) = c.will_message {
                        sink(Value::Bytes(m))
                    }
                }
                _ => {
                    for props in [c.properties, c.will_properties].into_iter().flatten() {
                        visit_properties(props, field, sink);
                    }
                    let id = Some(c.client_id);
                    len_and_str(field, MQTT_CLIENTID_LEN, MQTT_CLIENTID, id, sink);
                    len_and_str(
                        field,
                        MQTT_WILLTOPIC_LEN,
                        MQTT_WILLTOPIC,
                        c.will_topic,
                        sink,
                    );
                    len_and_str(field, MQTT_USERNAME_LEN, MQTT_USERNAME, c.username, sink);
                    len_and_str(field, MQTT_PASSWD_LEN, MQTT_PASSWD, c.password, sink);
                }
            }
        }
        kind::CONNACK => {
            let Some(c) = mqtt::Connack::parse(pk.body, p.version) else {
                return;
            };
            match field {
                MQTT_CONACK_FLAGS => sink(Value::UInt(c.flags.into())),
                MQTT_CONACK_FLAGS_RESERVED => sink(Value::Bool(c.flags & 0xFE != 0)),
                MQTT_CONACK_FLAGS_SP => sink(Value::Bool(c.flags & 1 != 0)),
                MQTT_CONACK_VAL if !v5 => sink(Value::UInt(c.code.into())),
                MQTT_CONNACK_REASON_CODE if v5 => sink(Value::UInt(c.code.into())),
                _ => {
                    if let Some(props) = c.properties {
                        visit_properties(props, field, sink)
                    }
                }
            }
        }
        kind::PUBLISH => {
            let Some((topic, id, at)) = mqtt::publish_head(&pk) else {
                return;
            };
            let mut rest = Reader {
                rest: &pk.body[at..],
            };
            let props = if v5 { rest.properties() } else { None };
            match field {
                MQTT_TOPIC_LEN => sink(Value::UInt(topic.len() as u64)),
                MQTT_TOPIC => str_value(topic, sink),
                MQTT_MSGID => {
                    if let Some(id) = id {
                        sink(Value::UInt(id.into()))
                    }
                }
                MQTT_MSG => {
                    if !rest.rest.is_empty() {
                        sink(Value::Bytes(rest.rest))
                    }
                }
                _ => {
                    if let Some(props) = props {
                        visit_properties(props, field, sink)
                    }
                }
            }
        }
        kind::PUBACK | kind::PUBREC | kind::PUBREL | kind::PUBCOMP => {
            let Some(id) = r.u16() else {
                return;
            };
            if field == MQTT_MSGID {
                return sink(Value::UInt(id.into()));
            }
            if !v5 {
                return;
            }
            let code_field = match ty {
                kind::PUBACK => MQTT_PUBACK_REASON_CODE,
                kind::PUBREC => MQTT_PUBREC_REASON_CODE,
                kind::PUBREL => MQTT_PUBREL_REASON_CODE,
                _ => MQTT_PUBCOMP_REASON_CODE,
            };
            if let Some(code) = r.u8() {
                if field == code_field {
                    return sink(Value::UInt(code.into()));
                }
            }
            if let Some(props) = r.properties() {
                visit_properties(props, field, sink);
            }
        }
        kind::SUBSCRIBE | kind::UNSUBSCRIBE | kind::SUBACK | kind::UNSUBACK => {
            let Some(id) = r.u16() else {
                return;
            };
            if field == MQTT_MSGID {
                return sink(Value::UInt(id.into()));
            }
            if v5 {
                let Some(props) = r.properties() else {
                    return;
                };
                visit_properties(props, field, sink);
            }
            match ty {
                kind::SUBSCRIBE | kind::UNSUBSCRIBE => {
                    while let Some(topic) = r.str16() {
                        len_and_str(field, MQTT_TOPIC_LEN, MQTT_TOPIC, Some(topic), sink);
                        if ty == kind::UNSUBSCRIBE {
                            continue;
                        }
                        let Some(o) = r.u8() else {
                            return;
                        };
                        match (field, v5) {
                            (MQTT_SUB_QOS, false) => sink(Value::UInt(o.into())),
                            (MQTT_SUBSCRIPTION_OPTIONS, true) => sink(Value::UInt(o.into())),
                            (MQTT_SUBSCRIPTION_OPTIONS_QOS, true) => {
                                sink(Value::UInt((o & 3).into()))
                            }
                            (MQTT_SUBSCRIPTION_OPTIONS_NL, true) => sink(Value::Bool(o & 4 != 0)),
                            (MQTT_SUBSCRIPTION_OPTIONS_RAP, true) => sink(Value::Bool(o & 8 != 0)),
                            (MQTT_SUBSCRIPTION_OPTIONS_RETAIN, true) => {
                                sink(Value::UInt(((o >> 4) & 3).into()))
                            }
                            (MQTT_SUBSCRIPTION_OPTIONS_RESERVED, true) => {
                                sink(Value::UInt((o >> 6).into()))
                            }
                            _ => {}
                        }
                    }
                }
                _ => {
                    let code_field = match (ty, v5) {
                        (kind::SUBACK, false) => MQTT_SUBACK_QOS,
                        (kind::SUBACK, true) => MQTT_SUBACK_REASON_CODE,
                        (_, true) => MQTT_UNSUBACK_REASON_CODE,
                        _ => return,
                    };
                    if field == code_field {
                        for &code in r.rest {
                            sink(Value::UInt(code.into()));
                        }
                    }
                }
            }
        }
        kind::DISCONNECT | kind::AUTH if v5 && !pk.body.is_empty() => {
            let (code, props) = mqtt::disconnect_reason(pk.body);
            let code_field = if ty == kind::DISCONNECT {
                MQTT_DISCONNECT_REASON_CODE
            } else {
                MQTT_AUTH_REASON_CODE
            };
            if field == code_field {
                return sink(Value::UInt(code.into()));
            }
            if let Some(props) = props {
                visit_properties(props, field, sink);
            }
        }
        _ => {}
    }
}
