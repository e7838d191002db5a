//! SCIM cursor pagination (RFC 9865) over HTTP, on the engine the suite runs
//! on (`IDBRIDGE_TEST_DB=postgres` for PostgreSQL): walks of every page of
//! Users and Groups (filtered, sorted, by GET and POST /.search) return every
//! resource exactly once and end with a page without `nextCursor`; changes
//! between pages make no other resource skip or repeat; forged, foreign,
//! mismatched and expired cursors are refused with RFC 9865's `scimType`.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::helpers::{SECRET_KEY, Scim, TestApp, spawn_app};

const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// `?k=v&…`, percent-encoded.
fn q(params: &[(&str, &str)]) -> String {
    let url = reqwest::Url::parse_with_params("http://x/", params).unwrap();
    format!("?{}", url.query().unwrap_or(""))
}

async fn app_with_orgs() -> TestApp {
    let app = spawn_app().await;
    app.org("acme").await;
    app.org("globex").await;
    app
}

/// The ids of one page, checked against the RFC 9865 page invariants.
fn page_ids(v: &Value, count: usize) -> Vec<String> {
    assert_eq!(v["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:ListResponse", "{v}");
    let res = v["Resources"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert!(res.len() <= count, "{v}");
    assert_eq!(v["itemsPerPage"], res.len(), "{v}");
    assert!(v.get("startIndex").is_none(), "cursor pages have no index: {v}");
    assert!(v.get("previousCursor").is_none(), "previousCursor is not offered: {v}");
    res.iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

/// GET every page of `endpoint` with `params` and a cursor; the ids in page
/// order (every page's `totalResults` is the first page's).
async fn walk(scim: &Scim<'_>, endpoint: &str, params: &[(&str, &str)], count: usize) -> (Vec<String>, i64) {
    let count_s = count.to_string();
    let mut cursor = String::new();
    let mut ids = Vec::new();
    let mut total = None;
    for _ in 0..1000 {
        let mut all: Vec<(&str, &str)> = params.to_vec();
        all.push(("cursor", &cursor));
        all.push(("count", &count_s));
        let (s, v) = scim.get(&format!("{endpoint}{}", q(&all))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let page = page_ids(&v, count);
        let t = v["totalResults"].as_i64().unwrap();
        assert_eq!(*total.get_or_insert(t), t, "totalResults is the walk's first count");
        match v.get("nextCursor") {
            Some(next) => {
                assert_eq!(page.len(), count, "a page before the last is full: {v}");
                cursor = next.as_str().unwrap().to_string();
                assert!(!cursor.is_empty());
                ids.extend(page);
            }
            None => {
                ids.extend(page);
                return (ids, t);
            }
        }
    }
    panic!("the walk of {endpoint} does not end");
}

async fn get(scim: &Scim<'_>, path: &str, params: &[(&str, &str)]) -> (StatusCode, Value) {
    scim.get(&format!("{path}{}", q(params))).await
}

fn once(ids: &[String]) -> HashSet<String> {
    let set: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(set.len(), ids.len(), "a resource repeated: {ids:?}");
    set
}

/// Every resource of a full index-paged list, in its order (the reference).
async fn all_ids(scim: &Scim<'_>, endpoint: &str, params: &[(&str, &str)]) -> Vec<String> {
    let mut all: Vec<(&str, &str)> = params.to_vec();
    all.push(("count", "1000"));
    let (s, v) = scim.get(&format!("{endpoint}{}", q(&all))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["Resources"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

/// 23 users (created back to back: creation times tie, the id breaks them),
/// some without externalId or displayName, and 10 groups.
async fn populate(scim: &Scim<'_>) -> (Vec<String>, Vec<String>) {
    let mut users = Vec::new();
    for i in 0..23 {
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("u{i:02}@acme.com"), "active": true,
        });
        if i % 3 != 0 {
            body["externalId"] = json!(format!("ext-{i}"));
            // Shared names: ties broken by id.
            body["displayName"] = json!(format!("User {}", i % 4));
        }
        let (s, v) = scim.post("/Users", body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        users.push(v["id"].as_str().unwrap().to_string());
    }
    let mut groups = Vec::new();
    for i in 0..10 {
        let members: Vec<&str> = users.iter().skip(i).step_by(4).map(String::as_str).collect();
        groups.push(scim.group(&format!("Group {i:02}"), &members).await);
    }
    (users, groups)
}

#[tokio::test]
async fn cursor_walks_return_every_resource_once_in_order() {
    let app = app_with_orgs().await;
    let acme = app.scim("acme").await;
    let (users, groups) = populate(&acme).await;

    // Default order, page sizes that do and do not divide the list.
    for count in [1, 5, 7, 23, 100] {
        let (ids, total) = walk(&acme, "/Users", &[], count).await;
        assert_eq!(total, 23);
        assert_eq!(ids, all_ids(&acme, "/Users", &[]).await, "count={count}");
        assert_eq!(once(&ids), users.iter().cloned().collect());
    }
    // Sorted, both directions, by NOT NULL and nullable columns (NULLs included).
    for sort_by in ["userName", "externalId", "displayName", "meta.created", "id"] {
        for order in ["ascending", "descending"] {
            let params = [("sortBy", sort_by), ("sortOrder", order)];
            let (ids, _) = walk(&acme, "/Users", &params, 4).await;
            assert_eq!(ids, all_ids(&acme, "/Users", &params).await, "{sort_by} {order}");
            once(&ids);
        }
    }
    // A compiled filter, and a filter only the in-memory evaluator knows
    // (groups.display is rendered, not stored).
    for filter in [
        r#"userName sw "u1""#,
        r#"externalId eq "ext-1" or displayName pr"#,
        r#"groups.display eq "Group 01""#,
    ] {
        let params = [("filter", filter), ("sortBy", "userName")];
        let expected = all_ids(&acme, "/Users", &params).await;
        assert!(expected.len() > 3, "{filter}: {expected:?}");
        let (ids, total) = walk(&acme, "/Users", &params, 3).await;
        assert_eq!(ids, expected, "{filter}");
        assert_eq!(total, expected.len() as i64);
    }
    // A filter nothing matches: one empty last page.
    let (ids, total) = walk(&acme, "/Users", &[("filter", r#"userName eq "nobody""#)], 5).await;
    assert_eq!((ids.len(), total), (0, 0));

    // Groups, with and without members, sorted by name.
    for params in [
        vec![],
        vec![("excludedAttributes", "members")],
        vec![("sortBy", "displayName"), ("sortOrder", "descending")],
    ] {
        let (ids, total) = walk(&acme, "/Groups", &params, 3).await;
        assert_eq!(total, 10);
        assert_eq!(ids, all_ids(&acme, "/Groups", &params).await, "{params:?}");
        assert_eq!(once(&ids), groups.iter().cloned().collect());
    }

    // POST /.search: the same parameters in the body (RFC 9865 §3).
    for endpoint in ["/Users", "/Groups"] {
        let mut cursor = json!("");
        let mut ids = Vec::new();
        loop {
            let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                              "attributes": ["id"], "cursor": cursor, "count": 4});
            let (s, v) = acme.post(&format!("{endpoint}/.search"), body).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            ids.extend(page_ids(&v, 4));
            match v.get("nextCursor") {
                Some(next) => cursor = next.clone(),
                None => break,
            }
        }
        assert_eq!(ids, all_ids(&acme, endpoint, &[]).await, "{endpoint}");
    }

    // count=0: no resources, the total, and a cursor that starts the walk.
    let (s, v) = acme.get(&format!("/Users{}", q(&[("cursor", ""), ("count", "0")]))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["totalResults"].as_i64(), page_ids(&v, 0).len()), (Some(23), 0));
    let next = v["nextCursor"].as_str().unwrap();
    let (_, v) = acme.get(&format!("/Users{}", q(&[("cursor", next), ("count", "5")]))).await;
    assert_eq!(page_ids(&v, 5), all_ids(&acme, "/Users", &[]).await[..5].to_vec());

    // Index paging is unchanged and stays the default.
    let (_, v) = acme.get("/Users?count=5").await;
    assert_eq!((v["startIndex"].as_i64(), v.get("nextCursor")), (Some(1), None));
}

#[tokio::test]
async fn changes_between_pages_skip_or_repeat_nothing_else() {
    let app = app_with_orgs().await;
    let acme = app.scim("acme").await;
    let (users, _) = populate(&acme).await;
    let order = all_ids(&acme, "/Users", &[]).await;

    let page = |cursor: String| {
        let acme = &acme;
        async move {
            let (s, v) = acme.get(&format!("/Users{}", q(&[("cursor", &cursor), ("count", "4")]))).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            (page_ids(&v, 4), v.get("nextCursor").and_then(Value::as_str).map(String::from))
        }
    };
    let (first, next) = page(String::new()).await;
    assert_eq!(first, order[..4].to_vec());
    // Between pages: one seen user and one not yet seen are deleted, one is created.
    assert_eq!(acme.delete(&format!("/Users/{}", order[1])).await, StatusCode::NO_CONTENT);
    assert_eq!(acme.delete(&format!("/Users/{}", order[10])).await, StatusCode::NO_CONTENT);
    let created = acme.user("late@acme.com", "ext-late").await;
    let mut ids = first.clone();
    let mut cursor = next;
    while let Some(c) = cursor {
        let (p, n) = page(c).await;
        ids.extend(p);
        cursor = n;
    }
    let seen = once(&ids);
    for u in &users {
        let expected = *u != order[10];
        assert_eq!(seen.contains(u), expected, "{u} (deleted before its page: {})", *u == order[10]);
    }
    // The new user is seen (once) exactly when it sorts after the first page's
    // last row. Not simply "last": stored times trim trailing zeros
    // (`…:00.1Z` sorts after `…:00.123Z`), so creation order and text order
    // can differ within a second.
    let now = all_ids(&acme, "/Users", &[]).await;
    let at = |id: &String| now.iter().position(|x| x == id).unwrap();
    assert_eq!(seen.contains(&created), at(&created) > at(&first[3]), "{now:?}");
    assert_eq!(ids.iter().filter(|i| **i != created).cloned().collect::<Vec<_>>(), {
        let mut expected = first.clone();
        expected.extend(order[4..].iter().filter(|u| **u != order[10]).cloned());
        expected
    });
}

#[tokio::test]
async fn bad_cursors_are_refused_with_rfc_9865_errors() {
    let app = app_with_orgs().await;
    let acme = app.scim("acme").await;
    let globex = app.scim("globex").await;
    populate(&acme).await;
    globex.user("gina@globex.com", "ext-g").await;

    let first = |params: Vec<(&'static str, &'static str)>| {
        let acme = &acme;
        async move {
            let mut all = params;
            all.extend([("cursor", ""), ("count", "2")]);
            let (s, v) = acme.get(&format!("/Users{}", q(&all))).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v["nextCursor"].as_str().unwrap().to_string()
        }
    };
    let cursor = first(vec![]).await;
    let refused = |v: &Value, s: StatusCode, scim_type: &str| {
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["schemas"][0], ERROR, "{v}");
        assert_eq!(v["status"], "400", "{v}");
        assert_eq!(v["scimType"], scim_type, "{v}");
        v["detail"].as_str().unwrap().to_string()
    };

    // The cursor works as given.
    let (s, v) = get(&acme, "/Users", &[("cursor", &cursor), ("count", "2")]).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Tampered: one character changed, truncated, garbage.
    let mut bytes = cursor.clone().into_bytes();
    let mid = bytes.len() / 2;
    bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let (s, v) = get(&acme, "/Users", &[("cursor", &tampered)]).await;
    let invalid = refused(&v, s, "invalidCursor");
    assert!(invalid.contains("cursor"), "{invalid}");
    for junk in [&cursor[..cursor.len() - 3], "not-a-cursor", "%%%"] {
        let (s, v) = get(&acme, "/Users", &[("cursor", junk)]).await;
        assert_eq!(refused(&v, s, "invalidCursor"), invalid);
    }
    // Another org's cursor: the same answer as a forged one (nothing learnt of acme).
    let (s, v) = get(&globex, "/Users", &[("cursor", &cursor)]).await;
    assert_eq!(refused(&v, s, "invalidCursor"), invalid);
    // Another filter, sort or projection; another endpoint.
    for params in [
        vec![("filter", r#"userName sw "u""#)],
        vec![("sortBy", "userName")],
        vec![("sortOrder", "descending")],
        vec![("attributes", "userName")],
    ] {
        let mut all = params.clone();
        all.push(("cursor", &cursor));
        let (s, v) = get(&acme, "/Users", &all).await;
        assert_eq!(refused(&v, s, "invalidCursor"), invalid, "{params:?}");
    }
    let (s, v) = get(&acme, "/Groups", &[("cursor", &cursor)]).await;
    refused(&v, s, "invalidCursor");
    // …and a filtered walk's cursor without its filter.
    let filtered = first(vec![("filter", r#"userName sw "u""#)]).await;
    let (s, v) = get(&acme, "/Users", &[("cursor", &filtered)]).await;
    refused(&v, s, "invalidCursor");
    // By /.search too.
    let (s, v) = acme.post("/Users/.search", json!({"cursor": tampered})).await;
    refused(&v, s, "invalidCursor");

    // Expired: the server's own cursor, re-sealed with an expiry in the past
    // (the test holds the server's key), is refused as expired, not invalid.
    let sb =
        idbridge::secrets::SecretBox::load(Some(SECRET_KEY), std::path::Path::new("/nonexistent")).unwrap();
    let mut c = idbridge::scim::cursor::Cursor::open(&sb, &cursor).unwrap();
    assert!(c.expires > idbridge::clock::now().unix_timestamp() + 3500, "valid for cursorTimeout");
    c.expires = idbridge::clock::now().unix_timestamp() - 1;
    let expired = c.seal(&sb);
    let (s, v) = get(&acme, "/Users", &[("cursor", &expired), ("count", "2")]).await;
    let detail = refused(&v, s, "expiredCursor");
    assert!(detail.contains("3600"), "{detail}");
    // Re-sealed with a future expiry it is accepted again: only the expiry differed.
    c.expires += 120;
    let (s, v) = get(&acme, "/Users", &[("cursor", &c.seal(&sb)), ("count", "2")]).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // startIndex with cursor; count out of range with a cursor (RFC 9865 Table 3).
    let (s, v) = get(&acme, "/Users", &[("cursor", ""), ("startIndex", "1")]).await;
    refused(&v, s, "invalidValue");
    for count in ["1001", "-1", "ten"] {
        let (s, v) = get(&acme, "/Users", &[("cursor", ""), ("count", count)]).await;
        refused(&v, s, "invalidCount");
    }
    let (s, v) = acme.post("/Groups/.search", json!({"cursor": "", "count": 5000})).await;
    refused(&v, s, "invalidCount");
}

#[tokio::test]
async fn service_provider_config_advertises_pagination() {
    let app = app_with_orgs().await;
    let acme = app.scim("acme").await;
    let (s, v) = acme.get("/ServiceProviderConfig").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["pagination"],
        json!({"cursor": true, "index": true, "defaultPaginationMethod": "index",
               "defaultPageSize": 100, "maxPageSize": 1000, "cursorTimeout": 3600})
    );
}

/// On PostgreSQL (always, whatever engine the suite runs on) a cursor page in
/// the default order is one range scan of the partial list index from the
/// position, in order: no sort, no rows before the position read.
#[tokio::test]
async fn pg_cursor_pages_are_index_ranges() {
    use idbridge::store::scim_query::{After, Sort};
    let url = crate::support::postgres::fresh_database().await;
    tokio::task::spawn_blocking(move || {
        idbridge::store::pg::migrate_url(&url).unwrap();
        let mut c = idbridge::store::pg::connect(&url).unwrap();
        c.batch_execute(
            "INSERT INTO orgs (id, slug, name, created_at) VALUES ('org-1', 'o', 'O', 't');
             INSERT INTO users (id, org_id, origin, user_name, user_name_key, created_at, updated_at)
                 SELECT 'n' || i, 'org-1', 'scim', 'n' || i || '@x.com', 'n' || i || '@x.com',
                        to_char(i, 'FM000000'), 't'
                 FROM generate_series(1, 20000) AS i;
             ANALYZE users;",
        )
        .unwrap();
        let at = After { key: Some("015000".into()), id: "n15000".into() };
        for descending in [false, true] {
            let plan = idbridge::store::scim_sql_pg_testing::user_page_plan(
                &mut c,
                "org-1",
                Sort { by: None, descending },
                &at,
            )
            .unwrap()
            .join("\n");
            assert!(plan.contains("users_scim_list_idx"), "{plan}");
            // The position is where the index scan starts (an Index Cond), not a filter over every row.
            assert!(
                plan.lines().any(|l| l.contains("Index Cond") && l.contains("ROW(created_at, id)")),
                "{plan}"
            );
            // No sort: the NULL placement PostgreSQL needs on nullable columns is not
            // spelled on NOT NULL ones, so the index order is the list order.
            assert!(!plan.contains("Sort"), "{plan}");
        }
    })
    .await
    .unwrap();
}
