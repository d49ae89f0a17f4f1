//! Type checking against the field registry, and lowering to the tree the evaluator walks.
//!
//! Literals get their meaning here, from the type of the other side (see `literal`). Every
//! rejection carries the span of the token at fault and says what would be accepted.

use crate::error::{suggest_field, FilterError, Span};
use crate::ir::{arith, ArithOp, Compiled, Func, LenRule, Node, Quant, Relation, ValueExpr};
use crate::lexer::CmpTok;
use crate::literal::{self, owned};
use crate::parser::{Expr, Operand, RelOp, SetItem};
use crate::value::{BytesOrder, Val};
use keepsight_fields::{ids, lookup, FieldId, FieldType};

/// The type of a value-producing expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExprType {
    Field(FieldType),
    /// The result of a slice: always bytes, whatever was sliced.
    Slice,
}

/// Kinds that may be compared with each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Int,
    Bool,
    Float,
    Bytes,
    Str,
    V4,
    V6,
    AbsTime,
    RelTime,
    None,
}

impl ExprType {
    fn ftype(self) -> FieldType {
        match self {
            ExprType::Field(t) => t,
            ExprType::Slice => FieldType::Bytes,
        }
    }
    fn class(self) -> Class {
        match self.ftype() {
            FieldType::UInt(_) | FieldType::Int(_) | FieldType::FrameNum => Class::Int,
            FieldType::Bool => Class::Bool,
            FieldType::Float => Class::Float,
            FieldType::Bytes | FieldType::Protocol | FieldType::Ether => Class::Bytes,
            FieldType::String => Class::Str,
            FieldType::Ipv4 => Class::V4,
            FieldType::Ipv6 => Class::V6,
            FieldType::AbsTime => Class::AbsTime,
            FieldType::RelTime => Class::RelTime,
            FieldType::None => Class::None,
        }
    }
    /// "an unsigned integer", for messages.
    pub(crate) fn describe(self) -> String {
        match self.ftype() {
            FieldType::Protocol => "a protocol".into(),
            FieldType::None => "a presence-only field (it has no value)".into(),
            FieldType::Bool => "a boolean".into(),
            FieldType::UInt(b) => format!("an unsigned integer ({b} bits)"),
            FieldType::Int(b) => format!("a signed integer ({b} bits)"),
            FieldType::Float => "a floating-point number".into(),
            FieldType::Bytes if self == ExprType::Slice => "a byte slice".into(),
            FieldType::Bytes => "a byte string".into(),
            FieldType::String => "a string".into(),
            FieldType::Ipv4 => "an IPv4 address".into(),
            FieldType::Ipv6 => "an IPv6 address".into(),
            FieldType::Ether => "an Ethernet address".into(),
            FieldType::AbsTime => "an absolute time".into(),
            FieldType::RelTime => "a relative time (seconds)".into(),
            FieldType::FrameNum => "a frame number".into(),
        }
    }
}

pub(crate) fn compile(expr: &str, ast: &Expr) -> Result<Compiled, FilterError> {
    let mut c = Compiler {
        expr,
        fields: Vec::new(),
    };
    let root = c.node(ast)?;
    let mut fields = c.fields;
    fields.sort();
    fields.dedup();
    Ok(Compiled { root, fields })
}

struct Compiler<'a> {
    expr: &'a str,
    fields: Vec<FieldId>,
}

/// An operand after name resolution: either something that yields values from the packet, or a
/// literal still waiting for a type.
enum Resolved {
    ValueExpr(ValueExpr, ExprType, Span),
    Literal(Literal, Span),
}

#[derive(Clone)]
enum Literal {
    Word(String),
    /// `:word`: never a field name.
    Forced(String),
    Str(Vec<u8>),
    Char(u8),
    Neg(Box<Literal>),
    /// Arithmetic between literals (`tcp.len == 3 - 1`), folded once the type is known.
    Arith(ArithOp, Box<Literal>, Box<Literal>),
    /// `abs`, `max` or `min` of literals only.
    Call(LiteralFunc, Vec<Literal>),
}

#[derive(Clone, Copy)]
enum LiteralFunc {
    Abs,
    Max,
    Min,
}

impl Literal {
    fn show(&self) -> String {
        match self {
            Literal::Word(w) => format!("`{w}`"),
            Literal::Forced(w) => format!("`:{w}`"),
            Literal::Str(b) => format!("`\"{}\"`", String::from_utf8_lossy(b).escape_debug()),
            Literal::Char(c) => format!("`'{}'`", (*c as char).escape_debug()),
            Literal::Neg(l) => format!("`-{}`", l.show().trim_matches('`')),
            Literal::Call(_, args) => format!(
                "`f({})`",
                args.iter()
                    .map(|a| a.show().trim_matches('`').to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Literal::Arith(op, a, b) => format!(
                "`{} {} {}`",
                a.show().trim_matches('`'),
                op.symbol(),
                b.show().trim_matches('`')
            ),
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            Literal::Str(_) => "a string",
            Literal::Char(_) => "a character",
            Literal::Neg(_) => "a negative number",
            Literal::Arith(..) | Literal::Call(..) => "a constant expression",
            _ => "a literal",
        }
    }
}

fn bool_names(field: FieldId) -> (&'static str, &'static str) {
    // Boolean flag bits show "Set"/"Not set" in tshark; other booleans "True"/"False".
    if field.name().contains(".flags.") {
        ("Set", "Not set")
    } else {
        ("True", "False")
    }
}

impl Compiler<'_> {
    fn err(&self, span: Span, msg: impl Into<String>) -> FilterError {
        FilterError::new(self.expr, span, msg.into())
    }

    fn node(&mut self, e: &Expr) -> Result<Node, FilterError> {
        Ok(match e {
            Expr::Or(v) => Node::Or(v.iter().map(|e| self.node(e)).collect::<Result<_, _>>()?),
            Expr::And(v) => Node::And(v.iter().map(|e| self.node(e)).collect::<Result<_, _>>()?),
            Expr::Not(a) => Node::Not(Box::new(self.node(a)?)),
            Expr::Test(op) => match self.resolve(op)? {
                Resolved::ValueExpr(ValueExpr::Field(id), _, _) => Node::Exists(id),
                Resolved::ValueExpr(ValueExpr::Absent, _, _) => Node::Const(false),
                Resolved::ValueExpr(ValueExpr::Slice(inner, r), _, _) => {
                    Node::Truthy(ValueExpr::Slice(inner, r), true)
                }
                Resolved::ValueExpr(ValueExpr::Arith(op, a, b), _, _) => {
                    Node::Truthy(ValueExpr::Arith(op, a, b), false)
                }
                Resolved::ValueExpr(ValueExpr::Map(Func::Neg, a), _, _) => {
                    Node::Truthy(ValueExpr::Map(Func::Neg, a), false)
                }
                Resolved::ValueExpr(_, _, span) => return Err(self.err(
                    span,
                    "a function's result cannot be tested on its own (tshark 4.0 refuses it too); \
                         compare it, e.g. `len(tcp.payload) > 0`",
                )),
                Resolved::Literal(l, span) => {
                    return Err(self.unknown_or_literal(&l, span, "a test"))
                }
            },
            Expr::Rel {
                quant,
                op,
                op_span,
                lhs,
                rhs,
            } => self.relation(*quant, *op, *op_span, lhs, rhs)?,
            Expr::In {
                quant,
                negated,
                lhs,
                items,
                span,
            } => {
                let n = self.set(*quant, lhs, items, *span)?;
                if *negated {
                    Node::Not(Box::new(n))
                } else {
                    n
                }
            }
        })
    }

    /// An unresolved word where a field was needed: a typo'd field, or a literal on the wrong side.
    fn unknown_or_literal(&self, l: &Literal, span: Span, role: &str) -> FilterError {
        match l {
            Literal::Word(w) if looks_like_field(w) => {
                let tail = match suggest_field(w) {
                    Some(s) => format!(" — did you mean `{s}`?"),
                    None if w.starts_with("http") || w.starts_with("dns") || w.starts_with("tls") => {
                        " (keepsight does not dissect this protocol yet)".to_string()
                    }
                    None => String::new(),
                };
                self.err(span, format!("unknown field `{w}`{tail}"))
            }
            _ => self.err(
                span,
                format!("{} is {} and cannot be used as {role}: compare a field with it, e.g. `tcp.len == 1`", l.show(), l.kind()),
            ),
        }
    }

    fn resolve(&mut self, op: &Operand) -> Result<Resolved, FilterError> {
        Ok(match op {
            Operand::Word(w, span) if w.contains('#') => {
                let (name, layer) = w.split_once('#').unwrap_or((w, ""));
                let Some(id) = lookup(name) else {
                    return Err(self.unknown_or_literal(
                        &Literal::Word(name.to_string()),
                        *span,
                        "a field",
                    ));
                };
                let ty = ExprType::Field(id.def().ftype);
                if first_layer_selected(layer).map_err(|m| self.err(*span, m))? {
                    self.fields.push(id);
                    Resolved::ValueExpr(ValueExpr::Field(id), ty, *span)
                } else {
                    // keepsight dissects one layer of each protocol (no tunnels), so any other
                    // layer is absent, as tshark finds it on such frames.
                    Resolved::ValueExpr(ValueExpr::Absent, ty, *span)
                }
            }
            Operand::Word(w, span) => match lookup(w) {
                Some(id) => {
                    self.fields.push(id);
                    Resolved::ValueExpr(
                        ValueExpr::Field(id),
                        ExprType::Field(id.def().ftype),
                        *span,
                    )
                }
                // tshark resolves a word as a field name before reading it as a literal, so
                // these protocol names are never the bytes they look like (`== ff` compares with
                // the Foundation Fieldbus protocol, not 0xff). keepsight does not dissect them:
                // they are protocols that are never present, which is what tshark sees too.
                None if HEX_LIKE_PROTOCOLS.contains(&w.as_str()) => Resolved::ValueExpr(
                    ValueExpr::Absent,
                    ExprType::Field(FieldType::Protocol),
                    *span,
                ),
                None => Resolved::Literal(Literal::Word(w.clone()), *span),
            },
            Operand::Literal(w, span) => Resolved::Literal(Literal::Forced(w.clone()), *span),
            Operand::Str(b, span) => Resolved::Literal(Literal::Str(b.clone()), *span),
            Operand::Char(c, span) => Resolved::Literal(Literal::Char(*c), *span),
            Operand::Neg(inner, span) => match self.resolve(inner)? {
                Resolved::Literal(l, _) => Resolved::Literal(Literal::Neg(Box::new(l)), *span),
                Resolved::ValueExpr(e, ty, _) => {
                    if !matches!(ty.class(), Class::Int | Class::Float | Class::RelTime) {
                        return Err(self.err(
                            *span,
                            format!("a value of {} cannot be negated", ty.describe()),
                        ));
                    }
                    {
                        // A negated unsigned value is signed: `-tcp.len == -1` holds for 1 byte.
                        let ty = match ty.ftype() {
                            FieldType::UInt(_) | FieldType::FrameNum => {
                                ExprType::Field(FieldType::Int(64))
                            }
                            _ => ty,
                        };
                        Resolved::ValueExpr(ValueExpr::Map(Func::Neg, Box::new(e)), ty, *span)
                    }
                }
            },
            Operand::Slice(inner, ranges, span) => {
                let (e, ty, ispan) = self.entity(inner, "slice")?;
                let sliceable = matches!(
                    ty.ftype(),
                    FieldType::Bytes
                        | FieldType::Protocol
                        | FieldType::String
                        | FieldType::Ether
                        | FieldType::Ipv4
                        | FieldType::Ipv6
                );
                if !sliceable {
                    return Err(self.err(
                        ispan,
                        format!(
                            "{} is {} and cannot be sliced into bytes",
                            self.name_of(inner),
                            ty.describe()
                        ),
                    ));
                }
                Resolved::ValueExpr(
                    ValueExpr::Slice(Box::new(e), ranges.clone()),
                    ExprType::Slice,
                    *span,
                )
            }
            Operand::Call(name, args, span) => self.call(name, args, *span)?,
            Operand::Arith(op, a, b, span) => self.arith(*op, a, b, *span)?,
        })
    }

    fn name_of(&self, op: &Operand) -> String {
        let s = op.span();
        format!("`{}`", self.expr.get(s.start..s.end).unwrap_or("?"))
    }

    /// Resolves an operand that must read the packet (not a literal).
    fn entity(
        &mut self,
        op: &Operand,
        role: &str,
    ) -> Result<(ValueExpr, ExprType, Span), FilterError> {
        match self.resolve(op)? {
            Resolved::ValueExpr(e, t, s) => Ok((e, t, s)),
            Resolved::Literal(l, s) => {
                Err(self.unknown_or_literal(&l, s, &format!("the operand of a {role}")))
            }
        }
    }

    fn field_arg(
        &mut self,
        name: &str,
        args: &[Operand],
        span: Span,
    ) -> Result<(FieldId, ExprType), FilterError> {
        if args.len() != 1 {
            return Err(self.err(span, format!("{name}() takes exactly one field")));
        }
        match self.resolve(&args[0])? {
            Resolved::ValueExpr(ValueExpr::Field(id), ty, _) => Ok((id, ty)),
            Resolved::Literal(l, s) if matches!(l, Literal::Word(_)) => {
                Err(self.unknown_or_literal(&l, s, "an argument"))
            }
            _ => Err(self.err(
                args[0].span(),
                format!("only a field can be the argument of {name}()"),
            )),
        }
    }

    fn call(&mut self, name: &str, args: &[Operand], span: Span) -> Result<Resolved, FilterError> {
        let uint32 = ExprType::Field(FieldType::UInt(32));
        Ok(match name {
            "len" => {
                let (id, ty) = self.field_arg(name, args, span)?;
                let rule = match ty.ftype() {
                    // A protocol's value bytes are its item (header), which is tshark's len().
                    FieldType::Bytes | FieldType::String | FieldType::Protocol => LenRule::Bytes,
                    FieldType::UInt(b) | FieldType::Int(b) => LenRule::Fixed(u32::from(b).div_ceil(8)),
                    FieldType::FrameNum => LenRule::Fixed(4),
                    FieldType::Ipv4 => LenRule::Fixed(4),
                    FieldType::Ipv6 => LenRule::Fixed(16),
                    FieldType::Ether => LenRule::Fixed(6),
                    // tshark 4.0 gives 0 for booleans, presence-only fields and times.
                    FieldType::Bool
                    | FieldType::None
                    | FieldType::AbsTime
                    | FieldType::RelTime
                    | FieldType::Float => LenRule::Fixed(0),
                };
                Resolved::ValueExpr(ValueExpr::Len(Box::new(ValueExpr::Field(id)), rule), uint32, span)
            }
            "count" => {
                let (id, _) = self.field_arg(name, args, span)?;
                Resolved::ValueExpr(ValueExpr::Count(id), uint32, span)
            }
            "lower" | "upper" => {
                let (id, ty) = self.field_arg(name, args, span)?;
                if ty.class() != Class::Str {
                    return Err(self.err(
                        args[0].span(),
                        format!("{name}() works on string fields; `{}` is {}", id.name(), ty.describe()),
                    ));
                }
                let f = if name == "lower" { Func::Lower } else { Func::Upper };
                Resolved::ValueExpr(ValueExpr::Map(f, Box::new(ValueExpr::Field(id))), ty, span)
            }
            "string" => {
                let (id, ty) = self.field_arg(name, args, span)?;
                let ok = matches!(
                    ty.ftype(),
                    FieldType::UInt(_) | FieldType::Int(_) | FieldType::FrameNum | FieldType::Ipv4 | FieldType::Ipv6 | FieldType::Ether
                );
                if !ok {
                    return Err(self.err(
                        args[0].span(),
                        format!("string() cannot convert `{}` ({}); tshark 4.0 does not either", id.name(), ty.describe()),
                    ));
                }
                Resolved::ValueExpr(ValueExpr::Str(Box::new(ValueExpr::Field(id)), ty.ftype()), ExprType::Field(FieldType::String), span)
            }
            "max" | "min" | "abs" => {
                if args.is_empty() || (name == "abs" && args.len() != 1) {
                    return Err(self.err(span, format!("{name}() needs {} field", if name == "abs" { "one" } else { "at least one" })));
                }
                // Constant arguments only (`abs(-1)`, `max(1, 2)`): folded once the type of the
                // other side of the comparison is known.
                let mut resolved = Vec::new();
                for a in args {
                    resolved.push(self.resolve(a)?);
                }
                if resolved.iter().all(|r| matches!(r, Resolved::Literal(..))) {
                    let f = match name {
                        "abs" => LiteralFunc::Abs,
                        "max" => LiteralFunc::Max,
                        _ => LiteralFunc::Min,
                    };
                    let lits = resolved
                        .into_iter()
                        .filter_map(|r| match r {
                            Resolved::Literal(l, _) => Some(l),
                            Resolved::ValueExpr(..) => None,
                        })
                        .collect();
                    return Ok(Resolved::Literal(Literal::Call(f, lits), span));
                }
                // The first field argument sets the type; constants among the arguments
                // (`max(tcp.len, 5)`) are read as that type.
                let Some((first_ty, first_op)) = resolved.iter().zip(args).find_map(|(r, a)| match r {
                    Resolved::ValueExpr(_, t, _) => Some((*t, a)),
                    Resolved::Literal(..) => None,
                }) else {
                    return Err(self.err(span, format!("{name}() needs a field")));
                };
                let mut ents = Vec::new();
                for (r, a) in resolved.into_iter().zip(args) {
                    match r {
                        Resolved::Literal(l, ls) => ents.push(ValueExpr::Const(self.convert(&l, ls, first_ty, first_op, false)?)),
                        Resolved::ValueExpr(e, ty, s) => {
                            if !matches!(ty.class(), Class::Int | Class::Float | Class::RelTime | Class::AbsTime) {
                                return Err(self.err(s, format!("{name}() works on numbers and times; {} is {}", self.name_of(a), ty.describe())));
                            }
                            // tshark 4.0 wants identical types: `max(tcp.len, tcp.srcport)` mixes
                            // a 32-bit and a 16-bit field and is refused.
                            if first_ty.ftype() != ty.ftype() {
                                return Err(self.err(
                                    s,
                                    format!(
                                        "the arguments of {name}() must have the same type: {} is {}, {} is {}",
                                        self.name_of(first_op),
                                        first_ty.describe(),
                                        self.name_of(a),
                                        ty.describe()
                                    ),
                                ));
                            }
                            ents.push(e);
                        }
                    }
                }
                if name == "abs" {
                    let e = ents.pop().unwrap_or(ValueExpr::Const(Val::Int(0)));
                    Resolved::ValueExpr(ValueExpr::Map(Func::Abs, Box::new(e)), first_ty, span)
                } else {
                    Resolved::ValueExpr(ValueExpr::MaxMin(name == "max", ents), first_ty, span)
                }
            }
            _ => {
                return Err(self.err(
                    span,
                    format!("unknown function `{name}()`; the functions are len, count, lower, upper, string, max, min and abs"),
                ))
            }
        })
    }

    fn arith(
        &mut self,
        op: ArithOp,
        a: &Operand,
        b: &Operand,
        span: Span,
    ) -> Result<Resolved, FilterError> {
        let (ra, rb) = (self.resolve(a)?, self.resolve(b)?);
        let (lhs, ty, lit_side) = match (ra, rb) {
            (Resolved::ValueExpr(ea, ta, _), Resolved::ValueExpr(eb, tb, sb)) => {
                if ta.class() != tb.class() {
                    return Err(self.err(
                        sb,
                        format!(
                            "{} is {} but {} is {}",
                            self.name_of(a),
                            ta.describe(),
                            self.name_of(b),
                            tb.describe()
                        ),
                    ));
                }
                (ea, ta, Some(eb))
            }
            (Resolved::ValueExpr(ea, ta, _), Resolved::Literal(l, sl)) => {
                let v = self.convert(&l, sl, ta, a, op == ArithOp::And)?;
                (ea, ta, Some(ValueExpr::Const(v)))
            }
            (Resolved::Literal(l, sl), Resolved::ValueExpr(eb, tb, _)) => {
                // Keep the operand order for `-`, `/`, `%`.
                let v = self.convert(&l, sl, tb, b, op == ArithOp::And)?;
                return self
                    .check_arith(op, ValueExpr::Const(v), eb, tb, span)
                    .map(|e| Resolved::ValueExpr(e, tb, span));
            }
            (Resolved::Literal(la, sa), Resolved::Literal(lb, sb)) => {
                for (l, s) in [(&la, sa), (&lb, sb)] {
                    if let Literal::Word(w) = l {
                        if looks_like_field(w) {
                            return Err(self.unknown_or_literal(l, s, "a field"));
                        }
                    }
                }
                return Ok(Resolved::Literal(
                    Literal::Arith(op, Box::new(la), Box::new(lb)),
                    span,
                ));
            }
        };
        let rhs = lit_side.unwrap_or(ValueExpr::Const(Val::Int(0)));
        self.check_arith(op, lhs, rhs, ty, span)
            .map(|e| Resolved::ValueExpr(e, ty, span))
    }

    fn check_arith(
        &self,
        op: ArithOp,
        l: ValueExpr,
        r: ValueExpr,
        ty: ExprType,
        span: Span,
    ) -> Result<ValueExpr, FilterError> {
        let ok = match ty.class() {
            Class::Int => true,
            Class::Float => op != ArithOp::And && op != ArithOp::Rem,
            Class::RelTime => matches!(op, ArithOp::Add | ArithOp::Sub),
            Class::Bytes => op == ArithOp::And,
            _ => false,
        };
        if !ok {
            return Err(self.err(
                span,
                format!("`{}` cannot be applied to {}", op.symbol(), ty.describe()),
            ));
        }
        Ok(ValueExpr::Arith(op, Box::new(l), Box::new(r)))
    }

    /// Reads literal `l` as a value of type `ty` (the type of `other`, shown in messages).
    fn convert(
        &self,
        l: &Literal,
        span: Span,
        ty: ExprType,
        other: &Operand,
        for_bitmask: bool,
    ) -> Result<Val<'static>, FilterError> {
        // Constant expressions are computed signed, so that `abs(-1)` is 1 next to an unsigned
        // field; a negative result there compares with nothing, like a negative literal.
        let unsigned = matches!(ty.ftype(), FieldType::UInt(_) | FieldType::FrameNum);
        let signed_ty = if unsigned {
            ExprType::Field(FieldType::Int(64))
        } else {
            ty
        };
        let never_if_negative = |v: Val<'static>| match v {
            Val::Int(x) if unsigned && x < 0 => Val::Never,
            v => v,
        };
        if let Literal::Call(f, args) = l {
            let mut vals = Vec::new();
            for a in args {
                vals.push(self.convert(a, span, signed_ty, other, for_bitmask)?);
            }
            let folded = match f {
                LiteralFunc::Abs => vals.pop().and_then(|v| match v {
                    Val::Int(x) => x.checked_abs().map(Val::Int),
                    Val::Float(x) => Some(Val::Float(x.abs())),
                    Val::Time(t) => t.checked_abs().map(Val::Time),
                    _ => None,
                }),
                LiteralFunc::Max | LiteralFunc::Min => vals.into_iter().reduce(|a, b| {
                    let greater =
                        a.order(&b, BytesOrder::LengthFirst) == Some(std::cmp::Ordering::Greater);
                    if greater == matches!(f, LiteralFunc::Max) {
                        a
                    } else {
                        b
                    }
                }),
            };
            return folded.map(never_if_negative).ok_or_else(|| {
                self.err(
                    span,
                    format!("{} cannot be computed for {}", l.show(), ty.describe()),
                )
            });
        }
        if let Literal::Arith(op, a, b) = l {
            let x = self.convert(a, span, signed_ty, other, for_bitmask)?;
            let y = self.convert(
                b,
                span,
                signed_ty,
                other,
                for_bitmask || *op == ArithOp::And,
            )?;
            self.check_arith(
                *op,
                ValueExpr::Const(Val::Unit),
                ValueExpr::Const(Val::Unit),
                ty,
                span,
            )?;
            return arith(*op, &x, &y).map(never_if_negative).ok_or_else(|| {
                self.err(
                    span,
                    format!(
                        "{} cannot be computed (division by zero or overflow)",
                        l.show()
                    ),
                )
            });
        }
        let who = self.name_of(other);
        let mismatch = || {
            self.err(
                span,
                format!("{who} is {}; {} is {}", ty.describe(), l.show(), l.kind()),
            )
        };
        let fail = |m: String| self.err(span, m);
        let word = |l: &Literal| -> Option<String> {
            match l {
                Literal::Word(w) | Literal::Forced(w) => Some(w.clone()),
                _ => None,
            }
        };
        Ok(match ty.class() {
            Class::Int => {
                // Integer fields with value strings take their names too (`ip.proto == "TCP"`,
                // `eth.type == IPv4`); tshark reads a number first, a name otherwise.
                let named = match other {
                    Operand::Word(w, _) => {
                        lookup(field_name(w)).filter(|&id| keepsight_fields::has_value_names(id))
                    }
                    _ => None,
                };
                if let Some(id) = named {
                    let text = match l {
                        Literal::Word(w) | Literal::Forced(w)
                            if literal::parse_int(w).is_err()
                                && !keepsight_fields::is_tshark_field_name(w) =>
                        {
                            Some(w.clone())
                        }
                        Literal::Str(b) => Some(String::from_utf8_lossy(b).into_owned()),
                        _ => None,
                    };
                    if let Some(text) = text {
                        return match keepsight_fields::value_named(id, &text) {
                            Some(v) => Ok(Val::Int(i128::from(v))),
                            None => Err(fail(format!(
                                "{} cannot be found among the possible values for {who}: \
                                 write its number, or a name as tshark lists it (`tshark -G values`)",
                                l.show()
                            ))),
                        };
                    }
                }
                let v = match l {
                    Literal::Word(w) | Literal::Forced(w) => literal::parse_int(w).map_err(fail)?,
                    Literal::Char(c) => i128::from(*c),
                    Literal::Neg(inner) => match &**inner {
                        Literal::Word(w) | Literal::Forced(w) => -literal::parse_int(w).map_err(fail)?,
                        Literal::Char(c) => -i128::from(*c),
                        _ => return Err(mismatch()),
                    },
                    Literal::Arith(..) | Literal::Call(..) => return Err(mismatch()),
                    Literal::Str(_) => {
                        return Err(fail(format!(
                            "{who} is {}; {} is a string (write the number without quotes)",
                            ty.describe(),
                            l.show()
                        )))
                    }
                };
                let max = match ty.ftype() {
                    FieldType::UInt(b) if b < 64 => Some((1i128 << b) - 1),
                    FieldType::FrameNum => Some(u32::MAX as i128),
                    _ => None,
                };
                let unsigned = matches!(ty.ftype(), FieldType::UInt(_) | FieldType::FrameNum);
                if unsigned && v < 0 {
                    return Ok(Val::Never);
                }
                if let Some(max) = max {
                    if v > max {
                        return Err(fail(format!("{} is too big for {who}: its maximum is {max}", l.show())));
                    }
                }
                Val::Int(v)
            }
            Class::Bool => {
                let id = match other {
                    Operand::Word(w, _) => lookup(field_name(w)),
                    _ => None,
                };
                let (yes, no) = id.map(bool_names).unwrap_or(("True", "False"));
                let text = match l {
                    Literal::Word(w) | Literal::Forced(w) => w.clone(),
                    Literal::Str(b) => String::from_utf8_lossy(b).into_owned(),
                    Literal::Char(c) => return Ok(Val::Int(i128::from(*c != 0))),
                    Literal::Neg(_) | Literal::Arith(..) | Literal::Call(..) => return Err(mismatch()),
                };
                let v = match text.as_str() {
                    "True" | "TRUE" => true,
                    "False" | "FALSE" => false,
                    t if matches!(l, Literal::Word(_) | Literal::Forced(_)) && literal::parse_int(t).is_ok() => {
                        literal::parse_int(t).unwrap_or(0) != 0
                    }
                    t if t.eq_ignore_ascii_case(yes) => true,
                    t if t.eq_ignore_ascii_case(no) => false,
                    _ => {
                        return Err(fail(format!(
                            "{} is not a value of {who}: write 1, 0, True, False, \"{yes}\" or \"{no}\" \
                             (lowercase `true` is not accepted by tshark 4.0)",
                            l.show()
                        )))
                    }
                };
                Val::Int(i128::from(v))
            }
            Class::Float => {
                let v = match l {
                    Literal::Word(w) | Literal::Forced(w) => literal::parse_float(w).map_err(fail)?,
                    Literal::Neg(inner) => -literal::parse_float(&word(inner).ok_or_else(mismatch)?).map_err(fail)?,
                    _ => return Err(mismatch()),
                };
                Val::Float(v)
            }
            Class::Bytes => {
                if ty.ftype() == FieldType::Ether && !for_bitmask {
                    let w = word(l).ok_or_else(mismatch)?;
                    return Ok(owned(literal::parse_ether(&w).map_err(fail)?.to_vec()));
                }
                match l {
                    Literal::Word(w) | Literal::Forced(w) => owned(literal::parse_bytes(w).map_err(fail)?),
                    Literal::Str(b) => owned(b.clone()),
                    Literal::Char(c) => owned(vec![*c]),
                    Literal::Neg(_) | Literal::Arith(..) | Literal::Call(..) => return Err(mismatch()),
                }
            }
            Class::Str => match l {
                Literal::Word(w) | Literal::Forced(w) => owned(w.as_bytes().to_vec()),
                Literal::Str(b) => owned(b.clone()),
                Literal::Char(c) => owned(vec![*c]),
                Literal::Neg(_) | Literal::Arith(..) | Literal::Call(..) => return Err(mismatch()),
            },
            Class::V4 => literal::parse_ipv4(&word(l).ok_or_else(|| {
                fail(format!("{who} is an IPv4 address; write it without quotes, e.g. 10.0.0.1 or 10.0.0.0/24"))
            })?)
            .map_err(fail)?,
            Class::V6 => literal::parse_ipv6(&word(l).ok_or_else(|| {
                fail(format!("{who} is an IPv6 address; write it without quotes, e.g. 2001:db8::1"))
            })?)
            .map_err(fail)?,
            Class::AbsTime => match l {
                Literal::Str(b) => Val::Time(literal::parse_abs_time(&String::from_utf8_lossy(b)).map_err(fail)?),
                _ => return Err(fail(format!("{who} is an absolute time; write it as a quoted date, e.g. \"2024-01-31 13:45:00\""))),
            },
            Class::RelTime => match l {
                Literal::Word(w) | Literal::Forced(w) => Val::Time(literal::parse_seconds(w).map_err(fail)?),
                Literal::Neg(inner) => Val::Time(-literal::parse_seconds(&word(inner).ok_or_else(mismatch)?).map_err(fail)?),
                _ => return Err(fail(format!("{who} is a relative time; write seconds without quotes, e.g. 0.5"))),
            },
            Class::None => {
                return Err(fail(format!(
                    "{who} has no value to compare (it only marks frames); test it on its own, e.g. `{}`",
                    who.trim_matches('`')
                )))
            }
        })
    }

    fn relation(
        &mut self,
        quant: Option<Quant>,
        op: RelOp,
        op_span: Span,
        lhs: &Operand,
        rhs: &Operand,
    ) -> Result<Node, FilterError> {
        let (l, r) = (self.resolve(lhs)?, self.resolve(rhs)?);
        // tshark evaluates `frame.time_delta_displayed` before the frame is known to be displayed,
        // so comparisons on it inside a filter match nothing (reference §1.7, §2 item 17).
        let tdd = |r: &Resolved| matches!(r, Resolved::ValueExpr(e, _, _) if mentions(e, ids::FRAME_TIME_DELTA_DISPLAYED));
        let uses_tdd = tdd(&l) || tdd(&r);
        let (le, lt, re) = match (l, r) {
            (Resolved::ValueExpr(le, lt, _), Resolved::ValueExpr(re, rt, rs)) => {
                if !compatible(lt, rt) {
                    return Err(self.err(
                        rs,
                        format!(
                            "{} is {} and {} is {}: they cannot be compared",
                            self.name_of(lhs),
                            lt.describe(),
                            self.name_of(rhs),
                            rt.describe()
                        ),
                    ));
                }
                (le, lt, re)
            }
            (Resolved::ValueExpr(le, lt, _), Resolved::Literal(l, ls)) => {
                if op == RelOp::Matches {
                    return self.matches(quant, le, lt, lhs, &l, ls, uses_tdd);
                }
                let v = self.convert(&l, ls, lt, lhs, false)?;
                (le, lt, ValueExpr::Const(v))
            }
            (Resolved::Literal(l, ls), Resolved::ValueExpr(..)) => {
                if let Literal::Word(w) = &l {
                    if looks_like_field(w) {
                        return Err(self.unknown_or_literal(&l, ls, "a field"));
                    }
                }
                return Err(self.err(
                    ls,
                    format!(
                        "the left side of a comparison must be a field or function, not {}; write `{} ... {}`",
                        l.show(),
                        self.name_of(rhs).trim_matches('`'),
                        l.show().trim_matches('`'),
                    ),
                ));
            }
            (Resolved::Literal(l, ls), Resolved::Literal(..)) => {
                return Err(self.unknown_or_literal(&l, ls, "the left side of a comparison"))
            }
        };
        let quant_or = |d: Quant| quant.unwrap_or(d);
        let node = match op {
            RelOp::Cmp(c) => {
                let (relation, q) = match c {
                    CmpTok::Eq => (Relation::Eq, quant_or(Quant::Any)),
                    CmpTok::Ne => (Relation::Ne, quant_or(Quant::All)),
                    CmpTok::AllEq => (Relation::Eq, quant_or(Quant::All)),
                    CmpTok::AnyNe => (Relation::Ne, quant_or(Quant::Any)),
                    CmpTok::Gt => (Relation::Gt, quant_or(Quant::Any)),
                    CmpTok::Ge => (Relation::Ge, quant_or(Quant::Any)),
                    CmpTok::Lt => (Relation::Lt, quant_or(Quant::Any)),
                    CmpTok::Le => (Relation::Le, quant_or(Quant::Any)),
                };
                if lt.class() == Class::None {
                    return Err(self.err(
                        op_span,
                        format!(
                            "{} has no value to compare (it only marks frames); test it on its own",
                            self.name_of(lhs)
                        ),
                    ));
                }
                Node::Cmp {
                    lhs: le,
                    rhs: re,
                    relation,
                    quant: q,
                    order: order_of(lt),
                }
            }
            RelOp::Contains => {
                if !matches!(lt.class(), Class::Bytes | Class::Str) {
                    return Err(self.err(
                        op_span,
                        format!(
                            "{} is {}; `contains` searches byte strings, strings and protocols",
                            self.name_of(lhs),
                            lt.describe()
                        ),
                    ));
                }
                let finder = match &re {
                    ValueExpr::Const(Val::Bytes(b)) => {
                        Some(memchr::memmem::Finder::new(b.as_ref()).into_owned())
                    }
                    _ => None,
                };
                Node::Contains {
                    lhs: searched(le),
                    rhs: re,
                    finder,
                    quant: quant_or(Quant::Any),
                }
            }
            RelOp::Matches => {
                return Err(self.err(rhs.span(), "`matches` needs a double-quoted regular expression on its right, e.g. `matches \"^GET\"`"));
            }
        };
        Ok(if uses_tdd { Node::Const(false) } else { node })
    }

    #[allow(clippy::too_many_arguments)]
    fn matches(
        &self,
        quant: Option<Quant>,
        le: ValueExpr,
        lt: ExprType,
        lhs: &Operand,
        l: &Literal,
        ls: Span,
        tdd: bool,
    ) -> Result<Node, FilterError> {
        let Literal::Str(pat) = l else {
            return Err(self.err(ls, "`matches` needs a double-quoted regular expression on its right, e.g. `matches \"^GET\"`"));
        };
        if !matches!(lt.class(), Class::Bytes | Class::Str) {
            return Err(self.err(
                lhs.span(),
                format!(
                    "{} is {}; `matches` applies to strings, byte strings and protocols",
                    self.name_of(lhs),
                    lt.describe()
                ),
            ));
        }
        let re = build_regex(pat).map_err(|m| self.err(ls, m))?;
        if tdd {
            return Ok(Node::Const(false));
        }
        Ok(Node::Matches {
            lhs: searched(le),
            re,
            quant: quant.unwrap_or(Quant::Any),
        })
    }

    fn set(
        &mut self,
        quant: Option<Quant>,
        lhs: &Operand,
        items: &[SetItem],
        span: Span,
    ) -> Result<Node, FilterError> {
        let (le, lt, _) = self.entity(lhs, "set membership test")?;
        if lt.class() == Class::None {
            return Err(self.err(
                span,
                format!("{} has no value to test for membership", self.name_of(lhs)),
            ));
        }
        let mut out = Vec::new();
        let mut members = Vec::new();
        for item in items {
            let one = |c: &mut Self, op: &Operand| -> Result<Val<'static>, FilterError> {
                match c.resolve(op)? {
                    Resolved::Literal(l, s) => c.convert(&l, s, lt, lhs, false),
                    Resolved::ValueExpr(..) => {
                        Err(c.err(op.span(), "a range's ends must be values, not fields"))
                    }
                }
            };
            match item {
                SetItem::One(op) => match self.resolve(op)? {
                    Resolved::Literal(l, s) => {
                        out.push((self.convert(&l, s, lt, lhs, false)?, None))
                    }
                    // A field as a member (`tcp.port in {tcp.srcport}`): any of its values.
                    Resolved::ValueExpr(e, mt, ms) => {
                        if !compatible(lt, mt) {
                            return Err(self.err(
                                ms,
                                format!(
                                    "{} is {} and {} is {}: they cannot be compared",
                                    self.name_of(lhs),
                                    lt.describe(),
                                    self.name_of(op),
                                    mt.describe()
                                ),
                            ));
                        }
                        members.push(e);
                    }
                },
                SetItem::Range(a, b) => out.push((one(self, a)?, Some(one(self, b)?))),
            }
        }
        let tdd = mentions(&le, ids::FRAME_TIME_DELTA_DISPLAYED);
        let node = Node::In {
            lhs: le,
            items: out,
            members,
            quant: quant.unwrap_or(Quant::Any),
            order: order_of(lt),
        };
        Ok(if tdd { Node::Const(false) } else { node })
    }
}

/// tshark 4.0.17 protocol filter names made only of hex digits (`tshark -G protocols`).
const HEX_LIKE_PROTOCOLS: [&str; 18] = [
    "a11", "a21", "a615a", "aaf", "acf", "adb", "bfd", "c1222", "c15", "dc", "dcc", "e100", "e164",
    "e212", "fc", "fc00", "fefd", "ff",
];

fn order_of(t: ExprType) -> BytesOrder {
    if t.class() == Class::Str {
        BytesOrder::Lexical
    } else {
        BytesOrder::LengthFirst
    }
}

/// tshark 4.0's rules for comparing two non-literal values: a slice goes with any byte string,
/// string or protocol (`frame.protocols == tcp.payload[0:2]`); a protocol only with a protocol
/// or a slice (`tcp.payload == tcp` is refused); otherwise the kinds must match, where byte
/// strings and MAC addresses count as one kind.
fn compatible(a: ExprType, b: ExprType) -> bool {
    if a == ExprType::Slice || b == ExprType::Slice {
        let other = if a == ExprType::Slice { b } else { a };
        return matches!(other.class(), Class::Bytes | Class::Str);
    }
    let protocol = |t: ExprType| t.ftype() == FieldType::Protocol;
    protocol(a) == protocol(b) && a.class() == b.class() && a.class() != Class::None
}

/// The field name of a word, without a layer operator (`ip.addr#2` is `ip.addr`).
fn field_name(w: &str) -> &str {
    w.split('#').next().unwrap_or(w)
}

/// Whether a layer operator's selection (`2`, `[1-2]`, `[-1]`, `[1:2,4]`; layers count from 1,
/// negative positions from the last) takes the first layer of a frame that has exactly one,
/// which is every frame keepsight dissects a field in.
fn first_layer_selected(spec: &str) -> Result<bool, String> {
    let bad = || format!("`#{spec}` is not a layer number or range (e.g. `#2`, `#[1-2]`, `#[-1]`)");
    let num = |t: &str| -> Result<i64, String> { t.trim().parse::<i64>().map_err(|_| bad()) };
    // With one layer, position p (1-based) or -k (from the end) is layer 1 when p == 1 or k == 1.
    let pos = |v: i64| if v < 0 { 2 + v } else { v };
    let Some(list) = spec.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
        return Ok(num(spec)? == 1);
    };
    let mut any = false;
    for item in list.split(',') {
        let item = item.trim();
        let hit = if let Some((a, l)) = item.split_once(':') {
            let a = pos(num(a)?);
            if l.trim().is_empty() {
                a <= 1
            } else {
                let l = num(l)?;
                if l <= 0 {
                    return Err(format!(
                        "layer range `{item}`: the length {l} must be positive"
                    ));
                }
                a <= 1 && 1 < a + l
            }
        } else if let Some(at) = item.get(1..).and_then(|r| r.find('-')).map(|p| p + 1) {
            let (a, b) = (num(&item[..at])?, num(&item[at + 1..])?);
            // tshark 4.0 refuses mixed signs and empty or reversed ranges here.
            if (a < 0) != (b < 0) || a >= b {
                return Err(format!(
                    "layer range `{item}` is not valid: its ends must have the same sign, the first below the second"
                ));
            }
            let (a, b) = (pos(a), pos(b));
            a <= 1 && 1 <= b
        } else {
            pos(num(item)?) == 1
        };
        any |= hit;
    }
    Ok(any)
}

/// The left side of `contains`/`matches`: tshark searches a protocol's whole tvb (header to the
/// end of the layer) while everything else about it (slices, `len()`, `==`) uses its header, so
/// a bare protocol field turns into its [`ValueExpr::Tvb`] here and nowhere else.
fn searched(e: ValueExpr) -> ValueExpr {
    match e {
        ValueExpr::Field(id) if id.def().ftype == FieldType::Protocol => ValueExpr::Tvb(id),
        e => e,
    }
}

fn mentions(e: &ValueExpr, id: FieldId) -> bool {
    match e {
        ValueExpr::Field(f) | ValueExpr::Tvb(f) | ValueExpr::Count(f) => *f == id,
        ValueExpr::Const(_) | ValueExpr::Absent => false,
        ValueExpr::Slice(i, _)
        | ValueExpr::Len(i, _)
        | ValueExpr::Map(_, i)
        | ValueExpr::Str(i, _) => mentions(i, id),
        ValueExpr::MaxMin(_, v) => v.iter().any(|x| mentions(x, id)),
        ValueExpr::Arith(_, a, b) => mentions(a, id) || mentions(b, id),
    }
}

/// A word that can only have been meant as a field name: starts with a letter and either has a
/// dot in it or is not a plausible literal (hex bytes, booleans).
fn looks_like_field(w: &str) -> bool {
    let first_alpha = w
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let all_hexish = w
        .chars()
        .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.' | '-'));
    first_alpha && !all_hexish && !matches!(w, "True" | "TRUE" | "False" | "FALSE")
}

/// tshark compiles `matches` patterns with PCRE2, case-insensitive, matching bytes rather than
/// UTF-8 characters (`"^\\xff"` matches a 0xff byte). The closest Rust regex is a bytes regex
/// with Unicode off; raw non-ASCII bytes in the pattern are passed as `\xHH` escapes.
fn build_regex(pat: &[u8]) -> Result<regex::bytes::Regex, String> {
    let mut p = String::with_capacity(pat.len() + 8);
    for &b in pat {
        if b.is_ascii() {
            p.push(b as char);
        } else {
            p.push_str(&format!("\\x{b:02X}"));
        }
    }
    regex::bytes::RegexBuilder::new(&p)
        .case_insensitive(true)
        .unicode(false)
        .size_limit(1 << 22)
        .dfa_size_limit(1 << 22)
        .nest_limit(100)
        .build()
        .map_err(|e| {
            let detail = e.to_string();
            let last = detail.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid pattern").trim();
            format!("the regular expression is not valid: {last} (keepsight's engine has no look-around or back-references)")
        })
}
