//! Multi-valued attributes: `add` merges, whole-list `replace`, value-filtered paths
//! (`emails[type eq "work"]`, `addresses[type eq "work"].streetAddress`) and `primary`.
//!
//! - `add` appends each value not already present. A complex value is already present when a
//!   stored one has the same `value` (compared per `caseExact`) and, if the new one names a
//!   `type`, the same `type`; its other sub-attributes (`primary`, `display`) are then updated
//!   (RFC 7644 §3.5.2.1: "If the target location already contains the value specified, no
//!   changes SHOULD be made").
//! - A filtered `replace` replaces every matching value whole ("all matching record values SHALL
//!   be replaced"); with a sub-attribute it sets that sub-attribute in each; a filtered `add`
//!   merges instead of replacing. A filtered `remove` removes the matches (or their
//!   sub-attribute); matching nothing is success.
//! - A filtered `add`/`replace` that matches nothing creates the value the filter describes, when
//!   the filter is only `eq` comparisons joined by `and`: Entra's `replace
//!   emails[type eq "work"].value` on a user without a work email creates
//!   `{"type": "work", "value": ...}`. RFC 7644 §3.5.2.3 says `noTarget` here; Entra expects the
//!   add, and a filter like `type eq "work"` fully describes the value to add. Any other filter
//!   still fails with `noTarget`: there is nothing sensible to create from `type ne "work"`.
//! - `primary`: RFC 7644 §3.5.2, "a PATCH operation that sets a value's "primary" sub-attribute
//!   to "true" SHALL cause the server to automatically set "primary" to "false" for any other
//!   values in the array". One operation setting two values primary is refused with
//!   `invalidValue` (RFC 7643 §2.4: "The primary attribute value "true" MUST appear no more than
//!   once").
//! - A list left empty is removed: an empty multi-valued attribute is unassigned (RFC 7643 §2.5).

use serde_json::{Map, Value};

use super::super::filter::{AttrPath, CompValue, CompareOp, Filter, matches};
use super::apply::{Cx, Target, canonical_sub};
use super::attr;
use super::error::PatchError;
use super::json::{find_key, get_ci, is_unassigned, merge_into, remove_ci, same_simple, set_ci, type_name};
use super::request::OpKind;

/// `add` without a filter: append values not already present.
pub(super) fn add_items(
    cx: &Cx<'_>,
    scope: &mut Map<String, Value>,
    target: &Target<'_>,
    incoming: Vec<Value>,
) -> Result<(), PatchError> {
    let exact_value = cx.schema.case_exact(&target.with_sub("value"));
    let exact_simple = cx.schema.case_exact(&target.base);
    let (key, mut items) = take_items(scope, &target.base.attr);
    let mut touched = Vec::new();
    for item in incoming {
        match items.iter().position(|stored| same_value(stored, &item, exact_value, exact_simple)) {
            Some(i) => {
                if let (Some(Value::Object(stored)), Value::Object(given)) = (items.get_mut(i), item) {
                    let rest = given.into_iter().filter(|(k, _)| !is_identity(k)).collect();
                    merge_into(stored, rest, &|k| k.to_string());
                }
                touched.push(i);
            }
            None => {
                items.push(item);
                touched.push(items.len() - 1);
            }
        }
    }
    enforce_primary(cx, target, &mut items, &touched)?;
    put_items(scope, key, items);
    Ok(())
}

/// `replace` without a filter: the list becomes exactly `incoming`.
pub(super) fn replace_items(
    cx: &Cx<'_>,
    scope: &mut Map<String, Value>,
    target: &Target<'_>,
    mut incoming: Vec<Value>,
) -> Result<(), PatchError> {
    let all: Vec<usize> = (0..incoming.len()).collect();
    enforce_primary(cx, target, &mut incoming, &all)?;
    let key = find_key(scope, &target.base.attr).unwrap_or_else(|| target.base.attr.clone());
    put_items(scope, key, incoming);
    Ok(())
}

/// Any operation on a value-filtered path.
pub(super) fn filtered(
    cx: &Cx<'_>,
    scope: &mut Map<String, Value>,
    target: &Target<'_>,
    value: Option<&Value>,
) -> Result<(), PatchError> {
    let Some(filter) = target.filter else { return Ok(()) };
    let stored_is_list = matches!(get_ci(scope, &target.base.attr), Some(Value::Array(_)));
    if !stored_is_list && !cx.schema.is_multi_valued(&target.base) {
        return Err(PatchError::UnsupportedPath {
            index: cx.index,
            path: target.text.clone(),
            reason: "a value filter selects values of a multi-valued attribute",
        });
    }
    let exact = |p: &AttrPath| cx.schema.case_exact(&element_path(&target.base, p));
    let selected = |v: &Value| v.is_object() && matches(filter, v, &exact);
    let value = match (cx.op, value) {
        (OpKind::Remove, _) | (OpKind::Replace, Some(Value::Null)) => None,
        (_, Some(Value::Null) | None) => return Ok(()),
        (_, Some(value)) => Some(value),
    };
    let (key, mut items) = take_items(scope, &target.base.attr);
    let Some(value) = value else {
        match &target.sub {
            Some(sub) => {
                let matched: Vec<usize> =
                    (0..items.len()).filter(|&i| items.get(i).is_some_and(selected)).collect();
                remove_sub(&mut items, &matched, sub);
            }
            None => items.retain(|v| !selected(v)),
        }
        put_items(scope, key, items);
        return Ok(());
    };
    let value = match &target.sub {
        Some(sub) => attr::check_boolean(cx, target, sub, value)?,
        None if value.is_object() => attr::prepare_element(cx, target, value)?,
        None => {
            return Err(PatchError::InvalidValue {
                index: cx.index,
                path: target.text.clone(),
                reason: "a value-filtered path without a sub-attribute takes a whole (object) value",
                found: type_name(value),
            });
        }
    };
    let matched: Vec<usize> = (0..items.len()).filter(|&i| items.get(i).is_some_and(selected)).collect();
    let created = matched.is_empty();
    let touched = if created {
        items.push(new_element(cx, target, filter, &exact)?);
        vec![items.len() - 1]
    } else {
        matched
    };
    for &i in &touched {
        let Some(slot) = items.get_mut(i) else { continue };
        match (&target.sub, slot) {
            (Some(sub), Value::Object(element)) => set_ci(element, sub, sub, value.clone()),
            (None, slot) if cx.op == OpKind::Replace && !created => *slot = value.clone(),
            (None, Value::Object(element)) => {
                if let Value::Object(given) = value.clone() {
                    merge_into(element, given, &|k| k.to_string());
                }
            }
            _ => {}
        }
    }
    enforce_primary(cx, target, &mut items, &touched)?;
    put_items(scope, key, items);
    Ok(())
}

/// Removes `sub` from the values at `indexes`, then drops values left with nothing.
pub(super) fn remove_sub(items: &mut Vec<Value>, indexes: &[usize], sub: &str) {
    for &i in indexes {
        if let Some(Value::Object(element)) = items.get_mut(i) {
            remove_ci(element, sub);
        }
    }
    items.retain(|v| !is_unassigned(Some(v)));
}

/// The value a filter of `eq` terms joined by `and` describes, or `noTarget`.
fn new_element(
    cx: &Cx<'_>,
    target: &Target<'_>,
    filter: &Filter,
    exact: &dyn Fn(&AttrPath) -> bool,
) -> Result<Value, PatchError> {
    let no_target = || PatchError::NoTarget { index: cx.index, path: target.text.clone() };
    let mut element = Map::new();
    let mut pending = vec![filter];
    while let Some(node) = pending.pop() {
        match node {
            Filter::And(left, right) => {
                pending.push(right);
                pending.push(left);
            }
            Filter::Compare { path, op: CompareOp::Eq, value }
                if path.urn.is_none() && path.sub_attr.is_none() && *value != CompValue::Null =>
            {
                let json = match value {
                    CompValue::String(s) => Value::String(s.clone()),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Null => Value::Null,
                };
                element.insert(canonical_sub(cx.schema, &target.base, &path.attr), json);
            }
            _ => return Err(no_target()),
        }
    }
    let element = Value::Object(element);
    // `type eq "a" and type eq "b"` describes nothing: the built value must match its filter.
    if !matches(filter, &element, exact) {
        return Err(no_target());
    }
    Ok(element)
}

/// `type` inside `emails[...]` is `emails.type` to the schema.
fn element_path(base: &AttrPath, path: &AttrPath) -> AttrPath {
    match (&path.urn, &path.sub_attr) {
        (None, None) => base.clone().with_sub(path.attr.clone()),
        _ => path.clone(),
    }
}

/// Sub-attributes that identify a value of a multi-valued attribute rather than describe it.
fn is_identity(key: &str) -> bool {
    key.eq_ignore_ascii_case("value") || key.eq_ignore_ascii_case("type")
}

/// Whether `stored` is the value `given` names; see the module documentation.
fn same_value(stored: &Value, given: &Value, exact_value: bool, exact_simple: bool) -> bool {
    match (stored, given) {
        (Value::Object(s), Value::Object(g)) => match (get_ci(s, "value"), get_ci(g, "value")) {
            (Some(sv), Some(gv)) => {
                same_simple(sv, gv, exact_value)
                    && match (get_ci(s, "type"), get_ci(g, "type")) {
                        (_, None) => true,
                        (Some(st), Some(gt)) => same_simple(st, gt, false),
                        (None, Some(_)) => false,
                    }
            }
            (None, None) => s == g,
            _ => false,
        },
        (Value::Object(_), _) | (_, Value::Object(_)) => false,
        (s, g) => same_simple(s, g, exact_simple),
    }
}

/// See the module documentation. `touched` are the indexes this operation wrote.
fn enforce_primary(
    cx: &Cx<'_>,
    target: &Target<'_>,
    items: &mut [Value],
    touched: &[usize],
) -> Result<(), PatchError> {
    let is_primary =
        |v: &Value| matches!(v, Value::Object(m) if get_ci(m, "primary") == Some(&Value::Bool(true)));
    let mut winners: Vec<usize> =
        touched.iter().copied().filter(|&i| items.get(i).is_some_and(is_primary)).collect();
    winners.sort_unstable();
    winners.dedup();
    let winner = match winners.as_slice() {
        [] => return Ok(()),
        [one] => *one,
        _ => {
            return Err(PatchError::InvalidValue {
                index: cx.index,
                path: target.text.clone(),
                reason: "\"primary\" may be true on one value only (RFC 7643 §2.4)",
                found: "several values with \"primary\": true",
            });
        }
    };
    for (i, item) in items.iter_mut().enumerate() {
        if i != winner && is_primary(item) {
            if let Value::Object(element) = item {
                set_ci(element, "primary", "primary", Value::Bool(false));
            }
        }
    }
    Ok(())
}

/// The stored list under `name` (a stored single value counts as a one-element list), taken out
/// of the map, and the key to put it back under.
fn take_items(scope: &mut Map<String, Value>, name: &str) -> (String, Vec<Value>) {
    let key = find_key(scope, name).unwrap_or_else(|| name.to_string());
    let items = match scope.get_mut(&key).map(std::mem::take) {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => Vec::new(),
        Some(one) => vec![one],
    };
    (key, items)
}

/// Puts a list back; an empty list is removed (unassigned).
fn put_items(scope: &mut Map<String, Value>, key: String, items: Vec<Value>) {
    if items.is_empty() {
        scope.remove(&key);
    } else {
        scope.insert(key, Value::Array(items));
    }
}
