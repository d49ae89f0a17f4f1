//! WebSocket (RFC 6455) without I/O: the HTTP/1.1 upgrade that starts a WebSocket connection
//! (`upgrade`), frame headers, unmasking and close bodies (`frame`), and frames cut from one
//! direction's in-order bytes (`reasm`), whatever carries them (cleartext TCP now, decrypted
//! TLS later). The engine (fields, columns) and diagnose (heartbeats, closes) each feed it.
//!
//! What this crate is not: TCP state, judging heartbeats, printing.

pub mod frame;
pub mod reasm;
pub mod upgrade;

pub use frame::{CloseBody, FrameHeader, Opcode};
pub use reasm::{Direction, Item, SegmentRole};
