//! XML Encryption of assertions (`saml:EncryptedAssertion`), decrypted with
//! the connection's SP encryption key. Key transport: RSA-OAEP
//! (`xmlenc#rsa-oaep-mgf1p`, `xmlenc11#rsa-oaep` with SHA-1/SHA-2 digests and
//! MGF1). RSA PKCS#1 v1.5 key transport is refused (Bleichenbacher's padding
//! oracle). Content: AES-128/192/256 in CBC (what Okta and Entra send by
//! default) or GCM. The plaintext goes through the same guard as the outer
//! document before it is parsed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::md::Md;
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode};
use roxmltree::Node;

use super::dom::{self, NS_DSIG, NS_XENC};
use super::error::SamlError;
use super::xml_guard;

const NS_XENC11: &str = "http://www.w3.org/2009/xmlenc11#";

fn err(detail: impl Into<String>) -> SamlError {
    SamlError::Decrypt { detail: detail.into() }
}

/// Decrypt an `EncryptedAssertion` into the assertion's XML text.
pub fn decrypt_assertion(encrypted: Node<'_, '_>, key: &PKey<Private>) -> Result<String, SamlError> {
    let data = dom::required(encrypted, NS_XENC, "EncryptedData")?;
    let method = dom::required(data, NS_XENC, "EncryptionMethod")?.attribute("Algorithm").unwrap_or_default();
    let ciphertext = cipher_value(data)?;
    // The EncryptedKey sits in EncryptedData/KeyInfo (Entra, Okta) or beside
    // EncryptedData in the EncryptedAssertion (some IdPs): exactly one.
    let mut keys: Vec<Node<'_, '_>> = Vec::new();
    if let Some(ki) = dom::child(data, NS_DSIG, "KeyInfo")? {
        keys.extend(dom::children(ki, NS_XENC, "EncryptedKey"));
    }
    keys.extend(dom::children(encrypted, NS_XENC, "EncryptedKey"));
    let [ek] = keys.as_slice() else {
        return Err(err(format!("{} EncryptedKey elements; exactly one is accepted", keys.len())));
    };
    let session_key = unwrap_key(*ek, key)?;
    let plaintext = decrypt_content(method, &session_key, &ciphertext)?;
    let xml = String::from_utf8(plaintext).map_err(|_| err("plaintext is not UTF-8"))?;
    xml_guard::guard(&xml).map_err(|e| err(format!("plaintext: {e}")))?;
    Ok(xml)
}

fn cipher_value(n: Node<'_, '_>) -> Result<Vec<u8>, SamlError> {
    let cd = dom::required(n, NS_XENC, "CipherData")?;
    let cv = dom::required(cd, NS_XENC, "CipherValue")?;
    let text: String = dom::text(cv)?.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(text).map_err(|e| err(format!("CipherValue: {e}")))
}

fn digest_by_uri(uri: Option<&str>) -> Result<&'static openssl::md::MdRef, SamlError> {
    Ok(match uri {
        None | Some("http://www.w3.org/2000/09/xmldsig#sha1") => Md::sha1(),
        Some("http://www.w3.org/2001/04/xmlenc#sha256") => Md::sha256(),
        Some("http://www.w3.org/2001/04/xmldsig-more#sha384") => Md::sha384(),
        Some("http://www.w3.org/2001/04/xmlenc#sha512") => Md::sha512(),
        Some(other) => return Err(err(format!("OAEP digest {other} is not supported"))),
    })
}

/// RSA-OAEP key transport.
fn unwrap_key(ek: Node<'_, '_>, key: &PKey<Private>) -> Result<Vec<u8>, SamlError> {
    let m = dom::required(ek, NS_XENC, "EncryptionMethod")?;
    let alg = m.attribute("Algorithm").unwrap_or_default();
    let digest = dom::child(m, NS_DSIG, "DigestMethod")?.and_then(|d| d.attribute("Algorithm"));
    let (oaep_md, mgf_md) = match alg {
        // xmlenc 1.0: MGF1 is always SHA-1; the OAEP digest defaults to SHA-1.
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p" => (digest_by_uri(digest)?, Md::sha1()),
        "http://www.w3.org/2009/xmlenc11#rsa-oaep" => {
            let mgf = dom::child(m, NS_XENC11, "MGF")?.and_then(|g| g.attribute("Algorithm"));
            let mgf_md = match mgf {
                None | Some("http://www.w3.org/2009/xmlenc11#mgf1sha1") => Md::sha1(),
                Some("http://www.w3.org/2009/xmlenc11#mgf1sha256") => Md::sha256(),
                Some("http://www.w3.org/2009/xmlenc11#mgf1sha384") => Md::sha384(),
                Some("http://www.w3.org/2009/xmlenc11#mgf1sha512") => Md::sha512(),
                Some(other) => return Err(err(format!("MGF {other} is not supported"))),
            };
            (digest_by_uri(digest)?, mgf_md)
        }
        "http://www.w3.org/2001/04/xmlenc#rsa-1_5" => {
            return Err(err("RSA PKCS#1 v1.5 key transport is refused; configure RSA-OAEP at the IdP"));
        }
        other => return Err(err(format!("key transport {other:?} is not supported"))),
    };
    if dom::child(m, NS_XENC, "OAEPparams")?.is_some() {
        return Err(err("OAEPparams are not supported"));
    }
    let wrapped = cipher_value(ek)?;
    let run = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let mut ctx = PkeyCtx::new(key)?;
        ctx.decrypt_init()?;
        ctx.set_rsa_padding(Padding::PKCS1_OAEP)?;
        ctx.set_rsa_oaep_md(oaep_md)?;
        ctx.set_rsa_mgf1_md(mgf_md)?;
        let mut out = Vec::new();
        ctx.decrypt_to_vec(&wrapped, &mut out)?;
        Ok(out)
    };
    run().map_err(|_| err("the content key does not decrypt with this connection's SP key"))
}

/// AES-CBC (xmlenc padding) or AES-GCM.
fn decrypt_content(method: &str, key: &[u8], data: &[u8]) -> Result<Vec<u8>, SamlError> {
    let (cipher, gcm) = match method {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => (Cipher::aes_128_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => (Cipher::aes_192_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => (Cipher::aes_256_cbc(), false),
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => (Cipher::aes_128_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes192-gcm" => (Cipher::aes_192_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => (Cipher::aes_256_gcm(), true),
        other => return Err(err(format!("content encryption {other:?} is not supported"))),
    };
    if key.len() != cipher.key_len() {
        return Err(err(format!("content key of {} bytes for {method}", key.len())));
    }
    let generic = || err("the content does not decrypt");
    if gcm {
        // xmlenc11: 96-bit IV, ciphertext, 128-bit tag.
        if data.len() < 12 + 16 {
            return Err(generic());
        }
        let (iv, rest) = data.split_at(12);
        let (ct, tag) = rest.split_at(rest.len() - 16);
        return openssl::symm::decrypt_aead(cipher, key, Some(iv), &[], ct, tag).map_err(|_| generic());
    }
    let block = 16;
    if data.len() < 2 * block || data.len() % block != 0 {
        return Err(generic());
    }
    let (iv, ct) = data.split_at(block);
    let mut c = Crypter::new(cipher, Mode::Decrypt, key, Some(iv)).map_err(|_| generic())?;
    // xmlenc padding: the last byte says how many bytes to drop; the others are arbitrary.
    c.pad(false);
    let mut out = vec![0u8; ct.len() + block];
    let mut n = c.update(ct, &mut out).map_err(|_| generic())?;
    n += c.finalize(&mut out[n..]).map_err(|_| generic())?;
    out.truncate(n);
    let pad = usize::from(*out.last().ok_or_else(generic)?);
    if pad == 0 || pad > block || pad > out.len() {
        return Err(generic());
    }
    out.truncate(out.len() - pad);
    Ok(out)
}
