//! The targets, one module per parser family; [`ALL`] lists them.

mod apps;
mod capture;
mod dissect;
mod filter;
mod h2;
mod http_framing;
mod runtime;
mod streams;
mod text;
mod tls;

pub use dissect::{pcap, LINK_TYPES};

use crate::target::Target;

pub(crate) const ALL: &[Target] = &[
    Target {
        name: "capture",
        covers: "pcap/pcapng files: reader over bytes vs streaming reader, then the engine",
        run: capture::capture,
    },
    Target {
        name: "capture_gzip",
        covers: "gzip-compressed (and cut) captures through both readers and the engine",
        run: capture::capture_gzip,
    },
    Target {
        name: "dissect",
        covers:
            "every dissector through the engine (link types, IP, TCP, TLS, HTTP/2, apps, decode-as)",
        run: dissect::dissect,
    },
    Target {
        name: "filter",
        covers: "display-filter compiler and evaluation",
        run: filter::filter,
    },
    Target {
        name: "http_framing",
        covers: "HTTP/1 framing core vs a reference decoder and httparse; split invariance",
        run: http_framing::http_framing,
    },
    Target {
        name: "http_exchange",
        covers: "HTTP/1 request/response analysis over a TCP conversation; text and JSON",
        run: streams::http_exchange,
    },
    Target {
        name: "diagnose_stream",
        covers: "diagnose over a TCP conversation (heartbeats, TLS, HTTP/2, apps, closes)",
        run: streams::diagnose_stream,
    },
    Target {
        name: "diagnose_log",
        covers: "application-log reader, every format; --log-date/--log-tz",
        run: text::diagnose_log,
    },
    Target {
        name: "durations",
        covers: "duration grammar (with its formatter), nginx so_keepalive, RFC 3339, log stamps",
        run: text::durations,
    },
    Target {
        name: "tls_records",
        covers: "TLS record reassembly (split invariance), handshakes, hellos, key logs",
        run: tls::tls_records,
    },
    Target {
        name: "h2_frames",
        covers: "HTTP/2 frames (split invariance, header re-encoding) and HPACK",
        run: h2::h2_frames,
    },
    Target {
        name: "apps",
        covers: "FIX, RESP, AMQP, SMPP, STOMP, ISO 8583 framing and events (split invariance)",
        run: apps::apps,
    },
    Target {
        name: "proxy_request",
        covers: "the proxy's request reader (head and body, as between socket reads)",
        run: runtime::proxy_request,
    },
    Target {
        name: "probe_response",
        covers: "the prober's response reader (async code over bytes in memory) vs the reference",
        run: runtime::probe_response,
    },
];
