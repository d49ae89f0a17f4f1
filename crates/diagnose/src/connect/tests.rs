//! Scripted attempts: what each script's peers did decides what the findings must say.

use crate::finding::{Details, Finding, Kind, SilenceVerdict};
use crate::{Diagnoser, Listing, Options, Report};
use keepsight_tcp::{AnalysisFlags, Segment, TcpFlags as fl};
use std::net::SocketAddr;

const S: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;
const T0: i64 = 1_709_283_600 * S;

#[derive(Clone)]
struct Seg {
    ts: i64,
    stream: u32,
    src: SocketAddr,
    dst: SocketAddr,
    flags: u16,
    len: u32,
}

#[derive(Default, Clone)]
struct Script {
    segs: Vec<Seg>,
    streams: u32,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

impl Script {
    fn stream(&mut self) -> u32 {
        self.streams += 1;
        self.streams - 1
    }

    fn seg(&mut self, ts: i64, stream: u32, src: &str, dst: &str, flags: u16, len: u32) {
        self.segs.push(Seg {
            ts,
            stream,
            src: addr(src),
            dst: addr(dst),
            flags,
            len,
        });
    }

    /// A new attempt: SYNs at `t0 + each offset`, nothing back.
    fn silent(&mut self, t0: i64, client: &str, server: &str, resent: &[i64]) -> u32 {
        let s = self.stream();
        self.seg(t0, s, client, server, fl::SYN, 0);
        for &r in resent {
            self.seg(t0 + r, s, client, server, fl::SYN, 0);
        }
        s
    }

    /// A new attempt refused by the server's RST/ACK.
    fn refused(&mut self, t0: i64, client: &str, server: &str) -> u32 {
        let s = self.stream();
        self.seg(t0, s, client, server, fl::SYN, 0);
        self.seg(t0 + MS / 10, s, server, client, fl::RST | fl::ACK, 0);
        s
    }

    /// A new connection: handshake and a request/reply.
    fn connect(&mut self, t0: i64, client: &str, server: &str) -> u32 {
        let s = self.stream();
        self.seg(t0, s, client, server, fl::SYN, 0);
        self.seg(t0 + MS / 10, s, server, client, fl::SYN | fl::ACK, 0);
        self.seg(t0 + MS / 5, s, client, server, fl::ACK, 0);
        self.seg(t0 + MS, s, client, server, fl::PSH | fl::ACK, 100);
        self.seg(t0 + 2 * MS, s, server, client, fl::PSH | fl::ACK, 100);
        s
    }

    fn run(self, end: i64) -> Report {
        self.run_listing(end, Listing::Every)
    }

    fn run_listing(mut self, end: i64, listing: Listing<'_>) -> Report {
        self.segs.sort_by_key(|s| s.ts);
        let mut d = Diagnoser::new(Options::default());
        let payload = [0u8; 0];
        for (i, o) in self.segs.iter().enumerate() {
            d.on_segment(&Segment {
                frame: i as u32 + 1,
                ts_ns: o.ts,
                stream: o.stream,
                src: o.src,
                dst: o.dst,
                flags: fl(o.flags),
                seq: 0,
                ack: 0,
                len: o.len,
                payload: &payload,
                window: 64_000,
                ttl: 64,
                analysis: AnalysisFlags(0),
            });
        }
        d.finish_listing(end, listing)
    }
}

fn of(r: &Report, k: Kind) -> Vec<&Finding> {
    r.findings.iter().filter(|f| f.kind() == k).collect()
}

macro_rules! details {
    ($f:expr, $variant:ident) => {
        match &$f.details {
            Details::$variant(d) => d,
            other => panic!("not {}: {other:?}", stringify!($variant)),
        }
    };
}

#[test]
fn a_server_that_answers_nothing_is_down() {
    let mut sc = Script::default();
    // Linux's SYN retransmissions: 1 s, then 3 s after the first; a new attempt every 10 s.
    for i in 0..3 {
        sc.silent(
            T0 + i * 10 * S,
            "10.0.0.2:4000",
            "10.0.0.9:5000",
            &[S, 3 * S],
        );
    }
    let r = sc.run(T0 + 40 * S);
    let f = of(&r, Kind::SynUnanswered);
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    let d = details!(f[0], SynUnanswered);
    assert_eq!((d.attempts, d.syns, d.sources), (3, 9, 1));
    assert_eq!(d.verdict, SilenceVerdict::ServerDown);
    assert_eq!(d.server, "10.0.0.9");
    assert_eq!((d.ports[0].port, d.ports[0].attempts), (5000, 3));
    assert_eq!(d.duration_s, 23.0);
    assert_eq!(f[0].frames, vec![1]);
    // Three unanswered attempts 10 s apart are a retry run that never got through.
    let storm = of(&r, Kind::ReconnectStorm);
    assert_eq!(storm.len(), 1);
    let st = details!(storm[0], ReconnectStorm);
    assert_eq!((st.attempts, st.unanswered, st.refused), (3, 3, 0));
    assert_eq!(st.gaps_s, vec![10.0, 10.0]);
    assert_eq!(st.backoff, "none");
    assert_eq!(st.got_through, None);
    assert!(r.summary.iter().any(|s| s.contains("syn_unanswered")));
}

#[test]
fn silence_on_one_port_of_a_server_that_answers_another_is_a_firewall() {
    let mut sc = Script::default();
    sc.connect(T0, "10.0.0.2:4000", "10.0.0.1:80");
    sc.silent(T0 + S, "10.0.0.2:4001", "10.0.0.1:5432", &[S]);
    sc.silent(T0 + 5 * S, "10.0.0.3:4001", "10.0.0.1:5432", &[]);
    let r = sc.run(T0 + 20 * S);
    let d = details!(of(&r, Kind::SynUnanswered)[0], SynUnanswered);
    assert_eq!(d.verdict, SilenceVerdict::FirewallDrop);
    assert_eq!(d.answered_ports, vec![80]);
    assert_eq!((d.attempts, d.sources, d.syns), (2, 2, 3));
    // An exact count is said as it is.
    assert!(!d.estimated);
    assert!(r.summary.iter().any(|s| s.contains("from 2 source(s)")));
    // Two failed attempts are no storm.
    assert!(of(&r, Kind::ReconnectStorm).is_empty());
}

#[test]
fn many_sources_at_a_high_rate_are_a_flood() {
    let mut sc = Script::default();
    let n = 2_000u32;
    for i in 0..n {
        let src = format!("198.51.{}.{}:{}", i / 250, i % 250, 1024 + i);
        sc.silent(T0 + i64::from(i) * MS, &src, "10.0.0.1:443", &[]);
    }
    let r = sc.run(T0 + 10 * S);
    let d = details!(of(&r, Kind::SynUnanswered)[0], SynUnanswered);
    assert_eq!(d.verdict, SilenceVerdict::Flood);
    assert_eq!((d.attempts, d.syns), (2_000, 2_000));
    assert!(d.estimated);
    assert!(d.sources.abs_diff(2_000) < 200, "{}", d.sources);
    assert!(d.rate_per_s > 900.0, "{}", d.rate_per_s);
    // The text says the count is an estimate, in the finding and in the summary.
    let about = format!("about {} sources at", d.sources);
    assert!(of(&r, Kind::SynUnanswered)[0].message.contains(&about));
    let from = format!("from about {} source(s) got no answer", d.sources);
    assert!(
        r.summary.iter().any(|s| s.contains(&from)),
        "{:?}",
        r.summary
    );
    assert!(of(&r, Kind::Scan).is_empty());
    assert!(of(&r, Kind::ReconnectStorm).is_empty());
}

#[test]
fn resets_answering_syns_are_refusals_by_port() {
    let mut sc = Script::default();
    sc.refused(T0, "10.0.0.2:4000", "10.0.0.1:8874");
    sc.refused(T0 + S, "10.0.0.2:4001", "10.0.0.1:8874");
    sc.refused(T0 + 2 * S, "10.0.0.3:4000", "10.0.0.1:8875");
    let r = sc.run(T0 + 5 * S);
    let f = of(&r, Kind::ConnectionRefused);
    assert_eq!(f.len(), 1);
    let d = details!(f[0], ConnectionRefused);
    assert_eq!((d.attempts, d.sources, d.ports_count), (3, 2, 2));
    assert_eq!(
        (d.ports[0].port, d.ports[0].attempts, d.ports[0].sources),
        (8874, 2, 1)
    );
    assert!(of(&r, Kind::SynUnanswered).is_empty());
    // An exact count is said as it is.
    assert!(!d.estimated);
    assert!(
        f[0].message.contains(" from 2 source(s) "),
        "{}",
        f[0].message
    );
}

#[test]
fn refusals_from_a_sketched_number_of_sources_say_about() {
    let mut sc = Script::default();
    let n = 2_000u32;
    for i in 0..n {
        let src = format!("198.51.{}.{}:{}", i / 250, i % 250, 1024 + i);
        sc.refused(T0 + i64::from(i) * MS, &src, "10.0.0.1:8874");
    }
    let r = sc.run(T0 + 10 * S);
    let f = of(&r, Kind::ConnectionRefused);
    let d = details!(f[0], ConnectionRefused);
    assert!(d.estimated);
    assert!(d.sources.abs_diff(2_000) < 200, "{}", d.sources);
    let from = format!(" from about {} source(s) ", d.sources);
    assert!(f[0].message.contains(&from), "{}", f[0].message);
}

#[test]
fn one_source_on_many_ports_is_a_scan() {
    let mut sc = Script::default();
    for p in 0..40 {
        let server = format!("10.0.0.1:{}", 1000 + p);
        if p % 10 == 0 {
            sc.connect(T0 + p * 10 * MS, "10.0.0.66:5555", &server);
        } else if p % 2 == 0 {
            sc.silent(T0 + p * 10 * MS, "10.0.0.66:5555", &server, &[]);
        } else {
            sc.refused(T0 + p * 10 * MS, "10.0.0.66:5555", &server);
        }
    }
    let r = sc.run(T0 + 10 * S);
    let f = of(&r, Kind::Scan);
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    let d = details!(f[0], Scan);
    assert_eq!((d.ports, d.hosts, d.attempts), (40, 1, 40));
    assert_eq!((d.answered, d.unanswered, d.refused), (4, 16, 20));
    assert_eq!(d.swept, "ports");
    let silent = details!(of(&r, Kind::SynUnanswered)[0], SynUnanswered);
    assert_eq!(silent.verdict, SilenceVerdict::Scan);
}

#[test]
fn a_client_retrying_after_its_connection_died_is_a_storm_tied_to_the_death() {
    let mut sc = Script::default();
    let first = sc.connect(T0, "10.0.0.2:4000", "10.0.0.1:7443");
    sc.seg(
        T0 + 10 * S,
        first,
        "10.0.0.1:7443",
        "10.0.0.2:4000",
        fl::RST,
        0,
    );
    let mut failed = Vec::new();
    // Backoff 0.5, 1, 2 s after the death; the fourth attempt 4 s later gets through.
    let mut t = T0 + 10 * S + 500 * MS;
    for gap in [S, 2 * S, 4 * S] {
        failed.push(sc.refused(
            t,
            &format!("10.0.0.2:{}", 4001 + failed.len()),
            "10.0.0.1:7443",
        ));
        t += gap;
    }
    let through = sc.connect(t, "10.0.0.2:4010", "10.0.0.1:7443");
    let r = sc.run(t + 5 * S);
    let f = of(&r, Kind::ReconnectStorm);
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert_eq!(f[0].stream, Some(through));
    let d = details!(f[0], ReconnectStorm);
    assert_eq!((d.attempts, d.refused, d.unanswered), (3, 3, 0));
    assert_eq!(d.streams, failed);
    assert_eq!(d.gaps_s, vec![1.0, 2.0, 4.0]);
    assert_eq!(d.backoff, "exponential");
    assert_eq!(d.backoff_factor, Some(2.0));
    assert_eq!(d.got_through, Some(through));
    assert_eq!(d.got_through_after_s, Some(7.0));
    let a = d.after.as_ref().expect("the earlier connection");
    assert_eq!(
        (a.stream, a.close, a.by),
        (first, Some("rst"), Some("server"))
    );
    assert_eq!(a.cause, Some(Kind::ConnectionReset));
    assert_eq!(a.reconnect_after_s, 0.5);
    assert!(
        f[0].message.starts_with("stream 0 died by a reset; "),
        "{}",
        f[0].message
    );
}

/// A report that lists only the notable streams says everything else the same, and still ties
/// a storm to the connection before it when that one ended without a close (nothing notable).
#[test]
fn the_notable_listing_drops_plain_streams_but_keeps_a_storms_earlier_connection() {
    let mut sc = Script::default();
    // Answered, then nothing: no close, no payload, nothing notable of its own.
    let first = sc.stream();
    sc.seg(T0, first, "10.0.0.2:4000", "10.0.0.1:7443", fl::SYN, 0);
    let answer = fl::SYN | fl::ACK;
    sc.seg(T0 + MS, first, "10.0.0.1:7443", "10.0.0.2:4000", answer, 0);
    let mut t = T0 + 10 * S;
    for i in 0..3 {
        sc.refused(t, &format!("10.0.0.2:{}", 4001 + i), "10.0.0.1:7443");
        t += S;
    }
    // Another client's lone SYN: nothing to tell.
    let lone = sc.silent(T0 + S, "10.0.0.6:4000", "10.0.0.9:80", &[]);
    let every = sc.clone().run(t + 5 * S);
    let notable = sc.run_listing(t + 5 * S, Listing::Notable { also: &|_| false });
    let json = |r: &Report| {
        let mut v = serde_json::to_value(r).unwrap();
        v.as_object_mut().unwrap().remove("streams");
        v
    };
    assert_eq!(json(&every), json(&notable));
    let listed = |r: &Report| r.streams.iter().map(|s| s.stream).collect::<Vec<_>>();
    assert!(listed(&every).contains(&lone));
    assert!(!listed(&notable).contains(&lone));
    assert!(listed(&notable).contains(&first));
    let kept = &notable.streams[0];
    assert!(kept.close.is_none() && kept.tcp_keepalive.is_empty() && kept.heartbeat.is_none());
    let storm = details!(of(&notable, Kind::ReconnectStorm)[0], ReconnectStorm);
    assert_eq!(
        storm.after.as_ref().map(|a| (a.stream, a.close)),
        Some((first, None))
    );
}

#[test]
fn parallel_connections_answered_out_of_order_are_no_storm() {
    let mut sc = Script::default();
    let mut streams = Vec::new();
    for i in 0..6u32 {
        let s = sc.stream();
        let c = format!("10.0.0.2:{}", 4000 + i);
        sc.seg(
            T0 + i64::from(i) * 10_000,
            s,
            &c,
            "10.0.0.1:443",
            fl::SYN,
            0,
        );
        streams.push((s, c));
    }
    // Answered last first.
    for (k, (s, c)) in streams.iter().rev().enumerate() {
        sc.seg(
            T0 + MS + k as i64 * 10_000,
            *s,
            "10.0.0.1:443",
            c,
            fl::SYN | fl::ACK,
            0,
        );
    }
    let r = sc.run(T0 + 10 * S);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn no_claim_without_evidence() {
    let mut sc = Script::default();
    // A one-way capture: the client's SYN, then its ACK and data (the SYN-ACK went elsewhere).
    let s = sc.stream();
    sc.seg(T0, s, "10.0.0.2:4000", "10.0.0.1:80", fl::SYN, 0);
    sc.seg(T0 + MS, s, "10.0.0.2:4000", "10.0.0.1:80", fl::ACK, 0);
    sc.seg(
        T0 + 5 * S,
        s,
        "10.0.0.2:4000",
        "10.0.0.1:80",
        fl::PSH | fl::ACK,
        10,
    );
    // A SYN 100 ms before the capture ends: cut, not unanswered.
    sc.silent(T0 + 6 * S, "10.0.0.3:4000", "10.0.0.1:81", &[]);
    let r = sc.run(T0 + 6 * S + 100 * MS);
    assert!(of(&r, Kind::SynUnanswered).is_empty(), "{:#?}", r.findings);
}

#[test]
fn spoofed_sources_coming_round_again_are_the_flood_not_storms() {
    let mut sc = Script::default();
    // 300 sources, each three times 1 s apart (new ports), none answered.
    for round in 0..3i64 {
        for i in 0..300u32 {
            let src = format!("198.51.{}.{}:{}", i / 250, i % 250, 2000 + round);
            sc.silent(
                T0 + round * S + i64::from(i) * MS,
                &src,
                "10.0.0.1:443",
                &[],
            );
        }
    }
    let r = sc.run(T0 + 10 * S);
    let d = details!(of(&r, Kind::SynUnanswered)[0], SynUnanswered);
    assert_eq!(d.verdict, SilenceVerdict::Flood);
    assert_eq!(d.attempts, 900);
    assert!(
        of(&r, Kind::ReconnectStorm).is_empty(),
        "{:#?}",
        of(&r, Kind::ReconnectStorm)
    );
}
