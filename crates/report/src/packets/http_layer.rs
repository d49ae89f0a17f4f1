//! `http.*` fields (and HTTP's expert items) for the frame listing: they need the whole capture
//! analysed first (a request knows its response frame, as with `tshark -2`), so they cost one
//! extra pass, only when asked for. With a TLS key log the same analysis reads the decrypted
//! application data of HTTPS streams, and then also names the Protocol and Info columns of
//! their frames, as tshark's HTTP dissector does under its TLS dissector.

use keepsight_engine::{Engine, Frame, KeyLog};
use keepsight_fields::{FieldId, Packet, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// The HTTP analysis of a whole capture, indexed by frame.
pub struct HttpLayer {
    report: keepsight_http::Report,
    index: keepsight_http::FrameIndex,
    /// Messages over decrypted TLS that began in an earlier frame than the one they end in,
    /// sorted: (stream, sender, first frame, end frame).
    spans: Vec<(u32, SocketAddr, u32, u32)>,
}

/// What tshark's HTTP-over-TLS dissection makes of a decrypted frame's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppColumns {
    /// Nothing: the frame's own TLS or TCP columns.
    Own,
    /// An HTTP message ends in the frame: Protocol `HTTP`, and the Info text given.
    Http,
    /// The frame's application data belongs to an HTTP message that ends later.
    TlsSegment,
}

impl HttpLayer {
    /// First pass over `path`, decrypting TLS streams with `keys` when given. A damaged file
    /// is analysed up to the damage (the listing pass reports the damage itself); `None`
    /// when the file cannot be opened.
    pub fn read(path: &Path, keys: Option<Arc<KeyLog>>) -> Option<HttpLayer> {
        if crate::is_stdin(path) {
            // Standard input can be read once only, and the main pass needs it.
            return None;
        }
        let mut engine = Engine::open(path).ok()?;
        if let Some(keys) = keys {
            engine.set_tls_keylog(keys);
        }
        let mut analyzer = keepsight_http::Analyzer::new(keepsight_http::Options {
            keep_all_messages: true,
        });
        while let Ok(Some(frame)) = engine.next_frame() {
            // Decrypted application data that tshark hands to `data` is not HTTP to it.
            if frame.tls.is_some_and(|t| t.app_is_data()) {
                continue;
            }
            if let Some(segment) = frame.application_segment() {
                analyzer.segment(&segment);
            }
        }
        let report = analyzer.finish();
        let index = keepsight_http::FrameIndex::new(&report);
        let mut spans: Vec<(u32, SocketAddr, u32, u32)> = report
            .connections
            .iter()
            .flat_map(|c| {
                c.messages.iter().filter_map(move |m| {
                    let sender = match m.kind {
                        keepsight_http::Kind::Request => c.client,
                        keepsight_http::Kind::Response => c.server,
                    };
                    (m.first_frame != 0 && m.first_frame < m.frame).then_some((
                        c.stream,
                        sender,
                        m.first_frame,
                        m.frame,
                    ))
                })
            })
            .collect();
        spans.sort_unstable();
        Some(HttpLayer {
            report,
            index,
            spans,
        })
    }

    /// The columns of `frame` when its decrypted application data goes to HTTP, with the
    /// Info text in `info` for [`AppColumns::Http`]. Cleartext frames keep their own columns.
    pub fn columns(&self, frame: &Frame<'_>, info: &mut String) -> AppColumns {
        let Some(tls) = frame.tls else {
            return AppColumns::Own;
        };
        if frame.plain.is_none() || tls.app().is_empty() || tls.app_is_data() {
            return AppColumns::Own;
        }
        if self.index.write_info(&self.report, frame.number, info) {
            return AppColumns::Http;
        }
        let (Some(tcp), Some((src, _))) = (frame.tcp.as_ref(), frame.endpoints()) else {
            return AppColumns::Own;
        };
        let from = self
            .spans
            .partition_point(|s| (s.0, s.1) < (tcp.stream, src));
        let within = self.spans[from..]
            .iter()
            .take_while(|s| (s.0, s.1) == (tcp.stream, src) && s.2 <= frame.number)
            .any(|s| frame.number < s.3);
        if within {
            AppColumns::TlsSegment
        } else {
            AppColumns::Own
        }
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
