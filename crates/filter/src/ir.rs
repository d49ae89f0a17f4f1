//! The compiled form of a filter: the tree [`crate::compile`] produces and [`crate::eval`]
//! walks, and the operators it shares with the parsed syntax. Both sides depend on this module
//! and not on each other, so the evaluator can be read (and changed) knowing only what a
//! compiled filter is.

use crate::value::{BytesOrder, Val};
use keepsight_fields::{FieldId, FieldType};
use std::borrow::Cow;

/// How a comparison treats a field with several occurrences: `any` (tshark's default for most
/// operators) holds when one occurrence matches, `all` (`===`, `!=`) when every one does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Quant {
    Any,
    All,
}

/// The arithmetic operators of tshark 4.0's filter language (`+ - * / %` and bitwise `&`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    And,
}

impl ArithOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Rem => "%",
            ArithOp::And => "&",
        }
    }
}

/// One `[...]` range, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RangeSpec {
    /// `[i:j]` (start, length), `[i]` (length 1), `[:j]` (start 0).
    StartLen(i64, i64),
    /// `[i-j]`, inclusive end.
    StartEnd(i64, i64),
    /// `[i:]`, to the end.
    From(i64),
}

/// The value functions that map each value (`lower`, `upper`, `abs`) and unary minus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Func {
    Lower,
    Upper,
    Abs,
    Neg,
}

/// A value-producing expression, ready to evaluate. Each yields zero or more values per packet.
#[derive(Debug)]
pub(crate) enum ValueExpr {
    Field(FieldId),
    /// A protocol field as `contains` and `matches` see it: the layer's data from its header to
    /// the end of the layer, not just the header ([`keepsight_fields::Value::Protocol`]).
    Tvb(FieldId),
    /// A protocol keepsight does not dissect and tshark would find absent: no values.
    Absent,
    Const(Val<'static>),
    Slice(Box<ValueExpr>, Vec<RangeSpec>),
    /// `len(field)`: bytes for byte-like fields, the type's width for numbers.
    Len(Box<ValueExpr>, LenRule),
    Count(FieldId),
    Map(Func, Box<ValueExpr>),
    /// `string(field)`, rendered as tshark shows the value.
    Str(Box<ValueExpr>, FieldType),
    MaxMin(bool, Vec<ValueExpr>),
    Arith(ArithOp, Box<ValueExpr>, Box<ValueExpr>),
}

/// How `len()` measures one value of the field it is applied to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LenRule {
    /// The length of the value's bytes.
    Bytes,
    /// A fixed length for every occurrence (numbers, addresses, presence-only fields).
    Fixed(u32),
}

/// The relation of a comparison, once `!=`/`~=` quantifiers are split off into [`Quant`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Relation {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

// Nodes are built once per filter and few; boxing the large variants would only add a pointer
// chase to every evaluation.
/// A boolean expression, ready to evaluate against one packet.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Node {
    Const(bool),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Exists(FieldId),
    /// A bare non-field value: true when some value is non-zero (slices: non-empty).
    Truthy(ValueExpr, bool),
    Cmp {
        lhs: ValueExpr,
        rhs: ValueExpr,
        relation: Relation,
        quant: Quant,
        order: BytesOrder,
    },
    Contains {
        lhs: ValueExpr,
        rhs: ValueExpr,
        finder: Option<memchr::memmem::Finder<'static>>,
        quant: Quant,
    },
    Matches {
        lhs: ValueExpr,
        re: regex::bytes::Regex,
        quant: Quant,
    },
    In {
        lhs: ValueExpr,
        items: Vec<(Val<'static>, Option<Val<'static>>)>,
        /// Members that are fields rather than constants.
        members: Vec<ValueExpr>,
        quant: Quant,
        order: BytesOrder,
    },
}

/// A compiled filter: its tree and the fields it reads.
pub(crate) struct Compiled {
    /// What [`crate::eval`] evaluates per packet.
    pub root: Node,
    /// Every field the tree reads, sorted, each once.
    pub fields: Vec<FieldId>,
}

/// `x op y` on two values, as tshark computes it: integers with overflow and division by
/// zero giving no value, floats, time differences and sums, bitwise AND of byte strings.
/// `None` when the operation has no value. Shared by constant folding at compile time and by
/// evaluation, so both give the same answer.
#[inline]
pub(crate) fn arith(op: ArithOp, x: &Val<'_>, y: &Val<'_>) -> Option<Val<'static>> {
    Some(match (x, y) {
        (Val::Int(a), Val::Int(b)) => Val::Int(match op {
            ArithOp::Add => a.checked_add(*b)?,
            ArithOp::Sub => a.checked_sub(*b)?,
            ArithOp::Mul => a.checked_mul(*b)?,
            ArithOp::Div => a.checked_div(*b)?,
            ArithOp::Rem => a.checked_rem(*b)?,
            ArithOp::And => a & b,
        }),
        (Val::Float(_) | Val::Int(_), Val::Float(_) | Val::Int(_)) => {
            let f = |v: &Val<'_>| match v {
                Val::Float(x) => *x,
                Val::Int(i) => *i as f64,
                _ => 0.0,
            };
            let (a, b) = (f(x), f(y));
            Val::Float(match op {
                ArithOp::Add => a + b,
                ArithOp::Sub => a - b,
                ArithOp::Mul => a * b,
                ArithOp::Div if b != 0.0 => a / b,
                _ => return None,
            })
        }
        (Val::Time(a), Val::Time(b)) => Val::Time(match op {
            ArithOp::Add => a.checked_add(*b)?,
            ArithOp::Sub => a.checked_sub(*b)?,
            _ => return None,
        }),
        (Val::Bytes(a), Val::Bytes(b)) if op == ArithOp::And => Val::Bytes(Cow::Owned(
            a.iter().zip(b.iter()).map(|(p, q)| p & q).collect(),
        )),
        _ => return None,
    })
}
