//! Secrets at rest: connection passwords sealed with AES-256-GCM.
//!
//! The key comes from `FERRY_SECRET_KEY` (base64 of 32 bytes) or a key file
//! (the same text); it is never stored in the state store, and a key file
//! inside the data directory is refused, so a copy of the data alone does
//! not open the secrets. Each sealed value is `base64(nonce ‖ ciphertext ‖
//! tag)` with a fresh random 96-bit nonce, stored beside the key's id (the
//! first 8 bytes of its SHA-256, hex), so a store opened with the wrong key
//! says so instead of failing to decrypt.

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ferry_core::{Error, Result};
use sha2::{Digest, Sha256};

/// Environment variable holding the key (base64 of 32 bytes).
pub const KEY_ENV: &str = "FERRY_SECRET_KEY";

/// Seals and opens secrets under one key.
pub struct SecretBox {
    cipher: Aes256Gcm,
    key_id: String,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBox")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl SecretBox {
    /// A box for a 32-byte key given as base64 text.
    pub fn from_base64(text: &str, origin: &str) -> Result<SecretBox> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| Error::invalid(origin, format!("the secret key is not base64: {e}")))?;
        if bytes.len() != 32 {
            return Err(Error::invalid(
                origin,
                format!(
                    "the secret key must be 32 bytes (base64 of 32 random bytes), got {}",
                    bytes.len()
                ),
            ));
        }
        let key = Key::<Aes256Gcm>::from_slice(&bytes);
        Ok(SecretBox {
            cipher: Aes256Gcm::new(key),
            key_id: hex::encode(&Sha256::digest(&bytes)[..8]),
        })
    }

    /// The key from `FERRY_SECRET_KEY`, else from `key_file`, creating the
    /// file (mode 0600) with a new random key if it does not exist. A key
    /// file inside `data_dir` is refused.
    pub fn load(key_file: &Path, data_dir: &Path) -> Result<SecretBox> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            return SecretBox::from_base64(&text, KEY_ENV);
        }
        let abs =
            |p: &Path| -> PathBuf { std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()) };
        let (file, dir) = (abs(key_file), abs(data_dir));
        if file.starts_with(&dir) {
            return Err(Error::invalid(
                "key_file",
                format!(
                    "{} is inside the data directory {}; keep the key apart from the data it protects",
                    file.display(),
                    dir.display()
                ),
            ));
        }
        match std::fs::read_to_string(&file) {
            Ok(text) => SecretBox::from_base64(&text, &file.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Aes256Gcm::generate_key(OsRng);
                let text = STANDARD.encode(key);
                write_private(&file, &text)?;
                tracing::info!(key_file = %file.display(), "created a new secret key");
                SecretBox::from_base64(&text, &file.display().to_string())
            }
            Err(e) => Err(Error::invalid(
                "key_file",
                format!("cannot read {}: {e}", file.display()),
            )),
        }
    }

    /// The key's id (stored beside each sealed value).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seals `plain`.
    pub fn seal(&self, plain: &str) -> Result<String> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        let sealed = self
            .cipher
            .encrypt(&nonce, plain.as_bytes())
            .map_err(|_| Error::Internal("encrypting a secret failed".into()))?;
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Opens a value sealed under `key_id`.
    pub fn open(&self, sealed: &str, key_id: Option<&str>) -> Result<String> {
        if key_id.is_some_and(|k| k != self.key_id) {
            return Err(Error::server(
                "opening a stored secret",
                format!(
                    "it was sealed with key {} but the server has key {}; start the server with the key the store was written with",
                    key_id.unwrap_or_default(),
                    self.key_id
                ),
            ));
        }
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| Error::server("opening a stored secret", "it is not base64"))?;
        if bytes.len() < 12 + 16 {
            return Err(Error::server("opening a stored secret", "it is truncated"));
        }
        let (nonce, body) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| {
                Error::server(
                    "opening a stored secret",
                    "authentication failed: it was altered or sealed under another key",
                )
            })?;
        String::from_utf8(plain)
            .map_err(|_| Error::server("opening a stored secret", "it is not UTF-8"))
    }
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let io = |e: std::io::Error| {
        Error::invalid("key_file", format!("cannot create {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_detects_tampering() {
        let key = STANDARD.encode([7u8; 32]);
        let b = SecretBox::from_base64(&key, "test").expect("key");
        let s1 = b.seal("hunter2").expect("seal");
        let s2 = b.seal("hunter2").expect("seal");
        assert_ne!(s1, s2, "fresh nonce per seal");
        assert!(!s1.contains("hunter2"));
        assert_eq!(b.open(&s1, Some(b.key_id())).expect("open"), "hunter2");
        let mut bytes = STANDARD.decode(&s1).expect("b64");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(b.open(&STANDARD.encode(bytes), None).is_err());
        let other = SecretBox::from_base64(&STANDARD.encode([8u8; 32]), "t").expect("key");
        let e = other.open(&s1, Some(b.key_id())).expect_err("wrong key");
        assert!(e.to_string().contains("sealed with key"), "{e}");
        assert!(SecretBox::from_base64("c2hvcnQ=", "FERRY_SECRET_KEY").is_err());
    }

    #[test]
    fn key_file_is_created_private_and_kept_out_of_the_data_dir() {
        let dir = std::env::temp_dir().join(format!("ferry-key-{}", std::process::id()));
        let data = dir.join("data");
        let inside = data.join("secret.key");
        assert!(SecretBox::load(&inside, &data).is_err());
        let file = dir.join("conf/secret.key");
        let a = SecretBox::load(&file, &data).expect("created");
        let b = SecretBox::load(&file, &data).expect("read back");
        assert_eq!(a.key_id(), b.key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
