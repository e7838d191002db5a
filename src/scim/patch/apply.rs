//! Applying normalised operations to a resource held as JSON (RFC 7644 §3.5.2): the entry
//! point, path-less operations, mutability and required checks, and the hand-off of `members`.
//!
//! The whole request is applied to a copy and the copy replaces the resource only if every
//! operation succeeded (RFC 7644 §3.5.2: "A PATCH request, regardless of the number of
//! operations, SHALL be treated as atomic. If a single operation encounters an error condition,
//! the original SCIM resource MUST be restored"). Operations apply in order, each seeing the
//! result of the ones before.
//!
//! Mutability is checked by effect, not by syntax: an operation on a `readOnly` attribute that
//! leaves its value as it was is accepted (Okta's group rename repeats the group's `id` in a
//! path-less `replace`), one that changes it is refused; `immutable` may also go from unassigned
//! to a value (RFC 7644 §3.5.2: "a client MAY "add" a value to an "immutable" attribute if the
//! attribute had no previous value"). Pass the resource as it is returned, `id` and `meta`
//! included, so there is something to compare with; a `readOnly` attribute of a path-less value
//! that the resource lacks is skipped, not written. A `remove` aimed at a `readOnly` attribute is
//! always refused.

use serde_json::{Map, Value};

use super::super::filter::{AttrPath, Filter, PatchPath};
use super::attr;
use super::error::PatchError;
use super::json::{find_key, get_ci, is_unassigned, type_name};
use super::members::{MemberChanges, MemberTracker, ids_from_filter, ids_from_value};
use super::normalize::{Key, classify_key};
use super::request::{OpKind, PatchOp};
use super::schema::{Mutability, SchemaInfo, is_core_urn};

/// What applying a request did, beyond the resource itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Whether the resource JSON changed (the caller bumps `meta.lastModified`/`version`).
    pub changed: bool,
    /// Membership changes for the caller's member table (Group only); see `MemberChanges`.
    pub members: MemberChanges,
}

/// The operation being applied, for evidence in errors.
pub(super) struct Cx<'s> {
    pub schema: &'s dyn SchemaInfo,
    pub index: usize,
    pub op: OpKind,
}

/// A PATCH path resolved against the schema.
pub(super) struct Target<'p> {
    /// The attribute, in the schema's spelling and scope, without sub-attribute.
    pub base: AttrPath,
    /// The value filter, if any (attribute names relative to one element).
    pub filter: Option<&'p Filter>,
    /// The sub-attribute (`givenName` in `name.givenName`, `value` in `emails[...].value`).
    pub sub: Option<String>,
    /// The path as the client wrote it.
    pub text: String,
}

impl<'p> Target<'p> {
    fn new(schema: &dyn SchemaInfo, path: &'p PatchPath) -> Self {
        let resolved = schema.resolve(&path.attr);
        let base = AttrPath { sub_attr: None, ..resolved.clone() };
        let sub =
            resolved.sub_attr.or_else(|| path.sub_attr.as_deref().map(|s| canonical_sub(schema, &base, s)));
        Target { base, filter: path.filter.as_ref(), sub, text: path.to_string() }
    }

    /// `base.sub`, the path the schema is asked about for a sub-attribute.
    pub fn with_sub(&self, sub: &str) -> AttrPath {
        self.base.clone().with_sub(sub)
    }
}

/// The schema's spelling of sub-attribute `sub` of `base` (the client's if unknown).
pub(super) fn canonical_sub(schema: &dyn SchemaInfo, base: &AttrPath, sub: &str) -> String {
    schema.resolve(&base.clone().with_sub(sub)).sub_attr.unwrap_or_else(|| sub.to_string())
}

/// Applies `ops` to `resource` in order, all or nothing. `schema` describes the resource type;
/// `members` operations (for which `schema.is_members` holds) are not applied to the resource
/// but returned in `Applied::members`.
pub fn apply(resource: &mut Value, ops: &[PatchOp], schema: &dyn SchemaInfo) -> Result<Applied, PatchError> {
    let Value::Object(original) = &*resource else {
        return Err(PatchError::ResourceNotObject { found: type_name(resource) });
    };
    let mut work = original.clone();
    let mut members = MemberTracker::default();
    for (index, op) in ops.iter().enumerate() {
        let cx = Cx { schema, index, op: op.op };
        match &op.path {
            // RFC 7644 §3.5.2.2: "If "path" is unspecified, the operation fails with HTTP status
            // code 400 and a "scimType" error code of "noTarget"."
            None if op.op == OpKind::Remove => return Err(PatchError::RemoveWithoutPath { index }),
            None => pathless(&cx, &mut work, op.value.as_ref(), &mut members)?,
            Some(path) => one(&cx, &mut work, &Target::new(schema, path), op.value.as_ref(), &mut members)?,
        }
    }
    tidy_extensions(&mut work);
    let changed = work != *original;
    *resource = Value::Object(work);
    Ok(Applied { changed, members: members.finish() })
}

/// RFC 7644 §3.5.2.1/§3.5.2.3 without `path`: "the target location is assumed to be the resource
/// itself ... "value" ... contains a set of attributes". Each attribute is applied as if it had
/// been the path, so a complex value merges its sub-attributes and a multi-valued one is added to
/// (`add`) or replaced (`replace`). `schemas` is maintained by the server and skipped.
fn pathless(
    cx: &Cx<'_>,
    work: &mut Map<String, Value>,
    value: Option<&Value>,
    members: &mut MemberTracker,
) -> Result<(), PatchError> {
    let value = value.ok_or(PatchError::MissingValue { index: cx.index, op: cx.op })?;
    let Value::Object(attrs) = value else {
        return Err(PatchError::PathlessValueNotObject {
            index: cx.index,
            op: cx.op,
            found: type_name(value),
        });
    };
    for (key, value) in attrs {
        let invalid = |source, path: String| PatchError::InvalidPath { index: cx.index, path, source };
        match classify_key(key, value).map_err(|e| invalid(e, key.clone()))? {
            Key::Schema(urn) => {
                let Value::Object(inner) = value else {
                    let reason = "an extension schema's attributes must be given as an object";
                    return Err(PatchError::InvalidValue {
                        index: cx.index,
                        path: key.clone(),
                        reason,
                        found: type_name(value),
                    });
                };
                for (name, value) in inner {
                    let mut attr = AttrPath::parse(name).map_err(|e| invalid(e, format!("{key}:{name}")))?;
                    if !is_core_urn(&urn) {
                        attr.urn = Some(urn.clone());
                    }
                    pathless_attr(cx, work, attr, value, members)?;
                }
            }
            Key::Attr(attr) if attr.urn.is_none() && attr.attr.eq_ignore_ascii_case("schemas") => {}
            Key::Attr(attr) => pathless_attr(cx, work, attr, value, members)?,
        }
    }
    Ok(())
}

/// One attribute of a path-less value. A `readOnly` attribute the resource does not hold is
/// skipped: there is nothing to compare the client's copy with, and the server owns it (Okta
/// repeats the group's `id`, which a caller may keep outside the JSON). One it does hold goes
/// through the usual check, so a different value is refused.
fn pathless_attr(
    cx: &Cx<'_>,
    work: &mut Map<String, Value>,
    attr: AttrPath,
    value: &Value,
    members: &mut MemberTracker,
) -> Result<(), PatchError> {
    let path = PatchPath { attr, filter: None, sub_attr: None };
    let target = Target::new(cx.schema, &path);
    if cx.schema.mutability(&target.base) == Mutability::ReadOnly && lookup(work, &target.base).is_none() {
        return Ok(());
    }
    one(cx, work, &target, Some(value), members)
}

/// One operation on one attribute, with the mutability and required checks around it.
fn one(
    cx: &Cx<'_>,
    work: &mut Map<String, Value>,
    target: &Target<'_>,
    value: Option<&Value>,
    members: &mut MemberTracker,
) -> Result<(), PatchError> {
    if cx.schema.is_members(&target.base) {
        return members_op(cx, target, value, members);
    }
    let mut mutability = cx.schema.mutability(&target.base);
    if let Some(sub) = &target.sub {
        mutability = strictest(mutability, cx.schema.mutability(&target.with_sub(sub)));
    }
    let refuse =
        || PatchError::Mutability { index: cx.index, op: cx.op, path: target.text.clone(), mutability };
    // RFC 7644 §3.5.2.2: an attribute that "is removed ... and is defined as ... a read-only
    // attribute" is a "mutability" error. writeOnly (password) is never stored; see PatchError.
    if mutability == Mutability::WriteOnly || (cx.op == OpKind::Remove && mutability == Mutability::ReadOnly)
    {
        return Err(refuse());
    }
    let before = lookup(work, &target.base).cloned();
    attr::perform(cx, work, target, value)?;
    let after = lookup(work, &target.base);
    let changed = before.as_ref() != after;
    match mutability {
        Mutability::ReadOnly if changed => return Err(refuse()),
        Mutability::Immutable if changed && !is_unassigned(before.as_ref()) => return Err(refuse()),
        _ => {}
    }
    if cx.schema.is_required(&target.base) && is_unassigned(after) {
        return Err(PatchError::Required { index: cx.index, op: cx.op, path: target.text.clone() });
    }
    Ok(())
}

fn strictest(a: Mutability, b: Mutability) -> Mutability {
    let rank = |m| match m {
        Mutability::ReadWrite => 0,
        Mutability::Immutable => 1,
        Mutability::WriteOnly => 2,
        Mutability::ReadOnly => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// The stored value of attribute `base` (no sub-attribute), if any.
pub(super) fn lookup<'w>(work: &'w Map<String, Value>, base: &AttrPath) -> Option<&'w Value> {
    let scope = match &base.urn {
        None => work,
        Some(urn) => get_ci(work, urn)?.as_object()?,
    };
    get_ci(scope, &base.attr)
}

/// `members` operations: folded into `MemberChanges`, never written to the resource.
fn members_op(
    cx: &Cx<'_>,
    target: &Target<'_>,
    value: Option<&Value>,
    members: &mut MemberTracker,
) -> Result<(), PatchError> {
    let unsupported =
        |reason| PatchError::UnsupportedPath { index: cx.index, path: target.text.clone(), reason };
    if target.sub.is_some() {
        return Err(unsupported(
            "members have no sub-attribute to change; use members or members[value eq \"id\"]",
        ));
    }
    let ids = |value: &Value| {
        ids_from_value(value).map_err(|bad| PatchError::InvalidValue {
            index: cx.index,
            path: target.text.clone(),
            reason: bad.reason,
            found: bad.found,
        })
    };
    match (cx.op, target.filter, value) {
        (OpKind::Remove, Some(filter), _) => {
            let ids = ids_from_filter(filter).ok_or_else(|| {
                unsupported("a members filter must be value eq \"id\", optionally joined by or")
            })?;
            members.remove(&ids);
        }
        // Entra without aadOptscim062020: the value lists exactly the members to remove.
        (OpKind::Remove, None, Some(value)) => members.remove(&ids(value)?),
        (OpKind::Remove, None, None) => members.replace_all(&[]),
        (_, Some(_), _) => {
            return Err(unsupported("add and replace take the path members, without a filter"));
        }
        (_, None, None) => return Err(PatchError::MissingValue { index: cx.index, op: cx.op }),
        (OpKind::Add, None, Some(value)) => members.add(&ids(value)?),
        (OpKind::Replace, None, Some(value)) => members.replace_all(&ids(value)?),
    }
    Ok(())
}

/// Drops extension objects left empty and keeps `schemas` listing exactly the extensions in use
/// (RFC 7643 §3: "schemas" holds the URIs "used to indicate" the resource's attributes). Only
/// touches `schemas` when the resource has a `schemas` array.
fn tidy_extensions(work: &mut Map<String, Value>) {
    let extensions: Vec<String> = work
        .iter()
        .filter(|(k, v)| v.is_object() && k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")))
        .map(|(k, _)| k.clone())
        .collect();
    for key in extensions {
        let empty = is_unassigned(work.get(&key));
        if empty {
            work.remove(&key);
        }
        let schemas = find_key(work, "schemas").and_then(|k| work.get_mut(&k));
        if let Some(Value::Array(schemas)) = schemas {
            let listed =
                schemas.iter().position(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&key)));
            match (empty, listed) {
                (true, Some(i)) => {
                    schemas.remove(i);
                }
                (false, None) => schemas.push(Value::String(key)),
                _ => {}
            }
        }
    }
}
