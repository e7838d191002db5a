//! SCIM /Users over HTTP: auth per org, CRUD, uniqueness, ETags, lists with
//! filters, paging, sorting and projection, and the effects on access.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::helpers::{TestApp, spawn_app};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

async fn acme() -> TestApp {
    let app = spawn_app().await;
    app.org("acme").await;
    app.org("globex").await;
    app.project("acme", "research").await;
    app
}

#[tokio::test]
async fn tokens_are_per_org_and_revocable() {
    let app = acme().await;
    let acme = app.scim("acme").await;
    let globex = app.scim("globex").await;
    let (s, v) = acme.get("/ServiceProviderConfig").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["patch"]["supported"], true);
    acme.user("ann@acme.com", "ext-ann").await;

    // Another org's token, a wrong token, no token: 401 with a SCIM error.
    let cross = crate::support::helpers::Scim { app: &app, org: "acme".into(), token: globex.token.clone() };
    let bad = crate::support::helpers::Scim { app: &app, org: "acme".into(), token: "idb_scim_nope".into() };
    for c in [&cross, &bad] {
        let (s, h, v) = c.req(Method::GET, "/Users", None, &[]).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(v["schemas"][0], ERROR);
        assert_eq!(v["status"], "401");
        assert!(h["content-type"].to_str().unwrap().starts_with("application/scim+json"));
    }
    let resp = app.client.get(acme.url("/Users")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Writing through another org's token changes nothing.
    let (s, _) = cross.post("/Users", json!({"schemas": [USER], "userName": "mallory@x.com"})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (_, list) = globex.get("/Users").await;
    assert_eq!(list["totalResults"], 0, "org B sees nothing of org A");

    // Revocation takes effect on the next request.
    let (_, tokens) = app.admin_get("/admin/v1/orgs/acme/scim-tokens").await;
    let id = tokens[0]["id"].as_str().unwrap();
    assert_eq!(
        app.admin_delete(&format!("/admin/v1/orgs/acme/scim-tokens/{id}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(acme.get("/Users").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn user_lifecycle_with_meta_etag_and_uniqueness() {
    let app = acme().await;
    let scim = app.scim("acme").await;
    let body = json!({
        "schemas": [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "Bjensen@Example.com", "externalId": "00u1", "active": true, "password": "t1meMa$heen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"}, "title": "Tour Guide",
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984", "department": "Tour Operations"},
        "x-custom": {"kept": true}
    });
    let (s, h, created) = scim.req(Method::POST, "/Users", Some(body.clone()), &[]).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(h["location"].to_str().unwrap(), format!("{}/Users/{id}", scim.url("")));
    assert_eq!(created["meta"]["location"], h["location"].to_str().unwrap());
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(created["meta"]["version"], h["etag"].to_str().unwrap());
    assert!(created.get("password").is_none(), "password never returned");
    assert_eq!(
        created["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        "701984"
    );
    assert_eq!(created["x-custom"], json!({"kept": true}), "unmodelled attributes are kept");
    assert_eq!(created["schemas"].as_array().unwrap().len(), 2);

    // The password is not in the database file in any form we wrote (on
    // PostgreSQL: in no stored value).
    let stored = if crate::support::helpers::on_postgres() {
        crate::support::helpers::raw_db(&app).every_value().await
    } else {
        vec![std::fs::read(app.dir.path().join("idbridge.db-wal")).unwrap_or_default()]
    };
    for raw in &stored {
        assert!(!raw.windows(11).any(|w| w == b"t1meMa$heen"));
    }

    let (s, got) = scim.get(&format!("/Users/{id}")).await;
    assert_eq!((s, &got), (StatusCode::OK, &created));

    // userName is unique case-insensitively; externalId too.
    let mut dup = body.clone();
    dup["userName"] = json!("BJENSEN@example.com");
    dup["externalId"] = json!("00u2");
    let (s, err) = scim.post("/Users", dup).await;
    assert_eq!((s, err["scimType"].as_str()), (StatusCode::CONFLICT, Some("uniqueness")), "{err}");
    let mut dup = body.clone();
    dup["userName"] = json!("other@example.com");
    let (s, err) = scim.post("/Users", dup).await;
    assert_eq!((s, err["scimType"].as_str()), (StatusCode::CONFLICT, Some("uniqueness")));

    // PUT with a stale ETag is refused; with the right one it replaces.
    let mut put = body.clone();
    put["title"] = json!("Manager");
    let (s, _, _) =
        scim.req(Method::PUT, &format!("/Users/{id}"), Some(put.clone()), &[("if-match", "W/\"999\"")]).await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    let etag = created["meta"]["version"].as_str().unwrap().to_string();
    let (s, h, replaced) =
        scim.req(Method::PUT, &format!("/Users/{id}"), Some(put), &[("if-match", &etag)]).await;
    assert_eq!(s, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["title"], "Manager");
    assert_ne!(h["etag"].to_str().unwrap(), etag);
    assert!(replaced["meta"]["lastModified"].as_str() >= created["meta"]["lastModified"].as_str());
    assert_eq!(replaced["meta"]["created"], created["meta"]["created"]);

    // Okta deactivates with PUT active=false: the user stays readable.
    let mut off = body.clone();
    off["active"] = json!(false);
    let (s, v) = scim.put(&format!("/Users/{id}"), off).await;
    assert_eq!((s, v["active"].as_bool()), (StatusCode::OK, Some(false)));
    let (s, v) = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(
        (s, v["active"].as_bool(), v["name"]["givenName"].as_str()),
        (StatusCode::OK, Some(false), Some("Barbara"))
    );

    assert_eq!(scim.delete(&format!("/Users/{id}")).await, StatusCode::NO_CONTENT);
    let (s, v) = scim.get(&format!("/Users/{id}")).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::NOT_FOUND, Some("404")));
    assert_eq!(scim.delete(&format!("/Users/{id}")).await, StatusCode::NOT_FOUND);
    // The userName is free again.
    let (s, _) = scim.post("/Users", body).await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn bad_bodies_are_scim_errors_and_change_nothing() {
    let app = acme().await;
    let scim = app.scim("acme").await;
    for (body, scim_type) in [
        (json!({"userName": "a@b.c"}), "invalidSyntax"),
        (json!({"schemas": [USER]}), "invalidValue"),
        (json!({"schemas": [USER], "userName": 42}), "invalidValue"),
        (json!({"schemas": [USER], "userName": "a@b.c", "active": "perhaps"}), "invalidValue"),
    ] {
        let (s, v) = scim.post("/Users", body.clone()).await;
        assert_eq!((s, v["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some(scim_type)), "{body} -> {v}");
    }
    let resp = app
        .client
        .post(scim.url("/Users"))
        .bearer_auth(&scim.token)
        .header("content-type", "application/scim+json")
        .body("{\"schemas\":")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let big = json!({"schemas": [USER], "userName": "x@y.z", "title": "x".repeat(5 * 1024 * 1024)});
    let (s, _) = scim.post("/Users", big).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (_, list) = scim.get("/Users").await;
    assert_eq!(list["totalResults"], 0);
    let (s, v) = scim.get("/Users?filter=userName%20eq").await;
    assert_eq!((s, v["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidFilter")));
}

#[tokio::test]
async fn lists_filter_page_sort_and_project() {
    let app = acme().await;
    let scim = app.scim("acme").await;
    for i in 0..12 {
        scim.user(&format!("user{i:02}@acme.com"), &format!("ext-{i:02}")).await;
    }
    let q = |f: &str| format!("/Users?filter={}", urlencode(f));
    // Okta: case-insensitive userName eq.
    let (s, v) = scim.get(&q(r#"userName eq "USER03@ACME.COM""#)).await;
    assert_eq!((s, v["totalResults"].as_i64()), (StatusCode::OK, Some(1)));
    assert_eq!(v["Resources"][0]["userName"], "user03@acme.com");
    // externalId is caseExact.
    let (_, v) = scim.get(&q(r#"externalId eq "EXT-03""#)).await;
    assert_eq!(v["totalResults"], 0);
    let (_, v) = scim.get(&q(r#"externalId eq "ext-03""#)).await;
    assert_eq!(v["totalResults"], 1);
    // Entra's probe with a random userName: 200 and zero results.
    let (s, v) = scim.get(&q(r#"userName eq "7b2f6c1e-4a5d-4f3e-9c8b-1a2b3c4d5e6f""#)).await;
    assert_eq!(
        (s, v["totalResults"].as_i64(), v["Resources"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0), Some(0))
    );
    // Compound, sw/ew/co, not.
    let (_, v) = scim.get(&q(r#"userName sw "user0" and not (userName ew "5@acme.com")"#)).await;
    assert_eq!(v["totalResults"], 9);
    let (_, v) = scim.get(&q(r#"userName co "1" or externalId eq "ext-05""#)).await;
    assert_eq!(v["totalResults"], 4, "user01, user10, user11, user05");
    // A filter on a non-indexed attribute is evaluated exactly too.
    let (_, v) = scim.get(&q(r#"emails[type eq "work" and value co "user07"]"#)).await;
    assert_eq!(v["totalResults"], 1);
    let (_, v) = scim.get(&q(r#"name.givenName eq "given" and title pr"#)).await;
    assert_eq!(v["totalResults"], 0);

    // Paging: exact totalResults, 1-based startIndex.
    let (_, v) = scim.get("/Users?startIndex=11&count=5&sortBy=userName").await;
    assert_eq!(
        (v["totalResults"].as_i64(), v["itemsPerPage"].as_i64(), v["startIndex"].as_i64()),
        (Some(12), Some(2), Some(11))
    );
    assert_eq!(v["Resources"][0]["userName"], "user10@acme.com");
    let (_, v) = scim.get("/Users?sortBy=userName&sortOrder=descending&count=1").await;
    assert_eq!(v["Resources"][0]["userName"], "user11@acme.com");
    let (_, v) = scim.get("/Users?count=0").await;
    assert_eq!((v["totalResults"].as_i64(), v["Resources"].as_array().map(Vec::len)), (Some(12), Some(0)));

    // Projection.
    let (_, v) = scim.get("/Users?attributes=userName&count=1").await;
    let keys: Vec<&String> = v["Resources"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "schemas", "userName"]);
    let (_, v) = scim.get("/Users?excludedAttributes=emails,name&count=1").await;
    assert!(v["Resources"][0].get("emails").is_none() && v["Resources"][0].get("userName").is_some());

    // /.search takes the same parameters in a body.
    let (s, v) = scim
        .post(
            "/Users/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                       "filter": "userName sw \"user1\"", "count": 10}),
        )
        .await;
    assert_eq!((s, v["totalResults"].as_i64()), (StatusCode::OK, Some(2)));
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn provisioning_drives_access_and_deprovisioning_ends_it() {
    let app = acme().await;
    let scim = app.scim("acme").await;
    let (s, _) = app
        .put_mapping(
            "acme",
            json!({"default_org_role": "none", "rules": [
            {"group": "Engineering", "org_role": "member", "projects": {"research": "admin"}}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let ann = scim.user("ann@acme.com", "ext-ann").await;
    // Not in a mapped group yet: kept, but not an active member.
    let (_, members) = app.admin_get("/admin/v1/orgs/acme/members").await;
    let m = members.as_array().unwrap().iter().find(|m| m["user_id"] == ann.as_str()).unwrap();
    assert_eq!((m["active"].as_bool(), m["role"].is_null()), (Some(false), true));

    let group = scim.group("Engineering", &[&ann]).await;
    let (_, v) = scim.get(&format!("/Users/{ann}")).await;
    assert_eq!(v["groups"][0]["value"], group.as_str());
    assert_eq!(v["groups"][0]["display"], "Engineering");
    let token = app.login("acme", "ann@acme.com", &[]).await.unwrap();
    let (_, me) = app.me(&token).await;
    assert_eq!(me["org"]["role"], "member");
    assert_eq!(me["projects"][0], json!({"slug": "research", "role": "admin"}));
    let (_, audit) = app.admin_get("/admin/v1/orgs/acme/audit?limit=1000").await;
    let actors: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "access.change")
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert!(actors.iter().any(|a| a.starts_with("scim:")), "{actors:?}");

    // Entra deactivates: mapping grants go, the session ends at once.
    let mut off: Value = scim.get(&format!("/Users/{ann}")).await.1;
    off["active"] = json!(false);
    assert_eq!(scim.put(&format!("/Users/{ann}"), off).await.0, StatusCode::OK);
    assert_eq!(app.me(&token).await.0, StatusCode::UNAUTHORIZED);
    let (_, access) = app.admin_get(&format!("/admin/v1/orgs/acme/users/{ann}/access")).await;
    assert_eq!(
        (access["org"]["grants"].as_array().map(Vec::len), access["projects"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );
}
