//! What one attribute, one stored resource and one list page may hold. SCIM
//! input is hostile until checked: without these bounds, megabyte strings are
//! stored on users and a page of 100 of them is a 200 MiB answer. Every write
//! (POST, PUT, the result of a PATCH, each Bulk operation) goes through
//! `normalize_user` / `normalize_group`, which call `check_resource` and
//! `check_stored_size`; lists stop adding resources at `MAX_PAGE_BYTES`.
//!
//! Secure defaults, far above what Okta and Entra send (Entra caps most
//! directory strings at 256–1,024 characters, userPrincipalName at 113;
//! Okta's profile strings at a few KiB), documented in docs/scim.md#limits:

use serde_json::{Map, Value};

use super::error::ScimError;

/// Any string value, anywhere in a resource.
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// Identifiers and names: userName, externalId, displayName, nickName, the
/// parts of `name`, `emails[].value`, enterprise employeeNumber and manager.
pub const MAX_NAME_BYTES: usize = 2 * 1024;
/// An attribute name (JSON key), extension schema URIs included.
pub const MAX_KEY_BYTES: usize = 256;
/// Values of one multi-valued attribute (any JSON array in a resource).
/// Group `members` are rows of their own and are not counted here.
pub const MAX_VALUES: usize = 1_000;
/// A stored resource: its JSON without id, meta, groups and member rows.
pub const MAX_RESOURCE_BYTES: usize = 256 * 1024;
/// A list page (RFC 7644 §3.4.2.4 lets the server return fewer than `count`):
/// resources stop being added when the page's rendered size would pass this.
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// Nesting of a resource (extension → complex → sub-attribute is 3).
pub const MAX_DEPTH: usize = 8;

/// Which attributes are identifiers or names, by their path with array
/// indexes removed and names lower-cased (`emails.value`).
fn is_name(path: &[String]) -> bool {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        [a] => matches!(*a, "username" | "externalid" | "displayname" | "nickname"),
        ["name", _] | ["emails", "value"] => true,
        [urn, a] | [urn, a, _] if urn.ends_with(":enterprise:2.0:user") => {
            matches!(*a, "employeenumber" | "manager")
        }
        _ => false,
    }
}

fn shown(path: &str) -> String {
    // A hostile key must not come back whole in the error message.
    if path.len() > 120 {
        let mut cut = 120;
        while !path.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &path[..cut])
    } else {
        path.to_string()
    }
}

fn invalid(detail: String) -> ScimError {
    ScimError::value(detail)
}

/// Check every attribute of a resource about to be stored (RFC 7644 §3.12:
/// 400 `invalidValue`, naming the attribute and the limit).
pub fn check_resource(resource: &str, obj: &Map<String, Value>) -> Result<(), ScimError> {
    // Iterative walk: (value, display path, normalised path, depth).
    let mut stack: Vec<(&Value, String, Vec<String>, usize)> = Vec::new();
    for (k, v) in obj {
        stack.push((v, k.clone(), vec![k.to_ascii_lowercase()], 1));
        if k.len() > MAX_KEY_BYTES {
            return Err(invalid(format!(
                "{resource} attribute name {:?} is {} bytes; at most {MAX_KEY_BYTES}",
                shown(k),
                k.len()
            )));
        }
    }
    while let Some((v, shown_path, path, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(invalid(format!(
                "{resource} attribute {} is nested {depth} levels deep; at most {MAX_DEPTH}",
                shown(&shown_path)
            )));
        }
        match v {
            Value::String(s) => {
                let limit = if is_name(&path) { MAX_NAME_BYTES } else { MAX_STRING_BYTES };
                if s.len() > limit {
                    return Err(invalid(format!(
                        "{resource} attribute {} is {} bytes; at most {limit}",
                        shown(&shown_path),
                        s.len()
                    )));
                }
            }
            Value::Array(items) => {
                if items.len() > MAX_VALUES {
                    return Err(invalid(format!(
                        "{resource} attribute {} has {} values; at most {MAX_VALUES}",
                        shown(&shown_path),
                        items.len()
                    )));
                }
                for (i, it) in items.iter().enumerate() {
                    stack.push((it, format!("{shown_path}[{i}]"), path.clone(), depth + 1));
                }
            }
            Value::Object(members) => {
                for (k, it) in members {
                    if k.len() > MAX_KEY_BYTES {
                        return Err(invalid(format!(
                            "{resource} attribute {} has a {}-byte member name; at most {MAX_KEY_BYTES}",
                            shown(&shown_path),
                            k.len()
                        )));
                    }
                    let mut p = path.clone();
                    p.push(k.to_ascii_lowercase());
                    stack.push((it, format!("{shown_path}.{k}"), p, depth + 1));
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    Ok(())
}

/// The stored JSON of a resource: 413 beyond `MAX_RESOURCE_BYTES` (also for a
/// PATCH whose result would pass it; nothing is changed).
pub fn check_stored_size(resource: &'static str, stored: &str) -> Result<(), ScimError> {
    if stored.len() > MAX_RESOURCE_BYTES {
        return Err(ScimError::TooLarge { resource, bytes: stored.len(), max: MAX_RESOURCE_BYTES });
    }
    Ok(())
}

/// Bytes a value takes rendered as JSON, counted without building the text.
pub fn rendered_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Writing into a counter cannot fail.
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// One list page being filled: at most `count` resources and, past the first,
/// at most `MAX_PAGE_BYTES` rendered.
pub struct Page {
    count: usize,
    max_bytes: usize,
    bytes: usize,
    full: bool,
    pub resources: Vec<Value>,
}

impl Page {
    pub fn new(count: i64) -> Page {
        Page::with_budget(count, MAX_PAGE_BYTES)
    }

    pub fn with_budget(count: i64, max_bytes: usize) -> Page {
        let count = usize::try_from(count).unwrap_or(0);
        Page { count, max_bytes, bytes: 0, full: count == 0, resources: Vec::new() }
    }

    /// No more resources will be taken.
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Offer the next resource; false once the page is full (stop reading).
    pub fn offer(&mut self, v: Value) -> bool {
        if self.full {
            return false;
        }
        let len = rendered_len(&v);
        if !self.resources.is_empty() && self.bytes + len > self.max_bytes {
            self.full = true;
            return false;
        }
        self.bytes += len;
        self.resources.push(v);
        self.full = self.resources.len() >= self.count;
        !self.full
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde_json::json;

    use super::*;
    use crate::scim::wire::WireError;

    fn check_resource(resource: &str, obj: &Map<String, Value>) -> Result<(), WireError> {
        super::check_resource(resource, obj).map_err(WireError::from)
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn strings_names_arrays_keys_and_depth_are_bounded() {
        let big = "x".repeat(MAX_STRING_BYTES + 1);
        let name = "n".repeat(MAX_NAME_BYTES + 1);
        let ok =
            obj(json!({"title": "x".repeat(MAX_STRING_BYTES), "displayName": "n".repeat(MAX_NAME_BYTES)}));
        assert!(check_resource("User", &ok).is_ok());
        let e = check_resource("User", &obj(json!({"title": big}))).unwrap_err();
        assert_eq!((e.status, e.scim_type), (StatusCode::BAD_REQUEST, Some("invalidValue")));
        assert!(e.detail.contains("title") && e.detail.contains("65536"), "{}", e.detail);
        let e = check_resource("User", &obj(json!({"emails": [{"value": name.clone()}]}))).unwrap_err();
        assert!(e.detail.contains("emails[0].value") && e.detail.contains("2048"), "{}", e.detail);
        let e = check_resource("User", &obj(json!({"Name": {"FamilyName": name}}))).unwrap_err();
        assert!(e.detail.contains("Name.FamilyName"), "{}", e.detail);
        let many: Vec<Value> = (0..=MAX_VALUES).map(|i| json!(i)).collect();
        let e = check_resource("User", &obj(json!({"roles": many}))).unwrap_err();
        assert!(e.detail.contains("roles") && e.detail.contains("1000"), "{}", e.detail);
        let key = "k".repeat(10_000);
        let e = check_resource("User", &obj(json!({key.clone(): 1}))).unwrap_err();
        assert!(e.detail.len() < 400, "the hostile key is not echoed whole");
        let e = check_resource("User", &obj(json!({"a": {"b": {"c": {key: 1}}}}))).unwrap_err();
        assert!(e.detail.contains("member name"));
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH {
            deep = json!([deep]);
        }
        assert!(check_resource("User", &obj(json!({"d": deep}))).is_err());
    }

    #[test]
    fn pages_stop_at_count_or_bytes_but_always_take_one() {
        let item = json!({"v": "x".repeat(100)});
        let len = rendered_len(&item);
        assert_eq!(len, item.to_string().len());
        let mut p = Page::with_budget(10, len * 3 + 1);
        let taken = (0..10).take_while(|_| p.offer(item.clone())).count();
        assert_eq!((taken, p.resources.len(), p.is_full()), (3, 3, true));
        let mut p = Page::with_budget(10, 1);
        assert!(p.offer(item.clone()), "one resource even over the budget");
        assert!(!p.offer(item.clone()));
        assert_eq!(p.resources.len(), 1);
        let mut p = Page::with_budget(2, usize::MAX);
        assert!(p.offer(item.clone()));
        assert!(!p.offer(item.clone()));
        assert!(Page::new(0).is_full());
    }
}
