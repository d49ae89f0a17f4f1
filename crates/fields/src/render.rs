//! Field values as tshark 4.0.17 prints them with `-T fields`.

use crate::{FieldDef, FieldType, IntBase, Value};
use std::fmt::Write;

/// Appends the tshark text of one value of `def` to `out`.
pub fn render(def: &FieldDef, value: Value<'_>, out: &mut String) {
    match value {
        Value::Present => out.push('1'),
        Value::Bool(b) => out.push(if b { '1' } else { '0' }),
        Value::UInt(v) => match def.base {
            IntBase::Hex => {
                let width = match def.ftype {
                    FieldType::UInt(bits) | FieldType::Int(bits) => (bits as usize).div_ceil(4),
                    _ => 1,
                };
                let _ = write!(out, "0x{v:0width$x}");
            }
            IntBase::Dec => push_u64(out, v),
        },
        Value::Int(v) => {
            let _ = write!(out, "{v}");
        }
        Value::Float(v) => {
            let _ = write!(out, "{v}");
        }
        Value::FrameNum(v) => push_u64(out, v as u64),
        Value::Bytes(b) => push_hex(out, b),
        Value::Protocol { item, .. } => push_hex(out, item),
        Value::Str(s) => out.push_str(s),
        Value::Ipv4(a) => {
            let _ = write!(out, "{}", std::net::Ipv4Addr::from(a));
        }
        Value::Ipv6(a) => {
            let _ = write!(out, "{}", std::net::Ipv6Addr::from(a));
        }
        Value::Ether(m) => {
            let _ = write!(
                out,
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            );
        }
        Value::RelTime(ns) => push_seconds(out, ns, 9),
        Value::AbsTime(ns) => push_abs_time(out, ns),
        Value::RelNsTime(t) => crate::nstime::push_signed(out, t, 9),
        Value::AbsNsTime(t) => push_abs_nstime(out, t),
    }
}

fn push_u64(out: &mut String, v: u64) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Lowercase contiguous hex, as tshark prints byte fields.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
}

/// Seconds with `digits` decimals (truncated, as tshark does): `-20.100000000`, `0.000300`.
pub fn push_seconds(out: &mut String, ns: i64, digits: u32) {
    let neg = ns < 0;
    let abs = ns.unsigned_abs();
    let secs = abs / 1_000_000_000;
    let frac = abs % 1_000_000_000;
    if neg {
        out.push('-');
    }
    push_u64(out, secs);
    if digits > 0 {
        let digits = digits.min(9) as usize;
        let mut scaled = frac / 10u64.pow(9 - digits as u32);
        // The fraction zero-padded to `digits`, without the formatter (hot in -V and -T fields).
        let mut buf = [b'0'; 10];
        buf[0] = b'.';
        for i in (1..=digits).rev() {
            buf[i] = b'0' + (scaled % 10) as u8;
            scaled /= 10;
        }
        out.push_str(std::str::from_utf8(&buf[..=digits]).unwrap_or_default());
    }
}

/// Broken-down local time of an absolute timestamp (ns since the epoch), using the C library's
/// time-zone rules (`TZ`), as tshark does.
#[derive(Clone, Debug)]
pub struct LocalTime {
    /// The calendar year, e.g. 2024.
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// Day of the month, 1..=31.
    pub day: u32,
    /// Day of the year, 1..=366 (the `-t ad`/`ud` "day of year" formats print it).
    pub yday: u32,
    /// 0..=23
    pub hour: u32,
    /// 0..=59
    pub minute: u32,
    /// 0..=60 (a leap second is possible in local time).
    pub second: u32,
    /// The fraction of the second in ns, carried unchanged from the time stamp.
    pub nanos: u32,
    /// The zone abbreviation in effect (`UTC`, `CET`), which `frame.time` prints.
    pub zone: String,
}

/// Converts to local (`utc == false`) or UTC time.
pub fn broken_down(ns: i64, utc: bool) -> LocalTime {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: `tm` is plain data; localtime_r/gmtime_r only write into it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers refer to live locals for the duration of the call.
    let ok = unsafe {
        if utc {
            !libc::gmtime_r(&t, &mut tm).is_null()
        } else {
            !libc::localtime_r(&t, &mut tm).is_null()
        }
    };
    if !ok {
        return LocalTime {
            year: 1970,
            month: 1,
            day: 1,
            yday: 1,
            hour: 0,
            minute: 0,
            second: 0,
            nanos,
            zone: "UTC".into(),
        };
    }
    let zone = if utc || tm.tm_zone.is_null() {
        "UTC".to_string()
    } else {
        // SAFETY: tm_zone points to a NUL-terminated static string owned by libc.
        unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }
            .to_string_lossy()
            .into_owned()
    };
    LocalTime {
        year: tm.tm_year as i64 + 1900,
        month: tm.tm_mon as u32 + 1,
        day: tm.tm_mday as u32,
        yday: tm.tm_yday as u32 + 1,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
        nanos,
        zone,
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Nov 14, 2023 22:13:20.000000000 UTC`, tshark's `frame.time`.
pub fn push_abs_time(out: &mut String, ns: i64) {
    let t = broken_down(ns, false);
    let _ = write!(
        out,
        "{} {:>2}, {} {:02}:{:02}:{:02}.{:09} {}",
        MONTHS[(t.month - 1) as usize],
        t.day,
        t.year,
        t.hour,
        t.minute,
        t.second,
        t.nanos,
        t.zone
    );
}

/// `frame.time` of a time stamp with an out-of-range fraction: the date and clock time of the
/// whole seconds, then the fraction as written (`22:13:20.1000000000`), as tshark prints it.
/// A fraction of exactly `i32::MAX` ns is printed with none at all (`22:13:20 UTC`), as tshark
/// 4.0.17 does.
pub fn push_abs_nstime(out: &mut String, t: crate::NsTime) {
    let b = broken_down(t.secs.saturating_mul(1_000_000_000), false);
    let _ = write!(
        out,
        "{} {:>2}, {} {:02}:{:02}:{:02}",
        MONTHS[(b.month - 1) as usize],
        b.day,
        b.year,
        b.hour,
        b.minute,
        b.second,
    );
    if t.nsecs != i32::MAX {
        let _ = write!(out, ".{:09}", t.nsecs);
    }
    let _ = write!(out, " {}", b.zone);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ids;

    fn r(id: crate::FieldId, v: Value<'_>) -> String {
        let mut s = String::new();
        render(id.def(), v, &mut s);
        s
    }

    #[test]
    fn renders_like_tshark() {
        assert_eq!(r(ids::TCP_FLAGS, Value::UInt(0x18)), "0x0018");
        assert_eq!(r(ids::IP_FLAGS, Value::UInt(2)), "0x02");
        assert_eq!(r(ids::IPV6_FLOW, Value::UInt(0x12345)), "0x012345");
        assert_eq!(r(ids::TCP_LEN, Value::UInt(1460)), "1460");
        assert_eq!(r(ids::TCP_PAYLOAD, Value::Bytes(&[1, 0xab])), "01ab");
        assert_eq!(
            r(ids::TCP_TIME_DELTA, Value::RelTime(300_000_000)),
            "0.300000000"
        );
        assert_eq!(
            r(ids::TCP_TIME_DELTA, Value::RelTime(-20_100_000_000)),
            "-20.100000000"
        );
        assert_eq!(r(ids::TCP_ANALYSIS_KEEP_ALIVE, Value::Present), "1");
        assert_eq!(
            r(
                ids::ETH_SRC,
                Value::Ether([0, 0x11, 0x22, 0x33, 0x44, 0x55])
            ),
            "00:11:22:33:44:55"
        );
    }
}
