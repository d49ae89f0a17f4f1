//! The TLS record layer on a TCP stream, without keys: zero-copy views of records, handshake
//! messages and hello extensions ([`record`]), a per-direction record reassembler for records
//! split across segments or several to a segment ([`reasm`]), and the session facts a record
//! stream reveals in clear (negotiated version, which side has switched to encryption) that
//! tshark 4.0.17 uses to name records ([`session`]).
//!
//! A stream is TLS when its first payload starts with a handshake record carrying a Client
//! Hello or Server Hello ([`record::starts_handshake`]), on any port.
//!
//! With the secrets of an NSS key log ([`keylog::KeyLog`], `SSLKEYLOGFILE`), a
//! [`decrypt::Decryptor`] per stream opens its encrypted records (TLS 1.2 and 1.3, AES-GCM and
//! ChaCha20-Poly1305). Decrypted application data, per direction and in order, is what an
//! HTTP/1 or HTTP/2 parser of an HTTPS stream consumes:
//!
//! ```no_run
//! # use keepsight_tls::{ContentType, Decryptor, KeyLog, Opened, Record};
//! # let (keys, records): (KeyLog, Vec<(usize, Record<'_>)>) = todo!();
//! let mut stream = Decryptor::new();
//! let mut plaintext = Vec::new();
//! for (dir, record) in records {
//!     if let Opened::Plain { content_type: ContentType::APPLICATION_DATA, data } =
//!         stream.record(&keys, dir, &record, &mut plaintext)
//!     {
//!         // `data`: the next application bytes of direction `dir`.
//!     }
//! }
//! ```
//!
//! What this crate is not: it prints nothing and tracks no TCP state: callers
//! (keepsight-engine for fields and columns, keepsight-diagnose for heartbeats and closes) feed
//! it in-order payload with its sequence number.

pub mod decrypt;
pub mod keylog;
pub mod reasm;
pub mod record;
pub mod session;

pub use decrypt::{Decryptor, Opened};
pub use keylog::{KeyLog, KeyLogError};
pub use reasm::{Direction, Pushed, SegmentRole};
pub use record::{ContentType, Record};
pub use session::{RecordContext, Session};
