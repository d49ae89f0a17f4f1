//! gRPC keep-alive, client and server settings checked against each other
//! (`keepsight keepalive --grpc`): will the server answer the client's PINGs with GOAWAY
//! ENHANCE_YOUR_CALM "too_many_pings", how long a dead peer takes to notice, and whether a
//! middlebox's idle timeout cuts an idle connection first. The rules are grpc-core's (C++,
//! Python, Ruby, PHP, C#) and grpc-go's, for a connection with no call in flight, where
//! keep-alive matters.

use crate::duration::format_duration;
use serde::Serialize;
use std::time::Duration;

/// grpc-core's and grpc-go's default smallest interval between PINGs a server accepts.
pub const DEFAULT_SERVER_MIN_TIME: Duration = Duration::from_secs(300);
/// The default PING ACK timeout (GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ClientParameters.Timeout).
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
/// grpc-core's default strikes forgiven before the GOAWAY.
pub const DEFAULT_MAX_PING_STRIKES: u32 = 2;
/// grpc-core's default PINGs a client sends without data before it waits for data.
pub const DEFAULT_MAX_PINGS_WITHOUT_DATA: u32 = 2;

/// A client's and a server's keep-alive settings.
#[derive(Clone, Debug, PartialEq)]
pub struct GrpcPair {
    /// Client: time between PINGs (GRPC_ARG_KEEPALIVE_TIME_MS, ClientParameters.Time); `None`
    /// when the client sends no keep-alive PING (the default).
    pub client_time: Option<Duration>,
    /// Client: wait for a PING's ACK before closing (GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
    /// ClientParameters.Timeout).
    pub client_timeout: Duration,
    /// Client: PING with no call open (GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
    /// ClientParameters.PermitWithoutStream).
    pub client_permit_without_calls: bool,
    /// Client (grpc-core): PINGs sent without data before waiting for data
    /// (GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA; 0: unlimited, as grpc-go always is).
    pub client_max_pings_without_data: u32,
    /// Server: smallest interval between PINGs it accepts
    /// (GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, EnforcementPolicy.MinTime).
    pub server_min_time: Duration,
    /// Server: accepts PINGs with no call open (GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
    /// EnforcementPolicy.PermitWithoutStream).
    pub server_permit_without_calls: bool,
    /// Server (grpc-core): early PINGs forgiven before the GOAWAY
    /// (GRPC_ARG_HTTP2_MAX_PING_STRIKES; 0: unlimited). grpc-go forgives 2.
    pub server_max_ping_strikes: u32,
    /// Idle timeout of a NAT, firewall or load balancer between them.
    pub middlebox: Option<Duration>,
}

impl Default for GrpcPair {
    fn default() -> Self {
        GrpcPair {
            client_time: None,
            client_timeout: DEFAULT_CLIENT_TIMEOUT,
            client_permit_without_calls: false,
            client_max_pings_without_data: DEFAULT_MAX_PINGS_WITHOUT_DATA,
            server_min_time: DEFAULT_SERVER_MIN_TIME,
            server_permit_without_calls: false,
            server_max_ping_strikes: DEFAULT_MAX_PING_STRIKES,
            middlebox: None,
        }
    }
}

/// A setting to change, as each implementation names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// `client` or `server`.
    pub side: &'static str,
    /// grpc-core's channel argument.
    pub grpc_core: &'static str,
    /// grpc-go's field.
    pub grpc_go: &'static str,
    /// The value to give it.
    pub value: String,
}

/// What the pair does on an idle connection.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GrpcVerdict {
    /// The JSON schema's version.
    pub schema: u32,
    /// The client PINGs an idle connection.
    pub pings_when_idle: bool,
    /// The server sends GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
    pub too_many_pings: bool,
    /// Which PING earns it (1 = the first).
    pub goaway_at_ping: Option<u32>,
    /// How long into an idle connection the GOAWAY comes.
    pub goaway_after_s: Option<f64>,
    /// How long a dead peer takes to be noticed on an idle connection (PING interval plus the
    /// ACK timeout); `None` when nothing pings it.
    pub dead_peer_noticed_after_s: Option<f64>,
    /// The middlebox forgets the idle connection before the next PING refreshes it.
    pub middlebox_cuts_first: Option<bool>,
    /// Why, in words.
    pub reasons: Vec<String>,
    /// What to change.
    pub fixes: Vec<Fix>,
}

impl GrpcVerdict {
    /// Something goes wrong: a too_many_pings GOAWAY, or a middlebox that cuts first.
    pub fn is_problem(&self) -> bool {
        self.too_many_pings || self.middlebox_cuts_first == Some(true)
    }
}

impl GrpcPair {
    /// What these settings do to an idle connection.
    pub fn check(&self) -> GrpcVerdict {
        let d = |x: Duration| format_duration(x);
        let mut reasons = Vec::new();
        let mut fixes = Vec::new();
        let idle_pings = match self.client_time {
            Some(_) if !self.client_permit_without_calls => {
                reasons.push(
                    "the client pings only while a call is open (permit without calls is off): \
                     an idle connection is not kept alive by PINGs"
                        .to_string(),
                );
                None
            }
            Some(t) => {
                // A grpc-core client stops after this many PINGs until data flows again.
                let limit = (self.client_max_pings_without_data > 0)
                    .then_some(self.client_max_pings_without_data);
                Some((t, limit))
            }
            None => {
                reasons.push("the client sends no keep-alive PING".to_string());
                None
            }
        };
        let mut verdict = GrpcVerdict {
            schema: 1,
            pings_when_idle: idle_pings.is_some(),
            too_many_pings: false,
            goaway_at_ping: None,
            goaway_after_s: None,
            dead_peer_noticed_after_s: None,
            middlebox_cuts_first: None,
            reasons: Vec::new(),
            fixes: Vec::new(),
        };
        if let Some((t, limit)) = idle_pings {
            // Each PING earlier than the server allows is a strike; one strike past the
            // forgiven ones draws the GOAWAY. The first PING on a fresh connection is never
            // early.
            let early = !self.server_permit_without_calls || t < self.server_min_time;
            let goaway_ping = 1 + self.server_max_ping_strikes + 1;
            let reached = limit.is_none_or(|l| l >= goaway_ping);
            // 0 strikes means unlimited in grpc-core: never a GOAWAY.
            if early && self.server_max_ping_strikes != 0 && reached {
                verdict.too_many_pings = true;
                verdict.goaway_at_ping = Some(goaway_ping);
                verdict.goaway_after_s = Some(t.as_secs_f64() * f64::from(goaway_ping - 1));
                let why = if !self.server_permit_without_calls {
                    "the server does not accept PINGs without a call open".to_string()
                } else {
                    format!(
                        "the client pings every {} and the server accepts one PING per {}",
                        d(t),
                        d(self.server_min_time)
                    )
                };
                reasons.push(format!(
                    "too_many_pings: {why}; it forgives {} early PINGs, so the client's PING \
                     #{goaway_ping} draws GOAWAY ENHANCE_YOUR_CALM \"too_many_pings\" about {} \
                     into an idle connection, and the client's calls then fail with UNAVAILABLE \
                     until it reconnects (grpc-core clients double their keep-alive time after it)",
                    self.server_max_ping_strikes,
                    d(t * (goaway_ping - 1))
                ));
                if !self.server_permit_without_calls {
                    fixes.push(Fix {
                        side: "server",
                        grpc_core: "GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS",
                        grpc_go: "keepalive.EnforcementPolicy.PermitWithoutStream",
                        value: "true (1)".into(),
                    });
                }
                if t < self.server_min_time {
                    fixes.push(Fix {
                        side: "client",
                        grpc_core: "GRPC_ARG_KEEPALIVE_TIME_MS",
                        grpc_go: "keepalive.ClientParameters.Time",
                        value: format!("{} or more", d(self.server_min_time)),
                    });
                    fixes.push(Fix {
                        side: "server",
                        grpc_core: "GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS",
                        grpc_go: "keepalive.EnforcementPolicy.MinTime",
                        value: format!("{} or less (or raise the client's)", d(t)),
                    });
                }
            } else if early && !reached {
                reasons.push(format!(
                    "the client would ping too often, but it stops after {} PINGs without data \
                     (GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA), so the server never strikes it out \
                     — and the idle connection is not kept alive after that",
                    limit.unwrap_or(0)
                ));
            }
            if !verdict.too_many_pings {
                verdict.dead_peer_noticed_after_s = Some((t + self.client_timeout).as_secs_f64());
                reasons.push(format!(
                    "a dead server is noticed on an idle connection within {} (PING every {}, \
                     ACK awaited {})",
                    d(t + self.client_timeout),
                    d(t),
                    d(self.client_timeout)
                ));
            }
        }
        if let Some(m) = self.middlebox {
            let refreshed = match idle_pings {
                Some((t, None)) if !verdict.too_many_pings => Some(t < m),
                _ => None,
            };
            let cuts = refreshed.is_none_or(|r| !r);
            verdict.middlebox_cuts_first = Some(cuts);
            if cuts {
                reasons.push(format!(
                    "the middlebox forgets an idle connection after {}, before any PING refreshes \
                     it: the next call on it is lost or reset",
                    d(m)
                ));
                fixes.push(Fix {
                    side: "client",
                    grpc_core: "GRPC_ARG_KEEPALIVE_TIME_MS (with GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA 0)",
                    grpc_go: "keepalive.ClientParameters.Time (with PermitWithoutStream)",
                    value: format!(
                        "below {} (and the server's minimum interval at most that)",
                        d(m)
                    ),
                });
            } else {
                reasons.push(format!(
                    "the middlebox's {} idle timeout is refreshed by every PING",
                    d(m)
                ));
            }
        }
        verdict.reasons = reasons;
        verdict.fixes = fixes;
        verdict
    }
}

impl GrpcVerdict {
    /// The text form.
    pub fn render_text(&self, pair: &GrpcPair) -> String {
        let d = |x: Duration| format_duration(x);
        let mut o = String::new();
        o += &format!(
            "client: {}, ACK timeout {}, {} without calls{}\n",
            pair.client_time
                .map_or("no keep-alive PING".to_string(), |t| format!(
                    "PING every {}",
                    d(t)
                )),
            d(pair.client_timeout),
            if pair.client_permit_without_calls {
                "pings"
            } else {
                "no PING"
            },
            if pair.client_max_pings_without_data == 0 {
                String::new()
            } else {
                format!(
                    ", at most {} PINGs without data",
                    pair.client_max_pings_without_data
                )
            }
        );
        o +=
            &format!(
            "server: accepts one PING per {}, {} PINGs without calls, forgives {} early PINGs\n",
            d(pair.server_min_time),
            if pair.server_permit_without_calls { "accepts" } else { "refuses" },
            if pair.server_max_ping_strikes == 0 {
                "all".to_string()
            } else {
                pair.server_max_ping_strikes.to_string()
            }
        );
        o += &format!(
            "verdict: {}\n",
            if self.too_many_pings {
                "too_many_pings"
            } else if self.middlebox_cuts_first == Some(true) {
                "the middlebox cuts idle connections first"
            } else {
                "ok"
            }
        );
        for r in &self.reasons {
            o += &format!("  * {r}\n");
        }
        if !self.fixes.is_empty() {
            o += "fix:\n";
            for f in &self.fixes {
                o += &format!(
                    "  * {}: {} (grpc-core) / {} (grpc-go) = {}\n",
                    f.side, f.grpc_core, f.grpc_go, f.value
                );
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// The grpc-keepalive scenario's settings: a GOAWAY at the 4th PING, as its capture shows.
    #[test]
    fn pings_every_second_against_a_five_second_minimum_earn_too_many_pings() {
        let pair = GrpcPair {
            client_time: Some(s(1)),
            client_timeout: s(2),
            client_permit_without_calls: true,
            client_max_pings_without_data: 0,
            server_min_time: s(5),
            server_permit_without_calls: false,
            ..GrpcPair::default()
        };
        let v = pair.check();
        assert!(v.too_many_pings && v.is_problem());
        assert_eq!((v.goaway_at_ping, v.goaway_after_s), (Some(4), Some(3.0)));
        assert!(v
            .fixes
            .iter()
            .any(|f| f.grpc_go == "keepalive.ClientParameters.Time"));
        assert!(v
            .fixes
            .iter()
            .any(|f| f.grpc_core == "GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS"));
        let text = v.render_text(&pair);
        assert!(text.contains("verdict: too_many_pings"), "{text}");
    }

    #[test]
    fn matching_settings_keep_an_idle_connection_alive_through_a_middlebox() {
        let pair = GrpcPair {
            client_time: Some(s(60)),
            client_permit_without_calls: true,
            client_max_pings_without_data: 0,
            server_min_time: s(30),
            server_permit_without_calls: true,
            middlebox: Some(s(350)),
            ..GrpcPair::default()
        };
        let v = pair.check();
        assert!(!v.is_problem(), "{v:?}");
        assert_eq!(v.dead_peer_noticed_after_s, Some(80.0));
        assert_eq!(v.middlebox_cuts_first, Some(false));
    }

    #[test]
    fn defaults_never_ping_so_a_middlebox_cuts_first() {
        let v = GrpcPair {
            middlebox: Some(s(350)),
            ..GrpcPair::default()
        }
        .check();
        assert!(!v.too_many_pings && !v.pings_when_idle);
        assert_eq!(v.middlebox_cuts_first, Some(true));
        // A grpc-core client stops after 2 PINGs without data: no GOAWAY, but no keep-alive.
        let v = GrpcPair {
            client_time: Some(s(10)),
            client_permit_without_calls: true,
            ..GrpcPair::default()
        }
        .check();
        assert!(!v.too_many_pings, "{v:?}");
    }
}
