//! Addresses on the command line: a leaf module, so the upstream parser (in `proxy`) can use it
//! without depending on the crate root.

use std::net::SocketAddr;

/// Resolves `HOST:PORT` to its first address, for listen, admin and upstream flags.
pub fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    s.to_socket_addrs()
        .map_err(|e| format!("`{s}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{s}`: resolves to no address"))
}
