//! Link-layer header types (tcpdump.org LINKTYPE_* values) this project dissects, and the
//! sanity check every reader applies to the link type a file declares.

use crate::error::{CaptureError, ErrorKind};

/// BSD loopback: a 4-byte host-order address family, then IP.
pub const NULL: u32 = 0;
/// Ethernet II / 802.3 frames, optionally 802.1Q-tagged.
pub const ETHERNET: u32 = 1;
/// Bare IPv4 or IPv6 packets, told apart by the version nibble.
pub const RAW: u32 = 101;
/// OpenBSD loopback: like [`NULL`] with the address family in network byte order.
pub const LOOP: u32 = 108;
/// Linux "cooked" capture v1 (`tcpdump -i any` before libpcap 1.10).
pub const LINUX_SLL: u32 = 113;
/// Bare IPv4 packets.
pub const IPV4: u32 = 228;
/// Bare IPv6 packets.
pub const IPV6: u32 = 229;
/// Linux "cooked" capture v2 (`-i any` since libpcap 1.10), which adds the interface index.
pub const LINUX_SLL2: u32 = 276;
/// OpenBSD/older libpcap alias of RAW.
pub const RAW_ALT_12: u32 = 12;
/// Another platform-specific alias of [`RAW`] found in old files.
pub const RAW_ALT_14: u32 = 14;
/// Not a tcpdump link type: marks a pcapng custom block, which tshark shows as a frame.
pub const PCAPNG_CUSTOM_BLOCK: u32 = 0xFFFF_0BAD;

/// Link types are assigned by tcpdump.org in a small range; a value far outside it means the
/// header is damaged or the file comes from a tool with private numbering, and tshark refuses
/// such files at open. Values we cannot dissect but which exist are accepted (frames are still
/// listed and counted).
pub(crate) fn check(link_type: u32, offset: u64, frame: u64) -> Result<(), CaptureError> {
    if link_type > 1000 {
        return Err(CaptureError::new(
            ErrorKind::Unsupported(format!("link type {link_type} is unknown")),
            offset,
            frame,
            "a tcpdump.org LINKTYPE_* value",
        ));
    }
    Ok(())
}
