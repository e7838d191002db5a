//! Extractors that turn bad input into the JSON error format: a JSON body
//! (400 with the parser's message, 413 over the limit), the operator's
//! bearer token (401, compared in constant time), and the `{org}` / `{project}`
//! segments of a path parsed as slugs (404, like a slug that names nothing).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::AppState;
use crate::directory::{Slug, orgs};
use crate::error::Error;
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
    if crate::model::json_has_nul(bytes) {
        return Err(ApiError::bad_request("the body holds a U+0000 character, which no value may contain"));
    }
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

/// The path segments of an org-scoped admin route, in route order: `org` (and
/// `project`, when the route has one) parsed as slugs, the other segments as
/// given. A segment that is not a slug cannot name a stored org or project
/// (every stored slug was parsed when it was created), so it is answered with
/// the same 404 as a slug that names nothing; for a bad `{project}` the org is
/// looked up first, so the answer is the one the handler would have given.
struct Segments {
    org: Slug,
    project: Option<Slug>,
    rest: Vec<String>,
}

async fn segments(parts: &mut Parts, state: &AppState) -> Result<Segments, Response> {
    let Path(raw) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    let refused = |e: Error| ApiError::from(e).into_response();
    let mut org = None;
    let mut project = None;
    let mut rest = Vec::new();
    for (name, value) in raw {
        match name.as_str() {
            "org" => org = Some(value),
            "project" => project = Some(value),
            _ => rest.push(value),
        }
    }
    let org = org.ok_or_else(|| ApiError::internal().into_response())?;
    let org_slug = Slug::parse("org", &org).map_err(|_| refused(Error::not_found("org", &*org)))?;
    let project = match project {
        None => None,
        Some(p) => match Slug::parse("project", &p) {
            Ok(slug) => Some(slug),
            Err(_) => {
                orgs::get_org(&state.db, org_slug.as_str()).await.map_err(refused)?;
                return Err(refused(Error::not_found("project", &*p)));
            }
        },
    };
    Ok(Segments { org: org_slug, project, rest })
}

/// `/…/orgs/{org}`: the org's slug.
pub struct OrgPath(pub Slug);

/// `/…/orgs/{org}/…/{id}`: the org's slug and the one further segment.
pub struct OrgItemPath(pub Slug, pub String);

/// `/…/orgs/{org}/projects/{project}`: both slugs.
pub struct ProjectPath(pub Slug, pub Slug);

/// `/…/orgs/{org}/projects/{project}/…/{id}`: both slugs and the further segment.
pub struct ProjectItemPath(pub Slug, pub Slug, pub String);

/// A route whose segments do not have the shape its extractor expects is a
/// routing mistake, not a client error.
fn misrouted() -> Response {
    tracing::error!("path extractor used on a route of another shape");
    ApiError::internal().into_response()
}

impl FromRequestParts<AppState> for OrgPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match segments(parts, state).await? {
            Segments { org, project: None, rest } if rest.is_empty() => Ok(OrgPath(org)),
            _ => Err(misrouted()),
        }
    }
}

impl FromRequestParts<AppState> for OrgItemPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match segments(parts, state).await? {
            Segments { org, project: None, mut rest } if rest.len() == 1 => {
                Ok(OrgItemPath(org, rest.pop().unwrap_or_default()))
            }
            _ => Err(misrouted()),
        }
    }
}

impl FromRequestParts<AppState> for ProjectPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match segments(parts, state).await? {
            Segments { org, project: Some(p), rest } if rest.is_empty() => Ok(ProjectPath(org, p)),
            _ => Err(misrouted()),
        }
    }
}

impl FromRequestParts<AppState> for ProjectItemPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match segments(parts, state).await? {
            Segments { org, project: Some(p), mut rest } if rest.len() == 1 => {
                Ok(ProjectItemPath(org, p, rest.pop().unwrap_or_default()))
            }
            _ => Err(misrouted()),
        }
    }
}
