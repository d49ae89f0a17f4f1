//! Time stamps as tshark keeps them: whole seconds and nanoseconds side by side, never
//! normalised.
//!
//! A classic pcap record whose fraction field says a second or more (a broken writer) keeps
//! that fraction in tshark: `frame.time_epoch` prints `1700000000.1000000000`, and every time
//! computed from it (time since the first frame, since the previous one, since the stream's
//! first frame) is a seconds/nanoseconds pair whose nanoseconds may lie outside 0..10⁹.
//! keepsight counts time in plain nanoseconds everywhere else; this type exists only so such
//! odd values print and compare as tshark's do. Ordinary time stamps never need it.

/// tshark's `nstime_t`: `secs` and `nsecs` as two numbers; the instant is
/// `secs × 10⁹ + nsecs` nanoseconds, but `nsecs` need not lie in `0..10⁹`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NsTime {
    /// Whole seconds since the epoch (or of a duration), as tshark stores them.
    pub secs: i64,
    /// Nanoseconds added to `secs`; outside `0..10⁹` only when a capture writer was broken.
    pub nsecs: i32,
}

use keepsight_time::NS;

impl NsTime {
    /// The ordinary (normalised) form of a nanosecond count; negative counts get a negative
    /// fraction, as tshark's own differences do.
    pub fn from_ns(ns: i64) -> NsTime {
        NsTime {
            secs: ns / NS,
            nsecs: (ns % NS) as i32,
        }
    }

    /// The nanosecond count this pair stands for.
    pub fn ns(self) -> i64 {
        self.secs * NS + i64::from(self.nsecs)
    }

    /// True when the pair is the ordinary form of its nanosecond count, i.e. a plain count
    /// prints and compares the same way.
    pub fn is_normal(self) -> bool {
        NsTime::from_ns(self.ns()) == self
    }

    /// `b − a` the way tshark's `nstime_delta` computes it: seconds and nanoseconds subtracted
    /// separately, then one second borrowed or carried only to give both parts the same sign.
    /// An out-of-range fraction on either side therefore survives into the difference
    /// (`20.1000000000 − 20.000000000` is `0.1000000000`, not `1.000000000`).
    pub fn delta(b: NsTime, a: NsTime) -> NsTime {
        let secs = b.secs - a.secs;
        let mut nsecs = i64::from(b.nsecs) - i64::from(a.nsecs);
        let mut secs = secs;
        if secs > 0 && nsecs < 0 {
            nsecs += NS;
            secs -= 1;
        } else if secs < 0 && nsecs > 0 {
            nsecs -= NS;
            secs += 1;
        }
        // tshark's int arithmetic wraps; so does this.
        NsTime {
            secs,
            nsecs: nsecs as i32,
        }
    }
}

/// How tshark 4.0's `nstime_cmp` orders two times, which display filters use: the unset time
/// (0 s and `i32::MAX` ns) below every other; otherwise by seconds (their difference cut to a C
/// int), and at equal seconds by the nanoseconds' difference in wrapping C int arithmetic. For
/// ordinary times that is plain ordering; with an out-of-range fraction it is not even
/// transitive (`0.1999999000` is not above `-0.5`, `-0.2147483296` is above `0.95`), and
/// matching tshark means doing the same.
pub fn tshark_cmp(a: NsTime, b: NsTime) -> std::cmp::Ordering {
    let unset = |t: NsTime| t.secs == 0 && t.nsecs == i32::MAX;
    match (unset(a), unset(b)) {
        (true, true) => return std::cmp::Ordering::Equal,
        (true, false) => return std::cmp::Ordering::Less,
        (false, true) => return std::cmp::Ordering::Greater,
        _ => {}
    }
    let c = if a.secs == b.secs {
        a.nsecs.wrapping_sub(b.nsecs)
    } else {
        a.secs.wrapping_sub(b.secs) as i32
    };
    c.cmp(&0)
}

/// Appends `t` as tshark prints a signed time (`display_signed_time`) with `digits` fraction
/// digits: a negative fraction is printed as its absolute value, with a `-` in front when the
/// seconds do not already carry one; a fraction of a second or more prints all its digits
/// (`0.1000000000`).
pub fn push_signed(out: &mut String, t: NsTime, digits: u32) {
    let mut frac = i64::from(t.nsecs);
    if frac < 0 {
        frac = -frac;
        if t.secs >= 0 {
            out.push('-');
        }
    }
    out.push_str(itoa::Buffer::new().format(t.secs));
    push_fraction(out, frac, digits);
}

/// `.` and `frac` (ns) cut to `digits` digits, zero-padded; C's `%0*d` of a signed value.
pub fn push_fraction(out: &mut String, frac: i64, digits: u32) {
    use std::fmt::Write;
    if digits > 0 {
        // Integer division truncates towards zero, as C's does.
        let scaled = frac / 10i64.pow(9 - digits.min(9));
        let _ = write!(out, ".{scaled:0width$}", width = digits as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64, nsecs: i32) -> NsTime {
        NsTime { secs, nsecs }
    }

    fn signed(x: NsTime, digits: u32) -> String {
        let mut s = String::new();
        push_signed(&mut s, x, digits);
        s
    }

    #[test]
    fn delta_keeps_an_out_of_range_fraction() {
        // Values checked against tshark 4.0.17 on tests/corpus/crafted/time-fraction.pcap.
        assert_eq!(
            NsTime::delta(t(1_700_000_000, 1_000_000_000), t(1_700_000_000, 0)),
            t(0, 1_000_000_000)
        );
        assert_eq!(
            NsTime::delta(
                t(1_700_000_000, 1_000_000_000),
                t(1_700_000_000, 999_999_000)
            ),
            t(0, 1000)
        );
        assert_eq!(
            NsTime::delta(t(1_700_000_001, 500_000_000), t(1_700_000_000, -1000)),
            t(1, 500_001_000)
        );
        assert_eq!(
            NsTime::delta(t(1_699_999_999, 705_032_704), t(1_700_000_001, 500_000_000)),
            t(-1, -794_967_296)
        );
        assert_eq!(
            NsTime::delta(t(1_700_000_000, -1000), t(1_700_000_000, -1_294_967_296)),
            t(0, 1_294_966_296)
        );
    }

    #[test]
    fn prints_like_display_signed_time() {
        assert_eq!(signed(t(0, 1_000_000_000), 9), "0.1000000000");
        assert_eq!(signed(t(0, 1_000_000_000), 6), "0.1000000");
        assert_eq!(signed(t(0, -2_147_483_296), 9), "-0.2147483296");
        assert_eq!(signed(t(1_700_000_000, -1000), 9), "-1700000000.000001000");
        assert_eq!(signed(t(1_700_000_000, -1000), 6), "-1700000000.000001");
        assert_eq!(signed(t(-1, -794_967_296), 9), "-1.794967296");
        assert_eq!(signed(t(-1, -794_967_296), 6), "-1.794967");
        assert_eq!(signed(NsTime::from_ns(-20_100_000_000), 9), "-20.100000000");
    }

    #[test]
    fn normal_forms() {
        assert!(NsTime::from_ns(1_500_000_000).is_normal());
        assert!(NsTime::from_ns(-1_500_000_000).is_normal());
        assert!(!t(0, 1_000_000_000).is_normal());
        assert!(!t(1, -1).is_normal());
        assert_eq!(NsTime::from_ns(-1_500_000_000), t(-1, -500_000_000));
    }

    #[test]
    fn compares_as_nstime_cmp() {
        use std::cmp::Ordering::*;
        let lit = NsTime::from_ns;
        // Checked with tshark 4.0.17 -Y on tests/corpus/crafted/time-fraction*.pcap.
        assert_eq!(tshark_cmp(t(0, 1_000_000_000), lit(950_000_000)), Greater);
        assert_eq!(tshark_cmp(t(0, 1_000_000_000), lit(1_000_000_000)), Less);
        assert_eq!(tshark_cmp(t(0, -2_147_483_296), lit(950_000_000)), Greater);
        assert_eq!(tshark_cmp(t(0, 1_999_999_000), lit(-500_000_000)), Less);
        assert_eq!(tshark_cmp(t(0, i32::MAX), lit(0)), Less);
        assert_eq!(tshark_cmp(t(0, i32::MAX), t(0, i32::MAX)), Equal);
        assert_eq!(tshark_cmp(lit(3), lit(2)), Greater);
        assert_eq!(tshark_cmp(lit(-1_500_000_000), lit(-1_000_000_000)), Less);
    }
}
