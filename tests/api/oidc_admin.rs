//! OIDC connections in the admin API: the created answer, secrets never
//! returned and sealed at rest, validation, discovery at creation, updates,
//! and Entra tenant pinning with a multi-tenant issuer.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::oidc_tokens::setup;
use crate::support::helpers::spawn_app;
use crate::support::oidc_forge::{CLIENT_SECRET, Forge, Plan};
use crate::support::oidc_support::{create_connection, patch_connection};

#[tokio::test]
async fn oidc_connection_create_answers_urls_and_never_returns_the_secret() {
    let forge = Forge::start().await;
    let app = spawn_app().await;
    app.org("acme").await;
    let created = create_connection(&app, "acme", forge.connection(json!({"groups_claim": "roles"}))).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["kind"], "oidc");
    assert_eq!(created["redirect_uri"], app.url(&format!("/oidc/{id}/callback")));
    assert_eq!(created["login_url"], app.url(&format!("/oidc/{id}/login")));
    assert_eq!(created["scopes"], json!(["openid", "profile", "email"]));
    assert_eq!(created["groups_claim"], "roles");
    assert_eq!(created["jit"], true);
    assert_eq!(created["match_by"], "email");

    let (s, list) = app.admin_get("/admin/v1/orgs/acme/connections").await;
    assert_eq!(s, StatusCode::OK);
    let (s, one) = app.admin_get(&format!("/admin/v1/orgs/acme/connections/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    for shown in [&created, &list, &one] {
        assert!(!shown.to_string().contains(CLIENT_SECRET), "secret returned: {shown}");
    }
    assert_eq!(one["client_secret_set"], true);
    assert_eq!(list[0]["id"], id);

    // Sealed at rest.
    let id2 = id.to_string();
    let stored: Vec<u8> = crate::support::helpers::raw_db(&app)
        .one_blob("SELECT secret FROM connections WHERE id = ?1", &[id2.as_str().into()])
        .await;
    assert!(!stored.windows(CLIENT_SECRET.len()).any(|w| w == CLIENT_SECRET.as_bytes()));
    let (_, audit) = app.admin_get("/admin/v1/orgs/acme/audit").await;
    assert!(audit.to_string().contains("connection.create"));
    assert!(!audit.to_string().contains(CLIENT_SECRET));
}

#[tokio::test]
async fn oidc_connection_create_refuses_bad_settings() {
    let forge = Forge::start().await;
    let app = spawn_app().await;
    app.org("acme").await;
    let post = |body: Value| {
        let app = &app;
        async move { app.admin_post("/admin/v1/orgs/acme/connections", body).await }
    };
    let mut no_secret = forge.connection(json!({}));
    no_secret.as_object_mut().unwrap().remove("client_secret");
    for (body, field) in [
        (no_secret, "client_secret"),
        (forge.connection(json!({"client_secret": ""})), "client_secret"),
        (forge.connection(json!({"issuer": "http://idp.example.com"})), "issuer"),
        (forge.connection(json!({"scopes": ["bad scope"]})), "scopes[0]"),
        (forge.connection(json!({"tenant_ids": ["organizations"]})), "tenant_ids[0]"),
        (
            forge.connection(json!({"allowed_origins": ["https://app.example.com/path"]})),
            "allowed_origins[0]",
        ),
        (forge.connection(json!({"idp_metadata_url": "https://x"})), "idp_metadata_url"),
        (forge.connection(json!({"match_by": "phone"})), "body"),
    ] {
        let (s, b) = post(body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(b["error"]["message"].as_str().unwrap().starts_with(field), "{field}: {b}");
    }
    // Discovery runs at creation: a document for another issuer is refused.
    forge.set_issuers("https://other.example.com", "https://other.example.com");
    let (s, b) = post(forge.connection(json!({}))).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("discovery_failed")),
        "{b}"
    );
    assert!(b["error"]["message"].as_str().unwrap().contains("issuer mismatch"), "{b}");
    forge.set_issuers(&forge.base, &forge.base);
    // Redirects are not followed (a provider cannot bounce idbridge elsewhere).
    forge.redirect_discovery(Some(&format!("{}/.well-known/openid-configuration?again", forge.base)));
    let (s, b) = post(forge.connection(json!({}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("HTTP 307"), "{b}");
    forge.redirect_discovery(None);
    // Documents are size-capped.
    forge.pad_discovery(2 * 1024 * 1024);
    let (s, b) = post(forge.connection(json!({}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("larger than"), "{b}");
    forge.pad_discovery(0);
    create_connection(&app, "acme", forge.connection(json!({}))).await;
    let (_, list) = app.admin_get("/admin/v1/orgs/acme/connections").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    app.admin_delete(&format!("/admin/v1/orgs/acme/connections/{}", list[0]["id"].as_str().unwrap())).await;
    // Nothing listening.
    let (s, b) = post(forge.connection(json!({"issuer": "http://127.0.0.1:9"}))).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("discovery_failed")),
        "{b}"
    );
    let (_, list) = app.admin_get("/admin/v1/orgs/acme/connections").await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn oidc_connection_update_keeps_the_secret_and_applies_settings() {
    let s = setup(json!({})).await;
    let (st, b) = patch_connection(&s.app, "acme", &s.conn, json!({"name": "Renamed", "jit": false})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!((b["name"].as_str(), b["jit"].as_bool()), (Some("Renamed"), Some(false)));
    assert_eq!(b["client_id"], "forge-client");
    // jit off: an unknown user is refused; the kept secret still works at the token endpoint.
    s.refused(Plan::default(), StatusCode::FORBIDDEN, "no_such_user").await;
    let (st, b) = patch_connection(&s.app, "acme", &s.conn, json!({"jit": true})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    s.accepted(Plan::default()).await;
    // A wrong new secret is used at once (the provider refuses the client).
    let (st, _) = patch_connection(&s.app, "acme", &s.conn, json!({"client_secret": "wrong"})).await;
    assert_eq!(st, StatusCode::OK);
    s.refused(Plan::default(), StatusCode::BAD_REQUEST, "token_exchange_refused").await;
    let (st, b) = patch_connection(&s.app, "acme", &s.conn, json!({"kind": "saml"})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (st, b) = patch_connection(&s.app, "acme", &s.conn, json!({"issuer": "http://127.0.0.1:9"})).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("discovery_failed"))
    );
}

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const OTHER_TENANT: &str = "99999999-8888-7777-6666-555555555555";

#[tokio::test]
async fn oidc_entra_multi_tenant_issuer_needs_pinned_tenants() {
    let forge = Forge::start().await;
    let app = spawn_app().await;
    app.org("acme").await;
    let (s, b) = app.put_mapping("acme", json!({"default_org_role": "member", "rules": []})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let b = &forge.base;
    forge.set_issuers(&format!("{b}/{{tenantid}}/v2.0"), &format!("{b}/{TENANT}/v2.0"));
    let entra = |extra: Value| {
        let mut body = forge.connection(json!({"issuer": format!("{b}/organizations/v2.0")}));
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    // Without tenant ids, a multi-tenant issuer is refused.
    let (s, body) = app.admin_post("/admin/v1/orgs/acme/connections", entra(json!({}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("tenant_ids"), "{body}");

    let created =
        create_connection(&app, "acme", entra(json!({"tenant_ids": [TENANT], "match_by": "external_id"})))
            .await;
    let conn = created["id"].as_str().unwrap();
    let setup = crate::oidc_tokens::Setup {
        app,
        forge: forge.clone(),
        conn: conn.to_string(),
        browser: crate::support::oidc_support::Browser::new(),
    };
    let claims = |v: Value| Plan { claims: v, ..Plan::default() };
    // The pinned tenant logs in (Entra sends no email_verified; oid is the external id).
    let token = setup.accepted(claims(json!({"tid": TENANT, "oid": "obj-1", "email_verified": null}))).await;
    assert_eq!(setup.app.me(&token).await.0, StatusCode::OK);
    // Another tenant, even with a matching iss template, is refused.
    let other_iss = format!("{b}/{OTHER_TENANT}/v2.0");
    setup
        .refused(
            claims(json!({"tid": OTHER_TENANT, "iss": other_iss})),
            StatusCode::FORBIDDEN,
            "tenant_not_allowed",
        )
        .await;
    setup.refused(claims(json!({"tid": null})), StatusCode::FORBIDDEN, "tenant_not_allowed").await;
    // The allowed tid with another tenant's issuer.
    setup
        .refused(claims(json!({"tid": TENANT, "iss": other_iss})), StatusCode::FORBIDDEN, "issuer_mismatch")
        .await;
}

#[tokio::test]
async fn oidc_entra_groups_overage_uses_the_configured_graph_endpoint() {
    let overage = json!({
        "groups": null,
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {"src1": {"endpoint": "https://graph.windows.net/t/users/u/getMemberObjects"}},
    });
    // Not configured: refused with a clear message.
    let s = setup(json!({})).await;
    let plan = Plan { claims: overage.clone(), graph_groups: vec!["Engineering".into()], ..Plan::default() };
    let page = s.refused(plan.clone(), StatusCode::FORBIDDEN, "groups_overage_unresolved").await;
    assert!(page.body.contains("too many groups"), "{}", page.body);

    // Configured: the groups come from Graph, with the login's access token.
    let s = setup(json!({})).await;
    let graph = format!("{}/graph/getMemberObjects", s.forge.base);
    let (st, b) = patch_connection(&s.app, "acme", &s.conn, json!({"graph_groups_url": graph})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let token = s.accepted(plan).await;
    let (_, me) = s.app.me(&token).await;
    assert_eq!(me["projects"], json!([{"slug": "research", "role": "admin"}]), "{me}");
    assert_eq!(s.forge.hits().graph.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn oidc_userinfo_fills_missing_claims_and_must_name_the_same_subject() {
    let s = setup(json!({})).await;
    let sparse = json!({"email": null, "email_verified": null, "name": null, "groups": null});
    let plan = Plan {
        claims: sparse.clone(),
        userinfo: Some(
            json!({"sub": crate::support::oidc_forge::SUB, "email": "ann@example.com", "email_verified": true,
            "name": "Ann From Userinfo", "groups": ["Engineering"]}),
        ),
        ..Plan::default()
    };
    let token = s.accepted(plan).await;
    let (_, me) = s.app.me(&token).await;
    assert_eq!(me["user"]["name"], "Ann From Userinfo");
    assert_eq!(me["org"]["role"], "member");
    let plan = Plan {
        claims: sparse.clone(),
        userinfo: Some(json!({"sub": "someone-else", "email": "boss@example.com", "email_verified": true})),
        ..Plan::default()
    };
    s.refused(plan, StatusCode::FORBIDDEN, "userinfo_subject_mismatch").await;
    let plan = Plan {
        claims: sparse,
        userinfo: Some(
            json!({"sub": crate::support::oidc_forge::SUB, "email": "mallory@example.com", "email_verified": false}),
        ),
        ..Plan::default()
    };
    s.refused(plan, StatusCode::FORBIDDEN, "email_not_verified").await;
}
