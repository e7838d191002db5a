//! The HTTP side of the OIDC endpoints (an edge file): the `Service` the OIDC
//! code takes, built from the app state; the handlers of the login start, the
//! callback and the back-channel logout, which read the request as plain data,
//! call the protocol side (`login`, `callback`, `backchannel`) and turn its
//! outcome into a response (status, headers, cookies, pages); and `router()`.

use axum::body::Bytes;
use axum::extract::{FromRef, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::backchannel::{self, BackchannelError};
use super::login::{self, STATE_TTL, binding_cookie_name};
use super::{LoginError, Service, callback, query_params};
use crate::http::AppState;
use crate::http::login_pages;
use crate::session::login::LoginRefused;

/// Metrics surface of the back-channel logout refusals.
const BACKCHANNEL_SURFACE: &str = "oidc_backchannel";

impl From<&AppState> for Service {
    fn from(s: &AppState) -> Self {
        Service {
            db: s.db.clone(),
            secrets: s.secret_box.clone(),
            public_url: s.public_url.clone(),
            metrics: s.metrics.clone(),
            oidc: s.oidc.clone(),
            outbound: s.outbound,
        }
    }
}

impl FromRef<AppState> for Service {
    fn from_ref(s: &AppState) -> Self {
        s.into()
    }
}

/// The OIDC endpoints.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oidc/{connection_id}/login", get(oidc_login_get))
        .route("/oidc/{connection_id}/callback", get(oidc_callback_get))
        .route("/oidc/{connection_id}/backchannel-logout", post(oidc_backchannel_logout_post))
}

// --- Login start and callback ---------------------------------------------------------

/// Set-Cookie for the binding cookie (`max_age` 0 clears it). Scoped to the
/// callback path; SameSite=Lax still sends it on the provider's top-level
/// redirect back.
fn binding_cookie(public_url: &str, connection_id: &str, name: &str, value: &str, max_age: u64) -> String {
    let secure = if public_url.starts_with("https://") { "; Secure" } else { "" };
    format!(
        "{name}={value}; Path=/oidc/{connection_id}/callback; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    )
}

/// `GET /oidc/{connection_id}/login`: rate-limited, then a 303 to the provider.
async fn oidc_login_get(
    State(state): State<AppState>,
    Path(connection_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(limited) = login_pages::login_start_limited(&state, "oidc", &connection_id).await {
        return limited;
    }
    let started = login::start(&(&state).into(), &connection_id, query.as_deref()).await;
    match started.and_then(|s| login_redirect(&state, &s)) {
        Ok(r) => r,
        Err(e) => login_refused(&state, &connection_id, e),
    }
}

/// 303 to the provider's authorization endpoint with the binding cookie set.
fn login_redirect(state: &AppState, started: &login::Started) -> Result<Response, LoginError> {
    let set_cookie = binding_cookie(
        &state.public_url,
        &started.connection_id,
        &started.cookie_name,
        &started.cookie_value,
        STATE_TTL.as_secs(),
    );
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_str(&started.auth_url).map_err(|e| LoginError::Internal(e.to_string()))?,
    );
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&set_cookie).map_err(|e| LoginError::Internal(e.to_string()))?,
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    tracing::info!(connection = %started.connection_id, "OIDC login started");
    Ok(resp)
}

/// `GET /oidc/{connection_id}/callback`: the 303 with the session cookie, or
/// the refusal page; either way the state's binding cookie is cleared.
async fn oidc_callback_get(
    State(state): State<AppState>,
    Path(connection_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    // Whatever happens, the binding cookie of this state has served its purpose.
    // (Only for a plausible connection id: it goes into the cookie's Path.)
    let plausible_id = connection_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let params = query_params(query.as_deref()).ok().filter(|_| plausible_id);
    let clear = params.and_then(|p| p.get("state").cloned()).map(|s| {
        let name = binding_cookie_name(&s);
        binding_cookie(&state.public_url, &connection_id, &name, "", 0)
    });
    let service = Service::from(&state);
    let finished =
        callback::finish(&service, state.sessions.clone(), &connection_id, query.as_deref(), &headers).await;
    let mut resp = match finished {
        Ok(done) => login_pages::login_success(&state, &done.issued, &done.target),
        Err(e) => login_refused(&state, &connection_id, e),
    };
    if let Some(v) = clear.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// The status of the page: 4xx for a refused login (including an answer
/// from the provider that is not acceptable: the provider was reached),
/// 502 when the provider could not be reached or used, 500 when idbridge failed.
fn login_status(e: &LoginError) -> StatusCode {
    match e {
        LoginError::UnknownConnection { .. } | LoginError::Login(LoginRefused::ConnectionGone { .. }) => {
            StatusCode::NOT_FOUND
        }
        // The connection exists but is not in a state to sign anyone in.
        LoginError::Pending { .. } => StatusCode::CONFLICT,
        LoginError::MissingParameter { .. }
        | LoginError::DuplicateParameter { .. }
        | LoginError::UnknownState
        | LoginError::StateOtherConnection { .. }
        | LoginError::NotSameBrowser
        | LoginError::ResponseIssuer { .. }
        | LoginError::TokenRefused { .. } => StatusCode::BAD_REQUEST,
        LoginError::Provider { error, .. } if error == "access_denied" => StatusCode::FORBIDDEN,
        LoginError::Provider { .. } => StatusCode::BAD_REQUEST,
        LoginError::IdToken(_)
        | LoginError::MissingIdToken
        | LoginError::TokenResponseInvalid { .. }
        | LoginError::UserinfoSubject { .. }
        | LoginError::GroupsOverage { .. }
        | LoginError::EmailNotVerified { .. } => StatusCode::FORBIDDEN,
        LoginError::Login(LoginRefused::Store(crate::error::Error::Store(
            crate::store::StoreError::Unavailable(_),
        ))) => StatusCode::SERVICE_UNAVAILABLE,
        LoginError::Login(LoginRefused::Store(_)) | LoginError::Internal(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        LoginError::Login(_) => StatusCode::FORBIDDEN,
        LoginError::Discovery(_)
        | LoginError::TokenEndpoint { .. }
        | LoginError::Userinfo(_)
        | LoginError::Graph(_)
        | LoginError::GraphAnswer { .. } => StatusCode::BAD_GATEWAY,
    }
}

/// Log the precise reason, count it, and render the refusal page.
fn login_refused(state: &AppState, connection_id: &str, e: LoginError) -> Response {
    let reason = e.reason();
    let status = login_status(&e);
    if status.is_server_error() {
        tracing::error!(connection = connection_id, reason, error = %e, "OIDC login failed");
    } else {
        tracing::warn!(connection = connection_id, reason, error = %e, "OIDC login refused");
    }
    state.metrics.refusal("oidc", reason);
    login_pages::login_refused(status, e.message())
}

// --- Back-channel logout --------------------------------------------------------------

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `POST /oidc/{connection_id}/backchannel-logout`: 200, or a JSON error (§2.8).
async fn oidc_backchannel_logout_post(
    State(state): State<AppState>,
    Path(connection_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    match backchannel::logout(&(&state).into(), &connection_id, content_type, &body).await {
        Ok(ended) => {
            tracing::info!(connection = %connection_id, users = ended, "OIDC back-channel logout");
            no_store(StatusCode::OK.into_response())
        }
        Err(e) => {
            let reason = e.reason();
            state.metrics.refusal(BACKCHANNEL_SURFACE, reason);
            if let BackchannelError::Internal(_) = e {
                tracing::error!(connection = %connection_id, reason, error = %e, "OIDC back-channel logout failed");
                let body = Json(json!({"error": "server_error"}));
                return no_store((StatusCode::INTERNAL_SERVER_ERROR, body).into_response());
            }
            tracing::warn!(connection = %connection_id, reason, error = %e, "OIDC back-channel logout refused");
            // §2.8: "If the logout request is invalid or the logout fails, the
            // RP MUST respond with HTTP 400 Bad Request" (the precise reason
            // stays in the log: a forger learns nothing from the answer).
            let body = Json(json!({"error": "invalid_request"}));
            no_store((StatusCode::BAD_REQUEST, body).into_response())
        }
    }
}
