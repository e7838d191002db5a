//! SCIM request inputs: the org's bearer token (401 with a SCIM error when
//! missing, revoked or of another org) and the JSON body (4 MiB; both
//! `application/scim+json` and `application/json` — any type is read as JSON).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::Value;

use super::error::ScimError;
use crate::http::AppState;
use crate::http::extract::bearer;

/// Default SCIM body limit (4 MiB), also advertised as Bulk maxPayloadSize.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// An authenticated SCIM client of one org.
#[derive(Clone, Debug)]
pub struct ScimClient {
    pub org_id: String,
    pub org_slug: String,
    pub token_id: String,
}

impl ScimClient {
    pub fn actor(&self) -> String {
        format!("scim:{}", self.token_id)
    }
}

impl FromRequestParts<AppState> for ScimClient {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer(parts).map(str::to_string) else {
            state.metrics.refusal("scim", "missing_token");
            return Err(ScimError::unauthorized("missing bearer token"));
        };
        // A path segment that is not UTF-8 after percent-decoding (RFC 3986 §2.5: URIs carry
        // UTF-8 octets) names no org; it is a 400, decided after the token so that only a
        // client with a valid token learns more than 401, and never a misleading 401.
        let path = Path::<Vec<(String, String)>>::from_request_parts(parts, state).await;
        let verified = state.scim_tokens.verify(&state.db, &token).await.map_err(ScimError::from)?;
        let Some((org_id, owner_slug, token_id)) = verified else {
            state.metrics.refusal("scim", "bad_token");
            return Err(ScimError::unauthorized("invalid or revoked token"));
        };
        let org_slug = match path {
            Ok(Path(params)) => {
                params.into_iter().find(|(k, _)| k == "org").map(|(_, v)| v).unwrap_or_default()
            }
            Err(rejection) => {
                state.metrics.refusal("scim", "bad_path");
                return Err(ScimError::new(
                    StatusCode::BAD_REQUEST,
                    None,
                    format!("the request path is not valid: {}", rejection.body_text()),
                ));
            }
        };
        match owner_slug == org_slug {
            true => Ok(ScimClient { org_id, org_slug, token_id }),
            false => {
                // A token of another org is as good as no token here.
                state.metrics.refusal("scim", "token_of_other_org");
                Err(ScimError::unauthorized("token is not valid for this organization"))
            }
        }
    }
}

/// A SCIM JSON body.
pub struct ScimJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimJson {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ScimError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    None,
                    format!("body over the {MAX_BODY}-byte limit"),
                )
            } else {
                ScimError::bad("invalidSyntax", format!("cannot read body: {}", e.body_text()))
            }
        })?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ScimError::bad("invalidSyntax", format!("malformed JSON: {e}")))?;
        if !v.is_object() {
            return Err(ScimError::bad("invalidSyntax", "the body must be a JSON object"));
        }
        Ok(ScimJson(v))
    }
}
