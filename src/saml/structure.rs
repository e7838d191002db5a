//! The shape a SAML Response must have before any signature is believed.
//! XML signature wrapping (XSW1–8) works by giving the verifier one element
//! and the reader another; here the document is held to the one shape the
//! SAML schema and profile allow, so the element that is verified is the
//! element that is read:
//! - the root is the only `samlp:Response`; exactly one Assertion or
//!   EncryptedAssertion exists anywhere, as a direct child of the root;
//! - a `ds:Signature` sits only directly in the Response or the Assertion,
//!   at most one each, with exactly one Reference whose URI is `#` + the ID of
//!   that parent (SAML Core 5.4.2), only enveloped/canonicalization
//!   transforms, and SHA-2 algorithms unless the connection allows SHA-1;
//! - IDs (`ID`, `xml:id`) are unique; no comment inside the assertion.

use roxmltree::{Document, Node};

use super::dom::{self, NS_ASSERTION, NS_DSIG, NS_PROTOCOL};
use super::error::SamlError;

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// Canonicalization algorithms accepted as CanonicalizationMethod and as transforms.
const C14N: [&str; 4] = [
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
];
/// Signature algorithms accepted by default (SHA-2 only).
const SIGNATURE_SHA2: [&str; 6] = [
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];
/// Accepted only when the connection sets `allow_sha1` (legacy IdPs).
const SIGNATURE_SHA1: [&str; 2] =
    ["http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"];
const DIGEST_SHA2: [&str; 3] = [
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
const DIGEST_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// What the Response looks like once its shape is accepted.
#[derive(Debug, Clone)]
pub struct ResponseShape {
    pub response_id: String,
    pub response_signed: bool,
    /// `Some((id, signed))` for a plaintext assertion, `None` when encrypted.
    pub plain_assertion: Option<(String, bool)>,
}

/// Check a whole Response document.
pub fn check_response(doc: &Document<'_>, allow_sha1: bool) -> Result<ResponseShape, SamlError> {
    let root = doc.root_element();
    if !dom::is(root, NS_PROTOCOL, "Response") {
        return Err(SamlError::NotAResponse { got: dom::describe(root) });
    }
    check_version(root, "Response")?;
    let response_id = dom::id(root).ok_or(SamlError::Missing { what: "Response ID" })?.to_string();
    unique_ids(root)?;
    let mut assertions = Vec::new();
    for n in root.descendants().filter(|n| n.is_element()) {
        if n != root && dom::is(n, NS_PROTOCOL, "Response") {
            return Err(SamlError::Misplaced { what: "a Response inside the Response".into() });
        }
        if dom::is(n, NS_ASSERTION, "Assertion") || dom::is(n, NS_ASSERTION, "EncryptedAssertion") {
            assertions.push(n);
        }
    }
    let assertion = match assertions.as_slice() {
        [] => return Err(SamlError::NoAssertion),
        [one] => *one,
        more => return Err(SamlError::MultipleAssertions { count: more.len() }),
    };
    if assertion.parent_element() != Some(root) {
        return Err(SamlError::Misplaced { what: "the assertion is not a child of the Response".into() });
    }
    let plain = dom::is(assertion, NS_ASSERTION, "Assertion");
    let signers: Vec<Node<'_, '_>> = if plain { vec![root, assertion] } else { vec![root] };
    check_signatures(root, &signers, allow_sha1)?;
    let response_signed = dom::child(root, NS_DSIG, "Signature")?.is_some();
    let plain_assertion = if plain {
        no_comments(assertion)?;
        let id = dom::id(assertion).ok_or(SamlError::Missing { what: "Assertion ID" })?.to_string();
        Some((id, dom::child(assertion, NS_DSIG, "Signature")?.is_some()))
    } else {
        None
    };
    Ok(ResponseShape { response_id, response_signed, plain_assertion })
}

/// Check a decrypted Assertion standing alone; returns (ID, signed).
pub fn check_assertion_doc(doc: &Document<'_>, allow_sha1: bool) -> Result<(String, bool), SamlError> {
    let root = doc.root_element();
    if !dom::is(root, NS_ASSERTION, "Assertion") {
        return Err(SamlError::Decrypt {
            detail: format!("plaintext is {}, not an Assertion", dom::describe(root)),
        });
    }
    unique_ids(root)?;
    for n in root.descendants().filter(|n| n.is_element() && *n != root) {
        if dom::is(n, NS_ASSERTION, "Assertion")
            || dom::is(n, NS_ASSERTION, "EncryptedAssertion")
            || dom::is(n, NS_PROTOCOL, "Response")
        {
            return Err(SamlError::MultipleAssertions { count: 2 });
        }
    }
    no_comments(root)?;
    check_signatures(root, &[root], allow_sha1)?;
    let id = dom::id(root).ok_or(SamlError::Missing { what: "Assertion ID" })?.to_string();
    Ok((id, dom::child(root, NS_DSIG, "Signature")?.is_some()))
}

/// Check a LogoutRequest or LogoutResponse document (SAML Core 3.7): the
/// root is `samlp:{name}`, Version 2.0, with an ID; IDs are unique; no comment
/// anywhere (a NameID comment-injection would split the subject); a
/// ds:Signature only directly in the root, at most one, over `#` + its ID
/// (SAML Core 5.4.2). Returns (ID, signed).
pub fn check_logout_message(
    doc: &Document<'_>,
    name: &'static str,
    allow_sha1: bool,
) -> Result<(String, bool), SamlError> {
    let root = doc.root_element();
    if !dom::is(root, NS_PROTOCOL, name) {
        return Err(SamlError::NotLogoutMessage { expected: name, got: dom::describe(root) });
    }
    check_version(root, name)?;
    let id = dom::id(root).ok_or(SamlError::Missing { what: "message ID" })?.to_string();
    unique_ids(root)?;
    no_comments(root)?;
    check_signatures(root, &[root], allow_sha1)?;
    Ok((id, dom::child(root, NS_DSIG, "Signature")?.is_some()))
}

fn check_version(n: Node<'_, '_>, element: &'static str) -> Result<(), SamlError> {
    match n.attribute("Version") {
        Some("2.0") => Ok(()),
        other => Err(SamlError::BadVersion { element, got: other.unwrap_or_default().to_string() }),
    }
}

/// Every ID-like attribute value is unique in the document.
fn unique_ids(root: Node<'_, '_>) -> Result<(), SamlError> {
    let mut seen = std::collections::HashSet::new();
    for n in root.descendants().filter(|n| n.is_element()) {
        for a in n.attributes() {
            // `ID` in any namespace (libxml2's xmlGetProp, used by samael,
            // ignores namespaces), xmldsig's `Id` (xmlsec registers it), xml:id.
            let is_id = a.name() == "ID"
                || (a.name() == "Id" && a.namespace().is_none())
                || (a.name() == "id" && a.namespace() == Some(XML_NS));
            if is_id && !seen.insert(a.value()) {
                return Err(SamlError::DuplicateId { id: a.value().to_string() });
            }
        }
    }
    Ok(())
}

fn no_comments(n: Node<'_, '_>) -> Result<(), SamlError> {
    if n.descendants().any(|d| d.is_comment()) { Err(SamlError::CommentInAssertion) } else { Ok(()) }
}

/// Every ds:Signature in the document sits in one of `signers`, one each,
/// and passes `check_signature`.
fn check_signatures(root: Node<'_, '_>, signers: &[Node<'_, '_>], allow_sha1: bool) -> Result<(), SamlError> {
    for sig in root.descendants().filter(|n| dom::is(*n, NS_DSIG, "Signature")) {
        let parent =
            sig.parent_element().ok_or(SamlError::Misplaced { what: "detached Signature".into() })?;
        if !signers.contains(&parent) {
            return Err(SamlError::Misplaced {
                what: format!("a Signature inside {}", dom::describe(parent)),
            });
        }
        // One signature per signed element.
        dom::child(parent, NS_DSIG, "Signature")?;
        check_signature(sig, parent, allow_sha1)?;
    }
    Ok(())
}

/// SAML Core 5.4.2: "Signatures MUST contain a single <ds:Reference>
/// containing a same-document reference to the ID attribute value of the
/// root element of the assertion or protocol message being signed."
/// 5.4.3/5.4.4: only the enveloped-signature and canonicalization transforms.
fn check_signature(sig: Node<'_, '_>, parent: Node<'_, '_>, allow_sha1: bool) -> Result<(), SamlError> {
    let expected = format!("#{}", dom::id(parent).unwrap_or_default());
    let signed_info = dom::required(sig, NS_DSIG, "SignedInfo")?;
    let c14n = dom::required(signed_info, NS_DSIG, "CanonicalizationMethod")?;
    let c14n_alg = c14n.attribute("Algorithm").unwrap_or_default();
    if !C14N.contains(&c14n_alg) {
        return Err(SamlError::DisallowedTransform { algorithm: c14n_alg.to_string() });
    }
    let method = dom::required(signed_info, NS_DSIG, "SignatureMethod")?;
    let alg = method.attribute("Algorithm").unwrap_or_default();
    let sha1_ok = allow_sha1 && SIGNATURE_SHA1.contains(&alg);
    if !SIGNATURE_SHA2.contains(&alg) && !sha1_ok {
        return Err(SamlError::WeakAlgorithm { algorithm: alg.to_string() });
    }
    let refs: Vec<Node<'_, '_>> = dom::children(signed_info, NS_DSIG, "Reference").collect();
    let [reference] = refs.as_slice() else {
        return Err(SamlError::ReferenceMismatch { expected, got: format!("{} references", refs.len()) });
    };
    let uri = reference.attribute("URI").unwrap_or_default();
    if expected.len() < 2 || uri != expected {
        return Err(SamlError::ReferenceMismatch { expected, got: uri.to_string() });
    }
    if let Some(transforms) = dom::child(*reference, NS_DSIG, "Transforms")? {
        for t in transforms.children().filter(|c| c.is_element()) {
            let a = t.attribute("Algorithm").unwrap_or_default();
            if !dom::is(t, NS_DSIG, "Transform") || (a != ENVELOPED && !C14N.contains(&a)) {
                return Err(SamlError::DisallowedTransform { algorithm: a.to_string() });
            }
        }
    }
    let digest = dom::required(*reference, NS_DSIG, "DigestMethod")?;
    let d = digest.attribute("Algorithm").unwrap_or_default();
    let digest_ok = DIGEST_SHA2.contains(&d) || (allow_sha1 && d == DIGEST_SHA1);
    if !digest_ok {
        return Err(SamlError::WeakAlgorithm { algorithm: d.to_string() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(uri: &str, alg: &str) -> String {
        format!(
            "<ds:Signature xmlns:ds=\"{NS_DSIG}\"><ds:SignedInfo>\
             <ds:CanonicalizationMethod Algorithm=\"{}\"/><ds:SignatureMethod Algorithm=\"{alg}\"/>\
             <ds:Reference URI=\"{uri}\"><ds:Transforms><ds:Transform Algorithm=\"{ENVELOPED}\"/></ds:Transforms>\
             <ds:DigestMethod Algorithm=\"{}\"/><ds:DigestValue/></ds:Reference></ds:SignedInfo></ds:Signature>",
            C14N[0], DIGEST_SHA2[0]
        )
    }

    fn response(inner: &str) -> String {
        format!(
            "<samlp:Response xmlns:samlp=\"{NS_PROTOCOL}\" xmlns:saml=\"{NS_ASSERTION}\" ID=\"r\" Version=\"2.0\">{inner}</samlp:Response>"
        )
    }

    fn check(xml: &str) -> Result<ResponseShape, SamlError> {
        let doc = dom::parse(xml)?;
        check_response(&doc, false)
    }

    #[test]
    fn accepts_signed_assertion() {
        let xml =
            response(&format!("<saml:Assertion ID=\"a\">{}</saml:Assertion>", sig("#a", SIGNATURE_SHA2[0])));
        let s = check(&xml).unwrap();
        assert_eq!(s.plain_assertion, Some(("a".into(), true)));
        assert!(!s.response_signed);
    }

    #[test]
    fn refuses_wrapping_shapes() {
        let two = response("<saml:Assertion ID=\"a\"/><saml:Assertion ID=\"b\"/>");
        assert!(matches!(check(&two), Err(SamlError::MultipleAssertions { count: 2 })));
        let nested = response("<samlp:Extensions><saml:Assertion ID=\"a\"/></samlp:Extensions>");
        assert!(matches!(check(&nested), Err(SamlError::Misplaced { .. })));
        let wrong_ref =
            response(&format!("<saml:Assertion ID=\"a\">{}</saml:Assertion>", sig("#r", SIGNATURE_SHA2[0])));
        assert!(matches!(check(&wrong_ref), Err(SamlError::ReferenceMismatch { .. })));
        let whole_doc =
            response(&format!("<saml:Assertion ID=\"a\">{}</saml:Assertion>", sig("", SIGNATURE_SHA2[0])));
        assert!(matches!(check(&whole_doc), Err(SamlError::ReferenceMismatch { .. })));
        let dup = response("<saml:Assertion ID=\"r\"/>");
        assert!(matches!(check(&dup), Err(SamlError::DuplicateId { .. })));
        let ns_dup = response("<saml:Assertion ID=\"a\"/><samlp:Extensions xmlns:x=\"urn:x\" x:ID=\"a\"/>");
        assert!(matches!(check(&ns_dup), Err(SamlError::DuplicateId { .. })));
        let dsig_dup = response("<saml:Assertion ID=\"a\"/><samlp:Extensions Id=\"a\"/>");
        assert!(matches!(check(&dsig_dup), Err(SamlError::DuplicateId { .. })));
        let sha1 =
            response(&format!("<saml:Assertion ID=\"a\">{}</saml:Assertion>", sig("#a", SIGNATURE_SHA1[0])));
        assert!(matches!(check(&sha1), Err(SamlError::WeakAlgorithm { .. })));
        let comment =
            response("<saml:Assertion ID=\"a\"><saml:NameID>a<!---->b</saml:NameID></saml:Assertion>");
        assert!(matches!(check(&comment), Err(SamlError::CommentInAssertion)));
    }
}
