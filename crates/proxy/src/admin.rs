//! The admin endpoint: a second listener (loopback only) that reads and changes the drain
//! ratio at run time, prints counters, and starts a graceful shutdown.
//!
//! ```text
//! GET  /drain                              current ratio (and ramp)
//! POST /drain?ratio=0.3                    set a fixed ratio (cancels a ramp)
//! POST /drain?from=0.1&to=1.0&over=10m     start a ramp now
//! GET  /stats                              connection and request counters
//! POST /shutdown                           graceful shutdown
//! ```
//!
//! An HTTP endpoint was chosen over SIGHUP + file because it answers: the caller learns at once
//! whether the value was accepted and what is now in force.

use crate::drain::{parse_ratio, Ramp};
use crate::server::{Control, Exchange, Handler, HandlerError};
use std::sync::Arc;

pub(crate) struct AdminHandler {
    ctl: Arc<Control>,
    /// Extra counters appended to `/stats` (the proxy's upstream figures).
    extra: Option<Arc<dyn Fn() -> String + Send + Sync>>,
}

impl AdminHandler {
    pub(crate) fn new(
        ctl: Arc<Control>,
        extra: Option<Arc<dyn Fn() -> String + Send + Sync>>,
    ) -> Self {
        AdminHandler { ctl, extra }
    }

    fn drain_json(&self) -> String {
        let d = &self.ctl.drain;
        match d.ramp() {
            Some((r, elapsed)) => format!(
                "{{\"ratio\":{:.4},\"ramp\":{{\"from\":{},\"to\":{},\"over_secs\":{},\"elapsed_secs\":{:.1}}}}}\n",
                d.ratio(),
                r.from,
                r.to,
                r.over.as_secs_f64(),
                elapsed.as_secs_f64()
            ),
            None => format!("{{\"ratio\":{:.4},\"ramp\":null}}\n", d.ratio()),
        }
    }

    fn set_drain(&self, query: &str) -> Result<(), String> {
        let mut ratio = None;
        let (mut from, mut to, mut over) = (None, None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "ratio" => ratio = Some(parse_ratio(v)?),
                "from" => from = Some(parse_ratio(v)?),
                "to" => to = Some(parse_ratio(v)?),
                "over" => {
                    over = Some(keepsight_keepalive::parse_duration(v).map_err(|e| e.to_string())?)
                }
                _ => return Err(format!("unknown parameter `{k}`")),
            }
        }
        match (ratio, from, to, over) {
            (Some(r), None, None, None) => {
                self.ctl.drain.set_ratio(r);
                Ok(())
            }
            (None, Some(from), Some(to), Some(over)) => {
                self.ctl.drain.set_ramp(Ramp { from, to, over });
                Ok(())
            }
            _ => Err("give either `ratio=R` or `from=A&to=B&over=DURATION`".into()),
        }
    }
}

impl Handler for AdminHandler {
    async fn handle(&self, ex: &mut Exchange<'_>) -> Result<(), HandlerError> {
        ex.discard_body().await?;
        let target = String::from_utf8_lossy(ex.request().target()).into_owned();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let method = ex.request().method().to_string();
        let json = b"Content-Type: application/json\r\n";
        match (method.as_str(), path) {
            ("GET", "/drain") => ex.respond(200, json, self.drain_json().as_bytes()).await,
            ("POST" | "PUT", "/drain") => match self.set_drain(query) {
                Ok(()) => ex.respond(200, json, self.drain_json().as_bytes()).await,
                Err(e) => ex.respond(400, b"", format!("{e}\n").as_bytes()).await,
            },
            ("GET", "/stats") => {
                let mut s = self.ctl.stats.to_json();
                if let Some(extra) = &self.extra {
                    s.pop();
                    s.push(',');
                    s.push_str(&extra());
                    s.push('}');
                }
                s.push('\n');
                ex.respond(200, json, s.as_bytes()).await
            }
            ("POST", "/shutdown") => {
                let r = ex.respond(200, b"", b"shutting down\n").await;
                self.ctl.shutdown();
                r
            }
            (_, "/drain" | "/stats" | "/shutdown") => ex.respond(405, b"", b"").await,
            _ => ex.respond(404, b"", b"not found\n").await,
        }
    }
}
