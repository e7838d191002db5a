//! SAML connections through the admin API: creation from metadata XML or a
//! metadata URL (served on 127.0.0.1), refusal of metadata without a signing
//! certificate, settings validation, PATCH and metadata refresh (rollover),
//! the SP metadata document, custom attribute names, and sealed SP keys.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::helpers::{ADMIN_TOKEN, TestApp, spawn_app};
use crate::support::saml_client::*;
use crate::support::saml_idp::*;
use crate::support::saml_signer::*;

async fn patch(app: &TestApp, org: &str, id: &str, body: Value) -> (StatusCode, Value) {
    app.send(
        reqwest::Method::PATCH,
        &format!("/admin/v1/orgs/{org}/connections/{id}"),
        Some(ADMIN_TOKEN),
        Some(body),
    )
    .await
}

/// Serve `doc` at http://127.0.0.1:PORT/metadata (the text can be swapped).
async fn metadata_server(doc: Arc<Mutex<String>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route(
            "/metadata",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { doc.lock().unwrap().clone() }
            }),
        )
        .route("/missing", axum::routing::get(|| async { (axum::http::StatusCode::NOT_FOUND, "no") }));
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn saml_connection_create_describe_and_sp_metadata() {
    let app = spawn_app().await;
    app.org("acme").await;
    let conn = connect(&app, "acme", &Idp::okta(), json!({})).await;
    let b = &conn.body;
    assert_eq!(b["kind"], "saml");
    let id = conn.id.as_str();
    assert_eq!(conn.acs_url, format!("{}/saml/{id}/acs", app.base));
    assert_eq!(conn.metadata_url, format!("{}/saml/{id}/metadata", app.base));
    assert_eq!(conn.login_url, format!("{}/saml/{id}/login", app.base));
    assert_eq!(conn.sp_entity_id, conn.metadata_url);
    assert_eq!(b["idp"]["entity_id"], OKTA_ENTITY);
    assert_eq!(b["idp"]["sso_url"], SSO_URL);
    assert_eq!(b["clock_skew_seconds"], 90);
    assert_eq!(b["allow_idp_initiated"], true);
    assert_eq!(b["allow_sha1"], false);
    assert_eq!(b["jit"], true);
    assert_eq!(b["attributes"]["groups"][0], "groups");

    let (s, list) = app.admin_get("/admin/v1/orgs/acme/connections").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains("PRIVATE KEY"), "no secret in the listing");
    let (s, one) = app.admin_get(&format!("/admin/v1/orgs/acme/connections/{id}")).await;
    assert_eq!((s, &one["acs_url"]), (StatusCode::OK, &json!(conn.acs_url)));

    let resp = app.client.get(&conn.metadata_url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/samlmetadata+xml");
    let xml = resp.text().await.unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.attribute("entityID"), Some(conn.sp_entity_id.as_str()));
    let acs = doc.descendants().find(|n| n.has_tag_name("AssertionConsumerService")).unwrap();
    assert_eq!(acs.attribute("Location"), Some(conn.acs_url.as_str()));
    assert_eq!(acs.attribute("Binding"), Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"));
    let pem_body =
        |k: &str| -> String { b[k].as_str().unwrap().lines().filter(|l| !l.starts_with("-----")).collect() };
    for (usage, key) in [("signing", "sp_signing_certificate"), ("encryption", "sp_encryption_certificate")] {
        let kd = doc
            .descendants()
            .find(|n| n.has_tag_name("KeyDescriptor") && n.attribute("use") == Some(usage))
            .unwrap();
        let cert = kd.descendants().find(|n| n.has_tag_name("X509Certificate")).unwrap().text().unwrap();
        assert_eq!(cert, pem_body(key), "{usage} certificate published");
    }
    assert_ne!(pem_body("sp_signing_certificate"), pem_body("sp_encryption_certificate"));
    let formats: Vec<&str> =
        doc.descendants().filter(|n| n.has_tag_name("NameIDFormat")).filter_map(|n| n.text()).collect();
    for f in ["emailAddress", "persistent", "unspecified"] {
        assert!(formats.iter().any(|x| x.ends_with(f)), "{f} in {formats:?}");
    }

    // Private keys are stored sealed, never as PEM.
    let cid = id.to_string();
    let row = crate::support::helpers::raw_db(&app)
        .one("SELECT config, secret FROM connections WHERE id = ?1", &[cid.as_str().into()])
        .await;
    let (config, secret): (String, Vec<u8>) = (row[0].text().unwrap(), row[1].blob().unwrap());
    assert!(!config.contains("PRIVATE"));
    assert!(!String::from_utf8_lossy(&secret).contains("PRIVATE KEY"));
    assert!(secret.len() > 2 * 1200, "two sealed RSA keys");
}

#[tokio::test]
async fn saml_metadata_without_signing_certificate_is_refused() {
    let app = spawn_app().await;
    app.org("acme").await;
    let no_cert = Idp::okta().metadata(&[]).replace("use=\"signing\"", "use=\"encryption\"");
    let (s, b) = app
        .admin_post(
            "/admin/v1/orgs/acme/connections",
            json!({"kind": "saml", "name": "x", "idp_metadata_xml": no_cert}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("no signing certificate"), "{b}");
    // (Without any metadata the connection is pending: saml_pending.rs.)
    for bad in [
        json!({"kind": "saml", "name": "x", "idp_metadata_xml": "<not-metadata/>"}),
        json!({"kind": "saml", "name": "x", "idp_metadata_xml": "<!DOCTYPE x [<!ENTITY a \"b\">]><x/>"}),
        json!({"kind": "saml", "name": "x", "idp_metadata_xml": Idp::okta().metadata(&[]), "idp_metadata_url": "http://127.0.0.1:1/m"}),
        json!({"kind": "saml", "name": "x", "idp_metadata_xml": Idp::okta().metadata(&[]), "clock_skew_seconds": 100000}),
        json!({"kind": "saml", "name": "x", "idp_metadata_xml": Idp::okta().metadata(&[]), "match_by": "shoe_size"}),
        json!({"kind": "saml", "name": "x", "idp_metadata_xml": Idp::okta().metadata(&[]), "allowed_origins": ["javascript:x"]}),
        json!({"kind": "saml", "name": "x", "idp_metadata_xml": Idp::okta().metadata(&[]), "surprise": 1}),
        json!({"kind": "saml", "name": "", "idp_metadata_xml": Idp::okta().metadata(&[])}),
    ] {
        let (s, b) = app.admin_post("/admin/v1/orgs/acme/connections", bad.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad} -> {b}");
        assert!(b["error"]["code"].is_string());
    }
    assert_eq!(app.admin_get("/admin/v1/orgs/acme/connections").await.1, json!([]));
}

#[tokio::test]
async fn saml_metadata_url_create_refresh_and_rollover() {
    let app = spawn_app().await;
    app.org("acme").await;
    let (s, _) = app.put_mapping("acme", json!({"default_org_role": "member", "rules": []})).await;
    assert_eq!(s, StatusCode::OK);
    let served = Arc::new(Mutex::new(Idp::okta().metadata(&[])));
    let base = metadata_server(served.clone()).await;
    let (s, b) = app
        .admin_post(
            "/admin/v1/orgs/acme/connections",
            json!({"kind": "saml", "name": "Okta", "idp_metadata_url": format!("{base}/metadata")}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["idp"]["metadata_url"], format!("{base}/metadata"));
    assert!(b["idp"]["metadata_fetched_at"].is_string());
    let conn = conn_of("acme", b);
    let spec = || Spec::okta(&conn, "ann@acme.com", &[]);
    session_of(&post(&app, &conn, &okta_response(&spec(), &Idp::okta()), None).await);
    assert_refused(
        &app,
        &conn,
        &okta_response(&spec(), &Idp::okta_next()),
        StatusCode::FORBIDDEN,
        "signature_invalid",
    )
    .await;

    // The IdP publishes its next certificate beside the current one, then alone.
    *served.lock().unwrap() = Idp::okta().metadata(&[&Idp::okta_next()]);
    let (s, b) = patch(&app, "acme", &conn.id, json!({"refresh_metadata": true})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["idp"]["signing_certificate_sha256"].as_array().unwrap().len(), 2);
    session_of(&post(&app, &conn, &okta_response(&spec(), &Idp::okta_next()), None).await);
    *served.lock().unwrap() = Idp::okta_next().metadata(&[]);
    let (s, _) = patch(&app, "acme", &conn.id, json!({"refresh_metadata": true})).await;
    assert_eq!(s, StatusCode::OK);
    assert_refused(
        &app,
        &conn,
        &okta_response(&spec(), &Idp::okta()),
        StatusCode::FORBIDDEN,
        "signature_invalid",
    )
    .await;

    // Fetch failures and oversize documents are refused.
    for url in [format!("{base}/missing"), "http://127.0.0.1:1/metadata".to_string()] {
        let (s, b) = app
            .admin_post(
                "/admin/v1/orgs/acme/connections",
                json!({"kind": "saml", "name": "x", "idp_metadata_url": url}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    }
    *served.lock().unwrap() = format!("{}<!--{}-->", Idp::okta().metadata(&[]), "x".repeat(300 * 1024));
    let (s, b) = app
        .admin_post(
            "/admin/v1/orgs/acme/connections",
            json!({"kind": "saml", "name": "x", "idp_metadata_url": format!("{base}/metadata")}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("larger"), "{b}");
}

#[tokio::test]
async fn saml_patch_settings_and_custom_attribute_names() {
    let app = spawn_app().await;
    app.org("acme").await;
    app.project("acme", "research").await;
    let (s, _) = app
        .put_mapping(
            "acme",
            json!({"default_org_role": "none", "rules": [{"group": "Researchers", "org_role": "member", "projects": {"research": "member"}}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let conn = connect(&app, "acme", &Idp::okta(), json!({})).await;
    let (s, b) = patch(
        &app,
        "acme",
        &conn.id,
        json!({
            "name": "Okta (prod)",
            "attributes": {"email": ["work_email"], "groups": ["roles"], "given_name": ["fn"], "family_name": ["ln"]},
            "default_return_to": "https://app.acme.test/start",
        }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["name"], "Okta (prod)");
    assert_eq!(b["attributes"]["email"], json!(["work_email"]));
    let (s, _) = patch(&app, "acme", &conn.id, json!({"clock_skew_seconds": -1})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    let mut spec = Spec::base(&conn, &Idp::okta(), "opaque-123");
    spec.attributes = vec![
        ("work_email".into(), vec!["kim@acme.com".into()]),
        ("fn".into(), vec!["Kim".into()]),
        ("ln".into(), vec!["Park".into()]),
        ("roles".into(), vec!["Researchers".into()]),
        ("groups".into(), vec!["ignored-now".into()]),
    ];
    let resp = post(&app, &conn, &okta_response(&spec, &Idp::okta()), None).await;
    let token = session_of(&resp);
    assert_eq!(location(&resp), "https://app.acme.test/start");
    let (_, me) = app.me(&token).await;
    assert_eq!(me["user"]["email"], "kim@acme.com");
    assert_eq!(me["user"]["name"], "Kim Park");
    assert_eq!(me["projects"], json!([{"slug": "research", "role": "member"}]));
}

#[tokio::test]
async fn saml_sp_initiated_needs_a_redirect_sso_url_and_a_saml_connection() {
    let app = spawn_app().await;
    app.org("acme").await;
    let no_sso =
        Idp::okta().metadata(&[]).replace("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", "urn:x");
    let (s, b) = app
        .admin_post(
            "/admin/v1/orgs/acme/connections",
            json!({"kind": "saml", "name": "x", "idp_metadata_xml": no_sso}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let conn = conn_of("acme", b);
    let resp = app.client.get(&conn.login_url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(resp.text().await.unwrap().contains("Sign-in refused"));
    for path in ["/saml/nope/metadata", "/saml/nope/login", "/saml/..%2F..%2Fetc/metadata"] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn saml_stale_metadata_is_refreshed_in_the_background() {
    let app = spawn_app().await;
    app.org("acme").await;
    let served = Arc::new(Mutex::new(Idp::okta().metadata(&[])));
    let base = metadata_server(served.clone()).await;
    let (s, b) = app
        .admin_post(
            "/admin/v1/orgs/acme/connections",
            json!({"kind": "saml", "name": "Okta", "idp_metadata_url": format!("{base}/metadata")}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let conn = conn_of("acme", b);
    let before = conn.body["idp"]["signing_certificate_sha256"].clone();
    // A day and more later the IdP has rolled its key.
    *served.lock().unwrap() = Idp::okta_next().metadata(&[]);
    let id = conn.id.clone();
    // Per engine: SQLite's json_set, PostgreSQL's jsonb_set (config is TEXT there too).
    let stale = if crate::support::helpers::on_postgres() {
        "UPDATE connections SET config = jsonb_set(config::jsonb, '{idp,metadata_fetched_at}', \
         '\"2020-01-01T00:00:00.000Z\"')::text WHERE id = ?1"
    } else {
        "UPDATE connections SET config = json_set(config, '$.idp.metadata_fetched_at', \
         '2020-01-01T00:00:00.000Z') WHERE id = ?1"
    };
    let changed = crate::support::helpers::raw_db(&app).exec(stale, &[id.as_str().into()]).await;
    assert_eq!(changed, 1);
    // Any use of the connection notices the stale metadata and refreshes it.
    assert_eq!(app.client.get(&conn.metadata_url).send().await.unwrap().status(), StatusCode::OK);
    let path = format!("/admin/v1/orgs/acme/connections/{}", conn.id);
    let mut after = before.clone();
    for _ in 0..50 {
        after = app.admin_get(&path).await.1["idp"]["signing_certificate_sha256"].clone();
        if after != before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_ne!(after, before, "the new signing certificate replaced the old one");
    let spec = Spec::okta(&conn, "ann@acme.com", &[]);
    assert_refused(
        &app,
        &conn,
        &okta_response(&spec, &Idp::okta()),
        StatusCode::FORBIDDEN,
        "signature_invalid",
    )
    .await;
}

/// The typed bodies: a field neither kind has, a field of the other kind, and
/// a value of the wrong type are each refused (422, naming the field or the
/// wrong value), and nothing is
/// written; a PATCH refused the same way leaves the connection as it was.
#[tokio::test]
async fn connection_bodies_refuse_unknown_fields_and_wrong_types_and_write_nothing() {
    let app = spawn_app().await;
    app.org("acme").await;
    for (body, field) in [
        (json!({"kind": "saml", "name": "x", "nmae": "typo"}), "nmae"),
        (json!({"kind": "saml", "name": "x", "client_id": "an OIDC field"}), "client_id"),
        (json!({"kind": "saml", "name": "x", "idp_metadata_xml": 5}), "idp_metadata_xml"),
        (json!({"kind": "saml", "name": 7}), "name"),
        (
            json!({"kind": "oidc", "name": "x", "issuer": "https://idp.example", "client_id": "c", "idp_metadata_url": "https://a"}),
            "idp_metadata_url",
        ),
        // OIDC settings are refused as the body's (serde's message names the type, not the field).
        (
            json!({"kind": "oidc", "name": "x", "issuer": "https://idp.example", "client_id": "c", "jit": "yes"}),
            "expected a boolean",
        ),
    ] {
        let (s, err) = app.admin_post("/admin/v1/orgs/acme/connections", body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["error"]["code"], "invalid_value", "{body}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{field}:")) || message.contains(field), "{body}: {message}");
    }
    let (_, list) = app.admin_get("/admin/v1/orgs/acme/connections").await;
    assert_eq!(list, json!([]), "a refused body writes nothing");

    let conn = connect(&app, "acme", &Idp::okta(), json!({})).await;
    let before = app.admin_get(&format!("/admin/v1/orgs/acme/connections/{}", conn.id)).await.1;
    for body in [json!({"clock_skew": 5}), json!({"refresh_metadata": "yes"}), json!({"jit": 1})] {
        let (s, err) = patch(&app, "acme", &conn.id, body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
    }
    let after = app.admin_get(&format!("/admin/v1/orgs/acme/connections/{}", conn.id)).await.1;
    assert_eq!(before, after, "a refused PATCH changes nothing");
}
