//! What a record stream reveals in clear and tshark uses to name records: the version the
//! Server Hello settled, and, per direction, whether a Change Cipher Spec switched it to
//! encryption (after which alerts and handshake messages are opaque).

use crate::record::{handshake_type, ContentType, Hello, Record};

/// The session state both directions share.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Session {
    /// The negotiated version (0 until a Server Hello is seen).
    pub version: u16,
    /// Per direction: a Change Cipher Spec was sent, so what follows is encrypted.
    pub encrypted: [bool; 2],
}

/// How one record is to be read, given what came before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordContext {
    /// The session's version once this record is taken into account.
    pub version: u16,
    /// The record's body is encrypted (an alert or handshake after Change Cipher Spec).
    pub encrypted: bool,
    /// TLS 1.3 application_data: tshark names its type `tls.record.opaque_type`.
    pub opaque: bool,
}

impl Session {
    /// Takes record `r` sent in direction `dir` (0 or 1) into account and says how to read it.
    pub fn observe(&mut self, dir: usize, r: &Record<'_>) -> RecordContext {
        let encrypted = self.encrypted[dir & 1];
        let t = r.content_type();
        if t == ContentType::HANDSHAKE && !encrypted {
            for h in r.handshakes() {
                if h.msg_type == handshake_type::SERVER_HELLO {
                    if let Some(hello) = Hello::parse(h.body, false) {
                        self.version = hello.negotiated_version();
                    }
                }
            }
        }
        if t == ContentType::CHANGE_CIPHER_SPEC {
            self.encrypted[dir & 1] = true;
        }
        RecordContext {
            version: self.version,
            encrypted,
            opaque: t == ContentType::APPLICATION_DATA && self.version == 0x0304,
        }
    }

    /// The protocol name tshark's Protocol column shows after record `r` with `ctx`: the
    /// negotiated version once known, else the record's own.
    pub fn protocol_name(r: &Record<'_>, ctx: &RecordContext) -> &'static str {
        crate::record::version_name(if ctx.version != 0 {
            ctx.version
        } else {
            r.version()
        })
    }
}
