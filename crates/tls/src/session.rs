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
        // In TLS 1.3 Change Cipher Spec is a dummy for middleboxes (RFC 8446 D.4): what
        // follows may still be clear (a second Client Hello after a Hello Retry Request).
        if t == ContentType::CHANGE_CIPHER_SPEC && self.version != 0x0304 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::HELLO_RETRY_REQUEST_RANDOM;

    fn server_hello(random: [u8; 32], version: u16) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend(random);
        body.extend([0, 0x13, 0x01, 0, 0, 6, 0, 43, 0, 2]);
        body.extend(version.to_be_bytes());
        let mut hs = vec![2, 0, 0, body.len() as u8];
        hs.extend(body);
        let mut rec = vec![22, 3, 3, 0, hs.len() as u8];
        rec.extend(hs);
        rec
    }

    #[test]
    fn tls13_change_cipher_spec_is_a_dummy_and_hrr_is_named() {
        let mut s = Session::default();
        let hrr = server_hello(HELLO_RETRY_REQUEST_RANDOM, 0x0304);
        let (r, _) = Record::split(&hrr).unwrap();
        assert_eq!(r.handshakes().next().unwrap().name(), "Hello Retry Request");
        s.observe(1, &r);
        assert_eq!(s.version, 0x0304);
        let ccs = [20, 3, 3, 0, 1, 1];
        s.observe(0, &Record::split(&ccs).unwrap().0);
        // The second Client Hello after the dummy CCS is still read in clear.
        let hello = [22, 3, 3, 0, 4, 1, 0, 0, 0];
        assert!(!s.observe(0, &Record::split(&hello).unwrap().0).encrypted);
        let sh = server_hello([1; 32], 0x0304);
        let (r, _) = Record::split(&sh).unwrap();
        assert_eq!(r.handshakes().next().unwrap().name(), "Server Hello");
    }

    #[test]
    fn tls12_change_cipher_spec_encrypts_its_direction_only() {
        let mut s = Session::default();
        s.observe(1, &Record::split(&server_hello([1; 32], 0x0303)).unwrap().0);
        let ccs = [20, 3, 3, 0, 1, 1];
        s.observe(0, &Record::split(&ccs).unwrap().0);
        let alert = [21, 3, 3, 0, 2, 1, 0];
        assert!(s.observe(0, &Record::split(&alert).unwrap().0).encrypted);
        assert!(!s.observe(1, &Record::split(&alert).unwrap().0).encrypted);
    }
}
