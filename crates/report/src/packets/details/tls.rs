//! The `Transport Layer Security` subtree of a frame whose records are all encrypted or
//! without a body to dissect (application data, Change Cipher Spec, encrypted handshake
//! messages and alerts), each record whole in the frame, as tshark 4.0.17 prints it.
//!
//! A frame with a cleartext handshake message (hellos with their extensions, certificates with
//! their X.509 tree, key exchanges), a cleartext alert or heartbeat, a record gathered over
//! several segments, or records decrypted with a key log has no TLS subtree: keepsight does
//! not dissect those parts as tshark does, and prints nothing rather than a partial tree.

use super::link::Hex;
use super::tree::Tree;
use keepsight_engine::Frame;
use keepsight_tls::{ContentType, SegmentRole};

/// `TLSv1.2`, as tshark names a record layer by the session's version.
fn layer_name(version: u16) -> Option<&'static str> {
    Some(match version {
        0x0300 => "SSLv3",
        0x0301 => "TLSv1",
        0x0302 => "TLSv1.1",
        0x0303 => "TLSv1.2",
        0x0304 => "TLSv1.3",
        _ => return None,
    })
}

/// `TLS 1.2`, as tshark names a record's version.
fn version_name(version: u16) -> Option<&'static str> {
    Some(match version {
        0x0300 => "SSL 3.0",
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => return None,
    })
}

/// True when keepsight prints `f`'s TLS subtree as tshark does.
/// `named`: the stream's application data is named after a protocol by tshark (not printed).
pub(super) fn printable(f: &Frame<'_>, named: bool) -> bool {
    let Some(tls) = &f.tls else {
        return false;
    };
    if tls.role != SegmentRole::Records || tls.assembled.is_some() || tls.decrypted.is_some() {
        return false;
    }
    let mut len = 0;
    for (r, ctx) in tls.records() {
        let simple = match r.content_type() {
            ContentType::CHANGE_CIPHER_SPEC => true,
            ContentType::APPLICATION_DATA => !named,
            ContentType::HANDSHAKE | ContentType::ALERT => ctx.encrypted,
            _ => false,
        };
        let b = r.bytes();
        let version = u16::from_be_bytes([b[1], b[2]]);
        if !simple || layer_name(ctx.version).is_none() || version_name(version).is_none() {
            return false;
        }
        len += b.len();
    }
    // Every payload byte is in a whole record (nothing starts a record for later segments).
    len > 0 && len == f.tcp_payload().len() && f.tcp_len() == Some(len as u32)
}

/// Writes the subtree; call when [`printable`].
pub(super) fn render(f: &Frame<'_>, t: &mut Tree<'_>) {
    let Some(tls) = &f.tls else {
        return;
    };
    t.text(0, "Transport Layer Security");
    for (r, ctx) in tls.records() {
        let b = r.bytes();
        let layer = layer_name(ctx.version).unwrap_or_default();
        let version = u16::from_be_bytes([b[1], b[2]]);
        let fragment = &b[5..];
        let ty = r.content_type();
        let (title, type_line, body) = match ty {
            ContentType::CHANGE_CIPHER_SPEC => (
                "Change Cipher Spec Protocol: Change Cipher Spec",
                "Content Type: Change Cipher Spec (20)",
                "Change Cipher Spec Message",
            ),
            ContentType::HANDSHAKE => (
                "Handshake Protocol: Encrypted Handshake Message",
                "Content Type: Handshake (22)",
                "Handshake Protocol: Encrypted Handshake Message",
            ),
            ContentType::ALERT => (
                "Encrypted Alert",
                "Content Type: Alert (21)",
                "Alert Message: Encrypted Alert",
            ),
            _ if ctx.opaque => (
                "Application Data Protocol: Application Data",
                "Opaque Type: Application Data (23)",
                "",
            ),
            _ => (
                "Application Data Protocol: Application Data",
                "Content Type: Application Data (23)",
                "",
            ),
        };
        t.line(1, format_args!("{layer} Record Layer: {title}"));
        t.text(2, type_line);
        t.line(
            2,
            format_args!(
                "Version: {} (0x{version:04x})",
                version_name(version).unwrap_or_default()
            ),
        );
        t.num(2, "Length: ", fragment.len() as u64, "");
        if body.is_empty() {
            t.line(
                2,
                format_args!("Encrypted Application Data: {}", Hex(fragment)),
            );
        } else {
            t.text(2, body);
        }
    }
}
