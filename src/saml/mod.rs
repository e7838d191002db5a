//! SAML 2.0 service provider, one per connection: SP metadata, SP-initiated
//! login (signed AuthnRequest, HTTP-Redirect), and the ACS (HTTP-POST,
//! IdP- and SP-initiated) with the checks that stop the known attacks on SAML
//! SPs. The pieces: xml_guard (before any parser), structure (the one shape
//! accepted), verify (xmlsec through samael), decrypt (EncryptedAssertion),
//! validate (every spec check), attributes (→ LoginFacts), acs (store work);
//! Single Logout: logout (messages), redirect_binding (query signatures), slo
//! (the endpoint), slo_pages (its answers), slo_out (from `POST /v1/logout`).

pub mod acs;
pub mod admin;
pub mod attributes;
pub mod authn_request;
pub mod binding;
pub mod config;
pub mod connection;
pub mod decrypt;
pub mod dom;
pub mod error;
pub mod idp_metadata;
pub mod keys;
pub mod logout;
pub mod redirect_binding;
pub mod slo;
pub mod slo_out;
pub mod slo_pages;
pub mod sp_metadata;
pub mod structure;
pub mod validate;
pub mod verify;
pub mod xml_guard;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use self::error::SamlError;
use crate::clock;
use crate::http::AppState;
use crate::http::login_pages as redirect;
use crate::session::login::LoginRefused;
use crate::store::login_states::{self, LoginState};

/// Process-wide SAML state, held in `AppState`.
#[derive(Default)]
pub struct SamlState {
    /// Last metadata refresh attempt per connection (rate limit).
    pub refresh_attempts: Mutex<HashMap<String, Instant>>,
}

/// Longest error text logged: messages quote attacker-chosen values.
const MAX_LOGGED: usize = 1000;

/// An error as one log-safe line: control characters escaped, length capped.
fn loggable(e: &dyn std::fmt::Display) -> String {
    e.to_string().escape_debug().take(MAX_LOGGED).collect()
}

/// A refused SAML message: the precise reason logged and counted, a short page shown.
pub fn refuse(state: &AppState, connection_id: &str, e: &SamlError) -> Response {
    let id = loggable(&connection_id.chars().take(64).collect::<String>());
    tracing::warn!(connection = %id, reason = e.reason(), error = %loggable(e), "SAML login refused");
    state.metrics.refusal("saml", e.reason());
    redirect::login_refused(e.status(), e.public_message())
}

/// A login refused by `login::complete` (no such user, not a member, ...).
pub fn refuse_login(state: &AppState, connection_id: &str, e: &LoginRefused) -> Response {
    tracing::warn!(connection = %connection_id, reason = e.reason(), error = %loggable(e), "SAML login refused");
    state.metrics.refusal("saml", e.reason());
    let (status, message) = match e {
        LoginRefused::NoSuchUser { .. } => {
            (StatusCode::FORBIDDEN, "Your account has not been set up in this organization.")
        }
        LoginRefused::MissingAttribute { .. } => (
            StatusCode::FORBIDDEN,
            "Your identity provider did not send the attributes needed to sign you in.",
        ),
        LoginRefused::Inactive { .. } => (StatusCode::FORBIDDEN, "Your account is deactivated."),
        LoginRefused::NotMember { .. } => {
            (StatusCode::FORBIDDEN, "You are not a member of this organization.")
        }
        LoginRefused::ConnectionGone { .. } => {
            (StatusCode::NOT_FOUND, "This sign-in connection no longer exists.")
        }
        LoginRefused::ProvisionedMismatch { .. } => {
            (StatusCode::FORBIDDEN, crate::session::login::PROVISIONED_MISMATCH_PAGE)
        }
        LoginRefused::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Sign-in is not available right now."),
    };
    redirect::login_refused(status, message)
}

async fn saml_metadata_get(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let conn = match connection::load(&state, &id).await {
        Ok(c) => c,
        Err(e) => return refuse(&state, &id, &e),
    };
    let urls = conn.urls(&state.public_url);
    let body = sp_metadata::render(&sp_metadata::SpMetadata {
        entity_id: &urls.entity_id,
        acs_url: &urls.acs,
        slo_url: &urls.slo,
        signing_cert: &conn.cfg.sp_signing_cert,
        encryption_cert: &conn.cfg.sp_encryption_cert,
    });
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/samlmetadata+xml"));
    resp
}

#[derive(Deserialize)]
struct LoginQuery {
    relay_state: Option<String>,
}

/// SP-initiated login: store a fresh request ID with the vetted return
/// address and the hash of a browser-binding cookie, then 303 to the IdP
/// with the signed AuthnRequest and that cookie (binding.rs).
async fn saml_login_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LoginQuery>,
) -> Response {
    if let Some(limited) = crate::http::login_pages::login_start_limited(&state, "saml", &id) {
        return limited;
    }
    match login_redirect(&state, &id, q.relay_state.as_deref()).await {
        Ok((url, set_cookie)) => {
            let mut resp = StatusCode::SEE_OTHER.into_response();
            match (HeaderValue::from_str(&url), HeaderValue::from_str(&set_cookie)) {
                (Ok(location), Ok(cookie)) => {
                    resp.headers_mut().insert(header::LOCATION, location);
                    resp.headers_mut().insert(header::SET_COOKIE, cookie);
                }
                _ => {
                    let e = SamlError::Misconfigured { detail: "IdP SSO URL is not a valid header".into() };
                    return refuse(&state, &id, &e);
                }
            }
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => refuse(&state, &id, &e),
    }
}

/// The IdP URL carrying the signed AuthnRequest, and the Set-Cookie that
/// binds the request to this browser.
async fn login_redirect(
    state: &AppState,
    id: &str,
    relay_state: Option<&str>,
) -> Result<(String, String), SamlError> {
    let conn = connection::load(state, id).await?;
    let sso = conn.idp()?.sso_url.clone().ok_or(SamlError::Misconfigured {
        detail:
            "the IdP metadata has no HTTP-Redirect SingleSignOnService; SP-initiated login is unavailable"
                .into(),
    })?;
    let login = &conn.cfg.login;
    let default = login.default_target(&state.public_url);
    let target = redirect::safe_target(&state.public_url, &login.allowed_origins, relay_state, &default);
    let request_id = authn_request::new_request_id();
    let cookie_value = binding::new_value();
    let now = clock::now();
    let entry = LoginState {
        kind: authn_request::STATE_KIND.into(),
        key: request_id.clone(),
        connection_id: conn.row.id.to_string(),
        // Only the hash of the binding cookie is stored.
        data: json!({"return_to": target, "binding_sha256": binding::sha256_hex(cookie_value.expose())})
            .to_string(),
        created_at: clock::format(now),
        expires_at: clock::format(now + time::Duration::seconds(authn_request::REQUEST_TTL_SECS)),
    };
    state
        .db
        .write(move |tx| -> Result<(), SamlError> {
            login_states::purge_expired(tx, &clock::now_str())?;
            login_states::insert(tx, &entry, &clock::now_str())?;
            Ok(())
        })
        .await?;
    let keys = keys::open(&state.secret_box, &conn.row.id, conn.row.secret.as_deref())?;
    let urls = conn.urls(&state.public_url);
    let req = authn_request::Request {
        id: &request_id,
        destination: &sso,
        sp_entity_id: &urls.entity_id,
        acs_url: &urls.acs,
        now,
    };
    let url = authn_request::redirect_url(&req, &request_id, &keys.signing)?;
    let set_cookie = binding::set_cookie(
        &request_id,
        cookie_value.expose(),
        &path_of(&urls.acs),
        authn_request::REQUEST_TTL_SECS,
    );
    Ok((url, set_cookie))
}

/// The path of an absolute URL (the ACS, for the binding cookie's Path: it
/// includes a path prefix of the public URL).
pub(crate) fn path_of(url: &str) -> String {
    url::Url::parse(url).map(|u| u.path().to_string()).unwrap_or_else(|_| "/".into())
}

/// The SAML endpoints.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/saml/{connection_id}/metadata", get(saml_metadata_get))
        .route("/saml/{connection_id}/login", get(saml_login_get))
        .route("/saml/{connection_id}/acs", post(acs::saml_acs_post))
        .route("/saml/{connection_id}/slo", get(slo::saml_slo_get).post(slo::saml_slo_post))
}
