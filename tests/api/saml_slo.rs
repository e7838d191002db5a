//! SAML Single Logout against the real server: LogoutRequests signed by the
//! xmlsec1 CLI (HTTP-POST, enveloped signature) or over the query string with
//! the IdP's key (HTTP-Redirect, SAML Bindings 3.4.4.1) end exactly the named
//! sessions and are answered with a LogoutResponse signed by the SP key
//! (verified here with xmlsec1 / openssl); forged, expired, misdirected and
//! replayed ones change nothing and are counted. Also: SessionNotOnOrAfter
//! bounds the session, and `POST /v1/logout` sends the browser to the IdP.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::support::helpers::TestApp;
use crate::support::saml_client::*;
use crate::support::saml_idp::*;
use crate::support::saml_signer::*;
use crate::support::saml_slo_support::*;

#[tokio::test]
async fn saml_session_never_outlives_session_not_on_or_after() {
    let (app, conn) = setup().await;
    let spec = okta_spec(&conn);
    let bound = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() + time::Duration::minutes(2);
    let assertion = assertion_xml(&spec, true).replacen(
        "SessionIndex=",
        &format!("SessionNotOnOrAfter=\"{}\" SessionIndex=", ts(bound)),
        1,
    );
    let xml = sign(
        &sign(&response_xml(&spec, &assertion, true), &Idp::okta(), XP_ASSERTION_SIG),
        &Idp::okta(),
        XP_RESPONSE_SIG,
    );
    let token = session_of(&post(&app, &conn, &xml, None).await);
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(
        payload["exp"].as_i64(),
        Some(bound.unix_timestamp()),
        "capped at SessionNotOnOrAfter: {payload}"
    );
    assert_eq!(app.me(&token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn saml_sp_metadata_advertises_single_logout() {
    let (app, conn) = setup().await;
    let md = app.client.get(&conn.metadata_url).send().await.unwrap().text().await.unwrap();
    for b in ["HTTP-Redirect", "HTTP-POST"] {
        let needle = format!(
            "<md:SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:{b}\" Location=\"{}\"/>",
            slo_url(&conn)
        );
        assert!(md.contains(&needle), "{md}");
    }
}

#[tokio::test]
async fn saml_post_logout_request_ends_that_session_index_only_and_is_answered_signed() {
    let (app, conn) = setup_slo().await;
    let other_conn = connect_slo(&app, "acme", &Idp::okta()).await;
    let (ann1, index1) = sign_in(&app, &conn, &Idp::okta(), "ann@acme.com").await;
    let (ann2, _) = sign_in(&app, &conn, &Idp::okta(), "ann@acme.com").await;
    let (bob, _) = sign_in(&app, &conn, &Idp::okta(), "bob@acme.com").await;
    let (ann_other, _) = sign_in(&app, &other_conn, &Idp::okta(), "ann@acme.com").await;
    let mut r = req(&conn, "ann@acme.com");
    r.session_index = Some(index1);
    let resp = post_slo(
        &app,
        &conn,
        "SAMLRequest",
        &sign_root(&request_xml(&r, true), &Idp::okta(), "LogoutRequest"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(
        csp.contains("form-action https://idp.example.test") && csp.contains("script-src 'sha256-"),
        "{csp}"
    );
    let page = resp.text().await.unwrap();
    assert!(page.contains(&format!("action=\"{IDP_SLO}\"")) && page.contains("<noscript>"), "{page}");
    assert!(page.contains("name=\"RelayState\" value=\"rs-1\""), "RelayState echoed: {page}");
    let b64 = page.split("name=\"SAMLResponse\" value=\"").nth(1).unwrap().split('"').next().unwrap();
    let answer = String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap();
    for part in [
        format!("InResponseTo=\"{}\"", r.id),
        format!("Destination=\"{IDP_SLO}\""),
        format!("<saml:Issuer>{}</saml:Issuer>", conn.sp_entity_id),
        "urn:oasis:names:tc:SAML:2.0:status:Success".to_string(),
    ] {
        assert!(answer.contains(&part), "{part} in {answer}");
    }
    // The LogoutResponse signature verifies with the SP certificate (xmlsec1).
    let dir = tempfile::tempdir().unwrap();
    let (doc, cert) = (dir.path().join("r.xml"), dir.path().join("sp.crt"));
    std::fs::write(&doc, &answer).unwrap();
    std::fs::write(&cert, conn.body["sp_signing_certificate"].as_str().unwrap()).unwrap();
    let o = xmlsec1(&[
        "--verify",
        "--pubkey-cert-pem",
        cert.to_str().unwrap(),
        "--id-attr:ID",
        "urn:oasis:names:tc:SAML:2.0:protocol:LogoutResponse",
        doc.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    assert_eq!(app.me(&ann1).await.0, StatusCode::UNAUTHORIZED, "that SessionIndex ended");
    assert_eq!(app.me(&ann2).await.0, StatusCode::OK, "another SessionIndex stays");
    assert_eq!(app.me(&bob).await.0, StatusCode::OK, "another user stays");
    assert_eq!(app.me(&ann_other).await.0, StatusCode::OK, "the same user on another connection stays");
    let (_, audit) = app.admin_get("/admin/v1/orgs/acme/audit").await;
    let text = audit.to_string();
    assert!(text.contains("session.idp_logout") && text.contains("saml_slo"), "{text}");
}

#[tokio::test]
async fn saml_redirect_logout_request_ends_every_session_of_the_name_id() {
    let (app, conn) = setup_slo().await;
    let (ann1, _) = sign_in(&app, &conn, &Idp::okta(), "ann@acme.com").await;
    let (ann2, _) = sign_in(&app, &conn, &Idp::okta(), "ann@acme.com").await;
    let (bob, _) = sign_in(&app, &conn, &Idp::okta(), "bob@acme.com").await;
    let r = req(&conn, "ann@acme.com");
    let resp =
        get_slo(&app, &conn, &redirect_query("SAMLRequest", &request_xml(&r, false), "rs-2", &Idp::okta()))
            .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = location(&resp);
    assert!(location.starts_with(&format!("{IDP_SLO_RESPONSES}?SAMLResponse=")), "{location}");
    assert_sp_signed_query(&conn, &location, "SAMLResponse");
    let q = query_of(&location);
    assert_eq!(q["RelayState"], "rs-2");
    let answer = inflate(&q["SAMLResponse"]);
    assert!(answer.contains(&format!("InResponseTo=\"{}\"", r.id)), "{answer}");
    assert_eq!(app.me(&ann1).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&ann2).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&bob).await.0, StatusCode::OK);
}

/// Send `xml` (POST, signed by `signer` unless None) and assert a counted refusal that ends no session.
async fn assert_refused_post(
    app: &TestApp,
    conn: &Conn,
    r: &Req,
    signer: Option<&Idp>,
    reason: &str,
    token: &str,
) {
    let xml = match signer {
        Some(idp) => sign_root(&request_xml(r, true), idp, "LogoutRequest"),
        None => request_xml(r, false),
    };
    let before = slo_refusals(app, reason).await;
    let resp = post_slo(app, conn, "SAMLRequest", &xml).await;
    assert!(resp.status().is_client_error(), "{reason}: {}", resp.status());
    assert!(resp.text().await.unwrap().contains("Sign-out refused"));
    assert_eq!(slo_refusals(app, reason).await, before + 1, "counted as {reason}");
    assert_eq!(app.me(token).await.0, StatusCode::OK, "{reason}: the session stays");
}

#[tokio::test]
async fn saml_forged_expired_misdirected_and_replayed_logout_requests_change_nothing() {
    let (app, conn) = setup_slo().await;
    let (ann, _) = sign_in(&app, &conn, &Idp::okta(), "ann@acme.com").await;
    let okta = Idp::okta();
    assert_refused_post(&app, &conn, &req(&conn, "ann@acme.com"), None, "unsigned", &ann).await;
    let attacker = Idp::attacker(OKTA_ENTITY);
    assert_refused_post(&app, &conn, &req(&conn, "ann@acme.com"), Some(&attacker), "signature_invalid", &ann)
        .await;
    let mut r = req(&conn, "ann@acme.com");
    r.issuer = "http://evil.example".into();
    assert_refused_post(&app, &conn, &r, Some(&okta), "issuer_mismatch", &ann).await;
    let mut r = req(&conn, "ann@acme.com");
    r.destination = conn.acs_url.clone();
    assert_refused_post(&app, &conn, &r, Some(&okta), "destination_mismatch", &ann).await;
    let mut r = req(&conn, "ann@acme.com");
    r.issued = OffsetDateTime::now_utc() - time::Duration::minutes(15);
    assert_refused_post(&app, &conn, &r, Some(&okta), "expired", &ann).await;
    let mut r = req(&conn, "ann@acme.com");
    r.issued = OffsetDateTime::now_utc() - time::Duration::minutes(3);
    r.not_on_or_after = Some(OffsetDateTime::now_utc() - time::Duration::minutes(2));
    assert_refused_post(&app, &conn, &r, Some(&okta), "expired", &ann).await;
    // Redirect: unsigned, and a RelayState changed after signing.
    let r = req(&conn, "ann@acme.com");
    let q = redirect_query("SAMLRequest", &request_xml(&r, false), "rs", &okta);
    let before = slo_refusals(&app, "unsigned").await;
    let resp = get_slo(&app, &conn, q.split("&SigAlg=").next().unwrap()).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(slo_refusals(&app, "unsigned").await, before + 1);
    let before = slo_refusals(&app, "signature_invalid").await;
    let resp = get_slo(&app, &conn, &q.replace("RelayState=rs", "RelayState=rt")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(slo_refusals(&app, "signature_invalid").await, before + 1);
    assert_eq!(app.me(&ann).await.0, StatusCode::OK, "nothing ended so far");
    // Replay: the same signed request twice; the second changes nothing.
    let (ann2, _) = sign_in(&app, &conn, &okta, "ann@acme.com").await;
    let signed = sign_root(&request_xml(&req(&conn, "ann@acme.com"), true), &okta, "LogoutRequest");
    assert_eq!(post_slo(&app, &conn, "SAMLRequest", &signed).await.status(), StatusCode::OK);
    assert_eq!(app.me(&ann2).await.0, StatusCode::UNAUTHORIZED);
    let (ann3, _) = sign_in(&app, &conn, &okta, "ann@acme.com").await;
    let before = slo_refusals(&app, "replay").await;
    assert_eq!(post_slo(&app, &conn, "SAMLRequest", &signed).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(slo_refusals(&app, "replay").await, before + 1);
    assert_eq!(app.me(&ann3).await.0, StatusCode::OK, "a replayed request ends no new session");
}

#[tokio::test]
async fn saml_logout_request_never_reaches_another_orgs_connection() {
    let (app, conn) = setup_slo().await;
    app.org("globex").await;
    let (s, _) = app.put_mapping("globex", json!({"default_org_role": "member", "rules": []})).await;
    assert_eq!(s, StatusCode::OK);
    let globex = connect_slo(&app, "globex", &Idp::entra()).await;
    let mut spec = Spec::okta(&globex, "gus@globex.com", &[]);
    spec.issuer = ENTRA_ENTITY.into();
    spec.response_issuer = Some(ENTRA_ENTITY.into());
    let gus = session_of(&post(&app, &globex, &okta_response(&spec, &Idp::entra()), None).await);
    // acme's IdP names globex's user at acme's endpoint: nothing of globex ends.
    let before = slo_refusals(&app, "no_session").await;
    let signed = sign_root(&request_xml(&req(&conn, "gus@globex.com"), true), &Idp::okta(), "LogoutRequest");
    assert_eq!(post_slo(&app, &conn, "SAMLRequest", &signed).await.status(), StatusCode::OK);
    assert_eq!(slo_refusals(&app, "no_session").await, before + 1);
    assert_eq!(app.me(&gus).await.0, StatusCode::OK);
    // acme's IdP's request sent to globex's endpoint: not globex's IdP key.
    let mut r = req(&globex, "gus@globex.com");
    r.issuer = ENTRA_ENTITY.into();
    assert_refused_post(&app, &globex, &r, Some(&Idp::okta()), "signature_invalid", &gus).await;
}

#[tokio::test]
async fn saml_v1_logout_sends_a_signed_logout_request_and_accepts_only_its_answer() {
    let (app, conn) = setup_slo().await;
    let (ann, index) = sign_in(&app, &conn, &Idp::okta(), "ann@acme.com").await;
    let resp = app.client.post(app.url("/v1/logout")).bearer_auth(&ann).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = location(&resp);
    assert!(location.starts_with(&format!("{IDP_SLO}?SAMLRequest=")), "{location}");
    assert_sp_signed_query(&conn, &location, "SAMLRequest");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["logout_url"], location.as_str());
    assert_eq!(app.me(&ann).await.0, StatusCode::UNAUTHORIZED, "ended here at once");
    let request = inflate(&query_of(&location)["SAMLRequest"]);
    assert!(
        request.contains(">ann@acme.com</saml:NameID>") && request.contains("nameid-format:emailAddress"),
        "{request}"
    );
    assert!(request.contains(&format!("<samlp:SessionIndex>{index}</samlp:SessionIndex>")), "{request}");
    let request_id = request.split("ID=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    // The IdP answers (Redirect, signed with its key).
    let answer = |irt: &str| {
        format!(
            "<samlp:LogoutResponse xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
             xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_{}\" Version=\"2.0\" IssueInstant=\"{}\" \
             Destination=\"{}\" InResponseTo=\"{irt}\"><saml:Issuer>{OKTA_ENTITY}</saml:Issuer>\
             <samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>\
             </samlp:LogoutResponse>",
            idbridge::secrets::random_hex(16),
            ts(OffsetDateTime::now_utc()),
            slo_url(&conn)
        )
    };
    let before = slo_refusals(&app, "unknown_in_response_to").await;
    let resp =
        get_slo(&app, &conn, &redirect_query("SAMLResponse", &answer("_not-ours"), "", &Idp::okta())).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(slo_refusals(&app, "unknown_in_response_to").await, before + 1);
    let good = redirect_query("SAMLResponse", &answer(&request_id), "", &Idp::okta());
    let resp = get_slo(&app, &conn, &good).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("You are signed out"));
    assert_eq!(get_slo(&app, &conn, &good).await.status(), StatusCode::FORBIDDEN, "single use");
    // A SAML connection whose IdP has no SLO endpoint keeps today's answer.
    let plain = connect(&app, "acme", &Idp::okta(), json!({})).await;
    let (token, _) = sign_in(&app, &plain, &Idp::okta(), "ann@acme.com").await;
    let resp = app.client.post(app.url("/v1/logout")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.me(&token).await.0, StatusCode::UNAUTHORIZED);
}
