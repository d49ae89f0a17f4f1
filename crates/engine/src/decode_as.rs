//! tshark's "decode as" for TCP ports (`-d tcp.port==N,PROTOCOL`): which application
//! protocol the engine dissects on a port it would not recognize by itself. The command line
//! grammar is parsed in keepsight-report; this is the table the engine consults.

use crate::apps::AppKind;

/// An application protocol a TCP port can be decoded as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppProtocol {
    /// HTTP/2 (`http2`): frames from the first payload byte of each direction.
    Http2,
    /// MQTT (`mqtt`): packets reassembled across segments, the version from CONNECT.
    Mqtt,
    /// FIX (`fix`), SMPP (`smpp`), AMQP 0-9-1 (`amqp`), Redis (`resp`): whole messages of
    /// each segment.
    App(crate::apps::AppKind),
}

impl AppProtocol {
    /// Every protocol `-d` accepts, with tshark's name for it.
    pub const ALL: [(&'static str, AppProtocol); 6] = [
        ("http2", AppProtocol::Http2),
        ("mqtt", AppProtocol::Mqtt),
        ("fix", AppProtocol::App(AppKind::Fix)),
        ("smpp", AppProtocol::App(AppKind::Smpp)),
        ("amqp", AppProtocol::App(AppKind::Amqp)),
        ("resp", AppProtocol::App(AppKind::Resp)),
    ];

    /// The protocol tshark calls `name`.
    pub fn from_tshark_name(name: &str) -> Option<AppProtocol> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|&(_, p)| p)
    }
}

/// TCP ports and the protocol each is decoded as.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeAs {
    /// Inclusive port ranges, latest rule last.
    tcp_ports: Vec<(u16, u16, AppProtocol)>,
}

impl DecodeAs {
    /// Decodes TCP ports `first..=last` (either end of a connection) as `protocol`; a later
    /// rule for a port overrides an earlier one, as in tshark.
    pub fn add_tcp_ports(&mut self, first: u16, last: u16, protocol: AppProtocol) {
        self.tcp_ports
            .push((first.min(last), first.max(last), protocol));
    }

    /// The port ranges (inclusive) decoded as `protocol`, for analyses that take ports
    /// rather than this table.
    pub fn tcp_ranges(&self, protocol: AppProtocol) -> impl Iterator<Item = (u16, u16)> + '_ {
        self.tcp_ports
            .iter()
            .filter(move |(_, _, p)| *p == protocol)
            .map(|&(lo, hi, _)| (lo, hi))
    }

    /// True when no rule is set: the engine's one check per segment.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.tcp_ports.is_empty()
    }

    /// The protocol for a segment between ports `a` and `b`. tshark tries the lower port
    /// first.
    pub fn tcp(&self, a: u16, b: u16) -> Option<AppProtocol> {
        self.tcp_match(a, b).map(|(_, p)| p)
    }

    /// [`DecodeAs::tcp`] with the port the rule matched (tshark's `match_uint`, which tells
    /// RESP requests from responses).
    pub fn tcp_match(&self, a: u16, b: u16) -> Option<(u16, AppProtocol)> {
        let find = |port| {
            self.tcp_ports
                .iter()
                .rev()
                .find(|(lo, hi, _)| (*lo..=*hi).contains(&port))
                .map(|&(_, _, proto)| (port, proto))
        };
        find(a.min(b)).or_else(|| find(a.max(b)))
    }
}
