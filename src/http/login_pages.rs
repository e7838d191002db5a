//! The HTTP end of a browser login, shared by SAML and OIDC: the 303 that sets
//! the session cookie, the refusal page, and the 429 of a rate-limited login
//! start. The values come from `session::redirect` (where to go, which cookie,
//! which page); this file only makes them responses. `safe_target` is re-exported
//! so a handler finds every piece of a login's end in one place.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use crate::session::Issued;
use crate::session::redirect::{login_redirect, refusal_page};

pub use crate::session::redirect::safe_target;

/// 303 See Other to `target` with the session cookie set.
pub fn login_success(state: &AppState, issued: &Issued, target: &str) -> Response {
    let to = login_redirect(&state.public_url, state.sessions.config.lifetime, issued, target);
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&to.location) {
        headers.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&to.set_cookie) {
        headers.insert(header::SET_COOKIE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A refused login: a short human-readable page (the precise reason is in the log).
pub fn login_refused(status: StatusCode, message: &str) -> Response {
    let mut resp = (status, Html(refusal_page(message))).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Whether a login start through `connection_id` may proceed; when it may not,
/// the 429 page to answer (counted as `surface`/`rate_limited`), or a 503 page
/// when the shared counter could not be reached (the start would have to store
/// its state there too).
pub async fn login_start_limited(state: &AppState, surface: &str, connection_id: &str) -> Option<Response> {
    let key = format!("{surface}:{connection_id}");
    match state.login_starts.allow(&key, super::limit::LOGIN_STARTS_PER_SECOND).await {
        Ok(true) => return None,
        Ok(false) => {}
        Err(e) => {
            tracing::error!(surface, error = %e, "login start refused: the rate-limit counter failed");
            return Some(login_refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable right now; please try again in a moment.",
            ));
        }
    }
    tracing::warn!(surface, connection = %connection_id.chars().take(64).collect::<String>(), "login start refused: rate limited");
    state.metrics.refusal(surface, "rate_limited");
    Some(login_refused(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many sign-in attempts right now; please try again in a moment.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_page_escapes() {
        let r = login_refused(StatusCode::FORBIDDEN, "<script>");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
}
