//! The outbound guard on IdP metadata and OpenID Provider fetches: plain
//! http, redirects, private, link-local and metadata-service addresses are
//! refused (422 naming the reason) before any traffic leaves 127.0.0.1.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::helpers::spawn_app;
use crate::support::saml_idp::Idp;

/// A loopback server with IdP metadata at /md and redirects to it and to
/// plain http on another host.
async fn metadata_and_redirects() -> String {
    use axum::http::{StatusCode as S, header};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let to_md = format!("{base}/md");
    let app = axum::Router::new()
        .route("/md", axum::routing::get(|| async { Idp::okta().metadata(&[]) }))
        .route(
            "/moved",
            axum::routing::get(move || {
                let to = to_md.clone();
                async move { (S::FOUND, [(header::LOCATION, to)]) }
            }),
        )
        .route(
            "/to-http",
            axum::routing::get(|| async {
                (S::MOVED_PERMANENTLY, [(header::LOCATION, "http://idp.example.test/md")])
            }),
        );
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    base
}

async fn create_saml(app: &crate::support::helpers::TestApp, url: &str) -> (StatusCode, serde_json::Value) {
    app.admin_post(
        "/admin/v1/orgs/acme/connections",
        json!({"kind": "saml", "name": "IdP", "idp_metadata_url": url}),
    )
    .await
}

fn refused_for(b: &serde_json::Value, words: &str) {
    let m = b["error"]["message"].as_str().unwrap_or_default();
    assert!(m.contains("refused") && m.contains(words), "expected a refusal naming {words:?}: {b}");
}

#[tokio::test]
async fn saml_metadata_url_of_a_cloud_metadata_service_or_private_address_is_refused_before_any_traffic() {
    let app = spawn_app().await;
    app.org("acme").await;
    for (url, words) in [
        ("http://169.254.169.254/latest/meta-data", "metadata-service"),
        ("https://169.254.169.254/latest/meta-data/iam/security-credentials/", "metadata-service"),
        ("https://[fd00:ec2::254]/latest/meta-data", "metadata-service"),
        ("https://[::ffff:169.254.169.254]/latest/meta-data", "metadata-service"),
        ("https://metadata.google.internal/computeMetadata/v1/", "metadata-service"),
        ("https://10.1.2.3/md", "private-network"),
        ("https://192.168.0.7/md", "private-network"),
        ("https://[::ffff:172.16.0.1]/md", "private-network"),
        ("https://169.254.10.1/md", "link-local"),
        ("https://100.64.0.9/md", "carrier-grade NAT"),
        ("https://0.0.0.0/md", "unspecified"),
        // Plain http to anything but loopback: anyone on the path could swap the certificates.
        ("http://idp.example.test/md", "https"),
    ] {
        let (s, b) = create_saml(&app, url).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {b}");
        refused_for(&b, words);
    }
    assert_eq!(app.admin_get("/admin/v1/orgs/acme/connections").await.1, json!([]), "nothing created");
}

#[tokio::test]
async fn saml_metadata_url_redirects_are_refused_on_create_and_patch() {
    let app = spawn_app().await;
    app.org("acme").await;
    let base = metadata_and_redirects().await;
    for path in ["/moved", "/to-http"] {
        let (s, b) = create_saml(&app, &format!("{base}{path}")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {b}");
        refused_for(&b, "redirect");
    }
    // The final URL (loopback http, for tests and local IdPs) works.
    let (s, b) = create_saml(&app, &format!("{base}/md")).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    let (s, b) = app
        .send(
            reqwest::Method::PATCH,
            &format!("/admin/v1/orgs/acme/connections/{id}"),
            Some(crate::support::helpers::ADMIN_TOKEN),
            Some(json!({"idp_metadata_url": format!("{base}/moved")})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    refused_for(&b, "redirect");
    let (_, now) = app.admin_get("/admin/v1/orgs/acme/connections").await;
    assert_eq!(now[0]["idp"]["metadata_url"], format!("{base}/md"), "unchanged: {now}");
}

#[tokio::test]
async fn oidc_issuer_on_a_private_or_metadata_address_is_refused_before_any_traffic() {
    let app = spawn_app().await;
    app.org("acme").await;
    for (issuer, words) in [
        ("https://169.254.169.254", "metadata-service"),
        ("https://10.0.0.7/tenant", "private-network"),
        ("https://[fe80::1]", "link-local"),
    ] {
        let (s, b) = app
            .admin_post(
                "/admin/v1/orgs/acme/connections",
                json!({"kind": "oidc", "name": "x", "issuer": issuer, "client_id": "c", "client_secret": "s"}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{issuer}: {b}");
        refused_for(&b, words);
    }
    // The Graph endpoint (called at login for Entra's groups overage) too.
    let forge = crate::support::oidc_forge::Forge::start().await;
    let body =
        forge.connection(json!({"graph_groups_url": "https://169.254.169.254/v1.0/me/getMemberObjects"}));
    let (s, b) = app.admin_post("/admin/v1/orgs/acme/connections", body).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    refused_for(&b, "metadata-service");
    assert_eq!(app.admin_get("/admin/v1/orgs/acme/connections").await.1, json!([]), "nothing created");
}

#[tokio::test]
async fn outbound_allow_private_is_the_operators_setting_and_never_opens_metadata_services() {
    // Through the real binary and its environment variable. Plain http to a
    // private address tells the settings apart without sending anything:
    // refused for its address by default, for its scheme once private
    // addresses are allowed.
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    for (allow, words) in [("false", "private-network"), ("true", "must use https")] {
        let db = dir.path().join(format!("idbridge-{allow}.db"));
        let p = crate::support::helpers::spawn_process(&db, &[("IDBRIDGE_OUTBOUND_ALLOW_PRIVATE", allow)]);
        let admin = |path: &str, body: serde_json::Value| {
            client
                .post(format!("{}{path}", p.base))
                .bearer_auth(crate::support::helpers::ADMIN_TOKEN)
                .json(&body)
                .send()
        };
        assert!(
            admin("/admin/v1/orgs", json!({"slug": "acme", "name": "Acme"}))
                .await
                .unwrap()
                .status()
                .is_success()
        );
        for (url, words) in
            [("http://10.1.2.3/md", words), ("https://169.254.169.254/latest/meta-data", "metadata-service")]
        {
            let r = admin(
                "/admin/v1/orgs/acme/connections",
                json!({"kind": "saml", "name": "x", "idp_metadata_url": url}),
            )
            .await
            .unwrap();
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
            refused_for(&r.json().await.unwrap(), words);
        }
    }
}
