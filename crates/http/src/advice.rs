//! What a client should change after a reuse race: the knob of common HTTP clients (and of
//! nginx as a client of its upstreams) that makes the client drop an idle pooled connection
//! before the server does, with a value derived from the server idle timeout measured in the
//! capture. The client's idle timeout must be shorter than the server's, with margin for the
//! round trip and the server's timer granularity: 80 % of the server's.

use serde::Serialize;

/// The share of the server's idle timeout a client should keep an idle connection at most.
const SAFE_SHARE: f64 = 0.8;

/// One client's knob and the value to set it to (fields in alphabetical order, as diagnose's
/// JSON lists details).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Advice {
    /// The client library or program.
    pub client: &'static str,
    /// How to set it, or what to do where there is no setting.
    pub how: String,
    /// The setting, as it is spelled in that client's API or configuration.
    pub setting: &'static str,
    /// Seconds to set it to (below the server's idle timeout); null when the client has no
    /// such setting (`how` says what to do instead).
    pub value_s: Option<f64>,
}

/// The longest idle time a pooled connection should be reused after, for a server measured to
/// close idle connections after `server_idle_ns`: 80 % of it, rounded down to the millisecond,
/// so always below the server's timeout.
pub fn client_idle_s(server_idle_ns: i64) -> f64 {
    let ms = (server_idle_ns.max(0) as f64 / 1e6 * SAFE_SHARE).floor();
    ms / 1e3
}

/// The advice for a server that closes idle connections after `server_idle_ns`.
pub fn for_server_idle_timeout(server_idle_ns: i64) -> Vec<Advice> {
    let v = client_idle_s(server_idle_ns);
    let ms = (v * 1e3).round() as u64;
    let go_duration = if ms.is_multiple_of(1000) {
        format!("{} * time.Second", ms / 1000)
    } else {
        format!("{ms} * time.Millisecond")
    };
    vec![
        Advice {
            client: "Go net/http",
            setting: "Transport.IdleConnTimeout",
            value_s: Some(v),
            how: format!("&http.Transport{{IdleConnTimeout: {go_duration}}}"),
        },
        Advice {
            client: "Node.js http.Agent",
            setting: "timeout",
            value_s: Some(v),
            how: format!(
                "new http.Agent({{keepAlive: true, timeout: {ms}}}) (milliseconds; an idle pooled socket that times out is destroyed)"
            ),
        },
        Advice {
            client: "Node.js undici / fetch",
            setting: "keepAliveTimeout",
            value_s: Some(v),
            how: format!(
                "new Agent({{keepAliveTimeout: {ms}, keepAliveMaxTimeout: {ms}}}) (milliseconds; the max caps what a Keep-Alive: timeout hint may raise it to)"
            ),
        },
        Advice {
            client: "Python urllib3 / requests",
            setting: "(no idle timeout for pooled connections)",
            value_s: None,
            how: format!(
                "the pool reuses a connection however long it sat idle; retry idempotent requests on connection errors (urllib3 Retry, mounted with an HTTPAdapter(max_retries=...)), or do not reuse a connection idle for more than {v} s (a new Session, or Connection: close)"
            ),
        },
        Advice {
            client: "Java Apache HttpClient",
            setting: "HttpClientBuilder.evictIdleConnections",
            value_s: Some(v),
            how: format!(
                "HttpClients.custom().evictIdleConnections(TimeValue.ofMilliseconds({ms})) (4.x: evictIdleConnections({ms}, TimeUnit.MILLISECONDS)); the evictor runs periodically, so also retry idempotent requests"
            ),
        },
        Advice {
            client: "Java OkHttp",
            setting: "ConnectionPool keepAliveDuration",
            value_s: Some(v),
            how: format!("new ConnectionPool(5, {ms}, TimeUnit.MILLISECONDS)"),
        },
        Advice {
            client: "Rust hyper / reqwest",
            setting: "pool_idle_timeout",
            value_s: Some(v),
            how: format!(".pool_idle_timeout(Duration::from_millis({ms}))"),
        },
        Advice {
            client: "nginx (proxy to this server)",
            setting: "upstream keepalive_timeout",
            value_s: Some(v),
            how: format!("upstream {{ keepalive 16; keepalive_timeout {ms}ms; }}"),
        },
    ]
}

/// The advice as lines for a person: `Go net/http Transport.IdleConnTimeout = 1.6 s
/// (&http.Transport{...})`.
pub fn advice_lines(advice: &[Advice]) -> Vec<String> {
    advice
        .iter()
        .map(|a| match a.value_s {
            Some(v) => format!("{}: {} = {v} s — {}", a.client, a.setting, a.how),
            None => format!("{}: {} — {}", a.client, a.setting, a.how),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_below_the_server_timeout() {
        assert_eq!(client_idle_s(2_000_000_000), 1.6);
        assert_eq!(client_idle_s(75_000_000_000), 60.0);
        assert_eq!(client_idle_s(5_000_400_000), 4.0);
        for ns in [1_300_000, 999_999_999, 2_000_400_000, 350_000_000_000] {
            let advice = for_server_idle_timeout(ns);
            assert!(advice.len() >= 8);
            for a in &advice {
                if let Some(v) = a.value_s {
                    assert!(v * 1e9 < ns as f64 && v > 0.0, "{} {v} for {ns}", a.client);
                }
            }
        }
        let a = for_server_idle_timeout(2_000_000_000);
        assert!(a[0].how.contains("1600 * time.Millisecond"), "{}", a[0].how);
        let b = for_server_idle_timeout(75_000_000_000);
        assert!(b[0].how.contains("60 * time.Second"), "{}", b[0].how);
        assert!(advice_lines(&a)[0].starts_with("Go net/http: Transport.IdleConnTimeout = 1.6 s"));
        assert!(a.iter().any(|x| x.value_s.is_none()));
    }
}
