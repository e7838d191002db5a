//! An edge file (`EDGE_FILES` of the layering check): the pages of
//! `/saml/{id}/slo`. It only turns what slo.rs decided (`SloAnswer`,
//! `SamlError`) into HTTP responses: the signed LogoutResponse by the binding the
//! request came with (HTTP-Redirect: 303 with a signed query; HTTP-POST: a
//! form that submits itself), a "signed out" page when the IdP's metadata has
//! no SingleLogoutService, and the refusal page (4xx, the reason logged and
//! counted as `idbridge_refusals{surface="saml_slo"}`).
//!
//! Secure defaults on every page: `Cache-Control: no-store` and a CSP of
//! `default-src 'none'` whose only script is the one-line auto-submit, allowed
//! by its hash; `form-action` is limited to the IdP's origin; framing is refused.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::authn_request;
use super::error::SamlError;
use super::slo::SloAnswer;
use crate::http::AppState;

/// The only script on the POST page.
const AUTO_SUBMIT: &str = "document.forms[0].submit();";

fn escape(s: &str) -> String {
    authn_request::xml_escape(s)
}

fn page(status: StatusCode, title: &str, body: &str, csp: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head><body>{body}</body></html>",
        t = escape(title)
    );
    let mut resp = (status, Html(html)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

const STRICT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; form-action 'none'";

/// A refused logout message: the precise reason logged and counted, a short page shown.
pub fn refuse(state: &AppState, connection_id: &str, e: &SamlError) -> Response {
    let id: String = connection_id.chars().take(64).collect::<String>().escape_debug().collect();
    let detail: String = e.to_string().escape_debug().take(1000).collect();
    tracing::warn!(connection = %id, reason = e.reason(), error = %detail, "SAML logout refused");
    state.metrics.refusal("saml_slo", e.reason());
    let message = match e {
        SamlError::UnknownConnection { .. } => "This sign-in connection does not exist.",
        SamlError::Misconfigured { .. } | SamlError::Store(_) | SamlError::Unavailable(_) => {
            "Sign-out is not available right now."
        }
        _ => "The sign-out message from your identity provider was not accepted; nothing was changed.",
    };
    page(
        super::routes::status(e),
        "Sign-out refused",
        &format!("<h1>Sign-out refused</h1><p>{}</p>", escape(message)),
        STRICT_CSP,
    )
}

/// The page shown once signed out here.
pub fn signed_out(status: StatusCode, idp_confirmed: bool) -> Response {
    let extra = if idp_confirmed {
        ""
    } else {
        "<p>Your identity provider did not confirm that it signed you out there too.</p>"
    };
    page(status, "Signed out", &format!("<h1>You are signed out</h1>{extra}"), STRICT_CSP)
}

/// The response to a valid logout message of connection `connection_id`.
pub fn answer(state: &AppState, connection_id: &str, answer: SloAnswer) -> Response {
    match answer {
        SloAnswer::SignedOut { idp_confirmed } => signed_out(StatusCode::OK, idp_confirmed),
        SloAnswer::Redirect { location } => {
            let Ok(location) = HeaderValue::from_str(&location) else {
                let e = SamlError::Misconfigured { detail: "IdP SLO URL is not a valid header".into() };
                return refuse(state, connection_id, &e);
            };
            let mut resp = StatusCode::SEE_OTHER.into_response();
            resp.headers_mut().insert(header::LOCATION, location);
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        SloAnswer::PostForm { action, field, value, relay_state } => {
            post_form(&action, field, &value, relay_state.as_deref())
        }
    }
}

/// An HTML form that posts `field` to `action` (HTTP-POST binding, SAML
/// Bindings 3.5.4), submitted by a hash-allowed one-line script, with a
/// `<noscript>` button.
pub fn post_form(action: &str, field: &str, value: &str, relay_state: Option<&str>) -> Response {
    let origin = url::Url::parse(action).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
    let hash = STANDARD.encode(Sha256::digest(AUTO_SUBMIT.as_bytes()));
    let csp = format!(
        "default-src 'none'; script-src 'sha256-{hash}'; form-action {origin}; frame-ancestors 'none'"
    );
    let relay = relay_state
        .map(|r| format!("<input type=\"hidden\" name=\"RelayState\" value=\"{}\">", escape(r)))
        .unwrap_or_default();
    let body = format!(
        "<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"{field}\" value=\"{}\">{relay}\
         <noscript><p>You are signed out here. Continue to finish signing out at your identity provider.</p>\
         <button type=\"submit\">Continue</button></noscript></form><script>{AUTO_SUBMIT}</script>",
        escape(action),
        escape(value),
    );
    page(StatusCode::OK, "Signing out", &body, &csp)
}
