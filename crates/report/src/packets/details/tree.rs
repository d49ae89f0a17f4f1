//! The tree being written for one frame, and the line helpers every protocol's subtree uses.

use keepsight_fields::{render, FieldId, FieldType, Packet};
use std::fmt::Write as _;

/// The output of one frame's tree. `open` is false for a protocol shown by its title only:
/// then every line below depth 0 is dropped. With `nodes`, the lines are recorded as
/// [`Nodes`] (name, position, size and value beside the text) for PDML and EK instead of
/// being written to `out`.
pub(crate) struct Tree<'o> {
    pub(crate) out: &'o mut String,
    pub(crate) open: bool,
    pub(crate) nodes: Option<&'o mut Nodes>,
}

impl Tree<'_> {
    /// One line at `depth` (4 spaces each).
    pub(crate) fn line(&mut self, depth: usize, args: std::fmt::Arguments<'_>) {
        if let Some(n) = self.nodes.as_deref_mut() {
            return n.push(depth, &Item::text(), false, args);
        }
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
    pub(crate) fn num(&mut self, depth: usize, prefix: &str, n: u64, suffix: &str) {
        if self.nodes.is_some() {
            return self.line(depth, format_args!("{prefix}{n}{suffix}"));
        }
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
    pub(crate) fn text(&mut self, depth: usize, text: &str) {
        if self.nodes.is_some() {
            return self.line(depth, format_args!("{text}"));
        }
        if depth > 0 && !self.open {
            return;
        }
        self.indent(depth);
        self.out.push_str(text);
        self.out.push('\n');
    }

    pub(crate) fn indent(&mut self, depth: usize) {
        const SPACES: &str = "                                        ";
        self.out.push_str(&SPACES[..(depth * 4).min(SPACES.len())]);
    }

    /// Raw text (a hex dump inside the tree), only when expanded.
    pub(crate) fn raw(&mut self, text: impl FnOnce(&mut String)) {
        if self.open && self.nodes.is_none() {
            text(self.out);
        }
    }
}

impl Tree<'_> {
    /// A line that is a protocol or a field: its text for `-V`, all of `item` for PDML/EK.
    pub(crate) fn item(&mut self, depth: usize, item: Item<'_>, showname: std::fmt::Arguments<'_>) {
        match self.nodes.as_deref_mut() {
            Some(n) => n.push(depth, &item, false, showname),
            None => self.line(depth, showname),
        }
    }

    /// [`Tree::item`] for a fixed text: `-V` copies it without the formatter.
    pub(crate) fn item_text(&mut self, depth: usize, item: Item<'_>, showname: &str) {
        match self.nodes.as_deref_mut() {
            Some(n) => n.push(depth, &item, false, format_args!("{showname}")),
            None => self.text(depth, showname),
        }
    }

    /// A field tshark adds hidden (`-V` does not show it; PDML marks it `hide="yes"`, EK
    /// lists it).
    pub(crate) fn hidden(
        &mut self,
        depth: usize,
        item: Item<'_>,
        showname: std::fmt::Arguments<'_>,
    ) {
        if let Some(n) = self.nodes.as_deref_mut() {
            n.push(depth, &item, true, showname);
        }
    }

    /// Marks protocol `name` as not recorded in full for this frame: PDML and EK leave it out
    /// rather than print part of it.
    pub(crate) fn give_up(&mut self, name: &'static str) {
        if let Some(n) = self.nodes.as_deref_mut() {
            n.incomplete.push(name);
        }
    }

    /// True when recording nodes: a renderer that writes `out` directly asks first.
    pub(crate) fn recording(&self) -> bool {
        self.nodes.is_some()
    }
}

/// How EK types a field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A protocol: its fields nest under it.
    Proto,
    /// A field shown as text (numbers too: tshark's EK quotes them).
    Field,
    /// A boolean: EK writes `true`/`false`.
    Bool,
    /// A field without a value (FT_NONE): EK writes `null`.
    Empty,
    /// An absolute time: EK writes it in ISO 8601.
    AbsTime,
    /// A text line without a field name.
    Text,
    /// An expert item (`_ws.expert`): a PDML field without a value, an EK object of its
    /// children.
    Expert,
    /// A protocol tshark registers "in name only" as a byte field (TCP's options): a PDML
    /// field with its bytes, an EK member keyed by its own name.
    NamedBytes,
}

/// A field's value as PDML's `show` attribute prints it.
pub(crate) enum Show<'a> {
    /// None (a protocol, a text line).
    None,
    /// A number in decimal.
    Num(u64),
    /// Text as it is.
    Str(&'a str),
    /// Formatted text.
    Args(std::fmt::Arguments<'a>),
}

/// What PDML and EK know of a line beyond its text.
pub(crate) struct Item<'a> {
    pub(crate) name: &'static str,
    pub(crate) pos: usize,
    pub(crate) size: usize,
    pub(crate) show: Show<'a>,
    pub(crate) kind: Kind,
    /// A bit field's value after its mask: PDML prints it as `value` and the bytes as
    /// `unmaskedvalue`.
    pub(crate) bits: Option<u64>,
}

impl<'a> Item<'a> {
    fn text() -> Item<'static> {
        Item {
            name: "",
            pos: 0,
            size: 0,
            show: Show::None,
            kind: Kind::Text,
            bits: None,
        }
    }

    /// A text line without a field (a subtree's title such as `[Timestamps]`).
    pub(crate) fn label(pos: usize, size: usize) -> Item<'static> {
        Item {
            pos,
            size,
            ..Item::text()
        }
    }

    /// A protocol covering `size` bytes from `pos`.
    pub(crate) fn proto(name: &'static str, pos: usize, size: usize) -> Item<'static> {
        Item {
            name,
            pos,
            size,
            show: Show::None,
            kind: Kind::Proto,
            bits: None,
        }
    }

    /// A field covering `size` bytes from `pos`, shown as `show`.
    pub(crate) fn field(name: &'static str, pos: usize, size: usize, show: Show<'a>) -> Item<'a> {
        Item {
            name,
            pos,
            size,
            show,
            kind: Kind::Field,
            bits: None,
        }
    }

    /// A number field.
    pub(crate) fn num(name: &'static str, pos: usize, size: usize, n: u64) -> Item<'a> {
        Item::field(name, pos, size, Show::Num(n))
    }

    /// A boolean field (shown `1`/`0`).
    pub(crate) fn flag(name: &'static str, pos: usize, size: usize, b: bool) -> Item<'a> {
        Item {
            kind: Kind::Bool,
            ..Item::num(name, pos, size, b.into())
        }
    }

    /// The same item as a bit field whose masked value is `v`.
    pub(crate) fn bits(self, v: u64) -> Item<'a> {
        Item {
            bits: Some(v),
            ..self
        }
    }

    /// The same item typed `kind` for EK.
    pub(crate) fn kind(self, kind: Kind) -> Item<'a> {
        Item { kind, ..self }
    }
}

/// One recorded line: where its texts are in [`Nodes`]' buffer and what PDML/EK print of it.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) depth: usize,
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) hidden: bool,
    pub(crate) pos: usize,
    pub(crate) size: usize,
    pub(crate) bits: Option<u64>,
    pub(crate) showname: std::ops::Range<usize>,
    pub(crate) show: Option<std::ops::Range<usize>>,
}

/// One frame's protocol tree as nodes, for PDML and EK: the same renderers as `-V` fill it,
/// so the two outputs cannot drift apart. Reused from frame to frame.
#[derive(Default, Debug)]
pub struct Nodes {
    pub(crate) list: Vec<Node>,
    pub(crate) text: String,
    /// Protocols this frame's tree does not carry in full (see [`Tree::give_up`]).
    pub(crate) incomplete: Vec<&'static str>,
}

impl Nodes {
    pub(crate) fn clear(&mut self) {
        self.list.clear();
        self.text.clear();
        self.incomplete.clear();
    }

    pub(crate) fn str(&self, r: &std::ops::Range<usize>) -> &str {
        &self.text[r.clone()]
    }

    fn push(
        &mut self,
        depth: usize,
        item: &Item<'_>,
        hidden: bool,
        showname: std::fmt::Arguments<'_>,
    ) {
        let start = self.text.len();
        let _ = self.text.write_fmt(showname);
        let showname = start..self.text.len();
        let start = self.text.len();
        let show = match &item.show {
            Show::None => None,
            Show::Num(n) => {
                self.text.push_str(itoa::Buffer::new().format(*n));
                Some(start..self.text.len())
            }
            Show::Str(s) => {
                self.text.push_str(s);
                Some(start..self.text.len())
            }
            Show::Args(a) => {
                let _ = self.text.write_fmt(*a);
                Some(start..self.text.len())
            }
        };
        self.list.push(Node {
            depth,
            name: item.name,
            kind: item.kind,
            hidden,
            pos: item.pos,
            size: item.size,
            bits: item.bits,
            showname,
            show,
        });
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

/// tshark's numbers for an expert item's severity and group, as PDML and EK show them.
fn expert_code(word: &str) -> u64 {
    match word {
        "Comment" => 0x0010_0000,
        "Chat" => 0x0020_0000,
        "Note" => 0x0040_0000,
        "Warning" => 0x0060_0000,
        "Error" => 0x0080_0000,
        "Checksum" => 0x0100_0000,
        "Sequence" => 0x0200_0000,
        "Malformed" => 0x0700_0000,
        "Protocol" => 0x0900_0000,
        _ => 0,
    }
}

/// An expert item `name` added to the item at `pos`: for `-V` the same lines as [`expert`];
/// recorded, the `_ws.expert` node tshark's PDML and EK carry (the named field, the hidden
/// message, severity and group).
pub(crate) fn expert_at(
    t: &mut Tree<'_>,
    depth: usize,
    pos: usize,
    name: &'static str,
    severity: &str,
    group: &str,
    msg: std::fmt::Arguments<'_>,
) {
    let Some(n) = t.nodes.as_deref_mut() else {
        return expert(t, depth, severity, group, msg);
    };
    let expert = Item {
        name: "_ws.expert",
        pos,
        size: 0,
        show: Show::None,
        kind: Kind::Expert,
        bits: None,
    };
    n.push(
        depth,
        &expert,
        false,
        format_args!("[Expert Info ({severity}/{group}): {msg}]"),
    );
    let named = Item::field(name, 0, 0, Show::Str("")).kind(Kind::Empty);
    n.push(depth + 1, &named, false, format_args!("[{msg}]"));
    n.push(
        depth + 1,
        &Item::field("_ws.expert.message", 0, 0, Show::Args(msg)),
        true,
        format_args!("Message: {msg}"),
    );
    n.push(
        depth + 1,
        &Item::num("_ws.expert.severity", 0, 0, expert_code(severity)),
        false,
        format_args!("[Severity level: {severity}]"),
    );
    n.push(
        depth + 1,
        &Item::num("_ws.expert.group", 0, 0, expert_code(group)),
        false,
        format_args!("[Group: {group}]"),
    );
}

/// [`field`] for a field tshark places at `pos` (a generated field sits where its protocol
/// starts).
pub(crate) fn field_at(
    t: &mut Tree<'_>,
    depth: usize,
    f: &dyn Packet,
    id: FieldId,
    pos: usize,
    prefix: &str,
    suffix: &str,
) {
    let before = t.nodes.as_deref().map_or(0, |n| n.list.len());
    field(t, depth, f, id, prefix, suffix);
    if let Some(n) = t.nodes.as_deref_mut() {
        for node in &mut n.list[before..] {
            node.pos = pos;
        }
    }
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
    if let Some(n) = t.nodes.as_deref_mut() {
        let name = id.def().name;
        let mut present = false;
        f.visit(id, &mut |_| present = true);
        if present {
            let mut text = String::new();
            f.visit(id, &mut |v| {
                if text.is_empty() {
                    render::render(id.def(), v, &mut text);
                }
            });
            let kind = match id.def().ftype {
                FieldType::AbsTime => Kind::AbsTime,
                FieldType::Bool => Kind::Bool,
                FieldType::None => Kind::Empty,
                _ => Kind::Field,
            };
            n.push(
                depth,
                &Item::field(name, 0, 0, Show::Str(&text)).kind(kind),
                false,
                format_args!("{prefix}{text}{suffix}"),
            );
        }
        return;
    }
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
