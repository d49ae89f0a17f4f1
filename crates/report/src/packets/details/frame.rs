//! The `Frame` subtree: what the capture file says about the record.

use super::tree::{field, Item, Show, Tree};
use keepsight_engine::Frame;
use keepsight_fields::ids;

/// tshark's name and number (WTAP_ENCAP_*) of the frame's link type.
fn encapsulation(link_type: u32) -> Option<(&'static str, u32)> {
    Some(match link_type {
        1 => ("Ethernet", 1),
        0 => ("NULL/Loopback", 15),
        101 => ("Raw IP", 7),
        108 => ("OpenBSD loopback", 174),
        113 => ("Linux cooked-mode capture v1", 25),
        228 => ("Raw IPv4", 129),
        229 => ("Raw IPv6", 130),
        276 => ("Linux cooked-mode capture v2", 210),
        _ => return None,
    })
}

/// pcapng packet comments, which tshark shows as a tree of their own before the frame.
fn comments(f: &Frame<'_>, t: &mut Tree<'_>) {
    let mut comments = f.record.comments().peekable();
    if comments.peek().is_none() {
        return;
    }
    t.line(0, format_args!("Packet comments"));
    for c in comments {
        t.line(1, format_args!("{c}"));
        super::tree::expert(t, 2, "Comment", "Comment", format_args!("{c}"));
    }
}

/// `app`: the protocol names an application layer keepsight prints adds after the transport
/// (replacing the `data` tshark would otherwise show).
pub(super) fn render(f: &Frame<'_>, t: &mut Tree<'_>, app: Option<&str>) {
    comments(f, t);
    let rec = &f.record;
    // tshark titles a pcapng custom block by its enterprise, whose name keepsight does not
    // carry: no subtree rather than a wrong one.
    if rec.link_type == keepsight_engine::capture::linktype::PCAPNG_CUSTOM_BLOCK {
        return;
    }
    let (wire, cap) = (rec.orig_len as u64, rec.data.len() as u64);
    let name = rec.interface_name.unwrap_or("unknown");
    let frame = Item::proto("frame", 0, cap as usize);
    if f.pcapng {
        t.item(
            0,
            frame,
            format_args!(
                "Frame {}: {wire} bytes on wire ({} bits), {cap} bytes captured ({} bits) on interface {name}, id {}",
                f.number,
                wire * 8,
                cap * 8,
                rec.interface_id
            ),
        );
        t.item(
            1,
            Item::num("frame.section_number", 0, 0, rec.section.into()),
            format_args!("Section number: {}", rec.section),
        );
        t.item(
            1,
            Item::num("frame.interface_id", 0, 0, rec.interface_id.into()),
            format_args!("Interface id: {} ({name})", rec.interface_id),
        );
        t.item(
            2,
            Item::field("frame.interface_name", 0, 0, Show::Str(name)),
            format_args!("Interface name: {name}"),
        );
    } else {
        t.item(
            0,
            frame,
            format_args!(
                "Frame {}: {wire} bytes on wire ({} bits), {cap} bytes captured ({} bits)",
                f.number,
                wire * 8,
                cap * 8
            ),
        );
    }
    if let Some((text, n)) = encapsulation(rec.link_type) {
        t.item(
            1,
            Item::num("frame.encap_type", 0, 0, n.into()),
            format_args!("Encapsulation type: {text} ({n})"),
        );
    }
    field(t, 1, f, ids::FRAME_TIME, "Arrival Time: ", "");
    if let Some(frac) = rec.invalid_frac_ns {
        super::tree::expert(
            t,
            1,
            "Note",
            "Sequence",
            format_args!(
                "Arrival Time: Fractional second {frac:09} is invalid, the valid range is 0-1000000000"
            ),
        );
    }
    if rec.ts_ns.is_some() {
        t.item(
            1,
            Item::field("frame.offset_shift", 0, 0, Show::Str("0.000000000")),
            format_args!("[Time shift for this packet: 0.000000000 seconds]"),
        );
    }
    field(t, 1, f, ids::FRAME_TIME_EPOCH, "Epoch Time: ", " seconds");
    field(
        t,
        1,
        f,
        ids::FRAME_TIME_DELTA,
        "[Time delta from previous captured frame: ",
        " seconds]",
    );
    field(
        t,
        1,
        f,
        ids::FRAME_TIME_DELTA_DISPLAYED,
        "[Time delta from previous displayed frame: ",
        " seconds]",
    );
    field(
        t,
        1,
        f,
        ids::FRAME_TIME_RELATIVE,
        "[Time since reference or first frame: ",
        " seconds]",
    );
    t.item(
        1,
        Item::num("frame.number", 0, 0, f.number.into()),
        format_args!("Frame Number: {}", f.number),
    );
    t.item(
        1,
        Item::num("frame.len", 0, 0, wire),
        format_args!("Frame Length: {wire} bytes ({} bits)", wire * 8),
    );
    t.item(
        1,
        Item::num("frame.cap_len", 0, 0, cap),
        format_args!("Capture Length: {cap} bytes ({} bits)", cap * 8),
    );
    t.item(
        1,
        Item::flag("frame.marked", 0, 0, false),
        format_args!("[Frame is marked: False]"),
    );
    t.item(
        1,
        Item::flag("frame.ignored", 0, 0, false),
        format_args!("[Frame is ignored: False]"),
    );
    if t.recording() {
        let mut protocols = String::new();
        f.push_protocols(&mut protocols);
        t.item(
            1,
            Item::field("frame.protocols", 0, 0, Show::Str(&protocols)),
            format_args!("[Protocols in frame: {protocols}]"),
        );
    } else if t.open {
        t.out.push_str("    [Protocols in frame: ");
        f.push_protocols(t.out);
        if let Some(names) = app {
            if t.out.ends_with(":data") {
                t.out.truncate(t.out.len() - ":data".len());
            }
            t.out.push_str(names);
        }
        t.out.push_str("]\n");
    }
}
