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

/// The kind a create body asks for.
fn kind_of(body: &Value) -> Result<ConnectionKind, Error> {
    let kind = body.get("kind").and_then(Value::as_str);
    kind.and_then(|k| ConnectionKind::parse(k).ok())
        .ok_or_else(|| Error::invalid("kind", format!("{kind:?}: use \"saml\" or \"oidc\"")))
}

async fn admin_org_connections_post(
    State(s): State<AppState>,
    _op: Operator,
    OrgPath(org): OrgPath,
    ApiJson(body): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let org = orgs::get_org(&s.db, &org).await?;
    // The kind chooses the typed body, which the kind's admin code reads.
    let created = match kind_of(&body)? {
        ConnectionKind::Saml => crate::saml::admin::create(&(&s).into(), Operator::ACTOR, &org, body).await?,
        ConnectionKind::Oidc => crate::oidc::admin::create(&(&s).into(), Operator::ACTOR, &org, body).await?,
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_kind_chooses_the_body() {
        assert_eq!(kind_of(&json!({"kind": "saml"})).unwrap(), ConnectionKind::Saml);
        assert_eq!(kind_of(&json!({"kind": "oidc", "name": 1})).unwrap(), ConnectionKind::Oidc);
        for (body, err) in [
            (json!({}), r#"kind: None: use "saml" or "oidc""#),
            (json!({"kind": 5}), r#"kind: None: use "saml" or "oidc""#),
            (json!([1]), r#"kind: None: use "saml" or "oidc""#),
            (json!({"kind": "SAML"}), r#"kind: Some("SAML"): use "saml" or "oidc""#),
        ] {
            assert_eq!(kind_of(&body).unwrap_err().to_string(), err, "{body}");
        }
    }
}
