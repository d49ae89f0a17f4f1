//! The protocols whose subtrees `-V` prints, by the names `-O` takes.

/// A protocol whose subtree keepsight prints; `-O` names them by tshark's filter names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// `frame`.
    Frame,
    /// `eth`.
    Eth,
    /// `vlan` (802.1Q tags).
    Vlan,
    /// `ieee8021ad` (802.1ad service tags).
    Ieee8021ad,
    /// `sll` (Linux cooked capture v1 and v2).
    Sll,
    /// `null` (BSD/OpenBSD loopback).
    Null,
    /// `raw` (raw IP).
    Raw,
    /// `ip`.
    Ip,
    /// `ipv6`.
    Ipv6,
    /// `tcp`.
    Tcp,
    /// `udp`.
    Udp,
    /// `data`.
    Data,
    /// `http` (HTTP/1).
    Http,
    /// `data-text-lines` (a `text/plain` body).
    DataTextLines,
    /// `tls` (records without a cleartext body to dissect).
    Tls,
}

impl Layer {
    /// Every layer with its tshark filter name.
    pub const NAMES: [(&'static str, Layer); 15] = [
        ("frame", Layer::Frame),
        ("eth", Layer::Eth),
        ("vlan", Layer::Vlan),
        ("ieee8021ad", Layer::Ieee8021ad),
        ("sll", Layer::Sll),
        ("null", Layer::Null),
        ("raw", Layer::Raw),
        ("ip", Layer::Ip),
        ("ipv6", Layer::Ipv6),
        ("tcp", Layer::Tcp),
        ("udp", Layer::Udp),
        ("data", Layer::Data),
        ("http", Layer::Http),
        ("data-text-lines", Layer::DataTextLines),
        ("tls", Layer::Tls),
    ];

    /// The layers `-T pdml` and `-T ek` write: those whose every line carries its field's
    /// name, position and value. The others are `-V` text only so far.
    pub const EXPORTED: [Layer; 12] = [
        Layer::Frame,
        Layer::Eth,
        Layer::Vlan,
        Layer::Ieee8021ad,
        Layer::Sll,
        Layer::Null,
        Layer::Raw,
        Layer::Ip,
        Layer::Ipv6,
        Layer::Tcp,
        Layer::Udp,
        Layer::Data,
    ];

    /// tshark's filter name of the layer.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|&&(_, l)| l == self)
            .map_or("", |&(n, _)| n)
    }

    /// From a tshark protocol filter name.
    pub fn parse(name: &str) -> Option<Layer> {
        Self::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, l)| l)
    }
}
