//! Validation of a SAML Response posted to the ACS (SAML Profiles 4.1.4.3),
//! as a pure function of the message, the connection's expectations and the
//! time. Order: status → shape (structure.rs) → signatures (verify.rs) →
//! decryption (decrypt.rs) → every remaining check, reading each value from
//! the verified pre-digest content only. What needs the store (InResponseTo
//! of an issued request, the replay cache) is done by the caller with the
//! `ValidAssertion` this returns.

use openssl::pkey::{PKey, Private};
use roxmltree::Node;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::dom::{self, NS_ASSERTION, NS_PROTOCOL, NS_XENC};
use super::error::SamlError;
use super::{decrypt, structure, verify};

const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// What the connection expects of a Response.
pub struct Expectations<'a> {
    pub idp_entity_id: &'a str,
    /// Trusted IdP signing certificates (DER).
    pub trusted_certs: &'a [Vec<u8>],
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    pub clock_skew_secs: i64,
    pub allow_sha1: bool,
    /// The SP encryption key (for EncryptedAssertion).
    pub decryption_key: Option<&'a PKey<Private>>,
    pub now: OffsetDateTime,
}

/// A Response that passed every check that needs no store.
#[derive(Debug, Clone)]
pub struct ValidAssertion {
    pub assertion_id: String,
    /// The request this answers (SP-initiated), from the signed assertion.
    pub in_response_to: Option<String>,
    /// Until when the assertion could be replayed: keep its ID that long.
    pub replay_until: OffsetDateTime,
    pub name_id: String,
    pub name_id_format: Option<String>,
    /// NameID `NameQualifier` and `SPNameQualifier` (SAML Core 2.2.2): a
    /// LogoutRequest names the subject with them again.
    pub name_id_qualifier: Option<String>,
    pub sp_name_qualifier: Option<String>,
    /// The first AuthnStatement's `SessionIndex` (SAML Core 2.7.2).
    pub session_index: Option<String>,
    /// The earliest AuthnStatement `SessionNotOnOrAfter`: the IdP's bound on
    /// the session, which idbridge's session must not outlive.
    pub session_not_on_or_after: Option<OffsetDateTime>,
    /// Attributes in document order: (Name, values).
    pub attributes: Vec<(String, Vec<String>)>,
}

/// Validate a guarded Response document. Blocking (xmlsec): run it in `spawn_blocking`.
pub fn validate(xml: &str, exp: &Expectations<'_>) -> Result<ValidAssertion, SamlError> {
    let raw = dom::parse(xml)?;
    // SAML Profiles 4.1.4.3: a Response whose top-level status is not Success
    // carries no login (checked first so the log says why the IdP refused).
    check_status(raw.root_element())?;
    let shape = structure::check_response(&raw, exp.allow_sha1)?;

    // The envelope: from the verified Response when it is signed, else the
    // raw one (then its values are only cross-checked, never trusted alone).
    let signed_response = if shape.response_signed {
        Some(verify::verified_content(xml, exp.trusted_certs, exp.allow_sha1)?)
    } else {
        None
    };
    let signed_doc = signed_response.as_deref().map(dom::parse).transpose()?;
    let envelope = match &signed_doc {
        Some(d) => {
            let r = d.root_element();
            if !dom::is(r, NS_PROTOCOL, "Response") || dom::id(r) != Some(shape.response_id.as_str()) {
                return Err(SamlError::SignedElementMismatch {
                    detail: format!("verified {} is not Response {}", dom::describe(r), shape.response_id),
                });
            }
            r
        }
        None => raw.root_element(),
    };
    let env = check_envelope(envelope, exp)?;

    match &shape.plain_assertion {
        Some((id, assertion_signed)) => {
            if shape.response_signed {
                // Covered by the Response signature (and its own, if any, was verified too).
                let a = only_assertion(envelope, id)?;
                check_assertion(a, env, exp)
            } else if *assertion_signed {
                let verified = verify::verified_content(xml, exp.trusted_certs, exp.allow_sha1)?;
                let vdoc = dom::parse(&verified)?;
                let a = vdoc.root_element();
                if !dom::is(a, NS_ASSERTION, "Assertion") || dom::id(a) != Some(id.as_str()) {
                    return Err(SamlError::SignedElementMismatch {
                        detail: format!("verified {} is not Assertion {id}", dom::describe(a)),
                    });
                }
                check_assertion(a, env, exp)
            } else {
                Err(SamlError::Unsigned)
            }
        }
        None => {
            let key = exp
                .decryption_key
                .ok_or(SamlError::Misconfigured { detail: "no SP decryption key".into() })?;
            let ea = dom::required(envelope, NS_ASSERTION, "EncryptedAssertion")?;
            let plaintext = decrypt::decrypt_assertion(ea, key)?;
            // Until the decrypted assertion's signature has verified, every
            // failure is the same `decrypt_failed`: an unauthenticated CBC
            // ciphertext must not become a decryption oracle (Jager and
            // Somorovsky, "How to Break XML Encryption"). The precise cause is
            // in the logged detail. A signed Response authenticates the
            // ciphertext itself, so then precise reasons are safe.
            let opaque = |e: SamlError| match e {
                SamlError::Decrypt { .. } => e,
                other if !shape.response_signed => {
                    SamlError::Decrypt { detail: format!("decrypted assertion refused: {other}") }
                }
                other => other,
            };
            let pdoc = dom::parse(&plaintext)
                .map_err(|e| SamlError::Decrypt { detail: format!("plaintext: {e}") })?;
            let (id, assertion_signed) =
                structure::check_assertion_doc(&pdoc, exp.allow_sha1).map_err(opaque)?;
            if assertion_signed {
                let verified = verify::verified_content(&plaintext, exp.trusted_certs, exp.allow_sha1)
                    .map_err(opaque)?;
                let vdoc = dom::parse(&verified).map_err(opaque)?;
                let a = vdoc.root_element();
                if !dom::is(a, NS_ASSERTION, "Assertion") || dom::id(a) != Some(id.as_str()) {
                    return Err(opaque(SamlError::SignedElementMismatch {
                        detail: format!("verified {} is not Assertion {id}", dom::describe(a)),
                    }));
                }
                check_assertion(a, env, exp)
            } else if shape.response_signed {
                // Encrypt-then-sign: the Response signature covers the ciphertext.
                check_assertion(pdoc.root_element(), env, exp)
            } else {
                Err(opaque(SamlError::Unsigned))
            }
        }
    }
}

fn only_assertion<'a, 'i>(envelope: Node<'a, 'i>, id: &str) -> Result<Node<'a, 'i>, SamlError> {
    let a = dom::required(envelope, NS_ASSERTION, "Assertion")?;
    if dom::id(a) != Some(id) {
        return Err(SamlError::SignedElementMismatch {
            detail: format!("signed Response holds another assertion than {id}"),
        });
    }
    Ok(a)
}

fn check_status(root: Node<'_, '_>) -> Result<(), SamlError> {
    if !dom::is(root, NS_PROTOCOL, "Response") {
        return Err(SamlError::NotAResponse { got: dom::describe(root) });
    }
    let status = dom::required(root, NS_PROTOCOL, "Status")?;
    let code = dom::required(status, NS_PROTOCOL, "StatusCode")?;
    let value = code.attribute("Value").unwrap_or_default();
    if value != STATUS_SUCCESS {
        let sub =
            dom::child(code, NS_PROTOCOL, "StatusCode")?.and_then(|s| s.attribute("Value")).unwrap_or("");
        return Err(SamlError::StatusNotSuccess { code: format!("{value} {sub}").trim().to_string() });
    }
    Ok(())
}

/// What the envelope says (checked; InResponseTo compared with the assertion's).
#[derive(Clone, Copy)]
struct Envelope<'a> {
    in_response_to: Option<&'a str>,
}

fn check_envelope<'a>(r: Node<'a, '_>, exp: &Expectations<'_>) -> Result<Envelope<'a>, SamlError> {
    // SAML Bindings 3.5.5.2: the Destination must be the URL the message was
    // received at; a signed message must carry it. idbridge asks it of every
    // Response (Okta and Entra always send it).
    match r.attribute("Destination") {
        Some(d) if d == exp.acs_url => {}
        Some(d) => {
            return Err(SamlError::DestinationMismatch { expected: exp.acs_url.into(), got: d.into() });
        }
        None => {
            return Err(SamlError::DestinationMismatch { expected: exp.acs_url.into(), got: String::new() });
        }
    }
    // SAML Profiles 4.1.4.2: if the Response has an Issuer it must be the IdP.
    if let Some(iss) = dom::child(r, NS_ASSERTION, "Issuer")? {
        let got = dom::text(iss)?;
        if got != exp.idp_entity_id {
            return Err(SamlError::IssuerMismatch {
                element: "Response",
                expected: exp.idp_entity_id.into(),
                got,
            });
        }
    }
    Ok(Envelope { in_response_to: r.attribute("InResponseTo") })
}

fn time_attr(n: Node<'_, '_>, name: &str, what: &'static str) -> Result<Option<OffsetDateTime>, SamlError> {
    match n.attribute(name) {
        None => Ok(None),
        Some(s) => {
            OffsetDateTime::parse(s.trim(), &Rfc3339).map(Some).map_err(|_| SamlError::Missing { what })
        }
    }
}

fn fmt(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// NotBefore ≤ now + skew and now − skew < NotOnOrAfter.
fn window(
    n: Node<'_, '_>,
    what: &'static str,
    exp: &Expectations<'_>,
) -> Result<Option<OffsetDateTime>, SamlError> {
    let skew = time::Duration::seconds(exp.clock_skew_secs);
    if let Some(nb) = time_attr(n, "NotBefore", "NotBefore")? {
        if exp.now + skew < nb {
            return Err(SamlError::NotYetValid { what, at: fmt(nb), skew: exp.clock_skew_secs });
        }
    }
    let noa = time_attr(n, "NotOnOrAfter", "NotOnOrAfter")?;
    if let Some(noa) = noa {
        if exp.now - skew >= noa {
            return Err(SamlError::Expired { what, at: fmt(noa), skew: exp.clock_skew_secs });
        }
    }
    Ok(noa)
}

fn check_assertion(
    a: Node<'_, '_>,
    env: Envelope<'_>,
    exp: &Expectations<'_>,
) -> Result<ValidAssertion, SamlError> {
    if a.attribute("Version") != Some("2.0") {
        return Err(SamlError::BadVersion {
            element: "Assertion",
            got: a.attribute("Version").unwrap_or("").into(),
        });
    }
    let assertion_id = dom::id(a).ok_or(SamlError::Missing { what: "Assertion ID" })?.to_string();
    time_attr(a, "IssueInstant", "IssueInstant")?.ok_or(SamlError::Missing { what: "IssueInstant" })?;
    // SAML Profiles 4.1.4.2: the assertion's Issuer is the IdP of this connection.
    let issuer = dom::text(dom::required(a, NS_ASSERTION, "Issuer")?)?;
    if issuer != exp.idp_entity_id {
        return Err(SamlError::IssuerMismatch {
            element: "Assertion",
            expected: exp.idp_entity_id.into(),
            got: issuer,
        });
    }
    let subject = dom::required(a, NS_ASSERTION, "Subject")?;
    let name_id_el =
        dom::child(subject, NS_ASSERTION, "NameID")?.ok_or(SamlError::Missing { what: "NameID" })?;
    let name_id = dom::text(name_id_el)?;
    if name_id.is_empty() {
        return Err(SamlError::Missing { what: "NameID" });
    }
    let irt = bearer_confirmation(subject, exp)?;
    let scd_noa = irt.1;
    let assertion_irt = irt.0;
    // InResponseTo must agree between the envelope and the signed assertion:
    // an unsigned envelope cannot turn an IdP-initiated assertion into an
    // answer to a request, nor the reverse.
    if env.in_response_to.map(str::to_string) != assertion_irt {
        return Err(SamlError::InResponseToMismatch {
            response: env.in_response_to.map(str::to_string),
            assertion: assertion_irt,
        });
    }
    // SAML Profiles 4.1.4.2: an AudienceRestriction naming this SP is required
    // (samael checks the audience only when the restriction is present).
    let conditions = dom::child(a, NS_ASSERTION, "Conditions")?
        .ok_or(SamlError::AudienceMismatch { expected: exp.sp_entity_id.into(), got: Vec::new() })?;
    let cond_noa = window(conditions, "Conditions", exp)?;
    let restrictions: Vec<Node<'_, '_>> =
        dom::children(conditions, NS_ASSERTION, "AudienceRestriction").collect();
    if restrictions.is_empty() {
        return Err(SamlError::AudienceMismatch { expected: exp.sp_entity_id.into(), got: Vec::new() });
    }
    // SAML Core 2.5.1.4: every AudienceRestriction must be satisfied.
    for r in restrictions {
        let audiences =
            dom::children(r, NS_ASSERTION, "Audience").map(dom::text).collect::<Result<Vec<_>, _>>()?;
        if !audiences.iter().any(|x| x == exp.sp_entity_id) {
            return Err(SamlError::AudienceMismatch { expected: exp.sp_entity_id.into(), got: audiences });
        }
    }
    // SAML Profiles 4.1.4.2: at least one AuthnStatement; its session must not be over.
    let authn: Vec<Node<'_, '_>> = dom::children(a, NS_ASSERTION, "AuthnStatement").collect();
    if authn.is_empty() {
        return Err(SamlError::Missing { what: "AuthnStatement" });
    }
    let session_index = authn[0].attribute("SessionIndex").map(str::to_string);
    let mut session_not_on_or_after: Option<OffsetDateTime> = None;
    for s in authn {
        if let Some(t) = time_attr(s, "SessionNotOnOrAfter", "SessionNotOnOrAfter")? {
            if exp.now - time::Duration::seconds(exp.clock_skew_secs) >= t {
                return Err(SamlError::Expired {
                    what: "AuthnStatement session",
                    at: fmt(t),
                    skew: exp.clock_skew_secs,
                });
            }
            // SAML Core 2.7.2: SessionNotOnOrAfter is when the IdP says the
            // session ends; with several statements the earliest bound wins.
            session_not_on_or_after = Some(session_not_on_or_after.map_or(t, |u| u.min(t)));
        }
    }
    let mut attributes: Vec<(String, Vec<String>)> = Vec::new();
    for st in dom::children(a, NS_ASSERTION, "AttributeStatement") {
        for attr in dom::children(st, NS_ASSERTION, "Attribute") {
            let name = attr.attribute("Name").unwrap_or_default().to_string();
            let mut values = Vec::new();
            for v in dom::children(attr, NS_ASSERTION, "AttributeValue") {
                let t = dom::text(v)?;
                if !t.is_empty() {
                    values.push(t);
                }
            }
            attributes.push((name, values));
        }
    }
    if dom::child(a, NS_XENC, "EncryptedData")?.is_some() {
        return Err(SamlError::Misplaced { what: "encrypted data inside the assertion".into() });
    }
    let until = [Some(scd_noa), cond_noa].into_iter().flatten().max().unwrap_or(scd_noa);
    Ok(ValidAssertion {
        assertion_id,
        in_response_to: assertion_irt,
        replay_until: until + time::Duration::seconds(exp.clock_skew_secs),
        name_id,
        name_id_format: name_id_el.attribute("Format").map(str::to_string),
        name_id_qualifier: name_id_el.attribute("NameQualifier").map(str::to_string),
        sp_name_qualifier: name_id_el.attribute("SPNameQualifier").map(str::to_string),
        session_index,
        session_not_on_or_after,
        attributes,
    })
}

/// SAML Profiles 4.1.4.2/4.1.4.3: at least one bearer SubjectConfirmation
/// whose SubjectConfirmationData has Recipient = this ACS and a NotOnOrAfter
/// not passed (NotBefore, if any, reached). Returns its (InResponseTo, NotOnOrAfter).
fn bearer_confirmation(
    subject: Node<'_, '_>,
    exp: &Expectations<'_>,
) -> Result<(Option<String>, OffsetDateTime), SamlError> {
    let mut first_err = None;
    for sc in dom::children(subject, NS_ASSERTION, "SubjectConfirmation") {
        if sc.attribute("Method") != Some(CM_BEARER) {
            continue;
        }
        let attempt = (|| {
            let scd = dom::required(sc, NS_ASSERTION, "SubjectConfirmationData")?;
            let recipient = scd.attribute("Recipient").unwrap_or_default();
            if recipient != exp.acs_url {
                return Err(SamlError::RecipientMismatch {
                    expected: exp.acs_url.into(),
                    got: recipient.into(),
                });
            }
            let noa = window(scd, "SubjectConfirmationData", exp)?
                .ok_or(SamlError::Missing { what: "SubjectConfirmationData NotOnOrAfter" })?;
            Ok((scd.attribute("InResponseTo").map(str::to_string), noa))
        })();
        match attempt {
            Ok(v) => return Ok(v),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or(SamlError::NoBearerConfirmation))
}
