//! Index paging (`startIndex`/`count`) page after page, as an IdP's import
//! walks a directory: a page that starts where the previous one ended is read
//! from the remembered position of that end (a keyset page) rather than by
//! walking OFFSET rows — and must return exactly what OFFSET would: the same
//! rows while nothing changes, OFFSET's answer again after any write.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::helpers::{Scim, spawn_app};

async fn ids(scim: &Scim<'_>, query: &str) -> Vec<String> {
    let (s, v) = scim.get(&format!("/Users?{query}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// Pages of 10 from `start`, in order, until a short page: the ids.
async fn walk(scim: &Scim<'_>, extra: &str, sort: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut start = 1;
    loop {
        let page = ids(scim, &format!("startIndex={start}&count=10{sort}{extra}")).await;
        let n = page.len();
        all.extend(page);
        if n < 10 {
            return all;
        }
        start += 10;
    }
}

/// Each page of 10 asked for out of order (last first), so no request starts
/// where another ended: every one is answered by OFFSET.
async fn cold(scim: &Scim<'_>, n: usize, sort: &str) -> Vec<String> {
    let mut pages = Vec::new();
    for start in (0..n.div_ceil(10)).rev() {
        pages.push(
            ids(scim, &format!("startIndex={}&count=10{sort}&attributes=userName", start * 10 + 1)).await,
        );
    }
    pages.into_iter().rev().flatten().collect()
}

#[tokio::test]
async fn sequential_index_pages_match_offset_pages() {
    let app = spawn_app().await;
    app.org("acme").await;
    let scim = app.scim("acme").await;
    let mut users = Vec::new();
    for i in 0..57 {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("u{:02}@acme.com", (i * 37) % 57), "active": true,
        });
        let (s, v): (StatusCode, Value) = scim.post("/Users", body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        users.push(v["id"].as_str().unwrap().to_string());
    }
    for sort in ["", "&sortBy=userName", "&sortBy=userName&sortOrder=descending"] {
        let walked = walk(&scim, "", sort).await;
        assert_eq!(walked.len(), 57, "{sort}");
        assert_eq!(walked, cold(&scim, 57, sort).await, "sequential pages = OFFSET pages ({sort})");
        // Twice more: now every page after the first starts at a remembered end.
        assert_eq!(walk(&scim, "", sort).await, walked, "{sort}");
    }

    // A write between pages: the remembered ends are forgotten, and the next
    // page is OFFSET's page over the new data (the rows after the deleted one
    // move up by one).
    let first = ids(&scim, "startIndex=1&count=10").await;
    ids(&scim, "startIndex=11&count=10").await;
    assert_eq!(scim.delete(&format!("/Users/{}", first[3])).await, StatusCode::NO_CONTENT);
    let third = ids(&scim, "startIndex=21&count=10").await;
    let reference = ids(&scim, "startIndex=21&count=10&attributes=userName").await;
    assert_eq!(third, reference, "after a write a page is OFFSET's page");
    let before_delete = walk(&scim, "&attributes=displayName", "").await;
    assert_eq!(before_delete.len(), 56);
    assert_eq!(third, before_delete[20..30].to_vec());
}

/// A group with more than 1,000 members is answered after its write commits
/// (pipeline::answer_after_commit); the answer is still the whole group with
/// the ETag of what it shows, small groups and large alike.
#[tokio::test]
async fn large_and_small_group_patches_answer_the_whole_group() {
    let app = spawn_app().await;
    app.org("acme").await;
    let scim = app.scim("acme").await;
    let mut users = Vec::new();
    for i in 0..1003 {
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("m{i}@acme.com")});
        let (s, v): (StatusCode, Value) = scim.post("/Users", body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        users.push(v["id"].as_str().unwrap().to_string());
    }
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    for (name, size) in [("small", 3usize), ("large", 1001)] {
        let id = scim.group(name, &refs[..size]).await;
        let add = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": users[1002]}]}]});
        let (s, v) = scim.patch(&format!("/Groups/{id}"), add).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let members = v["members"].as_array().unwrap_or_else(|| panic!("{v}"));
        assert_eq!(members.len(), size + 1, "{name}");
        assert!(members.iter().any(|m| m["value"] == users[1002].as_str()), "{name}");
        let (_, now) = scim.get(&format!("/Groups/{id}")).await;
        assert_eq!(v["meta"]["version"], now["meta"]["version"], "{name}");
    }
}
