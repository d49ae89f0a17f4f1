//! Who a connection is, in the few bytes an idle connection can afford: kept by its task and,
//! while parked, by the parked set.

use std::net::SocketAddr;

/// Who a connection is; kept for its whole life, so kept small: an idle keep-alive client's
/// task (or its parked slot) holds it.
#[derive(Clone, Copy)]
pub(crate) struct ConnInfo {
    pub(crate) conn_id: u64,
    /// Nanoseconds from the listener's listener's shared epoch to the accept (584 years of range).
    pub(crate) started_ns: u64,
    pub(crate) peer: CompactAddr,
}

/// A peer address in 24 bytes instead of `SocketAddr`'s 32 (IPv6 flow info is not kept; it
/// is not part of the address and nothing here uses it).
#[derive(Clone, Copy)]
pub(crate) struct CompactAddr {
    ip: [u8; 16],
    scope_id: u32,
    port: u16,
    v6: bool,
}

impl CompactAddr {
    pub(crate) fn new(a: SocketAddr) -> Self {
        match a {
            SocketAddr::V4(a) => {
                let mut ip = [0u8; 16];
                ip[..4].copy_from_slice(&a.ip().octets());
                CompactAddr {
                    ip,
                    scope_id: 0,
                    port: a.port(),
                    v6: false,
                }
            }
            SocketAddr::V6(a) => CompactAddr {
                ip: a.ip().octets(),
                scope_id: a.scope_id(),
                port: a.port(),
                v6: true,
            },
        }
    }

    pub(crate) fn get(self) -> SocketAddr {
        if self.v6 {
            let ip = std::net::Ipv6Addr::from(self.ip);
            SocketAddr::V6(std::net::SocketAddrV6::new(ip, self.port, 0, self.scope_id))
        } else {
            let ip = std::net::Ipv4Addr::new(self.ip[0], self.ip[1], self.ip[2], self.ip[3]);
            SocketAddr::V4(std::net::SocketAddrV4::new(ip, self.port))
        }
    }
}
