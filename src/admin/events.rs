//! The org's change events (docs/events.md), paged by id: the pull API.

use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::events::pull;
use crate::http::ApiError;
use crate::http::AppState;
use crate::http::extract::{Operator, OrgPath};

async fn admin_org_events_get(
    State(s): State<AppState>,
    _op: Operator,
    OrgPath(org): OrgPath,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let (after, limit) = super::paging::after_and_limit(raw.as_deref())?;
    Ok(Json(pull::after(&s.db, &org, after, limit).await?))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/v1/orgs/{org}/events", get(admin_org_events_get))
}
