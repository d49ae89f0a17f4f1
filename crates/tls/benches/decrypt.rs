//! Decryption throughput of one TLS 1.3 stream: 64 application data records of 16 KiB
//! (1 MiB of ciphertext per run) through a [`Decryptor`], per suite. The records are
//! encrypted here, with keys derived from the secrets of a key log by an HKDF-Expand-Label of
//! the bench's own, so a decryption that failed would show as a panic, not as speed.
//! Run: `cargo bench -p keepsight-tls --bench decrypt` (see benches/README.md).

use aes_gcm::aead::{AeadInPlace, KeyInit};
use divan::counter::BytesCount;
use keepsight_tls::{ContentType, Decryptor, KeyLog, Opened, Record};

const RECORDS: usize = 64;
const PLAINTEXT: usize = 16 * 1024;

fn main() {
    divan::main();
}

/// HKDF-Expand-Label(secret, label, "", len) (RFC 8446 §7.1), with SHA-384 for a 48-byte
/// secret (TLS_AES_256_GCM_SHA384), else SHA-256.
fn expand_label(secret: &[u8], label: &str, len: usize) -> Vec<u8> {
    let full = format!("tls13 {label}");
    let mut info = (len as u16).to_be_bytes().to_vec();
    info.push(full.len() as u8);
    info.extend(full.as_bytes());
    info.push(0);
    let mut out = vec![0; len];
    if secret.len() == 48 {
        hkdf::Hkdf::<sha2::Sha384>::from_prk(secret)
            .unwrap()
            .expand(&info, &mut out)
            .unwrap();
    } else {
        hkdf::Hkdf::<sha2::Sha256>::from_prk(secret)
            .unwrap()
            .expand(&info, &mut out)
            .unwrap();
    }
    out
}

fn hello(msg_type: u8, suite: u16, version_ext: &[u8]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend([7u8; 32]);
    body.push(0);
    if msg_type == 1 {
        body.extend([0, 2]);
    }
    body.extend(suite.to_be_bytes());
    body.extend(if msg_type == 1 {
        &[1u8, 0][..]
    } else {
        &[0u8][..]
    });
    let ext: Vec<u8> = [0u8, 43, 0, version_ext.len() as u8]
        .into_iter()
        .chain(version_ext.iter().copied())
        .collect();
    body.extend((ext.len() as u16).to_be_bytes());
    body.extend(ext);
    let mut hs = vec![msg_type, 0, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend(body);
    let mut rec = vec![22, 3, 3, (hs.len() >> 8) as u8, hs.len() as u8];
    rec.extend(hs);
    rec
}

/// The key log, the two hellos and the client's encrypted records for `suite`.
fn stream(suite: u16) -> (KeyLog, Vec<Vec<u8>>) {
    let hash_len = if suite == 0x1302 { 48 } else { 32 };
    let secret = vec![3u8; hash_len];
    let random = "07".repeat(32);
    let text = format!(
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET {random} {h}\nCLIENT_TRAFFIC_SECRET_0 {random} {a}\n",
        h = "01".repeat(hash_len),
        a = "03".repeat(hash_len),
    );
    let keys = KeyLog::parse(text.as_bytes()).unwrap();
    let key_len = if suite == 0x1301 { 16 } else { 32 };
    let key = expand_label(&secret, "key", key_len);
    let iv = expand_label(&secret, "iv", 12);
    let mut records = vec![hello(1, suite, &[2, 3, 4]), hello(2, suite, &[3, 4])];
    for seq in 0..RECORDS as u64 {
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&iv);
        for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        let mut body = vec![b'a'; PLAINTEXT];
        body.push(ContentType::APPLICATION_DATA.0);
        let len = body.len() + 16;
        let header = [23, 3, 3, (len >> 8) as u8, len as u8];
        let n = aes_gcm::Nonce::from_slice(&nonce);
        let tag = match suite {
            0x1301 => aes_gcm::Aes128Gcm::new_from_slice(&key)
                .unwrap()
                .encrypt_in_place_detached(n, &header, &mut body),
            0x1302 => aes_gcm::Aes256Gcm::new_from_slice(&key)
                .unwrap()
                .encrypt_in_place_detached(n, &header, &mut body),
            _ => chacha20poly1305::ChaCha20Poly1305::new_from_slice(&key)
                .unwrap()
                .encrypt_in_place_detached(n, &header, &mut body),
        }
        .unwrap();
        let mut rec = header.to_vec();
        rec.extend(body);
        rec.extend(tag);
        records.push(rec);
    }
    (keys, records)
}

fn run(keys: &KeyLog, records: &[Vec<u8>], buf: &mut Vec<u8>) -> usize {
    let mut d = Decryptor::new();
    let mut plain = 0;
    for (i, bytes) in records.iter().enumerate() {
        let r = Record::split(bytes).unwrap().0;
        let dir = usize::from(i == 1);
        match d.record(keys, dir, &r, buf) {
            Opened::Plain { data, .. } => plain += data.len(),
            Opened::Clear => {}
            Opened::Opaque => panic!("record {i} did not decrypt: {:?}", d.note()),
        }
    }
    assert_eq!(plain, RECORDS * PLAINTEXT);
    plain
}

#[divan::bench(args = [0x1301, 0x1302, 0x1303], sample_count = 20)]
fn tls13_records(bencher: divan::Bencher, suite: u16) {
    let (keys, records) = stream(suite);
    let mut buf = Vec::new();
    bencher
        .counter(BytesCount::new(RECORDS * PLAINTEXT))
        .bench_local(|| run(&keys, &records, &mut buf));
}
