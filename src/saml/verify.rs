//! XML signature verification by libxmlsec1 through samael: every
//! `ds:Signature` in the document must verify with one of the connection's
//! trusted IdP certificates (a certificate offered in KeyInfo is never used),
//! and what comes back is xmlsec's pre-digest output — the canonical bytes
//! that were actually hashed — which is the only text values are read from.

use std::sync::Once;

use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer, CryptoProvider, ReduceMode, XmlSec};

use super::error::SamlError;

/// Algorithms samael lets xmlsec use when SHA-1 is not allowed.
const SHA2_ONLY: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

unsafe extern "C" {
    /// libxmlsec1: turn its default error printer (stderr) on or off.
    fn xmlSecErrorsDefaultCallbackEnableOutput(enabled: std::os::raw::c_int);
}

/// libxmlsec1 prints every verification failure to stderr; the reason is
/// logged by idbridge instead.
fn quiet_xmlsec() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sets a global flag in libxmlsec1 (linked by samael); no
        // pointers are passed and the call is made once.
        unsafe { xmlSecErrorsDefaultCallbackEnableOutput(0) }
    });
}

/// Verify every signature of `xml` against `certs` and return the verified
/// pre-digest content: the Response's when it is signed, else the only
/// signed element's. Blocking (libxml2/xmlsec): call from `spawn_blocking`.
pub fn verified_content(xml: &str, certs: &[Vec<u8>], allow_sha1: bool) -> Result<String, SamlError> {
    quiet_xmlsec();
    if certs.is_empty() {
        // samael skips signature checks without certificates: never call it so.
        return Err(SamlError::Misconfigured { detail: "no trusted IdP signing certificate".into() });
    }
    let certs: Vec<CertificateDer> = certs.iter().map(|c| CertificateDer::from(c.clone())).collect();
    // Always pass an allow-list: samael accepts SHA-1 when none is given.
    // With `allow_sha1` the SHA-1 URIs were already limited by structure.rs.
    let allowed: Option<&[AllowedSignatureAlgorithm]> = if allow_sha1 { None } else { Some(&SHA2_ONLY) };
    // samael's error type is not Send: turn it into text right here.
    XmlSec::reduce_xml_to_signed_with_allowed_algorithms(xml, &certs, ReduceMode::PreDigest, allowed)
        .map_err(|e| SamlError::SignatureInvalid { detail: error_chain(&e) })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}
