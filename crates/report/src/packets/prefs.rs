//! tshark's `-o NAME:VALUE` for the TCP preferences that change what the listing shows, applied
//! to each frame before it is filtered and printed, as tshark's dissector applies them.

use keepsight_engine::Frame;

/// The TCP preferences of tshark 4.0.17 that `-o` accepts, with tshark's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpPreferences {
    /// `tcp.relative_sequence_numbers` (TRUE): seq/ack/nxtseq (and SACK edges in Info)
    /// relative to the stream's first; FALSE shows them as on the wire.
    pub relative_sequence_numbers: bool,
    /// `tcp.analyze_sequence_numbers` (TRUE): the `tcp.analysis.*` fields and expert items;
    /// relative numbers need it too.
    pub analyze_sequence_numbers: bool,
    /// `tcp.calculate_timestamps` (TRUE): `tcp.time_relative` and `tcp.time_delta`.
    pub calculate_timestamps: bool,
    /// `tcp.track_bytes_in_flight` (TRUE): `tcp.analysis.bytes_in_flight` and
    /// `tcp.analysis.push_bytes_sent`.
    pub track_bytes_in_flight: bool,
}

impl Default for TcpPreferences {
    fn default() -> Self {
        TcpPreferences {
            relative_sequence_numbers: true,
            analyze_sequence_numbers: true,
            calculate_timestamps: true,
            track_bytes_in_flight: true,
        }
    }
}

/// Preferences keepsight accepts only at the value its analysis always has: the value and
/// why the other one is refused.
const FIXED: [(&str, bool, &str); 3] = [
    (
        "tcp.check_checksum",
        false,
        "keepsight does not verify TCP checksums (captures taken on the sending host carry offloaded, unfilled ones)",
    ),
    (
        "tcp.desegment_tcp_streams",
        true,
        "keepsight's HTTP analysis always reassembles messages across segments",
    ),
    (
        "tcp.no_subdissector_on_error",
        true,
        "keepsight's HTTP analysis never parses retransmitted or out-of-order bytes twice",
    ),
];

/// tshark's preference naming the NSS key log that decrypts TLS (`-o tls.keylog_file:PATH`).
pub const TLS_KEYLOG_FILE: &str = "tls.keylog_file";

/// The key log path of the last `-o tls.keylog_file:PATH` among `args` (tshark keeps the
/// last value of a preference given twice); an empty path is refused.
pub fn tls_keylog_file(args: &[String]) -> Result<Option<&str>, String> {
    let mut path = None;
    for arg in args {
        if let Some((TLS_KEYLOG_FILE, value)) = arg.split_once(':') {
            if value.is_empty() {
                return Err(format!(
                    "-o {arg}: expected {TLS_KEYLOG_FILE}:PATH, the NSS key log (SSLKEYLOGFILE) to decrypt TLS with"
                ));
            }
            path = Some(value);
        }
    }
    Ok(path)
}

impl TcpPreferences {
    /// The preference names `-o` knows.
    pub const KNOWN: [&'static str; 7] = [
        "tcp.relative_sequence_numbers",
        "tcp.analyze_sequence_numbers",
        "tcp.calculate_timestamps",
        "tcp.check_checksum",
        "tcp.desegment_tcp_streams",
        "tcp.track_bytes_in_flight",
        "tcp.no_subdissector_on_error",
    ];

    /// Reads `-o NAME:VALUE` arguments (VALUE TRUE/FALSE in any case, as tshark); the error
    /// names the preference and, for an unknown one, every known one. The TLS preference
    /// ([`TLS_KEYLOG_FILE`], a path) is left to [`tls_keylog_file`].
    pub fn parse(args: &[String]) -> Result<TcpPreferences, String> {
        let mut prefs = TcpPreferences::default();
        for arg in args {
            let Some((name, value)) = arg.split_once(':') else {
                return Err(format!(
                    "-o {arg}: expected NAME:VALUE, e.g. tcp.relative_sequence_numbers:FALSE"
                ));
            };
            if name == TLS_KEYLOG_FILE {
                continue;
            }
            let value = match value.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(format!("-o {arg}: {name} takes TRUE or FALSE")),
            };
            match name {
                "tcp.relative_sequence_numbers" => prefs.relative_sequence_numbers = value,
                "tcp.analyze_sequence_numbers" => prefs.analyze_sequence_numbers = value,
                "tcp.calculate_timestamps" => prefs.calculate_timestamps = value,
                "tcp.track_bytes_in_flight" => prefs.track_bytes_in_flight = value,
                _ => match FIXED.iter().find(|(fixed, _, _)| *fixed == name) {
                    Some((_, always, _)) if *always == value => {}
                    Some((_, always, why)) => {
                        return Err(format!(
                            "-o {arg}: only {name}:{} is supported: {why}",
                            if *always { "TRUE" } else { "FALSE" }
                        ))
                    }
                    None => {
                        return Err(format!(
                            "-o {arg}: unknown preference; keepsight knows {}, {TLS_KEYLOG_FILE}",
                            Self::KNOWN.join(", ")
                        ))
                    }
                },
            }
        }
        Ok(prefs)
    }

    /// Changes `frame`'s TCP numbers as tshark shows them under these preferences (the Info
    /// column and every field read from the frame follow).
    pub fn apply(&self, frame: &mut Frame<'_>) {
        if *self == TcpPreferences::default() {
            return;
        }
        let Some(header) = frame.tcp_header() else {
            return;
        };
        let Some(t) = frame.tcp.as_mut() else { return };
        if !self.relative_sequence_numbers || !self.analyze_sequence_numbers {
            let base = header.seq().wrapping_sub(t.seq);
            t.seq = header.seq();
            t.nxtseq = t.nxtseq.wrapping_add(base);
            t.ack = header.ack();
        }
        if !self.analyze_sequence_numbers {
            t.flags = Default::default();
            t.has_analysis = false;
            t.acks_frame = 0;
            t.ack_rtt_ns = 0;
            t.initial_rtt_ns = 0;
            t.dupack_num = 0;
            t.dupack_frame = 0;
            t.rto_ns = 0;
            t.rto_frame = 0;
        }
        if !self.analyze_sequence_numbers || !self.track_bytes_in_flight {
            t.bytes_in_flight = 0;
            t.push_bytes_sent = None;
        }
    }
}
