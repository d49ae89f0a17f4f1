//! Analysis flag bits, with the same values as Wireshark's `TCP_A_*` constants, so that a
//! bitmask means the same thing in both tools.

/// A set of `tcp.analysis.*` flags: the one definition of these bits in the workspace, values
/// in [`flag`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnalysisFlags(pub u32);

/// The bits of an [`AnalysisFlags`], with Wireshark's `TCP_A_*` values.
pub mod flag {
    /// `[TCP Retransmission]`: data sent again after a timeout.
    pub const RETRANSMISSION: u32 = 0x0001;
    /// `[TCP Previous segment not captured]`: a gap before this segment's sequence number.
    pub const LOST_PACKET: u32 = 0x0002;
    /// `[TCP ACKed unseen segment]`: the ACK covers data the capture never saw.
    pub const ACK_LOST_PACKET: u32 = 0x0004;
    /// `[TCP Keep-Alive]`: one byte (or none) just below the next expected sequence number.
    pub const KEEP_ALIVE: u32 = 0x0008;
    /// `[TCP Dup ACK]`: the same ACK again, no data, same window.
    pub const DUPLICATE_ACK: u32 = 0x0010;
    /// `[TCP ZeroWindow]`: the receiver has no buffer space left.
    pub const ZERO_WINDOW: u32 = 0x0020;
    /// `[TCP ZeroWindowProbe]`: the sender tests whether a zero window opened.
    pub const ZERO_WINDOW_PROBE: u32 = 0x0040;
    /// `[TCP ZeroWindowProbeAck]`: the answer to a zero-window probe.
    pub const ZERO_WINDOW_PROBE_ACK: u32 = 0x0080;
    /// `[TCP Keep-Alive ACK]`: the answer to a keep-alive, proof the peer is alive.
    pub const KEEP_ALIVE_ACK: u32 = 0x0100;
    /// `[TCP Out-Of-Order]`: data below the highest sequence sent, too soon for a retransmission.
    pub const OUT_OF_ORDER: u32 = 0x0200;
    /// `[TCP Fast Retransmission]`: a retransmission triggered by duplicate ACKs.
    pub const FAST_RETRANSMISSION: u32 = 0x0400;
    /// `[TCP Window Update]`: only the advertised window changed.
    pub const WINDOW_UPDATE: u32 = 0x0800;
    /// `[TCP Window Full]`: this segment fills the receiver's advertised window.
    pub const WINDOW_FULL: u32 = 0x1000;
    /// `[TCP Port numbers reused]`: a SYN starts a new connection on a known port pair.
    pub const REUSED_PORTS: u32 = 0x2000;
    /// `[TCP Spurious Retransmission]`: data sent again that had already been acknowledged.
    pub const SPURIOUS_RETRANSMISSION: u32 = 0x4000;
    /// Any flavour of "this payload was sent before" (not out-of-order).
    pub const ANY_RETRANSMISSION: u32 =
        RETRANSMISSION | FAST_RETRANSMISSION | SPURIOUS_RETRANSMISSION;
}

impl AnalysisFlags {
    /// True when any of the bits `f` (see [`flag`]) is set.
    #[inline]
    pub fn has(self, f: u32) -> bool {
        self.0 & f != 0
    }
    /// True when no flag is set: tshark shows no analysis items for the segment.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The Info-column prefixes tshark prepends, in the order they appear on screen.
    ///
    /// tshark prepends each label in its print order (reused ports, retransmission family,
    /// lost/ACKed-unseen, window, keep-alive, duplicate ACK, zero window), so the label printed
    /// last appears first.
    pub fn info_prefixes(self, dupack: Option<(u32, u32)>, out: &mut String) {
        let mut labels: [&str; 16] = [""; 16];
        let mut n = 0;
        let mut push = |s: &'static str| {
            labels[n] = s;
            n += 1;
        };
        use flag::*;
        if self.has(REUSED_PORTS) {
            push("[TCP Port numbers reused] ");
        }
        if self.has(RETRANSMISSION) {
            push("[TCP Retransmission] ");
        }
        if self.has(FAST_RETRANSMISSION) {
            push("[TCP Fast Retransmission] ");
        }
        if self.has(SPURIOUS_RETRANSMISSION) {
            push("[TCP Spurious Retransmission] ");
        }
        if self.has(OUT_OF_ORDER) {
            push("[TCP Out-Of-Order] ");
        }
        if self.has(LOST_PACKET) {
            push("[TCP Previous segment not captured] ");
        }
        if self.has(ACK_LOST_PACKET) {
            push("[TCP ACKed unseen segment] ");
        }
        if self.has(WINDOW_UPDATE) {
            push("[TCP Window Update] ");
        }
        if self.has(WINDOW_FULL) {
            push("[TCP Window Full] ");
        }
        if self.has(KEEP_ALIVE) {
            push("[TCP Keep-Alive] ");
        }
        if self.has(KEEP_ALIVE_ACK) {
            push("[TCP Keep-Alive ACK] ");
        }
        let dup_label = self.has(DUPLICATE_ACK) && dupack.is_some();
        if dup_label {
            push("");
        }
        if self.has(ZERO_WINDOW_PROBE) {
            push("[TCP ZeroWindowProbe] ");
        }
        if self.has(ZERO_WINDOW) {
            push("[TCP ZeroWindow] ");
        }
        if self.has(ZERO_WINDOW_PROBE_ACK) {
            push("[TCP ZeroWindowProbeAck] ");
        }
        for label in labels[..n].iter().rev() {
            if label.is_empty() {
                if let Some((frame, num)) = dupack {
                    use std::fmt::Write;
                    let _ = write!(out, "[TCP Dup ACK {frame}#{num}] ");
                }
            } else {
                out.push_str(label);
            }
        }
    }
}
