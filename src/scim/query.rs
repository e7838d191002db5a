//! List requests: the query parameters (RFC 7644 §3.4.2), the filter
//! compiled to a parameterised WHERE clause (never string-formatted values) —
//! indexed columns here, every other attribute over the stored JSON in
//! filter_sql.rs — sorting, and attribute projection.

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;
use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{AttrPath, CompValue, CompareOp, Filter, Grammar, parse_filter};
use super::filter_sql::JsonFilter;
use super::schema::{Kind, MAX_RESULTS};

/// Parsed list parameters.
#[derive(Debug, Default)]
pub struct ListParams {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: i64,
    pub count: i64,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

fn paths(list: &str) -> Result<Vec<AttrPath>, ScimError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            AttrPath::parse(s).map_err(|e| ScimError::bad("invalidValue", format!("attribute {s:?}: {e}")))
        })
        .collect()
}

/// Read the list parameters (names case-insensitive) from a query string map
/// or a /.search body (strings, numbers accepted).
pub fn parse_params(raw: &HashMap<String, String>) -> Result<ListParams, ScimError> {
    let get = |name: &str| raw.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let mut p = ListParams { start_index: 1, count: 100, ..Default::default() };
    if let Some(f) = get("filter").filter(|f| !f.trim().is_empty()) {
        p.filter =
            Some(parse_filter(f).map_err(|e| ScimError::bad(e.scim_type(Grammar::Filter), e.to_string()))?);
    }
    if let Some(s) = get("startIndex") {
        let n: i64 =
            s.trim().parse().map_err(|_| ScimError::bad("invalidValue", "startIndex must be an integer"))?;
        // RFC 7644 §3.4.2.4: a value less than 1 is interpreted as 1.
        p.start_index = n.max(1);
    }
    if let Some(s) = get("count") {
        let n: i64 =
            s.trim().parse().map_err(|_| ScimError::bad("invalidValue", "count must be an integer"))?;
        // Negative is interpreted as 0; above the maximum, the maximum.
        p.count = n.clamp(0, MAX_RESULTS);
    }
    if let Some(s) = get("sortBy").filter(|s| !s.trim().is_empty()) {
        p.sort_by = Some(
            AttrPath::parse(s.trim()).map_err(|e| ScimError::bad("invalidValue", format!("sortBy: {e}")))?,
        );
    }
    if let Some(s) = get("sortOrder") {
        p.descending = match s.trim().to_ascii_lowercase().as_str() {
            "ascending" | "" => false,
            "descending" => true,
            other => return Err(ScimError::bad("invalidValue", format!("sortOrder {other:?}"))),
        };
    }
    if let Some(s) = get("attributes") {
        p.attributes = paths(s)?;
    }
    if let Some(s) = get("excludedAttributes") {
        p.excluded = paths(s)?;
    }
    Ok(p)
}

/// A compiled WHERE fragment and its bound values.
#[derive(Debug, Default)]
pub struct Sql {
    pub where_sql: String,
    pub args: Vec<SqlValue>,
}

enum Col {
    /// A text column; `fold` means it holds lowercased text (caseExact=false).
    /// Nullable columns are guarded with `IS NOT NULL` (see `compile_into`).
    Text(&'static str, bool),
    Bool(&'static str),
    /// Group membership by user id.
    Member,
}

fn is(path: &AttrPath, name: &str, sub: Option<&str>) -> bool {
    let urn_ok = match &path.urn {
        None => true,
        Some(u) => u.to_ascii_lowercase().starts_with("urn:ietf:params:scim:schemas:core:2.0:"),
    };
    urn_ok
        && path.attr.eq_ignore_ascii_case(name)
        && match (sub, &path.sub_attr) {
            (None, None) => true,
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
}

fn column(kind: Kind, path: &AttrPath) -> Option<Col> {
    let p = if kind == Kind::User { "u" } else { "g" };
    if is(path, "id", None) {
        return Some(Col::Text(if p == "u" { "u.id" } else { "g.id" }, false));
    }
    if is(path, "externalId", None) {
        return Some(Col::Text(if p == "u" { "u.external_id" } else { "g.external_id" }, false));
    }
    if is(path, "meta", Some("created")) {
        return Some(Col::Text(if p == "u" { "u.created_at" } else { "g.created_at" }, false));
    }
    if is(path, "meta", Some("lastModified")) {
        return Some(Col::Text(if p == "u" { "u.updated_at" } else { "g.updated_at" }, false));
    }
    match kind {
        Kind::User if is(path, "userName", None) => Some(Col::Text("u.user_name_key", true)),
        Kind::User if is(path, "active", None) => Some(Col::Bool("u.active")),
        Kind::Group if is(path, "displayName", None) => Some(Col::Text("g.display_name_key", true)),
        Kind::Group if is(path, "members", Some("value")) || is(path, "members", None) => Some(Col::Member),
        _ => None,
    }
}

/// Columns that may hold NULL (the others are NOT NULL in the schema).
fn nullable(c: &str) -> bool {
    c.ends_with("external_id")
}

fn compare(kind: Kind, path: &AttrPath, op: CompareOp, value: &CompValue, out: &mut Sql) -> Option<String> {
    let col = column(kind, path)?;
    let never = || "0".to_string();
    Some(match col {
        Col::Bool(c) => match (op, value) {
            (CompareOp::Eq, CompValue::Bool(b)) => format!("{c} = {}", i32::from(*b)),
            (CompareOp::Ne, CompValue::Bool(b)) => format!("{c} <> {}", i32::from(*b)),
            _ => never(),
        },
        Col::Member => match (op, value) {
            (CompareOp::Eq, CompValue::String(s)) => {
                out.args.push(SqlValue::Text(s.clone()));
                "EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.user_id = ?)".into()
            }
            _ => return None,
        },
        Col::Text(c, fold) => {
            let s = match value {
                CompValue::String(s) => {
                    if fold {
                        s.to_lowercase()
                    } else {
                        s.clone()
                    }
                }
                CompValue::Null => {
                    return Some(match op {
                        CompareOp::Eq => format!("{c} IS NULL"),
                        CompareOp::Ne => format!("{c} IS NOT NULL"),
                        _ => never(),
                    });
                }
                _ => return Some(never()),
            };
            let mut bind = |n: usize| {
                for _ in 0..n {
                    out.args.push(SqlValue::Text(s.clone()));
                }
            };
            match op {
                CompareOp::Eq => {
                    bind(1);
                    format!("{c} = ?")
                }
                CompareOp::Ne => {
                    bind(1);
                    format!("{c} <> ?")
                }
                CompareOp::Co => {
                    bind(1);
                    format!("instr({c}, ?) > 0")
                }
                CompareOp::Sw => {
                    bind(2);
                    format!("substr({c}, 1, length(?)) = ?")
                }
                CompareOp::Ew => {
                    bind(3);
                    format!("(length({c}) >= length(?) AND substr({c}, -length(?)) = ?)")
                }
                CompareOp::Gt => {
                    bind(1);
                    format!("{c} > ?")
                }
                CompareOp::Ge => {
                    bind(1);
                    format!("{c} >= ?")
                }
                CompareOp::Lt => {
                    bind(1);
                    format!("{c} < ?")
                }
                CompareOp::Le => {
                    bind(1);
                    format!("{c} <= ?")
                }
            }
        }
    })
}

/// A leaf (or value path) with no indexed column: over the stored JSON.
fn json_leaf(kind: Kind, f: &Filter, out: &mut Sql) -> Option<String> {
    let doc = if kind == Kind::User { "u.attributes" } else { "g.attributes" };
    let frag = JsonFilter::new(kind).root(f, doc)?;
    out.args.extend(frag.args);
    Some(frag.sql)
}

fn compile_into(kind: Kind, f: &Filter, out: &mut Sql) -> Option<String> {
    // Every leaf is made two-valued so NULL never leaks into NOT: an absent
    // attribute matches no comparison, and `not` of that is true. The guard
    // is a plain conjunct (`c IS NOT NULL AND c = ?`), which keeps the
    // equality usable by the (org_id, user_name_key)-style indexes.
    Some(match f {
        Filter::Compare { path, .. } | Filter::Present(path) if column(kind, path).is_none() => {
            return json_leaf(kind, f, out);
        }
        Filter::Compare { path, op, value } => {
            let expr = compare(kind, path, *op, value, out)?;
            match (column(kind, path)?, value) {
                (Col::Text(c, _), CompValue::String(_)) if nullable(c) => {
                    format!("({c} IS NOT NULL AND {expr})")
                }
                _ => format!("({expr})"),
            }
        }
        Filter::Present(path) => match column(kind, path)? {
            Col::Text(c, _) => format!("({c} IS NOT NULL AND {c} <> '')"),
            Col::Bool(_) => "1".into(),
            Col::Member => "EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id)".into(),
        },
        Filter::And(a, b) => format!("({} AND {})", compile_into(kind, a, out)?, compile_into(kind, b, out)?),
        Filter::Or(a, b) => format!("({} OR {})", compile_into(kind, a, out)?, compile_into(kind, b, out)?),
        Filter::Not(a) => format!("(NOT {})", compile_into(kind, a, out)?),
        Filter::ValuePath { path, filter } => {
            // members[value eq "id"] is the one value path on an indexed column.
            if kind == Kind::Group && is(path, "members", None) {
                if let Filter::Compare { path: inner, op: CompareOp::Eq, value: CompValue::String(s) } =
                    filter.as_ref()
                {
                    if inner.attr.eq_ignore_ascii_case("value") && inner.sub_attr.is_none() {
                        out.args.push(SqlValue::Text(s.clone()));
                        return Some(
                            "EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.user_id = ?)".into(),
                        );
                    }
                }
            }
            return json_leaf(kind, f, out);
        }
    })
}

/// The whole filter as SQL, or None when some part needs the in-memory evaluator.
pub fn compile(kind: Kind, f: &Filter) -> Option<Sql> {
    let mut out = Sql::default();
    out.where_sql = compile_into(kind, f, &mut out)?;
    Some(out)
}

/// ORDER BY for a sortBy (unknown attributes sort by creation), always with id as tie-break.
pub fn order_by(kind: Kind, sort: Option<&AttrPath>, descending: bool) -> String {
    let p = if kind == Kind::User { "u" } else { "g" };
    let col = sort.and_then(|s| {
        Some(match kind {
            _ if is(s, "id", None) => "id",
            _ if is(s, "externalId", None) => "external_id",
            _ if is(s, "meta", Some("lastModified")) => "updated_at",
            _ if is(s, "meta", Some("created")) => "created_at",
            Kind::User if is(s, "userName", None) => "user_name_key",
            Kind::User if is(s, "displayName", None) => "display_name",
            Kind::User if is(s, "name", Some("familyName")) => "family_name",
            Kind::User if is(s, "name", Some("givenName")) => "given_name",
            Kind::User if is(s, "emails", None) || is(s, "emails", Some("value")) => "email_key",
            Kind::Group if is(s, "displayName", None) => "display_name_key",
            _ => return None,
        })
    });
    let dir = if descending { "DESC" } else { "ASC" };
    match col {
        Some(c) => format!("{p}.{c} {dir}, {p}.id {dir}"),
        None => format!("{p}.created_at {dir}, {p}.id {dir}"),
    }
}

fn key_of(obj: &Map<String, Value>, name: &str) -> Option<String> {
    obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn container<'a>(
    resource: &'a mut Map<String, Value>,
    path: &AttrPath,
) -> Option<&'a mut Map<String, Value>> {
    match &path.urn {
        Some(u) if !u.to_ascii_lowercase().starts_with("urn:ietf:params:scim:schemas:core:") => {
            let k = key_of(resource, u)?;
            resource.get_mut(&k)?.as_object_mut()
        }
        _ => Some(resource),
    }
}

/// Apply `attributes` / `excludedAttributes` (RFC 7644 §3.9). `id` and
/// `schemas` are always returned.
pub fn project(resource: Value, attributes: &[AttrPath], excluded: &[AttrPath]) -> Value {
    let Value::Object(mut obj) = resource else { return resource };
    if !attributes.is_empty() {
        let mut out = Map::new();
        for keep in ["schemas", "id"] {
            if let Some(v) = obj.get(keep) {
                out.insert(keep.into(), v.clone());
            }
        }
        for path in attributes {
            let urn_key = path.urn.as_ref().and_then(|u| key_of(&obj, u));
            let (src, dst): (Option<&Map<String, Value>>, &mut Map<String, Value>) = match &urn_key {
                Some(k) => {
                    let src = obj.get(k).and_then(Value::as_object);
                    let dst = out.entry(k.clone()).or_insert_with(|| Value::Object(Map::new()));
                    match dst.as_object_mut() {
                        Some(d) => (src, d),
                        None => continue,
                    }
                }
                None => (Some(&obj), &mut out),
            };
            let Some(src) = src else { continue };
            let Some(k) = key_of(src, &path.attr) else { continue };
            match &path.sub_attr {
                None => {
                    dst.insert(k.clone(), src[&k].clone());
                }
                Some(sub) => {
                    let picked = match &src[&k] {
                        Value::Object(o) => key_of(o, sub).map(|sk| {
                            let mut m = dst.get(&k).and_then(Value::as_object).cloned().unwrap_or_default();
                            m.insert(sk.clone(), o[&sk].clone());
                            Value::Object(m)
                        }),
                        Value::Array(items) => Some(Value::Array(
                            items
                                .iter()
                                .filter_map(|it| {
                                    let o = it.as_object()?;
                                    let sk = key_of(o, sub)?;
                                    let mut m = Map::new();
                                    m.insert(sk.clone(), o[&sk].clone());
                                    Some(Value::Object(m))
                                })
                                .collect(),
                        )),
                        _ => None,
                    };
                    if let Some(v) = picked {
                        dst.insert(k, v);
                    }
                }
            }
        }
        // Drop extension objects that ended up empty.
        out.retain(|_, v| !matches!(v, Value::Object(m) if m.is_empty()));
        obj = out;
    }
    for path in excluded {
        if path.attr.eq_ignore_ascii_case("id") || path.attr.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let Some(c) = container(&mut obj, path) else { continue };
        let Some(k) = key_of(c, &path.attr) else { continue };
        match &path.sub_attr {
            None => {
                c.remove(&k);
            }
            Some(sub) => match c.get_mut(&k) {
                Some(Value::Object(o)) => {
                    if let Some(sk) = key_of(o, sub) {
                        o.remove(&sk);
                    }
                }
                Some(Value::Array(items)) => {
                    for it in items.iter_mut() {
                        if let Some(o) = it.as_object_mut() {
                            if let Some(sk) = key_of(o, sub) {
                                o.remove(&sk);
                            }
                        }
                    }
                }
                _ => {}
            },
        }
    }
    Value::Object(obj)
}

/// A ListResponse (RFC 7644 §3.4.2) of already-projected resources.
pub fn list_response(total: i64, start_index: i64, resources: Vec<Value>) -> Value {
    serde_json::json!({
        "schemas": [super::schema::LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// Whether `path` is excluded by the parameters (e.g. `members` on /Groups).
pub fn excludes(p: &ListParams, attr: &str) -> bool {
    p.excluded.iter().any(|x| x.urn.is_none() && x.sub_attr.is_none() && x.attr.eq_ignore_ascii_case(attr))
        || (!p.attributes.is_empty() && !p.attributes.iter().any(|x| x.attr.eq_ignore_ascii_case(attr)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sql(kind: Kind, f: &str) -> Option<(String, usize)> {
        let f = parse_filter(f).unwrap();
        compile(kind, &f).map(|s| (s.where_sql, s.args.len()))
    }

    #[test]
    fn indexed_filters_compile_with_bound_values() {
        let (w, n) = sql(Kind::User, r#"userName eq "Bjensen@Example.com""#).unwrap();
        assert_eq!((w.as_str(), n), ("(u.user_name_key = ?)", 1));
        let f = parse_filter(r#"userName eq "Bjensen@Example.com""#).unwrap();
        let s = compile(Kind::User, &f).unwrap();
        assert_eq!(s.args, vec![SqlValue::Text("bjensen@example.com".into())]);
        let (w, _) = sql(Kind::User, r#"externalId eq "x" and not (active eq false)"#).unwrap();
        assert_eq!(w, "((u.external_id IS NOT NULL AND u.external_id = ?) AND (NOT (u.active = 0)))");
        let (w, _) = sql(Kind::Group, r#"members[value eq "u1"] or displayName sw "Eng""#).unwrap();
        assert!(w.contains("EXISTS") && w.contains("substr(g.display_name_key"));
        // A value with a quote stays a bound value.
        let f = parse_filter(r#"userName eq "x' OR 1=1 --""#).unwrap();
        let s = compile(Kind::User, &f).unwrap();
        assert!(!s.where_sql.contains("OR 1=1"));
    }

    #[test]
    fn user_name_eq_uses_the_unique_index() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&mut conn).unwrap();
        let f = parse_filter(r#"userName eq "a@b.c""#).unwrap();
        let s = compile(Kind::User, &f).unwrap();
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT u.id FROM users u WHERE u.org_id = ? AND u.deleted = 0 AND ({})",
            s.where_sql
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
            let (w, _) = sql(Kind::User, f).unwrap_or_else(|| panic!("{f} not compiled"));
            assert!(w.contains("json_each(u.attributes)"), "{w}");
        }
        // Rendered attributes that are not stored in the JSON stay with the evaluator.
        assert!(sql(Kind::User, r#"groups.display eq "Eng""#).is_none());
        assert!(sql(Kind::User, r#"meta.resourceType eq "User""#).is_none());
        assert!(sql(Kind::Group, r#"members.display eq "x""#).is_none());
        assert!(sql(Kind::Group, r#"title pr"#).is_some());
    }

    #[test]
    fn params_are_clamped_and_checked() {
        let mut raw = HashMap::new();
        raw.insert("startIndex".to_string(), "0".to_string());
        raw.insert("COUNT".to_string(), "5000".to_string());
        let p = parse_params(&raw).unwrap();
        assert_eq!((p.start_index, p.count), (1, MAX_RESULTS));
        raw.insert("filter".to_string(), "userName eq".to_string());
        let e = parse_params(&raw).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidFilter"));
    }

    #[test]
    fn projection_keeps_id_and_schemas() {
        let r = json!({"schemas": ["s"], "id": "1", "userName": "a", "name": {"givenName": "A", "familyName": "B"},
                       "emails": [{"value": "a@b", "type": "work"}], "meta": {"created": "x"}});
        let p = project(r.clone(), &[AttrPath::new("name").with_sub("givenName")], &[]);
        assert_eq!(p, json!({"schemas": ["s"], "id": "1", "name": {"givenName": "A"}}));
        let p = project(r.clone(), &[], &[AttrPath::new("emails"), AttrPath::new("id")]);
        assert!(p.get("emails").is_none() && p["id"] == "1" && p["userName"] == "a");
        let p = project(r, &[AttrPath::new("emails").with_sub("value")], &[]);
        assert_eq!(p["emails"], json!([{"value": "a@b"}]));
    }
}
