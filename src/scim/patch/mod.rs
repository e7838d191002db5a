//! SCIM 2.0 PATCH (RFC 7644 §3.5.2): normalise what Okta and Microsoft Entra ID actually send,
//! then apply it to a resource held as JSON.
//!
//! Two steps, so the quirks stay at the edge:
//! 1. `normalize_request(body)` checks the envelope, parses every `path` with the filter module's
//!    PATCH grammar and rewrites client quirks (capitalised ops, `"True"` strings, dotted keys,
//!    `manager` shapes, passwords), returning a `PatchRequest` that only holds standard
//!    operations. See `normalize` for the list and the choices made.
//! 2. `apply(resource, &request.ops, &UserSchema)` applies the operations all-or-nothing and
//!    returns `Applied`: whether the resource changed and, for a Group, the membership changes the
//!    caller makes in its member table (`members` is never written to the resource).
//!
//! ```text
//! let request = normalize_request(body)?;           // 400 with scimType on error
//! let applied = apply(&mut user_json, &request.ops, &UserSchema)?;
//! ```
//!
//! Where the RFC and the identity providers disagree, this module follows the provider when the
//! provider's meaning is unambiguous, and says so where it does it:
//! - a filtered `replace` that matches nothing adds the value the filter describes (Entra; RFC
//!   7644 §3.5.2.3 says `noTarget`) — `multi`;
//! - `remove` of `members` with a `value` removes exactly the listed members (Entra before
//!   `aadOptscim062020`; the RFC defines no `value` for `remove`) — `members`;
//! - a body without `schemas` is accepted when it has `Operations` (RFC 7644 §3.5.2 requires
//!   `schemas`) — `normalize`;
//! - a path-less `replace` carrying the resource's own `id` (Okta's group rename) is not a
//!   modification of a read-only attribute — `apply`.
//!
//! Errors are `PatchError`, each with its RFC 7644 Table 9 `scimType` and HTTP status.

mod apply;
mod attr;
mod error;
mod json;
mod members;
mod multi;
mod normalize;
mod path_keys;
mod request;
mod schema;

pub use apply::{Applied, apply};
pub use error::PatchError;
pub use members::MemberChanges;
pub use normalize::normalize_request;
pub use request::{MAX_OPERATIONS, OpKind, PATCH_OP_SCHEMA, PatchOp, PatchRequest, Quirk};
pub use schema::{ENTERPRISE_USER_URN, GroupSchema, KNOWN_EXTENSIONS, Mutability, SchemaInfo, UserSchema};

#[cfg(test)]
mod tests;
