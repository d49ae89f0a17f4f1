//! HTTP/1.x findings from keepsight-http, in the diagnosis' terms: each kind gets its severity
//! here, so they are capped, ordered, summarized and matched to the log like the others.

use crate::finding::{Details, Finding, Severity};
use keepsight_http::FindingKind;

/// What breaks a client's request is an error; a server closing an idle or used-up connection is
/// how keep-alive works, worth knowing only; a draining server closes connections clients
/// expected to reuse, which they must be ready for.
pub fn severity(kind: FindingKind) -> Severity {
    match kind {
        FindingKind::HttpBodyShorterThanLength
        | FindingKind::HttpBodyLongerThanLength
        | FindingKind::HttpUnterminatedChunked
        | FindingKind::HttpInvalidChunk
        | FindingKind::HttpTeAndLength
        | FindingKind::HttpDuplicateContentLength
        | FindingKind::HttpReuseRace => Severity::Error,
        FindingKind::HttpResponseWithoutRequest | FindingKind::HttpDrain => Severity::Warning,
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
            match f.details {
                Some(keepsight_http::FindingDetails::Drain(d)) => Details::HttpDrain(d),
                Some(keepsight_http::FindingDetails::ReuseRace(d)) => Details::HttpReuseRace(d),
                None => Details::Http(f.kind),
            },
        )
    }
}
