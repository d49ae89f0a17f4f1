//! One probe run as `keepsight probe http|path` asks for it: the limits checked and turned into
//! a search and a budget, the probe run on a small runtime of its own, the report rendered as
//! text or JSON.

use crate::http::{HttpOptions, HttpReport, TlsOptions};
use crate::path::PathReport;
use crate::search::SearchConfig;
use crate::text::{http_text, path_text};
use crate::{Budget, ProbeError, Progress};
use keepsight_keepalive::heartbeat::Wire;
use std::time::Duration;

/// The limits both probes share.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Longest idle period tried; a timeout beyond it is reported as none found.
    pub max_idle: Duration,
    /// Stop the idle search once the bound is known to ± this.
    pub precision: Duration,
    /// Connections idling at once in each search round.
    pub parallel: usize,
    /// An answer slower than this counts as none (`None`: the probe's own default).
    pub reply_timeout: Option<Duration>,
    /// Give up on a connect after this long.
    pub connect_timeout: Duration,
    /// Cap on the whole run; the result so far is reported when it is reached.
    pub max_time: Duration,
    /// Cap on connections opened in the whole run.
    pub max_connections: u32,
}

impl Limits {
    /// The idle search these limits allow, with `default_reply` when no reply timeout was
    /// given. A value that would make the search meaningless is refused, naming its flag.
    pub fn search(&self, default_reply: Duration) -> Result<SearchConfig, String> {
        if self.max_idle.is_zero() || self.precision.is_zero() {
            return Err("--max-idle and --precision must be above zero".into());
        }
        if self.parallel == 0 || self.parallel > 1000 {
            return Err("--parallel must be from 1 to 1000".into());
        }
        if self.max_connections < 2 {
            return Err("--max-connections must be at least 2".into());
        }
        if self.max_time.is_zero() {
            return Err("--max-time must be above zero".into());
        }
        let reply_timeout = self.reply_timeout.unwrap_or(default_reply);
        if reply_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err("--reply-timeout and --connect-timeout must be above zero".into());
        }
        Ok(SearchConfig {
            max_idle: self.max_idle,
            precision: self.precision,
            parallel: self.parallel,
            reply_timeout,
            connect_timeout: self.connect_timeout,
            ..SearchConfig::default()
        })
    }

    fn budget(&self) -> Budget {
        Budget::new(self.max_time, self.max_connections)
    }
}

/// Which probe to run and against what.
#[derive(Clone, Debug)]
pub enum Target {
    /// An HTTP/1.x server at `url`; requests per connection counted up to `max_requests`.
    Http {
        /// `http[s]://HOST[:PORT][/PATH]`.
        url: String,
        /// Stop counting requests per connection after this many.
        max_requests: u64,
        /// Trust and SNI for an `https://` URL.
        tls: TlsOptions,
    },
    /// The path to a `keepsight heartbeat serve` at `addr` answering `wire`'s probe byte.
    Path {
        /// `HOST:PORT`.
        addr: String,
        /// Probe and reply bytes the server uses.
        wire: Wire,
    },
}

/// Why a probe run did not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The limits or options are out of range.
    #[error("{0}")]
    Usage(String),
    /// The runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The probe itself could not run (address, connection, protocol).
    #[error(transparent)]
    Probe(#[from] ProbeError),
}

/// What a probe run found.
#[derive(Debug)]
pub enum Report {
    /// [`crate::http::probe`]'s report.
    Http(Box<HttpReport>),
    /// [`crate::path::probe`]'s report.
    Path(Box<PathReport>),
}

impl Report {
    /// Whether the findings are problems (an HTTP server that breaks its own promises).
    pub fn problems(&self) -> bool {
        matches!(self, Report::Http(r) if r.problems)
    }

    /// The report as text, or as pretty-printed JSON (schema: the crate's README).
    pub fn render(&self, json: bool) -> serde_json::Result<String> {
        Ok(match self {
            Report::Http(r) if json => serde_json::to_string_pretty(r)?,
            Report::Path(r) if json => serde_json::to_string_pretty(r)?,
            Report::Http(r) => http_text(r),
            Report::Path(r) => path_text(r),
        })
    }
}

/// Runs the probe `target` names within `limits`, telling `progress` each step.
pub fn run(target: Target, limits: &Limits, progress: &Progress) -> Result<Report, RunError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    match target {
        Target::Http {
            url,
            max_requests,
            tls,
        } => {
            let mut opts = HttpOptions {
                tls,
                search: limits
                    .search(Duration::from_secs(5))
                    .map_err(RunError::Usage)?,
                max_requests,
                ..HttpOptions::default()
            };
            if max_requests == 0 {
                return Err(RunError::Usage("--max-requests must be at least 1".into()));
            }
            // More parallel connections than the run may open would starve the later rounds.
            opts.search.parallel = opts.search.parallel.min(limits.max_connections as usize);
            let report =
                runtime.block_on(crate::http::probe(&url, &opts, &limits.budget(), progress))?;
            Ok(Report::Http(Box::new(report)))
        }
        Target::Path { addr, wire } => {
            let search = limits
                .search(Duration::from_secs(2))
                .map_err(RunError::Usage)?;
            let report = runtime.block_on(crate::path::probe(
                &addr,
                wire,
                &search,
                &limits.budget(),
                progress,
            ))?;
            Ok(Report::Path(Box::new(report)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_idle: Duration::from_secs(600),
            precision: Duration::from_secs(1),
            parallel: 32,
            reply_timeout: None,
            connect_timeout: Duration::from_secs(5),
            max_time: Duration::from_secs(900),
            max_connections: 256,
        }
    }

    #[test]
    fn limits_give_the_search_with_the_probe_default_reply_timeout() {
        let s = limits().search(Duration::from_secs(2)).unwrap();
        assert_eq!(s.reply_timeout, Duration::from_secs(2));
        assert_eq!((s.parallel, s.max_idle), (32, Duration::from_secs(600)));
        let given = Limits {
            reply_timeout: Some(Duration::from_millis(300)),
            ..limits()
        };
        let s = given.search(Duration::from_secs(2)).unwrap();
        assert_eq!(s.reply_timeout, Duration::from_millis(300));
    }

    #[test]
    fn meaningless_limits_are_refused_by_flag() {
        let refused = |l: Limits| l.search(Duration::from_secs(5)).unwrap_err();
        let zero = Duration::ZERO;
        assert!(refused(Limits {
            precision: zero,
            ..limits()
        })
        .starts_with("--max-idle"));
        assert!(refused(Limits {
            parallel: 1001,
            ..limits()
        })
        .starts_with("--parallel"));
        assert!(refused(Limits {
            max_connections: 1,
            ..limits()
        })
        .starts_with("--max-conn"));
        assert!(refused(Limits {
            max_time: zero,
            ..limits()
        })
        .starts_with("--max-time"));
        let no_reply = Limits {
            reply_timeout: Some(zero),
            ..limits()
        };
        assert!(refused(no_reply).starts_with("--reply-timeout"));
    }

    #[test]
    fn zero_requests_per_connection_is_a_usage_error_before_any_connection() {
        let target = Target::Http {
            url: "http://127.0.0.1:9/".into(),
            max_requests: 0,
            tls: TlsOptions::default(),
        };
        let err = run(target, &limits(), &crate::no_progress()).unwrap_err();
        assert_eq!(err.to_string(), "--max-requests must be at least 1");
    }
}
