//! Wireshark display filters with tshark 4.0.17's meaning: the `-Y` language troubleshooters
//! already think in (`tcp.len eq 1`, `tcp.stream eq 0 and (tcp.len == 1 or tcp.flags.reset == 1)`,
//! `tcp contains "abc"`), compiled once and evaluated per packet.
//!
//! A [`Filter`] is built in three steps: the expression is split into tokens and parsed with
//! tshark's precedence (`not` > `and` > `or`); names are resolved against the
//! [`keepsight_fields`] registry and literals are read according to the type of the field they
//! are compared with (`010` is octal 8 next to `tcp.len` but the bytes `01 00` next to
//! `tcp.payload`); the result is lowered to a small tree whose evaluation reads field values
//! through [`keepsight_fields::Packet`] without allocating in the common cases.
//!
//! The oracle is tshark itself: wherever this crate and tshark 4.0.17 disagree on which frames
//! an expression selects, or on whether it is valid at all, this crate is wrong. Rules that look
//! odd (`!=` means "no occurrence equals", byte fields order by length first, `xor` is an error)
//! are there because tshark 4.0 behaves that way.
//!
//! What this crate is not: it does not dissect packets or know any field values itself (the
//! capture pipeline implements [`keepsight_fields::Packet`]), it does not print anything, and it
//! knows only the fields the registry knows — `http.request` is an unknown field until HTTP is
//! dissected. Display macros (`${...}`), field references (`$field`, `@field`) and PCRE2-only
//! regex features (look-around, back-references) are not supported; each is rejected with a
//! message saying so (tests/filters/pending.txt tracks them). The layer operator (`ip.addr#2`)
//! is understood for the one layer per protocol the pipeline dissects: `#1` is the field, any
//! other layer is absent. Integer fields with tshark value strings take names
//! (`ip.proto == "TCP"`, `eth.type == IPv4`).
//!
//! How it is checked: unit tests here; tests/lists.rs (accept/reject verdicts of the tshark-made
//! lists in tests/filters/); crates/cli/tests/filter_*.rs (frame-for-frame comparison with tshark
//! over the capture corpus, random filters, `-t dd`); benches/ and BENCH.md for the figures.

mod compile;
mod display;
mod error;
mod eval;
mod ir;
mod lexer;
mod literal;
mod parser;
mod value;

pub use error::{suggest_field, FilterError};
use keepsight_fields::{FieldId, Packet};

/// A compiled display filter. Compile once, then call [`Filter::matches`] for every packet;
/// it is `Send + Sync`, so one filter can serve several threads.
pub struct Filter {
    root: ir::Node,
    fields: Vec<FieldId>,
    text: String,
}

impl Filter {
    /// Parses `expr`, checks it against the field registry and compiles it.
    ///
    /// Errors name the offending token and say what would be accepted, e.g.
    /// "unknown field `tcp.lenn` — did you mean `tcp.len`?". Never panics, whatever `expr` is.
    pub fn compile(expr: &str) -> Result<Filter, FilterError> {
        let tokens = lexer::tokenize(expr)?;
        let ast = parser::parse(expr, tokens)?;
        let compiled = compile::compile(expr, &ast)?;
        Ok(Filter {
            root: compiled.root,
            fields: compiled.fields,
            text: expr.to_string(),
        })
    }

    /// True when `pkt` is selected by the filter.
    pub fn matches(&self, pkt: &dyn Packet) -> bool {
        eval::eval(&self.root, pkt)
    }

    /// The fields the filter reads, each once, so the pipeline can skip work for the others.
    pub fn fields(&self) -> impl Iterator<Item = FieldId> + '_ {
        self.fields.iter().copied()
    }

    /// The expression as it was given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The filter in one canonical spelling (one word per operator, every group and operand
    /// bracketed, unusual bytes escaped): it compiles to the same filter, and is its own
    /// canonical text.
    pub fn canonical(&self) -> String {
        let parsed = lexer::tokenize(&self.text).and_then(|t| parser::parse(&self.text, t));
        match parsed {
            Ok(ast) => display::canonical(&ast),
            // Unreachable: the text compiled, so it lexes and parses.
            Err(_) => self.text.clone(),
        }
    }
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter").field("expr", &self.text).finish()
    }
}

#[cfg(test)]
mod tests;
