//! TLS on the wire: well-formed record headers and cleartext handshake messages (what tshark
//! dissects field by field), random bytes wherever real TLS would be encrypted, and the sizes
//! encryption adds. Nothing is really encrypted: the generator has no keys to hand out.

use crate::rng::Rng;

/// Record content types.
pub(crate) const CHANGE_CIPHER_SPEC: u8 = 20;
pub(crate) const ALERT: u8 = 21;
pub(crate) const HANDSHAKE: u8 = 22;
pub(crate) const APPLICATION_DATA: u8 = 23;

/// Handshake message types.
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
const CERTIFICATE: u8 = 11;
const SERVER_KEY_EXCHANGE: u8 = 12;
const SERVER_HELLO_DONE: u8 = 14;
const CLIENT_KEY_EXCHANGE: u8 = 16;

const TLS10: u16 = 0x0301;
const TLS12: u16 = 0x0303;
const TLS13: u16 = 0x0304;
const X25519: u16 = 0x001d;

/// Largest plaintext a record carries (RFC 8446 §5.1).
pub(crate) const MAX_PLAINTEXT: usize = 1 << 14;

/// The test-only certificate chain every server presents (made for this generator with
/// `openssl req`; its keys were thrown away): a leaf for api.example.com and hb.example.com,
/// and its root.
const LEAF_DER: &[u8] = include_bytes!("leaf.der");
const ROOT_DER: &[u8] = include_bytes!("ca.der");

/// What the client offers, strongest first: the TLS 1.3 suites, then ECDHE with AES-GCM and
/// ChaCha20-Poly1305, then a CBC suite for old servers.
const OFFERED_SUITES: &[u16] = &[
    0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c,
    0x009d, 0x002f, 0x0035,
];
const SIGNATURE_ALGORITHMS: &[u16] = &[
    0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
];
const GROUPS: &[u16] = &[X25519, 0x0017, 0x0018];

/// The negotiated protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    Tls12,
    Tls13,
}

/// What a connection negotiates.
#[derive(Clone, Debug)]
pub(crate) struct Params {
    pub(crate) version: Version,
    pub(crate) suite: u16,
    pub(crate) sni: &'static str,
    /// ALPN protocols the client offers (none: no extension).
    pub(crate) alpn_offered: &'static [&'static str],
    /// The one the server picks.
    pub(crate) alpn: Option<&'static str>,
    /// The client can do TLS 1.3 (sends supported_versions and key_share).
    pub(crate) client_tls13: bool,
}

impl Params {
    /// Bytes a record adds to its plaintext: TLS 1.3 AEAD (inner content type and a 16-byte
    /// tag), TLS 1.2 AES-GCM (8-byte explicit nonce and tag) or ChaCha20-Poly1305 (tag only).
    pub(crate) fn overhead(&self) -> usize {
        match (self.version, self.suite) {
            (Version::Tls13, _) => 17,
            (Version::Tls12, 0xcca8 | 0xcca9) => 16,
            (Version::Tls12, _) => 24,
        }
    }

    /// A protected record's body length for `plaintext` bytes.
    pub(crate) fn sealed_len(&self, plaintext: usize) -> usize {
        plaintext + self.overhead()
    }

    /// An encrypted close_notify: TLS 1.3 hides it in an application-data record.
    pub(crate) fn close_notify(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        let ty = match self.version {
            Version::Tls13 => APPLICATION_DATA,
            Version::Tls12 => ALERT,
        };
        opaque_record(rng, out, ty, self.sealed_len(2));
    }

    /// Application data carrying `plaintext` bytes (split into records of at most 2^14).
    pub(crate) fn app_data(&self, rng: &mut Rng, out: &mut Vec<u8>, mut plaintext: usize) {
        while plaintext > 0 {
            let n = plaintext.min(MAX_PLAINTEXT);
            opaque_record(rng, out, APPLICATION_DATA, self.sealed_len(n));
            plaintext -= n;
        }
    }
}

fn u16be(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn u24be(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
}

fn random(rng: &mut Rng, out: &mut Vec<u8>, n: usize) {
    let start = out.len();
    out.resize(start + n, 0);
    rng.fill(&mut out[start..]);
}

/// Appends `body(out)` preceded by its length as a big-endian integer of `width` bytes.
fn prefixed(out: &mut Vec<u8>, width: usize, body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.resize(at + width, 0);
    body(out);
    let len = out.len() - at - width;
    let bytes = (len as u32).to_be_bytes();
    out[at..at + width].copy_from_slice(&bytes[4 - width..]);
}

fn extension(out: &mut Vec<u8>, ty: u16, body: impl FnOnce(&mut Vec<u8>)) {
    u16be(out, ty);
    prefixed(out, 2, body);
}

/// A record of `ty` whose `len` body bytes are random (encrypted, as far as anyone can tell).
pub(crate) fn opaque_record(rng: &mut Rng, out: &mut Vec<u8>, ty: u8, len: usize) {
    out.push(ty);
    u16be(out, TLS12);
    u16be(out, len as u16);
    random(rng, out, len);
}

/// A cleartext record holding the handshake messages `body` writes.
fn handshake_record(out: &mut Vec<u8>, version: u16, body: impl FnOnce(&mut Vec<u8>)) {
    out.push(HANDSHAKE);
    u16be(out, version);
    prefixed(out, 2, body);
}

fn message(out: &mut Vec<u8>, ty: u8, body: impl FnOnce(&mut Vec<u8>)) {
    out.push(ty);
    prefixed(out, 3, body);
}

/// ChangeCipherSpec: TLS 1.2's switch to the new keys, TLS 1.3's middlebox-compatibility one.
pub(crate) fn change_cipher_spec(out: &mut Vec<u8>) {
    out.extend_from_slice(&[CHANGE_CIPHER_SPEC, 0x03, 0x03, 0x00, 0x01, 0x01]);
}

/// A cleartext fatal alert (the server refusing a handshake).
pub(crate) fn fatal_alert(out: &mut Vec<u8>, description: u8) {
    out.extend_from_slice(&[ALERT, 0x03, 0x03, 0x00, 0x02, 0x02, description]);
}

/// The ClientHello in a record of its own (record version TLS 1.0, as browsers and OpenSSL
/// send it).
pub(crate) fn client_hello(rng: &mut Rng, p: &Params, out: &mut Vec<u8>) {
    handshake_record(out, TLS10, |out| {
        message(out, CLIENT_HELLO, |out| {
            u16be(out, TLS12);
            random(rng, out, 32);
            // A TLS 1.3 client sends a legacy session id (middlebox compatibility mode).
            let session_id = if p.client_tls13 { 32 } else { 0 };
            out.push(session_id as u8);
            random(rng, out, session_id);
            let suites = if p.client_tls13 {
                OFFERED_SUITES
            } else {
                &OFFERED_SUITES[3..]
            };
            prefixed(out, 2, |out| suites.iter().for_each(|s| u16be(out, *s)));
            out.extend_from_slice(&[1, 0]);
            prefixed(out, 2, |out| {
                extension(out, 0, |out| {
                    prefixed(out, 2, |out| {
                        out.push(0);
                        prefixed(out, 2, |out| out.extend_from_slice(p.sni.as_bytes()));
                    })
                });
                extension(out, 11, |out| out.extend_from_slice(&[1, 0]));
                extension(out, 10, |out| {
                    prefixed(out, 2, |out| GROUPS.iter().for_each(|g| u16be(out, *g)))
                });
                extension(out, 35, |_| {});
                if !p.alpn_offered.is_empty() {
                    extension(out, 16, |out| alpn_list(out, p.alpn_offered));
                }
                extension(out, 22, |_| {});
                extension(out, 23, |_| {});
                extension(out, 13, |out| {
                    prefixed(out, 2, |out| {
                        SIGNATURE_ALGORITHMS.iter().for_each(|s| u16be(out, *s))
                    })
                });
                if p.client_tls13 {
                    extension(out, 43, |out| {
                        prefixed(out, 1, |out| {
                            u16be(out, TLS13);
                            u16be(out, TLS12);
                        })
                    });
                    extension(out, 45, |out| out.extend_from_slice(&[1, 1]));
                    extension(out, 51, |out| {
                        prefixed(out, 2, |out| {
                            u16be(out, X25519);
                            prefixed(out, 2, |out| random(rng, out, 32));
                        })
                    });
                }
            });
        })
    });
}

fn alpn_list(out: &mut Vec<u8>, protocols: &[&str]) {
    prefixed(out, 2, |out| {
        for proto in protocols {
            prefixed(out, 1, |out| out.extend_from_slice(proto.as_bytes()));
        }
    });
}

/// The server's first flight, as one write: ServerHello and, for TLS 1.3, the compatibility
/// ChangeCipherSpec and the encrypted EncryptedExtensions, Certificate, CertificateVerify and
/// Finished (one record each); for TLS 1.2, Certificate, ServerKeyExchange and
/// ServerHelloDone in the same cleartext record.
pub(crate) fn server_flight(rng: &mut Rng, p: &Params, client_session_id: bool, out: &mut Vec<u8>) {
    handshake_record(out, TLS12, |out| {
        message(out, SERVER_HELLO, |out| {
            u16be(out, TLS12);
            random(rng, out, 32);
            // TLS 1.3 echoes the client's legacy session id; TLS 1.2 names a new session.
            let session_id = if p.version == Version::Tls13 && !client_session_id {
                0
            } else {
                32
            };
            out.push(session_id as u8);
            random(rng, out, session_id);
            u16be(out, p.suite);
            out.push(0);
            prefixed(out, 2, |out| match p.version {
                Version::Tls13 => {
                    extension(out, 51, |out| {
                        u16be(out, X25519);
                        prefixed(out, 2, |out| random(rng, out, 32));
                    });
                    extension(out, 43, |out| u16be(out, TLS13));
                }
                Version::Tls12 => {
                    extension(out, 0xff01, |out| out.push(0));
                    extension(out, 11, |out| out.extend_from_slice(&[1, 0]));
                    extension(out, 23, |_| {});
                    if let Some(alpn) = p.alpn {
                        extension(out, 16, |out| alpn_list(out, &[alpn]));
                    }
                }
            });
        });
        if p.version == Version::Tls12 {
            certificate(out);
            message(out, SERVER_KEY_EXCHANGE, |out| {
                out.push(3); // named_curve
                u16be(out, X25519);
                prefixed(out, 1, |out| random(rng, out, 32));
                u16be(out, 0x0804); // rsa_pss_rsae_sha256
                prefixed(out, 2, |out| random(rng, out, 256));
            });
            message(out, SERVER_HELLO_DONE, |_| {});
        }
    });
    if p.version == Version::Tls13 {
        change_cipher_spec(out);
        let alpn_ext = p.alpn.map_or(0, |a| 4 + 2 + 1 + a.len());
        let mut cert = Vec::new();
        certificate(&mut cert);
        // EncryptedExtensions, Certificate (with a request context and per-entry extensions),
        // CertificateVerify (RSA-PSS, 256 bytes), Finished (SHA-256).
        for plaintext in [4 + 2 + alpn_ext, cert.len() + 1 + 4, 4 + 4 + 256, 4 + 32] {
            opaque_record(rng, out, APPLICATION_DATA, p.sealed_len(plaintext));
        }
    }
}

fn certificate(out: &mut Vec<u8>) {
    message(out, CERTIFICATE, |out| {
        prefixed(out, 3, |out| {
            for der in [LEAF_DER, ROOT_DER] {
                u24be(out, der.len());
                out.extend_from_slice(der);
            }
        })
    });
}

/// The client's second flight: TLS 1.2's ClientKeyExchange, ChangeCipherSpec and encrypted
/// Finished; TLS 1.3's compatibility ChangeCipherSpec and encrypted Finished.
pub(crate) fn client_finish(rng: &mut Rng, p: &Params, out: &mut Vec<u8>) {
    if p.version == Version::Tls12 {
        handshake_record(out, TLS12, |out| {
            message(out, CLIENT_KEY_EXCHANGE, |out| {
                prefixed(out, 1, |out| random(rng, out, 32))
            })
        });
    }
    change_cipher_spec(out);
    finished(rng, p, out);
}

/// The encrypted Finished: a handshake record in TLS 1.2, application data in TLS 1.3.
pub(crate) fn finished(rng: &mut Rng, p: &Params, out: &mut Vec<u8>) {
    match p.version {
        Version::Tls12 => opaque_record(rng, out, HANDSHAKE, p.sealed_len(16)),
        Version::Tls13 => opaque_record(rng, out, APPLICATION_DATA, p.sealed_len(36)),
    }
}

/// TLS 1.3 NewSessionTicket messages, after the client's Finished (OpenSSL sends two).
pub(crate) fn session_tickets(rng: &mut Rng, p: &Params, out: &mut Vec<u8>) {
    for _ in 0..2 {
        opaque_record(
            rng,
            out,
            APPLICATION_DATA,
            p.sealed_len(4 + 4 + 4 + 9 + 2 + 192 + 2),
        );
    }
}
