//! `websocket.*` field values of a frame's WebSocket layer ([`crate::ws`]), one occurrence
//! per WebSocket frame the segment completed, as tshark 4.0.17 shows them.

use crate::Frame;
use keepsight_fields::ids::*;
use keepsight_fields::{FieldId, Value};
use keepsight_ws::{CloseBody, Opcode, SegmentRole};

impl Frame<'_> {
    /// The values of a `websocket.*` field.
    pub(crate) fn visit_websocket(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
        let Some(ws) = &self.ws else {
            return;
        };
        if ws.role() != SegmentRole::Frames {
            return;
        }
        for f in ws.frames() {
            let h = f.header;
            let p = f.payload;
            match field {
                WEBSOCKET => sink(Value::Str("websocket")),
                WEBSOCKET_FIN => sink(Value::Bool(h.fin)),
                WEBSOCKET_RSV => sink(Value::UInt(h.rsv.into())),
                WEBSOCKET_PMC if ws.deflate() => sink(Value::Bool(h.rsv & 4 != 0)),
                WEBSOCKET_OPCODE => sink(Value::UInt(h.opcode.0.into())),
                WEBSOCKET_MASK => sink(Value::Bool(h.masked)),
                WEBSOCKET_PAYLOAD_LENGTH => sink(Value::UInt(h.length7.into())),
                WEBSOCKET_PAYLOAD_LENGTH_EXT_16 if h.length7 == 126 => {
                    sink(Value::UInt(h.payload_len))
                }
                WEBSOCKET_PAYLOAD_LENGTH_EXT_64 if h.length7 == 127 => {
                    sink(Value::UInt(h.payload_len))
                }
                WEBSOCKET_MASKING_KEY => {
                    if let Some(k) = &h.masking_key {
                        sink(Value::Bytes(k))
                    }
                }
                WEBSOCKET_PAYLOAD => sink(Value::Present),
                WEBSOCKET_MASKED_PAYLOAD if h.masked => sink(Value::Present),
                WEBSOCKET_PAYLOAD_CONTINUE if h.opcode == Opcode::CONTINUATION => {
                    sink(Value::Bytes(p))
                }
                // A fragment of a message is held for reassembly: its payload is not shown.
                WEBSOCKET_PAYLOAD_TEXT if h.opcode == Opcode::TEXT && h.fin => {
                    sink(Value::Str(&shown_text(p)))
                }
                WEBSOCKET_PAYLOAD_CLOSE if h.opcode == Opcode::CLOSE => sink(Value::Present),
                WEBSOCKET_PAYLOAD_CLOSE_STATUS_CODE if h.opcode == Opcode::CLOSE => {
                    if let Some(code) = CloseBody::parse(p).code {
                        sink(Value::UInt(code.into()))
                    }
                }
                WEBSOCKET_PAYLOAD_CLOSE_REASON if h.opcode == Opcode::CLOSE => {
                    let reason = CloseBody::parse(p).reason;
                    if !reason.is_empty() {
                        sink(Value::Str(&shown_text(reason)))
                    }
                }
                WEBSOCKET_PAYLOAD_PING if h.opcode == Opcode::PING && !p.is_empty() => {
                    sink(Value::Bytes(p))
                }
                WEBSOCKET_PAYLOAD_PONG if h.opcode == Opcode::PONG && !p.is_empty() => {
                    sink(Value::Bytes(p))
                }
                WEBSOCKET_PAYLOAD_UNKNOWN
                    if is_reserved(h.opcode) && (h.fin || h.opcode.0 >= 8) && !p.is_empty() =>
                {
                    sink(Value::Bytes(p))
                }
                _ => {}
            }
        }
    }

    /// The payloads of binary frames, which tshark hands to `data`.
    pub(crate) fn ws_binary_payloads(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.ws
            .iter()
            .filter(|w| w.role() == SegmentRole::Frames)
            .flat_map(|w| w.frames())
            .filter(|f| f.header.opcode == Opcode::BINARY && f.header.fin && !f.payload.is_empty())
            .map(|f| f.payload)
    }

    /// `frame.protocols` past `tcp` for a WebSocket segment: `http` when the stream was
    /// upgraded, `websocket`, and what its messages go to (text lines, data).
    pub(crate) fn ws_protocols(&self, mut push: impl FnMut(&'static str)) {
        let Some(ws) = &self.ws else {
            return;
        };
        if ws.role() != SegmentRole::Frames {
            return;
        }
        if ws.upgraded() {
            push(":http");
        }
        push(":websocket");
        let (mut text, mut binary) = (false, false);
        for f in ws.frames() {
            match f.header.opcode {
                Opcode::TEXT if f.header.fin && !f.payload.is_empty() && !text => {
                    text = true;
                    push(":data-text-lines");
                }
                Opcode::BINARY if f.header.fin && !f.payload.is_empty() && !binary => {
                    binary = true;
                    push(":data");
                }
                _ => {}
            }
        }
    }
}

/// Text as tshark shows a string field: invalid UTF-8 replaced, control characters escaped
/// (`\r`, `\n`, octal for the rest).
fn shown_text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    let text = String::from_utf8_lossy(b);
    if !text.chars().any(|c| c.is_ascii_control()) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if c.is_ascii_control() => {
                let _ = std::fmt::Write::write_fmt(&mut out, format_args!("\\{:03o}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.into()
}

/// Opcodes RFC 6455 reserves (3-7 and 11-15): tshark shows their payload as unknown.
fn is_reserved(op: Opcode) -> bool {
    matches!(op.0, 3..=7 | 11..=15)
}
