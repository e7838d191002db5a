//! Issue 9, access holes: the mapping applies only to people the org's IdP
//! vouches for; SCIM sees only the users SCIM or SSO created; a deleted
//! connection takes its sessions and claim facts with it; SCIM memberships are
//! the authority for SCIM users; `/v1/authz/check` denies unknown and missing
//! projects. Real SAML (xmlsec1-signed) logins where a connection matters.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::helpers::{Scim, TestApp, spawn_app};
use crate::support::saml_client::{post, session_of};
use crate::support::saml_idp::{Conn, Idp, Spec, connect};
use crate::support::saml_signer::{entra_response, okta_response};

const COLLABORATORS: &str = "/admin/v1/orgs/acme/projects/research/collaborators";

async fn acme(mapping: Value) -> TestApp {
    let app = spawn_app().await;
    app.org("acme").await;
    app.project("acme", "research").await;
    let (s, b) = app.put_mapping("acme", mapping).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    app
}

fn engineering(default: &str) -> Value {
    json!({"default_org_role": default, "rules": [
        {"group": "Engineering", "org_role": "member", "projects": {"research": "admin"}},
        {"group": "Staff", "org_role": "member"}
    ]})
}

async fn collaborator(app: &TestApp, email: &str) -> String {
    let (s, c) = app.admin_post(COLLABORATORS, json!({"email": email, "role": "member"})).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["external"], true);
    c["user_id"].as_str().unwrap().to_string()
}

async fn access(app: &TestApp, user_id: &str) -> Value {
    let (s, a) = app.admin_get(&format!("/admin/v1/orgs/acme/users/{user_id}/access")).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    a
}

async fn members(app: &TestApp) -> Value {
    app.admin_get("/admin/v1/orgs/acme/members").await.1
}

/// A real Okta-style SAML login through `conn`; the session token.
async fn okta_login(app: &TestApp, conn: &Conn, email: &str, groups: &[&str]) -> String {
    let resp = post(app, conn, &okta_response(&Spec::okta(conn, email, groups), &Idp::okta()), None).await;
    session_of(&resp)
}

async fn check(app: &TestApp, credential: &str, action: &str, project: Option<&str>) -> Value {
    let mut body = json!({"credential": credential, "action": action, "org": "acme"});
    if let Some(p) = project {
        body["project"] = json!(p);
    }
    let (s, v) = app.send(Method::POST, "/v1/authz/check", None, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

// ---- 1. External collaborators never get the org's default or rules ----

#[tokio::test]
async fn access_external_collaborator_gets_no_org_role_when_the_mapping_is_applied_again() {
    let admin_default = json!({"default_org_role": "admin", "rules": []});
    let app = acme(admin_default.clone()).await;
    let id = collaborator(&app, "partner@other.com").await;
    let (s, preview) = app.admin_post("/admin/v1/orgs/acme/mapping/preview", admin_default.clone()).await;
    assert_eq!((s, preview["changes"].clone()), (StatusCode::OK, json!([])), "{preview}");
    let (s, applied) = app.put_mapping("acme", admin_default).await;
    assert_eq!(s, StatusCode::OK, "{applied}");
    assert_eq!(applied["changes"], json!([]), "nothing granted to an un-vouched person");
    assert_eq!(members(&app).await, json!([]), "an external collaborator is not a member");
    let a = access(&app, &id).await;
    assert_eq!(a["org"], json!({"role": null, "grants": []}), "{a}");
    assert_eq!(a["projects"][0]["role"], "member");
    let (_, list) = app.admin_get(COLLABORATORS).await;
    assert_eq!(list[0]["external"], true, "{list}");
}

#[tokio::test]
async fn access_sso_login_with_the_same_address_adopts_the_collaborator() {
    let app = acme(engineering("none")).await;
    let conn = connect(&app, "acme", &Idp::okta(), json!({})).await;
    let id = collaborator(&app, "Ann@Acme.com").await;
    let token = okta_login(&app, &conn, "ann@acme.com", &["Engineering"]).await;
    let (s, me) = app.me(&token).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["id"], id.as_str(), "the same row, not a second user");
    assert_eq!(me["org"]["role"], "member", "vouched for by the org's IdP now");
    let a = access(&app, &id).await;
    assert_eq!(a["user"]["origin"], "sso", "{a}");
    let sources: Vec<&str> = a["projects"][0]["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["mapping", "manual"], "the manual grant stays: {a}");
}

#[tokio::test]
async fn access_scim_post_with_the_same_address_adopts_the_collaborator() {
    let app = acme(json!({"default_org_role": "member", "rules": []})).await;
    let id = collaborator(&app, "bo@acme.com").await;
    let scim = app.scim("acme").await;
    let scim_id = scim.user("bo@acme.com", "ext-bo").await;
    assert_eq!(scim_id, id, "the IdP's arrival adopts the operator-made row");
    let a = access(&app, &id).await;
    assert_eq!((a["user"]["origin"].as_str(), a["org"]["role"].as_str()), (Some("scim"), Some("member")));
    let (s, got) = scim.get(&format!("/Users/{id}")).await;
    assert_eq!((s, got["externalId"].as_str()), (StatusCode::OK, Some("ext-bo")), "{got}");
}

// ---- 2. SCIM sees only SCIM- and SSO-made users ----

#[tokio::test]
async fn access_scim_cannot_see_or_change_operator_made_users() {
    let app = acme(json!({"default_org_role": "member", "rules": []})).await;
    let id = collaborator(&app, "partner@other.com").await;
    let scim = app.scim("acme").await;
    let (s, list) = scim.get("/Users").await;
    assert_eq!((s, list["totalResults"].as_i64()), (StatusCode::OK, Some(0)), "{list}");
    let (_, found) = scim.get("/Users?filter=userName%20eq%20%22partner%40other.com%22").await;
    assert_eq!(found["totalResults"], 0, "{found}");
    let user = format!("/Users/{id}");
    assert_eq!(scim.get(&user).await.0, StatusCode::NOT_FOUND);
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                      "userName": "renamed@evil.com", "active": false});
    let (s, err) = scim.put(&user, body).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{err}");
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "replace", "path": "active", "value": false}]});
    assert_eq!(scim.patch(&user, patch).await.0, StatusCode::NOT_FOUND);
    assert_eq!(scim.delete(&user).await, StatusCode::NOT_FOUND);
    let (s, err) = scim
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                   "displayName": "Outsiders", "members": [{"value": id}]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "an operator-made user cannot join a SCIM group: {err}");
    // Unchanged: same address, still active, still a collaborator.
    let (_, list) = app.admin_get(COLLABORATORS).await;
    assert_eq!(list[0]["email"], "partner@other.com", "{list}");
    assert_eq!((list[0]["active"].as_bool(), list[0]["role"].as_str()), (Some(true), Some("member")));
    let a = access(&app, &id).await;
    assert_eq!((a["user"]["origin"].as_str(), a["user"]["active"].as_bool()), (Some("manual"), Some(true)));
}

#[tokio::test]
async fn access_scim_still_sees_sso_made_users() {
    let app = acme(json!({"default_org_role": "member", "rules": []})).await;
    let conn = connect(&app, "acme", &Idp::okta(), json!({})).await;
    okta_login(&app, &conn, "jit@acme.com", &[]).await;
    let scim = app.scim("acme").await;
    let (_, found) = scim.get("/Users?filter=userName%20eq%20%22jit%40acme.com%22").await;
    assert_eq!(found["totalResults"], 1, "{found}");
}

// ---- 3. Deleting a connection; SSO claims and SCIM memberships ----

#[tokio::test]
async fn access_deleting_a_connection_ends_its_sessions_and_drops_its_claims() {
    let app = acme(engineering("none")).await;
    let okta = connect(&app, "acme", &Idp::okta(), json!({})).await;
    let entra = connect(&app, "acme", &Idp::entra(), json!({})).await;
    let ann = okta_login(&app, &okta, "ann@acme.com", &["Engineering"]).await;
    let spec = Spec::entra(&entra, "33333333-aaaa-4bbb-8ccc-000000000003", "bo@acme.com", &["Staff"]);
    let bo = session_of(&post(&app, &entra, &entra_response(&spec, &Idp::entra()), None).await);
    let ann_id = app.member_id("acme", "ann@acme.com").await;
    assert_eq!(app.me(&ann).await.0, StatusCode::OK);

    let (s, _) = app.admin_delete(&format!("/admin/v1/orgs/acme/connections/{}", okta.id)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, err) = app.me(&ann).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a deleted connection's session ends at once: {err}");
    let a = access(&app, &ann_id).await;
    assert_eq!(a["org"], json!({"role": null, "grants": []}), "its claim facts are dropped: {a}");
    assert_eq!(a["projects"], json!([]), "{a}");
    let (s, me) = app.me(&bo).await;
    assert_eq!(
        (s, me["org"]["role"].as_str()),
        (StatusCode::OK, Some("member")),
        "other connections keep theirs"
    );
    let (_, audit) = app.admin_get("/admin/v1/orgs/acme/audit?limit=1000").await;
    let event = audit.as_array().unwrap().iter().find(|e| e["action"] == "connection.delete").unwrap();
    assert_eq!(event["detail"]["sessions_revoked"], 1, "{event}");
    assert_eq!(event["detail"]["users_reevaluated"], 1, "{event}");
    // The deleted connection signs no one in any more.
    let resp =
        post(&app, &okta, &okta_response(&Spec::okta(&okta, "ann@acme.com", &[]), &Idp::okta()), None).await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
}

#[tokio::test]
async fn access_a_login_finishing_after_its_connection_was_deleted_is_refused() {
    let app = acme(json!({"default_org_role": "member", "rules": []})).await;
    let conn = connect(&app, "acme", &Idp::okta(), json!({})).await;
    // The protocol handler validated the answer, then the operator deleted the connection
    // before the login's write ran (an OIDC token exchange takes a network round trip).
    let (s, _) = app.admin_delete(&format!("/admin/v1/orgs/acme/connections/{}", conn.id)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let facts = idbridge::session::login::LoginFacts {
        org_id: app.org_id("acme").await,
        connection_id: conn.id.clone(),
        subject: "late@acme.com".into(),
        email: Some("late@acme.com".into()),
        jit: true,
        ..Default::default()
    };
    let refused = idbridge::session::login::complete(
        &app.state.db,
        app.state.sessions.clone(),
        &app.state.public_url,
        facts,
    )
    .await
    .unwrap_err();
    assert_eq!(refused.reason(), "connection_deleted");
    assert_eq!(members(&app).await, json!([]), "nothing was created");
}

async fn scim_ann(scim: &Scim<'_>) -> (String, String) {
    let ann = scim.user("ann@acme.com", "ext-ann").await;
    let group = scim.group("Engineering", &[&ann]).await;
    (ann, group)
}

#[tokio::test]
async fn access_scim_group_removal_removes_the_role_even_after_a_login_claimed_it() {
    let app = acme(engineering("none")).await;
    let conn = connect(&app, "acme", &Idp::okta(), json!({})).await;
    let scim = app.scim("acme").await;
    let (ann, group) = scim_ann(&scim).await;
    let token = okta_login(&app, &conn, "ann@acme.com", &["Engineering"]).await;
    let (_, me) = app.me(&token).await;
    assert_eq!((me["user"]["id"].as_str(), me["org"]["role"].as_str()), (Some(ann.as_str()), Some("member")));

    let remove = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "remove", "path": "members", "value": [{"value": ann}]}]});
    let (s, body) = scim.patch(&format!("/Groups/{group}"), remove).await;
    assert!(s.is_success(), "{s} {body}");
    let (s, err) = app.me(&token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "SCIM is the authority for a SCIM user: {err}");
    let a = access(&app, &ann).await;
    assert_eq!((a["org"]["grants"].clone(), a["projects"].clone()), (json!([]), json!([])), "{a}");
    // The next login's claim does not bring it back either.
    let resp = post(
        &app,
        &conn,
        &okta_response(&Spec::okta(&conn, "ann@acme.com", &["Engineering"]), &Idp::okta()),
        None,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn access_a_jit_users_claim_role_lasts_until_the_next_login_through_any_connection() {
    let app = acme(engineering("none")).await;
    let okta = connect(&app, "acme", &Idp::okta(), json!({})).await;
    let other = connect(&app, "acme", &Idp::entra(), json!({})).await;
    let token = okta_login(&app, &okta, "cy@acme.com", &["Engineering", "Staff"]).await;
    // A mapping apply (or any re-evaluation) keeps the role of the last login's claim.
    assert_eq!(app.put_mapping("acme", engineering("none")).await.0, StatusCode::OK);
    let (_, me) = app.me(&token).await;
    assert_eq!(me["projects"], json!([{"slug": "research", "role": "admin"}]), "{me}");

    // The next login, through another connection, asserts only Staff: research goes.
    let spec = Spec::entra(&other, "44444444-aaaa-4bbb-8ccc-000000000004", "cy@acme.com", &["Staff"]);
    let token = session_of(&post(&app, &other, &entra_response(&spec, &Idp::entra()), None).await);
    let (_, me) = app.me(&token).await;
    assert_eq!((me["org"]["role"].as_str(), me["projects"].clone()), (Some("member"), json!([])), "{me}");

    // Deleting the connection of that last login drops its claims: no role, no session.
    let (s, _) = app.admin_delete(&format!("/admin/v1/orgs/acme/connections/{}", other.id)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(app.me(&token).await.0, StatusCode::UNAUTHORIZED);
    let id = me["user"]["id"].as_str().unwrap();
    assert_eq!(access(&app, id).await["org"]["role"], Value::Null);
}

// ---- 4. /v1/authz/check: unknown and missing projects ----

#[tokio::test]
async fn access_authz_check_denies_unknown_and_missing_projects() {
    let app = acme(json!({"default_org_role": "none", "rules": [
        {"group": "IT-Admins", "org_role": "admin"},
        {"group": "Research", "projects": {"research": "member"}}
    ]}))
    .await;
    app.org("globex").await;
    app.project("globex", "secret").await;
    let admin = app.login("acme", "root@acme.com", &["IT-Admins"]).await.unwrap();
    assert_eq!(check(&app, &admin, "models.delete", Some("research")).await["allow"], true);
    for project in ["nope", "Research", "RESEARCH", "secret", "research "] {
        let v = check(&app, &admin, "models.delete", Some(project)).await;
        assert_eq!(v["allow"], false, "{project:?}: {v}");
        assert!(v["reason"].as_str().unwrap().contains("project"), "{v}");
    }
    let v = check(&app, &admin, "org.read", Some("nope")).await;
    assert_eq!(v["allow"], false, "a named project must exist: {v}");
    let v = check(&app, &admin, "models.delete", None).await;
    assert_eq!(v["allow"], false, "a project-scoped action needs a project: {v}");
    assert_eq!(check(&app, &admin, "org.read", None).await["allow"], true);
    assert_eq!(check(&app, &admin, "project.create", None).await["allow"], true);

    let member = app.login("acme", "m@acme.com", &["Research"]).await.unwrap();
    let (s, k) =
        app.send(Method::POST, "/v1/orgs/acme/projects/research/api-keys", Some(&member), None).await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    let key = k["key"].as_str().unwrap();
    assert_eq!(check(&app, key, "models.use", Some("research")).await["allow"], true);
    let v = check(&app, key, "models.use", None).await;
    assert_eq!(v["allow"], false, "an API key names no project by itself here: {v}");
    assert_eq!(check(&app, key, "models.use", Some("nope")).await["allow"], false);
}
