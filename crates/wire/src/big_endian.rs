//! Network byte order reads shared by the dissector and the header views.

/// Reads a big-endian u16 at `i`. Callers have checked the bounds.
#[inline(always)]
pub(crate) fn be16(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

/// Reads a big-endian u32 at `i`. Callers have checked the bounds.
#[inline(always)]
pub(crate) fn be32(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}
