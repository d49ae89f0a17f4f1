//! The canonical text of a parsed filter: every operator spelled one way, every group and
//! operand in parentheses, strings and characters with their unusual bytes escaped. Compiling
//! it gives the same filter as the text it came from; the fuzz target checks that (compile →
//! canonical text → compile → the same canonical text and the same matches).

use crate::ir::{Quant, RangeSpec};
use crate::lexer::CmpTok;
use crate::parser::{Expr, Operand, RelOp, SetItem};
use std::fmt::Write;

/// The canonical text of `e`.
pub(crate) fn canonical(e: &Expr) -> String {
    let mut out = String::new();
    expr(e, &mut out);
    out
}

fn joined(items: &[Expr], word: &str, out: &mut String) {
    out.push('(');
    for (k, e) in items.iter().enumerate() {
        if k > 0 {
            out.push(' ');
            out.push_str(word);
            out.push(' ');
        }
        expr(e, out);
    }
    out.push(')');
}

fn quant(q: Option<Quant>, out: &mut String) {
    match q {
        Some(Quant::Any) => out.push_str("any "),
        Some(Quant::All) => out.push_str("all "),
        None => {}
    }
}

fn expr(e: &Expr, out: &mut String) {
    match e {
        Expr::Or(items) => joined(items, "or", out),
        Expr::And(items) => joined(items, "and", out),
        Expr::Not(inner) => {
            out.push_str("(not ");
            expr(inner, out);
            out.push(')');
        }
        Expr::Test(v) => {
            out.push('(');
            operand(v, out);
            out.push(')');
        }
        Expr::Rel {
            quant: q,
            op,
            lhs,
            rhs,
            ..
        } => {
            out.push('(');
            quant(*q, out);
            operand(lhs, out);
            out.push_str(match op {
                RelOp::Cmp(CmpTok::Eq) => " == ",
                RelOp::Cmp(CmpTok::Ne) => " != ",
                RelOp::Cmp(CmpTok::AllEq) => " === ",
                RelOp::Cmp(CmpTok::AnyNe) => " !== ",
                RelOp::Cmp(CmpTok::Gt) => " > ",
                RelOp::Cmp(CmpTok::Ge) => " >= ",
                RelOp::Cmp(CmpTok::Lt) => " < ",
                RelOp::Cmp(CmpTok::Le) => " <= ",
                RelOp::Contains => " contains ",
                RelOp::Matches => " matches ",
            });
            operand(rhs, out);
            out.push(')');
        }
        Expr::In {
            quant: q,
            negated,
            lhs,
            items,
            ..
        } => {
            out.push('(');
            quant(*q, out);
            operand(lhs, out);
            out.push_str(if *negated { " not in {" } else { " in {" });
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                match item {
                    SetItem::One(v) => operand(v, out),
                    SetItem::Range(a, b) => {
                        operand(a, out);
                        out.push_str(" .. ");
                        operand(b, out);
                    }
                }
            }
            out.push_str("})");
        }
    }
}

fn operand(v: &Operand, out: &mut String) {
    match v {
        Operand::Word(w, _) => out.push_str(w),
        Operand::Literal(w, _) => {
            out.push(':');
            out.push_str(w);
        }
        Operand::Str(bytes, _) => {
            out.push('"');
            for &b in bytes {
                match b {
                    b'"' => out.push_str("\\\""),
                    b'\\' => out.push_str("\\\\"),
                    0x20..=0x7e => out.push(b as char),
                    _ => {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
            }
            out.push('"');
        }
        Operand::Char(c, _) => {
            let _ = write!(out, "'\\x{c:02x}'");
        }
        Operand::Slice(inner, ranges, _) => {
            operand(inner, out);
            out.push('[');
            for (k, r) in ranges.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                let _ = match r {
                    RangeSpec::StartLen(i, n) => write!(out, "{i}:{n}"),
                    RangeSpec::StartEnd(i, j) => write!(out, "{i}-{j}"),
                    RangeSpec::From(i) => write!(out, "{i}:"),
                };
            }
            out.push(']');
        }
        Operand::Call(name, args, _) => {
            out.push_str(name);
            out.push('(');
            for (k, a) in args.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                operand(a, out);
            }
            out.push(')');
        }
        Operand::Arith(op, a, b, _) => {
            // Braces group a value (parentheses would make it a test).
            out.push('{');
            operand(a, out);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            operand(b, out);
            out.push('}');
        }
        Operand::Neg(inner, _) => {
            out.push_str("-{");
            operand(inner, out);
            out.push('}');
        }
    }
}
