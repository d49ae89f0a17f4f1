//! rustls client and server configurations from PEM files and flags.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The one application protocol the runtime parts speak, as ALPN names it.
pub const HTTP11: &[u8] = b"http/1.1";

/// Sessions a server remembers by ID for TLS 1.2 clients that take no tickets.
const SERVER_SESSIONS: usize = 1024;

/// Why a TLS configuration could not be built; each names the file or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A certificate file could not be read or holds no certificate.
    #[error("certificate file {path}: {why}")]
    Certificates {
        /// The file as given.
        path: PathBuf,
        /// What was wrong.
        why: String,
    },
    /// The private key file could not be read or holds no key.
    #[error("private key file {path}: {why}")]
    Key {
        /// The file as given.
        path: PathBuf,
        /// What was wrong.
        why: String,
    },
    /// rustls refused the combination (a key that does not match the certificate, a CA
    /// certificate it cannot parse).
    #[error("{0}")]
    Rejected(String),
    /// The host name cannot be sent as SNI or checked against a certificate.
    #[error("`{0}` is not a valid TLS server name")]
    ServerName(String),
}

/// The ring provider: it builds in seconds where aws-lc needs cmake and a long C build. rustls
/// marks it deprecated because it lacks the post-quantum key exchange; classic X25519 and the
/// NIST curves are what the servers keepsight probes and fronts offer today.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let bad = |why: String| ConfigError::Certificates {
        path: path.to_path_buf(),
        why,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(pem_error(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(pem_error(e)))?;
    if certs.is_empty() {
        return Err(bad(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
        ));
    }
    Ok(certs)
}

fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(e) => e.to_string(),
        other => format!("not valid PEM ({other})"),
    }
}

/// A client configuration: trusting the CA certificates in `cacert` (PEM) when given, else the
/// Mozilla roots; `insecure` accepts any certificate (signatures are still checked, so the
/// handshake is real; only who signed the certificate is not). ALPN offers `http/1.1`; the
/// session cache is on, so connections made with one configuration resume each other's
/// sessions when the server allows it.
pub fn client_config(
    cacert: Option<&Path>,
    insecure: bool,
) -> Result<Arc<ClientConfig>, ConfigError> {
    let mut roots = RootCertStore::empty();
    match cacert {
        Some(path) => {
            for cert in read_certificates(path)? {
                roots.add(cert).map_err(|e| ConfigError::Certificates {
                    path: path.to_path_buf(),
                    why: format!("not a usable CA certificate ({e})"),
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = provider();
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Rejected(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    if insecure {
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(AnyCertificate(provider)));
    }
    config.alpn_protocols = vec![HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// A server configuration presenting the certificate chain in `cert` (PEM, leaf first) with
/// the private key in `key` (PEM: PKCS#8, PKCS#1 or SEC1). ALPN answers `http/1.1`; sessions
/// are remembered for resumption.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, ConfigError> {
    let certs = read_certificates(cert)?;
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| ConfigError::Key {
        path: key.to_path_buf(),
        why: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PEM private key (-----BEGIN PRIVATE KEY-----) in it".into()
            }
            other => pem_error(other),
        },
    })?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Rejected(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|e| {
            ConfigError::Rejected(format!(
                "{} and {} do not make a usable certificate and key: {e}",
                cert.display(),
                key.display()
            ))
        })?;
    config.alpn_protocols = vec![HTTP11.to_vec()];
    // Stateless tickets, as nginx uses by default: a resumable session costs the server no
    // memory (a session cache would hold every client's session, some hundreds of bytes
    // each); the ticket keys rotate every six hours. TLS 1.2 clients without tickets still
    // resume by session ID from a small cache.
    config.ticketer = ring::Ticketer::new().map_err(|e| ConfigError::Rejected(e.to_string()))?;
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SERVER_SESSIONS);
    Ok(Arc::new(config))
}

/// The name sent as SNI and checked against the certificate: a DNS name or an IP address
/// (brackets of an IPv6 literal removed).
pub fn server_name(host: &str) -> Result<ServerName<'static>, ConfigError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string()).map_err(|_| ConfigError::ServerName(host.to_string()))
}

/// `--insecure`: any certificate is accepted, but the handshake's signatures are still
/// verified with it, so the connection is real TLS to whoever holds that certificate's key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_take_dns_names_and_ip_literals() {
        assert!(matches!(
            server_name("example.com"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(matches!(
            server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(server_name("[::1]"), Ok(ServerName::IpAddress(_))));
        assert!(server_name("bad name").is_err());
    }

    #[test]
    fn unreadable_or_empty_files_are_named() {
        let dir = std::env::temp_dir().join(format!("tlsio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not pem at all\n").unwrap();
        let e = client_config(Some(&empty), false).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("certificate file {}: no PEM", empty.display())),
            "{e}"
        );
        let missing = dir.join("missing.pem");
        let e = server_config(&missing, &missing).unwrap_err().to_string();
        assert!(
            e.contains("missing.pem") && e.contains("No such file"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
