//! Compile errors a user can act on: what is wrong, where (a caret line under the token), and
//! what to write instead when we can tell.

use std::fmt;

/// A byte range in the filter expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        Span {
            start,
            end: end.max(start),
        }
    }
    pub(crate) fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// Why an expression was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    expr: String,
    span: Span,
    message: String,
}

impl FilterError {
    pub(crate) fn new(expr: &str, span: Span, message: String) -> FilterError {
        FilterError {
            expr: expr.to_string(),
            span,
            message,
        }
    }

    /// The message alone, without the expression and caret line.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Byte offsets of the offending token in the expression.
    pub fn span(&self) -> (usize, usize) {
        (self.span.start, self.span.end)
    }

    /// The expression that failed to compile.
    pub fn expression(&self) -> &str {
        &self.expr
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Carets are placed by character count so multi-byte characters before the token do
        // not shift them; control characters are shown as spaces to keep the two lines aligned.
        let shown: String = self
            .expr
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let start = self.span.start.min(self.expr.len());
        let end = self.span.end.min(self.expr.len()).max(start);
        let col = char_count(&self.expr, start);
        let width = char_count(&self.expr, end).saturating_sub(col).max(1);
        writeln!(f, "{shown}")?;
        writeln!(f, "{}^{}", " ".repeat(col), "~".repeat(width - 1))?;
        write!(f, "{}", self.message)
    }
}

fn char_count(s: &str, byte_end: usize) -> usize {
    s.char_indices().take_while(|(i, _)| *i < byte_end).count()
}

impl std::error::Error for FilterError {}

/// The registered field name closest to `name`, if one is close enough to be a plausible typo
/// (`tcp.lenn` gives `tcp.len`). Shared with `-e` so both say "did you mean" the same way.
pub fn suggest_field(name: &str) -> Option<&'static str> {
    let mut best: Option<(usize, &'static str)> = None;
    for (_, def) in keepsight_fields::all_fields() {
        let d = edit_distance(name, def.name);
        let better = match best {
            Some((bd, _)) => d < bd,
            None => true,
        };
        if better {
            best = Some((d, def.name));
        }
    }
    let (d, cand) = best?;
    // Allow about one edit per four characters: `tcp.lenn` -> `tcp.len`, but not `foo` -> `eth`.
    let limit = (name.chars().count() / 4).clamp(1, 3);
    (d <= limit).then_some(cand)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: a swap of two neighbours (`tcp.lne`) counts as one edit, which needs row i-2.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(before[j - 2] + 1);
            }
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest_field("tcp.lenn"), Some("tcp.len"));
        assert_eq!(suggest_field("tcp.stram"), Some("tcp.stream"));
        assert_eq!(
            suggest_field("tcp.analysis.keepalive"),
            Some("tcp.analysis.keep_alive")
        );
        assert_eq!(suggest_field("zzzz.qqqq"), None);
    }

    #[test]
    fn caret_sits_under_the_token() {
        let e = FilterError::new("tcp.lenn == 1", Span::new(0, 8), "unknown field".into());
        assert_eq!(e.to_string(), "tcp.lenn == 1\n^~~~~~~~\nunknown field");
        let e = FilterError::new("a == \"é\" x", Span::new(11, 12), "m".into());
        assert_eq!(e.to_string().lines().nth(1), Some("          ^"));
    }
}
