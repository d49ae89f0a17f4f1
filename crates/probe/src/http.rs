//! `probe http`: keep-alive behaviour of a live HTTP/1.x server.

use crate::conn::{Conn, Dest, IoFail, TlsDest};
use crate::response::{read_response, serialize_framing, Framing, ReadError, Response};
use crate::search::{idle_search, Check, IdleResult, SearchConfig};
use crate::{secs, Budget, ProbeError, Progress};
use serde::Serialize;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

/// Framing problems kept in the report; more are counted, not listed.
const MAX_PROBLEMS: usize = 20;

/// A parsed `http[s]://host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// As written in the URL, for the `Host` header (and SNI).
    pub host: String,
    /// Port, 80 (443 for https) when the URL names none.
    pub port: u16,
    /// Path and query, `/` when the URL names none.
    pub path: String,
    /// `https://`: HTTP/1.1 inside TLS.
    pub tls: bool,
}

impl Target {
    /// Reads `http://HOST[:PORT][/PATH]` or `https://…`; other schemes are refused with the
    /// reason.
    pub fn parse(url: &str) -> Result<Target, ProbeError> {
        let bad = |why: &str| ProbeError::Usage(format!("invalid URL `{url}`: {why}"));
        let (rest, tls) = if let Some(r) = url.strip_prefix("http://") {
            (r, false)
        } else if let Some(r) = url.strip_prefix("https://") {
            (r, true)
        } else {
            return Err(bad("expected http://HOST[:PORT][/PATH]"));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err(bad("user information (user@) is not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6
                .find(']')
                .ok_or_else(|| bad("unclosed `[` in the host"))?;
            let port = &v6[end + 1..];
            (format!("[{}]", &v6[..end]), port.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err(bad("no host"));
        }
        let port = match port {
            None if tls => 443,
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
        };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("the path contains spaces or control characters"));
        }
        Ok(Target {
            host,
            port,
            path,
            tls,
        })
    }

    /// The `Host` header value.
    pub fn authority(&self) -> String {
        if self.port == if self.tls { 443 } else { 80 } {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The first address the host resolves to.
    pub fn resolve(&self) -> Result<SocketAddr, ProbeError> {
        let h = self.host.trim_start_matches('[').trim_end_matches(']');
        (h, self.port)
            .to_socket_addrs()
            .map_err(|e| ProbeError::Usage(format!("cannot resolve `{}`: {e}", self.host)))?
            .next()
            .ok_or_else(|| ProbeError::Usage(format!("`{}` resolves to no address", self.host)))
    }

    /// A GET request. HTTP/1.0 asks for keep-alive explicitly, as 1.0 clients that want it do.
    pub fn request(&self, http10: bool) -> Vec<u8> {
        let (version, extra) = if http10 {
            ("HTTP/1.0", "Connection: keep-alive\r\n")
        } else {
            ("HTTP/1.1", "")
        };
        format!(
            "GET {} {version}\r\nHost: {}\r\nUser-Agent: keepsight-probe/{}\r\nAccept: */*\r\n{extra}\r\n",
            self.path,
            self.authority(),
            env!("CARGO_PKG_VERSION")
        )
        .into_bytes()
    }
}

/// How `probe http` speaks TLS to an `https://` URL.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Trust the CA certificates in this PEM file instead of the built-in Mozilla roots.
    pub cacert: Option<PathBuf>,
    /// Accept any certificate.
    pub insecure: bool,
    /// Send this as SNI and check the certificate against it instead of the URL's host.
    pub server_name: Option<String>,
}

impl TlsOptions {
    fn is_set(&self) -> bool {
        self.cacert.is_some() || self.insecure || self.server_name.is_some()
    }

    /// The destination for `target` at `addr`: TLS configured from these options for
    /// `https://`; options given for a plain `http://` URL are refused.
    pub fn dest(&self, target: &Target, addr: SocketAddr) -> Result<Dest, ProbeError> {
        if !target.tls {
            if self.is_set() {
                return Err(ProbeError::Usage(
                    "--cacert, --insecure and --sni apply to https:// URLs only".into(),
                ));
            }
            return Ok(Dest::plain(addr));
        }
        let usage = |e: keepsight_tlsio::ConfigError| ProbeError::Usage(e.to_string());
        let config =
            keepsight_tlsio::client_config(self.cacert.as_deref(), self.insecure).map_err(usage)?;
        let name = self.server_name.as_deref().unwrap_or(&target.host);
        let name = keepsight_tlsio::server_name(name).map_err(usage)?;
        Ok(Dest {
            addr,
            tls: Some(TlsDest { config, name }),
        })
    }
}

/// Options of `probe http`.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// TLS for `https://` URLs.
    pub tls: TlsOptions,
    /// The idle search.
    pub search: SearchConfig,
    /// Stop counting requests per connection here.
    pub max_requests: u64,
    /// Requests sent back to back in the pipelining check.
    pub pipeline_depth: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            tls: TlsOptions::default(),
            search: SearchConfig::default(),
            max_requests: 10_000,
            pipeline_depth: 3,
        }
    }
}

/// What the first request on a fresh connection got.
#[derive(Debug, Clone, Serialize)]
pub struct FirstResponse {
    /// Status code.
    pub status: u16,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// How the body's end was found.
    #[serde(serialize_with = "serialize_framing")]
    pub framing: Framing,
    /// Body bytes read.
    pub body_bytes: u64,
    /// The `Connection` header asked to close.
    pub connection_close: bool,
    /// Time from sending the request to the end of the response.
    pub rtt_s: f64,
}

/// The `Keep-Alive` parameters the server announced.
#[derive(Debug, Clone, Serialize)]
pub struct Advertised {
    /// `Keep-Alive: timeout=` on the first response, seconds.
    pub timeout_s: Option<u64>,
    /// `Keep-Alive: max=` on the first response.
    pub max: Option<u64>,
}

/// How many requests one connection carries, and what ended it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestsPerConnection {
    /// Responses received on one connection before it ended (or the limit).
    pub count: u64,
    /// `connection-close-header`: the last response said `Connection: close`;
    /// `closed-without-notice`: the server closed (FIN/RST) without saying so first;
    /// `limit`: --max-requests reached with the connection still open;
    /// `body-delimited-by-close`, `http10-without-keep-alive`, `error`, `max-time`.
    pub ended_by: String,
    /// For `closed-without-notice`: `fin` or `rst`.
    pub close: Option<String>,
    /// What the server said or did at the end, for a person.
    pub detail: Option<String>,
}

/// Whether the server supports a feature, and what showed it.
#[derive(Debug, Clone, Serialize)]
pub struct Support {
    /// True when it does.
    pub supported: bool,
    /// What was seen, for a person.
    pub detail: String,
}

/// What the TLS handshakes of an `https://` probe settled.
#[derive(Debug, Clone, Serialize)]
pub struct TlsReport {
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: String,
    /// The cipher suite's IANA name.
    pub cipher_suite: String,
    /// The protocol ALPN agreed (`http/1.1`), or none when the server ignored ALPN.
    pub alpn: Option<String>,
    /// The name sent as SNI and checked against the certificate.
    pub server_name: String,
    /// The first connection's handshake (a full one), from TCP established to TLS ready.
    pub handshake_s: f64,
    /// Whether a later connection resumed the first one's session.
    pub resumption: Resumption,
}

/// Session resumption as the second connection saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Resumption {
    /// The second connection's handshake resumed the first connection's session.
    pub resumed: bool,
    /// That handshake's time; absent when no second connection was made.
    pub handshake_s: Option<f64>,
    /// What was seen, for a person.
    pub detail: String,
}

/// What the framing checks of every response read found.
#[derive(Debug, Clone, Serialize)]
pub struct Framings {
    /// Responses whose framing was checked.
    pub responses_checked: u64,
    /// Problems found (at most 20 listed).
    pub problems: Vec<String>,
    /// Problems found in all.
    pub problems_total: u64,
}

/// What `keepsight probe http` measured (its JSON is the crate README's schema).
#[derive(Debug, Clone, Serialize)]
pub struct HttpReport {
    /// Always `http`.
    pub kind: &'static str,
    /// The URL probed.
    pub url: String,
    /// The address it resolved to.
    pub address: String,
    /// The TLS handshakes, for `https://` URLs only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsReport>,
    /// The first response.
    pub first_response: FirstResponse,
    /// The announced `Keep-Alive` values.
    pub advertised: Advertised,
    /// The server's idle timeout; absent when the first exchange failed.
    pub idle_timeout: Option<IdleResult>,
    /// Requests per connection.
    pub requests_per_connection: RequestsPerConnection,
    /// HTTP/1.0 `Connection: keep-alive` support.
    pub http10_keep_alive: Support,
    /// Whether pipelined requests are answered in order.
    pub pipelining: Support,
    /// Framing of every response read.
    pub framing: Framings,
    /// Advertised values the server did not keep, and other faults.
    pub findings: Vec<String>,
    /// What to set on clients of this server, for a person.
    pub recommendation: Vec<String>,
    /// Connections opened in all.
    pub connections_used: u32,
    /// Time the whole probe took.
    pub elapsed_s: f64,
    /// Whether the findings are problems (the CLI exits 1).
    pub problems: bool,
}

/// Framing results gathered from every part of the probe.
#[derive(Default)]
struct FramingLog {
    checked: u64,
    problems: Vec<String>,
    total: u64,
}

impl FramingLog {
    fn note(&mut self, context: &str, r: &Result<Response, ReadError>) {
        let mut add = |p: String| {
            self.total += 1;
            if self.problems.len() < MAX_PROBLEMS {
                self.problems.push(format!("{context}: {p}"));
            }
        };
        match r {
            Ok(resp) => {
                self.checked += 1;
                for p in &resp.problems {
                    add(p.clone());
                }
            }
            Err(ReadError::Malformed(m)) => {
                self.checked += 1;
                add(m.clone());
            }
            Err(ReadError::Io(_)) => {}
        }
    }
}

/// Probes the server at `target`. Errors only when it cannot run at all (no connection, no
/// first response); everything else is in the report.
pub async fn probe(
    url: &str,
    opts: &HttpOptions,
    budget: &Budget,
    progress: &Progress,
) -> Result<HttpReport, ProbeError> {
    let started = Instant::now();
    let target = Target::parse(url)?;
    let addr = target.resolve()?;
    let dest = opts.tls.dest(&target, addr)?;
    let request = target.request(false);
    let log = Arc::new(Mutex::new(FramingLog::default()));
    let timeout = opts.search.reply_timeout;
    let deadline = || (Instant::now() + timeout).min(budget.deadline);

    progress(&format!("first request to {addr}"));
    let mut conn = Conn::open(&dest, opts.search.connect_timeout, budget).await?;
    let first_tls = conn.stream.tls_info().zip(conn.handshake);
    let t0 = Instant::now();
    conn.write_all(&request, deadline())
        .await
        .map_err(|e| ProbeError::Protocol(format!("cannot send the first request: {e}")))?;
    let first = read_response(&mut conn, deadline(), false).await;
    log.lock().unwrap().note("first response", &first);
    let first =
        first.map_err(|e| ProbeError::Protocol(format!("no usable first response: {e}")))?;
    let rtt = t0.elapsed();
    let keeps_alive = first.reusable();
    // A server that closes after every response without saying so has no idle timeout to
    // measure (every idle connection would look closed at 0 s): a second request on the same
    // connection tells, before the search starts.
    let mut closes_each = false;
    if keeps_alive {
        let second = match conn.write_all(&request, deadline()).await {
            Ok(()) => read_response(&mut conn, deadline(), false).await,
            Err(e) => Err(ReadError::Io(e)),
        };
        log.lock().unwrap().note("second response", &second);
        closes_each = matches!(second, Err(ReadError::Io(IoFail::Eof | IoFail::Reset)));
    }
    drop(conn);

    // The counting checks run alongside the idle search, which mostly waits: on a slow link
    // thousands of sequential requests must not eat the time the search needs.
    progress("requests per connection, HTTP/1.0 keep-alive, pipelining, idle search");
    // Their connections are opened before the search takes its share of --max-connections.
    let ct = opts.search.connect_timeout;
    let (c1, c2, c3) = (
        Conn::open(&dest, ct, budget).await,
        Conn::open(&dest, ct, budget).await,
        Conn::open(&dest, ct, budget).await,
    );
    // The first connection has read responses, and with them the session tickets a TLS 1.3
    // server sends after its handshake: the next connection can resume.
    let tls =
        first_tls.map(|(info, handshake)| tls_report(info, handshake, &dest, c1.as_ref().ok()));
    let checks = async {
        tokio::join!(
            requests_per_connection(c1, &request, opts, budget, &log),
            http10_check(c2, &target, opts, budget, &log),
            pipeline_check(c3, &request, opts, budget, &log),
        )
    };
    let search = async {
        if keeps_alive && !closes_each {
            Some(
                idle_search(
                    &dest,
                    Check::Http(Arc::new(request.clone())),
                    &opts.search,
                    budget,
                    progress,
                )
                .await,
            )
        } else {
            None
        }
    };
    let ((rpc, http10, pipelining), idle) = tokio::join!(checks, search);

    let mut findings = Vec::new();
    let mut problems = false;
    let mut recommendation = Vec::new();
    if !keeps_alive {
        findings.push(format!(
            "the server does not keep connections alive ({}): every request pays a new connection",
            first.end_reason().unwrap_or("not reusable")
        ));
    } else if closes_each {
        findings.push(
            "the server closes the connection after every response without saying so: every request pays a new connection, and a client that reuses one fails"
                .into(),
        );
    }
    if let (Some(adv), Some(idle)) = (first.ka_timeout, idle.as_ref()) {
        if let Some(upper) = idle.upper_s.filter(|_| idle.method != "none-found") {
            if upper + idle.precision_s.unwrap_or(0.0) < adv as f64 {
                problems = true;
                findings.push(format!(
                    "advertises Keep-Alive: timeout={adv} but idle connections stop working after {upper:.3}s: clients that trust the header will send on closed connections"
                ));
            }
        }
    }
    if let Some(adv) = first.ka_max {
        // Apache counts `max` as the requests left after this response; either way a server
        // that ends the connection before `max` responses did not keep its word.
        if rpc.count < adv && rpc.ended_by != "limit" && rpc.ended_by != "max-time" {
            problems = true;
            findings.push(format!(
                "advertises Keep-Alive: max={adv} but the connection ended after {} responses",
                rpc.count
            ));
        }
    }
    if rpc.ended_by == "closed-without-notice" {
        findings.push(format!(
            "the server closes after {} requests without sending Connection: close first: a client may send request {} on a closing connection",
            rpc.count,
            rpc.count + 1
        ));
        recommendation.push(format!(
            "retire connections after {} requests, or retry idempotent requests once on a reused connection that fails",
            rpc.count.saturating_sub(1).max(1)
        ));
    }
    if let Some(idle) = &idle {
        match idle.method.as_str() {
            "observed-close" | "check-after-idle" => {
                let lower = if idle.method == "observed-close" {
                    idle.estimate_s.unwrap_or(0.0) - idle.precision_s.unwrap_or(0.0)
                } else {
                    idle.lower_s
                };
                let safe = (lower - (0.1 * lower).max(0.5)).max(0.0);
                let safe = (safe * 10.0).floor() / 10.0;
                recommendation.push(format!(
                    "set your connection pool's idle timeout below {safe} s (idle connections stop working after {} ± {} s)",
                    idle.estimate_s.unwrap_or(0.0),
                    idle.precision_s.unwrap_or(0.0)
                ));
                if let Some(c) = &idle.close {
                    if c.announced.is_none() {
                        findings.push(format!(
                            "idle connections are closed with {} after about {} s without any notice on the connection",
                            c.how.to_uppercase(),
                            idle.estimate_s.unwrap_or(0.0)
                        ));
                    }
                }
                if idle.method == "check-after-idle" {
                    findings.push(format!(
                        "idle connections stop working after {}..{} s without a close we could see ({}): something on the path forgets them silently",
                        idle.lower_s,
                        idle.upper_s.unwrap_or(0.0),
                        idle.failure.as_deref().unwrap_or("?")
                    ));
                }
            }
            "none-found" => recommendation.push(format!(
                "no idle timeout up to {} s: any pool idle timeout up to that is safe with this server",
                idle.lower_s
            )),
            _ => {}
        }
    }
    if !http10.supported {
        findings.push(format!("HTTP/1.0 keep-alive: {}", http10.detail));
    }
    if !pipelining.supported {
        findings.push(format!("pipelining: {}", pipelining.detail));
    }
    let framing = {
        let l = log.lock().unwrap();
        Framings {
            responses_checked: l.checked,
            problems: l.problems.clone(),
            problems_total: l.total,
        }
    };
    if framing.problems_total > 0 {
        problems = true;
        findings.push(format!(
            "{} badly framed response(s): see framing.problems",
            framing.problems_total
        ));
    }
    Ok(HttpReport {
        kind: "probe-http",
        url: url.to_string(),
        address: addr.to_string(),
        tls,
        first_response: FirstResponse {
            status: first.status,
            version: format!("HTTP/1.{}", first.minor),
            framing: first.framing,
            body_bytes: first.body_len,
            connection_close: first.connection_close,
            rtt_s: secs(rtt),
        },
        advertised: Advertised {
            timeout_s: first.ka_timeout,
            max: first.ka_max,
        },
        idle_timeout: idle,
        requests_per_connection: rpc,
        http10_keep_alive: http10,
        pipelining,
        framing,
        findings,
        recommendation,
        connections_used: budget.used(),
        elapsed_s: secs(started.elapsed()),
        problems,
    })
}

/// The TLS part of the report from the first connection's handshake and the second's.
fn tls_report(
    first: keepsight_tlsio::TlsInfo,
    handshake: std::time::Duration,
    dest: &Dest,
    second: Option<&Conn>,
) -> TlsReport {
    let server_name = match dest.tls.as_ref().map(|t| &t.name) {
        Some(keepsight_tlsio::rustls::pki_types::ServerName::DnsName(n)) => n.as_ref().to_string(),
        Some(keepsight_tlsio::rustls::pki_types::ServerName::IpAddress(ip)) => {
            std::net::IpAddr::from(*ip).to_string()
        }
        _ => String::new(),
    };
    let second = second.and_then(|c| c.stream.tls_info().zip(c.handshake));
    let resumption = match second {
        Some((info, took)) => Resumption {
            resumed: info.resumed,
            handshake_s: Some(secs(took)),
            detail: if info.resumed {
                "the second connection resumed the first one's session".into()
            } else {
                "the second connection made a full handshake: the server did not resume the first one's session (no tickets, or no session cache)".into()
            },
        },
        None => Resumption {
            resumed: false,
            handshake_s: None,
            detail: "not checked: the second connection failed".into(),
        },
    };
    TlsReport {
        version: first.version,
        cipher_suite: first.cipher_suite,
        alpn: first.alpn,
        server_name,
        handshake_s: secs(handshake),
        resumption,
    }
}

async fn requests_per_connection(
    conn: Result<Conn, ProbeError>,
    request: &[u8],
    opts: &HttpOptions,
    budget: &Budget,
    log: &Mutex<FramingLog>,
) -> RequestsPerConnection {
    let result = |count, ended_by: &str, close: Option<String>, detail: Option<String>| {
        RequestsPerConnection {
            count,
            ended_by: ended_by.to_string(),
            close,
            detail,
        }
    };
    let mut conn = match conn {
        Ok(c) => c,
        Err(e) => return result(0, "error", None, Some(e.to_string())),
    };
    let timeout = opts.search.reply_timeout;
    let mut count = 0u64;
    loop {
        if count >= opts.max_requests {
            return result(count, "limit", None, None);
        }
        if budget.remaining().is_zero() {
            return result(count, "max-time", None, None);
        }
        let deadline = (Instant::now() + timeout).min(budget.deadline);
        if let Err(e) = conn.write_all(request, deadline).await {
            return closed_or_error(count, e);
        }
        let r = read_response(&mut conn, deadline, false).await;
        log.lock()
            .unwrap()
            .note(&format!("response {} on one connection", count + 1), &r);
        match r {
            Ok(resp) => {
                count += 1;
                if let Some(why) = resp.end_reason() {
                    return result(count, why, None, None);
                }
            }
            Err(ReadError::Io(e)) if conn.buf.is_empty() => return closed_or_error(count, e),
            Err(e) => return result(count, "error", None, Some(e.to_string())),
        }
    }

    fn closed_or_error(count: u64, e: IoFail) -> RequestsPerConnection {
        match e {
            IoFail::Eof | IoFail::Reset => RequestsPerConnection {
                count,
                ended_by: "closed-without-notice".into(),
                close: Some(e.name().into()),
                detail: None,
            },
            other => RequestsPerConnection {
                count,
                ended_by: "error".into(),
                close: None,
                detail: Some(other.to_string()),
            },
        }
    }
}

async fn http10_check(
    conn: Result<Conn, ProbeError>,
    target: &Target,
    opts: &HttpOptions,
    budget: &Budget,
    log: &Mutex<FramingLog>,
) -> Support {
    let no = |detail: String| Support {
        supported: false,
        detail,
    };
    let mut conn = match conn {
        Ok(c) => c,
        Err(e) => return no(format!("not checked: {e}")),
    };
    let request = target.request(true);
    let timeout = opts.search.reply_timeout;
    for i in 1..=2 {
        let deadline = (Instant::now() + timeout).min(budget.deadline);
        if let Err(e) = conn.write_all(&request, deadline).await {
            return no(format!("request {i} could not be sent: {e}"));
        }
        let r = read_response(&mut conn, deadline, false).await;
        log.lock()
            .unwrap()
            .note(&format!("HTTP/1.0 response {i}"), &r);
        match r {
            Ok(resp) if i == 1 && !resp.reusable() => {
                return no(format!(
                    "the answer to an HTTP/1.0 request with Connection: keep-alive ends the connection ({})",
                    resp.end_reason().unwrap_or("?")
                ))
            }
            Ok(_) => {}
            Err(e) => {
                return no(format!(
                    "the server said keep-alive but the second request failed: {e}"
                ))
            }
        }
    }
    Support {
        supported: true,
        detail: "two HTTP/1.0 requests with Connection: keep-alive answered on one connection"
            .into(),
    }
}

async fn pipeline_check(
    conn: Result<Conn, ProbeError>,
    request: &[u8],
    opts: &HttpOptions,
    budget: &Budget,
    log: &Mutex<FramingLog>,
) -> Support {
    let depth = opts.pipeline_depth.max(2);
    let no = |detail: String| Support {
        supported: false,
        detail,
    };
    let mut conn = match conn {
        Ok(c) => c,
        Err(e) => return no(format!("not checked: {e}")),
    };
    let batch: Vec<u8> = request.repeat(depth);
    let deadline = (Instant::now() + opts.search.reply_timeout).min(budget.deadline);
    if let Err(e) = conn.write_all(&batch, deadline).await {
        return no(format!("could not send {depth} requests at once: {e}"));
    }
    for i in 1..=depth {
        let r = read_response(&mut conn, deadline, false).await;
        log.lock()
            .unwrap()
            .note(&format!("pipelined response {i}"), &r);
        match r {
            Ok(resp) if resp.reusable() || i == depth => {}
            Ok(resp) => {
                return no(format!(
                    "{depth} requests sent at once: the connection ended after response {i} ({})",
                    resp.end_reason().unwrap_or("?")
                ))
            }
            Err(e) => {
                return no(format!(
                    "{depth} requests sent at once: only {} answered ({e})",
                    i - 1
                ))
            }
        }
    }
    Support {
        supported: true,
        detail: format!("{depth} requests sent at once were answered in order"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("http://example.com").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("example.com", 80, "/")
        );
        let t = Target::parse("http://127.0.0.1:8080/a/b?c=d").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8080, "/a/b?c=d")
        );
        assert_eq!(t.authority(), "127.0.0.1:8080");
        let t = Target::parse("http://[::1]:81?x").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("[::1]", 81, "/?x")
        );
        let t = Target::parse("https://localhost/x").unwrap();
        assert_eq!(
            (t.port, t.tls, t.authority().as_str()),
            (443, true, "localhost")
        );
        let t = Target::parse("https://localhost:80/").unwrap();
        assert_eq!(t.authority(), "localhost:80");
        for bad in [
            "ftp://x",
            "http://",
            "http://x:0",
            "http://x:99999",
            "http://a@b",
            "http://x/a b",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
