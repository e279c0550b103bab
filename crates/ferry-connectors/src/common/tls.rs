//! rustls client configurations for the database connectors, from the
//! `sslmode` / `sslrootcert` settings parsed by [`ferry_core::tls`], and the
//! mapping of handshake failures to errors a user can act on.
//!
//! Why our own verifiers: rustls verifies chain and host name together, but
//! libpq's `verify-ca` checks the chain only and `require`/`prefer` without a
//! CA file check nothing (the connection is encrypted, not authenticated).
//! The crypto provider is `ring` (no C toolchain beyond cc, unlike aws-lc-rs).
//!
//! ```text
//!  TlsSettings ─► roots (sslrootcert PEM file, or the built-in web roots)
//!              └► verifier:  Nothing ─ Verifier without roots (signatures still checked)
//!                            Chain ─── Verifier with roots (trust anchor, no name)
//!                            ChainAndName ─ rustls' WebPkiServerVerifier
//! ```

use std::sync::Arc;

use ferry_core::tls::{TlsSettings, Verify};
use ferry_core::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// Largest CA file read (a bundle of every public root is ~250 KiB).
const MAX_CA_FILE_BYTES: u64 = 4 << 20;

/// The crypto provider every Ferry database TLS client uses: ring.
/// rustls 0.23.48 deprecates it because it has no post-quantum key exchange;
/// aws-lc-rs has, but needs cmake and minutes of C build on these machines.
/// Revisit when ring gains ML-KEM or the build can afford aws-lc-rs.
#[allow(deprecated)]
pub(crate) fn ring_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring_provider())
}

/// Reads the PEM certificates of `sslrootcert` (I/O); errors name the field
/// and parameter.
pub(crate) async fn load_ca_file(
    tls: &TlsSettings,
) -> Result<Option<Vec<CertificateDer<'static>>>> {
    let Some(path) = &tls.root_cert else {
        return Ok(None);
    };
    let invalid = |message: String| {
        Error::invalid(
            tls.field.clone(),
            format!("sslrootcert {}: {message}", path.display()),
        )
    };
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| invalid(format!("cannot read the CA file: {e}")))?;
    // A device, FIFO or /proc file reports length 0 and may never end:
    // only regular files, and never more than the limit is read.
    if !meta.is_file() {
        return Err(invalid("is not a regular file".to_string()));
    }
    if meta.len() > MAX_CA_FILE_BYTES {
        return Err(invalid(format!(
            "is {} bytes; a CA file is at most {MAX_CA_FILE_BYTES}",
            meta.len()
        )));
    }
    let mut pem = Vec::new();
    {
        use tokio::io::AsyncReadExt;
        tokio::fs::File::open(path)
            .await
            .map_err(|e| invalid(format!("cannot read the CA file: {e}")))?
            .take(MAX_CA_FILE_BYTES + 1)
            .read_to_end(&mut pem)
            .await
            .map_err(|e| invalid(format!("cannot read the CA file: {e}")))?;
    }
    if pem.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(invalid(format!(
            "is larger than {MAX_CA_FILE_BYTES} bytes, the most a CA file may be"
        )));
    }
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("is not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_string(),
        ));
    }
    Ok(Some(certs))
}

/// The trusted roots: the CA file's certificates, or the built-in web roots.
async fn roots(tls: &TlsSettings) -> Result<RootCertStore> {
    match load_ca_file(tls).await? {
        Some(certs) => {
            let mut store = RootCertStore::empty();
            for cert in certs {
                store.add(cert).map_err(|e| {
                    Error::invalid(
                        tls.field.clone(),
                        format!(
                            "sslrootcert {}: a certificate cannot be a trust anchor: {e}",
                            tls.root_cert
                                .as_ref()
                                .map(|p| p.display().to_string())
                                .unwrap_or_default()
                        ),
                    )
                })?;
            }
            Ok(store)
        }
        None => Ok(RootCertStore::from_iter(
            webpki_roots::TLS_SERVER_ROOTS.iter().cloned(),
        )),
    }
}

/// The rustls client configuration for `tls` (reads the CA file). Call it
/// only for modes that use TLS.
pub(crate) async fn client_config(tls: &TlsSettings) -> Result<Arc<ClientConfig>> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("the TLS provider: {e}")))?;
    let config = match tls.verify() {
        Verify::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier {
                roots: None,
                provider,
            }))
            .with_no_client_auth(),
        Verify::Chain => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier {
                roots: Some(Arc::new(roots(tls).await?)),
                provider,
            }))
            .with_no_client_auth(),
        Verify::ChainAndName => builder
            .with_root_certificates(roots(tls).await?)
            .with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A verifier for the modes rustls has no built-in for. The handshake
/// signatures are always checked (the key exchange is with the holder of the
/// presented certificate's key); `roots` decides the chain:
/// * `None` — `require`/`prefer` without a CA file: any certificate;
/// * `Some` — `verify-ca`: the chain must lead to a trusted root and be
///   valid now; the host name is not compared.
#[derive(Debug)]
struct Verifier {
    roots: Option<Arc<RootCertStore>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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

/// The rustls error somewhere in `err`'s source chain (drivers wrap it in
/// an `io::Error`, whose `source()` skips the wrapped error itself).
pub(crate) fn rustls_cause<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(r) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(r);
        }
        current = e.source();
    }
    None
}

/// A failed handshake as Ferry's error: an untrusted or misnamed
/// certificate is an [`Error::Auth`] (retrying will not help; the CA file
/// or the URL must change), anything else a non-transient server error.
pub(crate) fn handshake_error(endpoint: &str, tls: &TlsSettings, err: &rustls::Error) -> Error {
    let auth = |message: String| Error::Auth {
        endpoint: endpoint.to_string(),
        message,
    };
    match err {
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => auth(format!(
            "the server certificate does not name this host ({}; verify-full compares the \
             host name of the URL with the certificate: connect by a name the certificate \
             holds, or use sslmode=verify-ca): {err}",
            tls.describe()
        )),
        rustls::Error::InvalidCertificate(_) => auth(format!(
            "the server certificate was not trusted with {} (sslmode={}): {err}",
            tls.roots_description(),
            tls.mode
        )),
        _ => Error::Server {
            context: format!("TLS handshake with {endpoint} ({})", tls.describe()),
            message: err.to_string(),
            transient: false,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ferry_core::ErrorKind;
    use ferry_core::tls::{Dialect, SslMode, take_tls_params};

    fn settings(url: &str) -> TlsSettings {
        take_tls_params(url, "source.url", Dialect::Postgres, SslMode::Prefer)
            .unwrap()
            .1
    }

    #[tokio::test]
    async fn a_missing_ca_file_is_invalid_config_naming_the_parameter() {
        let tls = settings("postgresql://h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
        let e = client_config(&tls).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        let msg = e.to_string();
        assert!(msg.contains("source.url"), "{msg}");
        assert!(msg.contains("sslrootcert /nonexistent/ca.pem"), "{msg}");
    }

    #[tokio::test]
    async fn a_file_without_certificates_is_invalid_config() {
        let dir = std::env::temp_dir().join(format!("ferry-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let tls = settings(&format!(
            "postgresql://h/db?sslmode=verify-ca&sslrootcert={}",
            path.display()
        ));
        let e = client_config(&tls).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn every_verifying_mode_builds_without_a_ca_file() {
        for url in [
            "postgresql://h/db?sslmode=require",
            "postgresql://h/db?sslmode=verify-ca",
            "postgresql://h/db?sslmode=verify-full",
        ] {
            client_config(&settings(url)).await.unwrap();
        }
    }

    #[test]
    fn untrusted_certificates_are_auth_errors_naming_mode_and_ca() {
        let tls = settings("postgresql://h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem");
        let e = handshake_error(
            "postgresql://h/db",
            &tls,
            &rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        assert_eq!(e.kind(), ErrorKind::Auth);
        let msg = e.to_string();
        assert!(
            msg.contains("not trusted with the CA file /etc/ca.pem"),
            "{msg}"
        );
        assert!(msg.contains("sslmode=verify-full"), "{msg}");
        let e = handshake_error(
            "postgresql://h/db",
            &tls,
            &rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
        );
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert!(e.to_string().contains("does not name this host"), "{e}");
    }

    #[test]
    fn finds_rustls_errors_inside_io_errors() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        assert!(matches!(
            rustls_cause(&io),
            Some(rustls::Error::InvalidCertificate(_))
        ));
        let plain = std::io::Error::other("refused");
        assert!(rustls_cause(&plain).is_none());
    }
}
