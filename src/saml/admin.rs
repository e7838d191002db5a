//! SAML connections in the admin API (not implemented yet: 501).

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::directory::Org;
use crate::error::ApiError;
use crate::http::AppState;
use crate::store::connections::ConnectionRow;

fn not_yet() -> ApiError {
    ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_implemented", "SAML connections are not implemented yet")
}

pub async fn create(_s: &AppState, _org: &Org, _body: Value) -> Result<Value, ApiError> {
    Err(not_yet())
}

pub async fn update(_s: &AppState, _org: &Org, _row: ConnectionRow, _body: Value) -> Result<Value, ApiError> {
    Err(not_yet())
}

/// The connection as the admin API shows it (never a secret).
pub fn describe(_s: &AppState, row: &ConnectionRow) -> Value {
    json!({"id": row.id, "kind": row.kind, "name": row.name, "created_at": row.created_at})
}
