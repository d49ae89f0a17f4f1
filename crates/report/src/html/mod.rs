//! `keepsight report`: one self-contained HTML file (inline CSS, JS and SVG; nothing fetched when
//! it is opened) that puts the diagnosis first and the evidence under it.
//!
//! The page is built from the outputs of the other analyses of the same streaming pass — the
//! diagnosis ([`keepsight_diagnose::Report`]), the HTTP analysis ([`keepsight_http::Report`]),
//! the conversation table ([`crate::conv`]) — plus per-stream timeline sketches collected here
//! ([`collect::Timelines`]). Static HTML carries the summary and the findings (readable even with
//! scripts off); a small vanilla script draws the timelines, heartbeat charts and sortable tables
//! from one embedded JSON blob.
//!
//! Size is bounded whatever the capture: at most `max_streams` streams are drawn in detail (the
//! others are named), each with at most [`collect::BUCKETS`] packet buckets,
//! [`collect::POINTS`] heartbeat points and [`collect::EXCHANGES`] HTTP exchanges drawn one by
//! one (the rest counted per bucket); findings, conversations and HTTP connections are capped
//! with a note saying how many were left out. Keep-alive probes are drawn answered (joined to
//! the peer's keep-alive ACK) or unanswered, as tshark's `keep_alive` / `keep_alive_ack` say.
//!
//! What it is not: it does not analyse anything itself (every verdict comes from
//! `keepsight-diagnose` / `keepsight-http`), and it reads no file.

pub mod collect;
mod page;
mod pass;

pub use collect::{Timelines, Track};
pub use page::{render, Input, Limits};
pub use pass::{Page, ReportPass};
