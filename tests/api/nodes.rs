//! Several `idbridge serve` nodes on one database: nothing a request relies on
//! lives in one node's memory (docs/deployment.md, "What each node keeps in
//! memory"). Two in-process apps on the SAME SQLite file stand in for two
//! nodes behind one load balancer: node B is configured with node A's public
//! URL (as every node of a deployment has the balancer's), and requests are
//! sent to whichever node the test names.

use crate::within;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::support::oidc_forge::{Forge, Plan};
use crate::support::oidc_support::{Browser, create_connection, is_callback, mapping};
use crate::support::saml_client::*;
use crate::support::saml_idp::*;
use crate::support::saml_signer::*;

/// Node A, then node B on A's database file with A's public URL.
async fn two_nodes() -> (TestApp, TestApp) {
    let a = spawn_app().await;
    let (db, public) = (crate::support::helpers::db_path(&a.dir), a.base.clone());
    let b = spawn_app_with(tempfile::tempdir().unwrap(), move |c| {
        c.db = db;
        c.public_url = Some(public);
    })
    .await;
    assert_eq!(a.state.db.describe(), b.state.db.describe(), "both nodes use one database");
    (a, b)
}

/// `url` (on node A's public URL) as sent to node `to` instead.
fn on(to: &TestApp, from: &TestApp, url: &str) -> String {
    assert!(url.starts_with(&from.base), "{url} is not on {}", from.base);
    format!("{}{}", to.base, &url[from.base.len()..])
}

/// Sleep until just after the next whole second (the rate limit's window).
async fn at_window_start() {
    let ms = idbridge::clock::now().millisecond();
    tokio::time::sleep(Duration::from_millis(u64::from(1_000 - ms) + 10)).await;
}

#[tokio::test]
async fn nodes_scim_token_revoked_on_a_is_refused_on_b_within_a_second() {
    let (a, b) = two_nodes().await;
    a.org("acme").await;
    let (s, t) = a.admin_post("/admin/v1/orgs/acme/scim-tokens", json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let (token, id) = (t["token"].as_str().unwrap().to_string(), t["id"].as_str().unwrap().to_string());
    let users_on = |node: &TestApp| {
        let req = node.client.get(node.url("/scim/v2/acme/Users")).bearer_auth(&token);
        async move { req.send().await.unwrap().status() }
    };
    // Both nodes have verified (and cached) the token.
    for _ in 0..3 {
        assert_eq!(users_on(&a).await, StatusCode::OK);
        assert_eq!(users_on(&b).await, StatusCode::OK);
    }
    let (s, body) = a.admin_delete(&format!("/admin/v1/orgs/acme/scim-tokens/{id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(users_on(&a).await, StatusCode::UNAUTHORIZED, "the revoking node refuses at once");
    let took = within!(
        Duration::from_secs(1),
        "node B still accepts the revoked SCIM token",
        users_on(&b).await == StatusCode::UNAUTHORIZED
    );
    // And it stays refused (no node serves a stale cached copy afterwards).
    for _ in 0..3 {
        assert_eq!(users_on(&b).await, StatusCode::UNAUTHORIZED, "refused after {took:?}, then accepted");
        assert_eq!(users_on(&a).await, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn nodes_session_revoked_on_a_is_refused_on_b_at_once() {
    let (a, b) = two_nodes().await;
    a.org("acme").await;
    let token = a.login("acme", "ann@acme.com", &[]).await.unwrap();
    let other = a.login("acme", "ann@acme.com", &[]).await.unwrap();
    assert_eq!(b.me(&token).await.0, StatusCode::OK, "a session issued by A works on B");
    let resp = a.client.post(a.url("/v1/logout")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        b.me(&token).await.0,
        StatusCode::UNAUTHORIZED,
        "B checks the stored session on every request"
    );
    assert_eq!(b.me(&other).await.0, StatusCode::OK, "only that session ended");
    // Revoked through B, refused by A.
    let resp = b.client.post(b.url("/v1/logout")).bearer_auth(&other).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(a.me(&other).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn nodes_login_start_rate_limit_counts_across_nodes() {
    let (a, b) = two_nodes().await;
    // Alternate the nodes: each sees 30 starts, the deployment 60. Per node
    // the limit (50 a second) would never be reached.
    for attempt in 0.. {
        at_window_start().await;
        let second = idbridge::clock::now().unix_timestamp();
        let conn = format!("no-such-connection-{attempt}");
        let mut statuses = Vec::new();
        for i in 0..60 {
            let node = if i % 2 == 0 { &a } else { &b };
            let r = node.client.get(node.url(&format!("/saml/{conn}/login"))).send().await.unwrap();
            statuses.push(r.status());
        }
        if idbridge::clock::now().unix_timestamp() != second {
            // The burst straddled two windows (a slow machine): try again.
            assert!(attempt < 3, "60 login starts never fitted in one second");
            continue;
        }
        assert!(statuses[..50].iter().all(|s| *s != StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
        let limited: Vec<usize> =
            (50..60).filter(|i| statuses[*i] == StatusCode::TOO_MANY_REQUESTS).collect();
        assert_eq!(limited, (50..60).collect::<Vec<_>>(), "{statuses:?}");
        assert!(
            limited.iter().any(|i| i % 2 == 0) && limited.iter().any(|i| i % 2 == 1),
            "both nodes refuse"
        );
        break;
    }
    // The counter is bounded: ended windows are purged by housekeeping.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    idbridge::housekeeping(&b.state.db).await.unwrap();
    let rows: i64 =
        crate::support::helpers::raw_db(&a).one_i64("SELECT count(*) FROM rate_limits", &[]).await;
    assert_eq!(rows, 0, "ended windows are purged");
}

#[tokio::test]
async fn nodes_api_key_revoked_on_a_is_refused_on_b_at_once() {
    let (a, b) = two_nodes().await;
    a.org("acme").await;
    a.project("acme", "research").await;
    let rules = json!({"default_org_role": "member", "rules": [
        {"group": "Research", "org_role": "member", "projects": {"research": "member"}}]});
    let (s, body) = a.put_mapping("acme", rules).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let session = a.login("acme", "ann@acme.com", &["Research"]).await.unwrap();
    let keys = "/v1/orgs/acme/projects/research/api-keys";
    let (s, k) = a.send(reqwest::Method::POST, keys, Some(&session), Some(json!({"name": "ci"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    let (key, id) = (k["key"].as_str().unwrap().to_string(), k["id"].as_str().unwrap().to_string());
    assert!(key_allowed(&b, &key).await, "a key made through A works on B");
    let (s, body) = a.send(reqwest::Method::DELETE, &format!("{keys}/{id}"), Some(&session), None).await;
    assert!(s.is_success(), "{s} {body}");
    assert!(!key_allowed(&b, &key).await, "B reads the key's revocation from the store on every check");
    assert!(!key_allowed(&a, &key).await);
}

/// Whether `node` allows the API key `key` to use the research project's models.
async fn key_allowed(node: &TestApp, key: &str) -> bool {
    let body = json!({"credential": key, "action": "models.use", "org": "acme", "project": "research"});
    let (s, v) = node.send(reqwest::Method::POST, "/v1/authz/check", None, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["allow"] == true
}

async fn saml_org(a: &TestApp) -> Conn {
    a.org("acme").await;
    let (s, _) = a.put_mapping("acme", json!({"default_org_role": "member", "rules": []})).await;
    assert_eq!(s, StatusCode::OK);
    connect(a, "acme", &Idp::okta(), json!({})).await
}

#[tokio::test]
async fn nodes_saml_login_started_on_a_completes_on_b_and_is_single_use() {
    let (a, b) = two_nodes().await;
    let conn = saml_org(&a).await;
    // SP-initiated: the AuthnRequest is issued by A ...
    let resp = a.client.get(&conn.login_url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let binding = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("idbridge_saml_"))
        .unwrap();
    let to = url::Url::parse(&location(&resp)).unwrap();
    let request_id = to.query_pairs().find(|(k, _)| k == "RelayState").unwrap().1.to_string();
    // ... and its answer is posted to B.
    let xml = okta_response(&okta_spec(&conn).answering(&request_id), &Idp::okta());
    let b_acs = on(&b, &a, &conn.acs_url);
    let post_to = |node: &TestApp, url: &str| {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(
                "SAMLResponse",
                &base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &xml),
            )
            .finish();
        let req = node
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", &binding)
            .body(body);
        async move { req.send().await.unwrap() }
    };
    let resp = post_to(&b, &b_acs).await;
    let token = session_of(&resp);
    assert_eq!(b.me(&token).await.0, StatusCode::OK);
    assert_eq!(a.me(&token).await.0, StatusCode::OK, "the session B issued works on A");
    // The same answer again, to either node: the request id is spent.
    for (node, acs) in [(&a, conn.acs_url.clone()), (&b, b_acs.clone())] {
        let before = refusals(node, "unknown_in_response_to").await;
        let resp = post_to(node, &acs).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "replayed to {}", node.base);
        assert_eq!(refusals(node, "unknown_in_response_to").await, before + 1);
    }
}

#[tokio::test]
async fn nodes_saml_assertion_accepted_on_a_is_refused_as_a_replay_on_b_and_a() {
    let (a, b) = two_nodes().await;
    let conn = saml_org(&a).await;
    let xml = okta_response(&okta_spec(&conn), &Idp::okta());
    let token = session_of(&post(&a, &conn, &xml, None).await);
    assert_eq!(b.me(&token).await.0, StatusCode::OK);
    let b_acs = on(&b, &a, &conn.acs_url);
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &xml);
    for (node, acs) in [(&b, b_acs.as_str()), (&a, conn.acs_url.as_str())] {
        let before = refusals(node, "replay").await;
        let resp = post_encoded(node, acs, &b64, None).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "replayed to {}", node.base);
        assert_eq!(refusals(node, "replay").await, before + 1, "counted as a replay on {}", node.base);
    }
}

#[tokio::test]
async fn nodes_oidc_login_started_on_a_completes_on_b_and_its_state_is_single_use() {
    let forge = Forge::start().await;
    let (a, b) = two_nodes().await;
    a.org("acme").await;
    a.project("acme", "research").await;
    let (s, body) = a.put_mapping("acme", mapping()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let conn =
        create_connection(&a, "acme", forge.connection(json!({}))).await["id"].as_str().unwrap().to_string();
    forge.plan(Plan::default());
    let browser = Browser::new();
    // State, nonce and PKCE verifier are stored by A; the provider sends the
    // browser back to the public URL, which the balancer gives to B.
    let callback =
        browser.follow_until(&a.url(&format!("/oidc/{conn}/login?return_to=%2Fv1%2Fme")), is_callback).await;
    let on_b = on(&b, &a, &callback);
    let page = browser.get(&on_b).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let token = page.session().unwrap();
    assert_eq!(b.me(&token).await.0, StatusCode::OK);
    assert_eq!(a.me(&token).await.0, StatusCode::OK);
    // The state is spent for every node.
    for url in [callback.as_str(), on_b.as_str()] {
        let again = browser.get(url).await;
        assert!(again.status.is_client_error(), "state reused at {url}: {} {}", again.status, again.body);
        assert!(again.session().is_none());
    }
}

#[tokio::test]
async fn nodes_a_rotated_session_key_verifies_at_once_and_signs_everywhere_within_a_second() {
    let (a, b) = two_nodes().await;
    a.org("acme").await;
    let old = a.login("acme", "ann@acme.com", &[]).await.unwrap();
    let kid_of = |t: &str| -> String {
        let header = t.split('.').next().unwrap();
        let h: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
        )
        .unwrap();
        h["kid"].as_str().unwrap().to_string()
    };
    let old_kid = kid_of(&old);
    // A token naming a made-up kid on B first: it used to throttle B's
    // unknown-kid reload for ten seconds.
    let made_up = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        br#"{"alg":"EdDSA","typ":"JWT","kid":"made-up"}"#,
    );
    let forged = old.replacen(old.split('.').next().unwrap(), &made_up, 1);
    assert_eq!(b.me(&forged).await.0, StatusCode::UNAUTHORIZED);
    // Rotate (as `idbridge keys rotate` does, through the store), with the old
    // key verifying for 2 more seconds.
    let overlap = Duration::from_secs(2);
    let new_kid = idbridge::session::keys::rotate(&a.state.db, &a.state.secret_box, overlap).await.unwrap();
    let rotated = Instant::now();
    a.state.sessions.keys.reload(&a.state.db, &a.state.secret_box).await.unwrap();
    let fresh = a.login("acme", "ann@acme.com", &[]).await.unwrap();
    assert_eq!(kid_of(&fresh), new_kid);
    assert_eq!(b.me(&fresh).await.0, StatusCode::OK, "B verifies a new kid on first sight");
    assert_eq!(b.me(&old).await.0, StatusCode::OK, "the old key still verifies during the overlap");
    assert_eq!(kid_of(&b.login("acme", "ann@acme.com", &[]).await.unwrap()), new_kid, "B signs with it");
    // Past the overlap the old key stops verifying on both nodes within about
    // a second (the periodic check sees the key's expiry).
    let deadline = overlap + Duration::from_millis(1_500);
    for node in [&b, &a] {
        let left = deadline.saturating_sub(rotated.elapsed());
        within!(left, format!("the expired key still verifies on {}", node.base), {
            node.me(&old).await.0 == StatusCode::UNAUTHORIZED
        });
    }
    assert_eq!(b.me(&fresh).await.0, StatusCode::OK, "the new key still verifies");
    let (_, jwks) = b.send(reqwest::Method::GET, "/.well-known/jwks.json", None, None).await;
    let kids: Vec<&str> =
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, [new_kid.as_str()], "{old_kid} is no longer published");
    // Rotated again, with no token of the newest key shown to B: B signs with
    // it within about a second all the same (its periodic check).
    let newest = idbridge::session::keys::rotate(&a.state.db, &a.state.secret_box, Duration::from_secs(3600))
        .await
        .unwrap();
    let rotated = Instant::now();
    within!(
        Duration::from_millis(1_500).saturating_sub(rotated.elapsed()),
        "B still signs with the previous key",
        kid_of(&b.login("acme", "ann@acme.com", &[]).await.unwrap()) == newest
    );
    assert_eq!(b.me(&fresh).await.0, StatusCode::OK, "the retired key verifies during its overlap");
}
