//! A reset forged after idle: the connection was silent longer than ever before, one side sent
//! again, and a RST came back in the other side's name with an IP TTL that side never used.
//! One story explains all of it: a stateful box between them (NAT gateway, firewall, load
//! balancer) forgot the connection during the silence and rejected the first packet after it
//! (an AWS NAT gateway does exactly this after 350 s). The other side never sent that RST, so
//! it is not a half-open connection, and not a reset out of the blue either.

use super::common::{s3, StreamCx};
use crate::finding::{Details, Finding, IdleReset, Severity};
use crate::middlebox::may_have_reset;
use crate::report::{human, secs};

/// Shortest silence that counts as an idle gap here.
const MIN_IDLE_NS: i64 = 1_000_000_000;
/// A box answers at once: the RST follows the packet within a second and within a tenth of
/// the silence (which keeps a reset that comes on its own, later, out).
const MAX_ANSWER_NS: i64 = 1_000_000_000;

/// Reports the reset forged after idle; whether there was one (it explains the reset, and
/// replaces the plain forged-reset finding for it).
pub(super) fn middlebox_idle_reset(cx: &StreamCx<'_>, out: &mut Vec<Finding>) -> bool {
    let s = cx.s;
    let (Some(inj), Some(idle), Some((prev, _))) = (s.injected, s.idle_before_rst, s.rst_ctx)
    else {
        return false;
    };
    let rst = inj.rst;
    let answer_ns = rst.ts - prev.ts;
    let answers_the_peer = prev.dir != rst.dir;
    if !answers_the_peer
        || idle.idle < MIN_IDLE_NS
        || answer_ns > MAX_ANSWER_NS
        || answer_ns * 10 > idle.idle
    {
        return false;
    }
    let who = cx.role(rst.dir as usize);
    let peer = cx.role(prev.dir as usize);
    let boxes: Vec<&'static str> =
        may_have_reset(&cx.opts.middleboxes, secs(idle.survived), secs(idle.idle))
            .map(|m| m.name)
            .collect();
    let usual = if inj.usual_min == inj.usual_max {
        format!("{}", inj.usual_min)
    } else {
        format!("{}-{}", inj.usual_min, inj.usual_max)
    };
    let which = if boxes.is_empty() {
        String::new()
    } else {
        format!(" (with its default settings: {})", boxes.join(", "))
    };
    let mut f = Finding::new(
        Severity::Error,
        cx.sid(),
        vec![idle.from_frame, prev.frame, rst.frame],
        rst.ts,
        format!(
            "after {} with no packet in either direction (frames {} → {}; before that it never stayed idle longer than {}), the {peer}'s packet (frame {}) was answered {} later by a RST in the {who}'s name (frame {}) with IP TTL/hop limit {} while the {who}'s {} other segments all had {usual} → the {who} did not send it: a stateful box on the path (NAT gateway, firewall, load balancer) forgot the connection during the idle time and rejected the first packet after it{which}; its idle timeout lies between {} and {}: keep the connection busier (heartbeat or TCP keep-alive more often than every {}), or raise the timeout",
            human(idle.idle),
            idle.from_frame,
            prev.frame,
            human(idle.survived),
            prev.frame,
            human(answer_ns),
            rst.frame,
            rst.ttl,
            inj.usual_n,
            human(idle.survived),
            human(idle.idle),
            human(idle.survived.max(MIN_IDLE_NS)),
        ),
        Details::MiddleboxIdleReset(IdleReset {
            by: who,
            idle_s: s3(idle.idle),
            middleboxes: boxes,
            reset_after_s: s3(answer_ns),
            survived_idle_s: s3(idle.survived),
            ttl: rst.ttl,
            usual_ttl_max: inj.usual_max,
            usual_ttl_min: inj.usual_min,
        }),
    );
    f.noticed_ns = Some((rst.ts, rst.ts));
    out.push(f);
    true
}
