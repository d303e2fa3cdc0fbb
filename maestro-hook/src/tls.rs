//! HTTPS for the hook: a ureq connector that wraps the TCP connection in rustls (ring) and
//! verifies the server one of three ways:
//!
//! - public CAs (Mozilla's root set, built in: nothing is read from disk per hook call);
//! - a CA file (`MAESTRO_CA_FILE`, PEM): a private CA, or the server's own certificate;
//! - a pinned SHA-256 fingerprint of the server's certificate (`MAESTRO_TLS_FINGERPRINT`):
//!   for a self-signed server certificate. Names and dates are not checked then (the pin
//!   names the exact certificate); the handshake signature still is.
//!
//! The rustls configuration is built on the first `https://` connection only, so a plain
//! `http://` hook call pays nothing for it. Every verification failure names the certificate
//! the server presented (its fingerprint), so a wrong pin or an untrusted certificate is
//! reported clearly; the event is then spooled like any other delivery failure.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use std::fmt;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

/// How the hook verifies an `https://` server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Public CAs (Mozilla's root set, built in).
    PublicRoots,
    /// The CA certificates of a PEM file.
    CaFile(PathBuf),
    /// Exactly the certificate with this SHA-256.
    Pinned([u8; 32]),
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verification::PublicRoots => f.write_str("public CAs (built-in Mozilla root set)"),
            Verification::CaFile(p) => write!(f, "CA file {}", p.display()),
            Verification::Pinned(fp) => write!(f, "pinned certificate SHA-256 {}", hex(fp)),
        }
    }
}

/// Parses a SHA-256 fingerprint: 64 hex digits, with or without `:` separators, optionally
/// prefixed `sha256:` / `SHA256=` (what `openssl x509 -fingerprint -sha256` prints).
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let body = ["sha256 fingerprint=", "sha256:", "sha256=", "sha256/"]
        .iter()
        .find_map(|p| lower.strip_prefix(p))
        .unwrap_or(&lower);
    let digits: String = body.chars().filter(|c| *c != ':' && *c != ' ').collect();
    if digits.len() != 64 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "{t:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)"
        ));
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b =
            u8::from_str_radix(&digits[i * 2..i * 2 + 2], 16).map_err(|e| format!("{t:?}: {e}"))?;
    }
    Ok(out)
}

/// `AB:CD:...`.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn sha256(der: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, der).as_ref());
    out
}

/// The connector: TLS for `https://`, the TCP transport as is otherwise.
#[derive(Debug)]
pub struct TlsConnector {
    /// How to verify; an error (a bad fingerprint setting) refuses every `https://` connection.
    verification: Result<Verification, String>,
    config: OnceLock<Result<Arc<ClientConfig>, String>>,
}

impl TlsConnector {
    /// A connector that verifies servers by `verification`.
    pub fn new(verification: Result<Verification, String>) -> TlsConnector {
        TlsConnector {
            verification,
            config: OnceLock::new(),
        }
    }

    fn client_config(&self) -> Result<Arc<ClientConfig>, String> {
        self.config
            .get_or_init(|| {
                self.verification
                    .clone()
                    .and_then(|v| build_config(&v))
                    .map(Arc::new)
            })
            .clone()
    }
}

fn build_config(verification: &Verification) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match verification {
        Verification::PublicRoots => Some(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
        Verification::CaFile(path) => {
            let mut store = RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("CA file {}: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("CA file {}: {e}", path.display()))?;
                store
                    .add(cert)
                    .map_err(|e| format!("CA file {}: {e}", path.display()))?;
            }
            if store.is_empty() {
                return Err(format!(
                    "CA file {} holds no PEM certificate",
                    path.display()
                ));
            }
            Some(store)
        }
        Verification::Pinned(_) => None,
    };
    let inner = match roots {
        Some(roots) => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("TLS verifier: {e}"))?,
        ),
        None => None,
    };
    let pin = match verification {
        Verification::Pinned(p) => Some(*p),
        _ => None,
    };
    let verifier = Verifier {
        inner,
        pin,
        algorithms: provider.signature_verification_algorithms,
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(config)
}

/// Checks the server's certificate by pin or by roots; names the certificate on failure.
#[derive(Debug)]
struct Verifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    pin: Option<[u8; 32]>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// A certificate error with our own message.
#[derive(Debug)]
struct Refused(String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refused(msg: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
        Arc::new(Refused(msg)),
    )))
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = sha256(end_entity.as_ref());
        if let Some(pin) = &self.pin {
            return if &seen == pin {
                Ok(ServerCertVerified::assertion())
            } else {
                Err(refused(format!(
                    "the server's certificate (SHA-256 {}) is not the pinned one (SHA-256 {}): MAESTRO_TLS_FINGERPRINT is wrong, or something else answers at this address",
                    hex(&seen),
                    hex(pin)
                )))
            };
        }
        let Some(inner) = &self.inner else {
            return Err(refused("no way to verify the server".into()));
        };
        inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| {
                refused(format!(
                    "{e} (the server's certificate has SHA-256 {}; for a self-signed server, pin it with MAESTRO_TLS_FINGERPRINT or `maestro-hook login --fingerprint`, after checking it is the one the server printed)",
                    hex(&seen)
                ))
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let config = self
            .client_config()
            .map_err(|e| ureq::Error::Io(std::io::Error::other(e)))?;
        let host = details.uri.host().unwrap_or_default();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            ureq::Error::Io(std::io::Error::other(format!(
                "{host:?} is not a TLS server name: {e}"
            )))
        })?;
        let mut conn = ClientConnection::new(config, name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned { conn, sock },
        })))
    }
}

/// A TLS connection as a ureq transport.
pub struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport").finish()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_the_usual_spellings() {
        let hexs = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let want = parse_fingerprint(hexs).expect("plain");
        let colons = hex(&want);
        assert_eq!(parse_fingerprint(&colons).expect("colons"), want);
        assert_eq!(
            parse_fingerprint(&format!("sha256:{colons}")).expect("prefix"),
            want
        );
        assert_eq!(
            parse_fingerprint(&format!("SHA256 Fingerprint={colons}")).expect("openssl"),
            want
        );
        assert!(parse_fingerprint("abc").is_err());
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
    }
}
