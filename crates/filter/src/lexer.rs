//! Splits a filter expression into tokens.
//!
//! The hard part is that tshark has no separate syntax for field names and most literals: `tcp.len`,
//! `01:02`, `10.0.0.0/24`, `2001:db8::1`, `1-2-3` and `True` are all bare words whose meaning is
//! decided later, from the type of the field on the other side. The word rules below reproduce
//! where tshark 4.0.17 splits such words (checked by asking tshark): dots only between word
//! characters (`01.` is `01` then `.`), dashes anywhere after the first character (`01-` is one
//! word), colons only in `hh:hh...` byte strings and IPv6 addresses (`1:2` is `1` then `:2`).

use crate::error::{FilterError, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpTok {
    /// `==`, `eq`, `any_eq`
    Eq,
    /// `!=`, `ne`, `all_ne`
    Ne,
    /// `===`, `all_eq`
    AllEq,
    /// `!==`, `~=`, `any_ne`
    AnyNe,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    DotDot,
    /// The raw text between `[` and `]`.
    Slice(String),
    Cmp(CmpTok),
    Contains,
    Matches,
    In,
    And,
    Or,
    Not,
    Amp,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Any,
    All,
    /// A double-quoted string after escape processing (may hold any byte).
    Str(Vec<u8>),
    /// A character constant `'a'`, `'\n'`, `'\x41'`.
    Char(u8),
    /// A bare word: a field name or a literal, decided by the type checker.
    Word(String),
    /// `:word`, a word forced to be a literal, never a field name.
    Literal(String),
    Eof,
}

impl Tok {
    /// How the token is named in "unexpected" messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Eof => "the end of the expression".to_string(),
            Tok::Word(w) => format!("`{w}`"),
            Tok::Literal(w) => format!("`:{w}`"),
            Tok::Str(_) => "a quoted string".to_string(),
            Tok::Char(_) => "a character constant".to_string(),
            Tok::Slice(s) => format!("`[{s}]`"),
            other => format!("`{}`", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::Comma => ",",
            Tok::DotDot => "..",
            Tok::Cmp(CmpTok::Eq) => "==",
            Tok::Cmp(CmpTok::Ne) => "!=",
            Tok::Cmp(CmpTok::AllEq) => "===",
            Tok::Cmp(CmpTok::AnyNe) => "!==",
            Tok::Cmp(CmpTok::Gt) => ">",
            Tok::Cmp(CmpTok::Ge) => ">=",
            Tok::Cmp(CmpTok::Lt) => "<",
            Tok::Cmp(CmpTok::Le) => "<=",
            Tok::Contains => "contains",
            Tok::Matches => "matches",
            Tok::In => "in",
            Tok::And => "and",
            Tok::Or => "or",
            Tok::Not => "not",
            Tok::Amp => "&",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::Any => "any",
            Tok::All => "all",
            _ => "?",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

fn is_word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn keyword(w: &str) -> Option<Tok> {
    Some(match w {
        "eq" | "any_eq" => Tok::Cmp(CmpTok::Eq),
        "ne" | "all_ne" => Tok::Cmp(CmpTok::Ne),
        "all_eq" => Tok::Cmp(CmpTok::AllEq),
        "any_ne" => Tok::Cmp(CmpTok::AnyNe),
        "gt" => Tok::Cmp(CmpTok::Gt),
        "ge" => Tok::Cmp(CmpTok::Ge),
        "lt" => Tok::Cmp(CmpTok::Lt),
        "le" => Tok::Cmp(CmpTok::Le),
        "contains" => Tok::Contains,
        "matches" => Tok::Matches,
        "in" => Tok::In,
        "and" => Tok::And,
        "or" => Tok::Or,
        "not" => Tok::Not,
        "bitwise_and" => Tok::Amp,
        "any" => Tok::Any,
        "all" => Tok::All,
        _ => return None,
    })
}

/// Length of the word starting at `s[0]` (which must be a word character).
fn word_len(s: &[u8]) -> usize {
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let inner_dot = c == b'.' && i > 0 && s.get(i + 1).is_some_and(|&n| is_word_char(n));
        if is_word_char(c) || inner_dot {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// Length of the longest colon-bearing literal at the start of `s`: an IPv6 address or a
/// `hh:hh[:hh...]` byte string. Zero when there is none.
fn colon_len(s: &[u8]) -> usize {
    let run = s
        .iter()
        .take_while(|&&c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
        .count();
    let run = &s[..run];
    if !run.contains(&b':') {
        return 0;
    }
    let mut best = 0;
    // Byte string: pairs of hex digits joined by single colons.
    let mut i = 0;
    while i + 2 <= run.len() && run[i].is_ascii_hexdigit() && run[i + 1].is_ascii_hexdigit() {
        if i > 0 {
            best = i + 2;
        }
        if run.get(i + 2) == Some(&b':') {
            i += 3;
        } else {
            break;
        }
    }
    // IPv6: try every prefix, longest first; runs are short.
    for end in (best + 1..=run.len()).rev() {
        if let Ok(text) = std::str::from_utf8(&run[..end]) {
            if text.contains(':') && text.parse::<std::net::Ipv6Addr>().is_ok() {
                best = end;
                break;
            }
        }
    }
    best
}

/// The layer operator after a word at `at`: optional spaces, `#`, then digits or a bracketed
/// range list. Returns the bytes consumed and the text after `#` (`2`, `[1-2]`).
fn layer_len(expr: &str, at: usize) -> Result<Option<(usize, &str)>, FilterError> {
    let s = expr.as_bytes();
    let spaces = s[at..]
        .iter()
        .take_while(|c| c.is_ascii_whitespace())
        .count();
    let hash = at + spaces;
    if s.get(hash) != Some(&b'#') {
        return Ok(None);
    }
    let start = hash + 1;
    let len = match s.get(start) {
        Some(c) if c.is_ascii_digit() => s[start..].iter().take_while(|c| c.is_ascii_digit()).count(),
        Some(b'[') => match s[start..].iter().position(|&c| c == b']') {
            Some(p) => p + 1,
            None => {
                return Err(FilterError::new(
                    expr,
                    Span::new(start, s.len()),
                    "`#[` has no matching `]`".into(),
                ))
            }
        },
        _ => {
            return Err(FilterError::new(
                expr,
                Span::new(hash, start),
                "the layer operator `#` needs a layer number or a range, e.g. `ip.addr#2` or `ip.addr#[1-2]`".into(),
            ))
        }
    };
    Ok(Some((spaces + 1 + len, &expr[start..start + len])))
}

/// `/NN` after an address: a CIDR prefix length belongs to the word.
fn cidr_len(s: &[u8]) -> usize {
    if s.first() == Some(&b'/') {
        let digits = s[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 {
            return 1 + digits;
        }
    }
    0
}

pub(crate) fn tokenize(expr: &str) -> Result<Vec<Token>, FilterError> {
    let s = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let err =
        |start: usize, end: usize, msg: String| FilterError::new(expr, Span::new(start, end), msg);
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let two = s.get(i..i + 2);
        let three = s.get(i..i + 3);
        let (tok, len) = if three == Some(b"===") {
            (Tok::Cmp(CmpTok::AllEq), 3)
        } else if three == Some(b"!==") {
            (Tok::Cmp(CmpTok::AnyNe), 3)
        } else if two == Some(b"==") {
            (Tok::Cmp(CmpTok::Eq), 2)
        } else if two == Some(b"!=") {
            (Tok::Cmp(CmpTok::Ne), 2)
        } else if two == Some(b"~=") {
            (Tok::Cmp(CmpTok::AnyNe), 2)
        } else if two == Some(b">=") {
            (Tok::Cmp(CmpTok::Ge), 2)
        } else if two == Some(b"<=") {
            (Tok::Cmp(CmpTok::Le), 2)
        } else if two == Some(b"&&") {
            (Tok::And, 2)
        } else if two == Some(b"||") {
            (Tok::Or, 2)
        } else if two == Some(b"..") {
            (Tok::DotDot, 2)
        } else if two == Some(b"^^") {
            return Err(err(
                i,
                i + 2,
                "`^^` (xor) is not part of the display-filter language in tshark 4.0; \
                 write `(A and not B) or (not A and B)`"
                    .into(),
            ));
        } else {
            match c {
                b'(' => (Tok::LParen, 1),
                b')' => (Tok::RParen, 1),
                b'{' => (Tok::LBrace, 1),
                b'}' => (Tok::RBrace, 1),
                b',' => (Tok::Comma, 1),
                b'>' => (Tok::Cmp(CmpTok::Gt), 1),
                b'<' => (Tok::Cmp(CmpTok::Lt), 1),
                b'~' => (Tok::Matches, 1),
                b'!' => (Tok::Not, 1),
                b'&' => (Tok::Amp, 1),
                b'+' => (Tok::Plus, 1),
                b'-' => (Tok::Minus, 1),
                b'*' => (Tok::Star, 1),
                b'/' => (Tok::Slash, 1),
                b'%' => (Tok::Percent, 1),
                b'[' => {
                    let close = s[i..].iter().position(|&c| c == b']').map(|p| p + i);
                    let Some(close) = close else {
                        return Err(err(i, s.len(), "`[` has no matching `]`".into()));
                    };
                    (Tok::Slice(expr[i + 1..close].to_string()), close + 1 - i)
                }
                b'"' => {
                    let (bytes, len) = lex_string(expr, i + 1, false)?;
                    (Tok::Str(bytes), len + 1)
                }
                b'r' if s.get(i + 1) == Some(&b'"') => {
                    let (bytes, len) = lex_string(expr, i + 2, true)?;
                    (Tok::Str(bytes), len + 2)
                }
                b'\'' => {
                    let (v, len) = lex_char(expr, i)?;
                    (Tok::Char(v), len)
                }
                b':' => {
                    if s.get(i + 1) == Some(&b':') {
                        let n = colon_len(&s[i..]);
                        if n == 0 {
                            return Err(err(i, i + 2, "`::` must start an IPv6 address".into()));
                        }
                        let n = n + cidr_len(&s[i + n..]);
                        (Tok::Word(expr[i..i + n].to_string()), n)
                    } else {
                        let rest = &s[i + 1..];
                        let n = if rest.first().is_some_and(|&c| is_word_char(c)) {
                            word_len(rest).max(colon_len(rest))
                        } else {
                            0
                        };
                        if n == 0 {
                            return Err(err(
                                i,
                                i + 1,
                                "unexpected `:` (a `:` before a value marks it as a literal, e.g. `:01`)".into(),
                            ));
                        }
                        let n = n + cidr_len(&rest[n..]);
                        (Tok::Literal(expr[i + 1..i + 1 + n].to_string()), n + 1)
                    }
                }
                c if c.is_ascii_alphanumeric() || c == b'_' => {
                    let w = word_len(&s[i..]);
                    let col = if c.is_ascii_hexdigit() {
                        colon_len(&s[i..])
                    } else {
                        0
                    };
                    let n = w.max(col);
                    let n = n + cidr_len(&s[i + n..]);
                    let text = &expr[i..i + n];
                    match keyword(text) {
                        Some(k) => (k, n),
                        None => match layer_len(expr, i + n)? {
                            // `ip.addr#2`, `ip.addr #[1-2]`: the layer operator stays part of the
                            // word (without the spaces) and is resolved with the field name.
                            Some((skip, layer)) => (Tok::Word(format!("{text}#{layer}")), n + skip),
                            None => (Tok::Word(text.to_string()), n),
                        },
                    }
                }
                _ => {
                    let ch = expr[i..].chars().next().unwrap_or('?');
                    let msg = match ch {
                        '#' => "the layer operator `#` must follow a field name, e.g. `ip.addr#2`"
                            .to_string(),
                        '$' | '@' => {
                            format!("`{ch}` field references are not supported by keepsight yet")
                        }
                        '.' => {
                            "unexpected `.`: a field name or number cannot start or end with a dot"
                                .to_string()
                        }
                        _ => format!("unexpected character `{ch}`"),
                    };
                    return Err(err(i, i + ch.len_utf8(), msg));
                }
            }
        };
        i += len;
        out.push(Token {
            tok,
            span: Span::new(start, i),
        });
    }
    out.push(Token {
        tok: Tok::Eof,
        span: Span::new(s.len(), s.len()),
    });
    Ok(out)
}

/// Reads a string body starting at `from` (just after the opening quote). Returns the bytes and
/// the number of source bytes consumed including the closing quote.
fn lex_string(expr: &str, from: usize, raw: bool) -> Result<(Vec<u8>, usize), FilterError> {
    let s = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = from;
    loop {
        let Some(&c) = s.get(i) else {
            return Err(FilterError::new(
                expr,
                Span::new(s.len(), s.len()),
                "the closing `\"` of a quoted string is missing".into(),
            ));
        };
        match c {
            b'"' => return Ok((out, i + 1 - from)),
            b'\\' if raw => {
                // A raw string keeps its backslashes; `\"` still does not end it.
                out.push(b'\\');
                if let Some(&n) = s.get(i + 1) {
                    out.push(n);
                    i += 2;
                } else {
                    i += 1;
                }
            }
            b'\\' => {
                let (b, n) = escape(expr, i)?;
                out.push(b);
                i += n;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// Decodes the escape at `s[at] == '\\'`; returns the byte and how many source bytes it used.
fn escape(expr: &str, at: usize) -> Result<(u8, usize), FilterError> {
    let s = expr.as_bytes();
    let bad = |len: usize, what: &str| {
        let end = (at + len).min(s.len());
        FilterError::new(
            expr,
            Span::new(at, end),
            format!("`{}` is {what}", &expr.get(at..end).unwrap_or("\\")),
        )
    };
    let Some(&c) = s.get(at + 1) else {
        return Err(bad(1, "an unfinished escape sequence"));
    };
    let simple = match c {
        b'a' => Some(7),
        b'b' => Some(8),
        b'f' => Some(12),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'v' => Some(11),
        b'\\' => Some(b'\\'),
        b'"' => Some(b'"'),
        b'\'' => Some(b'\''),
        b'?' => Some(b'?'),
        _ => None,
    };
    if let Some(b) = simple {
        return Ok((b, 2));
    }
    match c {
        b'x' => {
            let digits = s[at + 2..]
                .iter()
                .take(2)
                .take_while(|c| c.is_ascii_hexdigit())
                .count();
            if digits == 0 {
                return Err(bad(
                    2,
                    "not a valid escape: `\\x` needs one or two hex digits",
                ));
            }
            let text = &expr[at + 2..at + 2 + digits];
            let v =
                u8::from_str_radix(text, 16).map_err(|_| bad(2 + digits, "not a valid escape"))?;
            Ok((v, 2 + digits))
        }
        b'0'..=b'7' => {
            let digits = s[at + 1..]
                .iter()
                .take(3)
                .take_while(|c| (b'0'..=b'7').contains(c))
                .count();
            let v = u32::from_str_radix(&expr[at + 1..at + 1 + digits], 8).unwrap_or(256);
            if v > 255 {
                return Err(bad(1 + digits, "an octal escape above \\377"));
            }
            Ok((v as u8, 1 + digits))
        }
        b'u' | b'U' => Err(bad(2, "not supported: tshark 4.0 has no `\\u` escapes")),
        _ => {
            let len = expr[at + 1..]
                .chars()
                .next()
                .map_or(1, |ch| 1 + ch.len_utf8());
            Err(bad(len, "not a valid escape sequence"))
        }
    }
}

fn lex_char(expr: &str, at: usize) -> Result<(u8, usize), FilterError> {
    let s = expr.as_bytes();
    let (v, used) = match s.get(at + 1) {
        // tshark 4.0 refuses these two in character constants (not in strings).
        Some(b'\\') if matches!(s.get(at + 2), Some(b'n' | b'?')) => {
            return Err(FilterError::new(
                expr,
                Span::new(at, (at + 4).min(s.len())),
                "tshark 4.0 does not accept this escape in a character constant; write the number \
                 (e.g. 10 or 0x0a for a newline)"
                    .into(),
            ))
        }
        Some(b'\\') => escape(expr, at + 1)?,
        Some(&c) if c != b'\'' && c.is_ascii() => (c, 1),
        _ => {
            return Err(FilterError::new(
                expr,
                Span::new(at, (at + 2).min(s.len())),
                "a character constant holds exactly one ASCII character, e.g. 'A' or '\\n'".into(),
            ))
        }
    };
    if s.get(at + 1 + used) != Some(&b'\'') {
        let end = s[at + 1..]
            .iter()
            .position(|&c| c == b'\'')
            .map_or(s.len(), |p| at + 2 + p);
        return Err(FilterError::new(
            expr,
            Span::new(at, end),
            "a character constant holds exactly one character; use a double-quoted string for more"
                .into(),
        ));
    }
    Ok((v, used + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(e: &str) -> Vec<Tok> {
        tokenize(e).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn splits_words_like_tshark() {
        assert_eq!(
            words("01:02-03")[..3],
            [
                Tok::Word("01:02".into()),
                Tok::Minus,
                Tok::Word("03".into())
            ]
        );
        assert_eq!(words("1-2-3")[0], Tok::Word("1-2-3".into()));
        assert_eq!(
            words("1:23")[..2],
            [Tok::Word("1".into()), Tok::Literal("23".into())]
        );
        assert_eq!(
            words("2001:db8::1/64")[0],
            Tok::Word("2001:db8::1/64".into())
        );
        assert_eq!(words("::1")[0], Tok::Word("::1".into()));
        assert_eq!(words("10.0.0.0/24")[0], Tok::Word("10.0.0.0/24".into()));
        assert_eq!(
            words("1..3")[..3],
            [Tok::Word("1".into()), Tok::DotDot, Tok::Word("3".into())]
        );
        assert_eq!(words("tcp.len-1")[0], Tok::Word("tcp.len-1".into()));
        assert!(tokenize("01.").is_err());
        assert!(tokenize("01:").is_err());
        assert_eq!(words("tcp.payload[1-2]")[1], Tok::Slice("1-2".into()));
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            words(r#""\x01\101\n\"""#)[0],
            Tok::Str(vec![1, 65, 10, b'"'])
        );
        assert_eq!(words(r#"r"\x41""#)[0], Tok::Str(br"\x41".to_vec()));
        assert_eq!(words(r"'\x41'")[0], Tok::Char(0x41));
        assert!(tokenize(r#""\q""#).is_err());
        assert!(tokenize(r#""abc"#).is_err());
        assert!(tokenize("'AB'").is_err());
        assert!(tokenize("a ^^ b").is_err());
    }
}
