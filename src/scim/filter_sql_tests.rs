//! The SQL compilation of filters (query.rs columns, filter_sql.rs JSON) is
//! held to the reference evaluator (filter/eval.rs): for a set of users and
//! groups with awkward attribute shapes and many filters, the ids SQL selects
//! are exactly the ids the evaluator selects over the rendered resources.

use std::collections::BTreeSet;

use rusqlite::{Connection, params, params_from_iter};
use serde_json::{Value, json};

use super::filter::{matches, parse_filter};
use super::query::compile;
use super::resource::{group_resource, normalize_group, normalize_user, user_resource};
use super::schema::{Kind, case_exact};
use crate::store::scim::{self as st, ScimGroupRow};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ORG: &str = "org-1";

fn users() -> Vec<Value> {
    vec![
        json!({"userName": "bjensen@example.com", "externalId": "e1", "active": true, "title": "Tour Guide",
               "displayName": "Babs Jensen", "nickName": "Babs", "userType": "Employee",
               "name": {"givenName": "Barbara", "familyName": "Jensen", "middleName": ""},
               "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                          {"value": "babs@jensen.org", "type": "home"}],
               "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
               "x-score": 42, "x-ratio": 2.5, "x-flag": true,
               ENT: {"employeeNumber": "701984", "department": "Tour Operations",
                     "manager": {"value": "26118915-6090", "displayName": "John Smith"}}}),
        json!({"userName": "ÉMILE@exemple.fr", "active": false, "title": "", "displayName": "Émile Zola",
               "name": {"givenName": "Émile", "familyName": "Zola"},
               "emails": [{"value": "Emile@Exemple.FR", "type": "Work"}, null],
               "x-score": 7, "x-flag": false, "x-tags": ["a", "b", null], "x-empty": [],
               ENT: {"department": "tour operations", "manager": "m-2"}}),
        json!({"userName": "Title-Case@example.com", "active": true, "Title": "Engineer",
               "NAME": {"FamilyName": "Upper"}, "EMAILS": [{"VALUE": "upper@example.com", "TYPE": "work"}],
               "x-nested": [["x"], [null]], "x-obj-empty": {"k": "", "l": null}, "x-obj": {"k": "v"},
               "x-looks-like-json": "{\"value\": \"x\"}", "x-num-string": "42",
               "urn:example:custom:1.0:User": {"title": "Custom"}}),
        json!({"userName": "min@example.com", "active": true, "title": null, "emails": [],
               "addresses": [{"type": "work", "locality": "Hollywood", "primary": true},
                             {"type": "home", "locality": "Paris"}],
               "x-score": -3, "x-big": 9007199254740993u64,
               "roles": ["admin", {"value": "Auditor", "primary": true}],
               "ims": {"value": "single-object", "type": "aim"}}),
        json!({"userName": "nobody@example.com", "active": true}),
    ]
}

const FILTERS: &[&str] = &[
    "title pr",
    "not (title pr)",
    r#"title eq "tour guide""#,
    r#"title ne "Tour Guide""#,
    r#"title co "GUIDE" or title sw "eng""#,
    r#"title ew "neer""#,
    r#"title gt "M" and title lt "z""#,
    "title eq null",
    "title ne null",
    "Title pr",
    "displayName pr",
    r#"displayName sw "é""#,
    r#"displayName co "zola""#,
    "nickName pr and userType pr",
    "name pr",
    "name.middleName pr",
    r#"name.familyName sw "j""#,
    r#"name.familyName eq "UPPER""#,
    r#"name.givenName eq "émile""#,
    r#"name[givenName eq "barbara"]"#,
    "emails pr",
    r#"emails co "example""#,
    r#"emails eq "EMILE@exemple.fr""#,
    r#"emails.value ew ".org""#,
    r#"emails.type eq "work""#,
    r#"emails.type ne "work""#,
    r#"emails[type eq "work" and value co "example"]"#,
    r#"emails[type eq "work" and primary eq true]"#,
    r#"emails[not (type eq "home")]"#,
    "emails[primary pr]",
    r#"emails[value pr] and not (emails[type eq "home"])"#,
    "phoneNumbers pr or addresses pr",
    r#"addresses[type eq "work" and locality eq "hollywood"]"#,
    r#"addresses.locality gt "M""#,
    r#"roles eq "ADMIN""#,
    r#"roles eq "auditor""#,
    "roles.primary eq true",
    r#"ims eq "single-object""#,
    r#"ims.type eq "AIM""#,
    "x-score gt 10",
    "x-score ge 7 and x-score le 42",
    "x-score lt 0",
    "x-score eq 42.0",
    "x-score ne 7",
    "x-ratio gt 2",
    "x-big gt 9007199254740992",
    r#"x-score eq "42" or x-num-string eq 42"#,
    r#"x-score co "4""#,
    "x-flag eq true",
    "x-flag eq false",
    "x-flag ne true",
    "x-flag pr",
    r#"x-tags eq "b""#,
    r#"x-tags ne "a""#,
    "x-tags pr and x-empty pr",
    "x-empty eq null",
    "x-nested pr",
    "x-obj-empty pr",
    "x-obj pr",
    r#"x-obj eq "v""#,
    r#"x-looks-like-json eq "x" or x-looks-like-json co "value""#,
    r#"x-looks-like-json[value eq "x"]"#,
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"TOUR OPERATIONS\"",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber pr",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"26118915-6090\"",
    // manager.value is caseExact (RFC 7643 §4.3).
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"M-2\"",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr",
    r#"urn:example:custom:1.0:User:title eq "custom""#,
    r#"urn:ietf:params:scim:schemas:core:2.0:User:title co "o""#,
    r#"userName sw "b" or title pr"#,
    r#"active eq true and emails[type eq "work"]"#,
    r#"externalId eq "e1" or name.familyName pr"#,
    r#"not (userName eq "nobody@example.com") and not (title pr)"#,
    "missing pr or missing.sub pr",
    r#"missing eq "x" or missing ne "x""#,
];

fn setup() -> crate::store::MemoryDb {
    let mem = crate::store::MemoryDb::new();
    let conn = mem.raw();
    conn.execute("INSERT INTO orgs (id, slug, name, created_at) VALUES (?1, 'o', 'O', 'now')", params![ORG])
        .unwrap();
    mem
}

fn ids(conn: &Connection, table: &str, alias: &str, sql: &super::query::Sql) -> BTreeSet<String> {
    let extra = if table == "users" { " AND u.deleted = 0" } else { "" };
    let q = format!(
        "SELECT {alias}.id FROM {table} {alias} WHERE {alias}.org_id = ?{extra} AND ({})",
        sql.where_sql
    );
    let mut all = vec![rusqlite::types::Value::Text(ORG.into())];
    all.extend(sql.args.iter().cloned());
    let mut stmt = conn.prepare(&q).unwrap_or_else(|e| panic!("{e}: {q}"));
    stmt.query_map(params_from_iter(all), |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

#[test]
fn sql_selects_exactly_what_the_evaluator_selects_for_users() {
    let mem = setup();
    let tx = mem.tx();
    let conn = mem.raw();
    let mut rendered = Vec::new();
    for (i, mut body) in users().into_iter().enumerate() {
        body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENT]);
        let cols = normalize_user(body).unwrap();
        let id = format!("u{i}");
        st::insert_user(&tx, ORG, &id, &cols, &format!("2026-01-0{}T00:00:00.000Z", i + 1)).unwrap();
        let row = st::get_user(&tx, ORG, &id).unwrap().unwrap();
        rendered.push((id, user_resource("http://x", &row, &[])));
    }
    let exact = |p: &super::filter::AttrPath| case_exact(Kind::User, p);
    let mut nonempty = 0;
    for text in FILTERS {
        let f = parse_filter(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let sql = compile(Kind::User, &f).unwrap_or_else(|| panic!("{text} is not compiled to SQL"));
        let want: BTreeSet<String> =
            rendered.iter().filter(|(_, r)| matches(&f, r, &exact)).map(|(id, _)| id.clone()).collect();
        let got = ids(conn, "users", "u", &sql);
        assert_eq!(got, want, "filter {text}\nSQL {}", sql.where_sql);
        nonempty += usize::from(!want.is_empty() && want.len() < rendered.len());
    }
    assert!(nonempty > FILTERS.len() / 2, "most filters must split the set: {nonempty}");
}

#[test]
fn sql_selects_exactly_what_the_evaluator_selects_for_groups() {
    let mem = setup();
    let tx = mem.tx();
    let conn = mem.raw();
    let bodies = [
        json!({"displayName": "Engineering", "externalId": "g-1", "description": "Builds", "x-size": 3}),
        json!({"displayName": "Ops", "Description": "", "labels": [{"value": "oncall", "type": "Team"}]}),
        json!({"displayName": "Empty"}),
    ];
    let mut rendered = Vec::new();
    for (i, mut body) in bodies.into_iter().enumerate() {
        body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:Group"]);
        let (display_name, external_id, attributes, _) = normalize_group(body).unwrap();
        let row = ScimGroupRow {
            id: format!("g{i}"),
            display_name,
            external_id,
            attributes,
            version: 1,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-01T00:00:00.000Z".into(),
        };
        st::insert_group(&tx, ORG, &row).unwrap();
        rendered.push((row.id.clone(), group_resource("http://x", &row, Some(&[]))));
    }
    let exact = |p: &super::filter::AttrPath| case_exact(Kind::Group, p);
    for text in [
        "description pr",
        r#"description co "BUILD""#,
        "x-size gt 2",
        r#"labels[type eq "team"]"#,
        r#"labels eq "oncall" or displayName eq "empty""#,
        r#"not (description pr) and displayName sw "e""#,
    ] {
        let f = parse_filter(text).unwrap();
        let sql = compile(Kind::Group, &f).unwrap_or_else(|| panic!("{text} is not compiled to SQL"));
        let want: BTreeSet<String> =
            rendered.iter().filter(|(_, r)| matches(&f, r, &exact)).map(|(id, _)| id.clone()).collect();
        assert_eq!(ids(conn, "groups", "g", &sql), want, "filter {text}\nSQL {}", sql.where_sql);
    }
}
