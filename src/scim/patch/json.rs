//! Small helpers over `serde_json` maps: case-insensitive member lookup that keeps the stored
//! spelling, SCIM's notion of an unassigned value, and value equality that honours `caseExact`.

use serde_json::{Map, Value};

/// How a value is described in error evidence: its JSON type, never its content.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(items) if items.is_empty() => "an empty array",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The key of `map` that names attribute `name`: the exact key if present, else the first key
/// equal to it ASCII case-insensitively (RFC 7643 §2.1). Returned owned so the caller can go on
/// to mutate `map`.
pub fn find_key(map: &Map<String, Value>, name: &str) -> Option<String> {
    if map.contains_key(name) {
        return Some(name.to_string());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// Member `name` of `map`, found case-insensitively.
pub fn get_ci<'m>(map: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
    map.get(name).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// Sets attribute `name` to `value`, keeping the stored key's spelling when one exists and using
/// `canonical` for a new key.
pub fn set_ci(map: &mut Map<String, Value>, name: &str, canonical: &str, value: Value) {
    let key = find_key(map, name).unwrap_or_else(|| canonical.to_string());
    map.insert(key, value);
}

/// Removes attribute `name`, found case-insensitively.
pub fn remove_ci(map: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let key = find_key(map, name)?;
    map.remove(&key)
}

/// RFC 7643 §2.5: "Unassigned attributes, the null value, or empty array (in the case of a
/// multi-valued attribute) SHALL be considered to be equivalent in "state"". An empty complex
/// value counts too: it has no sub-attribute to hold a value.
pub fn is_unassigned(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::Array(items)) => items.iter().all(Value::is_null),
        Some(Value::Object(map)) => map.values().all(Value::is_null),
        Some(_) => false,
    }
}

/// The value a complex value stands for when compared as a whole: its `value` sub-attribute
/// (RFC 7644 §3.4.2.2 compares `emails` through `emails.value`); a simple value stands for itself.
pub fn implied(value: &Value) -> Option<&Value> {
    match value {
        Value::Object(map) => get_ci(map, "value"),
        Value::Null => None,
        other => Some(other),
    }
}

/// Whether two simple values are equal; strings compare after Unicode lower-casing unless
/// `case_exact` (RFC 7643 §2.2).
pub fn same_simple(a: &Value, b: &Value, case_exact: bool) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) if !case_exact => x == y || x.to_lowercase() == y.to_lowercase(),
        _ => a == b,
    }
}

/// Merges sub-attributes of `incoming` into `target` (RFC 7644 §3.5.2.3: sub-attributes "not
/// specified in the "value" parameter are left unchanged"). A `null` sub-attribute is removed
/// (RFC 7643 §2.5). `canonical` spells a sub-attribute the target does not have yet.
pub fn merge_into(
    target: &mut Map<String, Value>,
    incoming: Map<String, Value>,
    canonical: &dyn Fn(&str) -> String,
) {
    for (key, value) in incoming {
        if value.is_null() {
            remove_ci(target, &key);
        } else {
            set_ci(target, &key, &canonical(&key), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn lookups_prefer_exact_keys_and_keep_stored_spelling() {
        let mut m = obj(json!({"NickName": "a", "title": "t", "Title": "T"}));
        assert_eq!(find_key(&m, "nickname").as_deref(), Some("NickName"));
        assert_eq!(find_key(&m, "Title").as_deref(), Some("Title"));
        assert_eq!(get_ci(&m, "NICKNAME"), Some(&json!("a")));
        set_ci(&mut m, "nickname", "nickName", json!("b"));
        set_ci(&mut m, "LOCALE", "locale", json!("en"));
        assert_eq!(
            Value::Object(m.clone()),
            json!({"NickName": "b", "title": "t", "Title": "T", "locale": "en"})
        );
        assert_eq!(remove_ci(&mut m, "NICKNAME"), Some(json!("b")));
        assert_eq!(remove_ci(&mut m, "missing"), None);
    }

    #[test]
    fn unassigned_and_implied_values() {
        assert!(is_unassigned(None) && is_unassigned(Some(&json!(null))));
        assert!(is_unassigned(Some(&json!([]))) && is_unassigned(Some(&json!([null]))));
        assert!(is_unassigned(Some(&json!({}))) && is_unassigned(Some(&json!({"value": null}))));
        assert!(!is_unassigned(Some(&json!(""))) && !is_unassigned(Some(&json!(false))));
        assert_eq!(implied(&json!({"Value": "x", "type": "work"})), Some(&json!("x")));
        assert_eq!(implied(&json!("x")), Some(&json!("x")));
        assert_eq!(implied(&json!({"type": "work"})), None);
        assert!(same_simple(&json!("ÉMILE@x"), &json!("émile@x"), false));
        assert!(!same_simple(&json!("A"), &json!("a"), true));
        assert!(!same_simple(&json!("1"), &json!(1), false));
    }

    #[test]
    fn merge_sets_removes_and_respells() {
        let mut target = obj(json!({"GivenName": "B", "familyName": "J", "formatted": "B J"}));
        let incoming = obj(json!({"givenname": "Babs", "middleName": "M", "formatted": null}));
        merge_into(&mut target, incoming, &|k| {
            if k == "middlename" { "middleName".into() } else { k.into() }
        });
        assert_eq!(Value::Object(target), json!({"GivenName": "Babs", "familyName": "J", "middleName": "M"}));
    }
}
