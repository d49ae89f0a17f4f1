//! `keepsight report`'s one streaming pass: the analyses, the conversation table and the
//! timeline sketches fed from the same frames, then the page built from their results.

use super::collect::Timelines;
use super::page::{render, Input, Limits};
use crate::analyses::Analyses;
use crate::conv::{Conversations, Row};
use crate::read::ReadEnd;
use keepsight_diagnose::middlebox::Middlebox;
use keepsight_diagnose::Options;
use keepsight_engine::Frame;
use std::collections::HashSet;

/// Everything the page needs, collected frame by frame.
pub struct ReportPass {
    analyses: Analyses,
    conversations: Conversations,
    timelines: Timelines,
    middleboxes: Vec<Middlebox>,
    max_streams: usize,
}

/// The finished page and what it holds, for the command's closing line.
pub struct Page {
    /// The self-contained page, ready to write.
    pub html: String,
    /// Findings on the page, for the closing line.
    pub findings: usize,
    /// Streams drawn with a timeline (at most the `max_streams` asked for).
    pub streams_drawn: usize,
    /// The streams the findings name, most severe findings first (for `--evidence`).
    pub finding_streams: Vec<u32>,
}

impl ReportPass {
    /// `max_streams`: streams drawn in detail (timeline and heartbeat chart).
    pub fn new(opts: Options, max_streams: usize) -> Self {
        ReportPass {
            middleboxes: opts.middleboxes.clone(),
            analyses: Analyses::new(opts).lists_notable(),
            conversations: Conversations::new(),
            // Retired streams kept for drawing: many more than are drawn, so that the streams
            // the findings name (known only at the end) are still there; a few KiB each.
            timelines: Timelines::new(max_streams * 32),
            max_streams,
        }
    }

    /// Feeds one frame to the analyses, the conversation table and the timelines.
    #[inline] // once per packet, into the caller's read loop
    pub fn on_frame(&mut self, frame: &Frame<'_>) {
        self.conversations.on_frame(frame);
        if let Some((segment, held)) = self.analyses.on_frame(frame) {
            self.timelines.on_segment_held(&segment, &held);
        }
    }

    /// Ends the pass and renders the page.
    pub fn finish(self, file: &str, end: &ReadEnd) -> Page {
        let ReportPass {
            analyses,
            mut conversations,
            timelines,
            middleboxes,
            max_streams,
        } = self;
        // The timelines first: the diagnosis then lists, of the streams with nothing to tell,
        // only those a timeline may draw.
        let (tracks, tracks_dropped) = timelines.finish_with(analyses.one_segment_streams());
        let drawable = |s: u32| tracks.contains_key(&s);
        let (diagnosis, http) = analyses.finish(
            end.last_ns,
            keepsight_diagnose::Listing::Notable { also: &drawable },
        );
        conversations.set_heartbeats(
            diagnosis
                .streams
                .iter()
                .filter_map(|s| Some((s.stream, s.heartbeat.as_ref()?.period_s))),
        );
        // The page lists the biggest conversations and, beyond them, those a finding names or a
        // timeline may draw: only these become rows (a flood's million stay tallies).
        let limits = Limits {
            streams: max_streams,
            ..Limits::default()
        };
        let table = conversations.into_table();
        let named: HashSet<u32> = diagnosis.findings.iter().filter_map(|f| f.stream).collect();
        let rows: Vec<Row> = table
            .rows()
            .enumerate()
            .filter(|(i, r)| {
                *i < limits.conversations
                    || named.contains(&r.stream)
                    || tracks.contains_key(&r.stream)
            })
            .map(|(_, r)| r)
            .collect();
        let html = render(&Input {
            file,
            first_ns: end.first_ns,
            diagnosis: &diagnosis,
            http: &http,
            conversations: &rows,
            conversations_total: table.len(),
            tracks: &tracks,
            tracks_dropped,
            middleboxes: &middleboxes,
            damage: end.damage.as_ref().map(|e| e.to_string()),
            limits,
        });
        Page {
            html,
            findings: diagnosis.findings.len(),
            streams_drawn: tracks.len().min(max_streams),
            finding_streams: diagnosis
                .findings
                .iter()
                .flat_map(|f| f.streams())
                .collect(),
        }
    }
}
