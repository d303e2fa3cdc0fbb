//! HTTPS: rustls (ring) with a PEM certificate chain and key given by the operator, or a
//! self-signed certificate made on first start and kept in the data dir (mode 0600), whose
//! SHA-256 fingerprint the hooks pin (`maestro-hook login --fingerprint`).
//!
//! Plain HTTP on a non-loopback address needs `--allow-plain-http` (a TLS-terminating proxy in
//! front): tokens would otherwise cross the network in clear.

use crate::config::{Config, TlsMode};
use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// File name of the self-signed certificate in the data dir.
pub const SELF_SIGNED_CERT: &str = "tls-self-signed.crt";
/// File name of its private key.
pub const SELF_SIGNED_KEY: &str = "tls-self-signed.key";

/// What the server serves HTTPS with.
pub struct Tls {
    /// The handshake half of the accept loop.
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// SHA-256 of the leaf certificate (`AB:CD:...`), what hooks pin.
    pub fingerprint: String,
    /// The certificate file.
    pub cert_path: PathBuf,
    /// Made by this server (first start) rather than given.
    pub generated: bool,
}

/// Checks the bind against the TLS settings and loads (or makes) the certificate. `None`:
/// plain HTTP (loopback, or explicitly allowed).
pub fn prepare(config: &Config) -> Result<Option<Tls>> {
    let (cert_path, key_path, generated) = match &config.tls {
        TlsMode::Off => {
            if !config.bind.ip().is_loopback() {
                anyhow::ensure!(
                    config.allow_plain_http,
                    "refusing to serve plain HTTP on {} (not a loopback address): hooks and browsers would send their tokens in clear. Serve HTTPS (--tls-cert FILE --tls-key FILE, or --tls-self-signed), or, behind a TLS-terminating proxy, pass --allow-plain-http",
                    config.bind
                );
                tracing::warn!(bind = %config.bind, "serving plain HTTP on a non-loopback address (--allow-plain-http): only safe behind a TLS-terminating proxy");
                eprintln!(
                    "WARNING: plain HTTP on {} (--allow-plain-http): tokens cross the network in clear unless a TLS-terminating proxy is in front",
                    config.bind
                );
            }
            return Ok(None);
        }
        TlsMode::Files { cert, key } => (cert.clone(), key.clone(), false),
        TlsMode::SelfSigned => {
            let cert = config.data_dir.join(SELF_SIGNED_CERT);
            let key = config.data_dir.join(SELF_SIGNED_KEY);
            let made = if cert.exists() && key.exists() {
                false
            } else {
                make_self_signed(&cert, &key, &self_signed_names(config))?;
                true
            };
            (cert, key, made)
        }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .with_context(|| format!("reading certificate {}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing certificate {}", cert_path.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "{} holds no PEM certificate",
        cert_path.display()
    );
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .with_context(|| format!("reading private key {}", key_path.display()))?;
    let fingerprint = fingerprint(&chain[0]);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .with_context(|| {
            format!(
                "the key {} does not fit the certificate {}",
                key_path.display(),
                cert_path.display()
            )
        })?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(Tls {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        fingerprint,
        cert_path,
        generated,
    }))
}

/// SHA-256 of a DER certificate as `AB:CD:...` (what `openssl x509 -fingerprint -sha256`
/// prints).
pub fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Names the self-signed certificate is made for: the loopback names, the bind address, this
/// host's name, `allowed_hosts` and `tls_names`. (A pinned fingerprint does not depend on
/// them; a client that checks names against a CA does.)
fn self_signed_names(config: &Config) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if !config.bind.ip().is_unspecified() {
        names.push(config.bind.ip().to_string());
    }
    if let Some(h) = maestro_shared::envelope::hostname() {
        names.push(h);
    }
    names.extend(config.allowed_hosts.iter().cloned());
    names.extend(config.tls_names.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| !n.is_empty() && seen.insert(n.clone()));
    names
}

fn make_self_signed(cert_path: &Path, key_path: &Path, names: &[String]) -> Result<()> {
    let certified = rcgen::generate_simple_self_signed(names.to_vec())
        .context("making a self-signed certificate")?;
    // A half-made pair from an earlier failed start is replaced.
    for p in [cert_path, key_path] {
        match std::fs::remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", p.display())),
        }
    }
    crate::config::write_secret(key_path, &certified.signing_key.serialize_pem())
        .with_context(|| format!("writing {}", key_path.display()))?;
    crate::config::write_secret(cert_path, &certified.cert.pem())
        .with_context(|| format!("writing {}", cert_path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_colon_separated_upper_hex_sha256() {
        let f = fingerprint(b"abc");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(f.starts_with("BA:78:16:BF"));
    }
}
