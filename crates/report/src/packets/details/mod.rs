//! tshark's packet details (`-V`, and `-O PROTO,...` for some protocols only): the protocol
//! tree tshark 4.0.17 prints, line for line, for the layers keepsight dissects. Each protocol
//! renders its own subtree in its own module, so a new dissector adds a module and one line in
//! [`Details::frame`]. A layer keepsight does not dissect (ARP, ICMP, ICMPv6, HTTP bodies) is
//! left out rather than guessed at.
//!
//! Everything is written into one reused `String`: no allocation per frame.

mod data;
mod frame;
mod ipv4;
mod ipv6;
mod link;
mod tcp;
mod udp;

use keepsight_engine::Frame;
use keepsight_fields::{render, FieldId, Packet};
use std::fmt::Write as _;

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
}

impl Layer {
    /// Every layer with its tshark filter name.
    pub const NAMES: [(&'static str, Layer); 12] = [
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
    ];

    /// From a tshark protocol filter name.
    pub fn parse(name: &str) -> Option<Layer> {
        Self::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, l)| l)
    }
}

/// Which subtrees are expanded: all (`-V`) or the listed ones (`-O`), the others shown as
/// their title line only.
#[derive(Clone, Debug)]
pub struct Details {
    only: Option<Vec<Layer>>,
    udp_times: udp::UdpTimes,
    /// Dump `Data` bytes inside the tree (tshark does, unless -x dumps the whole frame after).
    data_hex: bool,
}

impl Details {
    /// `-V`: every subtree expanded.
    pub fn all() -> Details {
        Details {
            only: None,
            udp_times: udp::UdpTimes::default(),
            data_hex: true,
        }
    }

    /// `-O a,b`: those protocols expanded; an unknown name is an error naming the known ones.
    pub fn only(list: &str) -> Result<Details, String> {
        let mut layers = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match Layer::parse(name) {
                Some(l) => layers.push(l),
                None => {
                    let known: Vec<&str> = Layer::NAMES.iter().map(|(n, _)| *n).collect();
                    return Err(format!(
                        "-O {name}: keepsight prints the details of {} (tshark's protocol names)",
                        known.join(", ")
                    ));
                }
            }
        }
        Ok(Details {
            only: Some(layers),
            udp_times: udp::UdpTimes::default(),
            data_hex: true,
        })
    }

    /// With `-x` the frame's bytes follow the tree, and tshark leaves the Data dump out of it.
    pub fn with_hex_dump(mut self, hex: bool) -> Details {
        self.data_hex = !hex;
        self
    }

    fn expanded(&self, layer: Layer) -> bool {
        self.only.as_ref().is_none_or(|l| l.contains(&layer))
    }

    /// Appends `f`'s protocol tree to `out`, each line ended by a newline (tshark then leaves
    /// a blank line before the next frame).
    pub fn frame(&mut self, f: &Frame<'_>, view: &dyn Packet, out: &mut String) {
        let mut t = Tree {
            out,
            open: self.expanded(Layer::Frame),
        };
        frame::render(f, &mut t);
        let only = &self.only;
        link::render(f, &mut t, |l| only.as_ref().is_none_or(|o| o.contains(&l)));
        t.open = self.expanded(Layer::Ip);
        ipv4::render(f, &mut t);
        t.open = self.expanded(Layer::Ipv6);
        ipv6::render(f, &mut t);
        t.open = self.expanded(Layer::Tcp);
        tcp::render(f, view, &mut t);
        t.open = self.expanded(Layer::Udp);
        udp::render(f, &mut t, &mut self.udp_times);
        t.open = self.expanded(Layer::Data);
        data::render(f, view, &mut t, self.data_hex);
    }
}

/// The output of one frame's tree. `open` is false for a protocol shown by its title only:
/// then every line below depth 0 is dropped.
pub(crate) struct Tree<'o> {
    out: &'o mut String,
    open: bool,
}

impl Tree<'_> {
    /// One line at `depth` (4 spaces each).
    fn line(&mut self, depth: usize, args: std::fmt::Arguments<'_>) {
        if depth > 0 && !self.open {
            return;
        }
        self.indent(depth);
        // A line without arguments is copied, not formatted.
        match args.as_str() {
            Some(text) => self.out.push_str(text),
            None => {
                let _ = self.out.write_fmt(args);
            }
        }
        self.out.push('\n');
    }

    /// `prefix`, the number in decimal, `suffix`: the commonest line, without the formatter.
    fn num(&mut self, depth: usize, prefix: &str, n: u64, suffix: &str) {
        if depth > 0 && !self.open {
            return;
        }
        self.indent(depth);
        self.out.push_str(prefix);
        self.out.push_str(itoa::Buffer::new().format(n));
        self.out.push_str(suffix);
        self.out.push('\n');
    }

    /// One fixed line at `depth`.
    fn text(&mut self, depth: usize, text: &str) {
        if depth > 0 && !self.open {
            return;
        }
        self.indent(depth);
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn indent(&mut self, depth: usize) {
        const SPACES: &str = "                                        ";
        self.out.push_str(&SPACES[..(depth * 4).min(SPACES.len())]);
    }

    /// Raw text (a hex dump inside the tree), only when expanded.
    fn raw(&mut self, text: impl FnOnce(&mut String)) {
        if self.open {
            text(self.out);
        }
    }
}

/// Appends tshark's bit picture of `value` under `mask` over a `width`-bit field: a digit for
/// each bit in the mask, `.` elsewhere, groups of four separated by spaces.
pub(crate) struct Bits {
    /// The field's width in bits (a multiple of 4).
    pub width: u32,
    /// Which bits the item covers.
    pub mask: u64,
    /// The whole field's value.
    pub value: u64,
}

impl std::fmt::Display for Bits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // At most 32 bits and 7 separating spaces, written once.
        let mut buf = [0u8; 40];
        let mut n = 0;
        for i in (0..self.width.min(32)).rev() {
            let bit = 1u64 << i;
            buf[n] = if self.mask & bit == 0 {
                b'.'
            } else if self.value & bit != 0 {
                b'1'
            } else {
                b'0'
            };
            n += 1;
            if i % 4 == 0 && i != 0 {
                buf[n] = b' ';
                n += 1;
            }
        }
        f.write_str(std::str::from_utf8(&buf[..n]).unwrap_or_default())
    }
}

/// `Set` / `Not set`, as tshark prints a one-bit flag.
pub(crate) fn set(b: bool) -> &'static str {
    if b {
        "Set"
    } else {
        "Not set"
    }
}

/// A duration in seconds with nine decimals, as tshark prints relative times.
pub(crate) struct Secs(pub i64);

impl std::fmt::Display for Secs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ns = self.0;
        let sign = if ns < 0 { "-" } else { "" };
        let a = ns.unsigned_abs();
        write!(f, "{sign}{}.{:09}", a / 1_000_000_000, a % 1_000_000_000)
    }
}

/// `byte` / `bytes` after a count.
pub(crate) fn bytes_word(n: usize) -> &'static str {
    if n == 1 {
        "byte"
    } else {
        "bytes"
    }
}

/// An expert item as tshark prints it inside the tree: the summary line, then the message,
/// severity and group one level below.
pub(crate) fn expert(
    t: &mut Tree<'_>,
    depth: usize,
    severity: &str,
    group: &str,
    msg: std::fmt::Arguments<'_>,
) {
    t.line(
        depth,
        format_args!("[Expert Info ({severity}/{group}): {msg}]"),
    );
    t.line(depth + 1, format_args!("[{msg}]"));
    t.line(depth + 1, format_args!("[Severity level: {severity}]"));
    t.line(depth + 1, format_args!("[Group: {group}]"));
}

/// Writes `prefix`, the field's first value as `-T fields` renders it, and `suffix`; nothing
/// when the frame has no such field.
pub(crate) fn field(
    t: &mut Tree<'_>,
    depth: usize,
    f: &dyn Packet,
    id: FieldId,
    prefix: &str,
    suffix: &str,
) {
    if !t.open {
        return;
    }
    let mut done = false;
    let out = &mut *t.out;
    f.visit(id, &mut |v| {
        if done {
            return;
        }
        done = true;
        for _ in 0..depth {
            out.push_str("    ");
        }
        out.push_str(prefix);
        render::render(id.def(), v, out);
        out.push_str(suffix);
        out.push('\n');
    });
}
