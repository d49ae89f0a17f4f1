//! Evaluating a compiled filter against one packet.
//!
//! Values flow through callbacks rather than collections so that the common shapes (a field
//! compared with a constant, a protocol searched for a byte string, an existence test) read the
//! packet's borrowed values directly and never touch the heap. Only field-vs-field comparisons,
//! multi-range slices and string functions build temporary values.

use crate::ir::{arith, Func, LenRule, Node, Quant, RangeSpec, Relation, ValueExpr};
use crate::value::{with_val, BytesOrder, Val};
use keepsight_fields::{FieldType, Packet, Value};
use std::borrow::Cow;
use std::cmp::Ordering;

pub(crate) fn eval(node: &Node, pkt: &dyn Packet) -> bool {
    match node {
        Node::Const(b) => *b,
        Node::And(v) => v.iter().all(|n| eval(n, pkt)),
        Node::Or(v) => v.iter().any(|n| eval(n, pkt)),
        Node::Not(a) => !eval(a, pkt),
        Node::Exists(id) => pkt.has(*id),
        Node::Truthy(e, is_slice) => {
            let mut hit = false;
            each(e, pkt, &mut |v| {
                if !hit {
                    hit = if *is_slice {
                        matches!(v, Val::Bytes(b) if !b.is_empty())
                    } else {
                        v.is_truthy()
                    };
                }
            });
            hit
        }
        Node::Cmp {
            lhs,
            rhs,
            relation,
            quant,
            order,
        } => {
            // tshark evaluates `all x OP y` as "no occurrence satisfies the opposite of OP";
            // that differs from "every occurrence satisfies OP" only for values that compare
            // with nothing (`tcp.len != -1` holds, `tcp.len == -1` does not).
            match quant {
                Quant::Any => with_rhs(rhs, pkt, Quant::Any, lhs, &|a, b| {
                    compare(*relation, *order, a, b)
                }),
                Quant::All => with_rhs(rhs, pkt, Quant::All, lhs, &|a, b| {
                    !compare(opposite(*relation), *order, a, b)
                }),
            }
        }
        Node::Contains {
            lhs,
            rhs,
            finder,
            quant,
        } => match finder {
            Some(f) => quantify(
                lhs,
                pkt,
                *quant,
                &mut |v| matches!(v, Val::Bytes(b) if f.find(b).is_some()),
            ),
            None => with_rhs(rhs, pkt, *quant, lhs, &|a, b| match (a, b) {
                (Val::Bytes(h), Val::Bytes(n)) => memchr::memmem::find(h, n).is_some(),
                _ => false,
            }),
        },
        Node::Matches { lhs, re, quant } => quantify(
            lhs,
            pkt,
            *quant,
            &mut |v| matches!(v, Val::Bytes(b) if re.is_match(b)),
        ),
        Node::In {
            lhs,
            items,
            members,
            quant: Quant::Any,
            order,
        } => quantify(lhs, pkt, Quant::Any, &mut |v| {
            items.iter().any(|it| in_item(v, it, *order))
                || members.iter().any(|m| {
                    let mut hit = false;
                    each(m, pkt, &mut |w| {
                        hit = hit || compare(Relation::Eq, *order, v, w)
                    });
                    hit
                })
        }),
        // tshark 4.0 expands `all x in {a, b}` to `all x == a or all x == b`: every occurrence
        // must fall in the same member, so `all tcp.port in {80, 40000}` is false for 40000->80.
        Node::In {
            lhs,
            items,
            members,
            quant: Quant::All,
            order,
        } => {
            items
                .iter()
                .any(|it| quantify(lhs, pkt, Quant::All, &mut |v| !outside_item(v, it, *order)))
                || members.iter().any(|m| {
                    with_rhs(m, pkt, Quant::All, lhs, &|a, b| {
                        !compare(Relation::Ne, *order, a, b)
                    })
                })
        }
    }
}

fn in_item(
    v: &Val<'_>,
    (lo, hi): &(Val<'static>, Option<Val<'static>>),
    order: BytesOrder,
) -> bool {
    match hi {
        None => compare(Relation::Eq, order, v, lo),
        Some(hi) => compare(Relation::Ge, order, v, lo) && compare(Relation::Le, order, v, hi),
    }
}

/// The opposite of [`in_item`], as tshark's `all` evaluates it (see `Node::Cmp`).
fn outside_item(
    v: &Val<'_>,
    (lo, hi): &(Val<'static>, Option<Val<'static>>),
    order: BytesOrder,
) -> bool {
    match hi {
        None => compare(Relation::Ne, order, v, lo),
        Some(hi) => compare(Relation::Lt, order, v, lo) || compare(Relation::Gt, order, v, hi),
    }
}

fn opposite(relation: Relation) -> Relation {
    match relation {
        Relation::Eq => Relation::Ne,
        Relation::Ne => Relation::Eq,
        Relation::Gt => Relation::Le,
        Relation::Ge => Relation::Lt,
        Relation::Lt => Relation::Ge,
        Relation::Le => Relation::Gt,
    }
}

fn compare(relation: Relation, order: BytesOrder, a: &Val<'_>, b: &Val<'_>) -> bool {
    if matches!(a, Val::Never) || matches!(b, Val::Never) {
        return false;
    }
    match relation {
        Relation::Eq => a.equals(b),
        Relation::Ne => !a.equals(b),
        Relation::Gt => a.order(b, order) == Some(Ordering::Greater),
        Relation::Ge => matches!(a.order(b, order), Some(Ordering::Greater | Ordering::Equal)),
        Relation::Lt => a.order(b, order) == Some(Ordering::Less),
        Relation::Le => matches!(a.order(b, order), Some(Ordering::Less | Ordering::Equal)),
    }
}

/// `quant` over every (lhs, rhs) pair; both sides must have at least one value.
fn with_rhs(
    rhs: &ValueExpr,
    pkt: &dyn Packet,
    quant: Quant,
    lhs: &ValueExpr,
    test: &dyn Fn(&Val<'_>, &Val<'_>) -> bool,
) -> bool {
    if let ValueExpr::Const(c) = rhs {
        return quantify(lhs, pkt, quant, &mut |a| test(a, c));
    }
    let mut rv: Vec<Val<'static>> = Vec::new();
    each(rhs, pkt, &mut |v| rv.push(v.clone().into_owned()));
    if rv.is_empty() {
        return false;
    }
    quantify(lhs, pkt, quant, &mut |a| match quant {
        Quant::Any => rv.iter().any(|b| test(a, b)),
        Quant::All => rv.iter().all(|b| test(a, b)),
    })
}

/// Any: some value satisfies `pred`. All: there is a value and every value satisfies it
/// (tshark's `tcp.port != 80` is false on a packet without TCP).
fn quantify(
    e: &ValueExpr,
    pkt: &dyn Packet,
    quant: Quant,
    pred: &mut dyn FnMut(&Val<'_>) -> bool,
) -> bool {
    let mut seen = false;
    let mut result = quant == Quant::All;
    each(e, pkt, &mut |v| {
        seen = true;
        match quant {
            Quant::Any if !result => result = pred(v),
            Quant::All if result => result = pred(v),
            _ => {}
        }
    });
    seen && result
}

/// Calls `f` once per value of `e` in this packet.
pub(crate) fn each(e: &ValueExpr, pkt: &dyn Packet, f: &mut dyn FnMut(&Val<'_>)) {
    match e {
        ValueExpr::Field(id) => pkt.visit(*id, &mut |v| with_val(v, |x| f(x))),
        ValueExpr::Absent => {}
        ValueExpr::Tvb(id) => pkt.visit(*id, &mut |v| match v {
            Value::Protocol { tvb, .. } => f(&Val::Bytes(Cow::Borrowed(tvb))),
            other => with_val(other, |x| f(x)),
        }),
        ValueExpr::Const(c) => f(c),
        ValueExpr::Slice(inner, ranges) => each(inner, pkt, &mut |v| {
            if let Some(b) = as_bytes(v) {
                if let Some(s) = slice(&b, ranges) {
                    f(&Val::Bytes(s));
                }
            }
        }),
        ValueExpr::Len(inner, rule) => match rule {
            LenRule::Bytes => each(inner, pkt, &mut |v| {
                if let Some(b) = as_bytes(v) {
                    f(&Val::Int(b.len() as i128));
                }
            }),
            LenRule::Fixed(n) => each(inner, pkt, &mut |_| f(&Val::Int(i128::from(*n)))),
        },
        ValueExpr::Count(id) => {
            let mut n = 0i128;
            pkt.visit(*id, &mut |_| n += 1);
            // tshark yields no value at all for an absent field: `count(x) == 0` never matches.
            if n > 0 {
                f(&Val::Int(n));
            }
        }
        ValueExpr::Map(func, inner) => each(inner, pkt, &mut |v| {
            if let Some(r) = map(*func, v) {
                f(&r);
            }
        }),
        ValueExpr::Str(inner, ty) => each(inner, pkt, &mut |v| {
            let s = render(v, *ty);
            f(&Val::Bytes(Cow::Owned(s.into_bytes())));
        }),
        ValueExpr::MaxMin(is_max, args) => {
            let mut best: Option<Val<'static>> = None;
            for a in args {
                each(a, pkt, &mut |v| {
                    let better = match &best {
                        None => true,
                        Some(b) => {
                            let o = v.order(b, BytesOrder::LengthFirst);
                            if *is_max {
                                o == Some(Ordering::Greater)
                            } else {
                                o == Some(Ordering::Less)
                            }
                        }
                    };
                    if better {
                        best = Some(v.clone().into_owned());
                    }
                });
            }
            if let Some(b) = best {
                f(&b);
            }
        }
        ValueExpr::Arith(op, a, b) => {
            if let ValueExpr::Const(c) = &**b {
                each(a, pkt, &mut |x| {
                    if let Some(r) = arith(*op, x, c) {
                        f(&r);
                    }
                });
            } else if let ValueExpr::Const(c) = &**a {
                each(b, pkt, &mut |y| {
                    if let Some(r) = arith(*op, c, y) {
                        f(&r);
                    }
                });
            } else {
                let mut rv: Vec<Val<'static>> = Vec::new();
                each(b, pkt, &mut |v| rv.push(v.clone().into_owned()));
                each(a, pkt, &mut |x| {
                    for y in &rv {
                        if let Some(r) = arith(*op, x, y) {
                            f(&r);
                        }
                    }
                });
            }
        }
    }
}

/// Byte view of values that can be sliced: byte strings, strings, protocols, MACs, and
/// addresses (which tshark slices in network order).
fn as_bytes<'v>(v: &'v Val<'_>) -> Option<Cow<'v, [u8]>> {
    match v {
        Val::Bytes(b) => Some(Cow::Borrowed(b.as_ref())),
        Val::V4(a, _) => Some(Cow::Owned(a.to_be_bytes().to_vec())),
        Val::V6(a, _) => Some(Cow::Owned(a.to_be_bytes().to_vec())),
        _ => None,
    }
}

fn resolve_start(s: i64, n: i64) -> Option<i64> {
    let start = if s < 0 { n + s } else { s };
    (start >= 0).then_some(start)
}

/// Applies `[...]` ranges (concatenated when there are several).
fn slice<'a>(b: &Cow<'a, [u8]>, ranges: &[RangeSpec]) -> Option<Cow<'a, [u8]>> {
    let n = b.len() as i64;
    let one = |r: &RangeSpec| -> Option<(usize, usize)> {
        let (start, end) = match *r {
            RangeSpec::StartLen(s, l) => {
                let st = resolve_start(s, n)?;
                (st, st.checked_add(l)?)
            }
            RangeSpec::StartEnd(s, e) => {
                let st = resolve_start(s, n)?;
                let en = if e < 0 { n + e } else { e };
                if en < st {
                    return None;
                }
                (st, en + 1)
            }
            RangeSpec::From(s) => (resolve_start(s, n)?, n),
        };
        (start <= end && end <= n).then_some((start as usize, end as usize))
    };
    // A range outside the value gives an empty byte string, not "no value": tshark 4.0's
    // `tcp.payload[0:10] == ""` holds for a 2-byte payload, and `[0,30]` is just `[0]`.
    if ranges.len() == 1 {
        let (s, e) = one(&ranges[0]).unwrap_or((0, 0));
        return Some(match b {
            Cow::Borrowed(x) => Cow::Borrowed(&x[s..e]),
            Cow::Owned(x) => Cow::Owned(x[s..e].to_vec()),
        });
    }
    let mut out = Vec::new();
    for r in ranges {
        if let Some((s, e)) = one(r) {
            out.extend_from_slice(&b[s..e]);
        }
    }
    Some(Cow::Owned(out))
}

fn map(func: Func, v: &Val<'_>) -> Option<Val<'static>> {
    Some(match (func, v) {
        (Func::Lower, Val::Bytes(b)) => Val::Bytes(Cow::Owned(b.to_ascii_lowercase())),
        (Func::Upper, Val::Bytes(b)) => Val::Bytes(Cow::Owned(b.to_ascii_uppercase())),
        (Func::Abs, Val::Int(x)) => Val::Int(x.checked_abs()?),
        (Func::Abs, Val::Float(x)) => Val::Float(x.abs()),
        (Func::Abs, Val::Time(t)) => Val::Time(t.checked_abs()?),
        (Func::Neg, Val::Int(x)) => Val::Int(x.checked_neg()?),
        (Func::Neg, Val::Float(x)) => Val::Float(-x),
        (Func::Neg, Val::Time(t)) => Val::Time(t.checked_neg()?),
        _ => return None,
    })
}

/// `string(field)`: the value as tshark shows it (integers in decimal whatever the field's
/// display base — tshark 4.0's `string(tcp.flags)` is `"24"`, not `"0x0018"`).
fn render(v: &Val<'_>, ty: FieldType) -> String {
    match v {
        Val::Int(i) => i.to_string(),
        Val::Float(x) => x.to_string(),
        Val::V4(a, _) => std::net::Ipv4Addr::from(*a).to_string(),
        Val::V6(a, _) => std::net::Ipv6Addr::from(*a).to_string(),
        Val::Bytes(b) if ty == FieldType::Ether => b
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        Val::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Val::Time(t) => t.to_string(),
        Val::OddTime(t) => t.ns().to_string(),
        Val::Unit | Val::Never => String::new(),
    }
}
