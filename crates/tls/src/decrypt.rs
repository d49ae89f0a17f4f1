//! Decrypting one TLS stream's records with the secrets of a [`KeyLog`]: TLS 1.2 AEAD suites
//! (AES-128/256-GCM and ChaCha20-Poly1305, keys expanded from the master secret with the PRF
//! and both hello randoms, RFC 5246 §6.3 / RFC 5288 / RFC 7905) and TLS 1.3
//! (`TLS_AES_128_GCM_SHA256`, `TLS_AES_256_GCM_SHA384`, `TLS_CHACHA20_POLY1305_SHA256`: keys
//! from the logged traffic secrets with HKDF-Expand-Label, handshake then application keys,
//! key updates, the inner content type, RFC 8446 §5 and §7).
//!
//! The ciphers, HMAC and HKDF are RustCrypto's; this module is the glue: which key a record
//! needs, its nonce and additional data, and sequence numbers per direction.
//!
//! A [`Decryptor`] is fed every record of both directions in order (after a
//! [`crate::Direction`] cut them out) and answers each with [`Opened`]. A record that cannot be
//! decrypted (no secret logged for the connection, an unsupported suite, an authentication tag
//! that does not match because the secret is wrong) is [`Opened::Opaque`], and the stream keeps
//! one [`Decryptor::note`] saying why: never a panic, and never a guess at bytes.
//!
//! For a consumer of the decrypted bytes (the HTTP/1 analysis, an HTTP/2 parser): the
//! application data of direction `d` is the `data` of every [`Opened::Plain`] whose
//! `content_type` is [`ContentType::APPLICATION_DATA`], in the order the records come;
//! [`Decryptor::client_dir`] says which direction is the client's.

use crate::keylog::{KeyLog, Secrets};
use crate::record::{handshake_type, ContentType, Hello, Record, HELLO_RETRY_REQUEST_RANDOM};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};

/// Bytes of an AEAD authentication tag (all supported suites).
const TAG_LEN: usize = 16;
/// Bytes of the explicit nonce a TLS 1.2 GCM record starts with.
const EXPLICIT_NONCE_LEN: usize = 8;

/// What became of one record.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened<'a> {
    /// The record was sent in clear (before its direction switched to encryption).
    Clear,
    /// The decrypted record: its (inner, for TLS 1.3) content type and plaintext.
    Plain {
        /// The content type of the plaintext: TLS 1.3's inner type, TLS 1.2's record type.
        content_type: ContentType,
        /// The plaintext (TLS 1.3 padding removed).
        data: &'a [u8],
    },
    /// Encrypted and not decrypted: [`Decryptor::note`] says why.
    Opaque,
}

/// The AEAD of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AeadKind {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl AeadKind {
    fn key_len(self) -> usize {
        match self {
            AeadKind::Aes128Gcm => 16,
            AeadKind::Aes256Gcm | AeadKind::ChaCha20Poly1305 => 32,
        }
    }
}

/// A cipher suite this module decrypts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Suite {
    aead: AeadKind,
    /// The PRF / HKDF hash is SHA-384 (else SHA-256).
    sha384: bool,
}

impl Suite {
    /// The suite `id` if decryptable: TLS 1.3's three, and TLS 1.2's AEAD suites with ECDHE,
    /// DHE or RSA key exchange (the master secret comes from the key log either way).
    fn of(id: u16) -> Option<Suite> {
        let (aead, sha384) = match id {
            0x1301 => (AeadKind::Aes128Gcm, false),
            0x1302 => (AeadKind::Aes256Gcm, true),
            0x1303 => (AeadKind::ChaCha20Poly1305, false),
            0xc02b | 0xc02f | 0x009e | 0x009c => (AeadKind::Aes128Gcm, false),
            0xc02c | 0xc030 | 0x009f | 0x009d => (AeadKind::Aes256Gcm, true),
            0xcca8..=0xccaa => (AeadKind::ChaCha20Poly1305, false),
            _ => return None,
        };
        Some(Suite { aead, sha384 })
    }
}

/// A keyed AEAD.
#[derive(Clone)]
enum Cipher {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
}

impl Cipher {
    fn new(kind: AeadKind, key: &[u8]) -> Option<Cipher> {
        Some(match kind {
            AeadKind::Aes128Gcm => Cipher::Aes128(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
            AeadKind::Aes256Gcm => Cipher::Aes256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
            AeadKind::ChaCha20Poly1305 => {
                Cipher::ChaCha(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?))
            }
        })
    }

    /// Decrypts `buf` in place; false when the tag does not match.
    fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> bool {
        let n = aes_gcm::Nonce::from_slice(nonce);
        let t = aes_gcm::Tag::from_slice(tag);
        match self {
            Cipher::Aes128(c) => c.decrypt_in_place_detached(n, aad, buf, t).is_ok(),
            Cipher::Aes256(c) => c.decrypt_in_place_detached(n, aad, buf, t).is_ok(),
            Cipher::ChaCha(c) => c.decrypt_in_place_detached(n, aad, buf, t).is_ok(),
        }
    }
}

/// Where a direction is in its key schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Records are in clear.
    Clear,
    /// TLS 1.3 handshake traffic keys (or TLS 1.2's only keys).
    Handshake,
    /// TLS 1.3 application traffic keys (TLS 1.2 after Change Cipher Spec).
    Application,
    /// Gave up on this direction (no key, or a record that would not decrypt).
    Failed,
}

/// One direction's keys and sequence number.
#[derive(Clone)]
struct DirKeys {
    phase: Phase,
    cipher: Option<Cipher>,
    /// The static IV (TLS 1.3, ChaCha20) or the 4-byte salt (TLS 1.2 GCM) in its first bytes.
    iv: [u8; 12],
    seq: u64,
    /// TLS 1.3: the current application traffic secret, for key updates.
    secret: Vec<u8>,
    /// Records of this direction so far, for notes.
    records: u64,
}

impl Default for DirKeys {
    fn default() -> Self {
        DirKeys {
            phase: Phase::Clear,
            cipher: None,
            iv: [0; 12],
            seq: 0,
            secret: Vec::new(),
            records: 0,
        }
    }
}

/// The longest ALPN protocol name kept (the registered ones are at most 16 bytes).
const ALPN_MAX: usize = 32;

/// One TLS stream's decryption state (both directions).
#[derive(Clone, Default)]
pub struct Decryptor {
    client_random: Option<[u8; 32]>,
    server_random: Option<[u8; 32]>,
    client_dir: Option<usize>,
    version: u16,
    suite_id: u16,
    dirs: [DirKeys; 2],
    /// The protocol the server chose by ALPN (Server Hello, or TLS 1.3's Encrypted
    /// Extensions), at most [`ALPN_MAX`] bytes.
    alpn: [u8; ALPN_MAX],
    alpn_len: u8,
    note: Option<String>,
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("version", &self.version)
            .field("suite", &self.suite_id)
            .field("note", &self.note)
            .finish_non_exhaustive()
    }
}

impl Decryptor {
    /// A stream whose first record is yet to come.
    pub fn new() -> Decryptor {
        Decryptor::default()
    }

    /// The direction (0 or 1) that sent the Client Hello, once seen.
    pub fn client_dir(&self) -> Option<usize> {
        self.client_dir
    }

    /// The application protocol the server chose by ALPN (`http/1.1`, `h2`), once its
    /// Server Hello (TLS 1.2) or decrypted Encrypted Extensions (TLS 1.3) was seen.
    pub fn alpn(&self) -> Option<&[u8]> {
        (self.alpn_len > 0).then(|| &self.alpn[..usize::from(self.alpn_len)])
    }

    fn alpn_from(&mut self, hello: &Hello<'_>) {
        if let Some(name) = hello.alpn().next() {
            let n = name.len().min(ALPN_MAX);
            self.alpn[..n].copy_from_slice(&name[..n]);
            self.alpn_len = n as u8;
        }
    }

    /// Why records of this stream were left encrypted, if some were: the first reason met.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// Takes record `r`, sent in direction `dir` (0 or 1), and decrypts it into `buf` when it
    /// is encrypted and `keys` holds its connection's secrets. `buf` is the caller's scratch
    /// space, shared by every stream it decrypts (so an idle stream holds no plaintext); its
    /// previous content is replaced.
    pub fn record<'b>(
        &mut self,
        keys: &KeyLog,
        dir: usize,
        r: &Record<'_>,
        buf: &'b mut Vec<u8>,
    ) -> Opened<'b> {
        let dir = dir & 1;
        self.dirs[dir].records += 1;
        let t = r.content_type();
        if self.dirs[dir].phase == Phase::Clear {
            if t == ContentType::HANDSHAKE {
                self.clear_handshake(keys, dir, r);
            } else if t == ContentType::CHANGE_CIPHER_SPEC
                && self.version != 0
                && self.version != 0x0304
            {
                self.start_tls12(keys, dir);
            }
            if self.dirs[dir].phase == Phase::Clear
                || t == ContentType::CHANGE_CIPHER_SPEC
                || t == ContentType::HANDSHAKE
            {
                return Opened::Clear;
            }
        }
        // TLS 1.3 middlebox-compatibility Change Cipher Spec records stay in clear.
        if t == ContentType::CHANGE_CIPHER_SPEC {
            return Opened::Clear;
        }
        match self.open(dir, r, buf) {
            Some((content_type, len)) => Opened::Plain {
                content_type,
                data: &buf[..len],
            },
            None => Opened::Opaque,
        }
    }

    /// A cleartext handshake record: the randoms, the suite and the version, and for TLS 1.3
    /// the handshake keys once the Server Hello is in.
    fn clear_handshake(&mut self, keys: &KeyLog, dir: usize, r: &Record<'_>) {
        for h in r.handshakes() {
            let client = h.msg_type == handshake_type::CLIENT_HELLO;
            if !client && h.msg_type != handshake_type::SERVER_HELLO {
                continue;
            }
            let Some(random) = h.body.get(2..34).and_then(|b| <[u8; 32]>::try_from(b).ok()) else {
                continue;
            };
            let Some(hello) = Hello::parse(h.body, client) else {
                continue;
            };
            if client {
                self.client_random = Some(random);
                self.client_dir = Some(dir);
                continue;
            }
            if random == HELLO_RETRY_REQUEST_RANDOM {
                // The version is settled (so the client's dummy Change Cipher Spec that may
                // follow is not read as TLS 1.2's), the keys come with the real Server Hello.
                self.version = hello.negotiated_version();
                continue;
            }
            self.alpn_from(&hello);
            self.server_random = Some(random);
            self.suite_id = hello.suites().next().unwrap_or(0);
            self.version = hello.negotiated_version();
            if self.version == 0x0304 {
                self.start_tls13(keys);
            }
        }
    }

    /// The connection's secrets, or a note saying why there are none.
    fn secrets<'k>(&mut self, keys: &'k KeyLog) -> Option<(&'k Secrets, Suite)> {
        let Some(random) = self.client_random else {
            self.note_once(|| "the Client Hello was not captured, so no key log entry can be found for this stream".to_owned());
            return None;
        };
        let Some(suite) = Suite::of(self.suite_id) else {
            let id = self.suite_id;
            self.note_once(|| format!("cipher suite 0x{id:04x} is not one keepsight decrypts (TLS 1.2/1.3 AES-GCM and ChaCha20-Poly1305 only)"));
            return None;
        };
        match keys.secrets(&random) {
            Some(s) => Some((s, suite)),
            None => {
                self.note_once(|| {
                    format!(
                        "no secret for this stream in the key log (client random {})",
                        hex(&random)
                    )
                });
                None
            }
        }
    }

    /// TLS 1.3 after the Server Hello: both directions switch to their handshake keys.
    fn start_tls13(&mut self, keys: &KeyLog) {
        let Some(client) = self.client_dir else {
            self.secrets(keys);
            return;
        };
        let Some((secrets, suite)) = self.secrets(keys) else {
            for d in &mut self.dirs {
                d.phase = Phase::Failed;
            }
            return;
        };
        let want = [
            (client, &secrets.client_handshake, &secrets.client_traffic),
            (
                1 - client,
                &secrets.server_handshake,
                &secrets.server_traffic,
            ),
        ];
        for (dir, handshake, traffic) in want {
            let d = &mut self.dirs[dir];
            d.seq = 0;
            d.secret = traffic.clone().unwrap_or_default();
            match handshake.as_deref().and_then(|s| tls13_keys(suite, s)) {
                Some((cipher, iv)) => {
                    d.cipher = Some(cipher);
                    d.iv = iv;
                    d.phase = Phase::Handshake;
                }
                // Without the handshake secret the application keys may still be there:
                // the handshake records are then skipped until one opens with them.
                None => {
                    d.cipher = None;
                    d.phase = Phase::Handshake;
                }
            }
        }
    }

    /// TLS 1.2 Change Cipher Spec from `dir`: that direction's keys, from the master secret.
    fn start_tls12(&mut self, keys: &KeyLog, dir: usize) {
        let Some(client) = self.client_dir else {
            self.secrets(keys);
            self.dirs[dir].phase = Phase::Failed;
            return;
        };
        let Some((secrets, suite)) = self.secrets(keys) else {
            self.dirs[dir].phase = Phase::Failed;
            return;
        };
        let (Some(master), Some(cr), Some(sr)) =
            (secrets.master, self.client_random, self.server_random)
        else {
            self.note_once(|| "the key log has no CLIENT_RANDOM master secret for this TLS 1.2 stream (or its Server Hello was not captured)".to_owned());
            self.dirs[dir].phase = Phase::Failed;
            return;
        };
        let key_len = suite.aead.key_len();
        let iv_len = if suite.aead == AeadKind::ChaCha20Poly1305 {
            12
        } else {
            4
        };
        let mut block = [0u8; 2 * 32 + 2 * 12];
        let block = &mut block[..2 * (key_len + iv_len)];
        let mut seed = [0u8; 64];
        seed[..32].copy_from_slice(&sr);
        seed[32..].copy_from_slice(&cr);
        if suite.sha384 {
            prf::<Hmac<Sha384>>(&master, b"key expansion", &seed, block);
        } else {
            prf::<Hmac<Sha256>>(&master, b"key expansion", &seed, block);
        }
        let from_client = dir == client;
        let key_at = if from_client { 0 } else { key_len };
        let iv_at = 2 * key_len + if from_client { 0 } else { iv_len };
        let d = &mut self.dirs[dir];
        d.cipher = Cipher::new(suite.aead, &block[key_at..key_at + key_len]);
        d.iv = [0; 12];
        d.iv[..iv_len].copy_from_slice(&block[iv_at..iv_at + iv_len]);
        d.seq = 0;
        d.phase = Phase::Application;
    }

    /// Decrypts an encrypted record into `buf`: its content type and plaintext length.
    fn open(
        &mut self,
        dir: usize,
        r: &Record<'_>,
        buf: &mut Vec<u8>,
    ) -> Option<(ContentType, usize)> {
        let tls13 = self.version == 0x0304;
        let phase = self.dirs[dir].phase;
        if phase == Phase::Failed {
            return None;
        }
        if tls13 {
            if let Some(opened) = self.open_tls13(dir, r, buf) {
                return Some(opened);
            }
            // The handshake ends with Finished; when that message was missed (or the
            // handshake secret is not logged), the next record opens with the first
            // application key.
            if phase == Phase::Handshake && self.next_tls13_keys(dir) {
                if let Some(opened) = self.open_tls13(dir, r, buf) {
                    return Some(opened);
                }
            }
        } else if let Some(opened) = self.open_tls12(dir, r, buf) {
            return Some(opened);
        }
        let d = &mut self.dirs[dir];
        d.phase = Phase::Failed;
        let had_key = d.cipher.is_some();
        let n = d.records;
        let side = if Some(dir) == self.client_dir {
            "client"
        } else {
            "server"
        };
        self.note_once(|| {
            if had_key {
                format!("record {n} from the {side} did not decrypt (authentication tag mismatch): the key log's secret for this stream is wrong; later records of that direction are left encrypted")
            } else {
                format!("record {n} from the {side} cannot be decrypted: the key log lacks the {side}'s traffic secret for this stream")
            }
        });
        None
    }

    fn open_tls12(
        &mut self,
        dir: usize,
        r: &Record<'_>,
        buf: &mut Vec<u8>,
    ) -> Option<(ContentType, usize)> {
        let d = &mut self.dirs[dir];
        let cipher = d.cipher.as_ref()?;
        let frag = r.fragment();
        let gcm = !matches!(cipher, Cipher::ChaCha(_));
        let explicit = if gcm { EXPLICIT_NONCE_LEN } else { 0 };
        let len = frag.len().checked_sub(explicit + TAG_LEN)?;
        let mut nonce = d.iv;
        if gcm {
            nonce[4..].copy_from_slice(&frag[..EXPLICIT_NONCE_LEN]);
        } else {
            xor_seq(&mut nonce, d.seq);
        }
        let mut aad = [0u8; 13];
        aad[..8].copy_from_slice(&d.seq.to_be_bytes());
        aad[8..11].copy_from_slice(&r.bytes()[..3]);
        aad[11..].copy_from_slice(&(len as u16).to_be_bytes());
        buf.clear();
        buf.extend_from_slice(&frag[explicit..explicit + len]);
        if !cipher.open(&nonce, &aad, buf, &frag[explicit + len..]) {
            return None;
        }
        d.seq += 1;
        Some((r.content_type(), len))
    }

    fn open_tls13(
        &mut self,
        dir: usize,
        r: &Record<'_>,
        buf: &mut Vec<u8>,
    ) -> Option<(ContentType, usize)> {
        let d = &mut self.dirs[dir];
        let cipher = d.cipher.as_ref()?;
        let frag = r.fragment();
        let len = frag.len().checked_sub(TAG_LEN)?;
        let mut nonce = d.iv;
        xor_seq(&mut nonce, d.seq);
        buf.clear();
        buf.extend_from_slice(&frag[..len]);
        if !cipher.open(&nonce, &r.bytes()[..5], buf, &frag[len..]) {
            return None;
        }
        d.seq += 1;
        // TLSInnerPlaintext: content, the real type, then zero padding.
        let end = buf.iter().rposition(|&b| b != 0)?;
        let content_type = ContentType(buf[end]);
        if content_type == ContentType::HANDSHAKE {
            self.after_tls13_handshake(dir, &buf[..end]);
        }
        Some((content_type, end))
    }

    /// A decrypted TLS 1.3 handshake record: Finished ends the direction's handshake keys,
    /// Key Update moves its application keys on (RFC 8446 §7.2).
    fn after_tls13_handshake(&mut self, dir: usize, plain: &[u8]) {
        let mut b = plain;
        let mut finished = false;
        let mut updates = 0;
        let mut alpn = None;
        while b.len() >= 4 {
            let n = 4 + u32::from_be_bytes([0, b[1], b[2], b[3]]) as usize;
            match b[0] {
                8 => {
                    let hello =
                        Hello::encrypted_extensions(b.get(4..n.min(b.len())).unwrap_or(&[]));
                    if let Some(name) = hello.alpn().next() {
                        let mut a = [0u8; ALPN_MAX];
                        let k = name.len().min(ALPN_MAX);
                        a[..k].copy_from_slice(&name[..k]);
                        alpn = Some((a, k as u8));
                    }
                }
                20 => finished = true,
                24 => updates += 1,
                _ => {}
            }
            b = b.get(n..).unwrap_or(&[]);
        }
        if let Some((a, k)) = alpn {
            self.alpn = a;
            self.alpn_len = k;
        }
        if finished && self.dirs[dir].phase == Phase::Handshake {
            self.next_tls13_keys(dir);
        } else if self.dirs[dir].phase == Phase::Application {
            for _ in 0..updates {
                self.next_tls13_keys(dir);
            }
        }
    }

    /// Moves direction `dir` to its next TLS 1.3 keys: from handshake to the first
    /// application keys, or to the next application generation. False when not possible.
    fn next_tls13_keys(&mut self, dir: usize) -> bool {
        let Some(suite) = Suite::of(self.suite_id) else {
            return false;
        };
        let d = &mut self.dirs[dir];
        if d.secret.is_empty() {
            return false;
        }
        if d.phase == Phase::Application {
            let mut next = vec![0u8; d.secret.len()];
            if !hkdf_expand_label(suite, &d.secret, b"traffic upd", &mut next) {
                return false;
            }
            d.secret = next;
        }
        let Some((cipher, iv)) = tls13_keys(suite, &d.secret) else {
            return false;
        };
        d.cipher = Some(cipher);
        d.iv = iv;
        d.seq = 0;
        d.phase = Phase::Application;
        true
    }

    fn note_once(&mut self, why: impl FnOnce() -> String) {
        if self.note.is_none() {
            self.note = Some(why());
        }
    }
}

/// The write key and IV of a TLS 1.3 traffic secret (RFC 8446 §7.3).
fn tls13_keys(suite: Suite, secret: &[u8]) -> Option<(Cipher, [u8; 12])> {
    let mut key = [0u8; 32];
    let key = &mut key[..suite.aead.key_len()];
    let mut iv = [0u8; 12];
    if !hkdf_expand_label(suite, secret, b"key", key)
        || !hkdf_expand_label(suite, secret, b"iv", &mut iv)
    {
        return None;
    }
    Some((Cipher::new(suite.aead, key)?, iv))
}

/// HKDF-Expand-Label(secret, label, "", out.len()) with the suite's hash (RFC 8446 §7.1).
fn hkdf_expand_label(suite: Suite, secret: &[u8], label: &[u8], out: &mut [u8]) -> bool {
    let mut info = [0u8; 2 + 1 + 6 + 16 + 1];
    let full = 6 + label.len();
    info[..2].copy_from_slice(&(out.len() as u16).to_be_bytes());
    info[2] = full as u8;
    info[3..9].copy_from_slice(b"tls13 ");
    info[9..9 + label.len()].copy_from_slice(label);
    info[9 + label.len()] = 0;
    let info = &info[..10 + label.len()];
    if suite.sha384 {
        hkdf::Hkdf::<Sha384>::from_prk(secret)
            .ok()
            .and_then(|h| h.expand(info, out).ok())
            .is_some()
    } else {
        hkdf::Hkdf::<Sha256>::from_prk(secret)
            .ok()
            .and_then(|h| h.expand(info, out).ok())
            .is_some()
    }
}

/// The TLS 1.2 PRF, P_hash(secret, label + seed) (RFC 5246 §5), filling `out`.
fn prf<M: Mac + KeyInit + Clone>(secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    let Ok(keyed) = <M as KeyInit>::new_from_slice(secret) else {
        return;
    };
    // A(1) = HMAC(secret, label + seed); A(i) = HMAC(secret, A(i-1)).
    let mut a = {
        let mut m = keyed.clone();
        m.update(label);
        m.update(seed);
        m.finalize().into_bytes()
    };
    let mut at = 0;
    while at < out.len() {
        let mut m = keyed.clone();
        m.update(&a);
        m.update(label);
        m.update(seed);
        let block = m.finalize().into_bytes();
        let n = block.len().min(out.len() - at);
        out[at..at + n].copy_from_slice(&block[..n]);
        at += n;
        let mut m = keyed.clone();
        m.update(&a);
        a = m.finalize().into_bytes();
    }
}

/// XORs the 64-bit sequence number into the last 8 bytes of a 12-byte nonce.
fn xor_seq(nonce: &mut [u8; 12], seq: u64) {
    for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
        *n ^= s;
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8448 §3 (simple 1-RTT handshake): the server's handshake traffic secret gives
    /// the key and IV the RFC lists, so HKDF-Expand-Label is right.
    #[test]
    fn hkdf_expand_label_matches_rfc8448() {
        let secret = unhex(
            "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38",
        );
        let suite = Suite::of(0x1301).unwrap();
        let mut key = [0u8; 16];
        let mut iv = [0u8; 12];
        assert!(hkdf_expand_label(suite, &secret, b"key", &mut key));
        assert!(hkdf_expand_label(suite, &secret, b"iv", &mut iv));
        assert_eq!(
            key.to_vec(),
            unhex("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc")
        );
        assert_eq!(iv.to_vec(), unhex("5d 31 3e b2 67 12 76 ee 13 00 0b 30"));
    }

    /// The TLS 1.2 PRF with SHA-256 against the widely published test vector (from the IETF
    /// TLS working group's list: secret 9b be 43 6b ..., label "test label").
    #[test]
    fn prf_sha256_matches_the_published_vector() {
        let secret = unhex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35");
        let seed = unhex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c");
        let mut out = [0u8; 100];
        prf::<Hmac<Sha256>>(&secret, b"test label", &seed, &mut out);
        assert_eq!(
            out[..16].to_vec(),
            unhex("e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53")
        );
        assert_eq!(out[96..].to_vec(), unhex("87 34 7b 66"));
    }

    fn record(bytes: &[u8]) -> Record<'_> {
        Record::split(bytes).unwrap().0
    }

    /// Hostile or mismatched input: records after a Server Hello with no secrets, short
    /// fragments and wrong keys give a note, never a panic.
    #[test]
    fn missing_and_wrong_keys_give_a_note() {
        let mut hello = vec![1, 0, 0, 39, 3, 3];
        hello.extend([7u8; 32]);
        // No session id, no cipher suites, one compression method.
        hello.extend([0, 0, 0, 1, 0]);
        let mut ch = vec![22, 3, 1, 0, hello.len() as u8];
        ch.extend(&hello);
        let mut sh_body = vec![3, 3];
        sh_body.extend([9u8; 32]);
        sh_body.extend([0, 0xc0, 0x2f, 0]);
        let mut sh = vec![
            22,
            3,
            3,
            0,
            4 + sh_body.len() as u8,
            2,
            0,
            0,
            sh_body.len() as u8,
        ];
        sh.extend(&sh_body);
        let ccs = [20, 3, 3, 0, 1, 1];
        let app = [23, 3, 3, 0, 3, 1, 2, 3];
        let long_app: Vec<u8> = [23, 3, 3, 0, 40].into_iter().chain([5u8; 40]).collect();

        let empty = KeyLog::default();
        let mut buf = Vec::new();
        let mut d = Decryptor::new();
        assert_eq!(d.record(&empty, 0, &record(&ch), &mut buf), Opened::Clear);
        assert_eq!(d.record(&empty, 1, &record(&sh), &mut buf), Opened::Clear);
        assert_eq!(d.record(&empty, 0, &record(&ccs), &mut buf), Opened::Clear);
        assert_eq!(d.record(&empty, 0, &record(&app), &mut buf), Opened::Opaque);
        assert!(d
            .note()
            .unwrap()
            .starts_with("no secret for this stream in the key log (client random 0707"));

        let text = format!("CLIENT_RANDOM {} {}\n", "07".repeat(32), "11".repeat(48));
        let wrong = KeyLog::parse(text.as_bytes()).unwrap();
        let mut d = Decryptor::new();
        d.record(&wrong, 0, &record(&ch), &mut buf);
        d.record(&wrong, 1, &record(&sh), &mut buf);
        d.record(&wrong, 0, &record(&ccs), &mut buf);
        assert_eq!(
            d.record(&wrong, 0, &record(&app), &mut buf),
            Opened::Opaque,
            "too short"
        );
        assert_eq!(
            d.record(&wrong, 0, &record(&long_app), &mut buf),
            Opened::Opaque
        );
        assert!(
            d.note().unwrap().contains("did not decrypt"),
            "{:?}",
            d.note()
        );
    }

    /// Hostile records after real hellos, with secrets logged for the stream (TLS 1.2 and
    /// 1.3, every suite): random content types, lengths from 0 to beyond a tag, random bytes,
    /// either direction. Nothing panics, every record is answered, and a record that does not
    /// open leaves a note.
    #[test]
    fn random_records_with_keys_never_panic() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let random = "07".repeat(32);
        let text = format!(
            "CLIENT_RANDOM {random} {m}\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {random} {s}\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {random} {s}\nCLIENT_TRAFFIC_SECRET_0 {random} {s}\n\
             SERVER_TRAFFIC_SECRET_0 {random} {s}\n",
            m = "11".repeat(48),
            s = "22".repeat(32)
        );
        let keys = KeyLog::parse(text.as_bytes()).unwrap();
        let mut buf = Vec::new();
        for suite in [0x1301u16, 0x1302, 0x1303, 0xc02b, 0xc030, 0xcca9] {
            let tls13 = suite >> 8 == 0x13;
            let mut ch_body = vec![3, 3];
            ch_body.extend([7u8; 32]);
            ch_body.extend([0, 0, 2]);
            ch_body.extend(suite.to_be_bytes());
            ch_body.extend([1, 0, 0, 0]);
            let mut ch = vec![
                22,
                3,
                1,
                0,
                4 + ch_body.len() as u8,
                1,
                0,
                0,
                ch_body.len() as u8,
            ];
            ch.extend(&ch_body);
            let mut sh_body = vec![3, 3];
            sh_body.extend([9u8; 32]);
            sh_body.push(0);
            sh_body.extend(suite.to_be_bytes());
            sh_body.push(0);
            if tls13 {
                sh_body.extend([0, 6, 0, 43, 0, 2, 3, 4]);
            }
            let mut sh = vec![
                22,
                3,
                3,
                0,
                4 + sh_body.len() as u8,
                2,
                0,
                0,
                sh_body.len() as u8,
            ];
            sh.extend(&sh_body);
            for _ in 0..50 {
                let mut d = Decryptor::new();
                assert_eq!(d.record(&keys, 0, &record(&ch), &mut buf), Opened::Clear);
                assert_eq!(d.record(&keys, 1, &record(&sh), &mut buf), Opened::Clear);
                for dir in [0, 1] {
                    d.record(&keys, dir, &record(&[20, 3, 3, 0, 1, 1]), &mut buf);
                }
                for _ in 0..40 {
                    let len = (next() % 80) as usize;
                    let ty = 20 + (next() % 5) as u8;
                    let mut r = vec![ty, 3, 3, 0, len as u8];
                    r.extend((0..len).map(|_| next() as u8));
                    let dir = (next() & 1) as usize;
                    if d.record(&keys, dir, &record(&r), &mut buf) == Opened::Opaque {
                        assert!(d.note().is_some(), "an opaque record leaves a note");
                    }
                }
            }
        }
    }
}
