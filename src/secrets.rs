//! Secrets: high-entropy tokens, their SHA-256 hashes (the only form stored),
//! constant-time comparison, and `SecretBox`, the authenticated encryption of
//! secrets at rest (private keys, OIDC client secrets).

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret string whose Debug and Display print nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// 32 random bytes from the OS generator, URL-safe base64, with a readable prefix
/// (`idb_scim_`, `idb_admin_`, ...) so a leaked token is recognisable.
pub fn new_token(prefix: &str) -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Random identifier material: `n` bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// SHA-256 of a token: enough for high-entropy secrets (no salt or KDF needed).
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Errors of the secret box.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// IDBRIDGE_SECRET_KEY is not 32 bytes of base64 or hex.
    #[error("IDBRIDGE_SECRET_KEY must be 32 bytes as base64 or 64 hex characters (got {len} characters)")]
    BadKey { len: usize },
    /// The key file could not be read or created.
    #[error("secret key file {path}: {message}")]
    KeyFile { path: String, message: String },
    /// Decryption failed: wrong key, or the stored value was altered.
    #[error("cannot decrypt {context}: wrong IDBRIDGE_SECRET_KEY or tampered value")]
    Decrypt { context: String },
}

/// Authenticated encryption (XChaCha20-Poly1305, random 192-bit nonce) with
/// a context string bound as associated data, so a ciphertext cannot be moved
/// from one row or purpose to another.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> Self {
        SecretBox { cipher: XChaCha20Poly1305::new(key.into()) }
    }

    /// The key from IDBRIDGE_SECRET_KEY (base64 or hex), else from `key_file`
    /// (created with mode 0600 and 32 random bytes if it does not exist).
    pub fn load(env_key: Option<&str>, key_file: &Path) -> Result<Self, SecretError> {
        if let Some(k) = env_key {
            return Ok(Self::from_key(&parse_key(k)?));
        }
        let path = key_file.display().to_string();
        let kerr = |message: String| SecretError::KeyFile { path: path.clone(), message };
        match std::fs::read_to_string(key_file) {
            Ok(text) => {
                tighten_key_file(key_file);
                Ok(Self::from_key(&parse_key(text.trim())?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rng().fill_bytes(&mut key);
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                let mut f = opts.open(key_file).map_err(|e| kerr(e.to_string()))?;
                f.write_all(STANDARD.encode(key).as_bytes()).map_err(|e| kerr(e.to_string()))?;
                f.sync_all().map_err(|e| kerr(e.to_string()))?;
                tracing::warn!(path = %path, "generated a new secret key file; back it up with the database");
                Ok(Self::from_key(&key))
            }
            Err(e) => Err(kerr(e.to_string())),
        }
    }

    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload { msg: plaintext, aad: context.as_bytes() };
        // Encryption with a fresh nonce cannot fail for in-memory sizes; an
        // empty result would fail to open later rather than leak anything.
        let ct = self.cipher.encrypt(XNonce::from_slice(&nonce), payload).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
        let err = || SecretError::Decrypt { context: context.to_string() };
        if sealed.len() < 24 + 16 {
            return Err(err());
        }
        let (nonce, ct) = sealed.split_at(24);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: context.as_bytes() })
            .map_err(|_| err())
    }
}

/// A key file left readable by others (an older version, a restore) is
/// restricted to 0600 at load, with a log line; a failure is logged.
fn tighten_key_file(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(path) else { return };
        let old = meta.permissions().mode() & 0o777;
        if old & 0o077 == 0 {
            return;
        }
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => tracing::warn!(path = %path.display(), old_mode = format!("{old:04o}"),
                "secret key file was readable by others; permissions tightened to 0600"),
            Err(e) => tracing::error!(path = %path.display(), error = %e,
                "secret key file is readable by others and could not be tightened to 0600"),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn parse_key(text: &str) -> Result<[u8; 32], SecretError> {
    let bad = || SecretError::BadKey { len: text.len() };
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|_| bad())?
    } else {
        STANDARD.decode(text).or_else(|_| URL_SAFE_NO_PAD.decode(text)).map_err(|_| bad())?
    };
    bytes.try_into().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_hash_stably() {
        let a = new_token("idb_scim_");
        let b = new_token("idb_scim_");
        assert_ne!(a, b);
        assert!(a.expose().starts_with("idb_scim_"));
        assert_eq!(a.expose().len(), "idb_scim_".len() + 43);
        assert_eq!(hash_token(a.expose()), hash_token(a.expose()));
        assert!(!ct_eq(&hash_token(a.expose()), &hash_token(b.expose())));
        assert_eq!(format!("{a:?}"), "Secret(***)");
    }

    #[test]
    fn secret_box_round_trips_and_binds_context() {
        let sb = SecretBox::from_key(&[7u8; 32]);
        let sealed = sb.seal("key:1", b"private");
        assert_eq!(sb.open("key:1", &sealed).ok(), Some(b"private".to_vec()));
        assert!(sb.open("key:2", &sealed).is_err());
        let other = SecretBox::from_key(&[8u8; 32]);
        assert!(other.open("key:1", &sealed).is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(sb.open("key:1", &tampered).is_err());
    }

    #[test]
    fn key_file_is_created_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let a = SecretBox::load(None, &path).unwrap();
        let b = SecretBox::load(None, &path).unwrap();
        let sealed = a.seal("c", b"x");
        assert_eq!(b.open("c", &sealed).ok(), Some(b"x".to_vec()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777).ok();
            assert_eq!(mode, Some(0o600));
            // A key file left world-readable is tightened when it is loaded.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            SecretBox::load(None, &path).unwrap();
            let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777).ok();
            assert_eq!(mode, Some(0o600));
        }
    }

    #[test]
    fn env_key_accepts_hex_and_base64_only_32_bytes() {
        assert!(parse_key(&"ab".repeat(32)).is_ok());
        assert!(parse_key(&STANDARD.encode([1u8; 32])).is_ok());
        assert!(parse_key("short").is_err());
        assert!(parse_key(&STANDARD.encode([1u8; 16])).is_err());
    }
}
