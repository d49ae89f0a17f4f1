//! The client connection preface (RFC 9113 §3.4) and the HTTP/1.1 `Upgrade: h2c` handshake
//! (RFC 7540 §3.2) that may precede it.

/// The 24 octets a client sends first on every HTTP/2 connection ("Magic" in tshark).
pub const CLIENT_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// True when `payload` begins with the client preface, or is a non-empty prefix of it (a
/// preface split across segments).
pub fn starts_preface(payload: &[u8]) -> bool {
    let n = payload.len().min(CLIENT_PREFACE.len());
    n > 0 && payload[..n] == CLIENT_PREFACE[..n]
}

/// True when `payload` is the start of an HTTP/1.1 request asking to upgrade to h2c: a request
/// line, then an `Upgrade` header naming `h2c`, before the blank line. Header names are
/// matched without regard to case; only the first 8 KiB are looked at.
pub fn requests_h2c_upgrade(payload: &[u8]) -> bool {
    let head = &payload[..payload.len().min(8192)];
    let mut lines = head.split(|&b| b == b'\n');
    let Some(first) = lines.next() else {
        return false;
    };
    if !first.windows(8).any(|w| w == b"HTTP/1.1") {
        return false;
    }
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if line[..colon].eq_ignore_ascii_case(b"upgrade") {
            return line[colon + 1..]
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"h2c"));
        }
    }
    false
}

/// The length of an HTTP/1.1 `101 Switching Protocols` response head at the start of
/// `payload` (through its blank line), after which the server speaks HTTP/2; `None` when the
/// payload does not start with one or the head is not complete in it.
pub fn switching_protocols_len(payload: &[u8]) -> Option<usize> {
    if !payload.starts_with(b"HTTP/1.1 101") {
        return None;
    }
    payload
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preface_is_recognized_whole_or_split() {
        assert!(starts_preface(CLIENT_PREFACE));
        assert!(starts_preface(b"PRI * HT"));
        let mut more = CLIENT_PREFACE.to_vec();
        more.extend([0, 0, 0, 4]);
        assert!(starts_preface(&more));
        assert!(!starts_preface(b"GET / HTTP/1.1\r\n"));
        assert!(!starts_preface(b""));
    }

    #[test]
    fn an_upgrade_request_names_h2c_in_any_case() {
        let req = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n\
                    upgrade: websocket, H2C\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";
        assert!(requests_h2c_upgrade(req));
        assert!(!requests_h2c_upgrade(
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"
        ));
        assert!(!requests_h2c_upgrade(
            b"GET / HTTP/1.1\r\n\r\nUpgrade: h2c\r\n"
        ));
        let resp =
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n\0\0";
        assert_eq!(switching_protocols_len(resp), Some(resp.len() - 2));
        assert_eq!(switching_protocols_len(b"HTTP/1.1 200 OK\r\n\r\n"), None);
    }
}
