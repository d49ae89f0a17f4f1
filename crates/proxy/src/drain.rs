//! Drain mode: close a chosen share of keep-alive connections after their current response.
//!
//! The choice is not random. Every response that would have kept its connection open adds the
//! ratio to a shared fixed-point accumulator, and the response that carries it over an integer
//! boundary closes. Over any run of N responses the number closed is within one of N × ratio,
//! so an operator (and a test) sees exactly the share asked for, spread evenly rather than in
//! random clumps.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const ONE: u64 = 1 << 32;

/// A linear change of the ratio over time, `from..to over duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ramp {
    /// Ratio at start-up.
    pub from: f64,
    /// Ratio once the ramp is over.
    pub to: f64,
    /// How long the ramp takes.
    pub over: Duration,
}

impl Ramp {
    fn at(&self, elapsed: Duration) -> f64 {
        if self.over.is_zero() || elapsed >= self.over {
            return self.to;
        }
        let t = elapsed.as_secs_f64() / self.over.as_secs_f64();
        self.from + (self.to - self.from) * t
    }
}

/// Parse `0.1..1.0 over 10m` (the duration in keepsight's one grammar).
pub fn parse_ramp(s: &str) -> Result<Ramp, String> {
    let (range, over) = s.split_once(" over ").ok_or_else(|| {
        format!("`{s}`: expected `FROM..TO over DURATION`, e.g. `0.1..1.0 over 10m`")
    })?;
    let (from, to) = range
        .trim()
        .split_once("..")
        .ok_or_else(|| format!("`{range}`: expected `FROM..TO`"))?;
    let from = parse_ratio(from.trim())?;
    let to = parse_ratio(to.trim())?;
    let over = keepsight_keepalive::parse_duration(over.trim())
        .map_err(|e| format!("`{}`: {e}", over.trim()))?;
    Ok(Ramp { from, to, over })
}

/// A share between 0 and 1 inclusive.
pub fn parse_ratio(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}`: not a number between 0 and 1"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("`{s}`: ratio must be between 0 and 1"));
    }
    Ok(v)
}

#[derive(Debug)]
struct RampState {
    ramp: Ramp,
    started: Instant,
}

/// The drain controller shared by every connection of a server.
#[derive(Debug, Default)]
pub struct Drain {
    /// Current fixed ratio as a fraction of 2^32; 0 means off.
    ratio: AtomicU64,
    ramping: AtomicBool,
    ramp: Mutex<Option<RampState>>,
    acc: AtomicU64,
}

impl Drain {
    /// A controller closing `ratio` of the responses that would keep their connection.
    pub fn new(ratio: f64) -> Self {
        let d = Drain::default();
        d.set_ratio(ratio);
        d
    }

    /// Set a fixed ratio, cancelling any ramp.
    pub fn set_ratio(&self, ratio: f64) {
        let ratio = ratio.clamp(0.0, 1.0);
        if let Ok(mut r) = self.ramp.lock() {
            *r = None;
        }
        self.ramping.store(false, Ordering::Release);
        self.ratio
            .store((ratio * ONE as f64).round() as u64, Ordering::Release);
    }

    /// Start a ramp now.
    pub fn set_ramp(&self, ramp: Ramp) {
        if let Ok(mut r) = self.ramp.lock() {
            *r = Some(RampState {
                ramp,
                started: Instant::now(),
            });
        }
        self.ramping.store(true, Ordering::Release);
    }

    /// The ratio in force now.
    pub fn ratio(&self) -> f64 {
        self.ratio_fixed() as f64 / ONE as f64
    }

    /// The ramp in force, with how far it has got.
    pub fn ramp(&self) -> Option<(Ramp, Duration)> {
        let r = self.ramp.lock().ok()?;
        r.as_ref().map(|s| (s.ramp, s.started.elapsed()))
    }

    fn ratio_fixed(&self) -> u64 {
        if self.ramping.load(Ordering::Acquire) {
            if let Ok(r) = self.ramp.lock() {
                if let Some(s) = r.as_ref() {
                    let v = s.ramp.at(s.started.elapsed()).clamp(0.0, 1.0);
                    return (v * ONE as f64).round() as u64;
                }
            }
        }
        self.ratio.load(Ordering::Acquire)
    }

    /// Called once per response that would otherwise keep its connection: should this one
    /// close instead?
    pub fn should_close(&self) -> bool {
        let r = self.ratio_fixed();
        if r == 0 {
            return false;
        }
        if r >= ONE {
            return true;
        }
        let prev = self.acc.fetch_add(r, Ordering::Relaxed);
        (prev.wrapping_add(r) >> 32) != (prev >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_is_exact_within_one() {
        for ratio in [0.0, 0.05, 0.3, 0.5, 0.999, 1.0] {
            let d = Drain::new(ratio);
            let closed = (0..2000).filter(|_| d.should_close()).count();
            let want = 2000.0 * ratio;
            assert!(
                (closed as f64 - want).abs() <= 1.0,
                "ratio {ratio}: {closed} closed"
            );
        }
    }

    #[test]
    fn ramp_parses_and_interpolates() {
        let r = parse_ramp("0.1..1.0 over 10m").unwrap();
        assert_eq!(r.over, Duration::from_secs(600));
        assert!((r.at(Duration::from_secs(300)) - 0.55).abs() < 1e-9);
        assert_eq!(r.at(Duration::from_secs(601)), 1.0);
        assert!(parse_ramp("0.1..1.5 over 10m").is_err());
        assert!(parse_ramp("0.1 over 10m").is_err());
        let bad_unit = parse_ramp("0..1 over 10x").unwrap_err();
        assert!(
            bad_unit.starts_with("`10x`: invalid duration `10x`: unknown unit `x`"),
            "{bad_unit}"
        );
    }
}
