//! Webhooks of an org: create (secret shown once), list with delivery state,
//! delete, rotate the secret, send a test ping. Delivery itself is
//! webhooks::dispatch; see docs/webhooks.md.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::clock;
use crate::error::Error;
use crate::http::ApiError;
use crate::http::AppState;
use crate::http::extract::{ApiJson, Operator, OrgItemPath, OrgPath};
use crate::store;
use crate::webhooks::{self, TEST_EVENT, dispatch};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
    #[serde(default)]
    events: Vec<String>,
}

async fn admin_org_webhooks_post(
    State(s): State<AppState>,
    _op: Operator,
    OrgPath(org): OrgPath,
    ApiJson(body): ApiJson<NewWebhook>,
) -> Result<impl IntoResponse, ApiError> {
    let issued = webhooks::create(&(&s).into(), Operator::ACTOR, &org, &body.url, &body.events).await?;
    let row = &issued.row;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": row.id,
            "url": row.url,
            "events": webhooks::events_of(row),
            "secret": issued.secret.expose(),
        })),
    ))
}

async fn admin_org_webhooks_get(
    State(s): State<AppState>,
    _op: Operator,
    OrgPath(org): OrgPath,
) -> Result<impl IntoResponse, ApiError> {
    let rows = webhooks::list(&s.db, &org).await?;
    let settings = s.webhooks.settings;
    Ok(Json(rows.iter().map(|(w, pending)| webhooks::describe(w, *pending, &settings)).collect::<Vec<_>>()))
}

async fn admin_org_webhook_delete(
    State(s): State<AppState>,
    _op: Operator,
    OrgItemPath(org, id): OrgItemPath,
) -> Result<impl IntoResponse, ApiError> {
    webhooks::delete(&s.db, Operator::ACTOR, &org, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn admin_org_webhook_rotate_secret_post(
    State(s): State<AppState>,
    _op: Operator,
    OrgItemPath(org, id): OrgItemPath,
) -> Result<impl IntoResponse, ApiError> {
    let issued = webhooks::rotate_secret(&(&s).into(), Operator::ACTOR, &org, &id).await?;
    Ok(Json(json!({
        "secret": issued.secret.expose(),
        "previous_secret_until": issued.row.previous_until,
    })))
}

/// Send a `webhook.test` event to this webhook only, now; its cursor is untouched.
async fn admin_org_webhook_test_post(
    State(s): State<AppState>,
    _op: Operator,
    OrgItemPath(org, id): OrgItemPath,
) -> Result<impl IntoResponse, ApiError> {
    let (o, i) = (org.clone(), id.clone());
    let row =
        s.db.read(move |c| {
            let org = crate::directory::orgs::org_in(c, &o)?;
            store::webhooks::get(c, &org.id, &i)?.ok_or_else(|| Error::not_found("webhook", &i))
        })
        .await?;
    let msg_id = format!("test_{}", crate::secrets::random_hex(12));
    let body = dispatch::payload(&msg_id, TEST_EVENT, &clock::now_str(), &row.org_slug, &json!({}));
    match dispatch::send(&(&s).into(), &row, &msg_id, &body).await {
        Ok(status) => Ok(Json(json!({"id": msg_id, "status": status}))),
        Err(failure) => {
            let mut e = ApiError::new(StatusCode::BAD_GATEWAY, "webhook_failed", failure.to_string());
            e.details = Some(failure.to_json(&clock::now_str()));
            Err(e)
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/orgs/{org}/webhooks", get(admin_org_webhooks_get).post(admin_org_webhooks_post))
        .route("/admin/v1/orgs/{org}/webhooks/{id}", delete(admin_org_webhook_delete))
        .route("/admin/v1/orgs/{org}/webhooks/{id}/rotate-secret", post(admin_org_webhook_rotate_secret_post))
        .route("/admin/v1/orgs/{org}/webhooks/{id}/test", post(admin_org_webhook_test_post))
}
