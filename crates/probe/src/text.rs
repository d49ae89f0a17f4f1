//! The text renderings of the probe reports (`keepsight probe http|path`); their JSON is the
//! reports' own serialization (schema: this crate's README).

use crate::http::HttpReport;
use crate::path::PathReport;
use crate::search::IdleResult;

/// One line for an idle-timeout search result: the estimate and how it was measured.
pub fn idle_text(i: &IdleResult) -> String {
    let tail = format!(
        "{} round(s), {} connections, {:.1} s{}{}",
        i.rounds,
        i.connections,
        i.elapsed_s,
        i.stopped_by
            .as_ref()
            .map(|s| format!(", stopped by {s}"))
            .unwrap_or_default(),
        if i.inconsistent {
            ", INCONSISTENT results (a longer idle worked where a shorter failed)"
        } else {
            ""
        }
    );
    match i.method.as_str() {
        "observed-close" => {
            let c = i.close.as_ref();
            format!(
                "{:.3} s ± {:.3} s (observed close: {} on {} connection(s) between {:.3} and {:.3} s, {}; {tail})",
                i.estimate_s.unwrap_or(0.0),
                i.precision_s.unwrap_or(0.0),
                c.map(|c| c.how.to_uppercase()).unwrap_or_default(),
                c.map(|c| c.observed_on).unwrap_or(0),
                c.map(|c| c.first_s).unwrap_or(0.0),
                c.map(|c| c.last_s).unwrap_or(0.0),
                match c.and_then(|c| c.announced.as_ref()) {
                    Some(a) => format!("announced by `{a}`"),
                    None => "not announced".into(),
                }
            )
        }
        "check-after-idle" => format!(
            "between {:.3} and {:.3} s, i.e. {:.3} s ± {:.3} s (check after idle failed: {}; {tail})",
            i.lower_s,
            i.upper_s.unwrap_or(0.0),
            i.estimate_s.unwrap_or(0.0),
            i.precision_s.unwrap_or(0.0),
            i.failure.as_deref().unwrap_or("?")
        ),
        "none-found" => format!("none up to {:.3} s ({tail})", i.lower_s),
        _ => format!(
            "not measured: {} ({tail})",
            i.note.as_deref().unwrap_or("no result")
        ),
    }
}

fn list(out: &mut String, title: &str, items: &[String]) {
    if !items.is_empty() {
        out.push_str(&format!("{title}:\n"));
        for i in items {
            out.push_str(&format!("  - {i}\n"));
        }
    }
}

/// The part every probe report ends with: findings, recommendations, what the probe cost.
fn verdict(
    out: &mut String,
    findings: &[String],
    recommendation: &[String],
    connections_used: impl std::fmt::Display,
    elapsed_s: f64,
) {
    list(out, "findings", findings);
    list(out, "recommendation", recommendation);
    out.push_str(&format!(
        "({connections_used} connections, {elapsed_s:.1} s)"
    ));
}

/// The text report of `keepsight probe http`.
pub fn http_text(r: &HttpReport) -> String {
    let f = &r.first_response;
    let mut out = format!("probe http {} ({})\n", r.url, r.address);
    out.push_str(&format!(
        "first response:          {} {}, {} framing, {} body bytes, {:.1} ms\n",
        f.status,
        f.version,
        f.framing.name(),
        f.body_bytes,
        f.rtt_s * 1e3
    ));
    if let Some(t) = &r.tls {
        out.push_str(&format!(
            "tls:                     {} {}, ALPN {}, SNI {}, handshake {:.1} ms\n",
            t.version,
            t.cipher_suite,
            t.alpn.as_deref().unwrap_or("none"),
            t.server_name,
            t.handshake_s * 1e3
        ));
        let r = &t.resumption;
        out.push_str(&format!(
            "session resumption:      {} ({}{})\n",
            if r.resumed { "yes" } else { "no" },
            r.detail,
            r.handshake_s
                .map(|h| format!(", handshake {:.1} ms", h * 1e3))
                .unwrap_or_default()
        ));
    }
    out.push_str(&format!(
        "advertised Keep-Alive:   timeout={} max={}\n",
        r.advertised
            .timeout_s
            .map(|t| t.to_string())
            .unwrap_or("-".into()),
        r.advertised
            .max
            .map(|t| t.to_string())
            .unwrap_or("-".into())
    ));
    out.push_str(&format!(
        "idle timeout:            {}\n",
        r.idle_timeout
            .as_ref()
            .map(idle_text)
            .unwrap_or("not measured: the server does not keep connections alive".into())
    ));
    let rpc = &r.requests_per_connection;
    out.push_str(&format!(
        "requests per connection: {} ({}{}{})\n",
        rpc.count,
        rpc.ended_by,
        rpc.close
            .as_ref()
            .map(|c| format!(", {}", c.to_uppercase()))
            .unwrap_or_default(),
        rpc.detail
            .as_ref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    ));
    let yn = |b: bool| if b { "yes" } else { "no" };
    out.push_str(&format!(
        "HTTP/1.0 keep-alive:     {} ({})\n",
        yn(r.http10_keep_alive.supported),
        r.http10_keep_alive.detail
    ));
    out.push_str(&format!(
        "pipelining:              {} ({})\n",
        yn(r.pipelining.supported),
        r.pipelining.detail
    ));
    out.push_str(&format!(
        "framing:                 {} responses checked, {} problem(s)\n",
        r.framing.responses_checked, r.framing.problems_total
    ));
    for p in &r.framing.problems {
        out.push_str(&format!("  ! {p}\n"));
    }
    verdict(
        &mut out,
        &r.findings,
        &r.recommendation,
        r.connections_used,
        r.elapsed_s,
    );
    out
}

/// The text report of `keepsight probe path`.
pub fn path_text(r: &PathReport) -> String {
    let mut out = format!("probe path {} ({})\n", r.target, r.address);
    out.push_str(&format!(
        "idle timeout:       {}\n",
        idle_text(&r.idle_timeout)
    ));
    if let Some(k) = r.keepalive_interval_s {
        out.push_str(&format!("keep-alive every:   {k} s or less\n"));
    }
    verdict(
        &mut out,
        &r.findings,
        &r.recommendation,
        r.connections_used,
        r.elapsed_s,
    );
    out
}
