//! SAML refusals other than signature attacks, one test each: replay (also
//! across a restart), the time window, audience, destination, recipient,
//! issuer, an org-A assertion at org B's ACS, DOCTYPE/XXE and billion laughs
//! (under a memory bound, against the real process), oversize messages,
//! InResponseTo, IdP-initiated login turned off, non-success status, and
//! decryption failures. Each asserts the 4xx, the reason counted in /metrics
//! and that no user was created or changed.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::helpers::ADMIN_TOKEN;
use crate::support::saml_client::*;
use crate::support::saml_idp::*;
use crate::support::saml_signer::*;

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
    let app = crate::support::helpers::spawn_app_in(dir).await;
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
    let proc = crate::support::helpers::spawn_process(&crate::support::helpers::db_path(&dir), &[]);
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

#[tokio::test]
async fn saml_encrypted_assertion_failures_are_one_opaque_reason() {
    let (app, conn) = setup().await;
    let sp_cert = conn.body["sp_encryption_certificate"].as_str().unwrap().to_string();
    // Signed by a key nobody trusts, then encrypted: no decryption oracle, so
    // the refusal names decryption, not the signature.
    let forged = entra_response(&okta_spec(&conn), &Idp::attacker(OKTA_ENTITY));
    let xml = encrypt_assertion(&forged, &sp_cert, AES256_CBC, RSA_OAEP);
    assert_refused(&app, &conn, &xml, StatusCode::FORBIDDEN, "decrypt_failed").await;
    // An unsigned assertion, encrypted, in an unsigned Response.
    let spec = okta_spec(&conn);
    let unsigned = response_xml(&spec, &assertion_xml(&spec, false), false);
    let xml = encrypt_assertion(&unsigned, &sp_cert, AES256_CBC, RSA_OAEP);
    assert_refused(&app, &conn, &xml, StatusCode::FORBIDDEN, "decrypt_failed").await;
}
