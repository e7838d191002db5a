//! Standard Webhooks signatures: secrets are `whsec_` + base64 of 32 random
//! bytes; a delivery is signed with HMAC-SHA256 keyed with the decoded bytes
//! over `{webhook-id}.{webhook-timestamp}.{body}`, sent as `v1,` + base64.
//! During a rotation's overlap both signatures are sent, space-separated.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::secrets::Secret;

/// Prefix of every webhook secret (the Standard Webhooks convention).
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret (the specification asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// Why a secret cannot be used as a signing key.
#[derive(Debug, thiserror::Error)]
pub enum SecretFormat {
    /// Not base64 after the optional `whsec_` prefix.
    #[error("webhook secret is not base64 after {SECRET_PREFIX:?}: {0}")]
    NotBase64(base64::DecodeError),
    /// Too few bytes to be a key.
    #[error("webhook secret decodes to {len} bytes; at least 24 are required")]
    TooShort { len: usize },
}

/// A new random secret, to be shown once and stored sealed.
pub fn new_secret() -> Secret {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

/// The HMAC key of a secret: the base64-decoded part after `whsec_`.
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, SecretFormat> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = STANDARD.decode(b64).map_err(SecretFormat::NotBase64)?;
    if key.len() < 24 {
        return Err(SecretFormat::TooShort { len: key.len() });
    }
    Ok(key)
}

/// One `v1,` signature of a message with `key`.
pub fn sign(key: &[u8], msg_id: &str, timestamp: i64, body: &str) -> String {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::from("v1,");
    };
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header value: one signature per key, in order
/// (current key first), space-separated.
pub fn signature_header(keys: &[Vec<u8>], msg_id: &str, timestamp: i64, body: &str) -> String {
    keys.iter().map(|k| sign(k, msg_id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks specification's published test vector (the same
    /// triple is used by its reference libraries' test suites).
    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        let key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, r#"{"test": 2432232314}"#),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn new_secrets_decode_to_32_bytes_and_short_ones_are_refused() {
        let s = new_secret();
        assert!(s.expose().starts_with(SECRET_PREFIX));
        assert_eq!(decode_secret(s.expose()).unwrap().len(), 32);
        assert_ne!(s.expose(), new_secret().expose());
        assert!(matches!(decode_secret("whsec_AAAA"), Err(SecretFormat::TooShort { len: 3 })));
        assert!(matches!(decode_secret("whsec_!!"), Err(SecretFormat::NotBase64(_))));
    }

    #[test]
    fn two_keys_give_two_space_separated_signatures() {
        let (a, b) = (vec![1u8; 32], vec![2u8; 32]);
        let h = signature_header(&[a.clone(), b.clone()], "1", 5, "{}");
        let parts: Vec<&str> = h.split(' ').collect();
        assert_eq!(parts, [sign(&a, "1", 5, "{}"), sign(&b, "1", 5, "{}")]);
    }
}
