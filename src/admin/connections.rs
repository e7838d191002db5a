//! SSO connections of an org. The kind-specific work (metadata, keys,
//! discovery, validation of settings) is done by `saml::admin` and
//! `oidc::admin`; this file dispatches on `kind` and never returns secrets.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::connections;
use crate::directory::{ConnectionKind, orgs};
use crate::error::Error;
use crate::http::ApiError;
use crate::http::AppState;
use crate::http::extract::{ApiJson, Operator, OrgItemPath, OrgPath};
use crate::store::connections::ConnectionRow;

fn describe(s: &AppState, row: &ConnectionRow) -> Value {
    match row.kind {
        ConnectionKind::Saml => crate::saml::admin::describe(&s.into(), row),
        ConnectionKind::Oidc => crate::oidc::admin::describe(&s.into(), row),
    }
}

impl From<crate::saml::admin::AdminError> for ApiError {
    fn from(e: crate::saml::admin::AdminError) -> Self {
        match e {
            crate::saml::admin::AdminError::Domain(e) => e.into(),
            crate::saml::admin::AdminError::Internal { .. } => ApiError::internal(),
        }
    }
}

impl From<crate::oidc::admin::AdminError> for ApiError {
    fn from(e: crate::oidc::admin::AdminError) -> Self {
        use crate::oidc::admin::AdminError;
        match e {
            AdminError::Domain(e) => e.into(),
            e @ AdminError::Discovery { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "discovery_failed", e.to_string())
            }
            AdminError::Internal { .. } => ApiError::internal(),
        }
    }
}

async fn admin_org_connections_post(
    State(s): State<AppState>,
    _op: Operator,
    OrgPath(org): OrgPath,
    ApiJson(body): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let org = orgs::get_org(&s.db, &org).await?;
    let kind = body.get("kind").and_then(Value::as_str);
    let created = match kind.map(ConnectionKind::parse) {
        Some(Ok(ConnectionKind::Saml)) => {
            crate::saml::admin::create(&(&s).into(), Operator::ACTOR, &org, body).await?
        }
        Some(Ok(ConnectionKind::Oidc)) => {
            crate::oidc::admin::create(&(&s).into(), Operator::ACTOR, &org, body).await?
        }
        _ => {
            let other = kind;
            return Err(Error::invalid("kind", format!("{other:?}: use \"saml\" or \"oidc\"")).into());
        }
    };
    Ok((StatusCode::CREATED, Json(created)))
}

async fn admin_org_connections_get(
    State(s): State<AppState>,
    _op: Operator,
    OrgPath(org): OrgPath,
) -> Result<impl IntoResponse, ApiError> {
    let org = orgs::get_org(&s.db, &org).await?;
    let rows = connections::list(&s.db, &org.id).await?;
    Ok(Json(rows.iter().map(|r| describe(&s, r)).collect::<Vec<_>>()))
}

async fn connection_of(
    s: &AppState,
    org: &str,
    id: &str,
) -> Result<(ConnectionRow, crate::directory::Org), ApiError> {
    let org = orgs::get_org(&s.db, org).await?;
    let (row, _) = connections::get(&s.db, id).await?;
    if row.org_id != org.id {
        return Err(Error::not_found("connection", id).into());
    }
    Ok((row, org))
}

async fn admin_org_connection_get(
    State(s): State<AppState>,
    _op: Operator,
    OrgItemPath(org, id): OrgItemPath,
) -> Result<impl IntoResponse, ApiError> {
    let (row, _) = connection_of(&s, &org, &id).await?;
    Ok(Json(describe(&s, &row)))
}

async fn admin_org_connection_patch(
    State(s): State<AppState>,
    _op: Operator,
    OrgItemPath(org, id): OrgItemPath,
    ApiJson(body): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let (row, org) = connection_of(&s, &org, &id).await?;
    let updated = match row.kind {
        ConnectionKind::Saml => {
            crate::saml::admin::update(&(&s).into(), Operator::ACTOR, &org, row, body).await?
        }
        ConnectionKind::Oidc => {
            crate::oidc::admin::update(&(&s).into(), Operator::ACTOR, &org, row, body).await?
        }
    };
    Ok(Json(updated))
}

async fn admin_org_connection_delete(
    State(s): State<AppState>,
    _op: Operator,
    OrgItemPath(org, id): OrgItemPath,
) -> Result<impl IntoResponse, ApiError> {
    let (_, org) = connection_of(&s, &org, &id).await?;
    connections::delete(&s.db, Operator::ACTOR, &org, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/orgs/{org}/connections",
            get(admin_org_connections_get).post(admin_org_connections_post),
        )
        .route(
            "/admin/v1/orgs/{org}/connections/{id}",
            get(admin_org_connection_get)
                .patch(admin_org_connection_patch)
                .delete(admin_org_connection_delete),
        )
}
