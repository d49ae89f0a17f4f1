//! NSS key log files (`SSLKEYLOGFILE`, the format Firefox, curl, OpenSSL and Python write and
//! tshark reads with `-o tls.keylog_file:PATH`): one secret per line,
//! `LABEL <client random, 64 hex digits> <secret in hex>`, `#` lines are comments.
//!
//! Labels read: `CLIENT_RANDOM` (the TLS 1.2 master secret, 48 bytes) and the TLS 1.3
//! traffic secrets `CLIENT_HANDSHAKE_TRAFFIC_SECRET`, `SERVER_HANDSHAKE_TRAFFIC_SECRET`,
//! `CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0` (32 or 48 bytes: SHA-256 or SHA-384
//! suites). Other labels (`EXPORTER_SECRET`, early-data secrets, `RSA`) are skipped as tshark
//! skips what it cannot use; a line that is not `LABEL HEX HEX` is an error naming the file,
//! the line and what was expected, since a file that does not parse is usually the wrong file.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The secrets logged for one connection, found by its Client Hello random.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Secrets {
    /// TLS 1.2 master secret (`CLIENT_RANDOM`).
    pub master: Option<[u8; 48]>,
    /// TLS 1.3 `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    pub client_handshake: Option<Vec<u8>>,
    /// TLS 1.3 `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    pub server_handshake: Option<Vec<u8>>,
    /// TLS 1.3 `CLIENT_TRAFFIC_SECRET_0`.
    pub client_traffic: Option<Vec<u8>>,
    /// TLS 1.3 `SERVER_TRAFFIC_SECRET_0`.
    pub server_traffic: Option<Vec<u8>>,
}

/// Every connection's secrets of one or more key log files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyLog {
    by_client_random: HashMap<[u8; 32], Secrets>,
}

/// Why a key log could not be read.
#[derive(Debug)]
pub struct KeyLogError {
    /// The file (empty for text parsed with [`KeyLog::parse`]).
    pub path: PathBuf,
    /// The line, from 1 (0 when the file could not be read at all).
    pub line: usize,
    /// What was wrong, and what was expected.
    pub what: String,
}

impl fmt::Display for KeyLogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.path.display();
        match (self.line, self.path.as_os_str().is_empty()) {
            (0, _) => write!(f, "{name}: {}", self.what),
            (n, true) => write!(f, "key log line {n}: {}", self.what),
            (n, false) => write!(f, "{name}:{n}: {}", self.what),
        }
    }
}

impl std::error::Error for KeyLogError {}

/// The lengths a TLS 1.3 traffic secret may have: the hash length of a suite's HKDF.
const TRAFFIC_SECRET_LENS: [usize; 2] = [32, 48];

impl KeyLog {
    /// Reads the key log file at `path`.
    pub fn read(path: &Path) -> Result<KeyLog, KeyLogError> {
        let text = std::fs::read(path).map_err(|e| KeyLogError {
            path: path.to_owned(),
            line: 0,
            what: format!("cannot read the TLS key log: {e}"),
        })?;
        let mut log = KeyLog::default();
        log.add(&text).map_err(|(line, what)| KeyLogError {
            path: path.to_owned(),
            line,
            what,
        })?;
        Ok(log)
    }

    /// Parses key log text (as [`KeyLog::read`], without a file name in errors).
    pub fn parse(text: &[u8]) -> Result<KeyLog, KeyLogError> {
        let mut log = KeyLog::default();
        log.add(text).map_err(|(line, what)| KeyLogError {
            path: PathBuf::new(),
            line,
            what,
        })?;
        Ok(log)
    }

    /// The secrets logged for the connection whose Client Hello carried `client_random`.
    pub fn secrets(&self, client_random: &[u8; 32]) -> Option<&Secrets> {
        self.by_client_random.get(client_random)
    }

    /// How many connections have at least one secret.
    pub fn len(&self) -> usize {
        self.by_client_random.len()
    }

    /// True when no secret was read.
    pub fn is_empty(&self) -> bool {
        self.by_client_random.is_empty()
    }

    /// Adds the lines of `text`; on error, the line number and what was expected.
    fn add(&mut self, text: &[u8]) -> Result<(), (usize, String)> {
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let n = i + 1;
            let line = std::str::from_utf8(raw)
                .map_err(|_| {
                    (
                        n,
                        "not UTF-8 text: expected LABEL CLIENT_RANDOM SECRET".to_owned(),
                    )
                })?
                .trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_ascii_whitespace();
            let (Some(label), Some(random), Some(secret), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err((
                    n,
                    format!(
                        "expected three fields, LABEL CLIENT_RANDOM SECRET (e.g. CLIENT_RANDOM <64 hex digits> <96 hex digits>), got {:?}",
                        shorten(line)
                    ),
                ));
            };
            let known = matches!(
                label,
                "CLIENT_RANDOM"
                    | "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
                    | "SERVER_HANDSHAKE_TRAFFIC_SECRET"
                    | "CLIENT_TRAFFIC_SECRET_0"
                    | "SERVER_TRAFFIC_SECRET_0"
            );
            if !known {
                continue;
            }
            let random: [u8; 32] =
                hex(random).and_then(|v| v.try_into().ok()).ok_or_else(|| {
                    (
                        n,
                        format!(
                            "{label}: expected the client random as 64 hex digits, got {:?}",
                            shorten(random)
                        ),
                    )
                })?;
            let bytes = hex(secret).ok_or_else(|| {
                (
                    n,
                    format!(
                        "{label}: expected the secret in hex digits, got {:?}",
                        shorten(secret)
                    ),
                )
            })?;
            let entry = self.by_client_random.entry(random).or_default();
            if label == "CLIENT_RANDOM" {
                let master: [u8; 48] = bytes.try_into().map_err(|b: Vec<u8>| {
                    (
                        n,
                        format!(
                            "CLIENT_RANDOM: expected a 48-byte master secret (96 hex digits), got {} bytes",
                            b.len()
                        ),
                    )
                })?;
                entry.master = Some(master);
                continue;
            }
            if !TRAFFIC_SECRET_LENS.contains(&bytes.len()) {
                return Err((
                    n,
                    format!(
                        "{label}: expected a 32- or 48-byte secret (64 or 96 hex digits), got {} bytes",
                        bytes.len()
                    ),
                ));
            }
            let slot = match label {
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => &mut entry.client_handshake,
                "SERVER_HANDSHAKE_TRAFFIC_SECRET" => &mut entry.server_handshake,
                "CLIENT_TRAFFIC_SECRET_0" => &mut entry.client_traffic,
                _ => &mut entry.server_traffic,
            };
            *slot = Some(bytes);
        }
        Ok(())
    }
}

/// At most 40 characters of `s`, for error messages about long hex strings.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_owned(),
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if s.len() & 1 == 1 {
        return None;
    }
    s.as_bytes()
        .chunks_exact(2)
        .map(|p| Some((digit(p[0])? << 4) | digit(p[1])?))
        .collect()
}

fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "89fda7a3aa166417cf697d3572c4923a14d7047aac67fd60bf7cfd7c5fcaa380";

    #[test]
    fn reads_both_versions_secrets_and_skips_comments_and_other_labels() {
        let text = format!(
            "# SSL/TLS secrets log file\n\nCLIENT_RANDOM {R} {m}\r\nEXPORTER_SECRET {R} {s}\nSERVER_TRAFFIC_SECRET_0 {R} {s}\n",
            m = "ab".repeat(48),
            s = "cd".repeat(32)
        );
        let log = KeyLog::parse(text.as_bytes()).unwrap();
        let r: [u8; 32] = hex(R).unwrap().try_into().unwrap();
        let s = log.secrets(&r).unwrap();
        assert_eq!(s.master, Some([0xab; 48]));
        assert_eq!(s.server_traffic.as_deref(), Some(&[0xcd; 32][..]));
        assert_eq!(s.client_traffic, None);
        assert_eq!(log.len(), 1);
    }

    #[test]
    fn errors_name_the_line_and_what_was_expected() {
        let err = |t: &str| KeyLog::parse(t.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            err(&format!("# c\nCLIENT_RANDOM {R}\n")),
            format!("key log line 2: expected three fields, LABEL CLIENT_RANDOM SECRET (e.g. CLIENT_RANDOM <64 hex digits> <96 hex digits>), got \"CLIENT_RANDOM {}...\"", &R[..26])
        );
        assert_eq!(
            err(&format!("CLIENT_RANDOM {R} abcd\n")),
            "key log line 1: CLIENT_RANDOM: expected a 48-byte master secret (96 hex digits), got 2 bytes"
        );
        assert_eq!(
            err("CLIENT_TRAFFIC_SECRET_0 12zz 00\n"),
            "key log line 1: CLIENT_TRAFFIC_SECRET_0: expected the client random as 64 hex digits, got \"12zz\""
        );
        assert_eq!(
            err(&format!("SERVER_HANDSHAKE_TRAFFIC_SECRET {R} 0g\n")),
            "key log line 1: SERVER_HANDSHAKE_TRAFFIC_SECRET: expected the secret in hex digits, got \"0g\""
        );
        let missing = KeyLog::read(Path::new("no/such/keylog.txt")).unwrap_err();
        assert!(missing
            .to_string()
            .starts_with("no/such/keylog.txt: cannot read the TLS key log: "));
    }
}
