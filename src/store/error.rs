//! Store errors, with SQLite constraint failures turned into named, client-facing conflicts.

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write; `what` names the columns.
    #[error("already exists: {what}")]
    Conflict { what: String },
    /// A foreign key or check constraint refused the write.
    #[error("constraint failed: {what}")]
    Constraint { what: String },
    /// The database could not be prepared (pragmas, migrations).
    #[error("store setup: {0}")]
    Setup(String),
    /// The writer thread is gone (shutting down or crashed).
    #[error("store writer is not running")]
    WriterGone,
    /// A job panicked; its transaction savepoint was rolled back.
    #[error("store job panicked")]
    Panicked,
    /// A stored value could not be decoded.
    #[error("corrupt stored value in {what}: {message}")]
    Corrupt { what: &'static str, message: String },
    /// A statement that must return a row returned none.
    #[error("the query returned no row")]
    NoRow,
    /// The database cannot be reached now (PostgreSQL down or the connection
    /// lost): answered 503, and the store reconnects by itself.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Any other PostgreSQL error (its message and causes).
    #[error("postgres: {0}")]
    Postgres(String),
    /// Any other SQLite error.
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::FromSqlConversionFailure(_, _, inner) = &e {
            // A stored kind or origin this code does not know.
            if let Some(k) = inner.downcast_ref::<crate::model::UnknownConnectionKind>() {
                return StoreError::Corrupt { what: "connection kind", message: k.to_string() };
            }
            if let Some(o) = inner.downcast_ref::<crate::model::UnknownOrigin>() {
                return StoreError::Corrupt { what: "user origin", message: o.to_string() };
            }
        }
        if let rusqlite::Error::SqliteFailure(code, Some(msg)) = &e {
            if code.code == rusqlite::ErrorCode::ConstraintViolation {
                // SQLite names the columns ("UNIQUE constraint failed: orgs.slug")
                // or the named CHECK constraint.
                if let Some(cols) = msg.strip_prefix("UNIQUE constraint failed: ") {
                    return StoreError::Conflict { what: cols.to_string() };
                }
                return StoreError::Constraint { what: msg.clone() };
            }
        }
        StoreError::Sqlite(e)
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt { what: "json", message: e.to_string() }
    }
}
