//! TLS to PostgreSQL (rustls), with libpq's `sslmode` meanings.
//!
//! The connection string takes libpq's TLS options: `sslmode` = `disable`, `allow`,
//! `prefer` (the default), `require`, `verify-ca` or `verify-full`, and `sslrootcert` (a PEM
//! file of the CAs to trust; without it, the system's). tokio-postgres itself knows only
//! `disable`, `prefer` and `require`, so the others are read here and taken out of the string.
//! As in libpq:
//!
//! - `prefer` and `require` encrypt without checking who answers (a passive eavesdropper
//!   learns nothing; an active one can pose as the server), unless `sslrootcert` is given,
//!   which makes `require` a `verify-ca`;
//! - `verify-ca` checks that the server's certificate chains to a trusted CA;
//! - `verify-full` also checks that it was issued for the host connected to. Use it whenever
//!   the database is reached over a network you do not control.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connector every PostgreSQL connection of the store uses.
pub type Connector = MakeRustlsConnect;

/// What the server's certificate is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Nothing (`prefer`, `require`: encrypted, not authenticated).
    Nothing,
    /// That it chains to a trusted CA (`verify-ca`).
    Ca,
    /// That it chains to a trusted CA and names the host (`verify-full`).
    Full,
}

/// Why a connection string cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Not a connection string tokio-postgres reads.
    #[error("the database URL is not a PostgreSQL connection string")]
    Parse(#[source] tokio_postgres::Error),
    /// An option with a value libpq does not define.
    #[error("the database URL's {option} is {value:?}; expected one of {expected}")]
    Value {
        /// The option.
        option: &'static str,
        /// What it was.
        value: String,
        /// What it may be.
        expected: &'static str,
    },
    /// The `sslrootcert` file.
    #[error("reading the CA certificates of sslrootcert {path}")]
    RootCert {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        cause: rustls::pki_types::pem::Error,
    },
    /// No CA to trust.
    #[error("{0}")]
    NoRoots(String),
    /// rustls refused the settings.
    #[error("TLS settings for PostgreSQL")]
    Rustls(#[source] rustls::Error),
}

/// A connection string read: the settings for tokio-postgres and how TLS is checked.
pub struct Target {
    /// The settings (with `sslmode` as tokio-postgres knows it).
    pub config: tokio_postgres::Config,
    /// What the server's certificate is checked for.
    pub verify: Verify,
    /// The `sslmode` as libpq names it (for messages).
    pub mode: String,
    /// The connector.
    pub tls: Connector,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("verify", &self.verify)
            .field("sslmode", &self.config.get_ssl_mode())
            .finish_non_exhaustive()
    }
}

/// Reads `url` (a `postgres://` URL or a `key=value` string).
pub fn target(url: &str) -> Result<Target, TlsError> {
    let (rest, mode, root) = take_tls_options(url);
    let mut config: tokio_postgres::Config = rest.parse().map_err(TlsError::Parse)?;
    let mode = mode.unwrap_or_else(|| "prefer".to_string());
    // With a CA given, `prefer` and `require` check the chain (libpq does for `require`).
    let (ssl_mode, verify) = match (mode.as_str(), root.is_some()) {
        ("disable", _) => (SslMode::Disable, Verify::Nothing),
        ("prefer", with_ca) => (
            SslMode::Prefer,
            if with_ca { Verify::Ca } else { Verify::Nothing },
        ),
        ("require", with_ca) => (
            SslMode::Require,
            if with_ca { Verify::Ca } else { Verify::Nothing },
        ),
        ("verify-ca", _) => (SslMode::Require, Verify::Ca),
        ("verify-full", _) => (SslMode::Require, Verify::Full),
        (other, _) => {
            return Err(TlsError::Value {
                option: "sslmode",
                value: other.to_string(),
                expected: "disable, allow, prefer, require, verify-ca, verify-full",
            })
        }
    };
    config.ssl_mode(ssl_mode);
    let tls = connector(verify, root.as_deref())?;
    Ok(Target {
        config,
        verify,
        mode,
        tls,
    })
}

/// Takes `sslmode` and `sslrootcert` out of a URL's query or a `key=value` string (the
/// caller sets the mode itself); `allow` is read as `prefer` (TLS when the server offers it).
fn take_tls_options(url: &str) -> (String, Option<String>, Option<PathBuf>) {
    let mut mode = None;
    let mut root = None;
    let mut take = |key: &str, value: String| -> bool {
        match key {
            "sslmode" => {
                mode = Some(if value == "allow" {
                    "prefer".to_string()
                } else {
                    value
                });
                true
            }
            "sslrootcert" => {
                root = Some(PathBuf::from(value));
                true
            }
            _ => false,
        }
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            None => url.to_string(),
            Some((base, query)) => {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|pair| {
                        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                        !take(k, percent_decode(v))
                    })
                    .collect();
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        // key=value pairs; values with spaces are quoted ('...') and kept as they are.
        split_key_values(url)
            .into_iter()
            .filter(|word| match word.split_once('=') {
                Some((k, v)) => !take(k.trim(), unquote(v.trim())),
                None => true,
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    (rest, mode, root)
}

/// The words of a `key=value` string, a quoted value ('a b', with \' and \\) kept whole.
fn split_key_values(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                word.push(c);
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            '\'' => {
                quoted = !quoted;
                word.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace("\\'", "'").replace("\\\\", "\\"),
        None => v.to_string(),
    }
}

/// `%XX` escapes of a URL query value decoded (an invalid one is kept as it is).
fn percent_decode(v: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The CAs to trust: `root`'s, else the system's.
fn roots(root: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    match root {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect())
                .map_err(|cause| TlsError::RootCert {
                    path: path.to_path_buf(),
                    cause,
                })?;
            let (_, bad) = store.add_parsable_certificates(certs);
            if store.is_empty() {
                return Err(TlsError::NoRoots(format!(
                    "sslrootcert {} holds no usable CA certificate ({bad} unparsable)",
                    path.display()
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(TlsError::NoRoots(
                    "no system CA certificates found to check the database's certificate; \
                     give the CA with sslrootcert=/path/to/ca.pem in the database URL"
                        .into(),
                ));
            }
        }
    }
    Ok(store)
}

fn connector(verify: Verify, root: Option<&Path>) -> Result<Connector, TlsError> {
    let provider = provider();
    let webpki = match verify {
        Verify::Nothing => None,
        Verify::Ca | Verify::Full => Some(
            WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(root)?),
                Arc::clone(&provider),
            )
            .build()
            .map_err(|e| TlsError::NoRoots(format!("the CA certificates: {e}")))?,
        ),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Checker {
            webpki,
            any_name: verify != Verify::Full,
            provider,
        }))
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Checks the server's certificate as the `sslmode` says. The handshake's signatures are
/// always checked (the session is encrypted to the holder of the certificate's key); the
/// certificate's chain only with `webpki` (`verify-ca`, `verify-full`), and its name unless
/// `any_name` (`verify-ca`).
#[derive(Debug)]
struct Checker {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    any_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Checker {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.any_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_options_are_read_and_taken_out() {
        let (rest, mode, root) = take_tls_options(
            "postgres://u:p@db:5432/maestro?sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20x.pem&application_name=m",
        );
        assert_eq!(rest, "postgres://u:p@db:5432/maestro?application_name=m");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root, Some(PathBuf::from("/etc/ca x.pem")));

        let (rest, mode, _) = take_tls_options("postgres://db/maestro?sslmode=require");
        assert_eq!(rest, "postgres://db/maestro");
        assert_eq!(mode.as_deref(), Some("require"));

        let (rest, mode, _) = take_tls_options("postgres://db/maestro?sslmode=allow");
        assert_eq!(rest, "postgres://db/maestro");
        assert_eq!(mode.as_deref(), Some("prefer"));

        let (rest, mode, root) = take_tls_options(
            "host=db dbname=maestro password='a b\\'c' sslmode=verify-ca sslrootcert='/etc/my ca.pem'",
        );
        assert_eq!(rest, "host=db dbname=maestro password='a b\\'c'");
        assert_eq!(mode.as_deref(), Some("verify-ca"));
        assert_eq!(root, Some(PathBuf::from("/etc/my ca.pem")));
    }

    #[test]
    fn modes_map_to_what_is_checked() {
        let t = target("postgres://db/m").expect("default");
        assert_eq!(t.verify, Verify::Nothing);
        assert_eq!(t.config.get_ssl_mode(), SslMode::Prefer);
        let t = target("postgres://db/m?sslmode=disable").expect("disable");
        assert_eq!(t.config.get_ssl_mode(), SslMode::Disable);
        let t = target("postgres://db/m?sslmode=require").expect("require");
        assert_eq!(
            (t.config.get_ssl_mode(), t.verify),
            (SslMode::Require, Verify::Nothing)
        );
        let t = target("host=db sslmode=verify-full").expect("verify-full");
        assert_eq!(
            (t.config.get_ssl_mode(), t.verify),
            (SslMode::Require, Verify::Full)
        );
        let e = target("postgres://db/m?sslmode=sometimes").expect_err("bad mode");
        assert!(e.to_string().contains("sslmode"), "{e}");
        let e = target("postgres://db/m?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
            .expect_err("missing CA file");
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }
}
