//! Single Logout messages (SAML Core 3.7, Profiles 4.4) as pure functions of
//! the message, the connection's expectations and the time: validating an
//! IdP's LogoutRequest or LogoutResponse, and writing idbridge's own
//! LogoutRequest and LogoutResponse. Signatures: for HTTP-POST the enveloped
//! signature is verified by xmlsec against the connection's IdP certificates
//! only and every value is read from the verified content; for HTTP-Redirect
//! the caller has verified the query signature (redirect_binding.rs) before
//! the message was even inflated. What needs the store (replay, InResponseTo
//! of a request idbridge sent) is done by the caller (slo.rs).

use openssl::pkey::{PKey, Private};
use roxmltree::Node;
use samael::crypto::{CryptoProvider, XmlSec};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::authn_request::xml_escape;
use super::dom::{self, NS_ASSERTION, NS_PROTOCOL};
use super::error::SamlError;
use super::{structure, verify};

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// How old a logout message may be (its IssueInstant), beyond the clock skew:
/// an IdP sends it right away; 5 minutes bound how long a captured one lives.
pub const MAX_AGE_SECS: i64 = 300;

/// How a message arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// HTTP-Redirect: the query signature was verified by the caller.
    RedirectVerified,
    /// HTTP-POST: the message must carry an enveloped signature.
    Post,
}

/// What the connection expects of a logout message.
pub struct Expectations<'a> {
    pub idp_entity_id: &'a str,
    pub trusted_certs: &'a [Vec<u8>],
    /// idbridge's SLO URL: every Destination must equal it.
    pub slo_url: &'a str,
    pub clock_skew_secs: i64,
    pub allow_sha1: bool,
    pub now: OffsetDateTime,
}

/// A LogoutRequest that passed every check needing no store.
#[derive(Debug, Clone)]
pub struct ValidLogoutRequest {
    pub id: String,
    pub name_id: String,
    /// SessionIndex values (SAML Core 3.7.1); none means every session of the NameID.
    pub session_indexes: Vec<String>,
    /// Keep the ID (replay cache) until then.
    pub replay_until: OffsetDateTime,
}

/// A LogoutResponse that passed every check needing no store.
#[derive(Debug, Clone)]
pub struct ValidLogoutResponse {
    pub id: String,
    pub in_response_to: String,
    pub status: String,
    pub replay_until: OffsetDateTime,
}

/// Run `f` over the element whose values may be believed: the verified
/// content (POST) or the query-signed document (Redirect).
fn with_trusted<T>(
    xml: &str,
    name: &'static str,
    exp: &Expectations<'_>,
    binding: Binding,
    f: impl FnOnce(Node<'_, '_>) -> Result<T, SamlError>,
) -> Result<T, SamlError> {
    let raw = dom::parse(xml)?;
    let (id, signed) = structure::check_logout_message(&raw, name, exp.allow_sha1)?;
    match binding {
        Binding::RedirectVerified => f(raw.root_element()),
        Binding::Post => {
            // SAML Profiles 4.4.4.1/4.4.4.2: logout messages MUST be signed
            // (or otherwise authenticated); over the browser only a signature can.
            if !signed {
                return Err(SamlError::MessageUnsigned { what: name });
            }
            let verified = verify::verified_content(xml, exp.trusted_certs, exp.allow_sha1)?;
            let vdoc = dom::parse(&verified)?;
            let root = vdoc.root_element();
            if !dom::is(root, NS_PROTOCOL, name) || dom::id(root) != Some(id.as_str()) {
                return Err(SamlError::SignedElementMismatch {
                    detail: format!("verified {} is not {name} {id}", dom::describe(root)),
                });
            }
            f(root)
        }
    }
}

fn time_attr(n: Node<'_, '_>, name: &'static str) -> Result<Option<OffsetDateTime>, SamlError> {
    n.attribute(name)
        .map(|s| OffsetDateTime::parse(s.trim(), &Rfc3339).map_err(|_| SamlError::Missing { what: name }))
        .transpose()
}

fn fmt(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Issuer, Destination and IssueInstant, common to both messages. Returns
/// how long the message could be accepted.
fn check_common(
    root: Node<'_, '_>,
    name: &'static str,
    exp: &Expectations<'_>,
) -> Result<OffsetDateTime, SamlError> {
    // SAML Profiles 4.4.4.1/4.4.4.2: the Issuer MUST be present and be the IdP.
    let issuer = dom::text(dom::required(root, NS_ASSERTION, "Issuer")?)?;
    if issuer != exp.idp_entity_id {
        return Err(SamlError::IssuerMismatch {
            element: name,
            expected: exp.idp_entity_id.into(),
            got: issuer,
        });
    }
    // SAML Bindings 3.4.5.2/3.5.5.2: a signed message MUST carry the
    // Destination, and it must be the URL it was received at.
    let dest = root.attribute("Destination").unwrap_or_default();
    if dest != exp.slo_url {
        return Err(SamlError::DestinationMismatch { expected: exp.slo_url.into(), got: dest.into() });
    }
    // SAML Core 3.2.1: IssueInstant is required; a logout message is used
    // right away, so an old one (or one from the future) is refused.
    let skew = time::Duration::seconds(exp.clock_skew_secs);
    let issued = time_attr(root, "IssueInstant")?.ok_or(SamlError::Missing { what: "IssueInstant" })?;
    if issued > exp.now + skew {
        return Err(SamlError::NotYetValid { what: name, at: fmt(issued), skew: exp.clock_skew_secs });
    }
    let until = issued + time::Duration::seconds(MAX_AGE_SECS) + skew;
    if exp.now >= until {
        return Err(SamlError::Expired {
            what: "IssueInstant + 5 minutes of",
            at: fmt(issued),
            skew: exp.clock_skew_secs,
        });
    }
    Ok(until)
}

/// Validate a guarded LogoutRequest (SAML Core 3.7.1, Profiles 4.4.4.1).
/// Blocking (xmlsec): run it in `spawn_blocking`.
pub fn validate_request(
    xml: &str,
    exp: &Expectations<'_>,
    binding: Binding,
) -> Result<ValidLogoutRequest, SamlError> {
    with_trusted(xml, "LogoutRequest", exp, binding, |root| {
        let mut until = check_common(root, "LogoutRequest", exp)?;
        // SAML Core 3.7.1: NotOnOrAfter, when given, bounds the request.
        if let Some(noa) = time_attr(root, "NotOnOrAfter")? {
            let skew = time::Duration::seconds(exp.clock_skew_secs);
            if exp.now - skew >= noa {
                return Err(SamlError::Expired {
                    what: "LogoutRequest",
                    at: fmt(noa),
                    skew: exp.clock_skew_secs,
                });
            }
            until = until.max(noa + skew);
        }
        // SAML Core 3.7.1: the principal is a BaseID, NameID or EncryptedID;
        // idbridge records NameIDs only, so only a NameID can name a session.
        let name_id_el = dom::child(root, NS_ASSERTION, "NameID")?
            .ok_or(SamlError::Missing { what: "NameID (BaseID and EncryptedID are not supported)" })?;
        let name_id = dom::text(name_id_el)?;
        if name_id.is_empty() {
            return Err(SamlError::Missing { what: "NameID" });
        }
        let session_indexes =
            dom::children(root, NS_PROTOCOL, "SessionIndex").map(dom::text).collect::<Result<Vec<_>, _>>()?;
        let id = dom::id(root).unwrap_or_default().to_string();
        Ok(ValidLogoutRequest { id, name_id, session_indexes, replay_until: until })
    })
}

/// Validate a guarded LogoutResponse (SAML Core 3.7.2, Profiles 4.4.4.2).
pub fn validate_response(
    xml: &str,
    exp: &Expectations<'_>,
    binding: Binding,
) -> Result<ValidLogoutResponse, SamlError> {
    with_trusted(xml, "LogoutResponse", exp, binding, |root| {
        let until = check_common(root, "LogoutResponse", exp)?;
        let in_response_to = root
            .attribute("InResponseTo")
            .filter(|s| !s.is_empty())
            .ok_or(SamlError::Missing { what: "InResponseTo" })?
            .to_string();
        let status = dom::required(root, NS_PROTOCOL, "Status")?;
        let code = dom::required(status, NS_PROTOCOL, "StatusCode")?;
        let status = code.attribute("Value").unwrap_or_default().to_string();
        let id = dom::id(root).unwrap_or_default().to_string();
        Ok(ValidLogoutResponse { id, in_response_to, status, replay_until: until })
    })
}

fn instant(now: OffsetDateTime) -> String {
    now.replace_nanosecond(0).unwrap_or(now).format(&Rfc3339).unwrap_or_default()
}

/// The NameID of a session as the IdP gave it (value, Format, qualifiers).
pub struct NameId<'a> {
    pub value: &'a str,
    pub format: Option<&'a str>,
    pub name_qualifier: Option<&'a str>,
    pub sp_name_qualifier: Option<&'a str>,
}

fn opt_attr(name: &str, v: Option<&str>) -> String {
    v.map(|v| format!(" {name}=\"{}\"", xml_escape(v))).unwrap_or_default()
}

/// idbridge's LogoutRequest (SP-initiated SLO, SAML Core 3.7.1): the NameID
/// exactly as the IdP sent it at login, and its SessionIndex.
pub fn request_xml(
    id: &str,
    destination: &str,
    sp_entity_id: &str,
    name_id: &NameId<'_>,
    session_index: Option<&str>,
    now: OffsetDateTime,
) -> String {
    let index = session_index
        .map(|s| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", xml_escape(s)))
        .unwrap_or_default();
    format!(
        "<samlp:LogoutRequest xmlns:samlp=\"{NS_PROTOCOL}\" xmlns:saml=\"{NS_ASSERTION}\" ID=\"{}\" \
         Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\" NotOnOrAfter=\"{}\">\
         <saml:Issuer>{}</saml:Issuer><saml:NameID{}{}{}>{}</saml:NameID>{index}</samlp:LogoutRequest>",
        xml_escape(id),
        instant(now),
        xml_escape(destination),
        instant(now + time::Duration::seconds(MAX_AGE_SECS)),
        xml_escape(sp_entity_id),
        opt_attr("Format", name_id.format),
        opt_attr("NameQualifier", name_id.name_qualifier),
        opt_attr("SPNameQualifier", name_id.sp_name_qualifier),
        xml_escape(name_id.value),
    )
}

/// idbridge's LogoutResponse (SAML Core 3.7.2); with `signed`, an enveloped
/// signature template after the Issuer (SAML Core 5.4.2) for `sign_enveloped`.
pub fn response_xml(
    id: &str,
    destination: &str,
    sp_entity_id: &str,
    in_response_to: &str,
    now: OffsetDateTime,
    signed: bool,
) -> String {
    let sig = if signed {
        format!(
            "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>\
             <ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
             <ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>\
             <ds:Reference URI=\"#{}\"><ds:Transforms>\
             <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
             <ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>\
             <ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/>\
             </ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>",
            xml_escape(id)
        )
    } else {
        String::new()
    };
    format!(
        "<samlp:LogoutResponse xmlns:samlp=\"{NS_PROTOCOL}\" xmlns:saml=\"{NS_ASSERTION}\" ID=\"{}\" \
         Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\" InResponseTo=\"{}\">\
         <saml:Issuer>{}</saml:Issuer>{sig}<samlp:Status><samlp:StatusCode Value=\"{STATUS_SUCCESS}\"/>\
         </samlp:Status></samlp:LogoutResponse>",
        xml_escape(id),
        instant(now),
        xml_escape(destination),
        xml_escape(in_response_to),
        xml_escape(sp_entity_id),
    )
}

/// Fill the signature template of `xml` with the SP signing key (xmlsec).
/// Blocking: call from `spawn_blocking`.
pub fn sign_enveloped(xml: &str, key: &PKey<Private>) -> Result<String, SamlError> {
    let mis = |d: String| SamlError::Misconfigured { detail: d };
    let der = key.private_key_to_der().map_err(|e| mis(format!("SP signing key: {e}")))?;
    XmlSec::sign_xml(xml, &der).map_err(|e| mis(format!("signing LogoutResponse: {e}")))
}
