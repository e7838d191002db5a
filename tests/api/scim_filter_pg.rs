//! SCIM filters compiled to PostgreSQL SQL (src/store/scim_sql_pg.rs) select
//! exactly what the reference evaluator (src/scim/filter/eval.rs) selects:
//! the users and groups of the shared fixtures (src/store/scim_query_fixtures.rs,
//! also run against SQLite by src/store/scim_query_tests.rs) are written to a
//! real, migrated PostgreSQL database, every filter is compiled and run there
//! with its values bound, and the ids it returns are compared with the ids
//! the evaluator matches over the rendered resources. Also: the string
//! function `scim_str_cmp` (migration postgres/0010) against Rust's own
//! lower-casing and ordering, the NULL placement of the orders, that
//! `userName eq` uses the unique index, and the migration's refusal without ICU.

use std::collections::BTreeSet;

use ::postgres::Client;
use serde_json::{Value, json};

use idbridge::model::{OrgId, Origin, User, UserId};
use idbridge::scim::compile::{group_cond, user_cond};
use idbridge::scim::filter::{AttrPath, matches, parse_filter};
use idbridge::scim::resource::{group_resource, normalize_group, normalize_user, user_resource};
use idbridge::scim::schema::{Kind, case_exact};
use idbridge::store::pg;
use idbridge::store::scim::ScimGroupRow;
use idbridge::store::scim_query::{Cond, GroupCond, GroupSort, Sort, UserCond, UserSort};
use idbridge::store::scim_sql_pg_testing as hook;

use crate::support::postgres::fresh_database;

#[path = "../../src/store/scim_query_fixtures.rs"]
mod fixtures;
use fixtures::{ENT, FILTERS, GROUP_FILTERS, groups, users};

const ORG: &str = "org-1";

/// Filters PostgreSQL answers as the evaluator does and SQLite does not:
/// an integer against a decimal literal compares as f64 in the evaluator
/// (9007199254740993 rounds to 9007199254740992.0), and SQLite compares an
/// INTEGER with a REAL exactly.
const PG_ONLY_FILTERS: &[&str] = &["x-big eq 9007199254740992.0", "x-big gt 9007199254740992.0"];

/// Run `f` where the blocking driver may run (never on the async runtime's threads).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// A fresh database with every PostgreSQL migration applied and the org.
async fn migrated() -> Client {
    let url = fresh_database().await;
    blocking(move || {
        pg::migrate_url(&url).unwrap();
        let mut c = pg::connect(&url).unwrap();
        c.execute("INSERT INTO orgs (id, slug, name, created_at) VALUES ($1, 'o', 'O', 't')", &[&ORG])
            .unwrap();
        c
    })
    .await
}

/// The fixture users, written as the store writes them (the columns of
/// store::users::insert_facts), read back, and rendered as SCIM serves them.
fn load_users(c: &mut Client) -> Vec<(String, Value)> {
    let mut rendered = Vec::new();
    for (i, mut body) in users().into_iter().enumerate() {
        body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENT]);
        let f = normalize_user(body).unwrap();
        let id = format!("u{i}");
        let at = format!("2026-01-0{}T00:00:00.000Z", i + 1);
        c.execute(
            "INSERT INTO users (id, org_id, origin, user_name, user_name_key, external_id, email, email_key,
                                display_name, given_name, family_name, active, attributes, created_at, updated_at)
             VALUES ($1, $2, 'scim', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
            &[
                &id,
                &ORG,
                &f.user_name,
                &f.user_name.to_lowercase(),
                &f.external_id,
                &f.email,
                &f.email.as_ref().map(|e| e.to_lowercase()),
                &f.display_name,
                &f.given_name,
                &f.family_name,
                &i64::from(f.active),
                &f.attributes,
                &at,
            ],
        )
        .unwrap();
        let r = c
            .query_one(
                "SELECT user_name, external_id, email, display_name, given_name, family_name, active, attributes,
                        created_at, updated_at, version FROM users WHERE id = $1",
                &[&id],
            )
            .unwrap();
        let user = User {
            id: UserId::new(id.clone()),
            org_id: OrgId::new(ORG),
            origin: Origin::Scim,
            user_name: r.get(0),
            external_id: r.get(1),
            email: r.get(2),
            display_name: r.get(3),
            given_name: r.get(4),
            family_name: r.get(5),
            active: r.get::<_, i64>(6) != 0,
            attributes: r.get(7),
            created_at: r.get(8),
            updated_at: r.get(9),
            version: r.get(10),
        };
        assert_eq!(user.attributes, f.attributes, "TEXT keeps the JSON as written");
        rendered.push((id, user_resource("http://x", &user, &[])));
    }
    rendered
}

/// Members of the fixture groups (by position), so `members` filters split them.
const MEMBERS: &[&[&str]] = &[&["u0", "u1"], &[], &[], &["u5"]];

fn load_groups(c: &mut Client, users: &[(String, Value)]) -> Vec<(String, Value)> {
    let mut rendered = Vec::new();
    for (i, mut body) in groups().into_iter().enumerate() {
        body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:Group"]);
        let (display_name, external_id, attributes, _) = normalize_group(body).unwrap();
        let row = ScimGroupRow {
            id: format!("g{i}"),
            display_name,
            external_id,
            attributes,
            version: 1,
            created_at: format!("2026-02-0{}T00:00:00.000Z", i + 1),
            updated_at: "2026-02-01T00:00:00.000Z".into(),
        };
        c.execute(
            "INSERT INTO groups (id, org_id, display_name, display_name_key, external_id, attributes, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &row.id,
                &ORG,
                &row.display_name,
                &row.display_name.to_lowercase(),
                &row.external_id,
                &row.attributes,
                &row.created_at,
                &row.updated_at,
            ],
        )
        .unwrap();
        let mut members = Vec::new();
        for m in MEMBERS.get(i).copied().unwrap_or_default() {
            c.execute("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)", &[&row.id, m])
                .unwrap();
            let user = &users.iter().find(|(id, _)| id == m).unwrap().1;
            let name = user["userName"].as_str().unwrap().to_string();
            let display = user["displayName"].as_str().map(str::to_string);
            members.push((m.to_string(), name, display));
        }
        rendered.push((row.id.clone(), group_resource("http://x", &row, Some(&members))));
    }
    rendered
}

fn by_creation<S>() -> Sort<S> {
    Sort { by: None, descending: false }
}

fn set(ids: Vec<String>) -> BTreeSet<String> {
    ids.into_iter().collect()
}

#[tokio::test]
async fn pg_sql_selects_exactly_what_the_evaluator_selects_for_users() {
    let mut c = migrated().await;
    blocking(move || {
        let rendered = load_users(&mut c);
        let exact = |p: &AttrPath| case_exact(Kind::User, p);
        let mut split = 0;
        for text in FILTERS.iter().chain(PG_ONLY_FILTERS) {
            let f = parse_filter(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let cond = user_cond(&f).unwrap_or_else(|| panic!("{text} is not compiled to SQL"));
            let want: BTreeSet<String> =
                rendered.iter().filter(|(_, r)| matches(&f, r, &exact)).map(|(id, _)| id.clone()).collect();
            let got =
                hook::user_ids(&mut c, ORG, &cond, by_creation()).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(set(got), want, "filter {text}\nSQL {}", hook::user_sql(&cond).0);
            split += usize::from(!want.is_empty() && want.len() < rendered.len());
        }
        assert!(split > FILTERS.len() / 2, "most filters must split the set: {split}");
    })
    .await;
}

#[tokio::test]
async fn pg_sql_selects_exactly_what_the_evaluator_selects_for_groups() {
    let mut c = migrated().await;
    blocking(move || {
        let users = load_users(&mut c);
        let rendered = load_groups(&mut c, &users);
        let exact = |p: &AttrPath| case_exact(Kind::Group, p);
        let membership =
            ["members pr", "not (members pr)", r#"members[value eq "u5"]"#, r#"members eq "u1""#];
        let mut split = 0;
        for text in GROUP_FILTERS.iter().chain(&membership) {
            let f = parse_filter(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let cond = group_cond(&f).unwrap_or_else(|| panic!("{text} is not compiled to SQL"));
            let want: BTreeSet<String> =
                rendered.iter().filter(|(_, r)| matches(&f, r, &exact)).map(|(id, _)| id.clone()).collect();
            let got =
                hook::group_ids(&mut c, ORG, &cond, by_creation()).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(set(got), want, "filter {text}");
            split += usize::from(!want.is_empty() && want.len() < rendered.len());
        }
        assert!(split > GROUP_FILTERS.len() / 2, "most filters must split the set: {split}");
    })
    .await;
}

/// Rust's semantics of `scim_str_cmp` (src/store/functions.rs, eval.rs).
fn rust_cmp(op: &str, actual: &str, wanted: &str, exact: bool) -> bool {
    let (a, w) = if exact {
        (actual.to_string(), wanted.to_string())
    } else {
        (actual.to_lowercase(), wanted.to_lowercase())
    };
    match op {
        "eq" => a == w,
        "ne" => a != w,
        "co" => a.contains(&w),
        "sw" => a.starts_with(&w),
        "ew" => a.ends_with(&w),
        "gt" => a > w,
        "ge" => a >= w,
        "lt" => a < w,
        "le" => a <= w,
        _ => false,
    }
}

#[tokio::test]
async fn pg_scim_str_cmp_lower_cases_and_orders_as_rust() {
    let mut c = migrated().await;
    blocking(move || {
        let words = [
            "",
            "a",
            "A",
            "b",
            "B",
            "z",
            "Z",
            "é",
            "É",
            "e\u{301}",
            "école",
            "ÉCOLE",
            "Ecole",
            "straße",
            "STRASSE",
            "strasse",
            "ẞ",
            "ß",
            "İ",
            "i\u{307}",
            "i",
            "I",
            "ı",
            "İstanbul",
            "istanbul",
            "ΣΑΣ",
            "σας",
            "σασ",
            "Σ",
            "σ",
            "ς",
            "ΣΑΣ ΣΑΣ.",
            "ὈΔΥΣΣΕΎΣ",
            "\u{212A}",
            "k",
            "K",
            "Ǆ",
            "ǆ",
            "ǅ",
            "東京",
            "😀",
            "Ω",
            "\u{2126}",
            "ﬁ",
            "FI",
            "ǰ",
            "J\u{30C}",
            "Ａ",
            "ａ",
            "x\u{7f}",
            "Ⅻ",
            "ⅻ",
        ];
        let ops = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "xx"];
        let stmt = c.prepare("SELECT scim_str_cmp($1, $2, $3, $4)").unwrap();
        let mut checked = 0;
        let mut folded_differs = 0;
        for a in words {
            for w in words {
                for op in ops {
                    for exact in [false, true] {
                        let got: bool = c.query_one(&stmt, &[&op, &a, &w, &exact]).unwrap().get(0);
                        assert_eq!(
                            got,
                            rust_cmp(op, a, w, exact),
                            "scim_str_cmp({op}, {a:?}, {w:?}, {exact})"
                        );
                        checked += 1;
                        folded_differs += usize::from(!exact && got != rust_cmp(op, a, w, true));
                    }
                }
            }
        }
        assert!(checked > 50_000 && folded_differs > 1_000, "{checked} {folded_differs}");
        // Never NULL: NOT of a comparison stays two-valued.
        let null: bool = c.query_one("SELECT scim_str_cmp('eq', NULL, 'a', false)", &[]).unwrap().get(0);
        assert!(!null);
    })
    .await;
}

#[tokio::test]
async fn pg_orders_put_nulls_where_sqlite_does() {
    let mut c = migrated().await;
    blocking(move || {
        let rendered = load_users(&mut c);
        let everyone: UserCond = Cond::Always(true);
        for (by, key) in [(UserSort::ExternalId, "externalId"), (UserSort::DisplayName, "displayName")] {
            for descending in [false, true] {
                // SQLite's order: NULL smallest, then code points, ties by id.
                let mut want: Vec<(Option<String>, String)> = rendered
                    .iter()
                    .map(|(id, r)| (r[key].as_str().map(str::to_string), id.clone()))
                    .collect();
                want.sort();
                if descending {
                    want.reverse();
                }
                let want: Vec<String> = want.into_iter().map(|(_, id)| id).collect();
                let got = hook::user_ids(&mut c, ORG, &everyone, Sort { by: Some(by), descending }).unwrap();
                assert_eq!(got, want, "{key} descending={descending}");
            }
        }
        let groups = load_groups(&mut c, &rendered);
        let everything: GroupCond = Cond::Always(true);
        for descending in [false, true] {
            let mut want: Vec<(Option<String>, String)> = groups
                .iter()
                .map(|(id, r)| (r["externalId"].as_str().map(str::to_string), id.clone()))
                .collect();
            want.sort();
            if descending {
                want.reverse();
            }
            let want: Vec<String> = want.into_iter().map(|(_, id)| id).collect();
            let sort = Sort { by: Some(GroupSort::ExternalId), descending };
            assert_eq!(
                hook::group_ids(&mut c, ORG, &everything, sort).unwrap(),
                want,
                "descending={descending}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn pg_user_name_eq_is_a_bound_value_and_uses_the_unique_index() {
    let mut c = migrated().await;
    blocking(move || {
        let cond = user_cond(&parse_filter(r#"userName eq "Bjensen@Example.com""#).unwrap()).unwrap();
        let (sql, args) = hook::user_sql(&cond);
        assert_eq!(sql, "(u.user_name_key = ?::text)");
        assert_eq!(args, [r#"Text("bjensen@example.com")"#]);
        let evil = user_cond(&parse_filter(r#"userName eq "x' OR 1=1 --""#).unwrap()).unwrap();
        assert!(!hook::user_sql(&evil).0.contains("OR 1=1"));
        // An org of some size, with statistics, so the plan is the one a real org gets.
        c.batch_execute(
            "INSERT INTO users (id, org_id, origin, user_name, user_name_key, created_at, updated_at)
                 SELECT 'n' || i, 'org-1', 'scim', 'n' || i || '@x.com', 'n' || i || '@x.com', 't', 't'
                 FROM generate_series(1, 5000) AS i;
             ANALYZE users;",
        )
        .unwrap();
        let plan = hook::user_plan(&mut c, ORG, &cond).unwrap().join("\n");
        assert!(plan.contains("users_user_name_unique"), "{plan}");
    })
    .await;
}

#[tokio::test]
async fn pg_migration_0010_refuses_a_server_without_icu() {
    let url = fresh_database().await;
    blocking(move || {
        let mut c = pg::connect(&url).unwrap();
        // Collations are per database: this one now looks like a server built without ICU.
        c.batch_execute(r#"DROP COLLATION pg_catalog."und-x-icu""#).unwrap();
        let err = pg::migrate_url(&url).unwrap_err().to_string();
        assert!(
            err.contains("0010_scim_str_cmp") && err.contains("needs PostgreSQL built with ICU"),
            "{err}"
        );
    })
    .await;
}
