//! List requests: the query parameters (RFC 7644 §3.4.2), the ListResponse,
//! and attribute projection. The filter becomes a store query in compile.rs.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{AttrPath, Filter, parse_filter};
use super::schema::{DEFAULT_PAGE_SIZE, MAX_RESULTS};

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
    /// RFC 9865 cursor paging: `Some("")` asks for the first page, else the
    /// `nextCursor` of a previous page; None: index paging (`startIndex`).
    pub cursor: Option<String>,
}

fn paths(list: &str) -> Result<Vec<AttrPath>, ScimError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| AttrPath::parse(s).map_err(|e| ScimError::value(format!("attribute {s:?}: {e}"))))
        .collect()
}

/// Read the list parameters (names case-insensitive) from a query string map
/// or a /.search body (strings, numbers accepted).
pub fn parse_params(raw: &HashMap<String, String>) -> Result<ListParams, ScimError> {
    let get = |name: &str| raw.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let mut p = ListParams { start_index: 1, count: DEFAULT_PAGE_SIZE, ..Default::default() };
    if let Some(f) = get("filter").filter(|f| !f.trim().is_empty()) {
        p.filter = Some(parse_filter(f).map_err(ScimError::Filter)?);
    }
    if let Some(c) = get("cursor") {
        // RFC 9865 §2.4: the parameter a request carries selects the method;
        // both at once has no meaning, and guessing one would hand a client
        // pages it did not ask for.
        if get("startIndex").is_some() {
            return Err(ScimError::value(
                "startIndex (index paging) and cursor (cursor paging, RFC 9865) cannot be combined; send one",
            ));
        }
        p.cursor = Some(c.trim().to_string());
    }
    if let Some(s) = get("startIndex") {
        let n: i64 = s.trim().parse().map_err(|_| ScimError::value("startIndex must be an integer"))?;
        // RFC 7644 §3.4.2.4: a value less than 1 is interpreted as 1.
        p.start_index = n.max(1);
    }
    if let Some(s) = get("count") {
        let n = s.trim().parse::<i64>();
        p.count = match (&p.cursor, n) {
            // RFC 9865 Table 3: with cursors, a count outside 0..=maxPageSize is `invalidCount`.
            (Some(_), Ok(n)) if (0..=MAX_RESULTS).contains(&n) => n,
            (Some(_), _) => return Err(ScimError::InvalidCount { sent: shown(s), max: MAX_RESULTS }),
            // RFC 7644 §3.4.2.4 (index paging): negative is interpreted as 0;
            // above the maximum, the maximum.
            (None, Ok(n)) => n.clamp(0, MAX_RESULTS),
            (None, Err(_)) => return Err(ScimError::value("count must be an integer")),
        };
    }
    if let Some(s) = get("sortBy").filter(|s| !s.trim().is_empty()) {
        p.sort_by = Some(AttrPath::parse(s.trim()).map_err(|e| ScimError::value(format!("sortBy: {e}")))?);
    }
    if let Some(s) = get("sortOrder") {
        p.descending = match s.trim().to_ascii_lowercase().as_str() {
            "ascending" | "" => false,
            "descending" => true,
            other => return Err(ScimError::value(format!("sortOrder {other:?}"))),
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

/// A client's value as quoted back in an error, cut short.
fn shown(s: &str) -> String {
    s.chars().take(40).collect()
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
    let mut out = serde_json::json!({
        "schemas": [super::schema::LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
    });
    // Moved in, not through json!, which would serialise the page into a copy.
    out["Resources"] = Value::Array(resources);
    out
}

/// A cursor-paged ListResponse (RFC 9865 §2): no `startIndex` (pages have
/// no index); `nextCursor` on every page but the last.
pub fn cursor_list_response(total: i64, resources: Vec<Value>, next: Option<String>) -> Value {
    let mut v = serde_json::json!({
        "schemas": [super::schema::LIST_SCHEMA],
        "totalResults": total,
        "itemsPerPage": resources.len(),
    });
    v["Resources"] = Value::Array(resources);
    if let (Some(next), Some(o)) = (next, v.as_object_mut()) {
        o.insert("nextCursor".into(), Value::String(next));
    }
    v
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

    #[test]
    fn params_are_clamped_and_checked() {
        let mut raw = HashMap::new();
        raw.insert("startIndex".to_string(), "0".to_string());
        raw.insert("COUNT".to_string(), "5000".to_string());
        let p = parse_params(&raw).unwrap();
        assert_eq!((p.start_index, p.count), (1, MAX_RESULTS));
        raw.insert("filter".to_string(), "userName eq".to_string());
        let e = crate::scim::wire::WireError::from(parse_params(&raw).unwrap_err());
        assert_eq!(e.scim_type, Some("invalidFilter"));
    }

    #[test]
    fn cursor_params_follow_rfc_9865() {
        let raw = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let p = parse_params(&raw(&[("cursor", "")])).unwrap();
        assert_eq!((p.cursor.as_deref(), p.count), (Some(""), DEFAULT_PAGE_SIZE));
        assert_eq!(parse_params(&raw(&[])).unwrap().cursor, None);
        let e = |pairs: &[(&str, &str)]| {
            crate::scim::wire::WireError::from(parse_params(&raw(pairs)).unwrap_err())
        };
        assert_eq!(e(&[("cursor", ""), ("startIndex", "1")]).scim_type, Some("invalidValue"));
        for bad in ["1001", "-1", "x"] {
            let w = e(&[("cursor", ""), ("count", bad)]);
            assert_eq!((w.status.as_u16(), w.scim_type), (400, Some("invalidCount")), "{bad}");
        }
        assert_eq!(parse_params(&raw(&[("cursor", "c"), ("count", "0")])).unwrap().count, 0);
        // Index paging keeps RFC 7644's clamping.
        assert_eq!(parse_params(&raw(&[("count", "1001")])).unwrap().count, MAX_RESULTS);
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
