//! The org's change events (docs/events.md), paged by id: the pull API.

use axum::extract::Path;
use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::error::ApiError;
use crate::events::pull::{self, DEFAULT_LIMIT, MAX_LIMIT};
use crate::http::AppState;
use crate::http::extract::{Operator, query};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    after: Option<i64>,
    limit: Option<u32>,
}

async fn admin_org_events_get(
    State(s): State<AppState>,
    _op: Operator,
    Path(org): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let page: Page = query(raw.as_deref())?;
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!("limit must be 1..={MAX_LIMIT}")));
    }
    let after = page.after.unwrap_or(0).max(0);
    Ok(Json(pull::after(&s.db, &org, after, limit).await?))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/v1/orgs/{org}/events", get(admin_org_events_get))
}
