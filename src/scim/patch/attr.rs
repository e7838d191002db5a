//! One operation on one attribute of the resource: a whole attribute (`nickName`, `name`,
//! `emails`) or a sub-attribute of a single-valued complex one (`name.givenName`,
//! `urn:...:enterprise:2.0:User:manager.value`). Value-filtered paths are in `multi`.
//!
//! Rules (RFC 7644 §3.5.2):
//! - `add`/`replace` of a single-valued attribute sets it; of a complex one merges the given
//!   sub-attributes ("Sub-attributes that are not specified ... are left unchanged").
//! - `add` to a multi-valued attribute appends values not already present; `replace` sets the
//!   whole list ("the attribute and all values are replaced").
//! - `null` is "unassigned" (RFC 7643 §2.5): `replace` with `null` removes, `add` of `null` does
//!   nothing, a `null` sub-attribute in a merge removes that sub-attribute.
//! - `remove` removes the attribute; with a `value` (Entra's shape) it removes exactly the values
//!   listed, compared through their `value` sub-attribute, and nothing if none matches.
//! - A sub-attribute of a multi-valued attribute without a value filter (`emails.value`) can be
//!   removed from every value, but not added or replaced: which value is meant is not said.
//! - Attribute names match case-insensitively and keep the stored spelling; new keys take the
//!   schema's spelling.

use serde_json::{Map, Value};

use super::apply::{Cx, Target, canonical_sub};
use super::error::PatchError;
use super::json::{
    find_key, get_ci, implied, is_unassigned, merge_into, remove_ci, same_simple, set_ci, type_name,
};
use super::multi;
use super::request::OpKind;

/// Applies `cx.op` at `target` inside `work`.
pub(super) fn perform(
    cx: &Cx<'_>,
    work: &mut Map<String, Value>,
    target: &Target<'_>,
    value: Option<&Value>,
) -> Result<(), PatchError> {
    if cx.op != OpKind::Remove && value.is_none() {
        // RFC 7644 §3.5.2.1: "The operation MUST contain a "value" member".
        return Err(PatchError::MissingValue { index: cx.index, op: cx.op });
    }
    let Some(scope) = scope_mut(cx, work, target)? else {
        return Ok(()); // removing from an extension the resource does not have
    };
    match (target.filter, &target.sub) {
        (Some(_), _) => multi::filtered(cx, scope, target, value),
        (None, Some(sub)) => sub_attribute(cx, scope, target, sub, value),
        (None, None) => whole(cx, scope, target, value),
    }
}

/// The object holding `target`'s attribute: the resource, or its extension object (created for
/// `add`/`replace`).
fn scope_mut<'w>(
    cx: &Cx<'_>,
    work: &'w mut Map<String, Value>,
    target: &Target<'_>,
) -> Result<Option<&'w mut Map<String, Value>>, PatchError> {
    let Some(urn) = &target.base.urn else { return Ok(Some(work)) };
    let key = match find_key(work, urn) {
        Some(key) => key,
        None if cx.op == OpKind::Remove => return Ok(None),
        None => urn.clone(),
    };
    match work.entry(key).or_insert_with(|| Value::Object(Map::new())) {
        Value::Object(scope) => Ok(Some(scope)),
        other => Err(PatchError::InvalidValue {
            index: cx.index,
            path: urn.clone(),
            reason: "the stored extension is not an object",
            found: type_name(other),
        }),
    }
}

fn whole(
    cx: &Cx<'_>,
    scope: &mut Map<String, Value>,
    target: &Target<'_>,
    value: Option<&Value>,
) -> Result<(), PatchError> {
    let name = &target.base.attr;
    let multi_valued = cx.schema.is_multi_valued(&target.base);
    let value = match (cx.op, value) {
        (OpKind::Remove, None) => {
            remove_ci(scope, name);
            return Ok(());
        }
        (OpKind::Remove, Some(listed)) => return remove_listed(cx, scope, target, listed, multi_valued),
        (OpKind::Replace, Some(Value::Null)) => {
            remove_ci(scope, name);
            return Ok(());
        }
        (_, Some(Value::Null) | None) => return Ok(()),
        (_, Some(value)) => value,
    };
    if multi_valued {
        let items = prepare_items(cx, target, value)?;
        return match cx.op {
            OpKind::Add => multi::add_items(cx, scope, target, items),
            _ => multi::replace_items(cx, scope, target, items),
        };
    }
    let value = prepare_object_or_simple(cx, target, value)?;
    let existing = find_key(scope, name).and_then(|k| scope.get_mut(&k));
    match (existing, value) {
        (Some(Value::Object(existing)), Value::Object(incoming)) => {
            merge_into(existing, incoming, &|k| canonical_sub(cx.schema, &target.base, k));
            if is_unassigned(get_ci(scope, name)) {
                remove_ci(scope, name);
            }
        }
        (_, value) => set_ci(scope, name, name, value),
    }
    Ok(())
}

/// `remove` with a `value`: remove exactly the listed values.
fn remove_listed(
    cx: &Cx<'_>,
    scope: &mut Map<String, Value>,
    target: &Target<'_>,
    listed: &Value,
    multi_valued: bool,
) -> Result<(), PatchError> {
    let name = &target.base.attr;
    let exact = cx.schema.case_exact(&target.with_sub("value"));
    let same = |stored: &Value, given: &Value| match (implied(stored), implied(given)) {
        (Some(a), Some(b)) => same_simple(a, b, exact),
        _ => stored == given,
    };
    let listed: Vec<&Value> = match listed {
        Value::Array(items) => items.iter().filter(|v| !v.is_null()).collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    };
    let Some(stored) = find_key(scope, name).and_then(|k| scope.get_mut(&k)) else { return Ok(()) };
    match stored {
        Value::Array(items) if multi_valued => {
            items.retain(|item| !listed.iter().any(|given| same(item, given)))
        }
        _ => {
            if listed.iter().any(|given| same(stored, given)) {
                *stored = Value::Null;
            }
        }
    }
    if is_unassigned(get_ci(scope, name)) {
        remove_ci(scope, name);
    }
    Ok(())
}

/// `name.givenName`: a sub-attribute of a single-valued complex attribute, or (remove only) of
/// every value of a multi-valued one.
fn sub_attribute(
    cx: &Cx<'_>,
    scope: &mut Map<String, Value>,
    target: &Target<'_>,
    sub: &str,
    value: Option<&Value>,
) -> Result<(), PatchError> {
    let name = &target.base.attr;
    if cx.schema.is_multi_valued(&target.base) {
        if cx.op != OpKind::Remove {
            return Err(PatchError::UnsupportedPath {
                index: cx.index,
                path: target.text.clone(),
                reason: "a sub-attribute of a multi-valued attribute needs a value filter, e.g. emails[type eq \"work\"].value",
            });
        }
        if let Some(Value::Array(items)) = find_key(scope, name).and_then(|k| scope.get_mut(&k)) {
            let all: Vec<usize> = (0..items.len()).collect();
            multi::remove_sub(items, &all, sub);
        }
    } else {
        match (cx.op, value) {
            (OpKind::Remove, listed) => remove_sub(cx, scope, target, sub, listed),
            (OpKind::Replace, Some(Value::Null)) => remove_sub(cx, scope, target, sub, None),
            (_, Some(Value::Null) | None) => {}
            (_, Some(value)) => {
                let value = check_boolean(cx, target, sub, value)?;
                set_sub(cx, scope, target, sub, value)?;
            }
        }
    }
    if is_unassigned(get_ci(scope, name)) {
        remove_ci(scope, name);
    }
    Ok(())
}

/// Removes `sub` from the complex value of `target.base`; with `listed`, only if it holds that.
fn remove_sub(
    cx: &Cx<'_>,
    scope: &mut Map<String, Value>,
    target: &Target<'_>,
    sub: &str,
    listed: Option<&Value>,
) {
    let Some(Value::Object(parent)) = find_key(scope, &target.base.attr).and_then(|k| scope.get_mut(&k))
    else {
        return;
    };
    let exact = cx.schema.case_exact(&target.with_sub(sub));
    let holds = match (get_ci(parent, sub), listed) {
        (_, None) => true,
        (Some(stored), Some(given)) => same_simple(stored, given, exact),
        (None, Some(_)) => false,
    };
    if holds {
        remove_ci(parent, sub);
    }
}

/// Sets `sub` in the complex value of `target.base`, creating it if absent. A simple value
/// already stored there becomes its `value` sub-attribute (the "implied value" of RFC 7644
/// §3.4.2.2), so a bare `"manager": "id"` stored from a create gains sub-attributes without
/// losing the id.
fn set_sub(
    cx: &Cx<'_>,
    scope: &mut Map<String, Value>,
    target: &Target<'_>,
    sub: &str,
    value: Value,
) -> Result<(), PatchError> {
    let name = &target.base.attr;
    let key = find_key(scope, name).unwrap_or_else(|| name.clone());
    let slot = scope.entry(key).or_insert(Value::Null);
    let mut parent = match std::mem::take(slot) {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        Value::Array(_) => {
            return Err(PatchError::InvalidValue {
                index: cx.index,
                path: target.text.clone(),
                reason: "the stored attribute is a list, not a complex value",
                found: "an array",
            });
        }
        simple => Map::from_iter([("value".to_string(), simple)]),
    };
    set_ci(&mut parent, sub, sub, value);
    *slot = Value::Object(parent);
    Ok(())
}

/// A boolean sub-attribute must be given a boolean (after `normalize` turned "True" into true).
pub(super) fn check_boolean(
    cx: &Cx<'_>,
    target: &Target<'_>,
    sub: &str,
    value: &Value,
) -> Result<Value, PatchError> {
    if cx.schema.is_boolean(&target.with_sub(sub)) && !matches!(value, Value::Bool(_) | Value::Null) {
        return Err(PatchError::InvalidValue {
            index: cx.index,
            path: format!("{}.{sub}", target.text),
            reason: "must be a boolean",
            found: type_name(value),
        });
    }
    Ok(value.clone())
}

/// A complex value with its sub-attributes in the schema's spelling and booleans checked.
pub(super) fn prepare_element(cx: &Cx<'_>, target: &Target<'_>, value: &Value) -> Result<Value, PatchError> {
    let Value::Object(map) = value else { return Ok(value.clone()) };
    let mut out = Map::new();
    for (key, value) in map {
        let key = canonical_sub(cx.schema, &target.base, key);
        let value = check_boolean(cx, target, &key, value)?;
        out.insert(key, value);
    }
    Ok(Value::Object(out))
}

/// A single-valued attribute's value: a simple value (checked if boolean) or a complex one.
fn prepare_object_or_simple(cx: &Cx<'_>, target: &Target<'_>, value: &Value) -> Result<Value, PatchError> {
    if cx.schema.is_boolean(&target.base) && !value.is_boolean() {
        return Err(PatchError::InvalidValue {
            index: cx.index,
            path: target.text.clone(),
            reason: "must be a boolean",
            found: type_name(value),
        });
    }
    prepare_element(cx, target, value)
}

/// A multi-valued attribute's values: an array, or one value standing for a one-element array.
fn prepare_items(cx: &Cx<'_>, target: &Target<'_>, value: &Value) -> Result<Vec<Value>, PatchError> {
    match value {
        Value::Array(items) => {
            items.iter().filter(|v| !v.is_null()).map(|item| prepare_element(cx, target, item)).collect()
        }
        one => Ok(vec![prepare_element(cx, target, one)?]),
    }
}
