//! The normalised form of a PATCH request: what `normalize_request` returns and `apply` takes.
//!
//! Once a request is a `PatchRequest`, every client quirk is gone: op names are an enum, paths
//! are parsed, boolean strings are booleans, path-less values are nested objects, `manager` is
//! `{"value": ...}` and no password is anywhere in it. `quirks` records what was rewritten so the
//! HTTP layer can log it (never the values themselves).

use std::fmt;

use serde_json::Value;

use super::super::filter::PatchPath;

/// The message schema every PATCH body names in `schemas` (RFC 7644 §3.5.2).
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Most operations accepted in one request. Secure default: bounds path parsing and filter
/// evaluation per request independently of the body-size limit. Membership changes do not count
/// against it per member: Okta and Entra put many members in one operation's `value` array.
pub const MAX_OPERATIONS: usize = 1000;

/// The `op` of a PATCH operation (RFC 7644 §3.5.2: "add", "remove" or "replace").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// `add`: RFC 7644 §3.5.2.1.
    Add,
    /// `replace`: RFC 7644 §3.5.2.3.
    Replace,
    /// `remove`: RFC 7644 §3.5.2.2.
    Remove,
}

impl OpKind {
    /// The canonical (lower-case) name.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Add => "add",
            OpKind::Replace => "replace",
            OpKind::Remove => "remove",
        }
    }

    /// The op named `word`, in any capitalisation: Entra sends `Add`, `Replace` and `Remove`
    /// ("Microsoft Entra ID emits the values of op as Add, Replace, and Remove").
    pub fn from_name(word: &str) -> Option<OpKind> {
        [OpKind::Add, OpKind::Replace, OpKind::Remove]
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One normalised operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchOp {
    /// What to do.
    pub op: OpKind,
    /// Where; `None` means the resource itself (path-less `add`/`replace`).
    pub path: Option<PatchPath>,
    /// `None` when the operation had no `value` member; `Some(Value::Null)` when it was `null`.
    /// The difference matters for `remove` on `members`: no value removes every member, a value
    /// removes exactly the members it lists.
    pub value: Option<Value>,
}

/// A client quirk `normalize_request` rewrote. Carries where it happened, never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quirk {
    /// The body had no `schemas`; accepted because it had `Operations`.
    MissingSchemas,
    /// `Operations` was spelled differently, e.g. `operations`.
    OperationsKey { found: String },
    /// `op` was not lower-case, e.g. Entra's `Replace` (before `aadOptscim062020`).
    OpCase { index: usize, found: String },
    /// A boolean attribute had the string `"True"`/`"False"` (Entra, before `aadOptscim062020`).
    BooleanString { index: usize, attr: String },
    /// A path-less value used a dotted or schema-qualified key, e.g. `name.givenName` or
    /// `urn:...:enterprise:2.0:User:employeeNumber` (Entra with `aadOptscim062020`); it was nested.
    NestedKey { index: usize, key: String },
    /// A path-less value had a key that is a value path, e.g. `emails[type eq "work"].value`
    /// (Entra); it became an operation of its own with that path.
    PathKey { index: usize, key: String },
    /// `manager` was a bare id or a one-element array; it became `{"value": ...}` (or `null` for
    /// an empty id).
    ManagerShape { index: usize },
    /// A password was in the operation and was dropped; it is not kept anywhere. An operation
    /// left with nothing else was dropped whole.
    PasswordDropped { index: usize },
}

/// A PATCH request after normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchRequest {
    /// The operations, in request order, without dropped ones.
    pub ops: Vec<PatchOp>,
    /// What was rewritten on the way, in the order found.
    pub quirks: Vec<Quirk>,
}

impl PatchRequest {
    /// Whether the request carried a password that was dropped (Okta's password sync). The
    /// caller decides what to tell the client; the password itself is gone.
    pub fn password_dropped(&self) -> bool {
        self.quirks.iter().any(|q| matches!(q, Quirk::PasswordDropped { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_names_fold_case() {
        assert_eq!(OpKind::from_name("add"), Some(OpKind::Add));
        assert_eq!(OpKind::from_name("Replace"), Some(OpKind::Replace));
        assert_eq!(OpKind::from_name("REMOVE"), Some(OpKind::Remove));
        assert_eq!(OpKind::from_name("move"), None);
        assert_eq!(OpKind::from_name(""), None);
        assert_eq!(OpKind::Replace.to_string(), "replace");
    }

    #[test]
    fn password_dropped_reads_the_quirks() {
        let mut req = PatchRequest { ops: vec![], quirks: vec![Quirk::MissingSchemas] };
        assert!(!req.password_dropped());
        req.quirks.push(Quirk::PasswordDropped { index: 0 });
        assert!(req.password_dropped());
    }
}
