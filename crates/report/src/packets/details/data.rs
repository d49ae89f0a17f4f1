//! The `Data` subtree: bytes no dissector took. tshark's text output dumps them in hex
//! under the title, before the fields.

use super::link::Hex;
use super::{bytes_word, Tree};
use crate::packets::hex::dump;
use keepsight_fields::{ids, Packet, Value};

pub(super) fn render(view: &dyn Packet, t: &mut Tree<'_>) {
    view.visit(ids::DATA_DATA, &mut |v| {
        let Value::Bytes(b) = v else {
            return;
        };
        let n = b.len();
        t.line(0, format_args!("Data ({n} {})", bytes_word(n)));
        t.raw(|out| {
            out.push('\n');
            dump(b, out);
        });
        t.line(1, format_args!("Data: {}", Hex(b)));
        t.line(1, format_args!("[Length: {n}]"));
    });
}
