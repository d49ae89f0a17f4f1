//! The tree being written for one frame, and the line helpers every protocol's subtree uses.

use keepsight_fields::{render, FieldId, Packet};
use std::fmt::Write as _;

/// The output of one frame's tree. `open` is false for a protocol shown by its title only:
/// then every line below depth 0 is dropped.
pub(crate) struct Tree<'o> {
    pub(crate) out: &'o mut String,
    pub(crate) open: bool,
}

impl Tree<'_> {
    /// One line at `depth` (4 spaces each).
    pub(crate) fn line(&mut self, depth: usize, args: std::fmt::Arguments<'_>) {
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
