//! Orgs and projects.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::directory::orgs;
use crate::http::ApiError;
use crate::http::AppState;
use crate::http::extract::{ApiJson, Operator, OrgPath, ProjectPath};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewNamed {
    slug: String,
    name: String,
}

async fn admin_orgs_post(
    State(s): State<AppState>,
    _op: Operator,
    ApiJson(body): ApiJson<NewNamed>,
) -> Result<impl IntoResponse, ApiError> {
    let org = orgs::create_org(&s.db, Operator::ACTOR, &body.slug, &body.name).await?;
    Ok((StatusCode::CREATED, Json(org)))
}

async fn admin_orgs_get(State(s): State<AppState>, _op: Operator) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(orgs::list_orgs(&s.db).await?))
}

async fn admin_org_get(
    State(s): State<AppState>,
    _op: Operator,
    OrgPath(org): OrgPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(orgs::get_org(&s.db, &org).await?))
}

async fn admin_org_projects_post(
    State(s): State<AppState>,
    _op: Operator,
    OrgPath(org): OrgPath,
    ApiJson(body): ApiJson<NewNamed>,
) -> Result<impl IntoResponse, ApiError> {
    let p = orgs::create_project(&s.db, Operator::ACTOR, &org, &body.slug, &body.name).await?;
    Ok((StatusCode::CREATED, Json(p)))
}

async fn admin_org_projects_get(
    State(s): State<AppState>,
    _op: Operator,
    OrgPath(org): OrgPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(orgs::list_projects(&s.db, &org).await?))
}

async fn admin_org_project_get(
    State(s): State<AppState>,
    _op: Operator,
    ProjectPath(org, project): ProjectPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(orgs::get_project(&s.db, &org, &project).await?))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/orgs", get(admin_orgs_get).post(admin_orgs_post))
        .route("/admin/v1/orgs/{org}", get(admin_org_get))
        .route("/admin/v1/orgs/{org}/projects", get(admin_org_projects_get).post(admin_org_projects_post))
        .route("/admin/v1/orgs/{org}/projects/{project}", get(admin_org_project_get))
}
