//! The SCIM wire (an edge file, listed in the layering check's EDGE_FILES):
//! reading a request's client and JSON body, and answering — every
//! `ScimError` becomes its status, `scimType` and `detail` here, once, in the
//! RFC 7644 §3.12 error format with `application/scim+json`; Bulk outcomes
//! become the BulkResponse (RFC 7644 §3.7.3).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::{self, MAX_BODY, ScimClient};
use super::bulk::{BULK_RESPONSE, Done, Outcome};
use super::error::{Refusal, ScimError};
use super::filter::Grammar;
use crate::error::Error;
use crate::http::AppState;
use crate::http::extract::bearer;

/// The SCIM media type.
pub const SCIM_JSON: &str = "application/scim+json";

/// A SCIM error as it goes on the wire.
#[derive(Debug)]
pub struct WireError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    /// `Retry-After` in seconds (429 answers).
    pub retry_after_secs: Option<u64>,
}

impl WireError {
    pub fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        WireError { status, scim_type, detail: detail.into(), retry_after_secs: None }
    }
}

fn domain(e: Error) -> WireError {
    let detail = e.to_string();
    match e {
        Error::NotFound { .. } => WireError::new(StatusCode::NOT_FOUND, None, detail),
        Error::Conflict { what } => {
            WireError::new(StatusCode::CONFLICT, Some("uniqueness"), format!("already exists ({what})"))
        }
        Error::Invalid { .. } | Error::InvalidDocument { .. } => {
            WireError::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
        }
        Error::Forbidden { .. } => WireError::new(StatusCode::FORBIDDEN, None, detail),
        Error::Store(inner @ crate::store::StoreError::Unavailable(_)) => {
            tracing::error!(error = %inner, "store unavailable on SCIM request");
            WireError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "the database cannot be reached; retry shortly",
            )
        }
        Error::Store(inner) => {
            tracing::error!(error = %inner, "store failure on SCIM request");
            WireError::new(StatusCode::INTERNAL_SERVER_ERROR, None, "internal error; see the server log")
        }
    }
}

impl From<ScimError> for WireError {
    fn from(e: ScimError) -> Self {
        use ScimError as E;
        let (status, scim_type) = match &e {
            E::Domain(_) | E::Store(_) => {
                return match e {
                    E::Domain(d) => domain(d),
                    E::Store(s) => domain(Error::from(s)),
                    _ => WireError::new(StatusCode::INTERNAL_SERVER_ERROR, None, e.to_string()),
                };
            }
            E::TooManyRequests { retry_after_secs, .. } => {
                let mut w = WireError::new(StatusCode::TOO_MANY_REQUESTS, None, e.to_string());
                w.retry_after_secs = Some(*retry_after_secs);
                return w;
            }
            E::Unauthorized(_) => (StatusCode::UNAUTHORIZED, None),
            E::BadPath { .. } => (StatusCode::BAD_REQUEST, None),
            E::BodyTooLarge { .. } | E::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, None),
            E::InvalidSyntax { .. } => (StatusCode::BAD_REQUEST, Some("invalidSyntax")),
            E::InvalidValue { .. } | E::Membership(_) => (StatusCode::BAD_REQUEST, Some("invalidValue")),
            E::Filter(f) => (StatusCode::BAD_REQUEST, Some(f.scim_type(Grammar::Filter))),
            // RFC 9865 §2.1, Table 3.
            E::Cursor(c) => (StatusCode::BAD_REQUEST, Some(c.scim_type())),
            E::InvalidCount { .. } => (StatusCode::BAD_REQUEST, Some("invalidCount")),
            E::Patch(p) => {
                (StatusCode::from_u16(p.status()).unwrap_or(StatusCode::BAD_REQUEST), p.scim_type())
            }
            E::NotFound { .. } | E::NoEndpoint => (StatusCode::NOT_FOUND, None),
            E::CrossTypeSearch => (StatusCode::NOT_IMPLEMENTED, None),
            E::PreconditionFailed { .. } => (StatusCode::PRECONDITION_FAILED, None),
            E::Uniqueness { .. }
            | E::GroupNameTaken { .. }
            | E::GroupExternalIdTaken
            | E::AmbiguousUser { .. } => (StatusCode::CONFLICT, Some("uniqueness")),
            E::TooMany { .. } => (StatusCode::PAYLOAD_TOO_LARGE, Some("tooMany")),
            E::BulkUnsupported { .. } => (StatusCode::BAD_REQUEST, Some("invalidPath")),
            E::BulkUnresolved { .. } => (StatusCode::CONFLICT, Some("invalidValue")),
        };
        WireError::new(status, scim_type, e.to_string())
    }
}

/// The RFC 7644 §3.12 error body.
fn error_body(e: &WireError) -> Value {
    let mut body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": e.status.as_u16().to_string(),
        "detail": e.detail,
    });
    if let Some(t) = e.scim_type {
        body["scimType"] = json!(t);
    }
    body
}

impl IntoResponse for WireError {
    fn into_response(self) -> Response {
        // 429s are logged by shed.rs, at most once a second: a flood must not flood the log.
        if self.status.is_client_error() && self.status != StatusCode::TOO_MANY_REQUESTS {
            tracing::info!(status = self.status.as_u16(), scim_type = ?self.scim_type, detail = %self.detail, "SCIM request refused");
        }
        let mut resp = (self.status, error_body(&self).to_string()).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"scim\""));
        }
        if let Some(secs) = self.retry_after_secs {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        WireError::from(self).into_response()
    }
}

/// A SCIM JSON answer with a status, and optional ETag / Location headers.
pub fn scim_response(
    status: StatusCode,
    body: &serde_json::Value,
    etag: Option<&str>,
    location: Option<&str>,
) -> Response {
    // to_vec writes straight into bytes; Display (to_string) goes through the
    // formatter for every token. Serialising a Value cannot fail.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = (status, bytes).into_response();
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

/// The BulkResponse for the outcomes of a Bulk request, in order.
pub fn bulk_response(outcomes: Vec<Outcome>) -> Value {
    let mut out = Vec::new();
    for o in outcomes {
        let mut entry = json!({"method": o.method});
        if let Some(b) = &o.bulk_id {
            entry["bulkId"] = json!(b);
        }
        match o.result {
            Ok(applied) => {
                let status = match applied.done {
                    Done::Created => StatusCode::CREATED,
                    Done::Updated => StatusCode::OK,
                    Done::Deleted => StatusCode::NO_CONTENT,
                };
                entry["status"] = json!(status.as_u16().to_string());
                if let Some(l) = applied.location {
                    entry["location"] = json!(l);
                }
                if let Some(v) = applied.version {
                    entry["version"] = json!(super::resource::etag(v));
                }
            }
            Err(e) => {
                let e = WireError::from(e);
                entry["status"] = json!(e.status.as_u16().to_string());
                entry["response"] = error_body(&e);
            }
        }
        out.push(entry);
    }
    json!({"schemas": [BULK_RESPONSE], "Operations": out})
}

/// The org's bearer token (401 with a SCIM error when missing, revoked or of
/// another org).
impl FromRequestParts<AppState> for ScimClient {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer(parts).map(str::to_string) else {
            state.metrics.refusal("scim", "missing_token");
            return Err(ScimError::Unauthorized(Refusal::MissingToken));
        };
        // A path segment that is not UTF-8 after percent-decoding (RFC 3986 §2.5: URIs carry
        // UTF-8 octets) names no org; it is a 400, decided after the token so that only a
        // client with a valid token learns more than 401, and never a misleading 401.
        let path = Path::<Vec<(String, String)>>::from_request_parts(parts, state).await;
        let verified = auth::verify(&state.scim_tokens, &state.db, &token).await.inspect_err(|e| {
            if matches!(e, ScimError::Unauthorized(_)) {
                state.metrics.refusal("scim", "bad_token");
            }
        })?;
        let org_slug = match path {
            Ok(Path(params)) => {
                params.into_iter().find(|(k, _)| k == "org").map(|(_, v)| v).unwrap_or_default()
            }
            Err(rejection) => {
                state.metrics.refusal("scim", "bad_path");
                return Err(ScimError::BadPath { reason: rejection.body_text() });
            }
        };
        let client =
            verified.admit(org_slug).inspect_err(|_| state.metrics.refusal("scim", "token_of_other_org"))?;
        // The token's rate (shed.rs): after the token is known, before the body is read.
        state.scim_shed.check_token(&client.token_id)?;
        Ok(client)
    }
}

/// A SCIM JSON body (4 MiB; both `application/scim+json` and
/// `application/json` — any type is read as JSON).
pub struct ScimJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimJson {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ScimError::BodyTooLarge { max: MAX_BODY }
            } else {
                ScimError::syntax(format!("cannot read body: {}", e.body_text()))
            }
        })?;
        if crate::model::json_has_nul(&bytes) {
            return Err(ScimError::syntax(
                "the body holds a U+0000 character, which no attribute may contain",
            ));
        }
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|e| ScimError::syntax(format!("malformed JSON: {e}")))?;
        if !v.is_object() {
            return Err(ScimError::syntax("the body must be a JSON object"));
        }
        Ok(ScimJson(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_conflicts_answer_as_uniqueness() {
        let e = WireError::from(ScimError::Store(crate::store::StoreError::Conflict { what: "x".into() }));
        assert_eq!(
            (e.status, e.scim_type, e.detail.as_str()),
            (StatusCode::CONFLICT, Some("uniqueness"), "already exists (x)")
        );
    }
}
