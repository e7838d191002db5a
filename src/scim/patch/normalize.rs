//! The edge: turn a PATCH body as Okta or Entra sends it into a `PatchRequest`.
//!
//! Quirks rewritten here (each recorded as a `Quirk`):
//! - `schemas` missing: RFC 7644 §3.5.2 requires it, but a body with an `Operations` array is
//!   unambiguous, so it is accepted. `schemas` present without the PatchOp URN is refused: that
//!   body says it is something else (a SCIM 1.1-style PUT body, say).
//! - `Operations` in another capitalisation (`operations`): accepted, as are `op`, `path` and
//!   `value` in any capitalisation (RFC 7643 §2.1 makes attribute names case-insensitive).
//! - `op` as `Add`/`Replace`/`Remove` (Entra): matched case-insensitively.
//! - `"True"`/`"False"` (any case) for `active` and for any `primary` sub-attribute (Entra
//!   before `aadOptscim062020`): become booleans. Other strings are left for `apply` to refuse.
//! - Path-less values with dotted keys (`"name.givenName"`) or schema-qualified keys
//!   (`"urn:...:enterprise:2.0:User:employeeNumber"`, Entra with `aadOptscim062020`): nested
//!   into `{"name": {"givenName": ...}}` and `{"urn:...:enterprise:2.0:User": {...}}`; a core
//!   schema prefix is dropped. The same attribute given twice is refused (`DuplicateKey`).
//! - `manager` as a bare id or as a one-element array (Entra's `"op": "Add", "path": "manager",
//!   "value": [{"$ref": ..., "value": ...}]`): becomes `{"value": ...}` / the element. An empty
//!   id (`""`, `{"value": ""}`, `[]`) becomes `null`, which clears the manager.
//! - Path-less values with a value-path key (`"emails[type eq \"work\"].value": ...`, Entra):
//!   the key cannot be nested, so it becomes an operation of its own with that key as its path
//!   (`Quirk::PathKey`). If the same object also sets that attribute (`"emails": [...]`), the
//!   request is refused (`DuplicateKey`): which one wins would be a guess.
//! - A password (`path: "password"`, or a `password` key in a path-less value, as Okta's
//!   password sync sends): dropped and reported; an operation left empty is dropped whole.
//!
//! How a key of a path-less value is read: a known extension URN (`KNOWN_EXTENSIONS`) is an
//! extension object; `<known URN>:attr` is that extension's attribute; any other `urn:...` key is
//! an extension object when its last segment starts with a capital letter and its value is an
//! object (schema URNs end in a resource type such as `User`; attribute names are camelCase),
//! and an attribute otherwise.

use serde_json::{Map, Value};

use super::super::filter::{AttrPath, FilterError, PatchPath, parse_patch_path};
use super::error::PatchError;
use super::json::{find_key, get_ci, type_name};
use super::path_keys::{clashes, split_value_paths};
use super::request::{MAX_OPERATIONS, OpKind, PATCH_OP_SCHEMA, PatchOp, PatchRequest, Quirk};
use super::schema::{ENTERPRISE_USER_URN, KNOWN_EXTENSIONS, is_core_urn};

/// Reads a PATCH body, checks its envelope, parses every path and rewrites the client quirks
/// listed in the module documentation. Nothing is applied; see `apply`.
pub fn normalize_request(body: Value) -> Result<PatchRequest, PatchError> {
    let Value::Object(mut body) = body else {
        return Err(PatchError::BodyNotObject { found: type_name(&body) });
    };
    let mut quirks = Vec::new();
    let ops_key = find_key(&body, "Operations").ok_or(PatchError::MissingOperations)?;
    let raw_ops = match body.remove(&ops_key) {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(other) => return Err(PatchError::BadOperations { found: type_name(&other) }),
        None => return Err(PatchError::MissingOperations),
    };
    // RFC 7644 §3.5.2: "The body of each request MUST contain the "schemas" attribute with the
    // URI value of "urn:ietf:params:scim:api:messages:2.0:PatchOp"". Lenient when absent only.
    match get_ci(&body, "schemas") {
        None => quirks.push(Quirk::MissingSchemas),
        Some(Value::Array(items))
            if items.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA))) => {}
        Some(other) => return Err(PatchError::WrongSchemas { found: schema_names(other) }),
    }
    if ops_key != "Operations" {
        quirks.push(Quirk::OperationsKey { found: ops_key });
    }
    if raw_ops.len() > MAX_OPERATIONS {
        return Err(PatchError::TooManyOperations { count: raw_ops.len(), max: MAX_OPERATIONS });
    }
    let mut ops = Vec::with_capacity(raw_ops.len());
    for (index, raw) in raw_ops.into_iter().enumerate() {
        ops.extend(normalize_op(index, raw, &mut quirks)?);
    }
    Ok(PatchRequest { ops, quirks })
}

/// What `schemas` held, as evidence (at most 8 entries).
fn schema_names(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .iter()
            .take(8)
            .map(|s| s.as_str().map_or_else(|| type_name(s).to_string(), str::to_string))
            .collect(),
        Value::String(s) => vec![s.clone()],
        other => vec![type_name(other).to_string()],
    }
}

/// One operation, as one or more: none when it was dropped (it only carried a password), and
/// one more per value-path key of a path-less value (see `split_value_paths`).
fn normalize_op(index: usize, raw: Value, quirks: &mut Vec<Quirk>) -> Result<Vec<PatchOp>, PatchError> {
    let Value::Object(mut fields) = raw else {
        return Err(PatchError::OperationNotObject { index, found: type_name(&raw) });
    };
    let op = match get_ci(&fields, "op") {
        Some(Value::String(word)) => {
            let op = OpKind::from_name(word)
                .ok_or_else(|| PatchError::UnknownOp { index, found: format!("{word:?}") })?;
            if word != op.as_str() {
                quirks.push(Quirk::OpCase { index, found: word.clone() });
            }
            op
        }
        Some(other) => return Err(PatchError::UnknownOp { index, found: type_name(other).to_string() }),
        None => return Err(PatchError::UnknownOp { index, found: "no \"op\" member".to_string() }),
    };
    let path = match get_ci(&fields, "path") {
        // RFC 7643 §2.5: null is the same as absent.
        None | Some(Value::Null) => None,
        // A path that is a whole extension's URN names the extension object,
        // which lives under that URN as a top-level key of the resource.
        Some(Value::String(text)) if KNOWN_EXTENSIONS.iter().any(|u| u.eq_ignore_ascii_case(text.trim())) => {
            let urn = KNOWN_EXTENSIONS
                .iter()
                .find(|u| u.eq_ignore_ascii_case(text.trim()))
                .copied()
                .unwrap_or_default();
            Some(PatchPath { attr: AttrPath::new(urn), filter: None, sub_attr: None })
        }
        Some(Value::String(text)) => {
            Some(parse_patch_path(text).map_err(|source| PatchError::InvalidPath {
                index,
                path: text.clone(),
                source,
            })?)
        }
        Some(other) => return Err(PatchError::PathNotString { index, found: type_name(other) }),
    };
    let mut value = find_key(&fields, "value").and_then(|key| fields.remove(&key));
    match &path {
        Some(path) => {
            if is_password(&path.attr) {
                quirks.push(Quirk::PasswordDropped { index });
                return Ok(Vec::new());
            }
            if let Some(value) = value.as_mut() {
                fix_path_value(index, path, value, quirks);
            }
        }
        None => {
            if let Some(Value::Object(map)) = value {
                let (map, path_ops) = split_value_paths(index, op, map, quirks)?;
                let (mut nested, dropped_password) = nest_pathless(index, map, quirks)?;
                if let Some(clash) =
                    path_ops.iter().find_map(|o| o.path.as_ref().filter(|p| clashes(p, &nested)))
                {
                    return Err(PatchError::DuplicateKey { index, key: clash.attr.to_string() });
                }
                if dropped_password {
                    quirks.push(Quirk::PasswordDropped { index });
                }
                let mut ops = Vec::with_capacity(1 + path_ops.len());
                // An object left empty only by a dropped password, or by keys that became their
                // own operations, is not an operation of its own.
                if !nested.is_empty() || (!dropped_password && path_ops.is_empty()) {
                    fix_pathless(index, &mut nested, quirks);
                    ops.push(PatchOp { op, path: None, value: Some(Value::Object(nested)) });
                }
                ops.extend(path_ops);
                return Ok(ops);
            }
        }
    }
    Ok(vec![PatchOp { op, path, value }])
}

/// `password`, unqualified or in a core schema: never kept.
pub(super) fn is_password(path: &AttrPath) -> bool {
    path.urn.as_deref().is_none_or(is_core_urn) && path.attr.eq_ignore_ascii_case("password")
}

/// How a key of a path-less value is read; see the module documentation.
pub(super) enum Key {
    /// An extension object, or (core URN) attributes that belong at the top level.
    Schema(String),
    /// An attribute, possibly qualified and with a sub-attribute; a core URN is already dropped.
    Attr(AttrPath),
}

pub(super) fn classify_key(key: &str, value: &Value) -> Result<Key, FilterError> {
    if KNOWN_EXTENSIONS.iter().any(|urn| urn.eq_ignore_ascii_case(key)) {
        return Ok(Key::Schema(key.to_string()));
    }
    let mut path = AttrPath::parse(key)?;
    if let Some(urn) = &path.urn {
        let known = KNOWN_EXTENSIONS.iter().any(|u| u.eq_ignore_ascii_case(urn));
        if !known
            && value.is_object()
            && path.sub_attr.is_none()
            && path.attr.starts_with(|c: char| c.is_ascii_uppercase())
        {
            return Ok(Key::Schema(key.to_string()));
        }
        if is_core_urn(urn) {
            path.urn = None;
        }
    }
    Ok(Key::Attr(path))
}

/// Nests dotted and schema-qualified keys; drops passwords. Returns the nested object and whether
/// a password was dropped.
fn nest_pathless(
    index: usize,
    map: Map<String, Value>,
    quirks: &mut Vec<Quirk>,
) -> Result<(Map<String, Value>, bool), PatchError> {
    let mut out = Map::new();
    let mut dropped_password = false;
    for (key, value) in map {
        let invalid = |source| PatchError::InvalidPath { index, path: key.clone(), source };
        match classify_key(&key, &value).map_err(invalid)? {
            Key::Schema(urn) => {
                let Value::Object(inner) = value else {
                    let reason = "an extension schema's attributes must be given as an object";
                    return Err(PatchError::InvalidValue {
                        index,
                        path: key,
                        reason,
                        found: type_name(&value),
                    });
                };
                let slot =
                    if is_core_urn(&urn) { &mut out } else { object_slot(index, &mut out, &urn, &key)? };
                for (name, value) in inner {
                    let path = AttrPath::parse(&name).map_err(|source| PatchError::InvalidPath {
                        index,
                        path: format!("{key}:{name}"),
                        source,
                    })?;
                    if path.sub_attr.is_some() {
                        quirks.push(Quirk::NestedKey { index, key: format!("{key}:{name}") });
                    }
                    insert_attr(index, slot, &path.attr, path.sub_attr.as_deref(), value, &key)?;
                }
            }
            Key::Attr(path) => {
                if is_password(&path) {
                    dropped_password = true;
                    continue;
                }
                if key != path.attr {
                    quirks.push(Quirk::NestedKey { index, key: key.clone() });
                }
                let slot = match &path.urn {
                    None => &mut out,
                    Some(urn) => object_slot(index, &mut out, urn, &key)?,
                };
                insert_attr(index, slot, &path.attr, path.sub_attr.as_deref(), value, &key)?;
            }
        }
    }
    Ok((out, dropped_password))
}

/// The object under `name` in `map`, created empty if absent.
fn object_slot<'m>(
    index: usize,
    map: &'m mut Map<String, Value>,
    name: &str,
    key: &str,
) -> Result<&'m mut Map<String, Value>, PatchError> {
    let existing = find_key(map, name).unwrap_or_else(|| name.to_string());
    match map.entry(existing).or_insert_with(|| Value::Object(Map::new())) {
        Value::Object(slot) => Ok(slot),
        _ => Err(PatchError::DuplicateKey { index, key: key.to_string() }),
    }
}

fn insert_attr(
    index: usize,
    slot: &mut Map<String, Value>,
    attr: &str,
    sub: Option<&str>,
    value: Value,
    key: &str,
) -> Result<(), PatchError> {
    match sub {
        None => insert_unique(index, slot, attr, value, key),
        Some(sub) => insert_unique(index, object_slot(index, slot, attr, key)?, sub, value, key),
    }
}

/// Inserts `name`; two objects for the same name merge if they share no member, anything else
/// given twice is a `DuplicateKey`.
fn insert_unique(
    index: usize,
    map: &mut Map<String, Value>,
    name: &str,
    value: Value,
    key: &str,
) -> Result<(), PatchError> {
    let Some(existing_key) = find_key(map, name) else {
        map.insert(name.to_string(), value);
        return Ok(());
    };
    match (map.get_mut(&existing_key), value) {
        (Some(Value::Object(existing)), Value::Object(incoming))
            if incoming.keys().all(|k| find_key(existing, k).is_none()) =>
        {
            existing.extend(incoming);
            Ok(())
        }
        _ => Err(PatchError::DuplicateKey { index, key: key.to_string() }),
    }
}

/// Boolean strings and `manager` shapes in the value of an operation with a path.
pub(super) fn fix_path_value(index: usize, path: &PatchPath, value: &mut Value, quirks: &mut Vec<Quirk>) {
    let attr = &path.attr;
    let sub = attr.sub_attr.as_deref().or(path.sub_attr.as_deref());
    let core = attr.urn.as_deref().is_none_or(is_core_urn);
    let boolean = match sub {
        None if path.filter.is_none() && core && attr.attr.eq_ignore_ascii_case("active") => to_bool(value),
        Some(sub) if sub.eq_ignore_ascii_case("primary") => to_bool(value),
        None => fix_primary(value),
        Some(_) => false,
    };
    if boolean {
        quirks.push(Quirk::BooleanString { index, attr: path.to_string() });
    }
    let enterprise = attr.urn.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(ENTERPRISE_USER_URN));
    let manager =
        enterprise && attr.attr.eq_ignore_ascii_case("manager") && sub.is_none() && path.filter.is_none();
    if manager && fix_manager(value) {
        quirks.push(Quirk::ManagerShape { index });
    }
}

/// Boolean strings and `manager` shapes in a nested path-less value.
fn fix_pathless(index: usize, map: &mut Map<String, Value>, quirks: &mut Vec<Quirk>) {
    for (key, value) in map.iter_mut() {
        if key.eq_ignore_ascii_case("active") {
            if to_bool(value) {
                quirks.push(Quirk::BooleanString { index, attr: key.clone() });
            }
        } else if key.eq_ignore_ascii_case("manager") {
            if fix_manager(value) {
                quirks.push(Quirk::ManagerShape { index });
            }
        } else if key.eq_ignore_ascii_case(ENTERPRISE_USER_URN) {
            let manager = match value {
                Value::Object(ext) => find_key(ext, "manager").and_then(|k| ext.get_mut(&k)),
                _ => None,
            };
            if manager.is_some_and(fix_manager) {
                quirks.push(Quirk::ManagerShape { index });
            }
        } else if fix_primary(value) {
            quirks.push(Quirk::BooleanString { index, attr: format!("{key}.primary") });
        }
    }
}

/// `"True"`/`"False"` in any case to a boolean; whether it changed anything.
fn to_bool(value: &mut Value) -> bool {
    let Value::String(text) = value else { return false };
    let parsed = if text.eq_ignore_ascii_case("true") {
        true
    } else if text.eq_ignore_ascii_case("false") {
        false
    } else {
        return false;
    };
    *value = Value::Bool(parsed);
    true
}

/// The `primary` sub-attribute of a multi-valued attribute's value or array of values.
fn fix_primary(value: &mut Value) -> bool {
    let fix = |element: &mut Value| match element {
        Value::Object(map) => find_key(map, "primary").and_then(|k| map.get_mut(&k)).is_some_and(to_bool),
        _ => false,
    };
    match value {
        Value::Array(items) => items.iter_mut().map(fix).fold(false, |a, b| a | b),
        other => fix(other),
    }
}

/// `manager` as `{"value": id}`; an empty id clears it. Whether it changed anything.
fn fix_manager(value: &mut Value) -> bool {
    let replacement = match value {
        Value::String(id) if id.is_empty() => Value::Null,
        Value::String(id) => {
            Value::Object(Map::from_iter([("value".to_string(), Value::String(std::mem::take(id)))]))
        }
        Value::Array(items) if items.len() <= 1 => {
            let mut only = items.pop().unwrap_or(Value::Null);
            if !only.is_array() {
                fix_manager(&mut only);
            }
            only
        }
        Value::Object(map) if is_empty_reference(map) => Value::Null,
        _ => return false,
    };
    *value = replacement;
    true
}

/// `{"value": ""}` or `{"value": null, "$ref": null}`: a reference to nobody.
fn is_empty_reference(map: &Map<String, Value>) -> bool {
    let empty_id = matches!(get_ci(map, "value"), None | Some(Value::Null))
        || get_ci(map, "value") == Some(&Value::from(""));
    empty_id && map.iter().all(|(k, v)| k.eq_ignore_ascii_case("value") || v.is_null())
}
