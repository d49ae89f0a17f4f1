//! `fix.*`, `smpp.*`, `amqp.*` and `resp.*` field values of a frame's application layer
//! ([`crate::apps`]), one occurrence per message, as tshark 4.0.17 shows them.

use crate::apps::{AppKind, FrameApp};
use crate::Frame;
use keepsight_apps::{amqp, fix, redis, smpp};
use keepsight_fields::ids::*;
use keepsight_fields::{FieldId, Value};
use std::fmt::Write;

/// The FIX tags keepsight names, with their fields (tshark names each tag's field after the
/// tag's name in the FIX specification).
const FIX_TAGS: [(u32, FieldId); 27] = [
    (8, FIX_BEGINSTRING),
    (9, FIX_BODYLENGTH),
    (35, FIX_MSGTYPE),
    (34, FIX_MSGSEQNUM),
    (49, FIX_SENDERCOMPID),
    (56, FIX_TARGETCOMPID),
    (52, FIX_SENDINGTIME),
    (43, FIX_POSSDUPFLAG),
    (98, FIX_ENCRYPTMETHOD),
    (108, FIX_HEARTBTINT),
    (112, FIX_TESTREQID),
    (7, FIX_BEGINSEQNO),
    (16, FIX_ENDSEQNO),
    (36, FIX_NEWSEQNO),
    (123, FIX_GAPFILLFLAG),
    (58, FIX_TEXT),
    (11, FIX_CLORDID),
    (37, FIX_ORDERID),
    (17, FIX_EXECID),
    (150, FIX_EXECTYPE),
    (39, FIX_ORDSTATUS),
    (40, FIX_ORDTYPE),
    (54, FIX_SIDE),
    (55, FIX_SYMBOL),
    (38, FIX_ORDERQTY),
    (60, FIX_TRANSACTTIME),
    (10, FIX_CHECKSUM),
];

/// Text of a field as sent; a value that is not UTF-8 is left out rather than guessed.
fn text(v: &[u8]) -> Option<&str> {
    std::str::from_utf8(v).ok()
}

impl Frame<'_> {
    /// The values of an application-layer field.
    pub(crate) fn visit_app(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
        let Some(app) = &self.app else {
            return;
        };
        match (app.kind, keepsight_fields::protocol_of(field)) {
            (AppKind::Fix, "fix") => visit_fix(app, field, sink),
            (AppKind::Smpp, "smpp") => visit_smpp(app, field, sink),
            (AppKind::Amqp, "amqp") => visit_amqp(app, field, sink),
            (AppKind::Resp, "resp") => visit_resp(app, field, sink),
            _ => {}
        }
    }

    /// The protocol names the layer adds to `frame.protocols`.
    pub(crate) fn app_protocols(&self, mut push: impl FnMut(&'static str)) {
        let Some(app) = &self.app else {
            return;
        };
        let name = match app.kind {
            AppKind::Fix => ":fix",
            AppKind::Smpp => ":smpp",
            AppKind::Amqp => ":amqp",
            AppKind::Resp => ":resp",
        };
        for m in app.messages() {
            // The AMQP protocol header is dissected without an `amqp` tree item.
            if app.kind == AppKind::Amqp && amqp::is_protocol_header(m) {
                continue;
            }
            push(name);
        }
    }
}

fn visit_fix(app: &FrameApp<'_>, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
    for m in app.messages() {
        match field {
            FIX => sink(Value::Str("fix")),
            FIX_CHECKSUM_GOOD => sink(Value::Bool(fix::checksum_ok(m))),
            FIX_CHECKSUM_BAD => sink(Value::Bool(!fix::checksum_ok(m))),
            _ => {
                let Some(&(tag, _)) = FIX_TAGS.iter().find(|(_, id)| *id == field) else {
                    return;
                };
                for (_, v) in fix::fields(m).filter(|(t, _)| *t == tag) {
                    if let Some(v) = text(v) {
                        sink(Value::Str(v));
                    }
                }
            }
        }
    }
}

/// The `smpp` item's text: tshark prints the protocol line of each PDU.
fn smpp_summary(h: &smpp::Header, out: &mut String) {
    let _ = write!(
        out,
        "Short Message Peer to Peer, Command: {}",
        smpp::command_name(h.command_id).unwrap_or("Unknown")
    );
    if h.is_response() {
        let _ = write!(out, ", Status: \"{}\"", smpp::status_text(h.command_status));
    }
    let _ = write!(
        out,
        ", Seq: {}, Len: {}",
        h.sequence_number, h.command_length
    );
}

fn visit_smpp(app: &FrameApp<'_>, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
    let mut line = String::new();
    for m in app.messages() {
        let Some(h) = smpp::Header::parse(m) else {
            continue;
        };
        let body = &m[16..];
        // Empty C-strings are skipped, as tshark does.
        let mut string = |v: &[u8]| {
            if let Some(t) = text(v).filter(|t| !t.is_empty()) {
                sink(Value::Str(t))
            }
        };
        match field {
            SMPP => {
                line.clear();
                smpp_summary(&h, &mut line);
                string(line.as_bytes());
            }
            SMPP_COMMAND_LENGTH => sink(Value::UInt(h.command_length.into())),
            SMPP_COMMAND_ID => sink(Value::UInt(h.command_id.into())),
            SMPP_COMMAND_STATUS if h.is_response() => sink(Value::UInt(h.command_status.into())),
            SMPP_SEQUENCE_NUMBER => sink(Value::UInt(h.sequence_number.into())),
            SMPP_SYSTEM_ID if smpp::is_bind_resp(h.command_id) && h.command_status == 0 => {
                if let Some(id) = smpp::bind_resp_system_id(body) {
                    string(id)
                }
            }
            SMPP_SYSTEM_ID
            | SMPP_PASSWORD
            | SMPP_SYSTEM_TYPE
            | SMPP_INTERFACE_VERSION
            | SMPP_ADDR_TON
            | SMPP_ADDR_NPI
            | SMPP_ADDRESS_RANGE
                if smpp::is_bind(h.command_id) =>
            {
                let Some(b) = smpp::Bind::parse(body) else {
                    continue;
                };
                match field {
                    SMPP_SYSTEM_ID => string(b.system_id),
                    SMPP_PASSWORD => string(b.password),
                    SMPP_SYSTEM_TYPE => string(b.system_type),
                    SMPP_INTERFACE_VERSION => sink(Value::UInt(b.interface_version.into())),
                    SMPP_ADDR_TON => sink(Value::UInt(b.addr_ton.into())),
                    SMPP_ADDR_NPI => sink(Value::UInt(b.addr_npi.into())),
                    _ => string(b.address_range),
                }
            }
            _ => {}
        }
    }
}

fn visit_amqp(app: &FrameApp<'_>, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
    use amqp::ConnectionMethod as C;
    for m in app.messages() {
        let Some(f) = amqp::Frame::parse(m) else {
            continue;
        };
        let method = f.method();
        let conn = match method {
            Some((10, id, args)) => C::parse(id, args),
            _ => None,
        };
        let str_of = |v: &[u8], sink: &mut dyn FnMut(Value<'_>)| {
            if let Some(t) = text(v) {
                sink(Value::Str(t))
            }
        };
        match (field, conn) {
            (AMQP, _) => sink(Value::Str("amqp")),
            (AMQP_TYPE, _) => sink(Value::UInt(f.frame_type.into())),
            (AMQP_CHANNEL, _) => sink(Value::UInt(f.channel.into())),
            (AMQP_LENGTH, _) => sink(Value::UInt(f.payload.len() as u64)),
            (AMQP_METHOD_CLASS, _) => {
                if let Some((class, _, _)) = method {
                    sink(Value::UInt(class.into()))
                }
            }
            (AMQP_METHOD_METHOD, _) => {
                if let Some((_, id, _)) = method {
                    sink(Value::UInt(id.into()))
                }
            }
            (AMQP_METHOD_ARGUMENTS, _) if method.is_some() => sink(Value::Present),
            (
                _,
                Some(C::Start {
                    version_major,
                    version_minor,
                    mechanisms,
                    locales,
                    ..
                }),
            ) => match field {
                AMQP_METHOD_ARGUMENTS_VERSION_MAJOR => sink(Value::UInt(version_major.into())),
                AMQP_METHOD_ARGUMENTS_VERSION_MINOR => sink(Value::UInt(version_minor.into())),
                AMQP_METHOD_ARGUMENTS_SERVER_PROPERTIES => sink(Value::Present),
                AMQP_METHOD_ARGUMENTS_MECHANISMS => sink(Value::Bytes(mechanisms)),
                AMQP_METHOD_ARGUMENTS_LOCALES => sink(Value::Bytes(locales)),
                _ => {}
            },
            (
                _,
                Some(C::StartOk {
                    mechanism,
                    response,
                    locale,
                    ..
                }),
            ) => match field {
                AMQP_METHOD_ARGUMENTS_CLIENT_PROPERTIES => sink(Value::Present),
                AMQP_METHOD_ARGUMENTS_MECHANISM => str_of(mechanism, sink),
                AMQP_METHOD_ARGUMENTS_RESPONSE => sink(Value::Bytes(response)),
                AMQP_METHOD_ARGUMENTS_LOCALE => str_of(locale, sink),
                _ => {}
            },
            (
                _,
                Some(C::Tune {
                    channel_max,
                    frame_max,
                    heartbeat,
                }),
            ) => match field {
                AMQP_METHOD_ARGUMENTS_CHANNEL_MAX => sink(Value::UInt(channel_max.into())),
                AMQP_METHOD_ARGUMENTS_FRAME_MAX => sink(Value::UInt(frame_max.into())),
                AMQP_METHOD_ARGUMENTS_HEARTBEAT => sink(Value::UInt(heartbeat.into())),
                _ => {}
            },
            (
                _,
                Some(C::Open {
                    virtual_host,
                    capabilities,
                    insist,
                }),
            ) => match field {
                AMQP_METHOD_ARGUMENTS_VIRTUAL_HOST => str_of(virtual_host, sink),
                AMQP_METHOD_ARGUMENTS_CAPABILITIES => str_of(capabilities, sink),
                AMQP_METHOD_ARGUMENTS_INSIST => sink(Value::Bool(insist)),
                _ => {}
            },
            (AMQP_METHOD_ARGUMENTS_KNOWN_HOSTS, Some(C::OpenOk { known_hosts })) => {
                str_of(known_hosts, sink)
            }
            (
                _,
                Some(C::Close {
                    reply_code,
                    reply_text,
                    class_id,
                    method_id,
                }),
            ) => match field {
                AMQP_METHOD_ARGUMENTS_REPLY_CODE => sink(Value::UInt(reply_code.into())),
                AMQP_METHOD_ARGUMENTS_REPLY_TEXT => str_of(reply_text, sink),
                AMQP_METHOD_ARGUMENTS_CLASS_ID => sink(Value::UInt(class_id.into())),
                AMQP_METHOD_ARGUMENTS_METHOD_ID => sink(Value::UInt(method_id.into())),
                _ => {}
            },
            _ => {}
        }
    }
}

fn visit_resp(app: &FrameApp<'_>, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
    use redis::Element as E;
    for m in app.messages() {
        if field == RESP {
            sink(Value::Str("resp"));
            continue;
        }
        redis::walk(m, &mut |e| match (field, e) {
            (RESP_STRING, E::SimpleString(s)) | (RESP_ERROR, E::Error(s)) => {
                if let Some(t) = text(s) {
                    sink(Value::Str(t))
                }
            }
            (RESP_INTEGER, E::Integer(n)) => sink(Value::Int(n)),
            (RESP_BULK_STRING, E::BulkString(..)) | (RESP_ARRAY, E::Array(_)) => {
                sink(Value::Present)
            }
            (RESP_BULK_STRING_LENGTH, E::BulkString(n, _)) => sink(Value::Int(n)),
            (RESP_BULK_STRING_VALUE, E::BulkString(_, Some(b))) => sink(Value::Bytes(b)),
            (RESP_ARRAY_LENGTH, E::Array(n)) => sink(Value::Int(n)),
            _ => {}
        });
    }
}
