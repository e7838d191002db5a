//! PATCH (temporary: not wired yet).

use serde_json::Value;

use super::error::ScimError;
use super::query::ListParams;
use super::users::Ctx;
use crate::store::Db;

fn not_yet() -> ScimError {
    ScimError::new(axum::http::StatusCode::NOT_IMPLEMENTED, None, "PATCH is not implemented yet")
}

pub async fn patch_user(
    _db: &Db,
    _ctx: &Ctx,
    _id: &str,
    _body: Value,
    _if_match: Option<String>,
) -> Result<(Value, i64), ScimError> {
    Err(not_yet())
}

pub async fn patch_group(
    _db: &Db,
    _ctx: &Ctx,
    _id: &str,
    _body: Value,
    _if_match: Option<String>,
    _p: ListParams,
) -> Result<(Value, i64), ScimError> {
    Err(not_yet())
}
