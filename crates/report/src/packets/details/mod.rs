//! tshark's packet details (`-V`, and `-O PROTO,...` for some protocols only): the protocol
//! tree tshark 4.0.17 prints, line for line, for the layers keepsight dissects. Each protocol
//! renders its own subtree in its own module, so a new dissector adds a module and one line in
//! [`Details::frame`]. A layer keepsight does not dissect (ARP, ICMP, ICMPv6, HTTP bodies) is
//! left out rather than guessed at.
//!
//! Everything is written into one reused `String`: no allocation per frame.

mod data;
pub mod export;
mod frame;
mod ipv4;
mod ipv6;
mod layer;
mod link;
mod tcp;
mod tree;
mod udp;

use keepsight_engine::Frame;
use keepsight_fields::Packet;
pub use layer::Layer;
use tree::Tree;
pub use tree::{Kind, Nodes};

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

    /// Appends `f`'s protocol tree to `out`, each line ended by a newline (tshark then leaves
    /// a blank line before the next frame).
    pub fn frame(&mut self, f: &Frame<'_>, view: &dyn Packet, out: &mut String) {
        let mut t = Tree {
            out,
            open: true,
            nodes: None,
        };
        self.render(f, view, &mut t);
    }

    /// Records `f`'s protocol tree into `nodes` (cleared first), every subtree expanded and
    /// hidden fields included, for [`export`]'s PDML and EK writers.
    pub fn nodes(&mut self, f: &Frame<'_>, view: &dyn Packet, nodes: &mut Nodes) {
        nodes.clear();
        let mut unused = String::new();
        let mut t = Tree {
            out: &mut unused,
            open: true,
            nodes: Some(nodes),
        };
        self.render(f, view, &mut t);
    }

    fn render(&mut self, f: &Frame<'_>, view: &dyn Packet, t: &mut Tree<'_>) {
        let all = t.recording();
        let only = if all { &None } else { &self.only };
        let expanded = |l: Layer| only.as_ref().is_none_or(|o| o.contains(&l));
        t.open = expanded(Layer::Frame);
        frame::render(f, t);
        link::render(f, t, expanded);
        t.open = expanded(Layer::Ip);
        ipv4::render(f, t);
        t.open = expanded(Layer::Ipv6);
        ipv6::render(f, t);
        t.open = expanded(Layer::Tcp);
        tcp::render(f, view, t);
        t.open = expanded(Layer::Udp);
        udp::render(f, t, &mut self.udp_times);
        t.open = expanded(Layer::Data);
        data::render(f, view, t, self.data_hex && !all);
    }
}
