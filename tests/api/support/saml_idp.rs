//! A test identity provider: SAML Responses shaped like Okta's and Entra's
//! with current timestamps (`Spec`), as XML with signature templates, plus
//! the IdP metadata and the admin call that creates a connection trusting it.
//! saml_signer.rs signs and encrypts them; saml_client.rs posts them.

#![allow(dead_code)]

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::helpers::TestApp;

pub const OKTA_ENTITY: &str = "http://www.okta.com/exk1testokta";
pub const ENTRA_ENTITY: &str = "https://sts.windows.net/00000000-0000-0000-0000-00000000e1a0/";
pub const SSO_URL: &str = "https://idp.example.test/sso/saml";

pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
pub const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
pub const AES128_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes128-gcm";
pub const RSA_OAEP: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
pub const RSA_1_5: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";

const NS_P: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const NS_A: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

pub const ENTRA_EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
pub const ENTRA_GIVEN: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
pub const ENTRA_SURNAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";
pub const ENTRA_NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
pub const ENTRA_OID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";
pub const ENTRA_GROUPS: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";

/// A signing identity from fixtures/saml.
#[derive(Clone)]
pub struct Idp {
    pub entity_id: String,
    pub key: PathBuf,
    pub cert: PathBuf,
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/saml").join(name)
}

impl Idp {
    pub fn named(file: &str, entity_id: &str) -> Idp {
        Idp {
            entity_id: entity_id.into(),
            key: fixture(&format!("{file}.key")),
            cert: fixture(&format!("{file}.crt")),
        }
    }
    pub fn okta() -> Idp {
        Idp::named("idp-okta", OKTA_ENTITY)
    }
    /// Okta's next signing key (certificate rollover).
    pub fn okta_next() -> Idp {
        Idp::named("idp-okta-next", OKTA_ENTITY)
    }
    pub fn entra() -> Idp {
        Idp::named("idp-entra", ENTRA_ENTITY)
    }
    /// A key nobody trusts, claiming to be `entity_id`.
    pub fn attacker(entity_id: &str) -> Idp {
        Idp::named("attacker", entity_id)
    }

    /// The certificate as base64 DER (what metadata carries).
    pub fn cert_b64(&self) -> String {
        let pem = std::fs::read_to_string(&self.cert).unwrap();
        pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    /// IdP metadata trusting this key and `also` (rollover).
    pub fn metadata(&self, also: &[&Idp]) -> String {
        let mut kds = String::new();
        for c in std::iter::once(self).chain(also.iter().copied()) {
            kds.push_str(&format!(
                "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
                 <ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
                c.cert_b64()
            ));
        }
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" \
             entityID=\"{}\"><md:IDPSSODescriptor WantAuthnRequestsSigned=\"true\" \
             protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">{kds}\
             <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>\
             <md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"{SSO_URL}\"/>\
             <md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"{SSO_URL}\"/>\
             </md:IDPSSODescriptor></md:EntityDescriptor>",
            self.entity_id
        )
    }
}

/// A SAML connection as the admin API created it.
#[derive(Clone, Debug)]
pub struct Conn {
    pub org: String,
    pub id: String,
    pub acs_url: String,
    pub sp_entity_id: String,
    pub metadata_url: String,
    pub login_url: String,
    pub body: Value,
}

/// Create a SAML connection in `org` trusting `idp` (plus `settings`).
pub async fn connect(app: &TestApp, org: &str, idp: &Idp, settings: Value) -> Conn {
    let mut body = json!({"kind": "saml", "name": "IdP", "idp_metadata_xml": idp.metadata(&[])});
    for (k, v) in settings.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (s, b) = app.admin_post(&format!("/admin/v1/orgs/{org}/connections"), body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    conn_of(org, b)
}

pub fn conn_of(org: &str, b: Value) -> Conn {
    let st = |k: &str| b[k].as_str().unwrap().to_string();
    Conn {
        org: org.into(),
        id: st("id"),
        acs_url: st("acs_url"),
        sp_entity_id: st("sp_entity_id"),
        metadata_url: st("metadata_url"),
        login_url: st("login_url"),
        body: b,
    }
}

pub fn ts(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0).unwrap().format(&Rfc3339).unwrap()
}

/// Everything a Response says; defaults are a valid IdP-initiated login.
#[derive(Clone, Debug)]
pub struct Spec {
    pub issuer: String,
    pub response_issuer: Option<String>,
    pub destination: Option<String>,
    pub in_response_to: Option<String>,
    pub scd_in_response_to: Option<String>,
    pub status: String,
    pub response_id: String,
    pub assertion_id: String,
    pub name_id: String,
    pub name_id_format: String,
    pub recipient: String,
    pub audience: Option<String>,
    pub not_before: OffsetDateTime,
    pub not_on_or_after: OffsetDateTime,
    pub attributes: Vec<(String, Vec<String>)>,
    pub sig_alg: String,
    pub digest_alg: String,
}

fn rid() -> String {
    format!("_{}", idbridge::secrets::random_hex(16))
}

impl Spec {
    pub fn base(conn: &Conn, idp: &Idp, name_id: &str) -> Spec {
        let now = OffsetDateTime::now_utc();
        Spec {
            issuer: idp.entity_id.clone(),
            response_issuer: Some(idp.entity_id.clone()),
            destination: Some(conn.acs_url.clone()),
            in_response_to: None,
            scd_in_response_to: None,
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".into(),
            response_id: rid(),
            assertion_id: rid(),
            name_id: name_id.into(),
            name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
            recipient: conn.acs_url.clone(),
            audience: Some(conn.sp_entity_id.clone()),
            not_before: now - time::Duration::seconds(5),
            not_on_or_after: now + time::Duration::minutes(5),
            attributes: Vec::new(),
            sig_alg: RSA_SHA256.into(),
            digest_alg: SHA256.into(),
        }
    }

    /// Okta: NameID is the email, attribute statements email/firstName/lastName/groups.
    pub fn okta(conn: &Conn, email: &str, groups: &[&str]) -> Spec {
        let mut s = Spec::base(conn, &Idp::okta(), email);
        s.name_id_format = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into();
        s.attributes = vec![
            ("email".into(), vec![email.into()]),
            ("firstName".into(), vec!["Ann".into()]),
            ("lastName".into(), vec!["Lee".into()]),
            ("groups".into(), groups.iter().map(|g| g.to_string()).collect()),
        ];
        s
    }

    /// Entra: persistent opaque NameID, claim URIs, group object ids.
    pub fn entra(conn: &Conn, oid: &str, email: &str, groups: &[&str]) -> Spec {
        let mut s = Spec::base(conn, &Idp::entra(), &format!("pairwise-{oid}"));
        s.name_id_format = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into();
        s.attributes = vec![
            (ENTRA_OID.into(), vec![oid.into()]),
            (ENTRA_EMAIL.into(), vec![email.into()]),
            (ENTRA_GIVEN.into(), vec!["Bo".into()]),
            (ENTRA_SURNAME.into(), vec!["Diaz".into()]),
            (ENTRA_NAME.into(), vec![email.into()]),
            (ENTRA_GROUPS.into(), groups.iter().map(|g| g.to_string()).collect()),
        ];
        s
    }

    pub fn answering(mut self, request_id: &str) -> Spec {
        self.in_response_to = Some(request_id.into());
        self.scd_in_response_to = Some(request_id.into());
        self
    }
}

/// A `ds:Signature` template over `#id`.
pub fn sig_template(id: &str, sig_alg: &str, digest_alg: &str) -> String {
    format!(
        "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>\
         <ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
         <ds:SignatureMethod Algorithm=\"{sig_alg}\"/><ds:Reference URI=\"#{id}\"><ds:Transforms>\
         <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
         <ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"{digest_alg}\"/><ds:DigestValue/></ds:Reference></ds:SignedInfo>\
         <ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>"
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The Assertion element (with a signature template when `signed`).
pub fn assertion_xml(s: &Spec, signed: bool) -> String {
    let sig = if signed { sig_template(&s.assertion_id, &s.sig_alg, &s.digest_alg) } else { String::new() };
    let irt =
        s.scd_in_response_to.as_ref().map(|i| format!(" InResponseTo=\"{}\"", esc(i))).unwrap_or_default();
    let audience = s
        .audience
        .as_ref()
        .map(|a| {
            format!(
                "<saml:AudienceRestriction><saml:Audience>{}</saml:Audience></saml:AudienceRestriction>",
                esc(a)
            )
        })
        .unwrap_or_default();
    let attrs: String = s
        .attributes
        .iter()
        .map(|(n, vs)| {
            let values: String = vs
                .iter()
                .map(|v| format!("<saml:AttributeValue xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"xs:string\">{}</saml:AttributeValue>", esc(v)))
                .collect();
            format!("<saml:Attribute Name=\"{}\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified\">{values}</saml:Attribute>", esc(n))
        })
        .collect();
    let now = OffsetDateTime::now_utc();
    format!(
        "<saml:Assertion xmlns:saml=\"{NS_A}\" ID=\"{id}\" IssueInstant=\"{now}\" Version=\"2.0\">\
         <saml:Issuer>{issuer}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format=\"{fmt}\">{name_id}</saml:NameID>\
         <saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">\
         <saml:SubjectConfirmationData{irt} NotOnOrAfter=\"{noa}\" Recipient=\"{recipient}\"/></saml:SubjectConfirmation>\
         </saml:Subject><saml:Conditions NotBefore=\"{nb}\" NotOnOrAfter=\"{noa}\">{audience}</saml:Conditions>\
         <saml:AuthnStatement AuthnInstant=\"{now}\" SessionIndex=\"{id}\"><saml:AuthnContext>\
         <saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>\
         </saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement>{attrs}</saml:AttributeStatement></saml:Assertion>",
        id = s.assertion_id,
        now = ts(now),
        issuer = esc(&s.issuer),
        fmt = s.name_id_format,
        name_id = esc(&s.name_id),
        noa = ts(s.not_on_or_after),
        nb = ts(s.not_before),
        recipient = esc(&s.recipient),
    )
}

/// The Response around `assertion` (with a signature template when `signed`).
pub fn response_xml(s: &Spec, assertion: &str, signed: bool) -> String {
    let dest = s.destination.as_ref().map(|d| format!(" Destination=\"{}\"", esc(d))).unwrap_or_default();
    let irt = s.in_response_to.as_ref().map(|i| format!(" InResponseTo=\"{}\"", esc(i))).unwrap_or_default();
    let issuer = s
        .response_issuer
        .as_ref()
        .map(|i| format!("<saml:Issuer>{}</saml:Issuer>", esc(i)))
        .unwrap_or_default();
    let sig = if signed { sig_template(&s.response_id, &s.sig_alg, &s.digest_alg) } else { String::new() };
    format!(
        "<samlp:Response xmlns:samlp=\"{NS_P}\" xmlns:saml=\"{NS_A}\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\"{dest}{irt}>\
         {issuer}{sig}<samlp:Status><samlp:StatusCode Value=\"{}\"/></samlp:Status>{assertion}</samlp:Response>",
        s.response_id,
        ts(OffsetDateTime::now_utc()),
        s.status
    )
}
