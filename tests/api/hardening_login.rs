//! Hardening of the login surfaces: SP-initiated SAML bound to the browser
//! that started it (login CSRF / session fixation), and malformed ID tokens
//! answered as a refused sign-in rather than an unreachable provider.
//! (CSRF on `/v1` writes: hardening_csrf.rs; outbound fetches: hardening_outbound.rs.)

use reqwest::StatusCode;
use serde_json::json;

use crate::support::helpers::spawn_app;
use crate::support::saml_client::*;
use crate::support::saml_idp::*;
use crate::support::saml_signer::*;

/// Start an SP-initiated login: the AuthnRequest ID and the binding cookie
/// (`name=value`) the answer set.
async fn sp_login(app: &crate::support::helpers::TestApp, conn: &Conn) -> (String, String, String) {
    let resp = app.client.get(&conn.login_url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let set_cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("idbridge_saml_"))
        .expect("the SAML login start binds the request to the browser with a cookie");
    let loc = url::Url::parse(&location(&resp)).unwrap();
    let id = loc.query_pairs().find(|(k, _)| k == "RelayState").unwrap().1.to_string();
    let pair = set_cookie.split(';').next().unwrap().to_string();
    (id, pair, set_cookie)
}

#[tokio::test]
async fn saml_sp_initiated_login_sets_a_cross_site_binding_cookie_for_the_acs() {
    let (app, conn) = setup().await;
    let (_, pair, set_cookie) = sp_login(&app, &conn).await;
    let attrs: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
    // The ACS is a cross-site POST from the IdP: only SameSite=None (which
    // browsers require to be Secure) is sent on it.
    for want in ["HttpOnly", "Secure", "SameSite=None", &format!("Path=/saml/{}/acs", conn.id)] {
        assert!(attrs.contains(&want), "{want} missing in {set_cookie}");
    }
    assert!(pair.split_once('=').unwrap().1.len() >= 40, "a high-entropy value: {pair}");
    // Only a hash of it is stored.
    let value = pair.split_once('=').unwrap().1.to_string();
    let stored: Vec<String> = crate::support::helpers::raw_db(&app)
        .texts("SELECT data FROM login_states WHERE kind = 'saml_request'", &[])
        .await
        .into_iter()
        .map(|d| d.expect("login state data is never NULL"))
        .collect();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(&value), "the cookie value itself is not stored: {}", stored[0]);
}

#[tokio::test]
async fn saml_sp_initiated_response_posted_from_another_browser_is_refused() {
    let app = spawn_app().await;
    app.org("acme").await;
    app.put_mapping("acme", json!({"default_org_role": "member", "rules": []})).await;
    // Even with IdP-initiated login off, an SP-initiated answer must not
    // sign in a browser other than the one that asked.
    let conn = connect(&app, "acme", &Idp::okta(), json!({"allow_idp_initiated": false})).await;
    // The attacker starts a login in their own browser and has the IdP answer it.
    let (id, attacker_cookie, _) = sp_login(&app, &conn).await;
    let xml = okta_response(&Spec::okta(&conn, "mallory@acme.com", &[]).answering(&id), &Idp::okta());

    // Posted from the victim's browser (no binding cookie, or another
    // login's cookie, or the right name with a wrong value): refused, nothing changes.
    let (_, victim_cookie, _) = sp_login(&app, &conn).await;
    let name = attacker_cookie.split_once('=').unwrap().0;
    for cookie in [None, Some(victim_cookie), Some(format!("{name}=forged-value-0123456789abcdef0123456789"))]
    {
        let before_members = members(&app, "acme").await;
        let before = refusals(&app, "browser_mismatch").await;
        let resp = post_with_cookie(&app, &conn, &xml, cookie.as_deref()).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "cookie {cookie:?}");
        assert!(
            resp.headers()
                .get_all("set-cookie")
                .iter()
                .all(|c| !c.to_str().unwrap().starts_with("idbridge_session")),
            "a refusal sets no session"
        );
        assert!(resp.text().await.unwrap().contains("Sign-in refused"));
        assert_eq!(refusals(&app, "browser_mismatch").await, before + 1);
        assert_eq!(members(&app, "acme").await, before_members, "a refusal changes no user");
    }
    // Nothing was spent: the browser that started the login still completes it, once.
    let resp = post_with_cookie(&app, &conn, &xml, Some(&attacker_cookie)).await;
    session_of(&resp);
    // Its binding cookie is cleared.
    assert!(
        resp.headers().get_all("set-cookie").iter().any(|c| c
            .to_str()
            .unwrap()
            .starts_with(&format!("{name}=;"))
            && c.to_str().unwrap().contains("Max-Age=0")),
        "binding cookie cleared"
    );
    let again = post_with_cookie(&app, &conn, &xml, Some(&attacker_cookie)).await;
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
}

// --- Item 10: a malformed ID token is a refused sign-in, not an unreachable provider.

use crate::oidc_tokens::setup as oidc_setup;
use crate::support::oidc_forge::{Plan, Signer};
use crate::support::oidc_support::{assert_refused, refusals as oidc_refusals};

fn with_claims(v: serde_json::Value) -> Plan {
    Plan { claims: v, ..Plan::default() }
}

#[tokio::test]
async fn oidc_malformed_id_token_is_refused_as_not_acceptable() {
    let s = oidc_setup(json!({})).await;
    let none = |alg: &str| Plan { signer: Signer::None, header: json!({"alg": alg}), ..Plan::default() };
    for (plan, reason) in [
        // Entra-style string boolean: not the JSON boolean OIDC Core 5.1 asks for.
        (with_claims(json!({"email_verified": "false"})), "id_token_claim_invalid"),
        // OIDC Core 2: exp is REQUIRED.
        (with_claims(json!({"exp": null})), "id_token_claim_invalid"),
        (with_claims(json!({"exp": "tomorrow"})), "id_token_claim_invalid"),
        (with_claims(json!({"aud": 42})), "id_token_claim_invalid"),
        // `none` in any case is never an algorithm idbridge accepts.
        (none("None"), "alg_not_allowed"),
        (none("NONE"), "alg_not_allowed"),
    ] {
        let page = s.refused(plan.clone(), StatusCode::FORBIDDEN, reason).await;
        assert!(page.body.contains("not acceptable"), "{plan:?}: {}", page.body);
        assert!(!page.body.contains("could not be reached"), "{}", page.body);
    }
}

#[tokio::test]
async fn oidc_malformed_token_response_is_refused_but_an_unreachable_provider_is_502() {
    let s = oidc_setup(json!({})).await;
    for (body, reason) in [
        (json!({"token_type": "Bearer"}), "token_response_invalid"),
        (json!({"access_token": 7, "token_type": "Bearer"}), "token_response_invalid"),
        (json!("junk"), "token_response_invalid"),
        (json!({"access_token": "at", "token_type": "Bearer"}), "missing_id_token"),
        (json!({"access_token": "at", "token_type": "Bearer", "id_token": "x.y"}), "id_token_malformed"),
    ] {
        let plan = Plan { token_response: Some(body.clone()), ..Plan::default() };
        let page = s.refused(plan, StatusCode::FORBIDDEN, reason).await;
        assert!(page.body.contains("not acceptable"), "{body}: {}", page.body);
    }
    // A token endpoint that refuses connections: the provider truly cannot be reached.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/token", l.local_addr().unwrap())
    };
    s.forge.set_token_endpoint(&closed);
    s.app.state.oidc.discovery.forget(&s.conn);
    let before = oidc_refusals(&s.app, "token_endpoint_failed").await;
    let page = s.login(Plan::default()).await;
    assert_refused(&s.app, &page, StatusCode::BAD_GATEWAY, "token_endpoint_failed", before).await;
    assert!(page.body.contains("could not be reached"), "{}", page.body);
}
