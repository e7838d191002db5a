//! The SQL compilation of SCIM list queries (scim/compile.rs builds the
//! query, scim_sql.rs compiles it) is held to the reference evaluator
//! (scim/filter/eval.rs): for a set of users and groups with awkward
//! attribute shapes and many filters, the ids SQL selects are exactly the ids
//! the evaluator selects over the rendered resources. Also: the compiled SQL
//! of indexed filters, its bound values, and the query plan of a lookup.

use std::collections::BTreeSet;

use rusqlite::{Connection, params, params_from_iter};

use crate::store::sql::Value as Bound;
use serde_json::json;

use super::scim::{self as st, ScimGroupRow};
use super::scim_query::{Cond, UserCond};
use super::scim_sql::{Frag, Members, Table, compile};
use crate::scim::compile::{group_cond, user_cond};
use crate::scim::filter::{AttrPath, matches, parse_filter};
use crate::scim::resource::{group_resource, normalize_group, normalize_user, user_resource};
use crate::scim::schema::{Kind, case_exact};

#[path = "scim_query_fixtures.rs"]
mod fixtures;
use fixtures::{ENT, FILTERS, GROUP_FILTERS, groups, users};

const ORG: &str = "org-1";

fn setup() -> crate::store::MemoryDb {
    let mem = crate::store::MemoryDb::new();
    let conn = mem.raw();
    conn.execute("INSERT INTO orgs (id, slug, name, created_at) VALUES (?1, 'o', 'O', 'now')", params![ORG])
        .unwrap();
    mem
}

/// A bound value as the raw test connection takes it.
fn raw_value(v: &Bound<'_>) -> rusqlite::types::Value {
    use rusqlite::types::Value as Raw;
    match v {
        Bound::Null => Raw::Null,
        Bound::Int(i) => Raw::Integer(*i),
        Bound::Real(r) => Raw::Real(*r),
        Bound::Text(t) => Raw::Text(t.to_string()),
        Bound::Blob(b) => Raw::Blob(b.to_vec()),
    }
}

fn ids(conn: &Connection, table: &str, alias: &str, sql: &Frag) -> BTreeSet<String> {
    let extra = if table == "users" { " AND u.deleted = 0" } else { "" };
    let q =
        format!("SELECT {alias}.id FROM {table} {alias} WHERE {alias}.org_id = ?{extra} AND ({})", sql.sql);
    let mut all = vec![rusqlite::types::Value::Text(ORG.into())];
    all.extend(sql.args.iter().map(raw_value));
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
        let at = format!("2026-01-0{}T00:00:00.000Z", i + 1);
        super::users::insert_facts(&tx, ORG, &id, crate::model::Origin::Scim, &cols, (&at, &at)).unwrap();
        let row = st::get_user(&tx, ORG, &id).unwrap().unwrap();
        rendered.push((id, user_resource("http://x", &row, &[])));
    }
    let exact = |p: &AttrPath| case_exact(Kind::User, p);
    let mut nonempty = 0;
    for text in FILTERS {
        let f = parse_filter(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let sql = compile(&user_cond(&f).unwrap_or_else(|| panic!("{text} is not compiled to SQL")));
        let want: BTreeSet<String> =
            rendered.iter().filter(|(_, r)| matches(&f, r, &exact)).map(|(id, _)| id.clone()).collect();
        let got = ids(conn, "users", "u", &sql);
        assert_eq!(got, want, "filter {text}\nSQL {}", sql.sql);
        nonempty += usize::from(!want.is_empty() && want.len() < rendered.len());
    }
    assert!(nonempty > FILTERS.len() / 2, "most filters must split the set: {nonempty}");
}

#[test]
fn sql_selects_exactly_what_the_evaluator_selects_for_groups() {
    let mem = setup();
    let tx = mem.tx();
    let conn = mem.raw();
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
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-01T00:00:00.000Z".into(),
        };
        st::insert_group(&tx, ORG, &row).unwrap();
        rendered.push((row.id.clone(), group_resource("http://x", &row, Some(&[]))));
    }
    let exact = |p: &AttrPath| case_exact(Kind::Group, p);
    for text in GROUP_FILTERS {
        let f = parse_filter(text).unwrap();
        let sql = compile(&group_cond(&f).unwrap_or_else(|| panic!("{text} is not compiled to SQL")));
        let want: BTreeSet<String> =
            rendered.iter().filter(|(_, r)| matches(&f, r, &exact)).map(|(id, _)| id.clone()).collect();
        assert_eq!(ids(conn, "groups", "g", &sql), want, "filter {text}\nSQL {}", sql.sql);
    }
}

fn sql_of<C: Table, M: Members>(cond: Option<Cond<C, M>>) -> Option<(String, usize)> {
    cond.map(|c| compile(&c)).map(|s| (s.sql, s.args.len()))
}

fn user(f: &str) -> Option<(String, usize)> {
    sql_of(user_cond(&parse_filter(f).unwrap()))
}

fn group(f: &str) -> Option<(String, usize)> {
    sql_of(group_cond(&parse_filter(f).unwrap()))
}

#[test]
fn indexed_filters_compile_with_bound_values() {
    let (w, n) = user(r#"userName eq "Bjensen@Example.com""#).unwrap();
    assert_eq!((w.as_str(), n), ("(u.user_name_key = ?)", 1));
    let f = parse_filter(r#"userName eq "Bjensen@Example.com""#).unwrap();
    let s = compile(&user_cond(&f).unwrap());
    assert_eq!(s.args, vec![Bound::Text("bjensen@example.com".into())]);
    let (w, _) = user(r#"externalId eq "x" and not (active eq false)"#).unwrap();
    assert_eq!(w, "((u.external_id IS NOT NULL AND u.external_id = ?) AND (NOT (u.active = 0)))");
    let (w, _) = group(r#"members[value eq "u1"] or displayName sw "Eng""#).unwrap();
    assert!(w.contains("EXISTS") && w.contains("substr(g.display_name_key"));
    // A value with a quote stays a bound value.
    let f = parse_filter(r#"userName eq "x' OR 1=1 --""#).unwrap();
    let s = compile(&user_cond(&f).unwrap());
    assert!(!s.sql.contains("OR 1=1"));
}

#[test]
fn user_name_eq_uses_the_unique_index() {
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    crate::store::migrate::apply(&mut conn).unwrap();
    let f = parse_filter(r#"userName eq "a@b.c""#).unwrap();
    let s = compile(&user_cond(&f).unwrap());
    let sql = format!(
        "EXPLAIN QUERY PLAN SELECT u.id FROM users u WHERE u.org_id = ? AND u.deleted = 0 AND ({})",
        s.sql
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    let plan: Vec<String> = stmt
        .query_map(rusqlite::params!["o", "a@b.c"], |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(plan.iter().any(|p| p.contains("USING INDEX") && p.contains("user_name_key=?")), "{plan:?}");
}

#[test]
fn non_indexed_filters_compile_over_the_stored_json() {
    for f in [
        r#"emails[type eq "work" and value eq "a@b.c"]"#,
        "title pr",
        r#"userName eq "a" or title pr"#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x""#,
    ] {
        let (w, _) = user(f).unwrap_or_else(|| panic!("{f} not compiled"));
        assert!(w.contains("json_each(u.attributes)"), "{w}");
    }
    // Rendered attributes that are not stored in the JSON stay with the evaluator.
    assert!(user(r#"groups.display eq "Eng""#).is_none());
    assert!(user(r#"meta.resourceType eq "User""#).is_none());
    assert!(group(r#"members.display eq "x""#).is_none());
    assert!(group(r#"title pr"#).is_some());
}

#[test]
fn a_list_with_no_filter_selects_every_row() {
    let everything: UserCond = Cond::Always(true);
    assert_eq!(compile(&everything).sql, "1");
}

/// Listing an org's users in the default order (index paging, OFFSET, the
/// count of `totalResults`) walks the partial index of SCIM-visible users
/// alone (migration 0011), in index order: no table lookup per skipped row,
/// no sort.
#[test]
fn the_default_user_list_walks_the_scim_list_index() {
    let mut conn = Connection::open_in_memory().unwrap();
    crate::store::migrate::apply(&mut conn).unwrap();
    let plan = |sql: &str| -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        stmt.query_map(params!["o", 100, 200], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let visible = format!("u.org_id = ?1 AND u.deleted = 0 AND {} AND (1)", st::SCIM_VISIBLE);
    for descending in [false, true] {
        let order = super::scim_sql::user_order(super::scim_query::Sort { by: None, descending });
        let p = plan(&format!(
            "SELECT u.id, u.attributes FROM users u WHERE {visible} ORDER BY {order} LIMIT ?2 OFFSET ?3"
        ));
        assert!(p.iter().any(|l| l.contains("users_scim_list_idx")), "{p:?}");
        assert!(!p.iter().any(|l| l.contains("TEMP B-TREE")), "{p:?}");
    }
    let p = plan(&format!("SELECT count(*) FROM users u WHERE {visible} AND ?2 = ?2 AND ?3 = ?3"));
    assert!(p.iter().any(|l| l.contains("COVERING INDEX users_scim_list_idx")), "{p:?}");
}

/// A cursor page (RFC 9865) of users or groups in the default order resumes
/// with a row-value range of the list index: the plan searches the index from
/// the position (`(created_at,id)>(?,?)`), in order, with no sort and no
/// OFFSET walk, so a page deep in the list costs what the first one does.
#[test]
fn cursor_pages_are_index_ranges() {
    use super::scim_query::{After, GroupSort, Sort, UserSort};
    let mut conn = Connection::open_in_memory().unwrap();
    crate::store::migrate::apply(&mut conn).unwrap();
    let plan = |sql: &str, args: &[Bound<'static>]| -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        stmt.query_map(params_from_iter(args.iter().map(raw_value)), |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let text = |s: &str| Bound::Text(s.to_string().into());
    let at = After { key: Some("2026-01-01T00:00:00.000Z".into()), id: "x".into() };
    for descending in [false, true] {
        let sort = Sort { by: None, descending };
        let w = super::scim_sql::user_after(sort, &at);
        let order = super::scim_sql::user_order(sort);
        let sql = format!(
            "SELECT u.id, u.attributes FROM users u WHERE u.org_id = ? AND u.deleted = 0 AND {} AND (1) AND {}
             ORDER BY {order} LIMIT 101 OFFSET 0",
            st::SCIM_VISIBLE,
            w.sql
        );
        let mut args = vec![text("o")];
        args.extend(w.args);
        let p = plan(&sql, &args);
        assert!(
            p.iter().any(|l| l.contains("users_scim_list_idx") && l.contains("(created_at,id)")),
            "{p:?}"
        );
        assert!(!p.iter().any(|l| l.contains("TEMP B-TREE")), "{p:?}");

        let w = super::scim_sql::group_after(Sort::<GroupSort> { by: None, descending }, &at);
        let order = super::scim_sql::group_order(Sort { by: None, descending });
        let sql = format!(
            "SELECT g.id FROM groups g WHERE g.org_id = ? AND (1) AND {} ORDER BY {order} LIMIT 101 OFFSET 0",
            w.sql
        );
        let mut args = vec![text("o")];
        args.extend(w.args);
        let p = plan(&sql, &args);
        assert!(
            p.iter().any(|l| l.contains("groups_scim_list_idx") && l.contains("(created_at,id)")),
            "{p:?}"
        );
        assert!(!p.iter().any(|l| l.contains("TEMP B-TREE")), "{p:?}");
    }
    // Sorted by userName (unique per org): a range of the userName index.
    let sort = Sort { by: Some(UserSort::UserName), descending: false };
    let w = super::scim_sql::user_after(sort, &After { key: Some("ann@acme.com".into()), id: "x".into() });
    let sql = format!(
        "SELECT u.id FROM users u WHERE u.org_id = ? AND u.deleted = 0 AND {} AND (1) AND {} ORDER BY {} LIMIT 101",
        st::SCIM_VISIBLE,
        w.sql,
        super::scim_sql::user_order(sort)
    );
    let mut args = vec![text("o")];
    args.extend(w.args);
    let p = plan(&sql, &args);
    assert!(p.iter().any(|l| l.contains("user_name_key") && l.contains("SEARCH")), "{p:?}");
}

/// The keyset condition selects exactly the rows after the position in the
/// list's order, NULL keys included (smallest: first ascending, last
/// descending), on a nullable sort column.
#[test]
fn the_keyset_condition_follows_the_order_with_nulls() {
    use super::scim_query::{After, Sort, UserSort};
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE users (id TEXT, external_id TEXT)").unwrap();
    for (id, ext) in [("a", None), ("b", Some("k1")), ("c", None), ("d", Some("k1")), ("e", Some("k2"))] {
        conn.execute("INSERT INTO users VALUES (?1, ?2)", params![id, ext]).unwrap();
    }
    for descending in [false, true] {
        let sort = Sort { by: Some(UserSort::ExternalId), descending };
        let order = super::scim_sql::user_order(sort);
        let ids = |w: Option<&Frag>| -> Vec<(String, Option<String>)> {
            let sql = format!(
                "SELECT u.id, u.external_id FROM users u WHERE {} ORDER BY {order}",
                w.map_or("1", |w| w.sql.as_str())
            );
            let mut stmt = conn.prepare(&sql).unwrap();
            let args: Vec<Bound<'static>> = w.map(|w| w.args.clone()).unwrap_or_default();
            stmt.query_map(params_from_iter(args.iter().map(raw_value)), |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let all = ids(None);
        // After each row: exactly the rows that follow it.
        for (i, (id, key)) in all.iter().enumerate() {
            let w = super::scim_sql::user_after(sort, &After { key: key.clone(), id: id.clone() });
            assert_eq!(ids(Some(&w)), all[i + 1..].to_vec(), "after {id} ({descending})");
        }
    }
}
