//! HTTP assembly: the shared state, the router with its layers (request id,
//! tracing, metrics, catch-panic, body limits), and the extractors every
//! surface uses.

mod api_error;
pub mod extract;
pub mod layers;
pub mod limit;
pub mod listener;
pub mod login_pages;
pub mod shape;
pub mod target;

pub use api_error::ApiError;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;
use crate::secrets::SecretBox;
use crate::store::Db;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub metrics: Arc<Metrics>,
    /// SHA-256 of the operator token.
    pub admin_token_hash: Arc<[u8; 32]>,
    pub secret_box: SecretBox,
    /// Absolute base URL without a trailing slash.
    pub public_url: Arc<str>,
    pub admin_body_limit: usize,
    pub sessions: crate::session::SharedSessions,
    pub scim_tokens: Arc<crate::directory::tokens::TokenCache>,
    /// Rate limit on unauthenticated login starts (per connection).
    pub login_starts: Arc<limit::RateLimiter>,
    /// SCIM load shedding and per-token rate limits (scim/shed.rs).
    pub scim_shed: Arc<crate::scim::shed::Shed>,
    /// What outbound fetches of admin-API URLs may reach (IdP metadata, OIDC).
    pub outbound: crate::outbound::Policy,
    pub saml: Arc<crate::saml::SamlState>,
    pub oidc: Arc<crate::oidc::OidcState>,
    /// Universal Logout and Shared Signals (the IdPs' JWKS cache).
    pub signals: Arc<crate::signals::SignalsState>,
    /// Webhook delivery: the dispatcher's wake-up, settings and guarded client.
    pub webhooks: Arc<crate::webhooks::WebhookState>,
}

impl From<&AppState> for crate::webhooks::Service {
    fn from(s: &AppState) -> Self {
        crate::webhooks::Service {
            db: s.db.clone(),
            secrets: s.secret_box.clone(),
            metrics: s.metrics.clone(),
            webhooks: s.webhooks.clone(),
        }
    }
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let app = Router::new()
        .route("/healthz", get(healthz_get))
        .route("/readyz", get(readyz_get))
        .route("/metrics", get(metrics_get))
        .merge(crate::admin::router(&state))
        .merge(crate::session::routes::router())
        .merge(crate::access::routes::router())
        .merge(crate::saml::routes::router())
        .merge(crate::oidc::routes::router())
        .merge(crate::scim::routes::router(&state))
        .merge(crate::signals::routes::router())
        .fallback(shape::not_found)
        .method_not_allowed_fallback(shape::method_not_allowed)
        .with_state(state.clone())
        // Framework rejections (text/plain) in the surface's shape; inside the request-id and
        // tracing layers, so the answer keeps its x-request-id.
        .layer(axum::middleware::from_fn(shape::reshape));
    layers::apply(app, state)
}

async fn healthz_get() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn readyz_get(
    axum::extract::State(s): axum::extract::State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    let ok: Result<(), crate::store::StoreError> = s.db.read(crate::store::settings::ping).await;
    match ok {
        Ok(_) => Ok(axum::Json(serde_json::json!({"status": "ready"}))),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "database not reachable"))
        }
    }
}

async fn metrics_get(axum::extract::State(s): axum::extract::State<AppState>) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], s.metrics.render())
}
