//! IdP metadata: parsed from XML pasted by the operator or fetched from the
//! IdP's metadata URL behind the outbound guard (https only — plain http only
//! to loopback —, no redirects, destination address checked against the
//! policy; timeout, size cap): the metadata carries the certificates every
//! signature is checked with, so no one on the path may swap them. What is
//! kept: the entityID, the HTTP-Redirect SingleSignOnService, and every
//! signing certificate (several at once during a rollover). Metadata without
//! a signing certificate is refused: without one, no signature could be
//! checked (samael would then skip the check and accept anything).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::x509::X509;

use super::config::{IdpConfig, SloService};
use super::dom::{self, NS_DSIG, NS_METADATA};
use super::xml_guard;
use crate::error::Error;
use crate::outbound::{self, Policy};

pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
/// Metadata fetches give up after this long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest metadata document fetched (Entra's is ~25 KiB).
const MAX_METADATA_BYTES: usize = xml_guard::MAX_XML_BYTES;

fn bad(message: impl Into<String>) -> Error {
    Error::invalid("idp_metadata", message)
}

/// Parse IdP metadata into what a connection keeps.
pub fn parse(xml: &str) -> Result<IdpConfig, Error> {
    let xml = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    xml_guard::guard(xml).map_err(|e| bad(e.to_string()))?;
    let doc = dom::parse(xml).map_err(|e| bad(e.to_string()))?;
    let root = doc.root_element();
    let entities: Vec<roxmltree::Node<'_, '_>> = if dom::is(root, NS_METADATA, "EntityDescriptor") {
        vec![root]
    } else if dom::is(root, NS_METADATA, "EntitiesDescriptor") {
        root.descendants()
            .filter(|n| dom::is(*n, NS_METADATA, "EntityDescriptor"))
            .filter(|n| dom::children(*n, NS_METADATA, "IDPSSODescriptor").next().is_some())
            .collect()
    } else {
        return Err(bad(format!("root element is {}, not md:EntityDescriptor", dom::describe(root))));
    };
    let [entity] = entities.as_slice() else {
        return Err(bad(format!(
            "{} identity providers in the metadata; exactly one is needed",
            entities.len()
        )));
    };
    let entity_id =
        entity.attribute("entityID").filter(|s| !s.trim().is_empty()).ok_or_else(|| bad("no entityID"))?;
    let idp = dom::children(*entity, NS_METADATA, "IDPSSODescriptor")
        .next()
        .ok_or_else(|| bad("no IDPSSODescriptor: this is not an identity provider's metadata"))?;
    let mut certs: Vec<String> = Vec::new();
    for kd in dom::children(idp, NS_METADATA, "KeyDescriptor") {
        if !matches!(kd.attribute("use"), None | Some("signing")) {
            continue;
        }
        for c in kd.descendants().filter(|n| dom::is(*n, NS_DSIG, "X509Certificate")) {
            let b64: String = c.text().unwrap_or_default().chars().filter(|c| !c.is_whitespace()).collect();
            let der =
                STANDARD.decode(&b64).map_err(|e| bad(format!("X509Certificate is not base64: {e}")))?;
            X509::from_der(&der).map_err(|e| bad(format!("X509Certificate does not parse: {e}")))?;
            let canonical = STANDARD.encode(&der);
            if !certs.contains(&canonical) {
                certs.push(canonical);
            }
        }
    }
    if certs.is_empty() {
        return Err(bad(
            "the IdP metadata has no signing certificate; without one no signature could be checked",
        ));
    }
    let sso_url = dom::children(idp, NS_METADATA, "SingleSignOnService")
        .find(|s| s.attribute("Binding") == Some(BINDING_REDIRECT))
        .and_then(|s| s.attribute("Location"))
        .map(str::to_string);
    // SAML Metadata 2.2.2/2.4.1: SingleLogoutService, one per binding kept
    // (the first); only absolute http(s) URLs, as they become redirect targets.
    let mut slo: Vec<SloService> = Vec::new();
    for s in dom::children(idp, NS_METADATA, "SingleLogoutService") {
        let binding = s.attribute("Binding").unwrap_or_default();
        if ![BINDING_REDIRECT, BINDING_POST].contains(&binding) || slo.iter().any(|x| x.binding == binding) {
            continue;
        }
        let Some(location) = s.attribute("Location").filter(|l| is_http_url(l)) else { continue };
        slo.push(SloService {
            binding: binding.to_string(),
            location: location.to_string(),
            response_location: s.attribute("ResponseLocation").filter(|l| is_http_url(l)).map(str::to_string),
        });
    }
    Ok(IdpConfig {
        entity_id: entity_id.to_string(),
        sso_url,
        signing_certs: certs,
        slo,
        metadata_url: None,
        metadata_fetched_at: None,
    })
}

fn is_http_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
}

/// Fetch metadata from `url` within `policy`: 10 s timeout, 256 KiB cap, no
/// redirects. A refusal names its reason (422 on the admin API).
pub async fn fetch(url: &str, policy: Policy) -> Result<String, Error> {
    let field = "idp_metadata_url";
    let refused = |e: outbound::Refused| Error::invalid(field, format!("refused: {e}"));
    // Before any packet: https (http only to loopback), an address literal's class.
    let parsed = outbound::check_url(url, policy).map_err(refused)?;
    let client = outbound::client_builder(policy)
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| Error::invalid(field, format!("HTTP client: {e}")))?;
    let fail = |e: reqwest::Error| match outbound::refusal_in(&e) {
        Some(r) => refused(r),
        None => Error::invalid(field, format!("fetching {url}: {e}")),
    };
    let mut resp = client.get(parsed).send().await.map_err(fail)?;
    outbound::refuse_redirect(url, &resp).map_err(refused)?;
    if !resp.status().is_success() {
        return Err(Error::invalid(field, format!("fetching {url}: HTTP {}", resp.status())));
    }
    if resp.content_length().is_some_and(|n| n > MAX_METADATA_BYTES as u64) {
        return Err(Error::invalid(field, format!("metadata larger than {MAX_METADATA_BYTES} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(fail)? {
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(Error::invalid(field, format!("metadata larger than {MAX_METADATA_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| Error::invalid(field, "metadata is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_b64() -> String {
        let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let cert = super::super::keys::self_signed(&key, "t").unwrap();
        STANDARD.encode(cert.to_der().unwrap())
    }

    fn md(kd: &str) -> String {
        format!(
            "<md:EntityDescriptor xmlns:md=\"{NS_METADATA}\" xmlns:ds=\"{NS_DSIG}\" entityID=\"http://idp\">\
             <md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">{kd}\
             <md:SingleLogoutService Binding=\"{BINDING_REDIRECT}\" Location=\"https://idp/slo\" ResponseLocation=\"https://idp/slo-r\"/>\
             <md:SingleLogoutService Binding=\"{BINDING_POST}\" Location=\"javascript:x\"/>\
             <md:SingleSignOnService Binding=\"{BINDING_REDIRECT}\" Location=\"https://idp/sso\"/>\
             </md:IDPSSODescriptor></md:EntityDescriptor>"
        )
    }

    #[test]
    fn keeps_every_signing_cert_and_refuses_none() {
        let (a, b) = (cert_b64(), cert_b64());
        let kd = |c: &str, u: &str| {
            format!(
                "<md:KeyDescriptor {u}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            )
        };
        let idp = parse(&md(&format!("{}{}", kd(&a, "use=\"signing\""), kd(&b, "")))).unwrap();
        assert_eq!(idp.signing_certs, vec![a.clone(), b]);
        assert_eq!(idp.sso_url.as_deref(), Some("https://idp/sso"));
        let slo = idp.slo_for(BINDING_REDIRECT).unwrap();
        assert_eq!((slo.location.as_str(), slo.response_url()), ("https://idp/slo", "https://idp/slo-r"));
        assert!(idp.slo_for(BINDING_POST).is_none(), "a non-http(s) Location is not kept");
        assert!(parse(&md(&kd(&a, "use=\"encryption\""))).is_err(), "encryption-only key is no signing key");
        assert!(parse(&md("")).is_err());
        assert!(parse("<!DOCTYPE x><x/>").is_err());
    }
}
