//! The evaluator's view of a value. Field values from [`keepsight_fields::Value`] map onto a few
//! runtime kinds without copying: the type checker has already made sure both sides of every
//! comparison are of compatible types, so integers of all widths, booleans and frame numbers can
//! share one kind, and byte fields, strings, protocols and MAC addresses another.

use keepsight_fields::{NsTime, Value};
use std::borrow::Cow;
use std::cmp::Ordering;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val<'a> {
    Int(i128),
    Float(f64),
    Bytes(Cow<'a, [u8]>),
    /// Address and network mask: a field value has an all-ones mask, a CIDR literal a shorter one.
    V4(u32, u32),
    V6(u128, u128),
    /// Nanoseconds, absolute or relative (never mixed: the type checker sees to it).
    Time(i64),
    /// A time tshark keeps as an odd seconds/nanoseconds pair (a broken writer's time stamp,
    /// see [`keepsight_fields::NsTime`]): compared as tshark compares it.
    OddTime(NsTime),
    /// A presence-only field.
    Unit,
    /// A constant no value compares with: a negative number next to an unsigned field. tshark
    /// 4.0 answers every comparison with it false (`tcp.len == -1`, `tcp.len >= -1`), so only
    /// the negated forms hold (`tcp.len != -1`, `tcp.len === -1`).
    Never,
}

/// How byte sequences are ordered. tshark 4.0 orders byte fields by length first
/// (`tcp.payload > 41` holds for every 2-byte payload) but strings lexicographically.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BytesOrder {
    LengthFirst,
    Lexical,
}

impl Val<'_> {
    pub(crate) fn into_owned(self) -> Val<'static> {
        match self {
            Val::Bytes(b) => Val::Bytes(Cow::Owned(b.into_owned())),
            Val::Int(v) => Val::Int(v),
            Val::Float(v) => Val::Float(v),
            Val::V4(a, m) => Val::V4(a, m),
            Val::V6(a, m) => Val::V6(a, m),
            Val::Time(t) => Val::Time(t),
            Val::OddTime(t) => Val::OddTime(t),
            Val::Unit => Val::Unit,
            Val::Never => Val::Never,
        }
    }

    /// Used for bare arithmetic tests such as `tcp.flags & 0x04`.
    pub(crate) fn is_truthy(&self) -> bool {
        match self {
            Val::Int(v) => *v != 0,
            Val::Float(v) => *v != 0.0,
            Val::Bytes(b) => b.iter().any(|&x| x != 0),
            Val::V4(a, _) => *a != 0,
            Val::V6(a, _) => *a != 0,
            Val::Time(t) => *t != 0,
            Val::OddTime(t) => t.ns() != 0,
            Val::Unit => true,
            Val::Never => false,
        }
    }

    pub(crate) fn equals(&self, other: &Val<'_>) -> bool {
        match (self, other) {
            (Val::Int(a), Val::Int(b)) => a == b,
            (Val::Float(a), Val::Float(b)) => a == b,
            (Val::Int(a), Val::Float(b)) | (Val::Float(b), Val::Int(a)) => (*a as f64) == *b,
            (Val::Bytes(a), Val::Bytes(b)) => a == b,
            (Val::V4(a, ma), Val::V4(b, mb)) => {
                let m = ma & mb;
                a & m == b & m
            }
            (Val::V6(a, ma), Val::V6(b, mb)) => {
                let m = ma & mb;
                a & m == b & m
            }
            (Val::Time(a), Val::Time(b)) => a == b,
            (Val::OddTime(_), Val::Time(_) | Val::OddTime(_)) | (Val::Time(_), Val::OddTime(_)) => {
                self.order(other, BytesOrder::Lexical) == Some(Ordering::Equal)
            }
            (Val::Unit, Val::Unit) => true,
            _ => false,
        }
    }

    pub(crate) fn order(&self, other: &Val<'_>, bytes: BytesOrder) -> Option<Ordering> {
        match (self, other) {
            (Val::Int(a), Val::Int(b)) => Some(a.cmp(b)),
            (Val::Float(a), Val::Float(b)) => a.partial_cmp(b),
            (Val::Int(a), Val::Float(b)) => (*a as f64).partial_cmp(b),
            (Val::Float(a), Val::Int(b)) => a.partial_cmp(&(*b as f64)),
            (Val::Bytes(a), Val::Bytes(b)) => Some(match bytes {
                BytesOrder::LengthFirst => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
                BytesOrder::Lexical => a.cmp(b),
            }),
            // Ordering honours a CIDR mask too: `ip.addr > 10.0.0.0/24` is false for 10.0.0.9.
            (Val::V4(a, ma), Val::V4(b, mb)) => Some((a & ma & mb).cmp(&(b & ma & mb))),
            (Val::V6(a, ma), Val::V6(b, mb)) => Some((a & ma & mb).cmp(&(b & ma & mb))),
            (Val::Time(a), Val::Time(b)) => Some(a.cmp(b)),
            (Val::OddTime(_), Val::Time(_) | Val::OddTime(_)) | (Val::Time(_), Val::OddTime(_)) => {
                let pair = |v: &Val<'_>| match *v {
                    Val::OddTime(t) => t,
                    Val::Time(t) => NsTime::from_ns(t),
                    _ => NsTime { secs: 0, nsecs: 0 },
                };
                Some(keepsight_fields::nstime::tshark_cmp(
                    pair(self),
                    pair(other),
                ))
            }
            _ => None,
        }
    }
}

/// Converts one field occurrence and hands it to `f`; MAC addresses live on this stack frame
/// for the duration of the call, so nothing is copied to the heap.
#[inline]
pub(crate) fn with_val<R>(v: Value<'_>, f: impl FnOnce(&Val<'_>) -> R) -> R {
    match v {
        Value::Present => f(&Val::Unit),
        Value::Bool(b) => f(&Val::Int(i128::from(b))),
        Value::UInt(u) => f(&Val::Int(i128::from(u))),
        Value::Int(i) => f(&Val::Int(i128::from(i))),
        Value::Float(x) => f(&Val::Float(x)),
        Value::Bytes(b) => f(&Val::Bytes(Cow::Borrowed(b))),
        // A protocol compares, slices and measures as its own item (its header).
        Value::Protocol { item, .. } => f(&Val::Bytes(Cow::Borrowed(item))),
        Value::Str(s) => f(&Val::Bytes(Cow::Borrowed(s.as_bytes()))),
        Value::Ipv4(a) => f(&Val::V4(u32::from_be_bytes(a), u32::MAX)),
        Value::Ipv6(a) => f(&Val::V6(u128::from_be_bytes(a), u128::MAX)),
        Value::Ether(m) => f(&Val::Bytes(Cow::Borrowed(&m[..]))),
        Value::AbsTime(t) | Value::RelTime(t) => f(&Val::Time(t)),
        Value::AbsNsTime(t) | Value::RelNsTime(t) => f(&Val::OddTime(t)),
        Value::FrameNum(n) => f(&Val::Int(i128::from(n))),
    }
}
