//! The change-event outbox over HTTP: every event type written with the
//! contract's data by the real change, nothing for a refused change, paging,
//! org isolation, `idbridge events tail --once`, and durability across SIGKILL.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::helpers::{ADMIN_TOKEN, TestApp, db_path, spawn_app, spawn_process};

async fn events(app: &TestApp, org: &str) -> Vec<Value> {
    let (s, v) = app.admin_get(&format!("/admin/v1/orgs/{org}/events?limit=1000")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v.as_array().unwrap().clone()
}

/// Events of `kind` after `after` (the id of the last event seen).
fn of<'a>(all: &'a [Value], kind: &str) -> Vec<&'a Value> {
    all.iter().filter(|e| e["type"] == kind).collect()
}

fn last_id(all: &[Value]) -> i64 {
    all.last().map(|e| e["id"].as_i64().unwrap()).unwrap_or(0)
}

async fn since(app: &TestApp, org: &str, after: i64) -> Vec<Value> {
    let (s, v) = app.admin_get(&format!("/admin/v1/orgs/{org}/events?after={after}&limit=1000")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v.as_array().unwrap().clone()
}

async fn acme() -> TestApp {
    let app = spawn_app().await;
    app.org("acme").await;
    app.project("acme", "research").await;
    let doc = json!({"default_org_role": "member", "rules": [
        {"group": "Research", "projects": {"research": "member"}},
        {"group": "Leads", "projects": {"research": "admin"}}
    ]});
    assert_eq!(app.put_mapping("acme", doc).await.0, StatusCode::OK);
    app
}

#[tokio::test]
async fn mapping_and_manual_grants_emit_member_and_collaborator_events() {
    let app = acme().await;
    app.login("acme", "ann@acme.com", &["Research"]).await.unwrap();
    let all = events(&app, "acme").await;
    let m = of(&all, "member.added");
    assert_eq!(m.len(), 1, "{all:?}");
    let uid = m[0]["data"]["user_id"].as_str().unwrap().to_string();
    assert_eq!(
        m[0]["data"],
        json!({"user_id": uid, "email": "ann@acme.com", "role": "member", "previous_role": null, "source": "mapping"})
    );
    assert_eq!(m[0]["org"], "acme");
    let c = of(&all, "collaborator.added");
    assert_eq!(c[0]["data"]["project"], "research");
    assert_eq!(
        (c[0]["data"]["source"].as_str(), c[0]["data"]["external"].as_bool()),
        (Some("mapping"), Some(false))
    );

    // The mapping changes her project role: collaborator.role_changed.
    let doc = json!({"default_org_role": "member", "rules": [{"group": "Research", "projects": {"research": "admin"}}]});
    let seen = last_id(&all);
    assert_eq!(app.put_mapping("acme", doc).await.0, StatusCode::OK);
    let new = since(&app, "acme", seen).await;
    let ch = of(&new, "collaborator.role_changed");
    assert_eq!(ch.len(), 1, "{new:?}");
    assert_eq!(
        (ch[0]["data"]["role"].as_str(), ch[0]["data"]["previous_role"].as_str()),
        (Some("admin"), Some("member"))
    );

    // A manual grant to an outsider, changed, then removed.
    let path = "/admin/v1/orgs/acme/projects/research/collaborators";
    let seen = last_id(&new);
    let (s, c) = app.admin_post(path, json!({"email": "p@other.com", "role": "member"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let pid = c["user_id"].as_str().unwrap().to_string();
    app.admin_post(path, json!({"email": "p@other.com", "role": "admin"})).await;
    let (s, _) = app.admin_delete(&format!("{path}/{pid}")).await;
    assert!(s.is_success(), "{s}");
    let new = since(&app, "acme", seen).await;
    let kinds: Vec<_> = new.iter().map(|e| e["type"].as_str().unwrap()).collect();
    // Her last grant gone, the outsider holds no role: deprovisioned.
    assert_eq!(
        kinds,
        ["collaborator.added", "collaborator.role_changed", "collaborator.removed", "user.deprovisioned"],
        "{new:?}"
    );
    assert_eq!(
        new[0]["data"],
        json!({"project": "research", "user_id": pid, "email": "p@other.com", "role": "member",
               "previous_role": null, "source": "manual", "external": true})
    );
    assert_eq!(new[2]["data"]["previous_role"], "admin");
    assert_eq!(new[2]["data"]["role"], Value::Null);
    assert!(new.windows(2).all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64()), "oldest first");
}

#[tokio::test]
async fn a_lost_role_revokes_sessions_and_keys_with_events_and_a_refused_change_emits_nothing() {
    let app = acme().await;
    let token = app.login("acme", "m@acme.com", &["Research"]).await.unwrap();
    let keys = "/v1/orgs/acme/projects/research/api-keys";
    let (s, k) = app.send(Method::POST, keys, Some(&token), Some(json!({"name": "ci"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    let key_id = k["id"].as_str().unwrap().to_string();
    let seen = last_id(&events(&app, "acme").await);

    // A refused mapping writes nothing.
    let (s, _) =
        app.put_mapping("acme", json!({"rules": [{"group": "X", "projects": {"nope": "member"}}]})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(since(&app, "acme", seen).await.is_empty());

    assert_eq!(
        app.put_mapping("acme", json!({"default_org_role": "none", "rules": []})).await.0,
        StatusCode::OK
    );
    let new = since(&app, "acme", seen).await;
    let uid = of(&new, "member.removed")[0]["data"]["user_id"].as_str().unwrap().to_string();
    assert_eq!(of(&new, "collaborator.removed").len(), 1, "{new:?}");
    assert_eq!(
        of(&new, "user.deprovisioned")[0]["data"],
        json!({"user_id": uid, "email": "m@acme.com", "reason": "no_role"})
    );
    assert_eq!(of(&new, "session.revoked")[0]["data"], json!({"user_id": uid, "reason": "no_role"}));
    assert_eq!(
        of(&new, "api_key.revoked")[0]["data"],
        json!({"project": "research", "key_id": key_id, "user_id": uid, "reason": "no_role"})
    );
}

#[tokio::test]
async fn logout_key_deletion_and_connection_deletion_emit_their_events() {
    let app = acme().await;
    let token = app.login("acme", "k@acme.com", &["Research"]).await.unwrap();
    let keys = "/v1/orgs/acme/projects/research/api-keys";
    let (_, k) = app.send(Method::POST, keys, Some(&token), Some(json!({"name": "ci"}))).await;
    let key_id = k["id"].as_str().unwrap().to_string();
    let seen = last_id(&events(&app, "acme").await);
    let (s, _) = app.send(Method::DELETE, &format!("{keys}/{key_id}"), Some(&token), None).await;
    assert!(s.is_success(), "{s}");
    let resp = app.client.post(app.url("/v1/logout")).bearer_auth(&token).send().await.unwrap();
    assert!(resp.status().is_success() || resp.status().is_redirection());
    let new = since(&app, "acme", seen).await;
    let uid = new[0]["data"]["user_id"].as_str().unwrap().to_string();
    assert_eq!(new[0]["type"], "api_key.revoked");
    assert_eq!(
        new[0]["data"],
        json!({"project": "research", "key_id": key_id, "user_id": uid, "reason": "deleted"})
    );
    assert_eq!(new[1]["type"], "session.revoked");
    assert_eq!(new[1]["data"], json!({"user_id": uid, "reason": "logout"}));

    app.login("acme", "k@acme.com", &["Research"]).await.unwrap();
    let seen = last_id(&events(&app, "acme").await);
    let conn = app.test_connection("acme").await;
    let (s, _) = app.admin_delete(&format!("/admin/v1/orgs/acme/connections/{conn}")).await;
    assert!(s.is_success(), "{s}");
    let new = since(&app, "acme", seen).await;
    let ended = of(&new, "session.revoked");
    assert_eq!(ended[0]["data"], json!({"user_id": uid, "reason": "connection_deleted"}), "{new:?}");
}

#[tokio::test]
async fn scim_deactivation_and_delete_deprovision_and_a_refused_patch_emits_nothing() {
    let app = spawn_app().await;
    app.org("acme").await;
    let scim = app.scim("acme").await;
    let id = scim.user("bob@acme.com", "ext-bob").await;
    let all = events(&app, "acme").await;
    assert_eq!(of(&all, "member.added")[0]["data"]["user_id"], id.as_str());
    let seen = last_id(&all);

    let op =
        |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let (s, _) = scim.patch(&format!("/Users/{id}"), op(json!([{"op": "explode", "path": "active"}]))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(since(&app, "acme", seen).await.is_empty(), "a refused change emits nothing");

    let (s, v) =
        scim.patch(&format!("/Users/{id}"), op(json!([{"op": "replace", "value": {"active": false}}]))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let new = since(&app, "acme", seen).await;
    assert_eq!(
        of(&new, "user.deprovisioned")[0]["data"],
        json!({"user_id": id, "email": "bob@acme.com", "reason": "scim_deactivated"})
    );
    assert_eq!(of(&new, "member.removed").len(), 1, "{new:?}");

    let seen = last_id(&new);
    assert_eq!(scim.delete(&format!("/Users/{id}")).await, StatusCode::NO_CONTENT);
    let new = since(&app, "acme", seen).await;
    assert_eq!(of(&new, "user.deprovisioned")[0]["data"]["reason"], "scim_delete", "{new:?}");
}

#[tokio::test]
async fn the_pull_api_pages_and_keeps_orgs_apart() {
    let app = spawn_app().await;
    app.org("acme").await;
    app.org("globex").await;
    app.project("acme", "research").await;
    app.project("globex", "research").await;
    for i in 0..5 {
        app.admin_post(
            "/admin/v1/orgs/acme/projects/research/collaborators",
            json!({"email": format!("a{i}@x.com"), "role": "member"}),
        )
        .await;
    }
    app.admin_post(
        "/admin/v1/orgs/globex/projects/research/collaborators",
        json!({"email": "g@x.com", "role": "member"}),
    )
    .await;
    let (_, first) = app.admin_get("/admin/v1/orgs/acme/events?limit=2").await;
    assert_eq!(first.as_array().unwrap().len(), 2);
    let after = first[1]["id"].as_i64().unwrap();
    let (_, rest) = app.admin_get(&format!("/admin/v1/orgs/acme/events?after={after}")).await;
    assert_eq!(rest.as_array().unwrap().len(), 3);
    assert!(rest[0]["id"].as_i64().unwrap() > after);
    let acme = events(&app, "acme").await;
    assert!(acme.iter().all(|e| e["org"] == "acme" && e["data"]["email"] != "g@x.com"));
    let globex = events(&app, "globex").await;
    assert_eq!(globex.len(), 1);
    assert_eq!(globex[0]["org"], "globex");
    for bad in ["limit=0", "limit=1001", "limit=x", "after=x", "nope=1"] {
        let (s, _) = app.admin_get(&format!("/admin/v1/orgs/acme/events?{bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (s, _) = app.admin_get("/admin/v1/orgs/nope/events").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("idbridge_events_written_total{type=\"collaborator.added\"} 6"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_sigkill_and_tail_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    let mut proc = spawn_process(&db, &[]);
    let client = reqwest::Client::new();
    let base = proc.base.clone();
    let post = |path: String, body: Value| {
        client.post(format!("{base}{path}")).bearer_auth(ADMIN_TOKEN).json(&body).send()
    };
    assert_eq!(
        post("/admin/v1/orgs".into(), json!({"slug": "acme", "name": "Acme"})).await.unwrap().status(),
        StatusCode::CREATED
    );
    let r =
        post("/admin/v1/orgs/acme/projects".into(), json!({"slug": "research", "name": "R"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    for i in 0..100 {
        let r = post(
            "/admin/v1/orgs/acme/projects/research/collaborators".into(),
            json!({"email": format!("u{i}@x.com"), "role": "member"}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    proc.child.kill().unwrap();
    proc.child.wait().unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .args(["events", "tail", "--org", "acme", "--once", "--db"])
        .arg(&db)
        .env_remove("IDBRIDGE_DB")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tailed: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(tailed.len(), 100);

    let proc = spawn_process(&db, &[]);
    let r = client
        .get(format!("{}/admin/v1/orgs/acme/events?limit=1000", proc.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let pulled: Vec<Value> = r.json().await.unwrap();
    assert_eq!(pulled.len(), 100, "every acknowledged change has its event");
    assert_eq!(pulled, tailed, "tail prints what the pull API serves");
    let emails: std::collections::BTreeSet<_> =
        pulled.iter().map(|e| e["data"]["email"].as_str().unwrap()).collect();
    assert_eq!(emails.len(), 100);
}
