//! Errors from normalising and applying a SCIM PATCH request. Each variant carries its evidence:
//! the index of the operation in the request (`index`), the path or attribute it targeted, and
//! what was wrong — never the offending value itself, which may be personal data (only its JSON
//! type is reported).
//!
//! Mapping to the SCIM error schema (RFC 7644 §3.12, Table 9) is `scim_type()` and `status()`;
//! the HTTP layer converts once, at the edge.

use thiserror::Error;

use super::super::filter::{FilterError, Grammar};
use super::request::{OpKind, PATCH_OP_SCHEMA};
use super::schema::Mutability;

/// Why a PATCH request was refused. `index` counts from 0: for errors raised while normalising it
/// is the position in the request's `Operations`; for errors raised by `apply` it is the position
/// in the slice of operations passed to it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PatchError {
    /// The request body is not a JSON object (RFC 7644 §3.5.2: the body carries `schemas` and
    /// `Operations`).
    #[error("a PATCH body must be a JSON object, found {found}")]
    BodyNotObject { found: &'static str },
    /// `schemas` is present but does not list the PatchOp message URN (RFC 7644 §3.5.2: "The
    /// body ... MUST contain ... schemas ... urn:ietf:params:scim:api:messages:2.0:PatchOp").
    #[error("\"schemas\" must contain \"{PATCH_OP_SCHEMA}\"; found {found:?}")]
    WrongSchemas { found: Vec<String> },
    /// The body has no `Operations` member (any capitalisation).
    #[error("a PATCH body needs an \"Operations\" array")]
    MissingOperations,
    /// `Operations` is not an array of one or more operations (RFC 7644 §3.5.2: "whose value is
    /// an array of one or more PATCH operations").
    #[error("\"Operations\" must be an array of one or more operations, found {found}")]
    BadOperations { found: &'static str },
    /// More operations than `MAX_OPERATIONS`; nothing was parsed.
    #[error("{count} operations in one PATCH; the limit is {max}")]
    TooManyOperations { count: usize, max: usize },
    /// An element of `Operations` is not a JSON object.
    #[error("operation {index} must be a JSON object, found {found}")]
    OperationNotObject { index: usize, found: &'static str },
    /// `op` is missing or is not `add`, `replace` or `remove` in any capitalisation. `found` is
    /// the word sent, quoted, or the JSON type when it was not a string.
    #[error("operation {index}: \"op\" must be add, replace or remove; found {found}")]
    UnknownOp { index: usize, found: String },
    /// `path` is present but not a string.
    #[error("operation {index}: \"path\" must be a string, found {found}")]
    PathNotString { index: usize, found: &'static str },
    /// `path` (or an attribute name in a path-less value) does not parse as RFC 7644 `PATH`.
    #[error("operation {index}: invalid path {path:?}: {source}")]
    InvalidPath {
        index: usize,
        path: String,
        #[source]
        source: FilterError,
    },
    /// An `add` or `replace` without a `value` member (RFC 7644 §3.5.2.1: "The operation MUST
    /// contain a "value" member").
    #[error("operation {index} ({op}) needs a \"value\"")]
    MissingValue { index: usize, op: OpKind },
    /// A path-less `add` or `replace` whose value is not an object of attributes (RFC 7644
    /// §3.5.2.1: "the "value" parameter contains a set of attributes to be added").
    #[error(
        "operation {index} ({op}) has no path, so its value must be an object of attributes; found {found}"
    )]
    PathlessValueNotObject { index: usize, op: OpKind, found: &'static str },
    /// The same attribute is given twice in one path-less value, e.g. as `name.givenName` and
    /// inside `name`; the request does not say which one wins.
    #[error("operation {index}: attribute {key:?} is given more than once")]
    DuplicateKey { index: usize, key: String },
    /// A `remove` without `path` (RFC 7644 §3.5.2.2: "If "path" is unspecified, the operation
    /// fails with HTTP status code 400 and a "scimType" error code of "noTarget"").
    #[error("operation {index}: remove needs a path")]
    RemoveWithoutPath { index: usize },
    /// A value filter matched nothing and no value can be created from it (RFC 7644 §3.5.2.3:
    /// "no record match was made ... "noTarget""). Filters made only of `eq` joined by `and`
    /// create the value instead; see the module documentation.
    #[error("operation {index}: nothing matches {path}, and the filter does not describe a value to create")]
    NoTarget { index: usize, path: String },
    /// The operation would change an attribute whose mutability forbids it (RFC 7644 §3.5.2: "a
    /// client MUST NOT modify an attribute that has mutability "readOnly" or "immutable""). A
    /// `writeOnly` attribute (`password`) is refused here too: `normalize_request` drops
    /// passwords at the edge and the resource never holds one.
    #[error("operation {index} ({op}) cannot modify {path}: it is {mutability}")]
    Mutability { index: usize, op: OpKind, path: String, mutability: Mutability },
    /// The operation would remove a required attribute (RFC 7644 §3.5.2.2: "If an attribute is
    /// removed or becomes unassigned and is defined as a required attribute ... "mutability"").
    #[error("operation {index} ({op}) would leave required attribute {path} without a value")]
    Required { index: usize, op: OpKind, path: String },
    /// A value of the wrong shape for its attribute: a boolean attribute given something else, a
    /// member without a string `value`, a filtered `replace` given a non-object, ...
    #[error("operation {index}: invalid value for {path}: {reason}; found {found}")]
    InvalidValue { index: usize, path: String, reason: &'static str, found: &'static str },
    /// A syntactically valid path this server cannot apply, e.g. `emails.value` with no value
    /// filter, or a `members` filter other than `value eq "..."` joined by `or`.
    #[error("operation {index}: path {path} is not supported: {reason}")]
    UnsupportedPath { index: usize, path: String, reason: &'static str },
    /// `apply` was given a resource that is not a JSON object: a server bug, not a client error.
    #[error("the stored resource is not a JSON object (found {found})")]
    ResourceNotObject { found: &'static str },
}

impl PatchError {
    /// The `scimType` of the SCIM error response (RFC 7644 §3.12, Table 9), or `None` where the
    /// table has no fitting type (a size limit; a server fault).
    pub fn scim_type(&self) -> Option<&'static str> {
        Some(match self {
            PatchError::BodyNotObject { .. }
            | PatchError::WrongSchemas { .. }
            | PatchError::MissingOperations
            | PatchError::BadOperations { .. }
            | PatchError::OperationNotObject { .. }
            | PatchError::UnknownOp { .. }
            | PatchError::PathNotString { .. } => "invalidSyntax",
            PatchError::InvalidPath { source, .. } => source.scim_type(Grammar::PatchPath),
            PatchError::UnsupportedPath { .. } => "invalidPath",
            PatchError::MissingValue { .. }
            | PatchError::PathlessValueNotObject { .. }
            | PatchError::DuplicateKey { .. }
            | PatchError::InvalidValue { .. } => "invalidValue",
            PatchError::RemoveWithoutPath { .. } | PatchError::NoTarget { .. } => "noTarget",
            PatchError::Mutability { .. } | PatchError::Required { .. } => "mutability",
            PatchError::TooManyOperations { .. } | PatchError::ResourceNotObject { .. } => return None,
        })
    }

    /// The HTTP status of the SCIM error response: 400 for every client error, `mutability`
    /// included (RFC 7644 Table 9 lists all these `scimType`s under 400); 500 for
    /// `ResourceNotObject`, which is the server's fault.
    pub fn status(&self) -> u16 {
        match self {
            PatchError::ResourceNotObject { .. } => 500,
            _ => 400,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::filter::parse_patch_path;
    use super::*;

    #[test]
    fn every_variant_maps_to_its_scim_type_and_status() {
        let Err(source) = parse_patch_path("emails[") else { panic!("must not parse") };
        let cases: Vec<(PatchError, Option<&str>, u16)> = vec![
            (PatchError::BodyNotObject { found: "an array" }, Some("invalidSyntax"), 400),
            (PatchError::WrongSchemas { found: vec![] }, Some("invalidSyntax"), 400),
            (PatchError::MissingOperations, Some("invalidSyntax"), 400),
            (PatchError::BadOperations { found: "an empty array" }, Some("invalidSyntax"), 400),
            (PatchError::TooManyOperations { count: 2, max: 1 }, None, 400),
            (PatchError::OperationNotObject { index: 0, found: "a string" }, Some("invalidSyntax"), 400),
            (PatchError::UnknownOp { index: 0, found: "\"move\"".into() }, Some("invalidSyntax"), 400),
            (PatchError::PathNotString { index: 0, found: "a number" }, Some("invalidSyntax"), 400),
            (PatchError::InvalidPath { index: 0, path: "emails[".into(), source }, Some("invalidPath"), 400),
            (PatchError::MissingValue { index: 0, op: OpKind::Add }, Some("invalidValue"), 400),
            (
                PatchError::PathlessValueNotObject { index: 0, op: OpKind::Add, found: "a string" },
                Some("invalidValue"),
                400,
            ),
            (PatchError::DuplicateKey { index: 0, key: "name".into() }, Some("invalidValue"), 400),
            (PatchError::RemoveWithoutPath { index: 0 }, Some("noTarget"), 400),
            (PatchError::NoTarget { index: 0, path: "emails".into() }, Some("noTarget"), 400),
            (
                PatchError::Mutability {
                    index: 0,
                    op: OpKind::Replace,
                    path: "id".into(),
                    mutability: Mutability::ReadOnly,
                },
                Some("mutability"),
                400,
            ),
            (
                PatchError::Required { index: 0, op: OpKind::Remove, path: "userName".into() },
                Some("mutability"),
                400,
            ),
            (
                PatchError::InvalidValue { index: 0, path: "active".into(), reason: "r", found: "a string" },
                Some("invalidValue"),
                400,
            ),
            (
                PatchError::UnsupportedPath { index: 0, path: "emails.value".into(), reason: "r" },
                Some("invalidPath"),
                400,
            ),
            (PatchError::ResourceNotObject { found: "null" }, None, 500),
        ];
        for (err, scim_type, status) in cases {
            assert_eq!((err.scim_type(), err.status()), (scim_type, status), "{err:?}");
        }
    }

    #[test]
    fn messages_carry_the_evidence() {
        let err = PatchError::Mutability {
            index: 2,
            op: OpKind::Replace,
            path: "id".into(),
            mutability: Mutability::ReadOnly,
        };
        assert_eq!(err.to_string(), "operation 2 (replace) cannot modify id: it is readOnly");
        let err =
            PatchError::WrongSchemas { found: vec!["urn:ietf:params:scim:schemas:core:2.0:User".into()] };
        assert_eq!(
            err.to_string(),
            "\"schemas\" must contain \"urn:ietf:params:scim:api:messages:2.0:PatchOp\"; \
             found [\"urn:ietf:params:scim:schemas:core:2.0:User\"]"
        );
        let err =
            PatchError::NoTarget { index: 0, path: r#"emails[type eq "work" or type eq "home"]"#.into() };
        assert_eq!(
            err.to_string(),
            "operation 0: nothing matches emails[type eq \"work\" or type eq \"home\"], \
             and the filter does not describe a value to create"
        );
    }
}
