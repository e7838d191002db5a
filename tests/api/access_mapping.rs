//! The mapping engine over HTTP: apply, preview, validation, re-evaluation,
//! explain, and what manual grants survive.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::helpers::{TestApp, spawn_app};

async fn acme() -> TestApp {
    let app = spawn_app().await;
    app.org("acme").await;
    app.project("acme", "research").await;
    app.project("acme", "inference").await;
    app
}

fn project_role(me: &Value, slug: &str) -> Option<String> {
    me["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["slug"] == slug)
        .map(|p| p["role"].as_str().unwrap().to_string())
}

fn engineering_mapping() -> Value {
    json!({
        "default_org_role": "member",
        "rules": [
            {"group": "Engineering", "org_role": "member", "projects": {"research": "member", "inference": "member"}},
            {"group": "Research-Admins", "projects": {"research": "admin"}},
            {"group": "IT-Admins", "org_role": "admin"}
        ]
    })
}

#[tokio::test]
async fn two_groups_give_the_higher_role() {
    let app = acme().await;
    let (s, body) = app.put_mapping("acme", engineering_mapping()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["mapping"]["rules"][0]["group"], "Engineering");
    // Group names match case-insensitively.
    let token = app.login("acme", "ann@acme.com", &["engineering", "Research-Admins"]).await.unwrap();
    let (s, me) = app.me(&token).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["email"], "ann@acme.com");
    assert_eq!(me["user"]["name"], "Test User");
    assert_eq!(me["org"], json!({"slug": "acme", "role": "member"}));
    assert_eq!(project_role(&me, "research").as_deref(), Some("admin"));
    assert_eq!(project_role(&me, "inference").as_deref(), Some("member"));

    // Explain names the rule and group behind each role.
    let id = me["user"]["id"].as_str().unwrap();
    let (_, access) = app.admin_get(&format!("/admin/v1/orgs/acme/users/{id}/access")).await;
    assert_eq!(access["org"]["role"], "member");
    assert_eq!(access["org"]["grants"][0]["reason"], json!({"kind": "default"}));
    let research = access["projects"].as_array().unwrap().iter().find(|p| p["slug"] == "research").unwrap();
    assert_eq!(research["role"], "admin");
    assert_eq!(
        research["grants"][0]["reason"],
        json!({"kind": "rule", "rule": 1, "group": "Research-Admins"})
    );
    assert_eq!(research["grants"][0]["mapping_version"], 1);
    assert_eq!(research["grants"][0]["source"], "mapping");
}

#[tokio::test]
async fn org_admin_rule_and_default_none() {
    let app = acme().await;
    let mut doc = engineering_mapping();
    doc["default_org_role"] = json!("none");
    assert_eq!(app.put_mapping("acme", doc).await.0, StatusCode::OK);
    let token = app.login("acme", "root@acme.com", &["IT-Admins"]).await.unwrap();
    let (_, me) = app.me(&token).await;
    assert_eq!(me["org"]["role"], "admin");
    // An org admin is admin of every project.
    assert_eq!(project_role(&me, "inference").as_deref(), Some("admin"));

    // Nobody's group matches: refused, and no user was created just in time.
    let refused = app.login("acme", "stranger@acme.com", &["Sales"]).await.unwrap_err();
    assert_eq!(refused.reason(), "not_member");
    let (_, members) = app.admin_get("/admin/v1/orgs/acme/members").await;
    assert!(!members.to_string().contains("stranger@acme.com"), "{members}");
}

#[tokio::test]
async fn removing_a_group_removes_exactly_the_mapped_grants() {
    let app = acme().await;
    app.put_mapping("acme", engineering_mapping()).await;
    let token = app.login("acme", "bob@acme.com", &["Engineering", "Research-Admins"]).await.unwrap();
    let id = app.member_id("acme", "bob@acme.com").await;
    // A manual grant on inference, which the mapping also grants (member).
    let (s, _) = app
        .admin_post(
            "/admin/v1/orgs/acme/projects/inference/collaborators",
            json!({"email": "bob@acme.com", "role": "admin"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, me) = app.me(&token).await;
    assert_eq!(project_role(&me, "inference").as_deref(), Some("admin"));

    // Bob leaves Research-Admins: research drops to member, the rest stays.
    let token = app.login("acme", "bob@acme.com", &["Engineering"]).await.unwrap();
    let (_, me) = app.me(&token).await;
    assert_eq!(project_role(&me, "research").as_deref(), Some("member"));
    assert_eq!(project_role(&me, "inference").as_deref(), Some("admin"));

    // Bob leaves Engineering too: only the default org role and the manual grant remain.
    let token = app.login("acme", "bob@acme.com", &[]).await.unwrap();
    let (_, me) = app.me(&token).await;
    assert_eq!(project_role(&me, "research"), None);
    assert_eq!(project_role(&me, "inference").as_deref(), Some("admin"));
    let (_, access) = app.admin_get(&format!("/admin/v1/orgs/acme/users/{id}/access")).await;
    let grants: Vec<&str> = access["projects"][0]["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["source"].as_str().unwrap())
        .collect();
    assert_eq!(grants, ["manual"]);
}

#[tokio::test]
async fn manual_grant_survives_deprovisioning_and_sessions_end() {
    let app = acme().await;
    app.put_mapping("acme", engineering_mapping()).await;
    let token = app.login("acme", "cy@acme.com", &["Engineering"]).await.unwrap();
    let id = app.member_id("acme", "cy@acme.com").await;
    app.admin_post(
        "/admin/v1/orgs/acme/projects/research/collaborators",
        json!({"email": "cy@acme.com", "role": "admin"}),
    )
    .await;
    assert_eq!(app.me(&token).await.0, StatusCode::OK);

    idbridge::access::people::set_active(&app.state.db, "test", "acme", &id, false).await.unwrap();
    let (s, err) = app.me(&token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "deprovisioned user's session must end: {err}");

    let (_, access) = app.admin_get(&format!("/admin/v1/orgs/acme/users/{id}/access")).await;
    assert_eq!(access["org"]["grants"], json!([]), "mapping org grant removed");
    let research = access["projects"].as_array().unwrap();
    assert_eq!(research.len(), 1, "{access}");
    assert_eq!(research[0]["grants"][0]["source"], "manual");
    assert_eq!(research[0]["role"], Value::Null, "inactive: no effective role");
    let (_, members) = app.admin_get("/admin/v1/orgs/acme/members").await;
    let m = members.as_array().unwrap().iter().find(|m| m["user_id"] == id.as_str()).unwrap();
    assert_eq!((m["active"].as_bool(), m["role"].is_null()), (Some(false), true));
    // A deactivated user cannot log in again.
    assert_eq!(
        app.login("acme", "cy@acme.com", &["Engineering"]).await.unwrap_err().reason(),
        "user_inactive"
    );

    idbridge::access::people::set_active(&app.state.db, "test", "acme", &id, true).await.unwrap();
    let token = app.login("acme", "cy@acme.com", &["Engineering"]).await.unwrap();
    let (_, me) = app.me(&token).await;
    assert_eq!(project_role(&me, "research").as_deref(), Some("admin"));
}

#[tokio::test]
async fn preview_writes_nothing_and_put_reevaluates_everyone() {
    let app = acme().await;
    // Version 0: the built-in default (member, no rules).
    let (_, cur) = app.admin_get("/admin/v1/orgs/acme/mapping").await;
    assert_eq!(cur["version"], 0);
    app.login("acme", "a@acme.com", &["Engineering"]).await.unwrap();
    app.login("acme", "b@acme.com", &["IT-Admins"]).await.unwrap();
    let (_, audit_before) = app.admin_get("/admin/v1/orgs/acme/audit?limit=1000").await;

    let (s, preview) = app.admin_post("/admin/v1/orgs/acme/mapping/preview", engineering_mapping()).await;
    assert_eq!(s, StatusCode::OK, "{preview}");
    let changes = preview["changes"].as_array().unwrap();
    // a: research + inference (member); b: org member → admin.
    assert_eq!(changes.len(), 3, "{preview}");
    assert!(changes.iter().any(|c| c["email"] == "b@acme.com"
        && c["scope"] == "org"
        && c["before"] == "member"
        && c["after"] == "admin"));
    assert!(changes.iter().any(|c| c["email"] == "a@acme.com"
        && c["project"] == "research"
        && c["after"] == "member"
        && c["before"].is_null()));

    let (_, audit_after) = app.admin_get("/admin/v1/orgs/acme/audit?limit=1000").await;
    assert_eq!(audit_before, audit_after, "preview wrote nothing");
    let (_, cur) = app.admin_get("/admin/v1/orgs/acme/mapping").await;
    assert_eq!(cur["version"], 0);

    let (s, applied) = app.put_mapping("acme", engineering_mapping()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(applied["changes"], preview["changes"], "apply does what preview said");
    assert_eq!(applied["version"], 1);
    let (_, members) = app.admin_get("/admin/v1/orgs/acme/members").await;
    let b = members.as_array().unwrap().iter().find(|m| m["email"] == "b@acme.com").unwrap();
    assert_eq!(b["role"], "admin");
    // Applying the same document again changes nothing.
    let (_, again) = app.put_mapping("acme", engineering_mapping()).await;
    assert_eq!((again["version"].as_i64(), again["changes"].as_array().map(Vec::len)), (Some(2), Some(0)));
    let (_, audit) = app.admin_get("/admin/v1/orgs/acme/audit?limit=1000").await;
    let changes: Vec<&Value> =
        audit.as_array().unwrap().iter().filter(|e| e["action"] == "access.change").collect();
    let with_version_1 = changes.iter().filter(|e| e["detail"]["mapping_version"] == 1).count();
    assert_eq!(with_version_1, 3, "each change audited with the version that made it");
}

#[tokio::test]
async fn invalid_mappings_are_refused_and_change_nothing() {
    let app = acme().await;
    app.login("acme", "a@acme.com", &["Engineering"]).await.unwrap();
    let cases = [
        (json!({"rules": [{"group": "Eng", "projects": {"nope": "admin"}}]}), "rules[0].projects.nope"),
        (json!({"rules": [{"group": "Eng", "org_role": "owner"}]}), "rules[0].org_role"),
        (json!({"rules": [{"group": "", "org_role": "admin"}]}), "rules[0].group"),
        (
            json!({"rules": [{"group": "Eng", "org_role": "admin"}, {"group": "eng", "org_role": "member"}]}),
            "rules[1].group",
        ),
        (json!({"default_org_role": "root", "rules": []}), "default_org_role"),
        (json!({"rules": [{"group": "Eng", "org_role": "admin", "extra": 1}]}), "extra"),
    ];
    for (doc, path) in cases {
        for (method, url) in [
            (reqwest::Method::PUT, "/admin/v1/orgs/acme/mapping"),
            (reqwest::Method::POST, "/admin/v1/orgs/acme/mapping/preview"),
        ] {
            let (s, err) =
                app.send(method, url, Some(crate::support::helpers::ADMIN_TOKEN), Some(doc.clone())).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{doc} -> {err}");
            assert!(err["error"]["message"].as_str().unwrap().contains(path), "{path} not named in {err}");
        }
    }
    let (_, cur) = app.admin_get("/admin/v1/orgs/acme/mapping").await;
    assert_eq!(cur["version"], 0);
    let (_, audit) = app.admin_get("/admin/v1/orgs/acme/audit?limit=1000").await;
    assert!(!audit.to_string().contains("mapping.apply"));
    let (s, _) = app.put_mapping("nope", engineering_mapping()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn raw_claim_values_and_group_guids_match() {
    let app = acme().await;
    let guid = "9f4b7d1c-2a3e-4c5b-8d6f-0a1b2c3d4e5f";
    app.put_mapping("acme", json!({"rules": [{"group": guid, "projects": {"research": "admin"}}]})).await;
    let token = app.login("acme", "e@acme.com", &[&guid.to_uppercase()]).await.unwrap();
    let (_, me) = app.me(&token).await;
    assert_eq!(project_role(&me, "research").as_deref(), Some("admin"));
}
