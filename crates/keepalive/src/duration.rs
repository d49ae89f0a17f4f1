//! Errors of this crate's parsers, and durations read with keepsight's one grammar
//! ([`keepsight_time::duration`]: nginx's syntax plus fractions, e.g. `75s`, `30m`, `1h30m`,
//! `1.5s`, bare numbers = seconds).

pub use keepsight_time::duration::{format_duration, parse_duration};

use std::fmt;
use std::time::Duration;

/// Why a duration, a keep-alive specification or another setting could not be parsed.
///
/// The message names the offending input and what would have been accepted, so it can be shown
/// to a user as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    what: &'static str,
    input: String,
    reason: String,
}

impl ParseError {
    pub(crate) fn new(what: &'static str, input: &str, reason: impl Into<String>) -> Self {
        ParseError {
            what,
            input: input.to_string(),
            reason: reason.into(),
        }
    }

    /// The text that was rejected.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Why it was rejected, without the input.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} `{}`: {}", self.what, self.input, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// [`parse_duration`] with errors worded for `what` (`so_keepalive value`, ...).
pub(crate) fn parse_duration_as(what: &'static str, s: &str) -> Result<Duration, ParseError> {
    parse_duration(s).map_err(|e| ParseError::new(what, s, e.reason()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_what_was_parsed() {
        let e = parse_duration_as("so_keepalive value", "30x").unwrap_err();
        assert_eq!(e.input(), "30x");
        assert!(e
            .to_string()
            .starts_with("invalid so_keepalive value `30x`: unknown unit `x`"));
        assert_eq!(
            parse_duration_as("x", "1.5s").unwrap(),
            Duration::from_millis(1500)
        );
    }
}
