//! tshark's summary columns for one frame: Time (every `-t` format), Source, Destination,
//! Protocol and Info, for the protocols keepsight dissects.

use super::http_layer::AppColumns;
use keepsight_engine::apps::{AppKind, FrameApp};
use keepsight_engine::h2::{Body, FrameH2};
use keepsight_engine::mqtt::MqttRole;
use keepsight_engine::Frame;
use keepsight_fields::{nstime, render};
use keepsight_h2::SegmentRole as H2Role;
use keepsight_tls::{SegmentRole, Session};
use keepsight_wire::{Network, TcpFlags, TcpOption, Transport};
use std::fmt::Write;

/// tshark's `-t` time formats of the Time column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeFormat {
    /// `r`: seconds since the first frame (tshark's default).
    Relative,
    /// `d`: since the previous frame.
    Delta,
    /// `dd`: since the previous displayed frame.
    DeltaDisplayed,
    /// `a`, `ad`, `adoy`: local time, with the date, with the day of the year.
    Local(DatePart),
    /// `u`, `ud`, `udoy`: UTC, likewise.
    Utc(DatePart),
    /// `e`: seconds since the epoch.
    Epoch,
}

/// What comes before the clock time in the absolute formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatePart {
    /// The clock time alone.
    None,
    /// `2024-03-01 `
    Date,
    /// `2024/061 `
    DayOfYear,
}

impl TimeFormat {
    /// The letters tshark's `-t` takes, in the order its help lists them.
    pub const NAMES: [&'static str; 10] =
        ["r", "d", "dd", "a", "ad", "adoy", "u", "ud", "udoy", "e"];

    /// From tshark's `-t` letters; `None` for anything else.
    pub fn parse(s: &str) -> Option<TimeFormat> {
        Some(match s {
            "r" => TimeFormat::Relative,
            "d" => TimeFormat::Delta,
            "dd" => TimeFormat::DeltaDisplayed,
            "a" => TimeFormat::Local(DatePart::None),
            "ad" => TimeFormat::Local(DatePart::Date),
            "adoy" => TimeFormat::Local(DatePart::DayOfYear),
            "u" => TimeFormat::Utc(DatePart::None),
            "ud" => TimeFormat::Utc(DatePart::Date),
            "udoy" => TimeFormat::Utc(DatePart::DayOfYear),
            "e" => TimeFormat::Epoch,
            _ => return None,
        })
    }
}

/// The Time column of a frame.
pub fn push_time(f: &Frame<'_>, fmt: TimeFormat, out: &mut String) {
    // A record without a time stamp (a pcapng simple packet block) has an empty Time column.
    if f.record.ts_ns.is_none() {
        return;
    }
    let digits = f.record.ts_digits as u32;
    // A time stamp whose fraction is out of range (a broken writer) prints as tshark prints
    // it: whole seconds, then the fraction as written (`20.1000000`).
    let since = |out: &mut String, ns: i64| match f.odd_time_since(ns) {
        Some(t) => nstime::push_signed(out, t, digits),
        None => render::push_seconds(out, ns, digits),
    };
    let odd = f.record.invalid_frac_ns.is_some();
    let (utc, date) = match fmt {
        TimeFormat::Relative => return since(out, f.time_relative_ns),
        TimeFormat::Delta => return since(out, f.time_delta_ns),
        TimeFormat::DeltaDisplayed => return since(out, f.time_delta_displayed_ns),
        TimeFormat::Epoch if odd => return nstime::push_signed(out, f.time_stamp(), digits),
        TimeFormat::Epoch => return render::push_seconds(out, f.ts_ns, digits),
        TimeFormat::Local(date) => (false, date),
        TimeFormat::Utc(date) => (true, date),
    };
    let stamp = f.time_stamp();
    let whole = if odd {
        stamp.secs * 1_000_000_000
    } else {
        f.ts_ns
    };
    let t = render::broken_down(whole, utc);
    match date {
        DatePart::Date => {
            let _ = write!(out, "{:04}-{:02}-{:02} ", t.year, t.month, t.day);
        }
        DatePart::DayOfYear => {
            let _ = write!(out, "{:04}/{:03} ", t.year, t.yday);
        }
        DatePart::None => {}
    }
    let _ = write!(out, "{:02}:{:02}:{:02}", t.hour, t.minute, t.second);
    if odd {
        nstime::push_fraction(out, i64::from(stamp.nsecs), digits);
    } else if digits > 0 {
        let frac = t.nanos / 10u32.pow(9 - digits);
        let _ = write!(out, ".{frac:0width$}", width = digits as usize);
    }
}

/// tshark's Protocol column for the protocols keepsight dissects.
pub fn protocol(f: &Frame<'_>) -> &'static str {
    if let Some(app) = &f.app {
        return match app.kind {
            AppKind::Fix => "FIX",
            AppKind::Smpp => "SMPP",
            AppKind::Amqp => "AMQP",
            AppKind::Resp => "RESP",
        };
    }
    if let Some(h) = &f.h2 {
        return match h.role() {
            H2Role::Frames => h2_protocol(h),
            _ => "TCP",
        };
    }
    if let Some(m) = &f.mqtt {
        return match m.role() {
            MqttRole::Packets => "MQTT",
            _ => "TCP",
        };
    }
    if let Some(t) = &f.tls {
        // The last record names the column, with the version known after it.
        return match t.role {
            SegmentRole::Records => t
                .records()
                .last()
                .map_or("TLS", |(r, ctx)| Session::protocol_name(&r, &ctx)),
            _ => "TCP",
        };
    }
    // TCP or UDP carried in IP fragments is shown on the frame that completes the datagram.
    if f.tcp.is_some() {
        return "TCP";
    }
    if f.reassembled.is_some_and(|r| r.proto == 17) {
        return "UDP";
    }
    match f.dissection.transport {
        Transport::Tcp { .. } => "TCP",
        Transport::Udp { .. } => "UDP",
        Transport::None => match f.dissection.network {
            Network::Ipv4 { .. } => "IPv4",
            Network::Ipv6 { .. } => "IPv6",
            Network::None => match f.dissection.ethertype {
                0x0806 => "ARP",
                _ => "",
            },
        },
    }
}

/// TCP flag names in the order tshark's Info column lists them.
const TCP_FLAG_NAMES: [(u16, &str); 9] = [
    (TcpFlags::FIN, "FIN"),
    (TcpFlags::SYN, "SYN"),
    (TcpFlags::RST, "RST"),
    (TcpFlags::PSH, "PSH"),
    (TcpFlags::ACK, "ACK"),
    (TcpFlags::URG, "URG"),
    (TcpFlags::ECE, "ECE"),
    (TcpFlags::CWR, "CWR"),
    (TcpFlags::AE, "AE"),
];

/// tshark's Info column for TCP and UDP frames and IP fragments, as tshark shows it when it
/// builds the protocol tree (with a display filter, `-T fields`, `-V`).
pub fn info(f: &Frame<'_>, out: &mut String) {
    info_of(f, true, out)
}

/// The Info column; `tree` says whether tshark builds the protocol tree, which FIX's Info
/// depends on (its dissector names the message only then).
pub fn info_of(f: &Frame<'_>, tree: bool, out: &mut String) {
    if let Some(app) = &f.app {
        return app_info(app, tree, out);
    }
    if let Some(h) = &f.h2 {
        match h.role() {
            H2Role::Frames => return h2_info(h, out),
            H2Role::Starts => return out.push_str(REASSEMBLED_PDU),
            H2Role::Continues => {
                tcp_info(f, out);
                out.push(' ');
                return out.push_str(REASSEMBLED_PDU);
            }
            H2Role::Lost => {}
        }
    }
    if let Some(m) = &f.mqtt {
        return match m.role() {
            MqttRole::Packets => mqtt_info(m, out),
            MqttRole::Starts => out.push_str(REASSEMBLED_PDU),
            MqttRole::Continues => {
                tcp_info(f, out);
                out.push(' ');
                out.push_str(REASSEMBLED_PDU)
            }
        };
    }
    if let Some(t) = &f.tls {
        match t.role {
            SegmentRole::Records => return tls_info(t, out),
            SegmentRole::Starts => return out.push_str(REASSEMBLED_PDU),
            SegmentRole::Continues => {
                tcp_info(f, out);
                out.push(' ');
                return out.push_str(REASSEMBLED_PDU);
            }
            SegmentRole::Lost => {}
        }
    }
    tcp_info(f, out)
}

/// The Info column of a frame with MQTT packets: each packet's type, its packet identifier
/// and topics, separated by commas.
fn mqtt_info(m: &keepsight_engine::mqtt::FrameMqtt<'_>, out: &mut String) {
    use keepsight_apps::mqtt::{self, kind, Reader, V5};
    for (i, p) in m.packets().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let Some(pk) = p.packet() else {
            continue;
        };
        let ty = pk.kind();
        out.push_str(mqtt::type_name(ty));
        let mut r = Reader { rest: pk.body };
        match ty {
            kind::PUBLISH => {
                if let Some((topic, id, _)) = mqtt::publish_head(&pk) {
                    if let Some(id) = id {
                        let _ = write!(out, " (id={id})");
                    }
                    let _ = write!(out, " [{}]", String::from_utf8_lossy(topic));
                }
                if let Some(ct) = keepsight_engine::mqtt::publish_content_type(p) {
                    if ct == b"text/plain" {
                        out.push_str(" (text/plain)");
                    }
                }
            }
            kind::PUBACK
            | kind::PUBREC
            | kind::PUBREL
            | kind::PUBCOMP
            | kind::SUBACK
            | kind::UNSUBACK => {
                if let Some(id) = r.u16() {
                    let _ = write!(out, " (id={id})");
                }
            }
            kind::SUBSCRIBE | kind::UNSUBSCRIBE => {
                let Some(id) = r.u16() else {
                    continue;
                };
                let _ = write!(out, " (id={id})");
                if p.version == V5 && r.properties().is_none() {
                    continue;
                }
                while let Some(topic) = r.str16() {
                    let _ = write!(out, " [{}]", String::from_utf8_lossy(topic));
                    if ty == kind::SUBSCRIBE && r.u8().is_none() {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
}

/// The Info column of a FIX, SMPP or AMQP segment: each message's name.
fn app_info(app: &FrameApp<'_>, tree: bool, out: &mut String) {
    use keepsight_apps::{amqp, fix, redis, smpp};
    let mut first = true;
    for m in app.messages() {
        match app.kind {
            AppKind::Fix => {
                if !tree {
                    return;
                }
                let Some((_, ty)) = fix::fields(m).find(|(tag, _)| *tag == 35) else {
                    continue;
                };
                if !first {
                    out.push_str(", ");
                }
                match fix::msg_type_name(ty) {
                    Some(name) => out.push_str(name),
                    None => out.push_str(&String::from_utf8_lossy(ty)),
                }
            }
            AppKind::Smpp => {
                let Some(h) = smpp::Header::parse(m) else {
                    continue;
                };
                if !first {
                    out.push_str(", ");
                }
                out.push_str(smpp::command_name(h.command_id).unwrap_or("Unknown"));
                if h.is_response() {
                    let _ = write!(out, ": \"{}\"", smpp::status_text(h.command_status));
                }
            }
            AppKind::Resp => {
                if !first {
                    out.push_str(", ");
                }
                out.push_str(if app.to_server {
                    "Request:"
                } else {
                    "Response:"
                });
                // A request lists its command's words; a reply its value.
                redis::walk(m, &mut |e| match e {
                    redis::Element::SimpleString(s)
                    | redis::Element::Error(s)
                    | redis::Element::BulkString(_, Some(s)) => {
                        out.push(' ');
                        out.push_str(&String::from_utf8_lossy(s));
                    }
                    redis::Element::Integer(n) => {
                        let _ = write!(out, " {n}");
                    }
                    _ => {}
                });
            }
            AppKind::Amqp => {
                let Some(frame) = amqp::Frame::parse(m) else {
                    // The client's protocol header: tshark names no version for it when the
                    // port is decoded as amqp.
                    out.push_str("AMQP (unknown version)");
                    continue;
                };
                match frame.method() {
                    Some((class, method, args)) => {
                        match amqp::method_name(class, method) {
                            Some((c, n)) => {
                                let _ = write!(out, "{c}.{n} ");
                            }
                            None => out.push_str("Unknown "),
                        }
                        match amqp::ConnectionMethod::parse(method, args).filter(|_| class == 10) {
                            Some(amqp::ConnectionMethod::Open { virtual_host, .. }) => {
                                let _ =
                                    write!(out, "vhost={} ", String::from_utf8_lossy(virtual_host));
                            }
                            Some(amqp::ConnectionMethod::Close { reply_text, .. }) => {
                                let _ =
                                    write!(out, "reply={} ", String::from_utf8_lossy(reply_text));
                            }
                            _ => {}
                        }
                    }
                    None => out.push_str(match frame.frame_type {
                        2 => "Content-Header ",
                        3 => "Content-Body ",
                        8 => "Heartbeat ",
                        _ => "Unknown ",
                    }),
                }
            }
        }
        first = false;
    }
}

/// tshark's note on a segment whose bytes belong to a record that ends later.
const REASSEMBLED_PDU: &str = "[TCP segment of a reassembled PDU]";

/// The Info column of a frame that completed TLS records: each record's name, in order.
fn tls_info(t: &keepsight_engine::tls::FrameTls<'_>, out: &mut String) {
    use keepsight_tls::record::{alert_description_name, alert_level_name};
    use keepsight_tls::ContentType;
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !first {
            out.push_str(", ");
        }
        first = false;
    };
    for (r, ctx, plain) in t.records_opened() {
        if let Some((inner, body)) = plain {
            // Decrypted with the key log: named by what is inside, as tshark names it.
            match inner {
                ContentType::HANDSHAKE => {
                    for h in keepsight_tls::record::handshakes_in(body) {
                        sep(out);
                        out.push_str(h.name());
                    }
                }
                ContentType::ALERT => {
                    sep(out);
                    let (level, desc) = keepsight_tls::record::alert_in(body).unwrap_or((0, 255));
                    let _ = write!(
                        out,
                        "Alert (Level: {}, Description: {})",
                        alert_level_name(level),
                        alert_description_name(desc)
                    );
                }
                ContentType::APPLICATION_DATA => {
                    sep(out);
                    out.push_str("Application Data");
                }
                ContentType::HEARTBEAT => {
                    sep(out);
                    out.push_str("Heartbeat");
                }
                _ => {
                    sep(out);
                    out.push_str("Ignored Unknown Record");
                }
            }
            continue;
        }
        let ty = r.content_type();
        match ty {
            ContentType::HANDSHAKE if !ctx.encrypted => {
                for h in r.handshakes() {
                    sep(out);
                    out.push_str(h.name());
                }
            }
            _ => {
                sep(out);
                match ty {
                    ContentType::CHANGE_CIPHER_SPEC => out.push_str("Change Cipher Spec"),
                    ContentType::HANDSHAKE => out.push_str("Encrypted Handshake Message"),
                    ContentType::ALERT if ctx.encrypted => out.push_str("Encrypted Alert"),
                    ContentType::ALERT => {
                        let (level, desc) = r.alert().unwrap_or((0, 255));
                        let _ = write!(
                            out,
                            "Alert (Level: {}, Description: {})",
                            alert_level_name(level),
                            alert_description_name(desc)
                        );
                    }
                    ContentType::APPLICATION_DATA => out.push_str("Application Data"),
                    ContentType::HEARTBEAT if ctx.encrypted => out.push_str("Encrypted Heartbeat"),
                    ContentType::HEARTBEAT => out.push_str("Heartbeat"),
                    _ => out.push_str("Ignored Unknown Record"),
                }
            }
        }
    }
}

/// The Protocol column of a segment that completed HTTP/2 frames. tshark's gRPC dissector
/// names the column and fences it, so an HTTP/2 frame after a gRPC message appends to it
/// ("GRPCHTTP2").
fn h2_protocol(h: &FrameH2<'_>) -> &'static str {
    let mut grpc = 0;
    let mut http2_after = false;
    for item in h.items() {
        if item.body == Body::Grpc {
            grpc += 1;
            http2_after = false;
        } else {
            http2_after = true;
        }
    }
    match (grpc, http2_after) {
        (0, _) => "HTTP2",
        (1, false) => "GRPC",
        (1, true) => "GRPCHTTP2",
        (_, false) => "GRPCGRPC",
        (_, true) => "GRPCGRPCHTTP2",
    }
}

/// The Info column of a segment that completed HTTP/2 frames: each frame's type and stream,
/// a request's method and path, a response's status.
fn h2_info(h: &FrameH2<'_>, out: &mut String) {
    let mut first = true;
    for item in h.items() {
        if !first {
            out.push_str(", ");
        }
        first = false;
        let Some(f) = item.frame else {
            out.push_str("Magic");
            continue;
        };
        let _ = write!(out, "{}[{}]", f.header.ty.name(), f.header.stream_id);
        if let Some(list) = item.headers {
            if let Some(method) = list.get(":method") {
                let _ = write!(out, ": {method} {}", list.get(":path").unwrap_or(""));
            } else if let Some(status) = list.get(":status") {
                let phrase = status.parse().map_or("", http_status_phrase);
                let _ = write!(out, ": {status} {phrase}");
            }
        }
        match item.body {
            Body::Grpc => out.push_str(" (GRPC) (PROTOBUF)"),
            Body::TextPlain => out.push_str(" (text/plain)"),
            Body::Other => {}
        }
    }
}

/// The reason phrase tshark shows after an HTTP status code.
fn http_status_phrase(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Time-out",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        _ => "Unknown Status Code",
    }
}

/// tshark's Info column for TCP and UDP frames and IP fragments, below any application layer.
fn tcp_info(f: &Frame<'_>, out: &mut String) {
    let data = f.record.data;
    let d = &f.dissection;
    if let (Some(h), Some(t)) = (f.tcp_header(), f.tcp.as_ref()) {
        let dup = (t.dupack_num != 0).then_some((t.dupack_frame, t.dupack_num));
        t.flags.info_prefixes(dup, out);
        let flags = h.flags();
        let _ = write!(out, "{} → {} [", h.src_port(), h.dst_port());
        let mut first = true;
        for (bit, name) in TCP_FLAG_NAMES {
            if flags.has(bit) {
                if !first {
                    out.push_str(", ");
                }
                out.push_str(name);
                first = false;
            }
        }
        if first {
            out.push_str("<None>");
        }
        let _ = write!(out, "] Seq={}", t.seq);
        if flags.ack() {
            let _ = write!(out, " Ack={}", t.ack);
        }
        let _ = write!(out, " Win={}", t.window_size);
        if flags.urg() {
            let _ = write!(out, " Urg={}", h.urgent_pointer());
        }
        let _ = write!(out, " Len={}", f.tcp_len().unwrap_or(0));
        let base = h.ack().wrapping_sub(t.ack);
        for o in h.options() {
            match o {
                TcpOption::Mss(v) => {
                    let _ = write!(out, " MSS={v}");
                }
                TcpOption::WindowScale(s) => {
                    let _ = write!(out, " WS={}", 1u32 << s.min(14));
                }
                TcpOption::SackPermitted => out.push_str(" SACK_PERM"),
                TcpOption::Timestamps { tsval, tsecr } => {
                    let _ = write!(out, " TSval={tsval} TSecr={tsecr}");
                }
                TcpOption::Sack(blocks) => {
                    for b in blocks.chunks_exact(8) {
                        let le = u32::from_be_bytes([b[0], b[1], b[2], b[3]]).wrapping_sub(base);
                        let re = u32::from_be_bytes([b[4], b[5], b[6], b[7]]).wrapping_sub(base);
                        let _ = write!(out, " SLE={le} SRE={re}");
                    }
                }
                _ => {}
            }
        }
    } else if let Some(u) = f.udp_header() {
        // A datagram reassembled from IP fragments has its length in its own header.
        let len = match f.reassembled {
            Some(_) => u64::from(u.length().saturating_sub(8)),
            None => d.payload_len.unwrap_or(0) as u64,
        };
        let _ = write!(out, "{} → {} Len={len}", u.src_port(), u.dst_port());
        if f.udp_checksum_illegal() {
            out.push_str(" [ILLEGAL CHECKSUM (0)]");
        }
    } else if let Some(frag) = d.fragment(data) {
        // A piece of a datagram that is not complete in this frame.
        if frag.ipv6 {
            let _ = write!(
                out,
                "IPv6 fragment (off={} more={} ident=0x{:08x} nxt={})",
                frag.offset,
                if frag.more { 'y' } else { 'n' },
                frag.id,
                frag.proto
            );
        } else {
            let name =
                keepsight_fields::value_text(keepsight_fields::ids::IP_PROTO, frag.proto.into())
                    .unwrap_or("Unknown");
            let _ = write!(
                out,
                "Fragmented IP protocol (proto={name} {}, off={}, ID={:04x})",
                frag.proto, frag.offset, frag.id
            );
        }
    }
}

/// Buffers the summary line reuses from frame to frame, so printing allocates nothing per packet.
#[derive(Default)]
pub struct Scratch {
    time: String,
    src: String,
    dst: String,
}

/// tshark's default one-line summary: No., Time, Source → Destination, Protocol, Length, Info,
/// with tshark's minimum widths (5, 10, 12 right-aligned, 12 left-aligned). `tree` says whether
/// tshark builds the protocol tree (a display filter does), which some Info texts depend on.
pub fn summary_line(
    f: &Frame<'_>,
    time: TimeFormat,
    tree: bool,
    out: &mut String,
    scratch: &mut Scratch,
) {
    summary_line_with(f, AppColumns::Own, "", time, tree, out, scratch)
}

/// The Protocol column, `HTTP` where HTTP over TLS names it ([`AppColumns`]).
pub fn protocol_with(f: &Frame<'_>, app: AppColumns) -> &'static str {
    match app {
        AppColumns::Http => "HTTP",
        AppColumns::Own | AppColumns::TlsSegment => protocol(f),
    }
}

/// The Info column, as HTTP over TLS writes it where it runs ([`AppColumns`]; `http_info`
/// is [`crate::packets::HttpLayer::columns`]'s text); `tree` as for [`info_of`].
pub fn info_with(f: &Frame<'_>, app: AppColumns, http_info: &str, tree: bool, out: &mut String) {
    match app {
        AppColumns::Http => out.push_str(http_info),
        AppColumns::TlsSegment => out.push_str(TLS_REASSEMBLED_PDU),
        AppColumns::Own => info_of(f, tree, out),
    }
}

/// tshark's note on a frame whose decrypted bytes belong to an HTTP message that ends later.
const TLS_REASSEMBLED_PDU: &str = "[TLS segment of a reassembled PDU]";

/// [`summary_line`] with the columns HTTP over TLS gives the frame.
pub fn summary_line_with(
    f: &Frame<'_>,
    app: AppColumns,
    http_info: &str,
    time: TimeFormat,
    tree: bool,
    out: &mut String,
    scratch: &mut Scratch,
) {
    scratch.time.clear();
    push_time(f, time, &mut scratch.time);
    addresses(f, &mut scratch.src, &mut scratch.dst);
    let _ = write!(
        out,
        "{:>5} {:>10} {:>12} → {:<12} {} {} ",
        f.number,
        scratch.time,
        scratch.src,
        scratch.dst,
        protocol_with(f, app),
        f.record.orig_len
    );
    info_with(f, app, http_info, tree, out);
    // HTTP's Info ends with the space after each start line, and the FIX, SMPP, AMQP and RESP
    // dissectors' Info keeps its trailing space (FIX's is empty without a tree): tshark
    // prints them.
    while app != AppColumns::Http && f.app.is_none() && out.ends_with(' ') {
        out.pop();
    }
}

/// Source and destination columns: IP addresses, or MAC addresses for non-IP Ethernet frames.
fn addresses(f: &Frame<'_>, src: &mut String, dst: &mut String) {
    use keepsight_fields::ids::{ETH_DST, ETH_SRC, IPV6_DST, IPV6_SRC, IP_DST, IP_SRC};
    use keepsight_fields::Packet;
    src.clear();
    dst.clear();
    let d = &f.dissection;
    let (s_id, d_id) = match d.network {
        Network::Ipv4 { .. } => (IP_SRC, IP_DST),
        Network::Ipv6 { .. } => (IPV6_SRC, IPV6_DST),
        Network::None if d.link == keepsight_wire::Link::Ethernet => (ETH_SRC, ETH_DST),
        Network::None => return,
    };
    f.visit(s_id, &mut |v| render::render(s_id.def(), v, src));
    f.visit(d_id, &mut |v| render::render(d_id.def(), v, dst));
}

/// Appends `text` with the five XML special characters escaped, as tshark's PDML and PSML
/// writers escape attribute and element text.
pub fn push_xml_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
}

/// tshark's `-T psml` header: the column titles of the summary line.
pub(crate) const PSML_HEADER: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<psml version=\"0\" creator=\"wireshark/4.0.17\">\n<structure>\n<section>No.</section>\n<section>Time</section>\n<section>Source</section>\n<section>Destination</section>\n<section>Protocol</section>\n<section>Length</section>\n<section>Info</section>\n</structure>\n\n";

/// tshark's `-T psml` trailer.
pub(crate) const PSML_TRAILER: &str = "</psml>\n";

/// One frame's `<packet>` element of tshark's `-T psml`: the summary line's columns, each in
/// a `<section>`, then the blank line tshark leaves between packets. `tree`: whether tshark
/// builds the frame's protocol tree (with a display filter), which some Info columns need.
pub fn psml_packet(
    f: &Frame<'_>,
    app: AppColumns,
    http_info: &str,
    time: TimeFormat,
    tree: bool,
    out: &mut String,
    scratch: &mut Scratch,
) {
    scratch.time.clear();
    push_time(f, time, &mut scratch.time);
    addresses(f, &mut scratch.src, &mut scratch.dst);
    let mut length = itoa::Buffer::new();
    // The Info column is built in `scratch.time`'s place once the time is written out.
    out.push_str("<packet>\n");
    let section = |out: &mut String, text: &str| {
        out.push_str("<section>");
        push_xml_escaped(out, text);
        out.push_str("</section>\n");
    };
    section(out, itoa::Buffer::new().format(f.number));
    section(out, &scratch.time);
    section(out, &scratch.src);
    section(out, &scratch.dst);
    section(out, protocol_with(f, app));
    section(out, length.format(f.record.orig_len));
    scratch.time.clear();
    info_with(f, app, http_info, tree, &mut scratch.time);
    // As in the summary line: HTTP's Info keeps the space after its start line.
    let info = if app == AppColumns::Http {
        scratch.time.as_str()
    } else {
        scratch.time.trim_end_matches(' ')
    };
    section(out, info);
    out.push_str("</packet>\n\n");
}
