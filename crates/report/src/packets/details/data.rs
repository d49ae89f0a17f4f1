//! The `Data` subtree: bytes no dissector took. tshark's text output dumps them in hex
//! under the title, before the fields.

use super::link::Hex;
use super::tree::{bytes_word, Tree};
use crate::packets::hex::dump;
use keepsight_engine::Frame;
use keepsight_fields::{ids, Packet, Value};

/// TCP ports tshark 4.0.17 hands to its HTTP dissector by default (`http.tcp.port`): there
/// the payload is HTTP, not `Data`, and keepsight prints no Data subtree rather than a wrong one.
const HTTP_PORTS: [u16; 10] = [80, 1900, 2710, 2869, 3128, 3132, 5985, 8080, 8088, 11371];

pub(super) fn render(f: &Frame<'_>, view: &dyn Packet, t: &mut Tree<'_>, hex: bool) {
    if let Some(h) = f.tcp_header() {
        if HTTP_PORTS.contains(&h.src_port()) || HTTP_PORTS.contains(&h.dst_port()) {
            return;
        }
    }
    view.visit(ids::DATA_DATA, &mut |v| {
        let Value::Bytes(b) = v else {
            return;
        };
        let n = b.len();
        t.line(0, format_args!("Data ({n} {})", bytes_word(n)));
        if hex {
            t.raw(|out| {
                out.push('\n');
                dump(b, out);
            });
        }
        t.line(1, format_args!("Data: {}", Hex(b)));
        t.line(1, format_args!("[Length: {n}]"));
    });
}
