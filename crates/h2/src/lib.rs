//! HTTP/2 on a byte stream, sans-IO: the connection preface ([`preface`]), frames cut out of
//! each direction's in-order bytes whatever the segment or record boundaries ([`reasm`]),
//! typed views of the ten frame types of RFC 9113 ([`frame`]), and header blocks decoded with
//! HPACK under fixed bounds ([`headers`]).
//!
//! The input is in-order payload per direction, from any source: cleartext TCP (prior
//! knowledge h2c, or after `Upgrade: h2c`), or the plaintext of decrypted TLS records. A TCP
//! caller turns sequence-numbered segments into in-order bytes with [`reasm::InOrder`].
//!
//! What this crate is not: it prints nothing, keeps no connection-level analysis (which PING
//! a PING ACK answers, what a GOAWAY means: keepsight-diagnose does that) and tracks no TCP
//! state.

pub mod frame;
pub mod headers;
pub mod preface;
pub mod reasm;

pub use frame::{ErrorCode, Frame, FrameHeader, FrameType};
pub use headers::{HeaderBlocks, HeaderList, HeadersOutcome};
pub use reasm::{Direction, InOrder, Item, SegmentRole};
