//! Members, project collaborators (manual grants), and one user's access explained.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;

use crate::access;
use crate::directory::people;
use crate::http::ApiError;
use crate::http::AppState;
use crate::http::extract::{ApiJson, Operator, OrgItemPath, OrgPath, ProjectItemPath, ProjectPath};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCollaborator {
    email: String,
    role: String,
}

async fn admin_org_members_get(
    State(s): State<AppState>,
    _op: Operator,
    OrgPath(org): OrgPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(people::members(&s.db, &org).await?))
}

async fn admin_org_project_collaborators_get(
    State(s): State<AppState>,
    _op: Operator,
    ProjectPath(org, project): ProjectPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(people::collaborators(&s.db, &org, &project).await?))
}

async fn admin_org_project_collaborators_post(
    State(s): State<AppState>,
    _op: Operator,
    ProjectPath(org, project): ProjectPath,
    ApiJson(body): ApiJson<NewCollaborator>,
) -> Result<impl IntoResponse, ApiError> {
    let c = access::people::add_collaborator(&s.db, Operator::ACTOR, &org, &project, &body.email, &body.role)
        .await?;
    Ok((StatusCode::CREATED, Json(c)))
}

async fn admin_org_project_collaborator_delete(
    State(s): State<AppState>,
    _op: Operator,
    ProjectItemPath(org, project, user_id): ProjectItemPath,
) -> Result<impl IntoResponse, ApiError> {
    access::people::remove_collaborator(&s.db, Operator::ACTOR, &org, &project, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn admin_org_user_access_get(
    State(s): State<AppState>,
    _op: Operator,
    OrgItemPath(org, user_id): OrgItemPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(people::access(&s.db, &org, &user_id).await?))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/orgs/{org}/members", get(admin_org_members_get))
        .route(
            "/admin/v1/orgs/{org}/projects/{project}/collaborators",
            get(admin_org_project_collaborators_get).post(admin_org_project_collaborators_post),
        )
        .route(
            "/admin/v1/orgs/{org}/projects/{project}/collaborators/{user_id}",
            delete(admin_org_project_collaborator_delete),
        )
        .route("/admin/v1/orgs/{org}/users/{user_id}/access", get(admin_org_user_access_get))
}
