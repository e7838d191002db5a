//! Finding the values an attribute path names inside a SCIM resource held as JSON.
//!
//! - Attribute names match ASCII case-insensitively (RFC 7643 §2.1: "Attribute names are case
//!   insensitive"); an exact key wins over a case-folded one.
//! - A URI-qualified path looks inside the extension object keyed by that URI (RFC 7643 §3.3,
//!   e.g. `resource["urn:...:enterprise:2.0:User"]["employeeNumber"]`). A core schema URI
//!   (`urn:ietf:params:scim:schemas:core:...`) has no such object; its attributes are the
//!   top-level ones, so `urn:ietf:params:scim:schemas:core:2.0:User:userName` is `userName`.
//! - Multi-valued attributes are flattened one level: `emails.value` yields the `value` of
//!   every element. JSON `null` is "no value" (RFC 7643 §2.5: unassigned and null are the same)
//!   and is dropped.
//!
//! Nothing here recurses: lookups walk at most URI → attribute → sub-attribute.

use serde_json::Value;

use super::ast::AttrPath;

/// Prefix shared by the core schema URIs (`...:core:2.0:User`, `...:core:2.0:Group`).
pub const CORE_SCHEMA_PREFIX: &str = "urn:ietf:params:scim:schemas:core:";

/// Member `name` of `object`, exact key first, then ASCII case-insensitively.
pub fn member<'v>(object: &'v Value, name: &str) -> Option<&'v Value> {
    let map = object.as_object()?;
    map.get(name).or_else(|| map.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// The object whose members are the attributes of schema `urn` (`None`: unqualified).
pub fn schema_scope<'v>(context: &'v Value, urn: Option<&str>) -> Option<&'v Value> {
    let Some(urn) = urn else {
        return Some(context);
    };
    if let Some(extension) = member(context, urn) {
        return Some(extension);
    }
    let is_core =
        urn.get(..CORE_SCHEMA_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(CORE_SCHEMA_PREFIX));
    is_core.then_some(context)
}

/// Every non-null value `path` names in `context`, multi-valued attributes flattened.
pub fn values<'v>(context: &'v Value, path: &AttrPath) -> Vec<&'v Value> {
    let mut out = Vec::new();
    let Some(attr) = schema_scope(context, path.urn.as_deref()).and_then(|s| member(s, &path.attr)) else {
        return out;
    };
    match &path.sub_attr {
        None => flatten_into(attr, &mut out),
        Some(sub) => {
            let mut parents = Vec::new();
            flatten_into(attr, &mut parents);
            for parent in parents {
                if let Some(value) = member(parent, sub) {
                    flatten_into(value, &mut out);
                }
            }
        }
    }
    out
}

fn flatten_into<'v>(value: &'v Value, out: &mut Vec<&'v Value>) {
    match value {
        Value::Null => {}
        Value::Array(items) => out.extend(items.iter().filter(|item| !item.is_null())),
        other => out.push(other),
    }
}

/// RFC 7644 Table 3, `pr`: "If the attribute has a non-empty or non-null value, or if it
/// contains a non-empty node for complex attributes, there is a match." Empty strings, empty
/// arrays and objects whose members are all empty are not present; booleans and numbers are.
pub fn is_present(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.values().any(is_scalar_present),
        other => is_scalar_present(other),
    }
}

/// Presence without looking into objects: any object with a member counts. Keeps `is_present`
/// free of recursion over arbitrarily deep JSON.
fn is_scalar_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(|item| !item.is_null()),
        Value::Object(map) => !map.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn user() -> Value {
        json!({
            "userName": "bjensen",
            "UserType": "Employee",
            "title": "",
            "nickName": null,
            "name": {"familyName": "Jensen", "givenName": "Barbara"},
            "emails": [
                {"value": "bjensen@example.com", "type": "work"},
                {"value": "babs@jensen.org", "type": "home"},
                null
            ],
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            ENTERPRISE: {"employeeNumber": "701984", "manager": {"value": "26118915-6090"}}
        })
    }

    fn names(values: Vec<&Value>) -> Vec<Value> {
        values.into_iter().cloned().collect()
    }

    #[test]
    fn member_prefers_exact_then_folds_ascii_case() {
        let doc = json!({"userName": 1, "username": 2, "Title": 3});
        assert_eq!(member(&doc, "username"), Some(&json!(2)));
        assert_eq!(member(&doc, "USERNAME"), Some(&json!(1)));
        assert_eq!(member(&doc, "title"), Some(&json!(3)));
        assert_eq!(member(&doc, "missing"), None);
        assert_eq!(member(&json!("not an object"), "x"), None);
    }

    #[test]
    fn values_of_simple_complex_and_multi_valued_attributes() {
        let u = user();
        assert_eq!(names(values(&u, &AttrPath::new("USERNAME"))), vec![json!("bjensen")]);
        assert_eq!(names(values(&u, &AttrPath::new("userType"))), vec![json!("Employee")]);
        assert_eq!(names(values(&u, &AttrPath::new("name").with_sub("familyname"))), vec![json!("Jensen")]);
        assert_eq!(
            names(values(&u, &AttrPath::new("emails").with_sub("type"))),
            vec![json!("work"), json!("home")]
        );
        assert_eq!(values(&u, &AttrPath::new("emails")).len(), 2);
        assert_eq!(values(&u, &AttrPath::new("nickName")), Vec::<&Value>::new());
        assert_eq!(values(&u, &AttrPath::new("missing")), Vec::<&Value>::new());
        assert_eq!(values(&u, &AttrPath::new("userName").with_sub("x")), Vec::<&Value>::new());
    }

    #[test]
    fn urn_qualified_paths() {
        let u = user();
        let emp = AttrPath::new("employeeNumber").with_urn(ENTERPRISE);
        assert_eq!(names(values(&u, &emp)), vec![json!("701984")]);
        let lower = AttrPath::new("employeenumber").with_urn(ENTERPRISE.to_ascii_lowercase());
        assert_eq!(names(values(&u, &lower)), vec![json!("701984")]);
        let mgr = AttrPath::new("manager").with_urn(ENTERPRISE).with_sub("value");
        assert_eq!(names(values(&u, &mgr)), vec![json!("26118915-6090")]);
        let core = AttrPath::new("userName").with_urn("urn:ietf:params:scim:schemas:core:2.0:User");
        assert_eq!(names(values(&u, &core)), vec![json!("bjensen")]);
        let core_upper = AttrPath::new("userName").with_urn("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:User");
        assert_eq!(names(values(&u, &core_upper)), vec![json!("bjensen")]);
        // An extension attribute is not found at the top level, nor a core one in an extension.
        let wrong = AttrPath::new("userName").with_urn(ENTERPRISE);
        assert_eq!(values(&u, &wrong), Vec::<&Value>::new());
        let unknown = AttrPath::new("userName").with_urn("urn:example:other:1.0:User");
        assert_eq!(values(&u, &unknown), Vec::<&Value>::new());
    }

    #[test]
    fn presence() {
        assert!(is_present(&json!("x")));
        assert!(is_present(&json!(0)));
        assert!(is_present(&json!(false)));
        assert!(is_present(&json!(["a"])));
        assert!(is_present(&json!({"value": "a"})));
        assert!(is_present(&json!({"nested": {"k": 1}})));
        assert!(!is_present(&json!("")));
        assert!(!is_present(&json!(null)));
        assert!(!is_present(&json!([])));
        assert!(!is_present(&json!([null])));
        assert!(!is_present(&json!({})));
        assert!(!is_present(&json!({"value": "", "type": null, "list": []})));
    }
}
