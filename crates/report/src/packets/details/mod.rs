//! tshark's packet details (`-V`, and `-O PROTO,...` for some protocols only): the protocol
//! tree tshark 4.0.17 prints, line for line, for the layers keepsight dissects. Each protocol
//! renders its own subtree in its own module, so a new dissector adds a module and one line in
//! [`Details::frame`]. A layer keepsight does not dissect (ARP, ICMP, ICMPv6, HTTP bodies other
//! than text/plain, HTTP/2) is left out rather than guessed at, and so is an HTTP/1 message or
//! a TLS frame keepsight is not sure to print as tshark does (see `http`, `tls`).
//!
//! Everything is written into one reused `String`: no allocation per frame.

mod data;
pub mod export;
mod frame;
mod http;
mod ipv4;
mod ipv6;
mod layer;
mod link;
mod tcp;
mod tls;
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
    /// a blank line before the next frame). `reassembly` has observed `f` (its HTTP message).
    pub fn frame(
        &mut self,
        f: &Frame<'_>,
        view: &dyn Packet,
        reassembly: &Reassembly,
        out: &mut String,
    ) {
        let mut t = Tree {
            out,
            open: true,
            nodes: None,
        };
        self.render(f, view, Some(reassembly), &mut t);
    }

    /// Records `f`'s protocol tree into `nodes` (cleared first), every subtree expanded and
    /// hidden fields included, for [`export`]'s PDML and EK writers (the layers they cover:
    /// no HTTP or TLS yet). `reassembly` has observed `f`: a segment of an HTTP message carries
    /// its `tcp.segment_data` as in tshark.
    pub fn nodes(
        &mut self,
        f: &Frame<'_>,
        view: &dyn Packet,
        reassembly: &Reassembly,
        nodes: &mut Nodes,
    ) {
        nodes.clear();
        let mut unused = String::new();
        let mut t = Tree {
            out: &mut unused,
            open: true,
            nodes: Some(nodes),
        };
        self.render(f, view, Some(reassembly), &mut t);
    }

    /// The tree of `f`, printed or recorded by `t`; with `reassembly` (printing), the HTTP and
    /// TLS layers too.
    fn render(
        &mut self,
        f: &Frame<'_>,
        view: &dyn Packet,
        reassembly: Option<&Reassembly>,
        t: &mut Tree<'_>,
    ) {
        let all = t.recording();
        let only = if all { &None } else { &self.only };
        let expanded = |l: Layer| only.as_ref().is_none_or(|o| o.contains(&l));
        let (part, message) = match reassembly {
            Some(r) => (r.follower.part, r.follower.printed()),
            None => (http::Part::None, None),
        };
        let segment = part == http::Part::Segment || part == http::Part::Last;
        let app = match &message {
            Some(m) => Some(m.protocols()),
            None if segment => Some(""),
            None => None,
        };
        t.open = expanded(Layer::Frame);
        frame::render(f, t, app);
        link::render(f, t, expanded);
        t.open = expanded(Layer::Ip);
        ipv4::render(f, t);
        t.open = expanded(Layer::Ipv6);
        ipv6::render(f, t);
        t.open = expanded(Layer::Tcp);
        tcp::render(f, view, t);
        if segment {
            let payload = f.tcp_payload();
            let n = payload.len();
            let at = (payload.as_ptr() as usize).wrapping_sub(f.data().as_ptr() as usize);
            let show = if t.recording() {
                link::colon_bytes(payload)
            } else {
                String::new()
            };
            t.item(
                1,
                tree::Item::field("tcp.segment_data", at, n, tree::Show::Str(&show)),
                format_args!("TCP segment data ({n} {})", tree::bytes_word(n)),
            );
        }
        // The reassembled message is a second data source (tshark's PDML puts it in a
        // `fake-field-wrapper`), which the recorded tree does not carry.
        if let (http::Part::Last, Some(m), false) = (part, &message, t.recording()) {
            // Its own item, expanded by -V only (not by `-O tcp`).
            t.open = only.is_none();
            http::reassembled(m, t);
        }
        if let Some(r) = reassembly {
            let named = f
                .tcp
                .as_ref()
                .is_some_and(|i| r.follower.tls_named.contains(&i.stream));
            if tls::printable(f, named) {
                t.open = expanded(Layer::Tls);
                tls::render(f, t);
            }
        }
        t.open = expanded(Layer::Udp);
        udp::render(f, t, &mut self.udp_times);
        if let Some(m) = &message {
            t.open = expanded(Layer::Http);
            http::render(m, t, expanded(Layer::DataTextLines));
        }
        t.open = expanded(Layer::Data);
        if message.is_none() && !segment {
            data::render(f, view, t, self.data_hex && !all);
        }
    }
}

/// HTTP messages spread over several TCP segments, followed over every frame read (displayed
/// or not): tshark prints such a message whole in its last frame, in the tree (`-V`) and as a
/// `Reassembled TCP` hex dump (`-x`).
#[derive(Default)]
pub struct Reassembly {
    follower: http::Follower,
}

impl Reassembly {
    /// Takes in `f`, the next frame read.
    pub fn observe(&mut self, f: &Frame<'_>) {
        self.follower.observe(f);
    }

    /// The sources tshark dumps after the observed frame's bytes for the HTTP message it
    /// ends, when keepsight prints that message: the message gathered over several segments
    /// (`Reassembled TCP`) and a chunked body decoded (`De-chunked entity body`).
    pub fn extra_sources(&self) -> Vec<(&'static str, Vec<u8>)> {
        let mut sources = Vec::new();
        if let Some(m) = self.follower.printed() {
            if self.follower.part == http::Part::Last {
                sources.push(("Reassembled TCP", m.bytes.to_vec()));
            }
            if let Some(body) = m.dechunked() {
                sources.push(("De-chunked entity body", body));
            }
        }
        sources
    }
}
