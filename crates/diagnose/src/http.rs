//! HTTP/1.x findings from keepsight-http, in the diagnosis' terms: each kind gets its severity
//! here, so they are capped, ordered, summarized and matched to the log like the others.

use crate::finding::{Details, Finding, Severity};
use keepsight_http::FindingKind;

/// What breaks a client's request is an error; a server closing an idle or used-up connection is
/// how keep-alive works, worth knowing only.
pub fn severity(kind: FindingKind) -> Severity {
    match kind {
        FindingKind::HttpBodyShorterThanLength
        | FindingKind::HttpBodyLongerThanLength
        | FindingKind::HttpUnterminatedChunked
        | FindingKind::HttpInvalidChunk
        | FindingKind::HttpTeAndLength
        | FindingKind::HttpDuplicateContentLength
        | FindingKind::HttpReuseRace => Severity::Error,
        FindingKind::HttpResponseWithoutRequest => Severity::Warning,
        FindingKind::HttpIdleClose | FindingKind::HttpRequestLimitClose => Severity::Info,
    }
}

impl From<keepsight_http::Finding> for Finding {
    fn from(f: keepsight_http::Finding) -> Self {
        Finding::new(
            severity(f.kind),
            Some(f.stream),
            vec![f.frame],
            f.ts_ns,
            f.text,
            Details::Http(f.kind),
        )
    }
}
