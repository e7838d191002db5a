//! XML signature wrapping and the other signature attacks, one test each,
//! with responses signed by xmlsec1: XSW1–8 (after Somorovsky et al., "On
//! Breaking SAML: Be Whoever You Want to Be"), a signature moved or pointed
//! at another element, comment injection in NameID, duplicate IDs, values
//! changed after signing, unsigned messages, an untrusted key offering its
//! own certificate in KeyInfo, and SHA-1. Each asserts the 4xx, the precise
//! reason counted in /metrics and that no user changed; the XSW tests then
//! post the untouched original to show the fixture itself was valid.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::helpers::{ADMIN_TOKEN, TestApp};
use crate::support::saml_client::*;
use crate::support::saml_idp::*;
use crate::support::saml_signer::*;

const EVIL: &str = "mallory@acme.com";

/// The first ds:Signature element's text within `xml`.
fn signature_of(xml: &str) -> String {
    let (a, b) = span(xml, "<ds:Signature", "</ds:Signature>");
    xml[a..b].to_string()
}

fn without_signature(el: &str) -> String {
    if el.contains("<ds:Signature") { el.replace(&signature_of(el), "") } else { el.to_string() }
}

/// The attacker's assertion: the original with a new ID, another user, no signature.
fn evil_assertion(original: &str) -> String {
    let id = original.split("ID=\"").nth(1).unwrap().split('"').next().unwrap();
    without_signature(original).replace(id, "_evil0000").replace("ann@acme.com", EVIL)
}

async fn refused_then_original_works(app: &TestApp, conn: &Conn, attack: &str, original: &str, reason: &str) {
    assert!(attack.contains(EVIL) && attack != original, "the attack carries the attacker's identity");
    assert_refused(app, conn, attack, StatusCode::FORBIDDEN, reason).await;
    let resp = post(app, conn, original, None).await;
    let (_, me) = app.me(&session_of(&resp)).await;
    assert_eq!(me["user"]["email"], "ann@acme.com", "the untouched original is valid");
}

#[tokio::test]
async fn saml_xsw1_signed_response_moved_into_signature_object() {
    let (app, conn) = setup().await;
    let orig = strip_decl(&response_signed_only(&okta_spec(&conn), &Idp::okta()));
    let sig = signature_of(&orig);
    let wrapped_sig =
        sig.replace("</ds:Signature>", &format!("<ds:Object>{orig}</ds:Object></ds:Signature>"));
    let mut evil_spec = okta_spec(&conn);
    evil_spec.response_id = "_evilresp".into();
    let evil_root = response_xml(&evil_spec, &evil_assertion(&assertion_of(&orig)), false);
    let evil = evil_root.replace("<samlp:Status>", &format!("{wrapped_sig}<samlp:Status>"));
    refused_then_original_works(&app, &conn, &evil, &orig, "misplaced_element").await;
}

#[tokio::test]
async fn saml_xsw2_signed_response_as_detached_sibling() {
    let (app, conn) = setup().await;
    let orig = strip_decl(&response_signed_only(&okta_spec(&conn), &Idp::okta()));
    let sig = signature_of(&orig);
    let mut evil_spec = okta_spec(&conn);
    evil_spec.response_id = "_evilresp".into();
    let evil_root = response_xml(&evil_spec, &evil_assertion(&assertion_of(&orig)), false);
    let evil = evil_root.replace("<samlp:Status>", &format!("{orig}{sig}<samlp:Status>"));
    refused_then_original_works(&app, &conn, &evil, &orig, "misplaced_element").await;
}

#[tokio::test]
async fn saml_xsw3_evil_assertion_before_signed_one() {
    let (app, conn) = setup().await;
    let orig = entra_like_okta(&conn);
    let a = assertion_of(&orig);
    let evil = orig.replace(&a, &format!("{}{a}", evil_assertion(&a)));
    refused_then_original_works(&app, &conn, &evil, &orig, "multiple_assertions").await;
}

#[tokio::test]
async fn saml_xsw4_evil_assertion_wraps_signed_one() {
    let (app, conn) = setup().await;
    let orig = entra_like_okta(&conn);
    let a = assertion_of(&orig);
    let evil_a = evil_assertion(&a).replace("</saml:Assertion>", &format!("{a}</saml:Assertion>"));
    refused_then_original_works(&app, &conn, &orig.replace(&a, &evil_a), &orig, "multiple_assertions").await;
}

#[tokio::test]
async fn saml_xsw5_signature_moved_to_evil_assertion_original_appended() {
    let (app, conn) = setup().await;
    let orig = entra_like_okta(&conn);
    let a = assertion_of(&orig);
    let sig = signature_of(&a);
    let evil_a = evil_assertion(&a).replacen("</saml:Issuer>", &format!("</saml:Issuer>{sig}"), 1);
    let evil = orig
        .replace(&a, &evil_a)
        .replace("</samlp:Response>", &format!("{}</samlp:Response>", without_signature(&a)));
    refused_then_original_works(&app, &conn, &evil, &orig, "multiple_assertions").await;
}

#[tokio::test]
async fn saml_xsw6_original_inside_signature_object_of_evil_assertion() {
    let (app, conn) = setup().await;
    let orig = entra_like_okta(&conn);
    let a = assertion_of(&orig);
    let sig = signature_of(&a);
    let wrapped = sig.replace("</ds:Signature>", &format!("<ds:Object>{a}</ds:Object></ds:Signature>"));
    let evil_a = evil_assertion(&a).replacen("</saml:Issuer>", &format!("</saml:Issuer>{wrapped}"), 1);
    refused_then_original_works(&app, &conn, &orig.replace(&a, &evil_a), &orig, "multiple_assertions").await;
}

#[tokio::test]
async fn saml_xsw7_original_in_extensions_evil_in_body() {
    let (app, conn) = setup().await;
    let orig = entra_like_okta(&conn);
    let a = assertion_of(&orig);
    let evil = orig
        .replace(&a, &evil_assertion(&a))
        .replace("<samlp:Status>", &format!("<samlp:Extensions>{a}</samlp:Extensions><samlp:Status>"));
    refused_then_original_works(&app, &conn, &evil, &orig, "multiple_assertions").await;
}

#[tokio::test]
async fn saml_xsw8_unsigned_original_in_object_of_evil_assertion() {
    let (app, conn) = setup().await;
    let orig = entra_like_okta(&conn);
    let a = assertion_of(&orig);
    let sig = signature_of(&a);
    let wrapped = sig.replace(
        "</ds:Signature>",
        &format!("<ds:Object>{}</ds:Object></ds:Signature>", without_signature(&a)),
    );
    let evil_a = evil_assertion(&a).replacen("</saml:Issuer>", &format!("</saml:Issuer>{wrapped}"), 1);
    refused_then_original_works(&app, &conn, &orig.replace(&a, &evil_a), &orig, "multiple_assertions").await;
}

#[tokio::test]
async fn saml_signature_moved_from_assertion_to_response_is_refused() {
    let (app, conn) = setup().await;
    let orig = entra_like_okta(&conn);
    let a = assertion_of(&orig);
    let sig = signature_of(&a);
    let evil_a = without_signature(&a).replace("ann@acme.com", EVIL);
    let evil = orig.replace(&a, &evil_a).replace("<samlp:Status>", &format!("{sig}<samlp:Status>"));
    refused_then_original_works(&app, &conn, &evil, &orig, "reference_mismatch").await;
}

#[tokio::test]
async fn saml_reference_to_another_element_is_refused() {
    let (app, conn) = setup().await;
    // A genuine signature whose Reference covers an Extensions element, not
    // the assertion it sits in.
    let spec = okta_spec(&conn);
    let mut a = assertion_xml(&spec, false);
    a = a.replacen(
        "</saml:Issuer>",
        &format!("</saml:Issuer>{}", sig_template("_ext1", RSA_SHA256, SHA256)),
        1,
    );
    let xml = response_xml(&spec, &a, false).replace(
        "<samlp:Status>",
        "<samlp:Extensions ID=\"_ext1\"><x xmlns=\"urn:x\">ok</x></samlp:Extensions><samlp:Status>",
    );
    let signed = sign(&xml, &Idp::okta(), XP_ASSERTION_SIG);
    assert_refused(&app, &conn, &signed, StatusCode::FORBIDDEN, "reference_mismatch").await;
}

#[tokio::test]
async fn saml_comment_injection_in_name_id_is_refused() {
    let (app, conn) = setup().await;
    // The attacker owns ann@acme.com.evil.test at the IdP; a comment makes a
    // naive reader see only "ann@acme.com" while the signature still holds.
    let mut spec = okta_spec(&conn);
    spec.name_id = "ann@acme.com.evil.test".into();
    spec.attributes = vec![("email".into(), vec!["ann@acme.com.evil.test".into()])];
    let signed = okta_response(&spec, &Idp::okta());
    let injected = signed.replace(">ann@acme.com.evil.test<", ">ann@acme.com<!---->.evil.test<");
    assert_ne!(signed, injected);
    // xmlsec1 itself still accepts the signatures: comments are not signed.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("r.xml");
    std::fs::write(&f, &injected).unwrap();
    let ok = std::process::Command::new("xmlsec1")
        .args(["--verify", "--pubkey-cert-pem", Idp::okta().cert.to_str().unwrap()])
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            "--node-xpath",
            XP_RESPONSE_SIG,
        ])
        .arg(&f)
        .output()
        .unwrap();
    assert!(ok.status.success(), "the injected document still carries a valid signature");
    app.login("acme", "ann@acme.com", &[]).await.unwrap();
    assert_refused(&app, &conn, &injected, StatusCode::FORBIDDEN, "comment_in_assertion").await;
}

#[tokio::test]
async fn saml_duplicate_ids_are_refused() {
    let (app, conn) = setup().await;
    let spec = okta_spec(&conn);
    let orig = entra_like_okta(&conn);
    let dup = orig.replace(
        "<samlp:Status>",
        &format!("<samlp:Extensions ID=\"{}\"/><samlp:Status>", spec.assertion_id),
    );
    // Same ID twice: the genuine assertion's.
    let a_id = assertion_of(&orig).split("ID=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let dup = dup.replace(&format!("ID=\"{}\"/>", spec.assertion_id), &format!("ID=\"{a_id}\"/>"));
    assert_refused(&app, &conn, &dup, StatusCode::FORBIDDEN, "duplicate_id").await;
    let xml_id =
        orig.replace("<samlp:Status>", &format!("<samlp:Extensions xml:id=\"{a_id}\"/><samlp:Status>"));
    assert_refused(&app, &conn, &xml_id, StatusCode::FORBIDDEN, "duplicate_id").await;
}

#[tokio::test]
async fn saml_unsigned_response_is_refused() {
    let (app, conn) = setup().await;
    let spec = okta_spec(&conn);
    let xml = response_xml(&spec, &assertion_xml(&spec, false), false);
    assert_refused(&app, &conn, &xml, StatusCode::FORBIDDEN, "unsigned").await;
}

#[tokio::test]
async fn saml_untrusted_key_with_certificate_in_key_info_is_refused() {
    let (app, conn) = setup().await;
    let attacker = Idp::attacker(OKTA_ENTITY);
    let xml = okta_response(&okta_spec(&conn), &attacker);
    assert!(xml.contains(&attacker.cert_b64()[..40]), "the attacker's certificate is offered in KeyInfo");
    assert_refused(&app, &conn, &xml, StatusCode::FORBIDDEN, "signature_invalid").await;
    let xml = entra_response(&okta_spec(&conn), &attacker);
    assert_refused(&app, &conn, &xml, StatusCode::FORBIDDEN, "signature_invalid").await;
}

#[tokio::test]
async fn saml_value_changed_after_signing_is_refused() {
    let (app, conn) = setup().await;
    let xml = entra_response(&okta_spec(&conn), &Idp::okta()).replace("ann@acme.com", EVIL);
    assert_refused(&app, &conn, &xml, StatusCode::FORBIDDEN, "signature_invalid").await;
}

#[tokio::test]
async fn saml_sha1_is_refused_unless_allowed() {
    let (app, conn) = setup().await;
    let mut spec = okta_spec(&conn);
    spec.sig_alg = RSA_SHA1.into();
    spec.digest_alg = SHA1.into();
    assert_refused(&app, &conn, &okta_response(&spec, &Idp::okta()), StatusCode::FORBIDDEN, "weak_algorithm")
        .await;
    // SHA-256 signature over a SHA-1 digest: refused too.
    let mut spec = okta_spec(&conn);
    spec.digest_alg = SHA1.into();
    assert_refused(
        &app,
        &conn,
        &entra_response(&spec, &Idp::okta()),
        StatusCode::FORBIDDEN,
        "weak_algorithm",
    )
    .await;
    let (s, b) = app
        .send(
            reqwest::Method::PATCH,
            &format!("/admin/v1/orgs/acme/connections/{}", conn.id),
            Some(ADMIN_TOKEN),
            Some(json!({"allow_sha1": true})),
        )
        .await;
    assert_eq!((s, &b["allow_sha1"]), (StatusCode::OK, &json!(true)));
    let mut spec = okta_spec(&conn);
    spec.sig_alg = RSA_SHA1.into();
    spec.digest_alg = SHA1.into();
    session_of(&post(&app, &conn, &okta_response(&spec, &Idp::okta()), None).await);
}
