//! The domain's shared failure, `Error`, with evidence. Its wire shape
//! (`{"error":{"code","message"}}`) is `http::ApiError`, made once at the edge.

use crate::store::StoreError;

/// A domain failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named thing does not exist (in this org).
    #[error("{what} {key:?} not found")]
    NotFound { what: &'static str, key: String },
    /// The thing already exists (a uniqueness constraint).
    #[error("already exists: {what}")]
    Conflict { what: String },
    /// The caller is authenticated but not allowed to do this.
    #[error("forbidden: {reason}")]
    Forbidden { reason: String },
    /// A well-formed request with an invalid value.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A document (mapping) failed validation; every issue names its field path.
    #[error("invalid document: {}", issues.iter().map(|i| format!("{}: {}", i.path, i.message)).collect::<Vec<_>>().join("; "))]
    InvalidDocument { issues: Vec<crate::model::ValidationIssue> },
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl Error {
    pub fn not_found(what: &'static str, key: impl Into<String>) -> Self {
        Error::NotFound { what, key: key.into() }
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), message: message.into() }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { what } => Error::Conflict { what },
            other => Error::Store(other),
        }
    }
}
