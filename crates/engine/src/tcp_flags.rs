//! TCP flags as tshark's `tcp.flags.str` writes them.

/// tshark's `tcp.flags.str`: twelve positions, a letter for each set flag, `·` otherwise.
pub fn flags_str(flags: u16, buf: &mut [u8; 36]) -> &str {
    const LETTERS: [u8; 12] = *b"RRRACEUAPRSF";
    let mut n = 0;
    for (i, &letter) in LETTERS.iter().enumerate() {
        let set = flags & (0x800 >> i) != 0;
        if set {
            buf[n] = letter;
            n += 1;
        } else {
            // U+00B7 MIDDLE DOT in UTF-8.
            buf[n] = 0xc2;
            buf[n + 1] = 0xb7;
            n += 2;
        }
    }
    std::str::from_utf8(&buf[..n]).unwrap_or("")
}
