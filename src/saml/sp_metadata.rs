//! The SP metadata an IdP imports (`GET /saml/{id}/metadata`): entityID, the
//! ACS (HTTP-POST), the SingleLogoutService (HTTP-Redirect and HTTP-POST,
//! SAML Metadata 2.4.1: before the NameIDFormats), the signing and encryption certificates, the encryption
//! algorithms idbridge decrypts, and the NameID formats it understands.

use super::authn_request::xml_escape;
use super::error::SamlError;
use super::{Service, connection};

/// What the metadata says.
pub struct SpMetadata<'a> {
    pub entity_id: &'a str,
    pub acs_url: &'a str,
    /// The SingleLogoutService (HTTP-Redirect and HTTP-POST).
    pub slo_url: &'a str,
    /// Base64 DER.
    pub signing_cert: &'a str,
    pub encryption_cert: &'a str,
}

/// The SP metadata of connection `id`.
pub async fn for_connection(svc: &Service, id: &str) -> Result<String, SamlError> {
    let conn = connection::load(svc, id).await?;
    let urls = conn.urls(&svc.public_url);
    Ok(render(&SpMetadata {
        entity_id: &urls.entity_id,
        acs_url: &urls.acs,
        slo_url: &urls.slo,
        signing_cert: &conn.cfg.sp_signing_cert,
        encryption_cert: &conn.cfg.sp_encryption_cert,
    }))
}

const ENCRYPTION_METHODS: [&str; 4] = [
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
];

const NAME_ID_FORMATS: [&str; 3] = [
    "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
];

fn key_descriptor(usage: &str, cert: &str, methods: &[&str]) -> String {
    let methods: String =
        methods.iter().map(|m| format!("<md:EncryptionMethod Algorithm=\"{m}\"/>")).collect();
    format!(
        "<md:KeyDescriptor use=\"{usage}\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}\
         </ds:X509Certificate></ds:X509Data></ds:KeyInfo>{methods}</md:KeyDescriptor>",
        xml_escape(cert)
    )
}

/// The metadata document.
pub fn render(m: &SpMetadata<'_>) -> String {
    let formats: String =
        NAME_ID_FORMATS.iter().map(|f| format!("<md:NameIDFormat>{f}</md:NameIDFormat>")).collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" \
         xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"{}\">\
         <md:SPSSODescriptor AuthnRequestsSigned=\"true\" WantAssertionsSigned=\"true\" \
         protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">{}{}\
         <md:SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"{slo}\"/>\
         <md:SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"{slo}\"/>{formats}\
         <md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" \
         Location=\"{}\" index=\"0\" isDefault=\"true\"/></md:SPSSODescriptor></md:EntityDescriptor>\n",
        xml_escape(m.entity_id),
        key_descriptor("signing", m.signing_cert, &[]),
        key_descriptor("encryption", m.encryption_cert, &ENCRYPTION_METHODS),
        xml_escape(m.acs_url),
        slo = xml_escape(m.slo_url),
    )
}
