//! SCIM errors in the RFC 7644 §3.12 format, with `application/scim+json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Error;

/// The SCIM media type.
pub const SCIM_JSON: &str = "application/scim+json";

#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError { status, scim_type, detail: detail.into() }
    }
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, None, detail)
    }
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, None, "internal error; see the server log")
    }
}

impl From<Error> for ScimError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound { .. } => ScimError::not_found(e.to_string()),
            Error::Conflict { what } => ScimError::uniqueness(format!("already exists ({what})")),
            Error::Invalid { .. } | Error::InvalidDocument { .. } => {
                ScimError::bad("invalidValue", e.to_string())
            }
            Error::Forbidden { .. } => ScimError::new(StatusCode::FORBIDDEN, None, e.to_string()),
            Error::Store(inner) => {
                tracing::error!(error = %inner, "store failure on SCIM request");
                ScimError::internal()
            }
        }
    }
}

impl From<crate::store::StoreError> for ScimError {
    fn from(e: crate::store::StoreError) -> Self {
        Error::from(e).into()
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::info!(status = self.status.as_u16(), scim_type = ?self.scim_type, detail = %self.detail, "SCIM request refused");
        }
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        let mut resp = (self.status, body.to_string()).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"scim\""));
        }
        resp
    }
}

/// A SCIM JSON answer with a status, and optional ETag / Location headers.
pub fn scim_response(
    status: StatusCode,
    body: &serde_json::Value,
    etag: Option<&str>,
    location: Option<&str>,
) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if let Some(v) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        h.insert(header::LOCATION, v);
    }
    resp
}
