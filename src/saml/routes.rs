//! The HTTP side of the SAML endpoints: the `Service` the SAML code takes,
//! built from the app state; the handlers, which read the request into plain
//! data, call one domain function and turn its outcome into a response; the
//! HTTP status of each refusal; and the router.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRef, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::acs::{self, Refused};
use super::binding::Cookies;
use super::error::SamlError;
use super::{Service, login, slo, slo_pages, sp_metadata};
use crate::http::AppState;
use crate::http::login_pages;
use crate::session::cookies::CookieHeaders;
use crate::session::login::LoginRefused;

impl From<&AppState> for Service {
    fn from(s: &AppState) -> Self {
        Service {
            db: s.db.clone(),
            secrets: s.secret_box.clone(),
            public_url: s.public_url.clone(),
            metrics: s.metrics.clone(),
            saml: s.saml.clone(),
            outbound: s.outbound,
        }
    }
}

impl FromRef<AppState> for Service {
    fn from_ref(s: &AppState) -> Self {
        s.into()
    }
}

/// The SAML endpoints.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/saml/{connection_id}/metadata", get(saml_metadata_get))
        .route("/saml/{connection_id}/login", get(saml_login_get))
        .route("/saml/{connection_id}/acs", post(saml_acs_post))
        .route("/saml/{connection_id}/slo", get(saml_slo_get).post(saml_slo_post))
}

/// The HTTP status of the refusal page.
pub fn status(e: &SamlError) -> StatusCode {
    use SamlError::*;
    match e {
        TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        BadEncoding { .. } | Doctype { .. } | ProcessingInstruction | Malformed { .. } => {
            StatusCode::BAD_REQUEST
        }
        UnknownConnection { .. } => StatusCode::NOT_FOUND,
        // The connection exists but is not in a state to sign anyone in.
        Pending { .. } => StatusCode::CONFLICT,
        Misconfigured { .. } | Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::FORBIDDEN,
    }
}

/// A refused SAML message: the precise reason logged and counted, a short page shown.
fn refuse(state: &AppState, connection_id: &str, e: &SamlError) -> Response {
    super::log_refusal(&state.metrics, connection_id, e);
    login_pages::login_refused(status(e), e.public_message())
}

/// A login refused by `login::complete` (no such user, not a member, ...).
fn refuse_login(state: &AppState, connection_id: &str, e: &LoginRefused) -> Response {
    super::log_login_refusal(&state.metrics, connection_id, e);
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
        LoginRefused::Store(crate::error::Error::Store(crate::store::StoreError::Unavailable(_))) => {
            (StatusCode::SERVICE_UNAVAILABLE, "Sign-in is not available right now.")
        }
        LoginRefused::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Sign-in is not available right now."),
    };
    login_pages::login_refused(status, message)
}

async fn saml_metadata_get(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match sp_metadata::for_connection(&(&state).into(), &id).await {
        Ok(body) => {
            let mut resp = (StatusCode::OK, body).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/samlmetadata+xml"));
            resp
        }
        Err(e) => refuse(&state, &id, &e),
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    relay_state: Option<String>,
}

/// SP-initiated login (login.rs): 303 to the IdP with the signed
/// AuthnRequest and the browser-binding cookie (binding.rs).
async fn saml_login_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LoginQuery>,
) -> Response {
    if let Some(limited) = login_pages::login_start_limited(&state, "saml", &id).await {
        return limited;
    }
    match login::start(&(&state).into(), &id, q.relay_state.as_deref()).await {
        Ok(start) => {
            let mut resp = StatusCode::SEE_OTHER.into_response();
            match (HeaderValue::from_str(&start.url), HeaderValue::from_str(&start.set_cookie)) {
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

/// `POST /saml/{id}/acs` (acs.rs): the session cookie set and the answered
/// request's binding cookie cleared, or a refusal page.
async fn saml_acs_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cookies = Cookies(headers.cookie_headers().map(str::to_string).collect());
    match acs::login(&(&state).into(), state.sessions.clone(), &id, cookies, &body).await {
        Ok(done) => {
            let mut resp = login_pages::login_success(&state, &done.issued, &done.target);
            if let Some(clear) = done.clear_binding_cookie
                && let Ok(v) = HeaderValue::from_str(&clear)
            {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(Refused::Saml(e)) => refuse(&state, &id, &e),
        Err(Refused::Login(e)) => refuse_login(&state, &id, &e),
    }
}

/// `GET /saml/{id}/slo` (slo.rs): the HTTP-Redirect binding.
async fn saml_slo_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let answered = slo::receive_redirect(&(&state).into(), &id, query.as_deref()).await;
    slo_answer(&state, &id, answered)
}

/// `POST /saml/{id}/slo` (slo.rs): the HTTP-POST binding.
async fn saml_slo_post(State(state): State<AppState>, Path(id): Path<String>, body: Bytes) -> Response {
    let answered = slo::receive_post(&(&state).into(), &id, &body).await;
    slo_answer(&state, &id, answered)
}

fn slo_answer(state: &AppState, id: &str, answered: Result<slo::SloAnswer, SamlError>) -> Response {
    match answered {
        Ok(answer) => slo_pages::answer(state, id, answer),
        Err(e) => slo_pages::refuse(state, id, &e),
    }
}
