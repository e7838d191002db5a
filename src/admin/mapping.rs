//! The org's mapping document: get, preview, apply.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::access::service;
use crate::http::ApiError;
use crate::http::AppState;
use crate::http::extract::{ApiJson, Operator, OrgPath};

fn document(body: &Value) -> Result<crate::access::mapping::MappingDocument, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(service::parse_document(&bytes)?)
}

async fn admin_org_mapping_get(
    State(s): State<AppState>,
    _op: Operator,
    OrgPath(org): OrgPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::get(&s.db, &org).await?))
}

async fn admin_org_mapping_put(
    State(s): State<AppState>,
    _op: Operator,
    OrgPath(org): OrgPath,
    ApiJson(body): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let doc = document(&body)?;
    let applied = service::apply(&s.db, Operator::ACTOR, &org, doc).await?;
    Ok(Json(json!({"mapping": applied.mapping, "version": applied.version, "changes": applied.changes})))
}

async fn admin_org_mapping_preview_post(
    State(s): State<AppState>,
    _op: Operator,
    OrgPath(org): OrgPath,
    ApiJson(body): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let doc = document(&body)?;
    let changes = service::preview(&s.db, &org, doc).await?;
    Ok(Json(json!({"changes": changes})))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/orgs/{org}/mapping", get(admin_org_mapping_get).put(admin_org_mapping_put))
        .route("/admin/v1/orgs/{org}/mapping/preview", post(admin_org_mapping_preview_post))
}
