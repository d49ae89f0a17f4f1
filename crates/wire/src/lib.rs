//! Packet dissection: zero-copy, typed views over the bytes of one captured frame.
//!
//! [`dissect`] walks a frame from its link layer (Ethernet with 802.1Q/QinQ tags, Linux cooked
//! SLL and SLL2, BSD null/loopback, raw IP) through IPv4 (options, fragments) or IPv6 (extension
//! headers) to TCP or UDP, and records *where* each layer is — a few offsets in a `Copy` struct,
//! no allocation. Field values are read on demand through views such as [`TcpHeader`], in the
//! style of smoltcp's `wire` module.
//!
//! Lengths follow tshark: a layer's *reported* length comes from the headers (IPv4 total length,
//! IPv6 payload length), not from how many bytes the capture kept, so a frame cut by a snap
//! length still has the right `tcp.len`.
//!
//! What this crate is not: it keeps no state between packets (stream tracking lives in
//! `keepsight-tcp`) and it does not dissect application protocols.

mod big_endian;
mod dissect;
mod views;

pub use dissect::{dissect, Dissection, Fragment, Link, Network, Problem, Transport};
pub use views::{Ipv4Header, Ipv6Header, TcpFlags, TcpHeader, TcpOption, TcpOptions, UdpHeader};
