//! The platform-facing access API: project API keys for session holders, and
//! `POST /v1/authz/check`, which the platform's services call to decide a
//! request made with a session token or an API key.

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::api_keys::{self, KEY_PREFIX};
use super::mapping::Role;
use super::permissions::{Action, check};
use super::scope::{ScopeError, resolve};
use crate::directory::Project;
use crate::error::Error;
use crate::http::ApiError;
use crate::http::AppState;
use crate::http::extract::{ApiJson, ApiJsonOpt};
use crate::session::routes::SessionUser;
use crate::session::{SessionService, authenticate};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewKey {
    #[serde(default)]
    name: Option<String>,
}

async fn v1_project_api_keys_post(
    State(s): State<AppState>,
    SessionUser(ctx): SessionUser,
    Path((org, project)): Path<(String, String)>,
    ApiJsonOpt(body): ApiJsonOpt<NewKey>,
) -> Result<impl IntoResponse, ApiError> {
    let name = body.and_then(|b| b.name).unwrap_or_default();
    let key = api_keys::create(&s.db, &ctx, &org, &project, &name).await?;
    Ok((StatusCode::CREATED, Json(key)))
}

async fn v1_project_api_keys_get(
    State(s): State<AppState>,
    SessionUser(ctx): SessionUser,
    Path((org, project)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(api_keys::list(&s.db, &ctx, &org, &project).await?))
}

async fn v1_project_api_key_delete(
    State(s): State<AppState>,
    SessionUser(ctx): SessionUser,
    Path((org, project, id)): Path<(String, String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    api_keys::revoke(&s.db, &ctx, &org, &project, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckRequest {
    credential: String,
    action: String,
    org: String,
    #[serde(default)]
    project: Option<String>,
}

fn deny(reason: impl Into<String>) -> Json<serde_json::Value> {
    Json(json!({"allow": false, "role": null, "reason": reason.into()}))
}

/// The project the check is about, or the deny answer (logged and counted) when a
/// project-scoped action names none or the named project is not the org's.
async fn scope_of(
    s: &AppState,
    org_id: &str,
    req: &CheckRequest,
    action: Action,
) -> Result<Result<Option<Project>, Json<serde_json::Value>>, ApiError> {
    let (org_id, org, project) = (org_id.to_string(), req.org.clone(), req.project.clone());
    let resolved =
        s.db.read(move |c| Ok::<_, Error>(resolve(c, &org_id, &org, project.as_deref(), action))).await?;
    match resolved {
        Ok(project) => Ok(Ok(project)),
        Err(ScopeError::Store(e)) => Err(e.into()),
        Err(e) => {
            s.metrics.refusal("authz", e.reason());
            tracing::info!(reason = e.reason(), org = %req.org, action = %action, "authz check denied: {e}");
            Ok(Err(deny(e.to_string())))
        }
    }
}

/// Decide `action` for the holder of `credential` in `org` (and `project`).
/// Always 200 with `allow`; 400/422 only for a malformed request.
async fn v1_authz_check_post(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CheckRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let action: Action = req.action.parse().map_err(|e: super::permissions::UnknownAction| {
        ApiError::from(Error::invalid("action", e.to_string()))
    })?;
    if req.credential.starts_with(KEY_PREFIX) {
        let presented = req.credential.clone();
        let holder = s.db.read(move |c| api_keys::verify(c, &presented)).await?;
        let Some(h) = holder else {
            s.metrics.refusal("authz", "bad_api_key");
            return Ok(deny("invalid or revoked API key"));
        };
        if h.org_slug != req.org {
            return Ok(deny("the API key belongs to another org"));
        }
        // A project-scoped action must name the key's project: nothing is implied.
        let org_id = h.key.org_id.clone();
        if let Err(denied) = scope_of(&s, &org_id, &req, action).await? {
            return Ok(denied);
        }
        if req.project.as_deref().is_some_and(|p| p != h.project_slug) {
            return Ok(deny(format!("the API key is scoped to project {:?}", h.project_slug)));
        }
        if !h.user.active || h.project_role.is_none() {
            return Ok(deny("the key's owner no longer has access to its project"));
        }
        // An API key carries project rights only: no org-level action.
        let d = check(None, h.project_role, action);
        return Ok(Json(json!({"allow": d.allow, "role": d.role, "reason": d.reason,
                              "user_id": h.user.id, "project": h.project_slug, "credential": "api_key"})));
    }
    let ctx = match authenticate(&SessionService::from_ref(&s), &req.credential).await {
        Ok(ctx) => ctx,
        Err(e) => {
            s.metrics.refusal("authz", "bad_session");
            return Ok(deny(format!("invalid session: {e}")));
        }
    };
    if ctx.org_slug != req.org {
        return Ok(deny("the session belongs to another org"));
    }
    // The project must exist in the org, or an org admin would be allowed on any name.
    let project = match scope_of(&s, &ctx.org_id, &req, action).await? {
        Ok(project) => project,
        Err(denied) => return Ok(denied),
    };
    let project_role: Option<Role> =
        project.and_then(|p| ctx.projects.iter().find(|(id, _, _)| *id == p.id).map(|(_, _, r)| *r));
    let d = check(ctx.org_role, project_role, action);
    Ok(Json(json!({"allow": d.allow, "role": d.role, "reason": d.reason,
                   "user_id": ctx.user.id, "credential": "session"})))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/orgs/{org}/projects/{project}/api-keys",
            get(v1_project_api_keys_get).post(v1_project_api_keys_post),
        )
        .route("/v1/orgs/{org}/projects/{project}/api-keys/{id}", delete(v1_project_api_key_delete))
        .route("/v1/authz/check", post(v1_authz_check_post))
}
