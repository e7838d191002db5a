//! Helpers of the Single Logout tests (../saml_slo.rs): IdP metadata with
//! SingleLogoutServices, LogoutRequests signed by the xmlsec1 CLI or over the
//! Redirect query with the IdP's key, and checks of the SP's signatures.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;
use reqwest::StatusCode;
use serde_json::json;
use time::OffsetDateTime;

use crate::support::helpers::TestApp;
use crate::support::saml_client::*;
use crate::support::saml_idp::*;
use crate::support::saml_signer::*;

pub const IDP_SLO: &str = "https://idp.example.test/slo/saml";
pub const IDP_SLO_RESPONSES: &str = "https://idp.example.test/slo/saml/done";

/// IdP metadata that also has both SingleLogoutServices.
pub fn metadata_with_slo(idp: &Idp) -> String {
    let slo = format!(
        "<md:SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" \
         Location=\"{IDP_SLO}\" ResponseLocation=\"{IDP_SLO_RESPONSES}\"/>\
         <md:SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"{IDP_SLO}\"/>"
    );
    idp.metadata(&[]).replacen("<md:SingleSignOnService", &format!("{slo}<md:SingleSignOnService"), 1)
}

pub async fn connect_slo(app: &TestApp, org: &str, idp: &Idp) -> Conn {
    let body = json!({"kind": "saml", "name": "IdP", "idp_metadata_xml": metadata_with_slo(idp)});
    let (s, b) = app.admin_post(&format!("/admin/v1/orgs/{org}/connections"), body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    conn_of(org, b)
}

pub fn slo_url(conn: &Conn) -> String {
    conn.acs_url.replace("/acs", "/slo")
}

/// Sign in `email` through `conn` (Okta style); returns (session token, SessionIndex).
pub async fn sign_in(app: &TestApp, conn: &Conn, idp: &Idp, email: &str) -> (String, String) {
    let mut spec = Spec::okta(conn, email, &[]);
    spec.issuer = idp.entity_id.clone();
    spec.response_issuer = Some(idp.entity_id.clone());
    let resp = post(app, conn, &okta_response(&spec, idp), None).await;
    (session_of(&resp), spec.assertion_id)
}

/// What a LogoutRequest says; defaults are a valid one for `conn`.
pub struct Req {
    pub id: String,
    pub issuer: String,
    pub destination: String,
    pub issued: OffsetDateTime,
    pub not_on_or_after: Option<OffsetDateTime>,
    pub name_id: String,
    pub session_index: Option<String>,
}

pub fn req(conn: &Conn, name_id: &str) -> Req {
    Req {
        id: format!("_{}", idbridge::secrets::random_hex(16)),
        issuer: OKTA_ENTITY.into(),
        destination: slo_url(conn),
        issued: OffsetDateTime::now_utc(),
        not_on_or_after: None,
        name_id: name_id.into(),
        session_index: None,
    }
}

pub fn request_xml(r: &Req, signed: bool) -> String {
    let sig = if signed { sig_template(&r.id, RSA_SHA256, SHA256) } else { String::new() };
    let noa = r.not_on_or_after.map(|t| format!(" NotOnOrAfter=\"{}\"", ts(t))).unwrap_or_default();
    let idx = r
        .session_index
        .as_ref()
        .map(|i| format!("<samlp:SessionIndex>{i}</samlp:SessionIndex>"))
        .unwrap_or_default();
    format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\" \
         Destination=\"{}\"{noa}><saml:Issuer>{}</saml:Issuer>{sig}\
         <saml:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\">{}</saml:NameID>{idx}\
         </samlp:LogoutRequest>",
        r.id,
        ts(r.issued),
        r.destination,
        r.issuer,
        r.name_id
    )
}

pub fn xmlsec1(args: &[&str]) -> std::process::Output {
    Command::new("xmlsec1")
        .args(args)
        .output()
        .expect("xmlsec1 must be installed (scripts/test-deps/saml.sh)")
}

/// Sign a protocol message's root-level signature template with `idp`'s key (xmlsec1 CLI).
pub fn sign_root(xml: &str, idp: &Idp, element: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (inp, out) = (dir.path().join("in.xml"), dir.path().join("out.xml"));
    std::fs::write(&inp, xml).unwrap();
    let key = format!("{},{}", idp.key.display(), idp.cert.display());
    let id_attr = format!("urn:oasis:names:tc:SAML:2.0:protocol:{element}");
    let o = xmlsec1(&[
        "--sign",
        "--privkey-pem",
        &key,
        "--id-attr:ID",
        &id_attr,
        "--node-xpath",
        XP_RESPONSE_SIG,
        "--output",
        out.to_str().unwrap(),
        inp.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(out).unwrap()
}

pub async fn post_slo(app: &TestApp, conn: &Conn, field: &str, xml: &str) -> reqwest::Response {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([(field, STANDARD.encode(xml)), ("RelayState", "rs-1".into())])
        .finish();
    app.client
        .post(slo_url(conn))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn deflate_b64(xml: &str) -> String {
    let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    d.write_all(xml.as_bytes()).unwrap();
    STANDARD.encode(d.finish().unwrap())
}

/// The HTTP-Redirect query for `xml`, signed with `idp`'s key (SAML Bindings 3.4.4.1).
pub fn redirect_query(field: &str, xml: &str, relay: &str, idp: &Idp) -> String {
    let q =
        format!("{field}={}&RelayState={}&SigAlg={}", enc(&deflate_b64(xml)), enc(relay), enc(RSA_SHA256));
    let key = PKey::private_key_from_pem(&std::fs::read(&idp.key).unwrap()).unwrap();
    let mut s = Signer::new(MessageDigest::sha256(), &key).unwrap();
    s.update(q.as_bytes()).unwrap();
    format!("{q}&Signature={}", enc(&STANDARD.encode(s.sign_to_vec().unwrap())))
}

pub async fn get_slo(app: &TestApp, conn: &Conn, query: &str) -> reqwest::Response {
    app.client.get(format!("{}?{query}", slo_url(conn))).send().await.unwrap()
}

pub async fn slo_refusals(app: &TestApp, reason: &str) -> u64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let needle = format!("idbridge_refusals_total{{surface=\"saml_slo\",reason=\"{reason}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&needle)).map(|v| v.trim().parse().unwrap()).unwrap_or(0)
}

pub fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(location).unwrap().query_pairs().into_owned().collect()
}

pub fn inflate(b64: &str) -> String {
    let mut s = String::new();
    flate2::read::DeflateDecoder::new(&STANDARD.decode(b64).unwrap()[..]).read_to_string(&mut s).unwrap();
    s
}

/// Verify a Redirect-binding signature made by the SP (its certificate from the admin API).
pub fn assert_sp_signed_query(conn: &Conn, location: &str, field: &str) {
    let raw = location.split_once('?').unwrap().1;
    let (signed, sig) = raw.split_once("&Signature=").unwrap();
    assert!(signed.starts_with(&format!("{field}=")), "{signed}");
    let cert = X509::from_pem(conn.body["sp_signing_certificate"].as_str().unwrap().as_bytes()).unwrap();
    let public = cert.public_key().unwrap();
    let mut v = Verifier::new(MessageDigest::sha256(), &public).unwrap();
    v.update(signed.as_bytes()).unwrap();
    let sig: String =
        url::form_urlencoded::parse(format!("s={sig}").as_bytes()).next().unwrap().1.into_owned();
    assert!(v.verify(&STANDARD.decode(sig).unwrap()).unwrap(), "SP signature verifies");
}

pub async fn setup_slo() -> (TestApp, Conn) {
    let (app, _) = setup().await; // org acme with a member-making mapping
    let conn = connect_slo(&app, "acme", &Idp::okta()).await;
    (app, conn)
}
