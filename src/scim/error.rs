//! Why a SCIM request failed, with the values that explain it. The text of
//! each variant is the `detail` of the SCIM error (RFC 7644 §3.12); its
//! status and `scimType` are given once, in wire.rs, the SCIM edge.

use super::filter::FilterError;
use super::patch::PatchError;
use crate::directory::groups::MembershipError;
use crate::error::Error;
use crate::store::StoreError;

/// Why a bearer token does not admit a client (401).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    MissingToken,
    /// Unknown, revoked or malformed token.
    #[error("invalid or revoked token")]
    BadToken,
    /// A token of another org: as good as no token here.
    #[error("token is not valid for this organization")]
    OtherOrg,
}

/// A SCIM failure.
#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    /// The client is not admitted (401).
    #[error("{0}")]
    Unauthorized(Refusal),
    /// The request path has a segment that is not valid (400).
    #[error("the request path is not valid: {reason}")]
    BadPath { reason: String },
    /// The body is over the SCIM body limit (413).
    #[error("body over the {max}-byte limit")]
    BodyTooLarge { max: usize },
    /// The request is not what the protocol requires (400 `invalidSyntax`).
    #[error("{detail}")]
    InvalidSyntax { detail: String },
    /// A value is not acceptable (400 `invalidValue`).
    #[error("{detail}")]
    InvalidValue { detail: String },
    /// A `filter` that does not parse (400 `invalidFilter`).
    #[error(transparent)]
    Filter(FilterError),
    /// A `cursor` that is not one this server issued for this request, or
    /// has expired (400 `invalidCursor` / `expiredCursor`, RFC 9865).
    #[error(transparent)]
    Cursor(#[from] super::cursor::CursorError),
    /// A cursor-paged request's `count` out of range (400 `invalidCount`, RFC 9865).
    #[error("count must be an integer from 0 to {max} (maxPageSize) with cursor paging; got {sent:?}")]
    InvalidCount { sent: String, max: i64 },
    /// A PATCH request that cannot be applied (its own status and `scimType`).
    #[error(transparent)]
    Patch(#[from] PatchError),
    /// The resource does not exist (in this org) (404).
    #[error("{resource} {id} not found")]
    NotFound { resource: &'static str, id: String },
    /// A path under the org's SCIM base that names no endpoint (404).
    #[error("no such SCIM endpoint")]
    NoEndpoint,
    /// Search across resource types (root `/.search`) is not offered (501).
    #[error("search across resource types is not supported; use /Users/.search or /Groups/.search")]
    CrossTypeSearch,
    /// RFC 7644 §3.14: If-Match names another version (412).
    #[error("resource version is {current}, not {sent}")]
    PreconditionFailed { current: String, sent: String },
    /// A user's unique attribute is taken in the org (409 `uniqueness`).
    #[error("{attribute} is already in use in this organization")]
    Uniqueness { attribute: &'static str },
    /// Another group of the org has this displayName, case-insensitively (409 `uniqueness`).
    #[error(
        "displayName {display_name:?} is already the name of another group in this organization \
         (group names are unique, case-insensitively)"
    )]
    GroupNameTaken { display_name: String },
    /// Another group of the org has this externalId (409 `uniqueness`).
    #[error("externalId is already in use by another group")]
    GroupExternalIdTaken,
    /// A new user matches several existing ones; none is guessed (409 `uniqueness`).
    #[error(
        "this user matches {count} existing users of the organization ({}) by the connections' match rules; \
         refusing to guess which one it is",
        named.join(", ")
    )]
    AmbiguousUser { count: usize, named: Vec<String> },
    /// A group member that is too long to be a user id, or not a user of
    /// the org (400 `invalidValue`).
    #[error(transparent)]
    Membership(MembershipError),
    /// A stored resource over the size bound (413).
    #[error("the {resource} would be {bytes} bytes stored; at most {max} (docs/scim.md#limits)")]
    TooLarge { resource: &'static str, bytes: usize, max: usize },
    /// A Bulk request with too many operations (413 `tooMany`).
    #[error("{operations} operations; at most {max}")]
    TooMany { operations: usize, max: usize },
    /// A Bulk operation method and path that is not offered (400 `invalidPath`).
    #[error("unsupported bulk operation {method} {path}")]
    BulkUnsupported { method: String, path: String },
    /// A Bulk `bulkId:` reference to no earlier operation (409 `invalidValue`).
    #[error("unresolved reference bulkId:{bulk_id}")]
    BulkUnresolved { bulk_id: String },
    /// Refused before any work, under overload or over the token's rate
    /// (429 with `Retry-After`, shed.rs).
    #[error("{detail}")]
    TooManyRequests { reason: &'static str, detail: String, retry_after_secs: u64 },
    /// A failure of the domain below (access, directory).
    #[error(transparent)]
    Domain(Error),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl ScimError {
    /// 400 `invalidSyntax`.
    pub fn syntax(detail: impl Into<String>) -> Self {
        ScimError::InvalidSyntax { detail: detail.into() }
    }
    /// 400 `invalidValue`.
    pub fn value(detail: impl Into<String>) -> Self {
        ScimError::InvalidValue { detail: detail.into() }
    }
    /// 404 for a resource of this kind.
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        ScimError::NotFound { resource, id: id.into() }
    }
}

impl From<Error> for ScimError {
    fn from(e: Error) -> Self {
        ScimError::Domain(e)
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        ScimError::Store(e)
    }
}

impl From<MembershipError> for ScimError {
    fn from(e: MembershipError) -> Self {
        match e {
            MembershipError::Store(s) => ScimError::Store(s),
            other => ScimError::Membership(other),
        }
    }
}

impl From<FilterError> for ScimError {
    fn from(e: FilterError) -> Self {
        ScimError::Filter(e)
    }
}
