//! The HTTP-Redirect binding for logout messages (SAML Bindings 3.4.4.1):
//! the message is DEFLATEd, base64-encoded and URL-encoded into `SAMLRequest`
//! or `SAMLResponse`; the signature covers the octets
//! `SAMLRequest=…&RelayState=…&SigAlg=…` built from the values *as received*
//! (still URL-encoded), so they are verified before anything is decoded.
//! Secure defaults: each parameter at most once; RSA with SHA-256 or better
//! (RSA-SHA1 only when the connection sets `allow_sha1`); the inflated
//! message is capped like a posted one (no DEFLATE bomb) and goes through
//! xml_guard.

use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Private};
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;

use super::error::SamlError;
use super::xml_guard::{self, MAX_ENCODED_BYTES, MAX_XML_BYTES};

pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";

/// Which message a query carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    Request,
    Response,
}

impl Param {
    pub fn name(self) -> &'static str {
        match self {
            Param::Request => "SAMLRequest",
            Param::Response => "SAMLResponse",
        }
    }
}

/// A received Redirect-binding message, not yet verified.
#[derive(Debug)]
pub struct Received {
    pub param: Param,
    /// The message as base64 (URL-decoded).
    encoded: String,
    pub relay_state: Option<String>,
    sig_alg: Option<String>,
    signature: Option<Vec<u8>>,
    /// The octets the signature covers, built from the raw values.
    signed_octets: String,
}

fn bad(detail: impl Into<String>) -> SamlError {
    SamlError::BadEncoding { detail: detail.into() }
}

fn decode_value(raw: &str) -> String {
    url::form_urlencoded::parse(format!("v={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Split a raw query string into the binding's parameters (each at most once).
pub fn parse(raw_query: &str) -> Result<Received, SamlError> {
    if raw_query.len() > MAX_ENCODED_BYTES + 16 * 1024 {
        return Err(SamlError::TooLarge { len: raw_query.len(), max: MAX_ENCODED_BYTES + 16 * 1024 });
    }
    let mut found: [Option<&str>; 5] = [None; 5];
    const KEYS: [&str; 5] = ["SAMLRequest", "SAMLResponse", "RelayState", "SigAlg", "Signature"];
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if let Some(i) = KEYS.iter().position(|key| decode_value(k) == *key) {
            if found[i].is_some() {
                return Err(bad(format!("{} given twice", KEYS[i])));
            }
            found[i] = Some(v);
        }
    }
    let (param, raw_msg) = match (found[0], found[1]) {
        (Some(m), None) => (Param::Request, m),
        (None, Some(m)) => (Param::Response, m),
        (Some(_), Some(_)) => return Err(bad("both SAMLRequest and SAMLResponse")),
        (None, None) => return Err(bad("no SAMLRequest or SAMLResponse")),
    };
    // SAML Bindings 3.4.4.1: "SAMLRequest=value&RelayState=value&SigAlg=value",
    // RelayState only when present, with the values exactly as received.
    let mut signed_octets = format!("{}={raw_msg}", param.name());
    if let Some(rs) = found[2] {
        signed_octets.push_str(&format!("&RelayState={rs}"));
    }
    if let Some(alg) = found[3] {
        signed_octets.push_str(&format!("&SigAlg={alg}"));
    }
    let signature = match found[4] {
        Some(s) => {
            let compact: String = decode_value(s).chars().filter(|c| !c.is_whitespace()).collect();
            Some(STANDARD.decode(compact).map_err(|e| bad(format!("Signature: {e}")))?)
        }
        None => None,
    };
    Ok(Received {
        param,
        encoded: decode_value(raw_msg),
        relay_state: found[2].map(decode_value),
        sig_alg: found[3].map(decode_value),
        signature,
        signed_octets,
    })
}

fn digest_of(sig_alg: &str, allow_sha1: bool) -> Result<MessageDigest, SamlError> {
    match sig_alg {
        RSA_SHA256 => Ok(MessageDigest::sha256()),
        RSA_SHA384 => Ok(MessageDigest::sha384()),
        RSA_SHA512 => Ok(MessageDigest::sha512()),
        RSA_SHA1 if allow_sha1 => Ok(MessageDigest::sha1()),
        other => Err(SamlError::WeakAlgorithm { algorithm: other.chars().take(200).collect() }),
    }
}

impl Received {
    /// Verify the query signature with one of `certs` (DER), then decode the
    /// message into guarded XML. Nothing is inflated before the signature holds.
    pub fn verify_and_decode(&self, certs: &[Vec<u8>], allow_sha1: bool) -> Result<String, SamlError> {
        let what = match self.param {
            Param::Request => "LogoutRequest",
            Param::Response => "LogoutResponse",
        };
        let (Some(alg), Some(sig)) = (&self.sig_alg, &self.signature) else {
            return Err(SamlError::MessageUnsigned { what });
        };
        let md = digest_of(alg, allow_sha1)?;
        if certs.is_empty() {
            return Err(SamlError::Misconfigured { detail: "no trusted IdP signing certificate".into() });
        }
        let mut verified = false;
        for der in certs {
            let check = || -> Result<bool, openssl::error::ErrorStack> {
                let key = X509::from_der(der)?.public_key()?;
                if key.id() != Id::RSA {
                    return Ok(false);
                }
                let mut v = Verifier::new(md, &key)?;
                v.update(self.signed_octets.as_bytes())?;
                v.verify(sig)
            };
            if check().unwrap_or(false) {
                verified = true;
                break;
            }
        }
        if !verified {
            return Err(SamlError::SignatureInvalid {
                detail: format!("{what} query signature ({alg}) does not verify"),
            });
        }
        inflate(&self.encoded)
    }
}

/// base64 → raw DEFLATE (capped) → UTF-8 → xml_guard.
fn inflate(encoded: &str) -> Result<String, SamlError> {
    if encoded.len() > MAX_ENCODED_BYTES {
        return Err(SamlError::TooLarge { len: encoded.len(), max: MAX_ENCODED_BYTES });
    }
    let compact: Vec<u8> = encoded.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let deflated = STANDARD.decode(&compact).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    DeflateDecoder::new(&deflated[..])
        .take(MAX_XML_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| bad(format!("DEFLATE: {e}")))?;
    if out.len() > MAX_XML_BYTES {
        return Err(SamlError::TooLarge { len: out.len(), max: MAX_XML_BYTES });
    }
    let xml = String::from_utf8(out).map_err(|_| bad("not UTF-8"))?;
    xml_guard::guard(&xml)?;
    Ok(xml)
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `destination` with the deflated, RSA-SHA256-signed message in the query.
pub fn signed_url(
    destination: &str,
    param: Param,
    xml: &str,
    relay_state: Option<&str>,
    key: &PKey<Private>,
) -> Result<String, SamlError> {
    let mis = |d: String| SamlError::Misconfigured { detail: d };
    let mut deflater = DeflateEncoder::new(Vec::new(), Compression::default());
    deflater.write_all(xml.as_bytes()).map_err(|e| mis(format!("deflate: {e}")))?;
    let deflated = deflater.finish().map_err(|e| mis(format!("deflate: {e}")))?;
    let mut query = format!("{}={}", param.name(), enc(&STANDARD.encode(deflated)));
    if let Some(rs) = relay_state.filter(|r| !r.is_empty()) {
        query.push_str(&format!("&RelayState={}", enc(rs)));
    }
    query.push_str(&format!("&SigAlg={}", enc(RSA_SHA256)));
    let sign = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let mut s = Signer::new(MessageDigest::sha256(), key)?;
        s.update(query.as_bytes())?;
        s.sign_to_vec()
    };
    let sig = sign().map_err(|e| mis(format!("signing {}: {e}", param.name())))?;
    query.push_str(&format!("&Signature={}", enc(&STANDARD.encode(sig))));
    let sep = if destination.contains('?') { '&' } else { '?' };
    Ok(format!("{destination}{sep}{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_and_cert() -> (PKey<Private>, Vec<u8>) {
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let cert = super::super::keys::self_signed(&key, "t").unwrap().to_der().unwrap();
        (key, cert)
    }

    #[test]
    fn round_trip_and_tampering() {
        let (key, cert) = key_and_cert();
        let url = signed_url("https://idp/slo?x=1", Param::Request, "<a/>", Some("r&s"), &key).unwrap();
        let query = url.split_once("?x=1&").unwrap().1;
        let got = parse(query).unwrap();
        assert_eq!(got.param, Param::Request);
        assert_eq!(got.relay_state.as_deref(), Some("r&s"));
        assert_eq!(got.verify_and_decode(std::slice::from_ref(&cert), false).unwrap(), "<a/>");
        let (_, other) = key_and_cert();
        assert!(matches!(got.verify_and_decode(&[other], false), Err(SamlError::SignatureInvalid { .. })));
        let changed = query.replace("RelayState=r%26s", "RelayState=evil");
        assert!(matches!(
            parse(&changed).unwrap().verify_and_decode(std::slice::from_ref(&cert), false),
            Err(SamlError::SignatureInvalid { .. })
        ));
        let unsigned = query.split("&SigAlg=").next().unwrap();
        assert!(matches!(
            parse(unsigned).unwrap().verify_and_decode(std::slice::from_ref(&cert), false),
            Err(SamlError::MessageUnsigned { .. })
        ));
        let sha1 =
            query.replace("rsa-sha256", "rsa-sha1").replace("xmldsig-more%23rsa-sha1", "xmldsig%23rsa-sha1");
        assert!(matches!(
            parse(&sha1).unwrap().verify_and_decode(&[cert], false),
            Err(SamlError::WeakAlgorithm { .. })
        ));
        assert!(parse(&format!("{query}&SAMLRequest=x")).is_err(), "a parameter twice");
    }

    #[test]
    fn deflate_bomb_is_capped() {
        let mut d = DeflateEncoder::new(Vec::new(), Compression::best());
        d.write_all(&vec![b'a'; MAX_XML_BYTES * 4]).unwrap();
        let b64 = STANDARD.encode(d.finish().unwrap());
        assert!(matches!(inflate(&b64), Err(SamlError::TooLarge { .. })));
    }
}
