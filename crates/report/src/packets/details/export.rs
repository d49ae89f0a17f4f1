//! tshark's `-T pdml` and `-T ek` (without `-e`) written from one frame's recorded protocol
//! tree ([`Nodes`]), the tree `-V` prints.
//!
//! Only the protocols whose every line carries its field name, position and value are written
//! ([`Layer::EXPORTED`]); a protocol keepsight renders only as text for `-V` so far is left out
//! rather than written with guessed names.

use super::layer::Layer;
use super::tree::{Kind, Node, Nodes};
use crate::packets::columns::push_xml_escaped;
use keepsight_engine::Frame;
use keepsight_fields::render;
use std::fmt::Write as _;

/// Whether the protocol `name` is written for this frame.
fn exported(nodes: &Nodes, name: &str) -> bool {
    Layer::EXPORTED.iter().any(|l| l.name() == name) && !nodes.incomplete.contains(&name)
}

/// The end (exclusive) of the subtree of the node at `i`: the first later node not deeper.
fn subtree_end(list: &[Node], i: usize) -> usize {
    let depth = list[i].depth;
    list[i + 1..]
        .iter()
        .position(|n| n.depth <= depth)
        .map_or(list.len(), |p| i + 1 + p)
}

/// The indexes of the direct children of the node at `i`.
fn children(list: &[Node], i: usize) -> Vec<usize> {
    let end = subtree_end(list, i);
    let depth = list[i].depth + 1;
    (i + 1..end).filter(|&j| list[j].depth == depth).collect()
}

/// A generated line's text without the brackets `-V` puts around it: PDML's `showname` and
/// EK's `text` carry the label alone.
fn label<'a>(nodes: &'a Nodes, n: &Node) -> &'a str {
    let s = nodes.str(&n.showname);
    s.strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s)
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xf) as usize] as char);
    }
}

/// tshark's PDML header for a capture read from `file`, stamped `now` (tshark writes the time
/// of the run as `ctime` prints it).
pub fn pdml_header(file: &str, now: &str, out: &mut String) {
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<?xml-stylesheet type=\"text/xsl\" href=\"pdml2html.xsl\"?>\n<!-- You can find pdml2html.xsl in /usr/share/wireshark or at https://gitlab.com/wireshark/wireshark/-/raw/master/pdml2html.xsl. -->\n<pdml version=\"0\" creator=\"wireshark/4.0.17\" time=\"");
    push_xml_escaped(out, now);
    out.push_str("\" capture_file=\"");
    push_xml_escaped(out, file);
    out.push_str("\">\n");
}

/// tshark's PDML trailer.
pub const PDML_TRAILER: &str = "</pdml>\n";

/// One frame's `<packet>` element: tshark's `geninfo` pseudo-protocol, then the exported
/// protocols, then the two blank lines tshark leaves.
pub fn pdml_packet(f: &Frame<'_>, nodes: &Nodes, out: &mut String) {
    let cap = f.record.data.len();
    let wire = f.record.orig_len;
    let _ = write!(
        out,
        "<packet>\n  <proto name=\"geninfo\" pos=\"0\" showname=\"General information\" size=\"{cap}\">\n    <field name=\"num\" pos=\"0\" show=\"{n}\" showname=\"Number\" value=\"{n:x}\" size=\"{cap}\"/>\n    <field name=\"len\" pos=\"0\" show=\"{wire}\" showname=\"Frame Length\" value=\"{wire:x}\" size=\"{cap}\"/>\n    <field name=\"caplen\" pos=\"0\" show=\"{cap}\" showname=\"Captured Length\" value=\"{cap:x}\" size=\"{cap}\"/>\n    <field name=\"timestamp\" pos=\"0\" show=\"",
        n = f.number
    );
    let time = nodes
        .list
        .iter()
        .find(|n| n.name == "frame.time")
        .and_then(|n| n.show.as_ref())
        .map(|r| nodes.str(r));
    match time {
        Some(time) => push_xml_escaped(out, time),
        // A record without a time stamp: tshark shows the epoch.
        None => render::push_abs_time(out, 0),
    }
    out.push_str("\" showname=\"Captured Time\" value=\"");
    render::push_seconds(out, f.ts_ns, 9);
    let _ = writeln!(out, "\" size=\"{cap}\"/>\n  </proto>");
    let list = &nodes.list;
    let data = f.data();
    let mut i = 0;
    while i < list.len() {
        let end = subtree_end(list, i);
        if list[i].kind == Kind::Proto && list[i].name == "data" && exported(nodes, "data") {
            pdml_data(nodes, i, end, data, out);
        } else if list[i].kind == Kind::Proto && exported(nodes, list[i].name) {
            for j in i..end {
                pdml_element(nodes, j, data, out);
            }
        }
        i = end;
    }
    out.push_str("</packet>\n\n\n");
}

/// The Data layer, which tshark's PDML writes as a field in a `fake-field-wrapper` protocol
/// (the data dissector adds no protocol item of its own), indented as tshark indents it.
fn pdml_data(nodes: &Nodes, i: usize, end: usize, data: &[u8], out: &mut String) {
    let n = &nodes.list[i];
    out.push_str("  <proto name=\"fake-field-wrapper\">\n    <field name=\"data\" value=\"");
    push_hex(out, data.get(n.pos..n.pos + n.size).unwrap_or_default());
    out.push_str("\">\n");
    for j in i + 1..end {
        // The fields are one level deeper than their wrapper; its closing tags follow.
        out.push_str("  ");
        pdml_leaf(nodes, j, data, out);
    }
    out.push_str("  </field>\n  </proto>\n");
}

/// One node's element: the opening tag, or for a leaf the whole element and the closing tags
/// of the subtrees it ends.
fn pdml_element(nodes: &Nodes, i: usize, data: &[u8], out: &mut String) {
    if pdml_tag(nodes, i, data, out) {
        close_ended(nodes, i, out);
    }
}

/// A leaf's element without closing tags after it.
fn pdml_leaf(nodes: &Nodes, i: usize, data: &[u8], out: &mut String) {
    pdml_tag(nodes, i, data, out);
}

/// One node's tag: `<... />` for a leaf (true), or the opening tag (false).
fn pdml_tag(nodes: &Nodes, i: usize, data: &[u8], out: &mut String) -> bool {
    let list = &nodes.list;
    let n = &list[i];
    for _ in 0..=n.depth {
        out.push_str("  ");
    }
    let tag = if n.kind == Kind::Proto {
        "proto"
    } else {
        "field"
    };
    out.push('<');
    out.push_str(tag);
    out.push_str(" name=\"");
    out.push_str(n.name);
    out.push('"');
    if n.kind == Kind::Text {
        out.push_str(" show=\"");
        push_xml_escaped(out, label(nodes, n));
        out.push('"');
    } else {
        out.push_str(" showname=\"");
        push_xml_escaped(out, label(nodes, n));
        out.push('"');
    }
    if n.hidden {
        out.push_str(" hide=\"yes\"");
    }
    let _ = write!(out, " size=\"{}\" pos=\"{}\"", n.size, n.pos);
    if let Some(show) = &n.show {
        out.push_str(" show=\"");
        push_xml_escaped(out, nodes.str(show));
        out.push('"');
    }
    let bytes = data.get(n.pos..n.pos + n.size).unwrap_or_default();
    if n.kind == Kind::Empty && n.size == 0 {
        // A field without a value (FT_NONE) still says so.
        out.push_str(" value=\"\"");
    } else if n.kind != Kind::Proto && n.kind != Kind::Expert && n.size > 0 {
        out.push_str(" value=\"");
        match n.bits {
            Some(v) => {
                // tshark writes a bit field's value in capitals.
                let _ = write!(out, "{v:X}\" unmaskedvalue=\"");
                push_hex(out, bytes);
            }
            None => push_hex(out, bytes),
        }
        out.push('"');
    }
    let has_children = list.get(i + 1).is_some_and(|c| c.depth > n.depth);
    if has_children {
        out.push_str(">\n");
        return false;
    }
    out.push_str("/>\n");
    true
}

/// Closes every element the node at `i` (a leaf) is the last of.
fn close_ended(nodes: &Nodes, i: usize, out: &mut String) {
    let list = &nodes.list;
    let n = &list[i];
    let next_depth = list.get(i + 1).map_or(0, |c| c.depth);
    let mut depth = n.depth;
    while depth > next_depth {
        depth -= 1;
        let parent = list[..i]
            .iter()
            .rev()
            .find(|p| p.depth == depth)
            .map_or(Kind::Field, |p| p.kind);
        for _ in 0..=depth {
            out.push_str("  ");
        }
        out.push_str(if parent == Kind::Proto {
            "</proto>\n"
        } else {
            "</field>\n"
        });
    }
}

/// The bulk-index line and the start of the document tshark's `-T ek` writes for each frame;
/// the caller writes the `layers` members and closes with `}}`.
pub fn ek_start(f: &Frame<'_>, out: &mut String) {
    let t = render::broken_down(f.ts_ns, false);
    let _ = write!(
        out,
        "{{\"index\":{{\"_index\":\"packets-{:04}-{:02}-{:02}\",\"_type\":\"doc\"}}}}\n{{\"timestamp\":\"{}{:03}\",\"layers\":{{",
        t.year,
        t.month,
        t.day,
        // Seconds, then milliseconds in three digits.
        f.ts_ns.div_euclid(1_000_000_000),
        f.ts_ns.rem_euclid(1_000_000_000) / 1_000_000
    );
}

/// One frame's `-T ek` lines without `-e`: every exported protocol as an object of its fields,
/// named `PROTO_FIELD` with dots as underscores, as tshark 4.0.17 names them.
pub fn ek_packet(f: &Frame<'_>, nodes: &Nodes, out: &mut String) {
    ek_start(f, out);
    let list = &nodes.list;
    let mut first = true;
    let mut i = 0;
    while i < list.len() {
        let end = subtree_end(list, i);
        if list[i].kind == Kind::Proto && exported(nodes, list[i].name) {
            if !first {
                out.push(',');
            }
            first = false;
            ek_key(out, list[i].name);
            out.push_str(":{");
            let mut first_member = true;
            ek_members(
                f,
                nodes,
                list[i].name,
                &children(list, i),
                &mut first_member,
                out,
            );
            out.push('}');
        }
        i = end;
    }
    out.push_str("}}");
}

fn ek_key(out: &mut String, name: &str) {
    out.push('"');
    for c in name.chars() {
        out.push(if c == '.' { '_' } else { c });
    }
    out.push('"');
}

/// The members for the sibling nodes `group`: same-named siblings are one member whose
/// value is an array, and each member's children follow it at the same level, the children
/// of all its nodes together.
fn ek_members(
    f: &Frame<'_>,
    nodes: &Nodes,
    top: &str,
    siblings: &[usize],
    first: &mut bool,
    out: &mut String,
) {
    let list = &nodes.list;
    let mut done = vec![false; siblings.len()];
    for (k, &i) in siblings.iter().enumerate() {
        if done[k] {
            continue;
        }
        let name = list[i].name;
        let group: Vec<usize> = siblings
            .iter()
            .enumerate()
            .filter(|&(m, &j)| m >= k && list[j].name == name)
            .map(|(m, &j)| {
                done[m] = true;
                j
            })
            .collect();
        let n = &list[i];
        if !*first {
            out.push(',');
        }
        *first = false;
        if n.kind == Kind::Expert && group.len() > 1 {
            // Several expert items side by side: an array of one object each.
            ek_key(out, name);
            out.push_str(":[");
            for (m, &j) in group.iter().enumerate() {
                if m > 0 {
                    out.push(',');
                }
                out.push('{');
                let mut first_member = true;
                ek_members(f, nodes, top, &children(list, j), &mut first_member, out);
                out.push('}');
            }
            out.push(']');
            continue;
        }
        if n.kind == Kind::Proto || n.kind == Kind::Expert {
            ek_key(out, name);
            out.push_str(":{");
            let kids: Vec<usize> = group.iter().flat_map(|&j| children(list, j)).collect();
            let mut first_member = true;
            ek_members(f, nodes, top, &kids, &mut first_member, out);
            out.push('}');
            continue;
        }
        if n.kind == Kind::Text {
            out.push_str("\"text\":");
        } else if n.kind == Kind::NamedBytes {
            ek_key(out, name);
            out.push(':');
        } else {
            let parent = registering_protocol(name, top);
            let mut key = String::with_capacity(parent.len() + name.len() + 1);
            key.push_str(parent);
            key.push('_');
            key.push_str(name);
            ek_key(out, &key);
            out.push(':');
        }
        if group.len() > 1 {
            out.push('[');
        }
        for (m, &j) in group.iter().enumerate() {
            if m > 0 {
                out.push(',');
            }
            ek_value(f, nodes, &list[j], out);
        }
        if group.len() > 1 {
            out.push(']');
        }
        let kids: Vec<usize> = group.iter().flat_map(|&j| children(list, j)).collect();
        ek_members(f, nodes, top, &kids, first, out);
    }
}

/// The protocol that registers field `name` (written under the top-level protocol `top`): an
/// EK key starts with its abbreviation. Mostly the name's first part; the expert fields
/// belong to `_ws.expert`, and IPv6 registers its own `ip.version`.
fn registering_protocol<'a>(name: &'a str, top: &'a str) -> &'a str {
    if name.starts_with("_ws.expert.") {
        "_ws.expert"
    } else if name == "ip.version" && top == "ipv6" {
        top
    } else {
        name.split('.').next().unwrap_or(name)
    }
}

fn ek_value(f: &Frame<'_>, nodes: &Nodes, n: &Node, out: &mut String) {
    let show = n.show.as_ref().map_or("", |r| nodes.str(r));
    match n.kind {
        Kind::Bool => out.push_str(if show == "0" { "false" } else { "true" }),
        Kind::Empty => out.push_str("null"),
        Kind::AbsTime => {
            let t = render::broken_down(f.ts_ns, true);
            let _ = write!(
                out,
                "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z\"",
                t.year, t.month, t.day, t.hour, t.minute, t.second, t.nanos
            );
        }
        Kind::Text => push_json_string(out, label(nodes, n)),
        Kind::Field | Kind::Proto | Kind::Expert | Kind::NamedBytes => push_json_string(out, show),
    }
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
