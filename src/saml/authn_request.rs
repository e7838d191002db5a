//! SP-initiated login: a signed AuthnRequest sent with the HTTP-Redirect
//! binding (SAML Bindings 3.4.4.1). The request ID has 128 random bits and is
//! stored single-use with a TTL (store/login_states.rs, kind `saml_request`)
//! together with the vetted return address, so the ACS accepts an
//! InResponseTo only for a request it issued, once.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::write::DeflateEncoder;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::SamlError;

/// How long an issued AuthnRequest may be answered: 10 minutes covers a
/// slow MFA prompt without keeping request IDs around for long.
pub const REQUEST_TTL_SECS: i64 = 600;
/// The kind of login state that holds issued request IDs.
pub const STATE_KIND: &str = "saml_request";
const SIG_ALG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// A new request ID: `_` and 128 random bits in hex (an xs:ID must not start with a digit).
pub fn new_request_id() -> String {
    format!("_{}", crate::secrets::random_hex(16))
}

/// Escape text for an XML attribute or element.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// What an AuthnRequest says.
pub struct Request<'a> {
    pub id: &'a str,
    pub destination: &'a str,
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    pub now: OffsetDateTime,
}

/// The AuthnRequest XML.
pub fn xml(r: &Request<'_>) -> String {
    let instant = r.now.replace_nanosecond(0).unwrap_or(r.now).format(&Rfc3339).unwrap_or_default();
    format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{}\" Version=\"2.0\" \
         IssueInstant=\"{}\" Destination=\"{}\" AssertionConsumerServiceURL=\"{}\" \
         ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\">\
         <saml:Issuer>{}</saml:Issuer>\
         <samlp:NameIDPolicy Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\" AllowCreate=\"true\"/>\
         </samlp:AuthnRequest>",
        xml_escape(r.id),
        instant,
        xml_escape(r.destination),
        xml_escape(r.acs_url),
        xml_escape(r.sp_entity_id),
    )
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The IdP URL carrying the deflated, signed request (HTTP-Redirect binding):
/// the signature covers `SAMLRequest=…&RelayState=…&SigAlg=…` exactly as sent.
pub fn redirect_url(r: &Request<'_>, relay_state: &str, key: &PKey<Private>) -> Result<String, SamlError> {
    let mis = |e: std::io::Error| SamlError::Misconfigured { detail: format!("deflate: {e}") };
    let mut deflater = DeflateEncoder::new(Vec::new(), Compression::default());
    deflater.write_all(xml(r).as_bytes()).map_err(mis)?;
    let deflated = deflater.finish().map_err(mis)?;
    let mut query = format!("SAMLRequest={}", enc(&STANDARD.encode(deflated)));
    if !relay_state.is_empty() {
        query.push_str(&format!("&RelayState={}", enc(relay_state)));
    }
    query.push_str(&format!("&SigAlg={}", enc(SIG_ALG_RSA_SHA256)));
    let sign = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let mut s = Signer::new(MessageDigest::sha256(), key)?;
        s.update(query.as_bytes())?;
        s.sign_to_vec()
    };
    let sig =
        sign().map_err(|e| SamlError::Misconfigured { detail: format!("signing AuthnRequest: {e}") })?;
    query.push_str(&format!("&Signature={}", enc(&STANDARD.encode(sig))));
    let sep = if r.destination.contains('?') { '&' } else { '?' };
    Ok(format!("{}{sep}{query}", r.destination))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::sign::Verifier;
    use std::io::Read;

    #[test]
    fn redirect_is_signed_deflated_and_escaped() {
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let id = new_request_id();
        assert_eq!(id.len(), 33);
        let r = Request {
            id: &id,
            destination: "https://idp.example.com/sso?x=1",
            sp_entity_id: "https://sp/\"<e>",
            acs_url: "https://sp/acs",
            now: OffsetDateTime::UNIX_EPOCH,
        };
        let url = redirect_url(&r, "a&b=c", &key).unwrap();
        let parsed = url::Url::parse(&url).unwrap();
        let q: std::collections::HashMap<String, String> = parsed.query_pairs().into_owned().collect();
        assert_eq!(q["RelayState"], "a&b=c");
        assert_eq!(q["SigAlg"], SIG_ALG_RSA_SHA256);
        let raw = STANDARD.decode(&q["SAMLRequest"]).unwrap();
        let mut xml = String::new();
        flate2::read::DeflateDecoder::new(&raw[..]).read_to_string(&mut xml).unwrap();
        assert!(xml.contains(&format!("ID=\"{id}\"")));
        assert!(xml.contains("https://sp/&quot;&lt;e&gt;"));
        let signed_part =
            url.split_once('?').unwrap().1.split("&Signature=").next().unwrap().replacen("x=1&", "", 1);
        let mut v = Verifier::new(MessageDigest::sha256(), &key).unwrap();
        v.update(signed_part.as_bytes()).unwrap();
        assert!(v.verify(&STANDARD.decode(&q["Signature"]).unwrap()).unwrap());
    }
}
