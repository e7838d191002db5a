//! SCIM /Groups over HTTP: CRUD, members, excludedAttributes, filters, Bulk.

use reqwest::StatusCode;
use serde_json::json;

use crate::scim_users::urlencode;
use crate::support::helpers::spawn_app;

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

#[tokio::test]
async fn group_lifecycle_and_members() {
    let app = spawn_app().await;
    app.org("acme").await;
    app.org("globex").await;
    let scim = app.scim("acme").await;
    let a = scim.user("a@acme.com", "ea").await;
    let b = scim.user("b@acme.com", "eb").await;
    let c = scim.user("c@acme.com", "ec").await;
    let g = scim.group("Engineering", &[&a, &b]).await;

    let (s, v) = scim.get(&format!("/Groups/{g}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["displayName"], "Engineering");
    assert_eq!(v["meta"]["resourceType"], "Group");
    let mut ids: Vec<&str> =
        v["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
    ids.sort();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(ids, want);

    // excludedAttributes=members leaves members out.
    let (_, v) = scim.get(&format!("/Groups/{g}?excludedAttributes=members")).await;
    assert!(v.get("members").is_none() && v["displayName"] == "Engineering");
    let (_, v) = scim.get("/Groups?excludedAttributes=members").await;
    assert!(v["Resources"][0].get("members").is_none());

    // Filters: displayName (case-insensitive), members[value eq].
    let (_, v) = scim.get(&format!("/Groups?filter={}", urlencode(r#"displayName eq "engineering""#))).await;
    assert_eq!(v["totalResults"], 1);
    let (_, v) =
        scim.get(&format!("/Groups?filter={}", urlencode(&format!(r#"members[value eq "{c}"]"#)))).await;
    assert_eq!(v["totalResults"], 0);

    // PUT replaces the member list.
    let (s, v) = scim
        .put(
            &format!("/Groups/{g}"),
            json!({"schemas": [GROUP], "displayName": "Engineering", "members": [{"value": c}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["members"].as_array().unwrap().len(), 1);
    assert_eq!(v["members"][0]["value"], c.as_str());
    // The user's groups follow.
    let (_, u) = scim.get(&format!("/Users/{a}")).await;
    assert!(u.get("groups").is_none());

    // An unknown member is refused and changes nothing.
    let (s, v) = scim
        .put(
            &format!("/Groups/{g}"),
            json!({"schemas": [GROUP], "displayName": "Renamed", "members": [{"value": "nobody"}]}),
        )
        .await;
    assert_eq!((s, v["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidValue")));
    let (_, v) = scim.get(&format!("/Groups/{g}")).await;
    assert_eq!(v["displayName"], "Engineering");

    // Users of another org cannot be added.
    let other = app.scim("globex").await;
    let foreign = other.user("x@globex.com", "ex").await;
    let (s, _) = scim
        .post("/Groups", json!({"schemas": [GROUP], "displayName": "Mixed", "members": [{"value": foreign}]}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(other.get(&format!("/Groups/{g}")).await.0, StatusCode::NOT_FOUND);

    assert_eq!(scim.delete(&format!("/Groups/{g}")).await, StatusCode::NO_CONTENT);
    assert_eq!(scim.get(&format!("/Groups/{g}")).await.0, StatusCode::NOT_FOUND);
    let (_, u) = scim.get(&format!("/Users/{c}")).await;
    assert!(u.get("groups").is_none());
}

#[tokio::test]
async fn deleting_a_user_removes_their_memberships() {
    let app = spawn_app().await;
    app.org("acme").await;
    let scim = app.scim("acme").await;
    let a = scim.user("a@acme.com", "ea").await;
    let g = scim.group("Ops", &[&a]).await;
    assert_eq!(scim.delete(&format!("/Users/{a}")).await, StatusCode::NO_CONTENT);
    let (_, v) = scim.get(&format!("/Groups/{g}")).await;
    assert_eq!(v["members"], json!([]));
}

#[tokio::test]
async fn bulk_resolves_bulk_ids_and_honours_fail_on_errors() {
    let app = spawn_app().await;
    app.org("acme").await;
    let scim = app.scim("acme").await;
    let (s, v) = scim
        .post(
            "/Bulk",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": 1, "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "u1",
                 "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bulk@acme.com"}},
                {"method": "POST", "path": "/Groups", "bulkId": "g1",
                 "data": {"schemas": [GROUP], "displayName": "Bulkers", "members": [{"value": "bulkId:u1"}]}},
                {"method": "POST", "path": "/Users",
                 "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bulk@acme.com"}},
                {"method": "DELETE", "path": "/Groups/bulkId:g1"}
            ]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let ops = v["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 3, "stopped after the first error: {v}");
    assert_eq!(
        (ops[0]["status"].as_str(), ops[1]["status"].as_str(), ops[2]["status"].as_str()),
        (Some("201"), Some("201"), Some("409"))
    );
    assert_eq!(ops[2]["response"]["scimType"], "uniqueness");
    let (_, groups) = scim.get("/Groups").await;
    assert_eq!(groups["Resources"][0]["members"].as_array().unwrap().len(), 1, "bulkId:u1 resolved");

    let too_many: Vec<_> = (0..1001).map(|_| json!({"method": "DELETE", "path": "/Users/x"})).collect();
    let (s, v) = scim
        .post(
            "/Bulk",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": too_many}),
        )
        .await;
    assert_eq!((s, v["scimType"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("tooMany")));
}

#[tokio::test]
async fn discovery_endpoints_describe_the_server() {
    let app = spawn_app().await;
    app.org("acme").await;
    let scim = app.scim("acme").await;
    let (_, spc) = scim.get("/ServiceProviderConfig").await;
    assert_eq!(spc["bulk"]["maxOperations"], 1000);
    assert_eq!(spc["filter"]["maxResults"], 1000);
    assert_eq!(spc["etag"]["supported"], true);
    assert_eq!(spc["changePassword"]["supported"], false);
    let (_, rt) = scim.get("/ResourceTypes").await;
    assert_eq!(rt["totalResults"], 2);
    let (s, user_rt) = scim.get("/ResourceTypes/User").await;
    assert_eq!((s, user_rt["endpoint"].as_str()), (StatusCode::OK, Some("/Users")));
    let (_, schemas) = scim.get("/Schemas").await;
    assert_eq!(schemas["totalResults"], 3);
    let (s, user) = scim.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").await;
    assert_eq!(s, StatusCode::OK);
    let un = user["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "userName").unwrap();
    assert_eq!((un["uniqueness"].as_str(), un["caseExact"].as_bool()), (Some("server"), Some(false)));
    assert_eq!(scim.get("/Schemas/urn:nope").await.0, StatusCode::NOT_FOUND);
}

/// Issue 10: group names are unique per org, case-insensitively (Entra matches groups by
/// displayName; mapping rules name groups by it). Every way to name a group — POST, PUT,
/// Entra's and Okta's PATCH renames, Bulk — answers 409 `uniqueness` and changes nothing.
#[tokio::test]
async fn group_names_are_unique_per_org_case_insensitively() {
    let app = spawn_app().await;
    app.org("acme").await;
    app.org("globex").await;
    let scim = app.scim("acme").await;
    let eng = scim.group("Engineering", &[]).await;
    let ops = scim.group("Ops", &[]).await;
    let unique = |s: StatusCode, v: &serde_json::Value| {
        assert_eq!((s, v["scimType"].as_str()), (StatusCode::CONFLICT, Some("uniqueness")), "{v}");
        let detail = v["detail"].as_str().unwrap();
        assert!(detail.contains("displayName") && detail.contains("another group"), "{detail}");
    };

    let (s, v) = scim.post("/Groups", json!({"schemas": [GROUP], "displayName": "ENGINEERING"})).await;
    unique(s, &v);
    let put = json!({"schemas": [GROUP], "displayName": "engineering", "members": []});
    let (s, v) = scim.put(&format!("/Groups/{ops}"), put).await;
    unique(s, &v);
    let mut entra: serde_json::Value =
        serde_json::from_str(include_str!("../../fixtures/scim/entra/update-group-non-member.json")).unwrap();
    entra["Operations"][0]["value"] = json!("Engineering");
    let (s, v) = scim.patch(&format!("/Groups/{ops}"), entra).await;
    unique(s, &v);
    let mut okta: serde_json::Value =
        serde_json::from_str(include_str!("../../fixtures/scim/okta/rename-group.json")).unwrap();
    okta["Operations"][0]["value"] = json!({"id": ops, "displayName": "engineering"});
    let (s, v) = scim.patch(&format!("/Groups/{ops}"), okta).await;
    unique(s, &v);
    let (s, v) = scim
        .post(
            "/Bulk",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
                {"method": "POST", "path": "/Groups", "bulkId": "g",
                 "data": {"schemas": [GROUP], "displayName": "engineering "}}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["Operations"][0]["status"], "409", "{v}");
    unique(StatusCode::CONFLICT, &v["Operations"][0]["response"]);

    let (_, list) = scim.get("/Groups?excludedAttributes=members").await;
    let mut names: Vec<&str> =
        list["Resources"].as_array().unwrap().iter().map(|g| g["displayName"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["Engineering", "Ops"], "nothing changed");
    let (_, found) =
        scim.get(&format!("/Groups?filter={}", urlencode(r#"displayName eq "ENGINEERING""#))).await;
    assert_eq!(
        (found["totalResults"].as_i64(), found["Resources"][0]["id"].as_str()),
        (Some(1), Some(eng.as_str()))
    );

    // A group may change the case of its own name; another org may use the name.
    let own = json!({"schemas": [GROUP], "displayName": "ENGINEERING", "members": []});
    let (s, v) = scim.put(&format!("/Groups/{eng}"), own).await;
    assert_eq!((s, v["displayName"].as_str()), (StatusCode::OK, Some("ENGINEERING")), "{v}");
    app.scim("globex").await.group("engineering", &[]).await;
    // A freed name may be taken again.
    assert_eq!(scim.delete(&format!("/Groups/{eng}")).await, StatusCode::NO_CONTENT);
    scim.group("Engineering", &[]).await;
}
