//! Session endpoints: `GET /v1/me`, `POST /v1/logout`, `GET /.well-known/jwks.json`,
//! and the `SessionUser` extractor (cookie `idbridge_session` or bearer token;
//! a write with the cookie passes the CSRF check of csrf.rs first).

use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::cookies::CookieHeaders;
use super::{COOKIE, SessionContext, SessionError, SessionService, authenticate, csrf};
use crate::clock;
use crate::http::ApiError;
use crate::http::AppState;
use crate::http::extract::bearer;
use crate::model::ConnectionKind;
use crate::store;

/// The session service a handler needs, from the router's state.
impl FromRef<AppState> for SessionService {
    fn from_ref(s: &AppState) -> Self {
        SessionService {
            db: s.db.clone(),
            sessions: s.sessions.clone(),
            secret_box: s.secret_box.clone(),
            public_url: s.public_url.clone(),
        }
    }
}

/// The request's `Cookie` headers as text, for the parser of cookies.rs.
impl CookieHeaders for HeaderMap {
    fn cookie_headers(&self) -> impl Iterator<Item = &str> {
        self.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok())
    }
}

/// The parts of a request the CSRF check of csrf.rs reads.
pub fn write_request<'h>(method: &Method, headers: &'h HeaderMap) -> csrf::WriteRequest<'h> {
    let raw = |name: &str| headers.get(name).map(|v| v.as_bytes());
    csrf::WriteRequest {
        safe_method: method.is_safe(),
        content_type: raw(header::CONTENT_TYPE.as_str()),
        sec_fetch_site: raw("sec-fetch-site"),
        origin: raw(header::ORIGIN.as_str()),
    }
}

/// The session token of a request: the cookie, else a bearer token.
pub fn presented_token(parts: &Parts) -> Option<String> {
    cookie_value(&parts.headers, COOKIE).or_else(|| bearer(parts).map(str::to_string))
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    super::cookies::values(headers, name).find(|v| !v.is_empty()).map(str::to_string)
}

/// A request made with a live session.
pub struct SessionUser(pub SessionContext);

impl FromRequestParts<AppState> for SessionUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // A write authenticated by the cookie (the browser's ambient
        // credential) must also prove it comes from idbridge's own origin.
        if cookie_value(&parts.headers, COOKIE).is_some() {
            if let Err(e) = csrf::check(&write_request(&parts.method, &parts.headers), &state.public_url) {
                tracing::warn!(method = %parts.method, path = %parts.uri.path(), reason = "csrf", error = %e, "cookie-authenticated write refused");
                state.metrics.refusal("session", "csrf");
                return Err(ApiError::new(StatusCode::FORBIDDEN, "csrf", e.to_string()));
            }
        }
        let token = presented_token(parts).ok_or(SessionError::Missing);
        let result = match token {
            Ok(t) => authenticate(&SessionService::from_ref(state), &t).await,
            Err(e) => Err(e),
        };
        result.map(SessionUser).map_err(|e| session_error(state, e))
    }
}

/// Convert a session refusal into a 401 (logged with its precise reason).
pub fn session_error(state: &AppState, e: SessionError) -> ApiError {
    match e {
        SessionError::Store(inner) => inner.into(),
        other => {
            let reason = match &other {
                SessionError::Missing => "missing",
                SessionError::Token(_) => "bad_token",
                SessionError::Ended { .. } => "ended",
                SessionError::NotMember => "not_member",
                SessionError::Store(_) => "internal",
            };
            state.metrics.refusal("session", reason);
            ApiError::unauthorized(other.to_string())
        }
    }
}

async fn v1_me_get(SessionUser(ctx): SessionUser) -> impl IntoResponse {
    let name =
        ctx.user.display_name.clone().or_else(|| match (&ctx.user.given_name, &ctx.user.family_name) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            (Some(g), None) => Some(g.clone()),
            (None, Some(f)) => Some(f.clone()),
            (None, None) => None,
        });
    let projects: Vec<_> =
        ctx.projects.iter().map(|(_, slug, role)| json!({"slug": slug, "role": role})).collect();
    Json(json!({
        "user": {"id": ctx.user.id, "email": ctx.user.email.clone().unwrap_or_else(|| ctx.user.user_name.clone()), "name": name},
        "org": {"slug": ctx.org_slug, "role": ctx.org_role},
        "projects": projects,
    }))
}

async fn v1_logout_post(
    State(s): State<AppState>,
    SessionUser(ctx): SessionUser,
) -> Result<Response, ApiError> {
    let jti = ctx.jti.clone();
    let row =
        s.db.write(move |tx| -> Result<_, store::StoreError> {
            let row = store::sessions::get(tx, &jti)?;
            if store::sessions::revoke(tx, &jti, &clock::now_str())? {
                if let Some(r) = &row {
                    crate::events::emit::session_revoked(tx, &r.org_id, &r.user_id, "logout")?;
                }
            }
            Ok(row)
        })
        .await?;
    let expired = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    // The IdP's own session ends too when its protocol offers a way.
    let next = match row {
        Some(r) => idp_logout(&s, &r).await,
        None => None,
    };
    Ok(match next {
        // 303 for browsers; the JSON body for scripts, which navigate to it.
        Some(url) => (
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, expired),
                (header::LOCATION, url.clone()),
                (header::CACHE_CONTROL, "no-store".into()),
            ],
            Json(json!({"logout_url": url})),
        )
            .into_response(),
        None => (StatusCode::NO_CONTENT, [(header::SET_COOKIE, expired)]).into_response(),
    })
}

/// Where the browser goes to end the IdP's session, by the kind of the
/// session's connection (`None`: the local logout is all there is).
async fn idp_logout(s: &AppState, row: &store::sessions::SessionRow) -> Option<String> {
    let id = row.connection_id.as_deref()?;
    let (conn, _) = crate::connections::get(&s.db, id).await.ok()?;
    match conn.kind {
        ConnectionKind::Oidc => crate::oidc::logout::end_session_url(s, id, row).await,
        ConnectionKind::Saml => crate::saml::slo_out::logout_url(s, row).await.unwrap_or_else(|e| {
            tracing::error!(jti = %row.jti, reason = e.reason(), error = %e, "SAML Single Logout request not sent");
            None
        }),
    }
}

async fn jwks_get(State(s): State<AppState>) -> impl IntoResponse {
    let ring = s.sessions.keys.ring();
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(ring.jwks.clone()))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/me", get(v1_me_get))
        .route("/v1/logout", post(v1_logout_post))
        .route("/.well-known/jwks.json", get(jwks_get))
}
