//! SCIM tokens of an org.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::directory::tokens;
use crate::http::ApiError;
use crate::http::AppState;
use crate::http::extract::{ApiJsonOpt, Operator, OrgItemPath, OrgPath};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewToken {
    #[serde(default)]
    description: Option<String>,
}

async fn admin_org_scim_tokens_post(
    State(s): State<AppState>,
    _op: Operator,
    OrgPath(org): OrgPath,
    ApiJsonOpt(body): ApiJsonOpt<NewToken>,
) -> Result<impl IntoResponse, ApiError> {
    let desc = body.and_then(|b| b.description).unwrap_or_default();
    let t = tokens::create(&s.db, Operator::ACTOR, &org, &desc).await?;
    let scim_base = format!("{}/scim/v2/{org}", s.public_url);
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": t.id, "token": t.token.expose(), "scim_base_url": scim_base})),
    ))
}

async fn admin_org_scim_tokens_get(
    State(s): State<AppState>,
    _op: Operator,
    OrgPath(org): OrgPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(tokens::list(&s.db, &org).await?))
}

async fn admin_org_scim_token_delete(
    State(s): State<AppState>,
    _op: Operator,
    OrgItemPath(org, id): OrgItemPath,
) -> Result<impl IntoResponse, ApiError> {
    tokens::revoke(&s.db, Operator::ACTOR, &org, &id).await?;
    // Revocation takes effect at once: forget every cached verification.
    s.scim_tokens.clear();
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/orgs/{org}/scim-tokens",
            get(admin_org_scim_tokens_get).post(admin_org_scim_tokens_post),
        )
        .route("/admin/v1/orgs/{org}/scim-tokens/{id}", delete(admin_org_scim_token_delete))
}
