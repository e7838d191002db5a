//! Issue 10, "Okta and Entra on the first try": one person, one user. A sign-in
//! just in time before SCIM ran, then the real provisioning client's requests
//! (Entra: `GET userName eq "<UPN>"`, no match, `POST` with externalId = object
//! id, userName = UPN, work email = mail; Okta: userName = login, primary email,
//! no externalId) adopt the JIT row instead of duplicating or colliding with it;
//! sign-ins prefer the SCIM-managed row and a deactivated one is never bypassed.
//! Real SAML (xmlsec1-signed) logins over HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::scim_users::urlencode;
use crate::support::helpers::{Scim, TestApp, spawn_app};
use crate::support::saml_client::{assert_refused, post, session_of};
use crate::support::saml_idp::{Conn, ENTRA_NAME, Idp, Spec, connect};
use crate::support::saml_signer::{entra_response, okta_response};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const UPN: &str = "bo.diaz@contoso.onmicrosoft.com";
const MAIL: &str = "Bo.Diaz@contoso.com";
const OID: &str = "11111111-aaaa-4bbb-8ccc-0000000000b0";

async fn acme() -> TestApp {
    let app = spawn_app().await;
    app.org("acme").await;
    let (s, b) = app.put_mapping("acme", json!({"default_org_role": "member", "rules": []})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    app
}

/// An Entra SAML assertion: objectidentifier `oid`, emailaddress `mail`, name = the UPN.
fn entra(conn: &Conn, oid: &str, mail: &str) -> String {
    let mut spec = Spec::entra(conn, oid, mail, &[]);
    for (name, values) in spec.attributes.iter_mut() {
        if name == ENTRA_NAME {
            *values = vec![UPN.into()];
        }
    }
    entra_response(&spec, &Idp::entra())
}

/// Entra's documented create-user body (fixtures/scim/entra/create-user.json) for this person.
fn entra_create(upn: &str, oid: &str, mail: &str) -> Value {
    let mut body: Value =
        serde_json::from_str(include_str!("../../fixtures/scim/entra/create-user.json")).unwrap();
    body["userName"] = json!(upn);
    body["externalId"] = json!(oid);
    body["emails"][0]["value"] = json!(mail);
    body["displayName"] = json!("Bo Diaz");
    body
}

async fn me_id(app: &TestApp, token: &str) -> String {
    let (s, me) = app.me(token).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    me["user"]["id"].as_str().unwrap().to_string()
}

async fn origin(app: &TestApp, id: &str) -> String {
    let (_, a) = app.admin_get(&format!("/admin/v1/orgs/acme/users/{id}/access")).await;
    a["user"]["origin"].as_str().unwrap().to_string()
}

async fn audit(app: &TestApp, action: &str) -> Vec<Value> {
    let (_, events) = app.admin_get("/admin/v1/orgs/acme/audit?limit=1000").await;
    events.as_array().unwrap().iter().filter(|e| e["action"] == action).cloned().collect()
}

async fn find(scim: &Scim<'_>, filter: &str) -> Value {
    let (s, v) = scim.get(&format!("/Users?filter={}", urlencode(filter))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

#[tokio::test]
async fn one_user_entra_jit_then_scim_adopts_by_email_with_upn_not_mail_and_deprovisions_it() {
    let app = acme().await;
    let conn = connect(&app, "acme", &Idp::entra(), json!({})).await; // match_by email
    let token = session_of(&post(&app, &conn, &entra(&conn, OID, MAIL), None).await);
    let jit = me_id(&app, &token).await;
    assert_eq!(origin(&app, &jit).await, "sso");

    // Entra looks the user up by UPN: the JIT row is named by mail, so no match, and it creates.
    let scim = app.scim("acme").await;
    assert_eq!(find(&scim, &format!("userName eq \"{UPN}\"")).await["totalResults"], 0);
    let (s, created) = scim.post("/Users", entra_create(UPN, OID, &MAIL.to_lowercase())).await;
    assert_eq!(s, StatusCode::CREATED, "not a duplicate, not a 409: {created}");
    assert_eq!(created["id"], jit.as_str(), "the JIT row is adopted");
    assert_eq!((created["userName"].as_str(), created["externalId"].as_str()), (Some(UPN), Some(OID)));
    assert_eq!(origin(&app, &jit).await, "scim");
    let adopted = audit(&app, "user.adopt").await;
    assert_eq!(adopted.len(), 1, "{adopted:?}");
    assert_eq!(adopted[0]["target"], format!("user:{jit}"));
    assert_eq!(adopted[0]["detail"]["from"], "sso");
    assert_eq!(adopted[0]["detail"]["match_by"], "email");
    assert_eq!(adopted[0]["detail"]["connections"], json!([conn.id]));
    let (_, all) = scim.get("/Users").await;
    assert_eq!(all["totalResults"], 1, "one person, one user: {all}");
    assert_eq!(find(&scim, &format!("userName eq \"{UPN}\"")).await["Resources"][0]["id"], jit.as_str());

    // The session from before SCIM still belongs to the same user…
    assert_eq!(me_id(&app, &token).await, jit);
    let again = session_of(&post(&app, &conn, &entra(&conn, OID, MAIL), None).await);
    assert_eq!(me_id(&app, &again).await, jit, "sign-ins reach the SCIM-managed row");

    // …so Entra's deactivation reaches it: the sessions end and the next sign-in is refused.
    let off: Value =
        serde_json::from_str(include_str!("../../fixtures/scim/entra/disable-user.json")).unwrap();
    let (s, v) = scim.patch(&format!("/Users/{jit}"), off).await;
    assert_eq!((s, v["active"].as_bool()), (StatusCode::OK, Some(false)), "{v}");
    assert_eq!(app.me(&token).await.0, StatusCode::UNAUTHORIZED, "the JIT login's session ended");
    assert_eq!(app.me(&again).await.0, StatusCode::UNAUTHORIZED);
    assert_refused(&app, &conn, &entra(&conn, OID, MAIL), StatusCode::FORBIDDEN, "user_inactive").await;
}

#[tokio::test]
async fn one_user_entra_jit_by_object_id_is_adopted_by_the_external_id_rule() {
    let app = acme().await;
    let conn = connect(&app, "acme", &Idp::entra(), json!({"match_by": "external_id"})).await;
    let token = session_of(&post(&app, &conn, &entra(&conn, OID, MAIL), None).await);
    let jit = me_id(&app, &token).await;
    let scim = app.scim("acme").await;
    // The mail changed in Entra meanwhile: the object id alone says who this is.
    let (s, created) = scim.post("/Users", entra_create(UPN, OID, "bo@contoso.example")).await;
    assert_eq!(s, StatusCode::CREATED, "not a 409 on externalId: {created}");
    assert_eq!(created["id"], jit.as_str());
    let adopted = audit(&app, "user.adopt").await;
    assert_eq!(adopted[0]["detail"]["match_by"], "external_id", "{adopted:?}");
    let again = session_of(&post(&app, &conn, &entra(&conn, OID, MAIL), None).await);
    assert_eq!(me_id(&app, &again).await, jit);
}

#[tokio::test]
async fn one_user_okta_jit_then_scim_post_without_external_id_adopts_by_email() {
    let app = acme().await;
    let conn = connect(&app, "acme", &Idp::okta(), json!({})).await;
    let spec = Spec::okta(&conn, "ann@acme.com", &[]);
    let token = session_of(&post(&app, &conn, &okta_response(&spec, &Idp::okta()), None).await);
    let jit = me_id(&app, &token).await;
    let scim = app.scim("acme").await;
    // Okta's app-wizard create: userName = login, primary work email, no externalId.
    let (s, created) = scim
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "Ann@acme.com", "active": true,
                   "name": {"givenName": "Ann", "familyName": "Lee"}, "displayName": "Ann Lee",
                   "emails": [{"primary": true, "value": "Ann@acme.com", "type": "work"}],
                   "password": "1mz050nq", "groups": []}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "not a 409 on userName: {created}");
    assert_eq!(created["id"], jit.as_str());
    assert_eq!(origin(&app, &jit).await, "scim");
    assert_eq!(me_id(&app, &token).await, jit);
}

#[tokio::test]
async fn one_user_scim_post_matching_several_jit_users_is_409_and_changes_nothing() {
    let app = acme().await;
    let okta = connect(&app, "acme", &Idp::okta(), json!({})).await; // email rule
    let spec = Spec::okta(&okta, "bo.diaz@contoso.com", &[]);
    let ann =
        me_id(&app, &session_of(&post(&app, &okta, &okta_response(&spec, &Idp::okta()), None).await)).await;
    let entra_conn = connect(&app, "acme", &Idp::entra(), json!({"match_by": "external_id"})).await;
    let bo = me_id(
        &app,
        &session_of(&post(&app, &entra_conn, &entra(&entra_conn, OID, "bo@other.example"), None).await),
    )
    .await;
    assert_ne!(ann, bo);
    let scim = app.scim("acme").await;
    // By the Okta connection's rule it is the first row, by the Entra one's the second.
    let (s, err) = scim.post("/Users", entra_create(UPN, OID, MAIL)).await;
    assert_eq!((s, err["scimType"].as_str()), (StatusCode::CONFLICT, Some("uniqueness")), "{err}");
    let detail = err["detail"].as_str().unwrap();
    assert!(detail.contains("matches 2 existing users") && detail.contains("refusing to guess"), "{detail}");
    assert!(detail.contains(&ann) && detail.contains(&bo), "{detail}");
    assert_eq!((origin(&app, &ann).await, origin(&app, &bo).await), ("sso".into(), "sso".into()));
    assert!(audit(&app, "user.adopt").await.is_empty());
    assert!(audit(&app, "scim.user.create").await.is_empty());
    let (_, all) = scim.get("/Users").await;
    assert_eq!(all["totalResults"], 2, "{all}");
}

#[tokio::test]
async fn one_user_email_sign_in_prefers_the_scim_user_and_never_bypasses_its_deactivation() {
    let app = acme().await;
    // A JIT row matched by object id, and (its externalId differing, so no adoption)
    // a SCIM row with the same mail: two rows for one address, the JIT one older.
    let entra_conn = connect(&app, "acme", &Idp::entra(), json!({"match_by": "external_id"})).await;
    let jit =
        me_id(&app, &session_of(&post(&app, &entra_conn, &entra(&entra_conn, OID, MAIL), None).await)).await;
    let scim = app.scim("acme").await;
    let (s, created) =
        scim.post("/Users", entra_create(UPN, "22222222-aaaa-4bbb-8ccc-0000000000b1", MAIL)).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let managed = created["id"].as_str().unwrap().to_string();
    assert_ne!(managed, jit);

    // A sign-in matched by email (through another connection) means the SCIM-managed row.
    let token = app.login("acme", &MAIL.to_lowercase(), &[]).await.unwrap();
    assert_eq!(me_id(&app, &token).await, managed, "not the older JIT duplicate");

    // Deactivated by SCIM: refused, never signed in through the JIT duplicate instead.
    let off: Value =
        serde_json::from_str(include_str!("../../fixtures/scim/entra/disable-user.json")).unwrap();
    assert_eq!(scim.patch(&format!("/Users/{managed}"), off).await.0, StatusCode::OK);
    assert_eq!(app.me(&token).await.0, StatusCode::UNAUTHORIZED);
    let refused = app.login("acme", MAIL, &[]).await.unwrap_err();
    assert_eq!(refused.reason(), "user_inactive", "{refused}");
}

#[tokio::test]
async fn one_user_an_operator_made_candidate_is_counted_but_never_named_to_scim() {
    let app = acme().await;
    app.project("acme", "research").await;
    let (s, c) = app
        .admin_post(
            "/admin/v1/orgs/acme/projects/research/collaborators",
            json!({"email": MAIL, "role": "member"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let manual = c["user_id"].as_str().unwrap().to_string();
    let conn = connect(&app, "acme", &Idp::entra(), json!({"match_by": "external_id"})).await;
    let jit =
        me_id(&app, &session_of(&post(&app, &conn, &entra(&conn, OID, "bo@other.example"), None).await))
            .await;
    let scim = app.scim("acme").await;
    let (s, err) = scim.post("/Users", entra_create(UPN, OID, MAIL)).await;
    assert_eq!((s, err["scimType"].as_str()), (StatusCode::CONFLICT, Some("uniqueness")), "{err}");
    let detail = err["detail"].as_str().unwrap();
    assert!(detail.contains(&jit) && detail.contains("an operator-made user"), "{detail}");
    assert!(!detail.contains(&manual), "SCIM never sees operator-made users: {detail}");
    assert_eq!(origin(&app, &manual).await, "manual");
}

/// Entra's default provisioning sends `externalId ← mailNickname`, so a connection
/// matching by object id finds no SCIM row for a sign-in. Creating a JIT twin then
/// would let a SCIM-deactivated person back in: the sign-in is refused instead.
#[tokio::test]
async fn one_user_a_sign_in_that_misses_the_scim_user_never_creates_a_jit_twin() {
    let app = acme().await;
    let conn = connect(&app, "acme", &Idp::entra(), json!({"match_by": "external_id"})).await;
    let scim = app.scim("acme").await;
    let (s, created) = scim.post("/Users", entra_create(UPN, "bodiaz", &MAIL.to_lowercase())).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    for active in [true, false] {
        let (s, v) = scim
            .patch(
                &format!("/Users/{id}"),
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "replace", "path": "active", "value": active}]}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_refused(
            &app,
            &conn,
            &entra(&conn, OID, MAIL),
            StatusCode::FORBIDDEN,
            "provisioned_user_mismatch",
        )
        .await;
        let (_, all) = scim.get("/Users").await;
        assert_eq!(all["totalResults"], 1, "no JIT twin was created: {all}");
        let (_, members) = app.admin_get("/admin/v1/orgs/acme/members").await;
        assert_eq!(members.as_array().unwrap().len(), 1, "{members}");
    }
}

/// Okta finds a just-in-time row with `GET userName eq` and updates it with PUT
/// instead of POSTing: that write makes it SCIM-managed, as a POST would have.
#[tokio::test]
async fn one_user_a_scim_put_on_a_jit_row_it_found_makes_it_scim_managed() {
    let app = acme().await;
    let conn = connect(&app, "acme", &Idp::okta(), json!({})).await;
    let spec = Spec::okta(&conn, "ann@acme.com", &[]);
    let token = session_of(&post(&app, &conn, &okta_response(&spec, &Idp::okta()), None).await);
    let jit = me_id(&app, &token).await;
    let scim = app.scim("acme").await;
    let found = find(&scim, "userName eq \"ann@acme.com\"").await;
    assert_eq!(found["Resources"][0]["id"], jit.as_str(), "{found}");
    let (s, v) = scim
        .put(
            &format!("/Users/{jit}"),
            json!({"schemas": [USER], "userName": "ann@acme.com", "active": true,
                   "emails": [{"primary": true, "value": "ann@acme.com", "type": "work"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(origin(&app, &jit).await, "scim");
    let adopted = audit(&app, "user.adopt").await;
    assert_eq!(adopted.len(), 1, "{adopted:?}");
    assert_eq!(
        (adopted[0]["detail"]["from"].as_str(), adopted[0]["detail"]["by"].as_str()),
        (Some("sso"), Some("scim.user.replace"))
    );
    // A second write adopts nothing more.
    let (s, _) = scim
        .put(&format!("/Users/{jit}"), json!({"schemas": [USER], "userName": "ann@acme.com", "active": true}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(audit(&app, "user.adopt").await.len(), 1);
    assert_eq!(me_id(&app, &token).await, jit);
}
