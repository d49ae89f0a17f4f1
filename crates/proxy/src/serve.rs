//! `keepsight serve`: fixed or static responses, for tests, probes and benchmarks.

use crate::server::{Exchange, Handler, HandlerError};
use bytes::Bytes;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A response body held in memory.
pub type Body = bytes::Bytes;

/// What `serve` answers with.
#[derive(Debug, Clone)]
pub enum Content {
    /// The same response to every request.
    Fixed {
        /// Status code.
        status: u16,
        /// Body, the same for every request.
        body: Bytes,
        /// Extra `Name: value` pairs.
        headers: Vec<(String, String)>,
    },
    /// Files under a directory (GET and HEAD only).
    Static {
        /// Directory served; paths never leave it.
        root: PathBuf,
    },
}

/// Answers every request with the configured [`Content`], after the configured delay.
pub struct ServeHandler {
    content: Content,
    /// Pre-rendered header lines for `Fixed`, so the hot path only copies bytes.
    fixed_headers: Vec<u8>,
    /// Wait this long before answering (to hold requests in flight in tests).
    delay: Duration,
}

impl ServeHandler {
    /// A handler answering with `content`, each response `delay` late.
    pub fn new(content: Content, delay: Duration) -> Self {
        let mut fixed_headers = Vec::new();
        if let Content::Fixed { headers, .. } = &content {
            let has_type = headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
            if !has_type {
                fixed_headers.extend_from_slice(b"Content-Type: text/plain\r\n");
            }
            for (n, v) in headers {
                fixed_headers.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
            }
        }
        ServeHandler {
            content,
            fixed_headers,
            delay,
        }
    }
}

impl Content {
    /// What `keepsight serve`'s flags ask for: files under `root`, else a fixed response with
    /// `body`, or `body_size` bytes of `x`, or `ok`. A `root` that is not a directory is refused.
    pub fn from_flags(
        root: Option<&Path>,
        body: Option<&str>,
        body_size: Option<usize>,
        status: u16,
        headers: &[(String, String)],
    ) -> Result<Content, String> {
        if let Some(root) = root {
            if !root.is_dir() {
                return Err(format!("--root {}: not a directory", root.display()));
            }
            return Ok(Content::Static {
                root: root.to_path_buf(),
            });
        }
        let body = match (body, body_size) {
            (Some(b), _) => Bytes::copy_from_slice(b.as_bytes()),
            (None, Some(n)) => vec![b'x'; n].into(),
            (None, None) => Bytes::from_static(b"ok\n"),
        };
        Ok(Content::Fixed {
            status,
            body,
            headers: headers.to_vec(),
        })
    }
}

/// Validate a `Name: value` header given on the command line; framing and connection headers
/// are ours to set and are refused.
pub fn parse_header_arg(s: &str) -> Result<(String, String), String> {
    let (n, v) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}`: expected `Name: value`"))?;
    let n = n.trim();
    let v = v.trim();
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if n.is_empty() || !n.chars().all(token) {
        return Err(format!("`{n}`: not a valid header name"));
    }
    if v.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!("`{s}`: control character in header value"));
    }
    if crate::http::is_hop_by_hop(n.as_bytes()) {
        return Err(format!(
            "`{n}`: framing and connection headers are set by the server itself"
        ));
    }
    Ok((n.to_string(), v.to_string()))
}

thread_local! {
    static DATE: RefCell<(u64, Vec<u8>)> = const { RefCell::new((u64::MAX, Vec::new())) };
}

/// Append a `Date` header line, formatted at most once a second per thread.
pub fn push_date(out: &mut Vec<u8>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != now {
            d.1 = format!("Date: {}\r\n", crate::http::http_date(now)).into_bytes();
            d.0 = now;
        }
        out.extend_from_slice(&d.1);
    });
}

fn content_type(path: &std::path::Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html",
        "txt" => "text/plain",
        "css" => "text/css",
        "js" => "text/javascript",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

impl Handler for ServeHandler {
    async fn handle(&self, ex: &mut Exchange<'_>) -> Result<(), HandlerError> {
        ex.discard_body().await?;
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        match &self.content {
            Content::Fixed { status, body, .. } => {
                let mut headers = Vec::with_capacity(self.fixed_headers.len() + 40);
                push_date(&mut headers);
                headers.extend_from_slice(&self.fixed_headers);
                ex.respond(*status, &headers, body).await
            }
            Content::Static { root } => {
                let mut headers = Vec::with_capacity(80);
                push_date(&mut headers);
                let method = ex.request().method();
                if method != "GET" && method != "HEAD" {
                    headers.extend_from_slice(b"Allow: GET, HEAD\r\n");
                    return ex.respond(405, &headers, b"").await;
                }
                let Some(path) = static_path(root, ex.request().target()) else {
                    return ex.respond(404, &headers, b"not found\n").await;
                };
                match tokio::fs::read(&path).await {
                    Ok(data) => {
                        headers.extend_from_slice(
                            format!("Content-Type: {}\r\n", content_type(&path)).as_bytes(),
                        );
                        ex.respond(200, &headers, &data).await
                    }
                    Err(_) => ex.respond(404, &headers, b"not found\n").await,
                }
            }
        }
    }
}

/// Map a request target to a file under `root`, refusing anything that could leave it.
fn static_path(root: &std::path::Path, target: &[u8]) -> Option<PathBuf> {
    let path = target.split(|&b| b == b'?').next()?;
    let path = std::str::from_utf8(path).ok()?;
    let rel = path.strip_prefix('/')?;
    let mut out = root.to_path_buf();
    for part in rel.split('/') {
        if part.is_empty() || part == "." {
            continue;
        }
        // No decoding of %-escapes is done, so `%2e%2e` stays a literal (missing) name.
        if part == ".." || part.contains('\\') || part.contains('\0') {
            return None;
        }
        out.push(part);
    }
    if out.is_dir() {
        out.push("index.html");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_pick_the_content() {
        let headers = vec![("X-A".to_string(), "1".to_string())];
        let fixed = |c: Content| match c {
            Content::Fixed {
                status,
                body,
                headers,
            } => (status, body, headers.len()),
            Content::Static { .. } => panic!("static"),
        };
        let ok = Content::from_flags(None, None, None, 200, &headers).unwrap();
        assert_eq!(fixed(ok), (200, Bytes::from_static(b"ok\n"), 1));
        let sized = Content::from_flags(None, None, Some(3), 503, &[]).unwrap();
        assert_eq!(fixed(sized), (503, Bytes::from_static(b"xxx"), 0));
        let given = Content::from_flags(None, Some("hi"), Some(3), 200, &[]).unwrap();
        assert_eq!(fixed(given).1, Bytes::from_static(b"hi"));
        let dir = std::env::temp_dir();
        assert!(matches!(
            Content::from_flags(Some(&dir), Some("hi"), None, 200, &[]),
            Ok(Content::Static { root }) if root == dir
        ));
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        assert_eq!(
            Content::from_flags(Some(&file), None, None, 200, &[]).unwrap_err(),
            format!("--root {}: not a directory", file.display())
        );
    }
}
