//! TLS for keepsight's runtime parts (`probe http https://…`, `serve` and `proxy` with
//! `--tls-cert`, the proxy's `https://` upstream): rustls configurations built from PEM files
//! and the usual flags (`--cacert`, `--insecure`), and [`Stream`], one connection that is plain
//! TCP or TLS, so the code above it is written once for both.
//!
//! What it is for: giving every runtime part the same, strict TLS defaults (rustls with the
//! ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`, session resumption on) and the same error
//! words for a certificate that cannot be read or a peer that cannot be trusted.
//!
//! What it is not: TLS analysis of captures (that is `keepsight-tls`), HTTP/2, or client
//! certificates.

pub use rustls;

pub mod config;
pub mod stream;

pub use config::{client_config, server_config, server_name, ConfigError, HTTP11};
pub use stream::{accept, Accepted, Stream, TlsInfo};
