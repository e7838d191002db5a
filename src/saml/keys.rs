//! The SP's own keys, one pair per connection for signing AuthnRequests and
//! one for receiving encrypted assertions: RSA-2048 with self-signed
//! certificates (IdPs pin the certificate from the SP metadata; a CA adds
//! nothing). Private keys are stored only sealed by `SecretBox` under the
//! connection's context, so a sealed key cannot be moved to another row.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};
use serde::{Deserialize, Serialize};

use super::error::SamlError;
use crate::connections::secret_context;
use crate::secrets::SecretBox;

/// RSA modulus size of generated SP keys.
const RSA_BITS: u32 = 2048;
/// SP certificates are valid for 10 years: rotation is by new connection keys, not expiry.
const CERT_DAYS: u32 = 3650;

/// The two private keys of a connection.
pub struct SpKeys {
    pub signing: PKey<Private>,
    pub encryption: PKey<Private>,
}

impl std::fmt::Debug for SpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpKeys(***)")
    }
}

/// New keys and their certificates (base64 DER), for `cn`.
pub struct Generated {
    pub keys: SpKeys,
    pub signing_cert: String,
    pub encryption_cert: String,
}

#[derive(Serialize, Deserialize)]
struct SealedForm {
    signing_key_pem: String,
    encryption_key_pem: String,
}

/// A self-signed RSA-SHA256 certificate for `key`.
pub fn self_signed(key: &PKey<Private>, cn: &str) -> Result<X509, ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", cn)?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(key)?;
    let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(CERT_DAYS)?);
    b.set_not_before(&from)?;
    b.set_not_after(&until)?;
    b.sign(key, MessageDigest::sha256())?;
    Ok(b.build())
}

/// Generate signing and encryption keys with certificates. Blocking (~0.1 s).
pub fn generate(cn: &str) -> Result<Generated, ErrorStack> {
    let signing = PKey::from_rsa(Rsa::generate(RSA_BITS)?)?;
    let encryption = PKey::from_rsa(Rsa::generate(RSA_BITS)?)?;
    let signing_cert = STANDARD.encode(self_signed(&signing, cn)?.to_der()?);
    let encryption_cert = STANDARD.encode(self_signed(&encryption, cn)?.to_der()?);
    Ok(Generated { keys: SpKeys { signing, encryption }, signing_cert, encryption_cert })
}

/// Seal both private keys for connection `id`.
pub fn seal(sb: &SecretBox, id: &str, keys: &SpKeys) -> Result<Vec<u8>, ErrorStack> {
    let pem = |k: &PKey<Private>| -> Result<String, ErrorStack> {
        Ok(String::from_utf8_lossy(&k.private_key_to_pem_pkcs8()?).into_owned())
    };
    let form =
        SealedForm { signing_key_pem: pem(&keys.signing)?, encryption_key_pem: pem(&keys.encryption)? };
    let json = serde_json::to_vec(&form).unwrap_or_default();
    Ok(sb.seal(&secret_context(id), &json))
}

/// Open the sealed keys of connection `id`.
pub fn open(sb: &SecretBox, id: &str, sealed: Option<&[u8]>) -> Result<SpKeys, SamlError> {
    let mis = |detail: String| SamlError::Misconfigured { detail };
    let sealed = sealed.ok_or_else(|| mis("no SP keys stored".into()))?;
    let json = sb.open(&secret_context(id), sealed).map_err(|e| mis(e.to_string()))?;
    let form: SealedForm = serde_json::from_slice(&json).map_err(|e| mis(format!("sealed keys: {e}")))?;
    let load =
        |pem: &str| PKey::private_key_from_pem(pem.as_bytes()).map_err(|e| mis(format!("SP key: {e}")));
    Ok(SpKeys { signing: load(&form.signing_key_pem)?, encryption: load(&form.encryption_key_pem)? })
}

/// Base64 DER (as stored) to PEM text for display.
pub fn pem_of(b64_der: &str) -> String {
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64_der.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_seal_and_open_only_for_their_connection() {
        let g = generate("sp").unwrap();
        let sb = SecretBox::from_key(&[3u8; 32]);
        let sealed = seal(&sb, "c1", &g.keys).unwrap();
        let opened = open(&sb, "c1", Some(&sealed)).unwrap();
        assert!(opened.signing.public_eq(&g.keys.signing));
        assert!(opened.encryption.public_eq(&g.keys.encryption));
        assert!(open(&sb, "c2", Some(&sealed)).is_err());
        let der = STANDARD.decode(&g.signing_cert).unwrap();
        assert!(X509::from_der(&der).unwrap().public_key().unwrap().public_eq(&g.keys.signing));
    }
}
