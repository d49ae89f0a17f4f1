//! The analyses `keepsight diagnose` and `keepsight report` run over every frame: the
//! connection diagnosis and the HTTP/1.x keep-alive and framing analysis, whose findings join
//! the diagnosis at the end (with the severity `keepsight_diagnose::http` gives them).
//!
//! It lives here, beside the views, because it is where engine frames meet both analyses: the
//! analysis crates take segments and know nothing of each other's frames or of the engine, and
//! the views consume their reports, so data still flows one way (engine → analyses → views).

use keepsight_diagnose::{Diagnoser, Options};
use keepsight_engine::Frame;

/// The diagnosis and the HTTP analysis of one capture, fed frame by frame. The HTTP analyzer
/// keeps only the messages with a verdict, so memory stays bounded.
pub struct Analyses {
    diagnoser: Diagnoser,
    http: keepsight_http::Analyzer,
}

impl Analyses {
    /// Both analyses before the first frame; `opts` configures the diagnosis (the HTTP
    /// analysis runs with its defaults).
    pub fn new(opts: Options) -> Self {
        Analyses {
            diagnoser: Diagnoser::new(opts),
            http: keepsight_http::Analyzer::new(keepsight_http::Options::default()),
        }
    }

    /// Feeds one frame; returns its diagnosis segment (TCP frames only) for callers that draw
    /// it too. Inlined into the caller's read loop, as it was when this composition lived in the
    /// CLI: it runs once per packet.
    #[inline]
    pub fn on_frame<'a>(&mut self, frame: &Frame<'a>) -> Option<keepsight_tcp::Segment<'a>> {
        let segment = frame.segment()?;
        self.http.segment(&segment);
        self.diagnoser.on_segment(&segment);
        Some(segment)
    }

    /// The diagnosis (HTTP findings included) and the HTTP report. `last_ns`: the capture's
    /// last frame time, where still-open streams end.
    pub fn finish(self, last_ns: i64) -> (keepsight_diagnose::Report, keepsight_http::Report) {
        let Analyses {
            mut diagnoser,
            http,
        } = self;
        let http = http.finish();
        for f in http.findings.iter().cloned() {
            diagnoser.add_finding(f.into());
        }
        (diagnoser.finish(last_ns), http)
    }

    /// [`Analyses::finish`] without the HTTP report, which is dropped before the diagnosis is
    /// summarized (its kept messages would add to the peak).
    pub fn diagnosis(self, last_ns: i64) -> keepsight_diagnose::Report {
        let Analyses {
            mut diagnoser,
            http,
        } = self;
        for f in http.finish().findings {
            diagnoser.add_finding(f.into());
        }
        diagnoser.finish(last_ns)
    }
}
