//! Issue 9, item 13: filters on attributes without an indexed column (`title
//! pr`, `name.familyName sw`, value paths, the enterprise extension) answer
//! exactly, with paging, on an org of a few thousand users — compiled to SQL
//! over the stored JSON, or (rendered attributes such as `groups`) streamed
//! once through the evaluator.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::helpers::spawn_app;

const USERS: usize = 3_000;
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn body(i: usize) -> Value {
    let mut u = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "userName": format!("user{i:05}@example.com"), "active": true,
        "name": {"givenName": format!("G{i}"), "familyName": format!("Fam{}", i % 50)},
        "emails": [{"value": format!("user{i:05}@example.com"), "type": if i % 4 == 0 { "work" } else { "home" }}],
        ENT: {"department": format!("Dept{}", i % 7)}
    });
    if i % 3 == 0 {
        u["title"] = json!(format!("Engineer {i}"));
    } else if i % 3 == 1 {
        u["title"] = json!("");
    }
    u
}

/// Page through `filter` with `count`, checking every page; returns the userNames.
async fn all_pages(
    scim: &crate::support::helpers::Scim<'_>,
    filter: &str,
    count: usize,
) -> (i64, BTreeSet<String>) {
    let mut seen = BTreeSet::new();
    let mut start = 1;
    let mut total = None;
    loop {
        let url = format!(
            "/Users?filter={}&startIndex={start}&count={count}&attributes=userName",
            urlencode(filter)
        );
        let (s, v) = scim.get(&url).await;
        assert_eq!(s, StatusCode::OK, "{filter}: {v}");
        let t = v["totalResults"].as_i64().unwrap();
        assert_eq!(*total.get_or_insert(t), t, "{filter}: totalResults is stable across pages");
        let items = v["Resources"].as_array().unwrap();
        assert_eq!(v["itemsPerPage"].as_u64().unwrap() as usize, items.len());
        assert_eq!(v["startIndex"].as_u64().unwrap() as usize, start);
        for r in items {
            assert!(seen.insert(r["userName"].as_str().unwrap().to_string()), "{filter}: duplicate {r}");
        }
        if items.is_empty() {
            break;
        }
        assert!(items.len() <= count);
        start += items.len();
    }
    (total.unwrap_or(0), seen)
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn names(pred: impl Fn(usize) -> bool) -> BTreeSet<String> {
    (0..USERS).filter(|i| pred(*i)).map(|i| format!("user{i:05}@example.com")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_indexed_filters_page_exactly_over_a_large_org() {
    let app = spawn_app().await;
    let org = app.org("bigorg").await;
    let scim = app.scim(&org).await;
    let mut tasks = tokio::task::JoinSet::new();
    let (client, url, token) = (app.client.clone(), scim.url("/Users"), scim.token.clone());
    for chunk in 0..32 {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        tasks.spawn(async move {
            for i in (chunk..USERS).step_by(32) {
                let r = client.post(&url).bearer_auth(&token).json(&body(i)).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    // Members of a group, for a filter on the rendered `groups` attribute.
    let (_, v) = scim.get("/Users?filter=userName%20sw%20%22user0000%22&count=20").await;
    let member_ids: Vec<&str> =
        v["Resources"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(member_ids.len(), 10);
    scim.group("Pilots", &member_ids).await;

    let cases: Vec<(&str, BTreeSet<String>)> = vec![
        ("title pr", names(|i| i % 3 == 0)),
        ("not (title pr)", names(|i| i % 3 != 0)),
        (r#"title sw "engineer 1""#, names(|i| i % 3 == 0 && i.to_string().starts_with('1'))),
        (r#"name.familyName eq "fam7""#, names(|i| i % 50 == 7)),
        (r#"name.familyName sw "Fam1""#, names(|i| (i % 50).to_string().starts_with('1'))),
        (r#"emails[type eq "work" and value co "6@"]"#, names(|i| i % 4 == 0 && i % 10 == 6)),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"DEPT3\"",
            names(|i| i % 7 == 3),
        ),
        (r#"title pr and userName ew "5@example.com""#, names(|i| i % 3 == 0 && i % 10 == 5)),
        // Rendered attributes: the evaluator, streamed once over the org.
        (r#"groups.display eq "pilots""#, names(|i| i < 10)),
        (
            r#"groups.display eq "pilots" or title sw "Engineer 299""#,
            names(|i| i < 10 || (i % 3 == 0 && i.to_string().starts_with("299"))),
        ),
    ];
    for (filter, want) in cases {
        assert!(!want.is_empty(), "{filter}");
        let (total, got) = all_pages(&scim, filter, 100).await;
        assert_eq!(total as usize, want.len(), "{filter}: totalResults");
        assert_eq!(got, want, "{filter}");
    }
    // count=0 answers the total alone; a start past the end answers no resources.
    let (_, v) = scim.get(&format!("/Users?filter={}&count=0", urlencode("title pr"))).await;
    assert_eq!((v["totalResults"].as_i64(), v["itemsPerPage"].as_i64()), (Some(1000), Some(0)));
    let (_, v) = scim.get(&format!("/Users?filter={}&startIndex=5000", urlencode("title pr"))).await;
    assert_eq!((v["totalResults"].as_i64(), v["itemsPerPage"].as_i64()), (Some(1000), Some(0)));
    // Sorting applies to SQL-compiled non-indexed filters too.
    let (_, v) = scim
        .get(&format!("/Users?filter={}&sortBy=userName&sortOrder=descending&count=3", urlencode("title pr")))
        .await;
    let top: Vec<&str> =
        v["Resources"].as_array().unwrap().iter().map(|r| r["userName"].as_str().unwrap()).collect();
    assert_eq!(top, ["user02997@example.com", "user02994@example.com", "user02991@example.com"]);
}
