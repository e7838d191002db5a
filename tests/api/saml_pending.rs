//! Issue 10 over HTTP, SAML side: a connection created with only `kind` and
//! `name` is pending — every SP value shown, SP metadata served, sign-in and
//! the ACS refused (409 `connection_pending`, nothing written) — and becomes
//! active when PATCH adds the IdP's metadata. And Entra's groups overage: an
//! assertion with a `groups.link` claim instead of the groups keeps the
//! user's last known groups and flags the connection.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::helpers::{ADMIN_TOKEN, TestApp, spawn_app};
use crate::support::oidc_support::rows;
use crate::support::saml_client::*;
use crate::support::saml_idp::*;
use crate::support::saml_signer::*;

const GROUPS_LINK: &str = "http://schemas.microsoft.com/claims/groups.link";

async fn patch(app: &TestApp, conn: &Conn, body: Value) -> (StatusCode, Value) {
    let path = format!("/admin/v1/orgs/{}/connections/{}", conn.org, conn.id);
    app.send(reqwest::Method::PATCH, &path, Some(ADMIN_TOKEN), Some(body)).await
}

async fn get(app: &TestApp, conn: &Conn) -> Value {
    app.admin_get(&format!("/admin/v1/orgs/{}/connections/{}", conn.org, conn.id)).await.1
}

async fn pending(app: &TestApp) -> Conn {
    let (s, b) =
        app.admin_post("/admin/v1/orgs/acme/connections", json!({"kind": "saml", "name": "Entra"})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    conn_of("acme", b)
}

#[tokio::test]
async fn saml_pending_connection_serves_sp_values_refuses_sign_in_and_activates_with_metadata() {
    let (app, _) = setup().await;
    let conn = pending(&app).await;
    let b = &conn.body;
    assert_eq!(b["status"], "pending", "{b}");
    assert_eq!(conn.acs_url, format!("{}/saml/{}/acs", app.base, conn.id));
    assert_eq!(conn.sp_entity_id, conn.metadata_url);
    assert_eq!(conn.login_url, format!("{}/saml/{}/login", app.base, conn.id));
    for k in ["sp_signing_certificate", "sp_encryption_certificate"] {
        assert!(b[k].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"), "{k}: {b}");
    }
    assert_eq!(b["idp"], Value::Null);
    let (_, list) = app.admin_get("/admin/v1/orgs/acme/connections").await;
    let statuses: Vec<&Value> = list.as_array().unwrap().iter().map(|c| &c["status"]).collect();
    assert_eq!(statuses, [&json!("active"), &json!("pending")], "{list}");

    // The SP metadata exists from creation (the IdP's wizard wants it first).
    let resp = app.client.get(&conn.metadata_url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let xml = resp.text().await.unwrap();
    assert!(xml.contains(&format!("entityID=\"{}\"", conn.sp_entity_id)), "{xml}");

    // SP-initiated sign-in: the set-up-unfinished page, counted, no cookie.
    let before = refusals(&app, "connection_pending").await;
    let resp = app.client.get(&conn.login_url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(resp.headers().get("set-cookie").is_none());
    let page = resp.text().await.unwrap();
    assert!(page.contains("Sign-in refused") && page.contains("not set up yet"), "{page}");
    assert_eq!(refusals(&app, "connection_pending").await, before + 1);

    // A response signed by the IdP-to-be is refused before it is read:
    // no user, no replay-cache entry.
    let spec = Spec::okta(&conn, "ann@acme.com", &["Engineering"]);
    let xml = okta_response(&spec, &Idp::okta());
    let states = rows(&app, "login_states").await;
    assert_refused(&app, &conn, &xml, StatusCode::CONFLICT, "connection_pending").await;
    assert_eq!(rows(&app, "login_states").await, states, "nothing written");

    // A failing metadata fetch (nothing listening; an address the outbound
    // guard refuses) is 422 and leaves the connection pending.
    for url in ["http://127.0.0.1:1/metadata", "http://169.254.169.254/metadata"] {
        let (s, b) = patch(&app, &conn, json!({"idp_metadata_url": url})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {b}");
    }
    let (s, b) = patch(&app, &conn, json!({"refresh_metadata": true})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(get(&app, &conn).await["status"], "pending");
    let resp = app.client.get(&conn.login_url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);

    // The metadata arrives: active, same SP values and keys.
    let (s, b) = patch(&app, &conn, json!({"idp_metadata_xml": Idp::okta().metadata(&[])})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "active");
    assert_eq!(b["idp"]["entity_id"], OKTA_ENTITY);
    for k in ["sp_entity_id", "acs_url", "sp_signing_certificate", "sp_encryption_certificate"] {
        assert_eq!(b[k], conn.body[k], "{k} unchanged");
    }
    // The response refused while pending was not spent: it signs in now.
    let (st, me) = app.me(&session_of(&post(&app, &conn, &xml, None).await)).await;
    assert_eq!((st, &me["user"]["email"]), (StatusCode::OK, &json!("ann@acme.com")), "{me}");
    let resp = app.client.get(&conn.login_url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "SP-initiated sign-in works");
}

async fn entra_app() -> (TestApp, Conn) {
    let app = spawn_app().await;
    app.org("acme").await;
    app.project("acme", "research").await;
    let mapping = json!({"default_org_role": "none", "rules": [
        {"group": "0d9a3c1e-5f0b-4c3e-9a55-2f1b7e8c6d40", "org_role": "member", "projects": {"research": "admin"}}
    ]});
    let (s, b) = app.put_mapping("acme", mapping).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let conn = connect(&app, "acme", &Idp::entra(), json!({"match_by": "external_id"})).await;
    assert_eq!(conn.body["groups_overage_seen_at"], Value::Null);
    (app, conn)
}

/// Entra's shape above 150 groups: no groups claim, a link to Graph instead.
fn overage_spec(conn: &Conn, oid: &str) -> Spec {
    let mut spec = Spec::entra(conn, oid, "bo@acme.com", &[]);
    spec.attributes.retain(|(n, _)| n != ENTRA_GROUPS);
    let link = format!(
        "https://graph.windows.net/00000000-0000-0000-0000-00000000e1a0/users/{oid}/getMemberObjects"
    );
    spec.attributes.push((GROUPS_LINK.into(), vec![link]));
    spec
}

async fn overage_count(app: &TestApp, conn: &Conn) -> u64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let needle = format!("idbridge_groups_overage_total{{connection=\"{}\"}} ", conn.id);
    text.lines().find_map(|l| l.strip_prefix(&needle)).map(|v| v.trim().parse().unwrap()).unwrap_or(0)
}

#[tokio::test]
async fn saml_entra_groups_overage_keeps_the_last_known_groups_and_flags_the_connection() {
    let (app, conn) = entra_app().await;
    let oid = "33333333-aaaa-4bbb-8ccc-000000000003";
    let first = Spec::entra(&conn, oid, "bo@acme.com", &["0d9a3c1e-5f0b-4c3e-9a55-2f1b7e8c6d40"]);
    let (_, me) =
        app.me(&session_of(&post(&app, &conn, &entra_response(&first, &Idp::entra()), None).await)).await;
    assert_eq!(me["projects"], json!([{"slug": "research", "role": "admin"}]), "{me}");

    // The user joins a 151st group: Entra sends the groups link instead.
    let xml = entra_response(&overage_spec(&conn, oid), &Idp::entra());
    assert!(xml.contains("groups.link") && !xml.contains(ENTRA_GROUPS), "Entra's overage shape");
    let resp = post(&app, &conn, &xml, None).await;
    let (st, again) = app.me(&session_of(&resp)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(again["user"]["id"], me["user"]["id"]);
    assert_eq!(again["org"]["role"], "member", "access kept: {again}");
    assert_eq!(again["projects"], json!([{"slug": "research", "role": "admin"}]), "roles kept: {again}");

    // Flagged, counted and audited.
    let shown = get(&app, &conn).await;
    let seen = shown["groups_overage_seen_at"].as_str().unwrap_or_else(|| panic!("not flagged: {shown}"));
    assert!(
        time::OffsetDateTime::parse(seen, &time::format_description::well_known::Rfc3339).is_ok(),
        "{seen}"
    );
    assert_eq!(overage_count(&app, &conn).await, 1);
    let (_, audit) = app.admin_get("/admin/v1/orgs/acme/audit").await;
    assert!(audit.to_string().contains("connection.groups_overage"), "{audit}");

    // A login with the groups again replaces them as always (here: none left).
    let mut none = Spec::entra(&conn, oid, "bo@acme.com", &[]);
    none.assertion_id = format!("_none{}", &none.assertion_id[1..]);
    let refused = post(&app, &conn, &entra_response(&none, &Idp::entra()), None).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "an explicit empty groups claim is not an overage");

    // The operator clears the flag once the claim is fixed at the source.
    let (s, b) = patch(&app, &conn, json!({"groups_overage_seen_at": "2020-01-01T00:00:00Z"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, b) = patch(&app, &conn, json!({"groups_overage_seen_at": null})).await;
    assert_eq!((s, &b["groups_overage_seen_at"]), (StatusCode::OK, &Value::Null), "{b}");
}

#[tokio::test]
async fn saml_entra_groups_overage_on_a_first_login_gives_only_what_the_default_gives() {
    let (app, conn) = entra_app().await;
    // No last known groups: default_org_role "none" → not a member, refused,
    // yet the connection is flagged so the operator can tell why.
    let xml = entra_response(&overage_spec(&conn, "44444444-aaaa-4bbb-8ccc-000000000004"), &Idp::entra());
    assert_refused(&app, &conn, &xml, StatusCode::FORBIDDEN, "not_member").await;
    assert!(get(&app, &conn).await["groups_overage_seen_at"].is_string());
    assert_eq!(overage_count(&app, &conn).await, 1);
}
