//! The HTTP side of the signal endpoints: read the request, run the domain
//! (`universal_logout`, `ssf`), and answer as each specification says —
//! Universal Logout with 204 or the JSON error shape (`{"error":{…}}`), the
//! SSF push with 202 or the RFC 8935 error body (`{"err","description"}`).
//! Every refusal is logged with its precise reason and counted
//! (`refusals{surface,reason}`).
//!
//! It also builds the domain's `Service` from the app state, with the OIDC
//! discovery cache as the source of a provider's keys (`OidcProviderKeys`).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use super::jwt::JwtError;
use super::ssf::{self, Outcome, SsfError};
use super::universal_logout::{self, UlError};
use super::{JwksUriFuture, ProviderKeys, Service};
use crate::http::ApiError;
use crate::http::AppState;
use crate::oidc::OidcState;
use crate::oidc::config::OidcDraft;
use crate::store::connections::ConnectionRow;

impl From<&AppState> for Service {
    fn from(s: &AppState) -> Self {
        Service {
            db: s.db.clone(),
            secrets: s.secret_box.clone(),
            public_url: s.public_url.clone(),
            metrics: s.metrics.clone(),
            state: s.signals.clone(),
            http: s.oidc.client(),
            providers: Arc::new(OidcProviderKeys(s.oidc.clone())),
        }
    }
}

impl FromRef<AppState> for Service {
    fn from_ref(s: &AppState) -> Self {
        s.into()
    }
}

/// A provider's `jwks_uri` from the OIDC discovery cache (fetched when not cached).
struct OidcProviderKeys(Arc<OidcState>);

impl ProviderKeys for OidcProviderKeys {
    fn jwks_uri<'a>(&'a self, row: &'a ConnectionRow) -> JwksUriFuture<'a> {
        Box::pin(async move {
            let draft: OidcDraft = serde_json::from_str(&row.config).map_err(|e| e.to_string())?;
            let cfg =
                draft.ready().ok_or_else(|| format!("connection {}: no issuer and client id", row.id))?;
            let http = self.0.http().map_err(|e| e.to_string())?;
            let provider = self.0.discovery.get(http, &row.id, &cfg).await.map_err(|e| e.to_string())?;
            Ok(provider.metadata.jwks_uri().to_string())
        })
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/idp/{connection_id}/global-token-revocation", post(idp_global_token_revocation_post))
        .route("/ssf/{connection_id}/push", post(ssf_push_post))
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /idp/{connection_id}/global-token-revocation`: 204 once every
/// session and API key of the person is gone.
async fn idp_global_token_revocation_post(
    State(state): State<Service>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = header_str(&headers, header::AUTHORIZATION);
    match universal_logout::revoke(&state, &id, auth, &body).await {
        Ok((_, subject, ended)) => {
            tracing::info!(connection = %id, format = subject.format(), users = ended.users,
                sessions = ended.sessions, api_keys = ended.api_keys, "Universal Logout: sessions ended");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => {
            let reason = e.reason();
            let answer = match &e {
                UlError::Internal(_) => ApiError::internal(),
                UlError::UnknownConnection { .. } | UlError::UnknownSubject { .. } => {
                    ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
                }
                UlError::Body(_) => ApiError::bad_request(e.to_string()),
                // The IdP's keys could not be fetched: not the caller's fault; retry later.
                UlError::Discovery(_) | UlError::Token(JwtError::Keys { .. }) => {
                    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "keys_unavailable", e.to_string())
                }
                _ => ApiError::unauthorized(e.to_string()),
            };
            if let UlError::Internal(inner) = &e {
                tracing::error!(connection = %id, error = %inner, "Universal Logout failed");
            } else {
                tracing::warn!(connection = %id, reason, error = %e, "Universal Logout refused");
                state.metrics.refusal("universal_logout", reason);
            }
            answer.into_response()
        }
    }
}

/// `POST /ssf/{connection_id}/push`: 202 once the SET is verified and acted on.
async fn ssf_push_post(
    State(state): State<Service>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ct = header_str(&headers, header::CONTENT_TYPE);
    match ssf::receive(&state, &id, ct, &body).await {
        Ok(Outcome::Processed { event, ended }) => {
            if ended.users == 0 {
                tracing::info!(connection = %id, event = %event, "SET accepted: nothing to end in this org");
            } else {
                tracing::info!(connection = %id, event = %event, users = ended.users, sessions = ended.sessions,
                    api_keys = ended.api_keys, "SET accepted: sessions ended");
            }
            StatusCode::ACCEPTED.into_response()
        }
        Ok(Outcome::Duplicate { jti }) => {
            tracing::info!(connection = %id, jti = %jti, "SET accepted again: already processed");
            StatusCode::ACCEPTED.into_response()
        }
        Err(e) => {
            let status = match &e {
                SsfError::Internal(inner) => {
                    tracing::error!(connection = %id, error = %inner, "SET processing failed");
                    return ApiError::internal().into_response();
                }
                // Keys unavailable: not the SET's fault; the transmitter retries later.
                SsfError::Token(JwtError::Keys { .. }) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            let reason = e.reason();
            tracing::warn!(connection = %id, reason, err = e.err(), error = %e, "SET refused");
            state.metrics.refusal("ssf", reason);
            let err = if status == StatusCode::BAD_REQUEST { e.err() } else { "temporarily_unavailable" };
            (status, axum::Json(json!({"err": err, "description": e.to_string()}))).into_response()
        }
    }
}
