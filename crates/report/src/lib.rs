//! tshark-compatible views of a capture, computed in one streaming pass.
//!
//! Three views, each a small state machine fed one [`keepsight_engine::Frame`] at a time and
//! rendered at the end:
//! - [`expert`]: tshark's `-z expert` table for the TCP expert items, plus keepsight's own
//!   diagnosis findings as a separate group;
//! - [`conv`]: tshark's `-z conv,tcp` table, plus how each conversation ended, its longest idle
//!   gap and its heartbeat period;
//! - [`follow`]: tshark's `-z follow,tcp,ascii|hex|raw` output for one stream.
//!
//! The numbers follow tshark 4.0.17 (the oracle of the differential tests in
//! `crates/cli/tests/views_*.rs`); where the layout or content differs, the module says so.
//!
//! What this crate is not: it does not read files or parse command lines (the CLI does), it
//! does not dissect or track TCP (`keepsight-engine` / `keepsight-tcp` do), and it keeps no
//! per-packet state: memory grows with the number of conversations (`conv`, `expert` for the
//! diagnosis group) or with one stream's out-of-order data (`follow`), never with file size.

pub mod conv;
pub mod expert;
pub mod follow;
pub mod segment;
