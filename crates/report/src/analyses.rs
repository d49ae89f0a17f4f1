//! The analyses `keepsight diagnose` and `keepsight report` run over every frame: the
//! connection diagnosis and the HTTP/1.x keep-alive and framing analysis, whose findings join
//! the diagnosis at the end (with the severity `keepsight_diagnose::http` gives them).
//!
//! It lives here, beside the views, because it is where engine frames meet both analyses: the
//! analysis crates take segments and know nothing of each other's frames or of the engine, and
//! the views consume their reports, so data still flows one way (engine → analyses → views).

use crate::read::{read_frames, ReadEnd};
use keepsight_diagnose::{Diagnoser, Listing, Options};
use keepsight_engine::{Engine, Frame};
use rustc_hash::{FxHashMap, FxHashSet};

/// The diagnosis and the HTTP analysis of one capture, fed frame by frame. The HTTP analyzer
/// keeps only the messages with a verdict, so memory stays bounded.
pub struct Analyses {
    diagnoser: Diagnoser,
    http: keepsight_http::Analyzer,
    /// Each stream's initial sequence numbers, when asked for ([`Analyses::records_isns`]).
    isns: Option<FxHashMap<u32, Isns>>,
}

/// A stream's initial sequence numbers as on the wire (the raw `tcp.seq` of each side's SYN),
/// `None` for a side whose SYN the capture did not hold. The same connection seen by two
/// captures has the same ones, whatever the relative numbering or address rewriting did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Isns {
    /// The client's SYN.
    pub client: Option<u32>,
    /// The server's SYN-ACK.
    pub server: Option<u32>,
}

impl Analyses {
    /// Both analyses before the first frame; `opts` configures the diagnosis (the HTTP
    /// analysis runs with its defaults).
    pub fn new(opts: Options) -> Self {
        Analyses {
            diagnoser: Diagnoser::new(opts),
            http: keepsight_http::Analyzer::new(keepsight_http::Options::default()),
            isns: None,
        }
    }

    /// Also keeps each stream's initial sequence numbers (see [`Isns`]): a few bytes per
    /// stream, for callers that join connections across captures.
    pub fn records_isns(mut self) -> Self {
        self.isns = Some(FxHashMap::default());
        self
    }

    /// The initial sequence numbers kept so far, by `tcp.stream` (empty unless
    /// [`Analyses::records_isns`] asked for them).
    pub fn take_isns(&mut self) -> FxHashMap<u32, Isns> {
        self.isns.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Both analyses, for a caller that will finish with [`Listing::Notable`]: the diagnosis
    /// keeps the streams with nothing to tell in a compact record (see
    /// [`Diagnoser::lists_notable`]).
    pub fn lists_notable(mut self) -> Self {
        self.diagnoser = self.diagnoser.lists_notable();
        self
    }

    /// Feeds one frame; returns its diagnosis segment (TCP frames only), and whether the
    /// diagnosis keeps it as a one-segment stream, for callers that draw it too. The HTTP
    /// analysis leaves those streams to the diagnosis (one copy of a flood's SYNs, not two).
    /// Inlined into the caller's read loop, as it was when this composition lived in the CLI:
    /// it runs once per packet.
    #[inline]
    pub fn on_frame<'a>(
        &mut self,
        frame: &Frame<'a>,
    ) -> Option<(keepsight_tcp::Segment<'a>, keepsight_tcp::Held)> {
        let segment = frame.segment()?;
        if let Some(isns) = &mut self.isns {
            if segment.flags.syn() {
                note_isn(isns, &segment, frame);
            }
        }
        let held = self.diagnoser.on_segment(&segment);
        // On a TLS stream decrypted with a key log, HTTP reads the decrypted bytes (after the
        // stream's held first segment, when this frame brought it back).
        match (frame.decrypted_segment(), &held) {
            (Some(plain), keepsight_tcp::Held::Replayed(first)) => {
                self.http.segment(&first.segment());
                self.http.segment(&plain);
            }
            (Some(plain), _) => self.http.segment(&plain),
            (None, _) => self.http.segment_held(&segment, &held),
        }
        Some((segment, held))
    }

    /// The diagnosis being fed, for a caller that asks it questions between frames (`keepsight
    /// watch`: heartbeat deadlines, streams settled so far).
    pub fn diagnoser_mut(&mut self) -> &mut Diagnoser {
        &mut self.diagnoser
    }

    /// The one-segment streams the diagnosis keeps (see [`Analyses::on_frame`]), in stream
    /// order.
    pub fn one_segment_streams(&self) -> impl Iterator<Item = &keepsight_tcp::FirstSegment> + '_ {
        self.diagnoser.one_segment_streams()
    }

    /// The diagnosis (HTTP findings included) and the HTTP report. `last_ns`: the capture's
    /// last frame time, where still-open streams end; `listing`: the streams the diagnosis
    /// lists.
    pub fn finish(
        self,
        last_ns: i64,
        listing: Listing<'_>,
    ) -> (keepsight_diagnose::Report, keepsight_http::Report) {
        let Analyses {
            mut diagnoser,
            http,
            ..
        } = self;
        let http = http.finish();
        for f in http.findings.iter().cloned() {
            diagnoser.add_finding(f.into());
        }
        (diagnoser.finish_listing(last_ns, listing), http)
    }

    /// [`Analyses::finish`] without the HTTP report, which is dropped before the diagnosis is
    /// summarized (its kept messages would add to the peak).
    pub fn diagnosis(self, last_ns: i64, listing: Listing<'_>) -> keepsight_diagnose::Report {
        let Analyses {
            mut diagnoser,
            http,
            ..
        } = self;
        for f in http.finish().findings {
            diagnoser.add_finding(f.into());
        }
        diagnoser.finish_listing(last_ns, listing)
    }
}

/// Keeps the raw sequence number of a SYN (the client's) or SYN-ACK (the server's), the first
/// one seen of each: a retransmitted SYN carries the same number.
#[cold]
fn note_isn(
    isns: &mut FxHashMap<u32, Isns>,
    segment: &keepsight_tcp::Segment<'_>,
    frame: &Frame<'_>,
) {
    let Some(h) = frame.tcp_header() else { return };
    let e = isns.entry(segment.stream).or_default();
    let side = if segment.flags.ack() {
        &mut e.server
    } else {
        &mut e.client
    };
    side.get_or_insert(h.seq());
}

/// The TCP streams with at least one frame `matches` accepts (`keepsight http -Y`'s first pass:
/// whole connections are analysed, never single frames, since reassembly needs every segment).
/// Damage ends the pass; the analysis pass that follows reports it.
pub fn streams_where(
    engine: &mut Engine,
    mut matches: impl FnMut(&Frame<'_>) -> bool,
) -> FxHashSet<u32> {
    let mut streams = FxHashSet::default();
    read_frames(
        Some(engine),
        |_| {},
        |frame| {
            if let Some(tcp) = frame.tcp.as_ref() {
                if !streams.contains(&tcp.stream) && matches(frame) {
                    streams.insert(tcp.stream);
                }
            }
        },
    );
    streams
}

/// The HTTP/1.x analysis of the TCP streams `wanted` accepts (`keepsight http`), keeping every
/// message when `keep_all_messages`, else only those with a verdict.
pub fn http_analysis(
    engine: &mut Engine,
    keep_all_messages: bool,
    mut wanted: impl FnMut(u32) -> bool,
) -> (keepsight_http::Report, ReadEnd) {
    let mut analyzer = keepsight_http::Analyzer::new(keepsight_http::Options { keep_all_messages });
    let end = read_frames(
        Some(engine),
        |_| {},
        |frame| {
            let Some(tcp) = frame.tcp.as_ref() else {
                return;
            };
            if let (true, Some(segment)) = (wanted(tcp.stream), frame.application_segment()) {
                analyzer.segment(&segment);
            }
        },
    );
    (analyzer.finish(), end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat_capture() -> Box<Engine> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/corpus/heartbeat.pcap");
        match crate::open(&path) {
            crate::Opened::Ready(engine) => engine,
            _ => panic!("{} does not open", path.display()),
        }
    }

    /// tests/corpus/heartbeat.pcap holds streams 0 and 1 (README of the corpus); frame 33 is
    /// stream 0's reset.
    #[test]
    fn streams_where_names_each_stream_with_a_match_once() {
        let all = streams_where(&mut heartbeat_capture(), |_| true);
        assert_eq!(all, FxHashSet::from_iter([0, 1]));
        let reset = streams_where(&mut heartbeat_capture(), |f| f.number == 33);
        assert_eq!(reset, FxHashSet::from_iter([0]));
        assert!(streams_where(&mut heartbeat_capture(), |_| false).is_empty());
    }

    #[test]
    fn http_analysis_sees_only_the_wanted_streams() {
        let mut asked = FxHashSet::default();
        let (report, end) = http_analysis(&mut heartbeat_capture(), true, |s| {
            asked.insert(s);
            s == 1
        });
        assert!(end.damage.is_none() && end.last_ns > 0);
        assert_eq!(asked, FxHashSet::from_iter([0, 1]));
        // A heartbeat is no HTTP: no connection is reported as HTTP.
        assert!(report.connections.is_empty());
    }
}
