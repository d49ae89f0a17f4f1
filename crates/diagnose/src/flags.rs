//! Command-line flags to options: `keepsight diagnose` and `keepsight report` share the
//! analysis flags, and any other front end reads them the same way through these
//! constructors. Errors are typed; their text names the flag and the value.

use crate::log::LogOptions;
use crate::middlebox::Middlebox;
use crate::options::{parse_duration, parse_hex, Options};
use std::fmt;

/// The analysis flags as given (`--period 45s`, `--middlebox NAME=SECONDS`...), unparsed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags<'a> {
    /// `--period`: the heartbeat period, instead of inferring it.
    pub period: Option<&'a str>,
    /// `--timeout`: how long the sender waits for a reply.
    pub timeout: Option<&'a str>,
    /// `--probe`: the probe payload in hex.
    pub probe: Option<&'a str>,
    /// `--reply`: the reply payload in hex.
    pub reply: Option<&'a str>,
    /// Extra middleboxes, `NAME=SECONDS` each.
    pub middleboxes: &'a [String],
    /// Compare idle gaps only against `middleboxes`, not the built-in table.
    pub no_default_middleboxes: bool,
}

/// A flag value that does not parse; the message names the flag and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionError {
    /// A duration that does not parse, or is not above zero.
    Duration {
        /// The flag, without its dashes.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        why: String,
    },
    /// A payload that is not hex bytes.
    Hex {
        /// The flag, without its dashes.
        flag: &'static str,
        /// The value given.
        value: String,
    },
    /// `--middlebox` without `=`.
    MiddleboxForm(String),
    /// `--middlebox NAME=SECONDS` whose seconds are not a count.
    MiddleboxSeconds {
        /// The value given.
        value: String,
        /// What is wrong with the seconds.
        why: String,
    },
    /// `--log-tz` that is not UTC, +HH:MM or -HH:MM.
    TzForm(String),
    /// `--log-tz` hours that are not a number.
    TzHours {
        /// The value given.
        value: String,
        /// What is wrong with the hours.
        why: String,
    },
    /// `--log-tz` minutes that are not a number.
    TzMinutes {
        /// The value given.
        value: String,
        /// What is wrong with the minutes.
        why: String,
    },
    /// `--log-tz` beyond ±14 hours, or minutes of 60 or more.
    TzRange(String),
    /// `--log-date` that is not YYYY-MM-DD.
    Date(String),
    /// `--log-format` naming no format keepsight knows.
    LogFormat(String),
    /// `--log-tz`, `--log-date` or `--log-format` given neither once nor once per `--log`.
    LogCount {
        /// The flag, without its dashes.
        flag: &'static str,
        /// How many times it was given.
        given: usize,
        /// How many `--log` were given.
        logs: usize,
    },
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionError::Duration { flag, value, why } => write!(f, "--{flag} {value}: {why}"),
            OptionError::Hex { flag, value } => {
                write!(f, "--{flag} {value}: expected hex bytes such as 01")
            }
            OptionError::MiddleboxForm(v) => write!(f, "--middlebox {v}: expected NAME=DURATION"),
            OptionError::MiddleboxSeconds { value, why } => {
                write!(f, "--middlebox {value}: bad timeout: {why}")
            }
            OptionError::TzForm(v) => write!(f, "--log-tz {v}: expected UTC, +HH:MM or -HH:MM"),
            OptionError::LogFormat(v) => write!(
                f,
                "--log-format {v}: expected one of {}",
                crate::log::Format::ALL.map(|f| f.name()).join(", ")
            ),
            OptionError::LogCount { flag, given, logs } => write!(
                f,
                "--{flag} given {given} times for {logs} --log files: give it once for all of them or once per --log, in order"
            ),
            OptionError::TzHours { value, why } => write!(f, "--log-tz {value}: bad hours: {why}"),
            OptionError::TzMinutes { value, why } => {
                write!(f, "--log-tz {value}: bad minutes: {why}")
            }
            OptionError::TzRange(v) => write!(f, "--log-tz {v}: out of range"),
            OptionError::Date(v) => write!(f, "--log-date {v}: expected YYYY-MM-DD"),
        }
    }
}

impl std::error::Error for OptionError {}

impl Options {
    /// The options the flags ask for (the log, if any, is added by the caller).
    pub fn from_flags(flags: &Flags<'_>) -> Result<Options, OptionError> {
        let duration = |v: Option<&str>, flag: &'static str| {
            v.map(|s| {
                parse_duration(s).map_err(|why| OptionError::Duration {
                    flag,
                    value: s.to_string(),
                    why,
                })
            })
            .transpose()
        };
        let hex = |v: Option<&str>, flag: &'static str| {
            v.map(|s| {
                parse_hex(s).ok_or_else(|| OptionError::Hex {
                    flag,
                    value: s.to_string(),
                })
            })
            .transpose()
        };
        let mut opts = Options {
            period_ns: duration(flags.period, "period")?,
            timeout_ns: duration(flags.timeout, "timeout")?,
            probe: hex(flags.probe, "probe")?,
            reply: hex(flags.reply, "reply")?,
            ..Options::default()
        };
        if flags.no_default_middleboxes {
            opts.middleboxes.clear();
        }
        for m in flags.middleboxes {
            opts.middleboxes.push(Middlebox::from_flag(m)?);
        }
        opts.middleboxes.sort_by_key(|m| m.idle_timeout_s);
        Ok(opts)
    }
}

impl Middlebox {
    /// A user's `--middlebox NAME=DURATION` (a bare number is seconds, e.g. `corp=350`,
    /// `lb=5m`), in whole seconds as the table holds them.
    pub fn from_flag(flag: &str) -> Result<Middlebox, OptionError> {
        let (name, secs) = flag
            .rsplit_once('=')
            .ok_or_else(|| OptionError::MiddleboxForm(flag.to_string()))?;
        let bad = |why: String| OptionError::MiddleboxSeconds {
            value: flag.to_string(),
            why,
        };
        let timeout = keepsight_time::parse_duration(secs).map_err(|e| bad(e.reason().into()))?;
        if timeout.subsec_nanos() != 0 {
            return Err(bad("middlebox timeouts are whole seconds".into()));
        }
        let idle_timeout_s = u32::try_from(timeout.as_secs())
            .map_err(|_| bad("too large for a middlebox timeout".into()))?;
        // The table holds &'static str: a handful of user entries live for the whole run.
        let name: &'static str = Box::leak(name.trim().to_string().into_boxed_str());
        Ok(Middlebox {
            name,
            idle_timeout_s,
            on_idle: crate::middlebox::OnIdle::Unknown,
            source: "--middlebox",
        })
    }
}

impl LogOptions {
    /// From `--log-date YYYY-MM-DD` (optional) and `--log-tz` (`UTC`, `Z`, `+HH:MM`, `-HHMM`,
    /// `+H`; without it, the zone is searched for).
    pub fn from_flags(date: Option<&str>, tz: Option<&str>) -> Result<LogOptions, OptionError> {
        Ok(LogOptions {
            format: None,
            date: date.map(parse_date).transpose()?,
            tz_offset_s: tz.map(parse_tz).transpose()?,
        })
    }

    /// The options of each of `logs` logs from `--log-date`, `--log-tz` and `--log-format`,
    /// each given never, once (for every log) or once per log (in the order of the logs).
    pub fn per_log(
        logs: usize,
        dates: &[String],
        tzs: &[String],
        formats: &[String],
    ) -> Result<Vec<LogOptions>, OptionError> {
        fn pick<'a>(
            flag: &'static str,
            v: &'a [String],
            k: usize,
            logs: usize,
        ) -> Result<Option<&'a str>, OptionError> {
            match v.len() {
                0 => Ok(None),
                1 => Ok(Some(v[0].as_str())),
                n if n == logs => Ok(Some(v[k].as_str())),
                n => Err(OptionError::LogCount {
                    flag,
                    given: n,
                    logs,
                }),
            }
        }
        (0..logs.max(1))
            .map(|k| {
                let mut o = LogOptions::from_flags(
                    pick("log-date", dates, k, logs)?,
                    pick("log-tz", tzs, k, logs)?,
                )?;
                o.format = pick("log-format", formats, k, logs)?
                    .map(|n| {
                        crate::log::Format::from_name(n)
                            .ok_or_else(|| OptionError::LogFormat(n.to_string()))
                    })
                    .transpose()?;
                Ok(o)
            })
            .collect()
    }
}

fn parse_tz(s: &str) -> Result<i32, OptionError> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("utc") || t == "Z" || t == "z" {
        return Ok(0);
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(OptionError::TzForm(s.to_string())),
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        // `+0530`; the boundary check keeps a four-byte `-\u{fffd}` or emoji from being cut
        // inside a character.
        None if rest.len() == 4 && rest.is_char_boundary(2) => rest.split_at(2),
        None => (rest, "0"),
    };
    let h: i32 = h
        .parse()
        .map_err(|e: std::num::ParseIntError| OptionError::TzHours {
            value: s.to_string(),
            why: e.to_string(),
        })?;
    let m: i32 = m
        .parse()
        .map_err(|e: std::num::ParseIntError| OptionError::TzMinutes {
            value: s.to_string(),
            why: e.to_string(),
        })?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return Err(OptionError::TzRange(s.to_string()));
    }
    Ok(sign * (h * 3600 + m * 60))
}

fn parse_date(s: &str) -> Result<(i64, u32, u32), OptionError> {
    let parts: Vec<&str> = s.split('-').collect();
    if let [y, m, d] = parts[..] {
        if let (Ok(y), Ok(m), Ok(d)) = (y.parse(), m.parse(), d.parse()) {
            if (1..=12).contains(&m) && (1..=31).contains(&d) {
                return Ok((y, m, d));
            }
        }
    }
    Err(OptionError::Date(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middlebox::DEFAULT_TABLE;

    #[test]
    fn log_zones_and_dates() {
        let tz = |s| LogOptions::from_flags(None, Some(s)).map(|o| o.tz_offset_s.unwrap());
        // Without --log-tz the zone is left to the search.
        assert_eq!(
            LogOptions::from_flags(None, None).unwrap().tz_offset_s,
            None
        );
        assert_eq!(tz("UTC"), Ok(0));
        assert_eq!(tz("z"), Ok(0));
        assert_eq!(tz("+01:00"), Ok(3600));
        assert_eq!(tz("-0530"), Ok(-(5 * 3600 + 30 * 60)));
        assert_eq!(tz("+2"), Ok(7200));
        assert_eq!(tz("CET"), Err(OptionError::TzForm("CET".into())));
        assert_eq!(tz("+15:00"), Err(OptionError::TzRange("+15:00".into())));
        assert_eq!(
            tz("+ab:00").unwrap_err().to_string(),
            "--log-tz +ab:00: bad hours: invalid digit found in string"
        );
        // Found by the diagnose_log fuzz target: four bytes after the sign, cut mid-character.
        assert!(tz("--\u{fffd}").is_err());
        assert!(tz("+\u{1f600}").is_err());
        let date = |s| LogOptions::from_flags(Some(s), Some("UTC")).map(|o| o.date);
        assert_eq!(date("2024-03-01"), Ok(Some((2024, 3, 1))));
        assert_eq!(
            date("2024-13-01").unwrap_err().to_string(),
            "--log-date 2024-13-01: expected YYYY-MM-DD"
        );
    }

    #[test]
    fn flags_become_options_or_name_what_is_wrong() {
        let extra = vec!["corp NAT = 90".to_string(), "lb=1m30s".to_string()];
        let o = Options::from_flags(&Flags {
            period: Some("45s"),
            probe: Some("01"),
            middleboxes: &extra,
            no_default_middleboxes: true,
            ..Flags::default()
        })
        .unwrap();
        assert_eq!(o.period_ns, Some(45_000_000_000));
        assert_eq!(o.probe, Some(vec![1]));
        assert_eq!(
            o.middleboxes
                .iter()
                .map(|m| (m.name, m.idle_timeout_s))
                .collect::<Vec<_>>(),
            vec![("corp NAT", 90), ("lb", 90)]
        );
        let defaults = Options::from_flags(&Flags::default()).unwrap();
        assert_eq!(defaults.middleboxes.len(), DEFAULT_TABLE.len());
        let err = |f: Flags<'_>| Options::from_flags(&f).unwrap_err().to_string();
        assert_eq!(
            err(Flags {
                timeout: Some("soon"),
                ..Flags::default()
            }),
            format!(
                "--timeout soon: expected a number, found `s`; {}",
                keepsight_time::ACCEPTED_FORMS
            )
        );
        assert_eq!(
            err(Flags {
                reply: Some("zz"),
                ..Flags::default()
            }),
            "--reply zz: expected hex bytes such as 01"
        );
        let bad = vec!["nat".to_string()];
        assert_eq!(
            err(Flags {
                middleboxes: &bad,
                ..Flags::default()
            }),
            "--middlebox nat: expected NAME=DURATION"
        );
        let bad = vec!["nat=-1".to_string()];
        assert_eq!(
            err(Flags {
                middleboxes: &bad,
                ..Flags::default()
            }),
            format!(
                "--middlebox nat=-1: bad timeout: a duration has no sign; {}",
                keepsight_time::ACCEPTED_FORMS
            )
        );
    }
}
