//! `ApiError`: the JSON wire format of the admin and session APIs,
//! `{"error":{"code","message"}}`, and the one conversion from the domain's
//! `Error` into it. Internals are logged, never shown.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Error;
use crate::store::StoreError;

/// An error on the JSON APIs.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Structured evidence (e.g. validation issues with field paths).
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), details: None }
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            Error::Conflict { what } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", format!("already exists ({what})"))
            }
            Error::Forbidden { .. } => ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
            Error::Invalid { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", e.to_string())
            }
            Error::InvalidDocument { ref issues } => {
                let details = serde_json::json!(issues);
                let mut e2 =
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_mapping", e.to_string());
                e2.details = Some(details);
                e2
            }
            Error::Store(inner @ StoreError::Unavailable(_)) => {
                tracing::error!(error = %inner, "store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database cannot be reached; retry shortly",
                )
            }
            Error::Store(inner) => {
                tracing::error!(error = %inner, "store failure");
                ApiError::internal()
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Error::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::info!(status = self.status.as_u16(), code = self.code, message = %self.message, "request refused");
        }
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if let Some(d) = self.details {
            body["error"]["details"] = d;
        }
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        resp
    }
}
