//! The `Data` subtree: bytes no dissector took. tshark's text output dumps them in hex
//! under the title, before the fields.

use super::link::Hex;
use super::tree::{bytes_word, Item, Show, Tree};
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
    let frame = f.data();
    view.visit(ids::DATA_DATA, &mut |v| {
        let Value::Bytes(b) = v else {
            return;
        };
        let n = b.len();
        // Bytes from a reassembled datagram or a decrypted record are another data source,
        // which the recorded tree does not carry: the layer is left out of PDML/EK there.
        let start = (b.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
        let at = if start <= frame.len() && start + n <= frame.len() {
            start
        } else {
            t.give_up("data");
            0
        };
        t.item(
            0,
            Item::proto("data", at, n),
            format_args!("Data ({n} {})", bytes_word(n)),
        );
        if hex {
            t.raw(|out| {
                out.push('\n');
                dump(b, out);
            });
        }
        let show = if t.recording() {
            super::link::colon_bytes(b)
        } else {
            String::new()
        };
        t.item(
            1,
            Item::field("data.data", at, n, Show::Str(&show)),
            format_args!("Data: {}", Hex(b)),
        );
        t.item(
            1,
            Item::num("data.len", at, 0, n as u64),
            format_args!("[Length: {n}]"),
        );
    });
}
