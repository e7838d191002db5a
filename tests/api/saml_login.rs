//! SAML logins that must work: Okta style (Response and Assertion signed),
//! Entra style (Assertion signed; plaintext, AES-256-CBC and AES-128-GCM
//! encrypted inside an unsigned Response), SP-initiated with a signed
//! AuthnRequest, certificate rollover, clock skew, and where the browser is
//! sent afterwards. Each ends in the roles the mapping gives, read via /v1/me.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::helpers::{TestApp, spawn_app};
use crate::support::saml_client::*;
use crate::support::saml_idp::*;
use crate::support::saml_signer::*;

async fn acme_with_mapping(app: &TestApp) {
    app.org("acme").await;
    app.project("acme", "research").await;
    app.project("acme", "inference").await;
    let (s, b) = app
        .put_mapping(
            "acme",
            json!({
                "default_org_role": "none",
                "rules": [
                    {"group": "Engineering", "org_role": "member", "projects": {"research": "admin"}},
                    {"group": "0d9a3c1e-5f0b-4c3e-9a55-2f1b7e8c6d40", "org_role": "admin"},
                    {"group": "Inference", "org_role": "member", "projects": {"inference": "member"}}
                ]
            }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn saml_okta_style_login_gets_mapped_roles() {
    let app = spawn_app().await;
    acme_with_mapping(&app).await;
    let conn = connect(&app, "acme", &Idp::okta(), json!({})).await;
    assert!(conn.acs_url.starts_with(&app.base) && conn.acs_url.ends_with("/acs"));
    let xml = okta_response(&Spec::okta(&conn, "ann@acme.com", &["Engineering", "Everyone"]), &Idp::okta());
    let resp = post(&app, &conn, &xml, None).await;
    let token = session_of(&resp);
    assert_eq!(location(&resp), format!("{}/v1/me", app.base), "default post-login URL");
    let (s, me) = app.me(&token).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["email"], "ann@acme.com");
    assert_eq!(me["user"]["name"], "Ann Lee");
    assert_eq!(me["org"], json!({"slug": "acme", "role": "member"}));
    assert_eq!(me["projects"], json!([{"slug": "research", "role": "admin"}]));
    // The cookie works as well as the bearer token.
    let by_cookie = app
        .client
        .get(app.url("/v1/me"))
        .header("cookie", format!("idbridge_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), StatusCode::OK);
}

#[tokio::test]
async fn saml_entra_style_signed_assertion_in_unsigned_response_logs_in() {
    let app = spawn_app().await;
    acme_with_mapping(&app).await;
    let conn = connect(&app, "acme", &Idp::entra(), json!({"match_by": "external_id"})).await;
    let spec = Spec::entra(
        &conn,
        "11111111-aaaa-4bbb-8ccc-000000000001",
        "bo@acme.com",
        &["0d9a3c1e-5f0b-4c3e-9a55-2f1b7e8c6d40"],
    );
    let resp = post(&app, &conn, &entra_response(&spec, &Idp::entra()), None).await;
    let (s, me) = app.me(&session_of(&resp)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["user"]["email"], "bo@acme.com");
    assert_eq!(me["user"]["name"], "Bo Diaz");
    assert_eq!(me["org"]["role"], "admin", "group object id matched the rule: {me}");
    // Matched again by object id on the next login, even with a new email.
    let mut again =
        Spec::entra(&conn, "11111111-aaaa-4bbb-8ccc-000000000001", "bo.diaz@acme.com", &["Inference"]);
    again.assertion_id = format!("_again{}", &again.assertion_id[1..]);
    let resp = post(&app, &conn, &entra_response(&again, &Idp::entra()), None).await;
    let (_, me2) = app.me(&session_of(&resp)).await;
    assert_eq!(me2["user"]["id"], me["user"]["id"], "same user by objectidentifier");
    assert_eq!(me2["org"]["role"], "member", "groups re-evaluated at login: {me2}");
    assert_eq!(me2["projects"], json!([{"slug": "inference", "role": "member"}]));
}

async fn encrypted_login(data_alg: &str) {
    let app = spawn_app().await;
    acme_with_mapping(&app).await;
    let conn = connect(&app, "acme", &Idp::entra(), json!({})).await;
    let sp_cert = conn.body["sp_encryption_certificate"].as_str().unwrap().to_string();
    let spec = Spec::entra(&conn, "22222222-aaaa-4bbb-8ccc-000000000002", "cy@acme.com", &["Engineering"]);
    let xml = encrypt_assertion(&entra_response(&spec, &Idp::entra()), &sp_cert, data_alg, RSA_OAEP);
    assert!(xml.contains("EncryptedAssertion") && !xml.contains("cy@acme.com"), "assertion is encrypted");
    let resp = post(&app, &conn, &xml, None).await;
    let (s, me) = app.me(&session_of(&resp)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["user"]["email"], "cy@acme.com");
    assert_eq!(me["projects"], json!([{"slug": "research", "role": "admin"}]));
}

#[tokio::test]
async fn saml_entra_style_aes256_cbc_encrypted_assertion_logs_in() {
    encrypted_login(AES256_CBC).await;
}

#[tokio::test]
async fn saml_aes128_gcm_encrypted_assertion_logs_in() {
    encrypted_login(AES128_GCM).await;
}

#[tokio::test]
async fn saml_response_signed_only_logs_in() {
    let app = spawn_app().await;
    acme_with_mapping(&app).await;
    let conn = connect(&app, "acme", &Idp::okta(), json!({})).await;
    let xml = response_signed_only(&Spec::okta(&conn, "dee@acme.com", &["Engineering"]), &Idp::okta());
    let (s, me) = app.me(&session_of(&post(&app, &conn, &xml, None).await)).await;
    assert_eq!((s, me["user"]["email"].as_str()), (StatusCode::OK, Some("dee@acme.com")));
}

#[tokio::test]
async fn saml_sp_initiated_login_round_trip() {
    let app = spawn_app().await;
    acme_with_mapping(&app).await;
    let conn =
        connect(&app, "acme", &Idp::okta(), json!({"allowed_origins": ["https://app.acme.test"]})).await;
    let resp = app
        .client
        .get(format!("{}?relay_state={}", conn.login_url, "https%3A%2F%2Fapp.acme.test%2Fhome"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    // The request is bound to this browser by a cookie sent back to the ACS.
    let binding = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    assert!(binding.starts_with("idbridge_saml_"), "{binding}");
    let to = url::Url::parse(&location(&resp)).unwrap();
    assert!(to.as_str().starts_with(SSO_URL), "{to}");
    let q: std::collections::HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert_eq!(q["SigAlg"], RSA_SHA256);
    // The AuthnRequest: deflated, with a 128-bit ID, our ACS and entity ID,
    // and a signature by the SP key published in the metadata.
    let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &q["SAMLRequest"]).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut flate2::read::DeflateDecoder::new(&raw[..]), &mut xml).unwrap();
    let id = xml.split("ID=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert_eq!(id.len(), 33, "_ + 32 hex digits: {id}");
    assert!(xml.contains(&format!("AssertionConsumerServiceURL=\"{}\"", conn.acs_url)));
    assert!(xml.contains(&format!("<saml:Issuer>{}</saml:Issuer>", conn.sp_entity_id)));
    let signed = to.query().unwrap().split("&Signature=").next().unwrap().to_string();
    let cert_pem = conn.body["sp_signing_certificate"].as_str().unwrap();
    let cert = openssl::x509::X509::from_pem(cert_pem.as_bytes()).unwrap();
    let pk = cert.public_key().unwrap();
    let mut v = openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &pk).unwrap();
    v.update(signed.as_bytes()).unwrap();
    let sig = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &q["Signature"]).unwrap();
    assert!(v.verify(&sig).unwrap(), "AuthnRequest signature verifies with the SP certificate");

    // The IdP answers that request: the login returns to the stored target,
    // whatever RelayState comes back.
    let spec = Spec::okta(&conn, "eve@acme.com", &["Engineering"]).answering(&id);
    let xml = okta_response(&spec, &Idp::okta());
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "SAMLResponse",
            &base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &xml),
        )
        .append_pair("RelayState", "https://evil.test/")
        .finish();
    let resp = app
        .client
        .post(&conn.acs_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &binding)
        .body(body)
        .send()
        .await
        .unwrap();
    let token = session_of(&resp);
    assert_eq!(location(&resp), "https://app.acme.test/home");
    assert_eq!(app.me(&token).await.0, StatusCode::OK);

    // The request ID is single use, even from the browser that started it.
    let again = Spec::okta(&conn, "eve@acme.com", &["Engineering"]).answering(&id);
    let before = refusals(&app, "unknown_in_response_to").await;
    let resp = post_with_cookie(&app, &conn, &okta_response(&again, &Idp::okta()), Some(&binding)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(refusals(&app, "unknown_in_response_to").await, before + 1);
}

#[tokio::test]
async fn saml_idp_initiated_relay_state_only_to_allowed_origins() {
    let app = spawn_app().await;
    acme_with_mapping(&app).await;
    let conn =
        connect(&app, "acme", &Idp::okta(), json!({"allowed_origins": ["https://app.acme.test"]})).await;
    for (relay, expected) in [
        ("https://app.acme.test/x?y=1", "https://app.acme.test/x?y=1".to_string()),
        ("/dashboard", format!("{}/dashboard", app.base)),
        ("https://evil.test/phish", format!("{}/v1/me", app.base)),
        ("javascript:alert(1)", format!("{}/v1/me", app.base)),
        ("//evil.test/x", format!("{}/v1/me", app.base)),
    ] {
        let xml = okta_response(&Spec::okta(&conn, "fay@acme.com", &["Engineering"]), &Idp::okta());
        let resp = post(&app, &conn, &xml, Some(relay)).await;
        session_of(&resp);
        assert_eq!(location(&resp), expected, "RelayState {relay}");
    }
}

#[tokio::test]
async fn saml_certificate_rollover_trusts_both_keys() {
    let app = spawn_app().await;
    acme_with_mapping(&app).await;
    let body = json!({"kind": "saml", "name": "Okta", "idp_metadata_xml": Idp::okta().metadata(&[&Idp::okta_next()])});
    let (s, b) = app.admin_post("/admin/v1/orgs/acme/connections", body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["idp"]["signing_certificate_sha256"].as_array().unwrap().len(), 2);
    let conn = conn_of("acme", b);
    for idp in [Idp::okta(), Idp::okta_next()] {
        let xml = okta_response(&Spec::okta(&conn, "gil@acme.com", &["Engineering"]), &idp);
        session_of(&post(&app, &conn, &xml, None).await);
    }
}

#[tokio::test]
async fn saml_clock_skew_is_tolerated_within_the_setting() {
    let app = spawn_app().await;
    acme_with_mapping(&app).await;
    let conn = connect(&app, "acme", &Idp::okta(), json!({})).await;
    let now = time::OffsetDateTime::now_utc();
    // IdP clock 60 s ahead: NotBefore in our future, within the default 90 s.
    let mut ahead = Spec::okta(&conn, "hal@acme.com", &["Engineering"]);
    ahead.not_before = now + time::Duration::seconds(60);
    session_of(&post(&app, &conn, &okta_response(&ahead, &Idp::okta()), None).await);
    // Just expired 30 s ago: still within the skew.
    let mut behind = Spec::okta(&conn, "hal@acme.com", &["Engineering"]);
    behind.not_before = now - time::Duration::seconds(300);
    behind.not_on_or_after = now - time::Duration::seconds(30);
    session_of(&post(&app, &conn, &okta_response(&behind, &Idp::okta()), None).await);
    // With a skew of 0 the same is refused.
    let (s, _) = app
        .send(
            reqwest::Method::PATCH,
            &format!("/admin/v1/orgs/acme/connections/{}", conn.id),
            Some(crate::support::helpers::ADMIN_TOKEN),
            Some(json!({"clock_skew_seconds": 0})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let mut behind = Spec::okta(&conn, "hal@acme.com", &["Engineering"]);
    behind.not_on_or_after = now - time::Duration::seconds(30);
    assert_refused(&app, &conn, &okta_response(&behind, &Idp::okta()), StatusCode::FORBIDDEN, "expired")
        .await;
}

#[tokio::test]
async fn saml_login_of_non_member_is_refused_and_creates_nobody() {
    let app = spawn_app().await;
    acme_with_mapping(&app).await;
    let conn = connect(&app, "acme", &Idp::okta(), json!({})).await;
    let xml = okta_response(&Spec::okta(&conn, "ivy@acme.com", &["Marketing"]), &Idp::okta());
    assert_refused(&app, &conn, &xml, StatusCode::FORBIDDEN, "not_member").await;
    assert_eq!(members(&app, "acme").await, json!([]));
}

#[tokio::test]
async fn saml_without_jit_unknown_users_are_refused() {
    let app = spawn_app().await;
    acme_with_mapping(&app).await;
    let conn = connect(&app, "acme", &Idp::okta(), json!({"jit": false})).await;
    let xml = okta_response(&Spec::okta(&conn, "jo@acme.com", &["Engineering"]), &Idp::okta());
    assert_refused(&app, &conn, &xml, StatusCode::FORBIDDEN, "no_such_user").await;
    // A user who exists (created by an earlier login through another path) is matched.
    app.login("acme", "jo@acme.com", &["Engineering"]).await.unwrap();
    let xml = okta_response(&Spec::okta(&conn, "JO@acme.com", &["Engineering"]), &Idp::okta());
    let (_, me) = app.me(&session_of(&post(&app, &conn, &xml, None).await)).await;
    assert_eq!(me["user"]["email"], "jo@acme.com");
}

#[tokio::test]
async fn saml_okta_style_encrypted_assertion_in_signed_response_logs_in() {
    let app = spawn_app().await;
    acme_with_mapping(&app).await;
    let conn = connect(&app, "acme", &Idp::okta(), json!({})).await;
    let sp_cert = conn.body["sp_encryption_certificate"].as_str().unwrap().to_string();
    let spec = Spec::okta(&conn, "lou@acme.com", &["Engineering"]);
    // Sign the assertion, encrypt it, then sign the Response over the ciphertext.
    let xml = response_xml(&spec, &assertion_xml(&spec, true), true);
    let xml = sign(&xml, &Idp::okta(), XP_ASSERTION_SIG);
    let xml = encrypt_assertion(&xml, &sp_cert, AES256_CBC, RSA_OAEP);
    let xml = sign(&xml, &Idp::okta(), XP_RESPONSE_SIG);
    assert!(xml.contains("EncryptedAssertion") && !xml.contains("lou@acme.com"));
    let (s, me) = app.me(&session_of(&post(&app, &conn, &xml, None).await)).await;
    assert_eq!((s, me["user"]["email"].as_str()), (StatusCode::OK, Some("lou@acme.com")));
}
