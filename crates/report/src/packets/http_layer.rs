//! `http.*` fields (and HTTP's expert items) for the frame listing: they need the whole capture
//! analysed first (a request knows its response frame, as with `tshark -2`), so they cost one
//! extra pass, only when asked for.

use keepsight_engine::{Engine, Frame};
use keepsight_fields::{FieldId, Packet, Value};
use std::path::Path;

/// The HTTP analysis of a whole capture, indexed by frame.
pub struct HttpLayer {
    report: keepsight_http::Report,
    index: keepsight_http::FrameIndex,
}

impl HttpLayer {
    /// First pass over `path`. A damaged file is analysed up to the damage (the listing pass
    /// reports the damage itself); `None` when the file cannot be opened.
    pub fn read(path: &Path) -> Option<HttpLayer> {
        if crate::is_stdin(path) {
            // Standard input can be read once only, and the main pass needs it.
            return None;
        }
        let mut engine = Engine::open(path).ok()?;
        let mut analyzer = keepsight_http::Analyzer::new(keepsight_http::Options {
            keep_all_messages: true,
        });
        while let Ok(Some(frame)) = engine.next_frame() {
            if let Some(segment) = frame.segment() {
                analyzer.segment(&segment);
            }
        }
        let report = analyzer.finish();
        let index = keepsight_http::FrameIndex::new(&report);
        Some(HttpLayer { report, index })
    }
}

fn is_http(id: FieldId) -> bool {
    keepsight_fields::protocol_of(id) == "http"
}

fn is_expert(id: FieldId) -> bool {
    use keepsight_fields::ids::{
        _WS_EXPERT, _WS_EXPERT_GROUP, _WS_EXPERT_MESSAGE, _WS_EXPERT_SEVERITY,
    };
    matches!(
        id,
        _WS_EXPERT | _WS_EXPERT_MESSAGE | _WS_EXPERT_SEVERITY | _WS_EXPERT_GROUP
    )
}

/// Fields that need the HTTP first pass: `http.*`, and expert info (HTTP adds chat items).
pub fn needs_http_pass(id: FieldId) -> bool {
    is_http(id) || is_expert(id)
}

/// A frame with the HTTP layer's fields added: what filters and columns read.
pub struct WithHttp<'a> {
    /// The frame.
    pub frame: &'a Frame<'a>,
    /// The HTTP analysis, when some field needs it.
    pub http: Option<&'a HttpLayer>,
    /// `tcp.time_relative` and `tcp.time_delta` are shown (`-o tcp.calculate_timestamps`).
    pub tcp_times: bool,
}

impl Packet for WithHttp<'_> {
    fn visit(&self, field: FieldId, sink: &mut dyn FnMut(Value<'_>)) {
        if is_http(field) {
            if let Some(h) = self.http {
                h.index
                    .visit(&h.report, self.frame.number, field.name(), sink);
            }
        } else if is_expert(field) {
            // The frame's own items (frame, TCP) come before the HTTP dissector's.
            self.frame.visit(field, sink);
            if let Some(h) = self.http {
                use keepsight_engine::expert::{Group, Severity};
                use keepsight_fields::ids::{
                    _WS_EXPERT_GROUP, _WS_EXPERT_MESSAGE, _WS_EXPERT_SEVERITY,
                };
                h.index
                    .visit_expert_lines(&h.report, self.frame.number, &mut |line| {
                        sink(match field {
                            _WS_EXPERT_MESSAGE => Value::Str(line),
                            _WS_EXPERT_SEVERITY => Value::UInt(Severity::Chat.value().into()),
                            _WS_EXPERT_GROUP => Value::UInt(Group::Sequence.value().into()),
                            _ => Value::Bytes(&[]),
                        })
                    });
            }
        } else if self.tcp_times
            || !matches!(
                field,
                keepsight_fields::ids::TCP_TIME_RELATIVE | keepsight_fields::ids::TCP_TIME_DELTA
            )
        {
            self.frame.visit(field, sink)
        }
    }
}
