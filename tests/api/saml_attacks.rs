//! Every SAML attack the ACS must refuse, one test each, with responses made
//! by a real signer (xmlsec1). Each asserts the 4xx, the precise reason
//! counted in /metrics, and that no user was created or changed. The
//! signature-wrapping tests (XSW1–8, after Somorovsky et al., "On Breaking
//! SAML") then post the untouched original to show the fixture was valid.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, TestApp, spawn_app};
use crate::saml_idp::*;

const EVIL: &str = "mallory@acme.com";

/// An org whose mapping makes anyone who logs in a member.
async fn setup() -> (TestApp, Conn) {
    let app = spawn_app().await;
    app.org("acme").await;
    let (s, _) = app.put_mapping("acme", json!({"default_org_role": "member", "rules": []})).await;
    assert_eq!(s, StatusCode::OK);
    let conn = connect(&app, "acme", &Idp::okta(), json!({})).await;
    (app, conn)
}

fn span(xml: &str, open: &str, close: &str) -> (usize, usize) {
    let start = xml.find(open).unwrap_or_else(|| panic!("{open} not in {xml}"));
    let end = start + xml[start..].find(close).unwrap() + close.len();
    (start, end)
}

/// The (first) Assertion element's text.
fn assertion_of(xml: &str) -> String {
    let (a, b) = span(xml, "<saml:Assertion ", "</saml:Assertion>");
    xml[a..b].to_string()
}

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

fn strip_decl(xml: &str) -> String {
    match xml.find("?>") {
        Some(i) if xml.starts_with("<?xml") => xml[i + 2..].trim_start().to_string(),
        _ => xml.to_string(),
    }
}

async fn refused_then_original_works(app: &TestApp, conn: &Conn, attack: &str, original: &str, reason: &str) {
    assert!(attack.contains(EVIL) && attack != original, "the attack carries the attacker's identity");
    assert_refused(app, conn, attack, StatusCode::FORBIDDEN, reason).await;
    let resp = post(app, conn, original, None).await;
    let (_, me) = app.me(&session_of(&resp)).await;
    assert_eq!(me["user"]["email"], "ann@acme.com", "the untouched original is valid");
}

fn okta_spec(conn: &Conn) -> Spec {
    Spec::okta(conn, "ann@acme.com", &["Engineering"])
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

/// An Okta-issued response where only the Assertion is signed.
fn entra_like_okta(conn: &Conn) -> String {
    strip_decl(&entra_response(&okta_spec(conn), &Idp::okta()))
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
async fn saml_replayed_assertion_is_refused() {
    let (app, conn) = setup().await;
    let xml = okta_response(&okta_spec(&conn), &Idp::okta());
    session_of(&post(&app, &conn, &xml, None).await);
    assert_refused(&app, &conn, &xml, StatusCode::FORBIDDEN, "replay").await;
}

#[tokio::test]
async fn saml_replay_cache_survives_restart() {
    let (app, conn) = setup().await;
    let xml = okta_response(&okta_spec(&conn), &Idp::okta());
    session_of(&post(&app, &conn, &xml, None).await);
    let dir = app.stop().await;
    let app = crate::helpers::spawn_app_in(dir).await;
    let conn = Conn {
        acs_url: conn.acs_url.replace(&conn.acs_url[..conn.acs_url.find("/saml").unwrap()], &app.base),
        ..conn
    };
    // The ACS URL moved with the port: re-issue the response for it, same assertion ID.
    let mut spec = okta_spec(&conn);
    let old_id = assertion_of(&xml).split("ID=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    spec.assertion_id = old_id;
    spec.destination = Some(conn.acs_url.clone());
    spec.recipient = conn.acs_url.clone();
    spec.audience = Some(
        conn.sp_entity_id.replace(&conn.sp_entity_id[..conn.sp_entity_id.find("/saml").unwrap()], &app.base),
    );
    let again = okta_response(&spec, &Idp::okta());
    assert_refused(&app, &conn, &again, StatusCode::FORBIDDEN, "replay").await;
}

#[tokio::test]
async fn saml_expired_assertion_is_refused() {
    let (app, conn) = setup().await;
    let mut spec = okta_spec(&conn);
    let now = time::OffsetDateTime::now_utc();
    spec.not_before = now - time::Duration::minutes(20);
    spec.not_on_or_after = now - time::Duration::minutes(10);
    assert_refused(&app, &conn, &okta_response(&spec, &Idp::okta()), StatusCode::FORBIDDEN, "expired").await;
}

#[tokio::test]
async fn saml_not_yet_valid_assertion_is_refused() {
    let (app, conn) = setup().await;
    let mut spec = okta_spec(&conn);
    let now = time::OffsetDateTime::now_utc();
    spec.not_before = now + time::Duration::minutes(10);
    spec.not_on_or_after = now + time::Duration::minutes(20);
    assert_refused(&app, &conn, &okta_response(&spec, &Idp::okta()), StatusCode::FORBIDDEN, "not_yet_valid")
        .await;
}

#[tokio::test]
async fn saml_wrong_or_missing_audience_is_refused() {
    let (app, conn) = setup().await;
    let mut spec = okta_spec(&conn);
    spec.audience = Some("https://other-sp.example/saml".into());
    assert_refused(
        &app,
        &conn,
        &okta_response(&spec, &Idp::okta()),
        StatusCode::FORBIDDEN,
        "audience_mismatch",
    )
    .await;
    let mut spec = okta_spec(&conn);
    spec.audience = None;
    assert_refused(
        &app,
        &conn,
        &okta_response(&spec, &Idp::okta()),
        StatusCode::FORBIDDEN,
        "audience_mismatch",
    )
    .await;
}

#[tokio::test]
async fn saml_wrong_or_missing_destination_is_refused() {
    let (app, conn) = setup().await;
    let mut spec = okta_spec(&conn);
    spec.destination = Some("https://other-sp.example/acs".into());
    assert_refused(
        &app,
        &conn,
        &okta_response(&spec, &Idp::okta()),
        StatusCode::FORBIDDEN,
        "destination_mismatch",
    )
    .await;
    let mut spec = okta_spec(&conn);
    spec.destination = None;
    assert_refused(
        &app,
        &conn,
        &entra_response(&spec, &Idp::okta()),
        StatusCode::FORBIDDEN,
        "destination_mismatch",
    )
    .await;
}

#[tokio::test]
async fn saml_wrong_recipient_is_refused() {
    let (app, conn) = setup().await;
    let mut spec = okta_spec(&conn);
    spec.recipient = "https://other-sp.example/acs".into();
    assert_refused(
        &app,
        &conn,
        &okta_response(&spec, &Idp::okta()),
        StatusCode::FORBIDDEN,
        "recipient_mismatch",
    )
    .await;
}

#[tokio::test]
async fn saml_wrong_issuer_is_refused() {
    let (app, conn) = setup().await;
    let mut spec = okta_spec(&conn);
    spec.issuer = "http://www.okta.com/exk-someone-else".into();
    spec.response_issuer = None;
    assert_refused(
        &app,
        &conn,
        &okta_response(&spec, &Idp::okta()),
        StatusCode::FORBIDDEN,
        "issuer_mismatch",
    )
    .await;
    let mut spec = okta_spec(&conn);
    spec.response_issuer = Some("http://www.okta.com/exk-someone-else".into());
    assert_refused(
        &app,
        &conn,
        &okta_response(&spec, &Idp::okta()),
        StatusCode::FORBIDDEN,
        "issuer_mismatch",
    )
    .await;
}

#[tokio::test]
async fn saml_assertion_for_org_a_never_logs_into_org_b() {
    let (app, conn_a) = setup().await;
    app.org("globex").await;
    let (s, _) = app.put_mapping("globex", json!({"default_org_role": "member", "rules": []})).await;
    assert_eq!(s, StatusCode::OK);
    // Org B uses the same IdP tenant (same entity ID and signing key, as
    // Entra tenants do for every app): only the addressing tells them apart.
    let conn_b = connect(&app, "globex", &Idp::okta(), json!({})).await;
    // 1. A's genuine message replayed at B's ACS: addressed elsewhere.
    let for_a = okta_response(&okta_spec(&conn_a), &Idp::okta());
    assert_refused(&app, &conn_b, &for_a, StatusCode::FORBIDDEN, "destination_mismatch").await;
    // 2. Its unsigned envelope re-addressed to B: the signed Recipient still says A.
    let mut spec = okta_spec(&conn_a);
    spec.destination = Some(conn_b.acs_url.clone());
    assert_refused(
        &app,
        &conn_b,
        &entra_response(&spec, &Idp::okta()),
        StatusCode::FORBIDDEN,
        "recipient_mismatch",
    )
    .await;
    // 3. A connection of B with its own IdP entity ID (same key): an assertion
    // issued by A's entity, though addressed to B in every other respect.
    let idp_c = Idp::named("idp-okta", "http://www.okta.com/exk-globex-app");
    let conn_c = connect(&app, "globex", &idp_c, json!({})).await;
    let mut spec = okta_spec(&conn_c);
    spec.issuer = OKTA_ENTITY.into();
    spec.response_issuer = None;
    assert_refused(
        &app,
        &conn_c,
        &entra_response(&spec, &Idp::okta()),
        StatusCode::FORBIDDEN,
        "issuer_mismatch",
    )
    .await;
    assert_eq!(members(&app, "globex").await, json!([]));
    assert_eq!(members(&app, "acme").await, json!([]));
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

#[tokio::test]
async fn saml_doctype_xxe_and_processing_instructions_are_refused_before_parsing() {
    let (app, conn) = setup().await;
    let signed = strip_decl(&okta_response(&okta_spec(&conn), &Idp::okta()));
    let xxe = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        signed.replace("Engineering", "&x;")
    );
    assert_refused(&app, &conn, &xxe, StatusCode::BAD_REQUEST, "doctype").await;
    let internal = format!("<!DOCTYPE samlp:Response>{signed}");
    assert_refused(&app, &conn, &internal, StatusCode::BAD_REQUEST, "doctype").await;
    let pi = signed.replacen("<saml:Issuer>", "<?xml-stylesheet href=\"x\"?><saml:Issuer>", 1);
    assert_refused(&app, &conn, &pi, StatusCode::BAD_REQUEST, "processing_instruction").await;
    let utf16 = format!("<?xml version=\"1.0\" encoding=\"UTF-16\"?>{signed}");
    assert_refused(&app, &conn, &utf16, StatusCode::BAD_REQUEST, "malformed_xml").await;
}

/// Billion laughs: 10^9 "lol"s if expanded. Sent to the real server process,
/// whose peak memory (VmHWM) must stay bounded.
#[tokio::test]
async fn saml_billion_laughs_is_refused_under_a_memory_bound() {
    let dir = tempfile::tempdir().unwrap();
    let proc = crate::helpers::spawn_process(&crate::helpers::db_path(&dir), &[]);
    let client = reqwest::Client::new();
    let admin = |path: &str, body: serde_json::Value| {
        client.post(format!("{}{path}", proc.base)).bearer_auth(ADMIN_TOKEN).json(&body).send()
    };
    assert_eq!(
        admin("/admin/v1/orgs", json!({"slug": "acme", "name": "acme"})).await.unwrap().status(),
        StatusCode::CREATED
    );
    let resp = admin(
        "/admin/v1/orgs/acme/connections",
        json!({"kind": "saml", "name": "Okta", "idp_metadata_xml": Idp::okta().metadata(&[])}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let conn: serde_json::Value = resp.json().await.unwrap();
    let mut dtd = String::from("<!ENTITY lol \"lol\">");
    for i in 1..=9 {
        let prev = if i == 1 { "lol".to_string() } else { format!("lol{}", i - 1) };
        dtd.push_str(&format!("<!ENTITY lol{i} \"{}\">", format!("&{prev};").repeat(10)));
    }
    let bomb = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE samlp:Response [{dtd}]>\
         <samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_b\" Version=\"2.0\">&lol9;</samlp:Response>"
    );
    let pid = proc.child.id();
    let hwm = || -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let before = hwm();
    let started = std::time::Instant::now();
    let acs = conn["acs_url"].as_str().unwrap().to_string();
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "SAMLResponse",
            &base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bomb),
        )
        .finish();
    let resp = client
        .post(&acs)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "refused at once");
    let grown_kib = hwm().saturating_sub(before);
    assert!(grown_kib < 32 * 1024, "peak memory grew by {grown_kib} KiB");
    let metrics = client.get(format!("{}/metrics", proc.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("idbridge_refusals_total{surface=\"saml\",reason=\"doctype\"} 1"), "{metrics}");
}

#[tokio::test]
async fn saml_oversize_message_is_refused() {
    let (app, conn) = setup().await;
    let before = refusals(&app, "too_large").await;
    let huge = "A".repeat(600 * 1024);
    let resp = post_encoded(&app, &conn.acs_url, &huge, None).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(refusals(&app, "too_large").await, before + 1);
    // Just over the XML cap once decoded, padded inside a comment.
    let signed = strip_decl(&okta_response(&okta_spec(&conn), &Idp::okta()));
    let padded = format!("{signed}<!--{}-->", "x".repeat(256 * 1024));
    assert_refused(&app, &conn, &padded, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    assert_eq!(members(&app, "acme").await, json!([]));
}

#[tokio::test]
async fn saml_in_response_to_not_issued_is_refused() {
    let (app, conn) = setup().await;
    let spec = okta_spec(&conn).answering("_00000000000000000000000000000000");
    assert_refused(
        &app,
        &conn,
        &okta_response(&spec, &Idp::okta()),
        StatusCode::FORBIDDEN,
        "unknown_in_response_to",
    )
    .await;
    // A request issued by another connection is not this one's.
    let other = connect(&app, "acme", &Idp::okta(), json!({})).await;
    let resp = app.client.get(&other.login_url).send().await.unwrap();
    let loc = url::Url::parse(&location(&resp)).unwrap();
    let req_id = loc.query_pairs().find(|(k, _)| k == "RelayState").unwrap().1.to_string();
    let spec = okta_spec(&conn).answering(&req_id);
    assert_refused(
        &app,
        &conn,
        &okta_response(&spec, &Idp::okta()),
        StatusCode::FORBIDDEN,
        "unknown_in_response_to",
    )
    .await;
}

#[tokio::test]
async fn saml_in_response_to_mismatch_between_envelope_and_assertion_is_refused() {
    let (app, conn) = setup().await;
    // An unsigned envelope claiming to answer a request the assertion does not name.
    let mut spec = okta_spec(&conn);
    spec.in_response_to = Some("_11111111111111111111111111111111".into());
    assert_refused(
        &app,
        &conn,
        &entra_response(&spec, &Idp::okta()),
        StatusCode::FORBIDDEN,
        "in_response_to_mismatch",
    )
    .await;
}

#[tokio::test]
async fn saml_idp_initiated_can_be_turned_off() {
    let (app, _) = setup().await;
    let conn = connect(&app, "acme", &Idp::okta(), json!({"allow_idp_initiated": false})).await;
    assert_refused(
        &app,
        &conn,
        &okta_response(&okta_spec(&conn), &Idp::okta()),
        StatusCode::FORBIDDEN,
        "idp_initiated_disabled",
    )
    .await;
}

#[tokio::test]
async fn saml_status_other_than_success_is_refused() {
    let (app, conn) = setup().await;
    let mut spec = okta_spec(&conn);
    spec.status = "urn:oasis:names:tc:SAML:2.0:status:Requester".into();
    assert_refused(
        &app,
        &conn,
        &okta_response(&spec, &Idp::okta()),
        StatusCode::FORBIDDEN,
        "status_not_success",
    )
    .await;
}

#[tokio::test]
async fn saml_rsa_1_5_key_transport_is_refused() {
    let (app, conn) = setup().await;
    let sp_cert = conn.body["sp_encryption_certificate"].as_str().unwrap().to_string();
    let xml =
        encrypt_assertion(&entra_response(&okta_spec(&conn), &Idp::okta()), &sp_cert, AES256_CBC, RSA_1_5);
    assert_refused(&app, &conn, &xml, StatusCode::FORBIDDEN, "decrypt_failed").await;
}

#[tokio::test]
async fn saml_assertion_encrypted_to_another_sp_is_refused() {
    let (app, conn) = setup().await;
    let other = connect(&app, "acme", &Idp::okta(), json!({})).await;
    let wrong_cert = other.body["sp_encryption_certificate"].as_str().unwrap().to_string();
    let xml = encrypt_assertion(
        &entra_response(&okta_spec(&conn), &Idp::okta()),
        &wrong_cert,
        AES256_CBC,
        RSA_OAEP,
    );
    assert_refused(&app, &conn, &xml, StatusCode::FORBIDDEN, "decrypt_failed").await;
}

#[tokio::test]
async fn saml_unknown_connection_answers_404_page() {
    let (app, _) = setup().await;
    let resp =
        post_encoded(&app, &app.url("/saml/0123456789abcdef0123456789abcdef/acs"), "PHgvPg==", None).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(resp.text().await.unwrap().contains("Sign-in refused"));
}
