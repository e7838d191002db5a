//! Group membership from PATCH operations on `members`.
//!
//! The caller keeps members in a table, not in the resource JSON, so `apply` never writes
//! `members`; it folds every `members` operation, in order, into one `MemberChanges`. Each
//! operation costs O(its own member count): adding 10,000 members is 10,000 set insertions,
//! whatever the size of the group.
//!
//! What each operation means:
//! - `add` `members`, value `[{"value": id}, ...]` (RFC 7644 §3.5.2.1): add those ids.
//! - `remove` `members[value eq "a"]`, or `members[value eq "a" or value eq "b"]` (RFC 7644
//!   §3.5.2.2, Okta, Entra with `aadOptscim062020`): remove those ids. Other filters are refused:
//!   deciding `display eq "x"` would need the member table.
//! - `remove` `members` with a `value` listing members (Entra before `aadOptscim062020`: `{"op":
//!   "Remove", "path": "members", "value": [{"value": id}]}`): remove exactly those ids, never
//!   all. A `value` of `null` or `[]` lists nobody and removes nobody.
//! - `remove` `members` with no `value` member at all (RFC 7644 §3.5.2.2): remove every member.
//! - `replace` `members` (RFC 7644 §3.5.2.3, Okta "full push"), or a path-less `replace`/`add`
//!   whose value has a `members` key: set the member list to exactly those ids.
//!
//! Removing an id that is not a member is not an error (Entra retries forever on a 404); adding
//! one that is, is not either. Ids are opaque and compared exactly; `display`, `$ref` and `type`
//! are ignored.

use std::collections::HashMap;

use serde_json::Value;

use super::super::filter::{CompValue, CompareOp, Filter};
use super::json::{get_ci, type_name};

/// The net effect of a request's `members` operations. Apply it as: if `remove_all`, delete every
/// member; if `replace_all` is `Some`, make the members exactly that list; otherwise delete
/// `remove` and insert `add`. When `remove_all` or `replace_all` is set, `add` and `remove` are
/// empty; a replacement by an empty list is reported as `remove_all`. Lists keep request order
/// without duplicates, and no id is in both `add` and `remove`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberChanges {
    /// Ids to make members.
    pub add: Vec<String>,
    /// Ids to make non-members; absent ones are skipped without error.
    pub remove: Vec<String>,
    /// The complete new member list, when the request replaced it.
    pub replace_all: Option<Vec<String>>,
    /// Whether every member is removed and nobody added.
    pub remove_all: bool,
}

impl MemberChanges {
    /// Whether the request changes no membership.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty() && self.replace_all.is_none() && !self.remove_all
    }
}

/// An insertion-ordered set of ids with O(1) insert and remove.
#[derive(Debug, Default)]
struct IdSet {
    slots: Vec<Option<String>>,
    index: HashMap<String, usize>,
}

impl IdSet {
    fn insert(&mut self, id: &str) {
        if !self.index.contains_key(id) {
            self.index.insert(id.to_string(), self.slots.len());
            self.slots.push(Some(id.to_string()));
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(slot) = self.index.remove(id).and_then(|i| self.slots.get_mut(i)) {
            *slot = None;
        }
    }

    fn into_vec(self) -> Vec<String> {
        self.slots.into_iter().flatten().collect()
    }
}

/// Folds `members` operations in request order.
#[derive(Debug, Default)]
pub(super) struct MemberTracker(State);

#[derive(Debug)]
enum State {
    /// Changes relative to the current members.
    Relative { add: IdSet, remove: IdSet },
    /// The complete member list, after a `replace` or a remove-all.
    Absolute(IdSet),
}

impl Default for State {
    fn default() -> Self {
        State::Relative { add: IdSet::default(), remove: IdSet::default() }
    }
}

impl MemberTracker {
    pub(super) fn add(&mut self, ids: &[String]) {
        for id in ids {
            match &mut self.0 {
                State::Relative { add, remove } => {
                    remove.remove(id);
                    add.insert(id);
                }
                State::Absolute(all) => all.insert(id),
            }
        }
    }

    pub(super) fn remove(&mut self, ids: &[String]) {
        for id in ids {
            match &mut self.0 {
                State::Relative { add, remove } => {
                    add.remove(id);
                    remove.insert(id);
                }
                State::Absolute(all) => all.remove(id),
            }
        }
    }

    pub(super) fn replace_all(&mut self, ids: &[String]) {
        let mut all = IdSet::default();
        for id in ids {
            all.insert(id);
        }
        self.0 = State::Absolute(all);
    }

    pub(super) fn finish(self) -> MemberChanges {
        match self.0 {
            State::Relative { add, remove } => {
                MemberChanges { add: add.into_vec(), remove: remove.into_vec(), ..MemberChanges::default() }
            }
            State::Absolute(all) => {
                let all = all.into_vec();
                if all.is_empty() {
                    MemberChanges { remove_all: true, ..MemberChanges::default() }
                } else {
                    MemberChanges { replace_all: Some(all), ..MemberChanges::default() }
                }
            }
        }
    }
}

/// Why a member list could not be read; `apply` turns it into `PatchError::InvalidValue`.
pub(super) struct BadMember {
    pub reason: &'static str,
    pub found: &'static str,
}

/// Member ids listed in an operation's value: an array of `{"value": id}` objects, one such
/// object, or (leniently) bare id strings. `null` lists nobody.
pub(super) fn ids_from_value(value: &Value) -> Result<Vec<String>, BadMember> {
    let one = |item: &Value| -> Result<String, BadMember> {
        let id = match item {
            Value::Object(map) => get_ci(map, "value"),
            other => Some(other),
        };
        match id {
            Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
            Some(other) => Err(BadMember {
                reason: "a member's \"value\" must be a non-empty id string",
                found: type_name(other),
            }),
            None => Err(BadMember {
                reason: "each member needs a \"value\" holding its id",
                found: "an object without \"value\"",
            }),
        }
    };
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().filter(|i| !i.is_null()).map(one).collect(),
        other => one(other).map(|id| vec![id]),
    }
}

/// Ids named by a `members[...]` filter made only of `value eq "id"` joined by `or`; `None` for
/// any other filter.
pub(super) fn ids_from_filter(filter: &Filter) -> Option<Vec<String>> {
    let mut ids = Vec::new();
    // Iterative over the `or` spine (the parser builds `a or b or c` as `(a or b) or c`, so a
    // long list is a deep left branch); each right operand is a leaf or another `or`.
    let mut pending = vec![filter];
    while let Some(node) = pending.pop() {
        match node {
            Filter::Or(left, right) => {
                pending.push(right);
                pending.push(left);
            }
            Filter::Compare { path, op: CompareOp::Eq, value: CompValue::String(id) }
                if path.urn.is_none()
                    && path.sub_attr.is_none()
                    && path.attr.eq_ignore_ascii_case("value") =>
            {
                ids.push(id.clone());
            }
            _ => return None,
        }
    }
    Some(ids)
}
