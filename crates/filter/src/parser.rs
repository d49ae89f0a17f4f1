//! Tokens to syntax tree, with tshark 4.0's precedence: `not` binds tighter than `and`, which
//! binds tighter than `or`; comparisons bind tighter than all three; within a value, `*` `/` `%`
//! `&` bind tighter than `+` `-`. `xor` does not exist in 4.0 (tshark rejects it), and a
//! parenthesised test cannot be compared with anything (`(a & 4) == 4` is an error in tshark).

use crate::error::{FilterError, Span};
use crate::ir::{ArithOp, Quant, RangeSpec};
use crate::lexer::{CmpTok, Tok, Token};

#[derive(Clone, Debug)]
pub(crate) enum Operand {
    Word(String, Span),
    Literal(String, Span),
    Str(Vec<u8>, Span),
    Char(u8, Span),
    Slice(Box<Operand>, Vec<RangeSpec>, Span),
    Call(String, Vec<Operand>, Span),
    Arith(ArithOp, Box<Operand>, Box<Operand>, Span),
    Neg(Box<Operand>, Span),
}

impl Operand {
    pub(crate) fn span(&self) -> Span {
        match self {
            Operand::Word(_, s)
            | Operand::Literal(_, s)
            | Operand::Str(_, s)
            | Operand::Char(_, s)
            | Operand::Slice(_, _, s)
            | Operand::Call(_, _, s)
            | Operand::Arith(_, _, _, s)
            | Operand::Neg(_, s) => *s,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum SetItem {
    One(Operand),
    Range(Operand, Operand),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RelOp {
    Cmp(CmpTok),
    Contains,
    Matches,
}

#[derive(Clone, Debug)]
pub(crate) enum Expr {
    /// Operands of a chain of `or`s, kept flat so that long generated filters
    /// (`ip.addr == a or ip.addr == b or ...`) do not nest deeply.
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    /// A bare value: existence of a field, or a non-zero result.
    Test(Operand),
    Rel {
        quant: Option<Quant>,
        op: RelOp,
        op_span: Span,
        lhs: Operand,
        rhs: Operand,
    },
    In {
        quant: Option<Quant>,
        negated: bool,
        lhs: Operand,
        items: Vec<SetItem>,
        span: Span,
    },
}

/// Nesting deeper than this is refused rather than risking the stack on hostile input.
const MAX_DEPTH: usize = 200;
const MAX_OPS: usize = 1000;

pub(crate) fn parse(expr: &str, tokens: Vec<Token>) -> Result<Expr, FilterError> {
    let mut p = Parser {
        expr,
        toks: tokens,
        pos: 0,
        depth: 0,
        ops: 0,
    };
    if p.peek() == &Tok::Eof {
        return Err(p.err_at(p.span(), "the filter is empty".into()));
    }
    let e = p.or_expr()?;
    if p.peek() != &Tok::Eof {
        return Err(p.unexpected());
    }
    Ok(e)
}

struct Parser<'a> {
    expr: &'a str,
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    ops: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }
    fn peek2(&self) -> &Tok {
        &self.toks[(self.pos + 1).min(self.toks.len() - 1)].tok
    }
    fn span(&self) -> Span {
        self.toks[self.pos.min(self.toks.len() - 1)].span
    }
    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos.min(self.toks.len() - 1)].clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn err_at(&self, span: Span, msg: String) -> FilterError {
        FilterError::new(self.expr, span, msg)
    }
    fn unexpected(&self) -> FilterError {
        let t = self.peek();
        let hint = match t {
            Tok::Word(w) if w == "xor" => {
                " (`xor` is not part of the display-filter language in tshark 4.0)".to_string()
            }
            Tok::Word(w) if w.chars().any(|c| c.is_ascii_uppercase()) && is_keyword_lower(w) => {
                format!(" (operators are lowercase: `{}`)", w.to_ascii_lowercase())
            }
            Tok::Cmp(_) | Tok::Contains | Tok::Matches | Tok::In => {
                " (a comparison cannot follow a parenthesised test or another comparison)"
                    .to_string()
            }
            _ => String::new(),
        };
        self.err_at(self.span(), format!("unexpected {}{hint}", t.describe()))
    }
    /// Arithmetic and slice chains nest one level per operator; a bound keeps hostile input
    /// from exhausting the stack in the recursive passes that follow parsing.
    fn chain(&mut self) -> Result<(), FilterError> {
        self.ops += 1;
        if self.ops > MAX_OPS {
            return Err(self.err_at(
                self.span(),
                format!("more than {MAX_OPS} arithmetic or slice operators"),
            ));
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_at(self.span(), "the expression is nested too deeply".into()));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Expr, FilterError> {
        self.enter()?;
        let mut terms = vec![self.and_expr()?];
        while self.peek() == &Tok::Or {
            self.bump();
            terms.push(self.and_expr()?);
        }
        self.depth -= 1;
        Ok(if terms.len() == 1 {
            terms.pop().unwrap_or(Expr::Or(Vec::new()))
        } else {
            Expr::Or(terms)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, FilterError> {
        let mut terms = vec![self.not_expr()?];
        while self.peek() == &Tok::And {
            self.bump();
            terms.push(self.not_expr()?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().unwrap_or(Expr::And(Vec::new()))
        } else {
            Expr::And(terms)
        })
    }

    fn not_expr(&mut self) -> Result<Expr, FilterError> {
        if self.peek() == &Tok::Not {
            self.bump();
            self.enter()?;
            let inner = self.not_expr()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.relation()
    }

    fn relation(&mut self) -> Result<Expr, FilterError> {
        if self.peek() == &Tok::LParen {
            self.bump();
            let e = self.or_expr()?;
            if self.peek() != &Tok::RParen {
                return Err(match self.peek() {
                    Tok::Eof => self.err_at(self.span(), "a `(` is not closed".into()),
                    _ => self.unexpected(),
                });
            }
            self.bump();
            return Ok(e);
        }
        let quant = match self.peek() {
            Tok::Any => Some(Quant::Any),
            Tok::All => Some(Quant::All),
            _ => None,
        };
        if quant.is_some() {
            self.bump();
        }
        let lhs = self.value()?;
        let op_span = self.span();
        let op = match self.peek() {
            Tok::Cmp(c) => RelOp::Cmp(*c),
            Tok::Contains => RelOp::Contains,
            Tok::Matches => RelOp::Matches,
            Tok::In => {
                self.bump();
                return self.set(quant, false, lhs, op_span);
            }
            Tok::Not if self.peek2() == &Tok::In => {
                self.bump();
                self.bump();
                return self.set(quant, true, lhs, op_span);
            }
            _ => {
                if let Some(q) = quant {
                    let word = if q == Quant::All { "all" } else { "any" };
                    return Err(self.err_at(
                        op_span,
                        format!("`{word}` must be followed by a comparison, e.g. `{word} tcp.port > 1024`"),
                    ));
                }
                return Ok(Expr::Test(lhs));
            }
        };
        self.bump();
        let rhs = self.value()?;
        Ok(Expr::Rel {
            quant,
            op,
            op_span,
            lhs,
            rhs,
        })
    }

    fn set(
        &mut self,
        quant: Option<Quant>,
        negated: bool,
        lhs: Operand,
        span: Span,
    ) -> Result<Expr, FilterError> {
        if self.peek() != &Tok::LBrace {
            return Err(self.err_at(
                self.span(),
                "`in` must be followed by a set such as `{80, 443, 8000..8080}`".into(),
            ));
        }
        self.bump();
        let mut items = Vec::new();
        loop {
            // Members are single values: tshark rejects `{1+1}`.
            let a = self.unary()?;
            if self.peek() == &Tok::DotDot {
                self.bump();
                let b = self.unary()?;
                items.push(SetItem::Range(a, b));
            } else {
                items.push(SetItem::One(a));
            }
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RBrace => {
                    self.bump();
                    break;
                }
                Tok::Eof => {
                    return Err(self.err_at(self.span(), "the set is not closed with `}`".into()))
                }
                _ => {
                    let e = self.unexpected();
                    return Err(FilterError::new(
                        self.expr,
                        self.span(),
                        format!(
                            "{} (set members are separated by commas in tshark 4.0)",
                            e.message()
                        ),
                    ));
                }
            }
        }
        Ok(Expr::In {
            quant,
            negated,
            lhs,
            items,
            span,
        })
    }

    /// A value: sums of products of unary terms.
    fn value(&mut self) -> Result<Operand, FilterError> {
        self.enter()?;
        let mut lhs = self.term()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => ArithOp::Add,
                Tok::Minus => ArithOp::Sub,
                _ => break,
            };
            self.bump();
            self.chain()?;
            let rhs = self.term()?;
            let span = lhs.span().to(rhs.span());
            lhs = Operand::Arith(op, Box::new(lhs), Box::new(rhs), span);
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn term(&mut self) -> Result<Operand, FilterError> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => ArithOp::Mul,
                Tok::Slash => ArithOp::Div,
                Tok::Percent => ArithOp::Rem,
                Tok::Amp => ArithOp::And,
                _ => break,
            };
            self.bump();
            self.chain()?;
            let rhs = self.unary()?;
            let span = lhs.span().to(rhs.span());
            lhs = Operand::Arith(op, Box::new(lhs), Box::new(rhs), span);
        }
        Ok(lhs)
    }

    /// A primary value with an optional sign. Signs do not nest: tshark rejects `--1`.
    fn unary(&mut self) -> Result<Operand, FilterError> {
        match self.peek() {
            Tok::Minus => {
                let start = self.bump().span;
                let inner = self.sliced()?;
                let span = start.to(inner.span());
                Ok(Operand::Neg(Box::new(inner), span))
            }
            Tok::Plus => {
                self.bump();
                self.sliced()
            }
            _ => self.sliced(),
        }
    }

    fn sliced(&mut self) -> Result<Operand, FilterError> {
        let mut v = self.primary()?;
        while let Tok::Slice(text) = self.peek().clone() {
            self.chain()?;
            let span = self.span();
            let ranges = parse_ranges(self.expr, &text, span)?;
            self.bump();
            let whole = v.span().to(span);
            v = Operand::Slice(Box::new(v), ranges, whole);
        }
        Ok(v)
    }

    fn primary(&mut self) -> Result<Operand, FilterError> {
        let t = self.bump();
        Ok(match t.tok {
            Tok::Word(w) => {
                if self.peek() == &Tok::LParen {
                    self.bump();
                    let mut args = Vec::new();
                    if self.peek() != &Tok::RParen {
                        loop {
                            args.push(self.value()?);
                            match self.peek() {
                                Tok::Comma => {
                                    self.bump();
                                }
                                Tok::RParen => break,
                                _ => return Err(self.unexpected()),
                            }
                        }
                    }
                    let close = self.bump().span;
                    Operand::Call(w, args, t.span.to(close))
                } else {
                    Operand::Word(w, t.span)
                }
            }
            Tok::Literal(w) => Operand::Literal(w, t.span),
            Tok::Str(b) => Operand::Str(b, t.span),
            Tok::Char(c) => Operand::Char(c, t.span),
            Tok::LBrace => {
                let v = self.value()?;
                if self.peek() != &Tok::RBrace {
                    return Err(self.unexpected());
                }
                self.bump();
                v
            }
            other => {
                let msg = match other {
                    Tok::Eof => {
                        "the expression ends where a field or value was expected".to_string()
                    }
                    Tok::Slice(_) => "a slice `[...]` must follow a field".to_string(),
                    _ => format!(
                        "unexpected {}: a field or value was expected",
                        other.describe()
                    ),
                };
                return Err(self.err_at(t.span, msg));
            }
        })
    }
}

fn is_keyword_lower(w: &str) -> bool {
    matches!(
        w.to_ascii_lowercase().as_str(),
        "and"
            | "or"
            | "not"
            | "eq"
            | "ne"
            | "gt"
            | "ge"
            | "lt"
            | "le"
            | "contains"
            | "matches"
            | "in"
    )
}

/// Parses the inside of `[...]`: comma-separated `i:j`, `i-j`, `i`, `:j`, `i:`.
fn parse_ranges(expr: &str, text: &str, span: Span) -> Result<Vec<RangeSpec>, FilterError> {
    let err = |msg: String| FilterError::new(expr, span, msg);
    let mut out = Vec::new();
    for part in text.split(',') {
        let p = part.trim();
        let num = |s: &str| -> Result<i64, FilterError> {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .filter(|v| v.unsigned_abs() <= u32::MAX as u64)
                .ok_or_else(|| {
                    err(format!(
                        "`{s}` is not a valid offset in the slice `[{text}]`"
                    ))
                })
        };
        if p.is_empty() {
            return Err(err(format!("empty range in the slice `[{text}]`")));
        }
        let r = if let Some((a, b)) = p.split_once(':') {
            let (a, b) = (a.trim(), b.trim());
            match (a.is_empty(), b.is_empty()) {
                (true, true) => return Err(err(format!("`{p}` needs an offset or a length"))),
                (false, true) => RangeSpec::From(num(a)?),
                (a_empty, false) => {
                    let start = if a_empty { 0 } else { num(a)? };
                    let len = num(b)?;
                    if len <= 0 {
                        return Err(err(format!(
                            "the range `{p}` is not valid: its length {len} is not positive"
                        )));
                    }
                    RangeSpec::StartLen(start, len)
                }
            }
        } else if let Some(dash) = p
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == '-')
            .map(|(i, _)| i)
        {
            // The first character may be the sign of a negative start (`-3-1` is not meaningful
            // but `-1` alone is).
            let (a, b) = (num(&p[..dash])?, num(&p[dash + 1..])?);
            if (a >= 0) == (b >= 0) && a > b {
                return Err(err(format!(
                    "the range `{p}` is not valid: {a} is greater than {b}"
                )));
            }
            RangeSpec::StartEnd(a, b)
        } else {
            RangeSpec::StartLen(num(p)?, 1)
        };
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::tokenize;

    fn p(e: &str) -> Result<Expr, FilterError> {
        parse(e, tokenize(e)?)
    }

    fn shape(e: &Expr) -> String {
        match e {
            Expr::Or(v) => format!("({})", v.iter().map(shape).collect::<Vec<_>>().join(" or ")),
            Expr::And(v) => format!(
                "({})",
                v.iter().map(shape).collect::<Vec<_>>().join(" and ")
            ),
            Expr::Not(a) => format!("!{}", shape(a)),
            Expr::Test(Operand::Word(w, _)) => w.clone(),
            Expr::Test(_) => "T".into(),
            Expr::Rel { .. } => "R".into(),
            Expr::In { .. } => "I".into(),
        }
    }

    #[test]
    fn precedence_matches_tshark() {
        assert_eq!(
            shape(&p("a and b or not c or d and not e or f").unwrap()),
            "((a and b) or !c or (d and !e) or f)"
        );
        assert_eq!(shape(&p("not a and b").unwrap()), "(!a and b)");
        assert_eq!(shape(&p("! ! a").unwrap()), "!!a");
    }

    #[test]
    fn rejects_what_tshark_rejects() {
        for e in [
            "(a & 4) == 4",
            "a in {1 2}",
            "a xor b",
            "a ==",
            "== 1",
            "a[1-0]",
            "a[0:0]",
            "a[0:-1]",
            "(a",
            "a)",
            "",
            "a b",
        ] {
            assert!(p(e).is_err(), "{e} should not parse");
        }
    }

    #[test]
    fn ranges() {
        let r = parse_ranges("", "0:1,2-3, -1 ,:2,2:", Span::default()).unwrap();
        assert_eq!(
            r,
            [
                RangeSpec::StartLen(0, 1),
                RangeSpec::StartEnd(2, 3),
                RangeSpec::StartLen(-1, 1),
                RangeSpec::StartLen(0, 2),
                RangeSpec::From(2)
            ]
        );
    }
}
