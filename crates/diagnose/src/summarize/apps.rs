//! The findings of a stream that speaks an application protocol with its own heartbeat (see
//! `crate::apps`): silences judged against the interval the protocol declared (never a guessed
//! period), the peer's probe and goodbye after a side went silent, and sequence gaps.

use super::common::{close_ts, s3, StreamCx};
use crate::apps::{AppDir, AppWatch};
use crate::finding::{
    AppGoodbye, AppLate, AppProbe, AppSeqGap, AppStopped, AppUnanswered, Details, Finding, Severity,
};
use crate::report::human;
use crate::stream::Event;

/// An interval as the protocol wrote it: whole seconds as `2 s`, else rounded.
fn interval_text(ns: i64) -> String {
    if ns % 1_000_000_000 == 0 {
        format!("{} s", ns / 1_000_000_000)
    } else {
        human(ns)
    }
}

/// Pushes the stream's findings; true when one of them explains the connection's reset (a
/// stopped heartbeat the connection ended with).
pub(super) fn findings(cx: &StreamCx<'_>, out: &mut Vec<Finding>) -> bool {
    let Some(app) = cx.s.app.as_deref() else {
        return false;
    };
    let mut explains_reset = false;
    for d in [cx.client_dir, 1 - cx.client_dir] {
        let me = &app.dirs[d];
        late(cx, app, d, me, out);
        explains_reset |= stopped(cx, app, d, out) && cx.s.rst.is_some();
        unanswered(cx, app, d, out);
        sequence_gaps(cx, app, d, out);
    }
    explains_reset
}

/// Silences of side `d` beyond the limit, after which it spoke again.
fn late(cx: &StreamCx<'_>, app: &AppWatch, d: usize, me: &AppDir, out: &mut Vec<Finding>) {
    let protocol = app.protocol();
    let unlisted = me.late_count.saturating_sub(me.late.len() as u64);
    for (i, g) in me.late.iter().enumerate() {
        let more = if i + 1 == me.late.len() && unlisted > 0 {
            format!(" ({unlisted} more such silence(s) of this side not listed)")
        } else {
            String::new()
        };
        let limit = protocol.silence_limit_ns(g.interval_ns);
        let gap = g.to.ts - g.from.ts;
        out.push(Finding::new(
            Severity::Warning,
            cx.sid(),
            vec![g.from.frame, g.to.frame],
            g.to.ts,
            format!(
                "{} session: the {} sent nothing for {} between frames {} and {}, beyond {} {} (the protocol tolerates {}){more}.",
                protocol.display_name(),
                cx.role(d),
                human(gap),
                g.from.frame,
                g.to.frame,
                protocol.interval_field(),
                interval_text(g.interval_ns),
                human(limit),
            ),
            Details::AppHeartbeatLate(AppLate {
                gap_s: s3(gap),
                interval_field: protocol.interval_field(),
                interval_s: s3(g.interval_ns),
                late_by_s: s3(gap - g.interval_ns),
                limit_s: s3(limit),
                protocol: protocol.as_str(),
                sender: cx.role(d),
            }),
        ));
    }
}

/// Side `d` went silent beyond the limit and never spoke again before the session ended;
/// true when it did.
fn stopped(cx: &StreamCx<'_>, app: &AppWatch, d: usize, out: &mut Vec<Finding>) -> bool {
    let s = cx.s;
    let protocol = app.protocol();
    let (me, peer) = (&app.dirs[d], &app.dirs[1 - d]);
    let (Some(interval), Some(last)) = (me.interval_ns, me.last) else {
        return false;
    };
    if me.goodbye.is_some() || me.lost.is_some() {
        return false;
    }
    let close = s.rst.map(|e| ("rst", e)).or_else(|| {
        s.dirs
            .iter()
            .filter_map(|x| x.fin)
            .min_by_key(|e| e.ts)
            .map(|e| ("fin", e))
    });
    let peer_goodbye = peer.goodbye.as_ref().filter(|(e, _)| e.ts > last.ts);
    let ended = peer_goodbye
        .map(|(e, _)| e.ts)
        .or(close_ts(s))
        .unwrap_or(s.last_ts);
    let limit = protocol.silence_limit_ns(interval);
    let silent = ended - last.ts;
    if silent <= limit {
        return false;
    }
    let role = |e: &Event| cx.role(e.dir as usize);
    let probe = peer
        .last_probe
        .filter(|(e, _)| e.ts > last.ts)
        .map(|(e, answered)| AppProbe {
            answered,
            by: role(&e),
            frame: e.frame,
            name: protocol.probe_name(),
        });
    let goodbye = peer_goodbye.map(|(e, text)| AppGoodbye {
        by: role(e),
        frame: e.frame,
        text: text.clone(),
    });
    let mut frames = vec![last.frame];
    let mut words = format!(
        "{} session: the {}'s heartbeats stopped after frame {} ({} {}; silent {}, the protocol tolerates {})",
        protocol.display_name(),
        cx.role(d),
        last.frame,
        protocol.interval_field(),
        interval_text(interval),
        human(silent),
        human(limit),
    );
    if let Some(p) = &probe {
        frames.push(p.frame);
        words.push_str(&format!(
            "; the {}'s {} (frame {}) went {}",
            p.by,
            p.name,
            p.frame,
            if p.answered { "answered" } else { "unanswered" }
        ));
    }
    if let Some(g) = &goodbye {
        frames.push(g.frame);
        words.push_str(&format!(
            "; the {} {}{} (frame {})",
            g.by,
            protocol.goodbye_words(),
            g.text
                .as_ref()
                .map(|t| format!(" with '{t}'"))
                .unwrap_or_default(),
            g.frame
        ));
    }
    if let Some((how, e)) = close {
        frames.push(e.frame);
        words.push_str(&format!(
            "; then the {} {} (frame {})",
            role(&e),
            if how == "rst" {
                "reset the connection"
            } else {
                "closed the connection"
            },
            e.frame
        ));
    }
    words.push('.');
    out.push(Finding::new(
        Severity::Error,
        cx.sid(),
        frames,
        last.ts,
        words,
        Details::AppHeartbeatStopped(AppStopped {
            close: close.map(|(how, _)| how),
            close_by: close.map(|(_, e)| role(&e)),
            goodbye,
            interval_field: protocol.interval_field(),
            interval_s: s3(interval),
            last_frame: last.frame,
            limit_s: s3(limit),
            probe,
            protocol: protocol.as_str(),
            sender: cx.role(d),
            silent_s: s3(silent),
        }),
    ));
    true
}

/// Sequence numbers of side `d` that skipped or went back.
fn sequence_gaps(cx: &StreamCx<'_>, app: &AppWatch, d: usize, out: &mut Vec<Finding>) {
    let protocol = app.protocol();
    let me = &app.dirs[d];
    let unlisted = me.seq_gap_count.saturating_sub(me.seq_gaps.len() as u64);
    for (i, g) in me.seq_gaps.iter().enumerate() {
        let mut frames = vec![g.at.frame];
        let mut words = if g.received > g.expected {
            format!(
                "{} session: the {}'s sequence number jumped to {} at frame {} where {} was expected ({} message(s) never arrived)",
                protocol.display_name(),
                cx.role(d),
                g.received,
                g.at.frame,
                g.expected,
                g.received - g.expected
            )
        } else {
            format!(
                "{} session: the {}'s sequence number went back to {} at frame {} where {} was expected (a restarted or misconfigured peer)",
                protocol.display_name(),
                cx.role(d),
                g.received,
                g.at.frame,
                g.expected
            )
        };
        if let Some(r) = g.resend_request {
            frames.push(r.frame);
            words.push_str(&format!(
                "; the {} asked for them again with a ResendRequest (frame {})",
                cx.role(r.dir as usize),
                r.frame
            ));
        }
        if i + 1 == me.seq_gaps.len() && unlisted > 0 {
            words.push_str(&format!(
                " ({unlisted} more gap(s) of this side not listed)"
            ));
        }
        words.push('.');
        out.push(Finding::new(
            Severity::Warning,
            cx.sid(),
            frames,
            g.at.ts,
            words,
            Details::AppSequenceGap(AppSeqGap {
                expected: g.expected,
                protocol: protocol.as_str(),
                received: g.received,
                resend_request_frame: g.resend_request.map(|r| r.frame),
                sender: cx.role(d),
            }),
        ));
    }
}

/// Side `d`'s last probe (in a protocol that declares no interval: Redis, …) got no answer
/// while its peer could still have sent one.
fn unanswered(cx: &StreamCx<'_>, app: &AppWatch, d: usize, out: &mut Vec<Finding>) {
    let s = cx.s;
    let protocol = app.protocol();
    let (me, peer) = (&app.dirs[d], &app.dirs[1 - d]);
    if me.interval_ns.is_some() || peer.lost.is_some() {
        return;
    }
    let Some((probe, false)) = me.last_probe else {
        return;
    };
    let end = close_ts(s).unwrap_or(s.last_ts);
    let waited = end - probe.ts;
    let after = cx.opts.timeout_ns.unwrap_or(1_000_000_000);
    if waited < after {
        return;
    }
    let run = me.unanswered_run + 1;
    let first = me.first_unanswered.unwrap_or(probe);
    let mut frames = vec![first.frame];
    if first.frame != probe.frame {
        frames.push(probe.frame);
    }
    let mut words = if run > 1 {
        format!(
            "{} session: {run} {}s of the {} in a row went unanswered (frames {} to {}, the last waited {})",
            protocol.display_name(),
            protocol.probe_name(),
            cx.role(d),
            first.frame,
            probe.frame,
            human(waited)
        )
    } else {
        format!(
            "{} session: the {}'s {} (frame {}) went unanswered for {}",
            protocol.display_name(),
            cx.role(d),
            protocol.probe_name(),
            probe.frame,
            human(waited)
        )
    };
    if let Some((e, text)) = me.goodbye.as_ref().filter(|(e, _)| e.ts > probe.ts) {
        frames.push(e.frame);
        words.push_str(&format!(
            "; the {} {}{} (frame {})",
            cx.role(d),
            protocol.goodbye_words(),
            text.as_ref()
                .map(|t| format!(" with '{t}'"))
                .unwrap_or_default(),
            e.frame
        ));
    }
    let close = s.rst.map(|e| ("reset", e)).or_else(|| {
        s.dirs
            .iter()
            .filter_map(|x| x.fin)
            .min_by_key(|e| e.ts)
            .map(|e| ("closed", e))
    });
    if let Some((how, e)) = close {
        frames.push(e.frame);
        words.push_str(&format!(
            "; then the {} {how} the connection (frame {})",
            cx.role(e.dir as usize),
            e.frame
        ));
    }
    words.push('.');
    out.push(Finding::new(
        Severity::Warning,
        cx.sid(),
        frames,
        probe.ts,
        words,
        Details::AppProbeUnanswered(AppUnanswered {
            probe: protocol.probe_name(),
            protocol: protocol.as_str(),
            sender: cx.role(d),
            unanswered: run,
            waited_s: s3(waited),
        }),
    ));
}
