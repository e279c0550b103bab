//! The HTTP clients Ferry uses to talk to other services (Airflow,
//! DolphinScheduler, and the CLI's client of a Ferry server): rustls with
//! the ring provider, certificates always verified against the built-in
//! public roots plus, optionally, the CA certificates of one PEM file (for
//! services with a private CA). There is deliberately no switch to turn
//! verification off.

use std::path::Path;
use std::time::Duration;

use ferry_core::{Error, Result};

/// Largest CA file read.
const MAX_CA_FILE_BYTES: u64 = 4 << 20;

/// A client with `timeout` per request that also trusts the certificates in
/// `ca_file` (PEM, one or more); `field` names the setting in errors.
pub fn client(timeout: Duration, ca_file: Option<&Path>, field: &str) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().timeout(timeout).use_rustls_tls();
    if let Some(path) = ca_file {
        for cert in read_ca_file(path, field)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| Error::Internal(format!("HTTP client: {e}")))
}

/// The certificates of a PEM file, refusing a missing, huge or empty one.
pub fn read_ca_file(path: &Path, field: &str) -> Result<Vec<reqwest::Certificate>> {
    let invalid = |message: String| Error::invalid(field, format!("{}: {message}", path.display()));
    let meta =
        std::fs::metadata(path).map_err(|e| invalid(format!("cannot read the CA file: {e}")))?;
    if meta.len() > MAX_CA_FILE_BYTES {
        return Err(invalid(format!(
            "is {} bytes; a CA file is at most {MAX_CA_FILE_BYTES}",
            meta.len()
        )));
    }
    let pem = std::fs::read(path).map_err(|e| invalid(format!("cannot read the CA file: {e}")))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| invalid(format!("is not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_string(),
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_invalid_config() {
        let e = client(
            Duration::from_secs(1),
            Some(Path::new("/nonexistent/ca.pem")),
            "--ca-file",
        )
        .expect_err("missing file");
        assert_eq!(e.kind(), ferry_core::ErrorKind::InvalidConfig);
        assert!(e.to_string().contains("--ca-file"), "{e}");
        let path = std::env::temp_dir().join(format!("ferry-http-ca-{}.pem", std::process::id()));
        std::fs::write(&path, "nothing here\n").expect("write");
        let e = client(Duration::from_secs(1), Some(&path), "--ca-file").expect_err("empty");
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        std::fs::remove_file(&path).expect("remove");
        client(Duration::from_secs(1), None, "--ca-file").expect("no CA file");
    }
}
