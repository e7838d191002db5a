//! SCIM resources on the wire: normalising what a client sends (Entra and
//! Okta quirks included) into what is stored, and rendering stored rows with
//! `id`, `schemas`, `meta` (created, lastModified, location, version) and the
//! read-only `groups` / `members`.

use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::limits;
use super::schema::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use crate::model::User;
use crate::store::scim::ScimGroupRow;
use crate::store::users::UserFacts;

/// Longest userName / displayName accepted.
const MAX_NAME: usize = 512;

/// `W/"<version>"`.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

fn key_of(obj: &Map<String, Value>, name: &str) -> Option<String> {
    obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn take(obj: &mut Map<String, Value>, name: &str) -> Option<Value> {
    key_of(obj, name).and_then(|k| obj.remove(&k))
}

/// Entra sends booleans as "True"/"False".
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn require_schema(obj: &Map<String, Value>, schema: &str) -> Result<(), ScimError> {
    let ok = obj
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(schema))));
    if ok { Ok(()) } else { Err(ScimError::syntax(format!("schemas must include {schema}"))) }
}

fn string_field(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, ScimError> {
    match key_of(obj, name).map(|k| &obj[&k]) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ScimError::value(format!("{name} must be a string, got {other}"))),
    }
}

/// Normalise booleans given as strings inside multi-valued attributes (`primary`).
fn fix_primary(obj: &mut Map<String, Value>) {
    for (_, v) in obj.iter_mut() {
        if let Value::Array(items) = v {
            for it in items.iter_mut() {
                if let Some(o) = it.as_object_mut() {
                    if let Some(k) = key_of(o, "primary") {
                        if let Some(b) = as_bool(&o[&k]) {
                            o.insert(k, Value::Bool(b));
                        }
                    }
                }
            }
        }
    }
}

/// A user body (POST/PUT) → the stored JSON and its indexed columns.
/// `id`, `meta`, `schemas`, `groups` (read-only) and `password` (never
/// stored) are dropped.
pub fn normalize_user(body: Value) -> Result<UserFacts, ScimError> {
    let Value::Object(mut obj) = body else {
        return Err(ScimError::syntax("expected an object"));
    };
    require_schema(&obj, USER_SCHEMA)?;
    for drop in ["schemas", "id", "meta", "groups", "password"] {
        take(&mut obj, drop);
    }
    let user_name = string_field(&obj, "userName")?
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ScimError::value("userName is required"))?;
    if user_name.chars().count() > MAX_NAME || user_name.chars().any(char::is_control) {
        return Err(ScimError::value("userName is too long or has control characters"));
    }
    // Absent `active` means active; the stored JSON keeps whether the client set it.
    let active = match take(&mut obj, "active") {
        None | Some(Value::Null) => true,
        Some(v) => {
            let b =
                as_bool(&v).ok_or_else(|| ScimError::value(format!("active must be a boolean, got {v}")))?;
            obj.insert("active".into(), Value::Bool(b));
            b
        }
    };
    let external_id = string_field(&obj, "externalId")?;
    fix_primary(&mut obj);
    if let Some(ext_key) = key_of(&obj, ENTERPRISE_SCHEMA) {
        if let Some(ext) = obj.get_mut(&ext_key).and_then(Value::as_object_mut) {
            // Entra may send manager as a bare id string.
            if let Some(mk) = key_of(ext, "manager") {
                if let Value::String(s) = &ext[&mk] {
                    let v = json!({"value": s});
                    ext.insert(mk, v);
                }
            }
        }
    }
    // Canonical spellings for the indexed keys.
    for canon in ["userName", "externalId", "displayName", "name", "emails"] {
        if let Some(k) = key_of(&obj, canon) {
            if k != canon {
                if let Some(v) = obj.remove(&k) {
                    obj.insert(canon.into(), v);
                }
            }
        }
    }
    obj.insert("userName".into(), Value::String(user_name.clone()));
    let email = primary_email(&obj);
    let display_name = string_field(&obj, "displayName")?;
    let name = obj.get("name").and_then(Value::as_object);
    let given_name = name.and_then(|n| key_of(n, "givenName").and_then(|k| n[&k].as_str().map(String::from)));
    let family_name =
        name.and_then(|n| key_of(n, "familyName").and_then(|k| n[&k].as_str().map(String::from)));
    limits::check_resource("User", &obj)?;
    let attributes = Value::Object(obj).to_string();
    limits::check_stored_size("User", &attributes)?;
    Ok(UserFacts { user_name, external_id, email, display_name, given_name, family_name, active, attributes })
}

/// The primary email, else the work email, else the first.
fn primary_email(obj: &Map<String, Value>) -> Option<String> {
    let emails = obj.get("emails")?.as_array()?;
    let val = |e: &Value| {
        e.as_object().and_then(|o| key_of(o, "value").and_then(|k| o[&k].as_str().map(String::from)))
    };
    let field_is = |e: &Value, f: &str, want: &Value| {
        e.as_object().and_then(|o| key_of(o, f).map(|k| &o[&k] == want)).unwrap_or(false)
    };
    emails
        .iter()
        .find(|e| field_is(e, "primary", &Value::Bool(true)))
        .or_else(|| emails.iter().find(|e| field_is(e, "type", &json!("work"))))
        .or_else(|| emails.first())
        .and_then(val)
}

/// A stored user as a SCIM resource.
pub fn user_resource(base: &str, row: &User, groups: &[(String, String)]) -> Value {
    let mut obj: Map<String, Value> = serde_json::from_str(&row.attributes).unwrap_or_default();
    let mut schemas = vec![json!(USER_SCHEMA)];
    if key_of(&obj, ENTERPRISE_SCHEMA).is_some() {
        schemas.push(json!(ENTERPRISE_SCHEMA));
    }
    obj.insert("schemas".into(), Value::Array(schemas));
    obj.insert("id".into(), json!(row.id));
    obj.insert("userName".into(), json!(row.user_name));
    match &row.external_id {
        Some(e) => obj.insert("externalId".into(), json!(e)),
        None => obj.remove("externalId"),
    };
    // The column is authoritative; an `active` the client never set (or
    // removed) is omitted while the user is active.
    if !row.active || obj.contains_key("active") {
        obj.insert("active".into(), json!(row.active));
    }
    if !groups.is_empty() {
        let g: Vec<Value> = groups
            .iter()
            .map(|(id, name)| json!({"value": id, "display": name, "$ref": format!("{base}/Groups/{id}"), "type": "direct"}))
            .collect();
        obj.insert("groups".into(), Value::Array(g));
    }
    obj.insert(
        "meta".into(),
        json!({"resourceType": "User", "created": row.created_at, "lastModified": row.updated_at,
               "location": format!("{base}/Users/{}", row.id), "version": etag(row.version)}),
    );
    Value::Object(obj)
}

/// A group body (POST/PUT) → (displayName, externalId, stored JSON, member ids or None when absent).
pub type GroupInput = (String, Option<String>, String, Option<Vec<String>>);

pub fn normalize_group(body: Value) -> Result<GroupInput, ScimError> {
    let Value::Object(mut obj) = body else {
        return Err(ScimError::syntax("expected an object"));
    };
    require_schema(&obj, GROUP_SCHEMA)?;
    for drop in ["schemas", "id", "meta"] {
        take(&mut obj, drop);
    }
    let display_name = string_field(&obj, "displayName")?
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ScimError::value("displayName is required"))?;
    if display_name.chars().count() > MAX_NAME || display_name.chars().any(char::is_control) {
        return Err(ScimError::value("displayName is too long or has control characters"));
    }
    let external_id = string_field(&obj, "externalId")?;
    let members = match take(&mut obj, "members") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(member_values(&items)?),
        Some(other) => {
            return Err(ScimError::value(format!("members must be an array, got {other}")));
        }
    };
    if let Some(k) = key_of(&obj, "displayName") {
        obj.remove(&k);
    }
    obj.insert("displayName".into(), json!(display_name));
    limits::check_resource("Group", &obj)?;
    let attributes = Value::Object(obj).to_string();
    limits::check_stored_size("Group", &attributes)?;
    Ok((display_name, external_id, attributes, members))
}

/// The `value` of each `{"value": id}` member.
pub fn member_values(items: &[Value]) -> Result<Vec<String>, ScimError> {
    items
        .iter()
        .map(|m| {
            let v =
                m.as_object().and_then(|o| key_of(o, "value").and_then(|k| o[&k].as_str().map(String::from)));
            match v {
                Some(v) if v.len() > limits::MAX_NAME_BYTES => Err(ScimError::value(format!(
                    "member value is {} bytes; at most {}",
                    v.len(),
                    limits::MAX_NAME_BYTES
                ))),
                Some(v) => Ok(v),
                // The member is not echoed whole: it may be megabytes.
                None => Err(ScimError::value("member without a string value")),
            }
        })
        .collect()
}

/// A stored group as a SCIM resource; `members` None means not loaded (excluded).
pub fn group_resource(
    base: &str,
    row: &ScimGroupRow,
    members: Option<&[(String, String, Option<String>)]>,
) -> Value {
    let mut obj: Map<String, Value> = serde_json::from_str(&row.attributes).unwrap_or_default();
    obj.insert("schemas".into(), json!([GROUP_SCHEMA]));
    obj.insert("id".into(), json!(row.id));
    obj.insert("displayName".into(), json!(row.display_name));
    match &row.external_id {
        Some(e) => obj.insert("externalId".into(), json!(e)),
        None => obj.remove("externalId"),
    };
    if let Some(ms) = members {
        let list: Vec<Value> = ms
            .iter()
            .map(|(id, user_name, display)| {
                json!({"value": id, "display": display.clone().unwrap_or_else(|| user_name.clone()),
                       "$ref": format!("{base}/Users/{id}"), "type": "User"})
            })
            .collect();
        obj.insert("members".into(), Value::Array(list));
    }
    obj.insert(
        "meta".into(),
        json!({"resourceType": "Group", "created": row.created_at, "lastModified": row.updated_at,
               "location": format!("{base}/Groups/{}", row.id), "version": etag(row.version)}),
    );
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_user_body_is_normalised() {
        let body = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", "UserName": "Test_User@contoso.com",
            "active": "False", "password": "hunter2", "id": "client-chosen",
            "emails": [{"primary": "True", "type": "work", "value": "Test_User@contoso.com"}],
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            ENTERPRISE_SCHEMA: {"department": "Eng", "manager": "mgr-id"}
        });
        let c = normalize_user(body).unwrap();
        assert_eq!(c.user_name, "Test_User@contoso.com");
        assert!(!c.active);
        assert_eq!(c.email.as_deref(), Some("Test_User@contoso.com"));
        assert_eq!(c.given_name.as_deref(), Some("givenName"));
        let stored: Value = serde_json::from_str(&c.attributes).unwrap();
        assert!(stored.get("password").is_none() && stored.get("id").is_none());
        assert_eq!(stored["active"], false);
        assert_eq!(stored["emails"][0]["primary"], true);
        assert_eq!(stored[ENTERPRISE_SCHEMA]["manager"], json!({"value": "mgr-id"}));
        assert_eq!(stored["userName"], "Test_User@contoso.com");
    }

    #[test]
    fn bad_user_bodies_are_refused() {
        assert!(normalize_user(json!({"userName": "a"})).is_err(), "schemas required");
        assert!(normalize_user(json!({"schemas": [USER_SCHEMA]})).is_err());
        assert!(normalize_user(json!({"schemas": [USER_SCHEMA], "userName": "  "})).is_err());
        assert!(normalize_user(json!({"schemas": [USER_SCHEMA], "userName": 5})).is_err());
        assert!(
            normalize_user(json!({"schemas": [USER_SCHEMA], "userName": "a", "active": "maybe"})).is_err()
        );
    }

    #[test]
    fn group_body_members() {
        let (name, ext, _, members) =
            normalize_group(json!({"schemas": [GROUP_SCHEMA], "displayName": "Eng",
            "externalId": "g1", "members": [{"value": "u1"}, {"value": "u2", "display": "x"}]}))
            .unwrap();
        assert_eq!((name.as_str(), ext.as_deref()), ("Eng", Some("g1")));
        assert_eq!(members, Some(vec!["u1".to_string(), "u2".to_string()]));
        assert!(
            normalize_group(json!({"schemas": [GROUP_SCHEMA], "displayName": "E", "members": [{"v": 1}]}))
                .is_err()
        );
    }
}
