//! The TLS record layer on a TCP stream, without keys: zero-copy views of records, handshake
//! messages and hello extensions ([`record`]), a per-direction record reassembler for records
//! split across segments or several to a segment ([`reasm`]), and the session facts a record
//! stream reveals in clear (negotiated version, which side has switched to encryption) that
//! tshark 4.0.17 uses to name records ([`session`]).
//!
//! A stream is TLS when its first payload starts with a handshake record carrying a Client
//! Hello or Server Hello ([`record::starts_handshake`]), on any port.
//!
//! What this crate is not: it decrypts nothing, prints nothing and tracks no TCP state: callers
//! (keepsight-engine for fields and columns, keepsight-diagnose for heartbeats and closes) feed
//! it in-order payload with its sequence number.

pub mod reasm;
pub mod record;
pub mod session;

pub use reasm::{Direction, Pushed, SegmentRole};
pub use record::{ContentType, Record};
pub use session::{RecordContext, Session};
