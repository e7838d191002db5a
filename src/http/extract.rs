//! Extractors that turn bad input into the JSON error format: a JSON body
//! (400 with the parser's message, 413 over the limit) and the operator's
//! bearer token (401, compared in constant time).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use crate::http::ApiError;
use crate::secrets;

/// Read the body, mapping the limit to 413.
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body is over the size limit",
            )
        } else {
            ApiError::bad_request(format!("cannot read body: {}", e.body_text()))
        }
    })
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
}

/// A JSON body; any content type is read as JSON (bearer-token APIs have no CSRF exposure).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse(&body_bytes(req, state).await?).map(ApiJson)
    }
}

/// A JSON body that may be absent (an empty body → None).
pub struct ApiJsonOpt<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJsonOpt<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(ApiJsonOpt(None));
        }
        parse(&bytes).map(|t| ApiJsonOpt(Some(t)))
    }
}

/// The bearer token of a request, if it has a well-formed Authorization header.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The platform operator, authenticated by the admin token.
pub struct Operator;

impl Operator {
    /// The audit actor name.
    pub const ACTOR: &'static str = "operator";
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer(parts) else {
            state.metrics.refusal("admin", "missing_token");
            return Err(ApiError::unauthorized("missing bearer token"));
        };
        if secrets::ct_eq(&secrets::hash_token(token), &state.admin_token_hash[..]) {
            Ok(Operator)
        } else {
            state.metrics.refusal("admin", "bad_token");
            Err(ApiError::unauthorized("invalid admin token"))
        }
    }
}

/// Parse a query string into `T`, answering 400 with the reason.
pub fn query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    let raw = raw.unwrap_or("");
    serde_urlencoded_like(raw).map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))
}

fn serde_urlencoded_like<T: DeserializeOwned>(raw: &str) -> Result<T, String> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{raw}").parse::<axum::http::Uri>().map_err(|e| e.to_string())?,
    )
    .map(|q| q.0)
    .map_err(|e| e.body_text())
}
