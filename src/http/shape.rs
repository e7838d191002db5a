//! Every error in the surface's own shape. Under `/scim` that is the SCIM error schema
//! (RFC 7644 §3.12, `application/scim+json`); everywhere else `{"error":{"code","message"}}`.
//! The handlers' own errors already are; this module covers what the framework answers
//! before or instead of a handler: the 404 and 405 fallbacks, and axum's extractor
//! rejections (a path segment that is not UTF-8 after percent-decoding, a query string that
//! does not deserialise, a body refused for its type), which axum writes as `text/plain`.

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::ApiError;
use crate::scim::wire::WireError as ScimError;

/// Longest rejection text kept as the message (axum's are one line).
const MAX_MESSAGE: usize = 1024;

/// Whether `path` is on the SCIM surface (`/scim` and everything below it).
pub fn is_scim(path: &str) -> bool {
    path == "/scim" || path.starts_with("/scim/")
}

/// An error in the shape of the surface `path` belongs to.
pub fn error_for(path: &str, status: StatusCode, code: &'static str, message: String) -> Response {
    match is_scim(path) {
        true => ScimError::new(status, None, message).into_response(),
        false => ApiError::new(status, code, message).into_response(),
    }
}

/// Fallback for paths no route matches: 404.
pub async fn not_found(uri: Uri) -> Response {
    let detail = match is_scim(uri.path()) {
        true => "no such SCIM endpoint; the base is /scim/v2/{org}",
        false => "no such endpoint",
    };
    error_for(uri.path(), StatusCode::NOT_FOUND, "not_found", detail.into())
}

/// Fallback for a known path with a method it does not have: 405.
pub async fn method_not_allowed(uri: Uri) -> Response {
    let message = "method not allowed on this endpoint".to_string();
    error_for(uri.path(), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", message)
}

/// Middleware: an error response with a plain-text or empty body (axum's rejections) is
/// answered again in the surface's shape, with the same status, the rejection's text as
/// its message, and the headers it carried (`Allow`, `WWW-Authenticate`).
pub async fn reshape(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || !is_plain(resp.headers()) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, MAX_MESSAGE).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_string(),
        _ => status.canonical_reason().unwrap_or("error").to_string(),
    };
    // The precise reason is logged by the error's IntoResponse (status, code, message).
    let mut shaped = error_for(&path, status, code_for(status), text);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().entry(name).or_insert_with(|| value.clone());
        }
    }
    shaped
}

/// Plain text (axum's rejections) or no declared type at all (a bare status code).
fn is_plain(h: &HeaderMap) -> bool {
    match h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(ct) => ct.trim_start().to_ascii_lowercase().starts_with("text/plain"),
    }
}

/// The `code` of `{"error":{...}}` for a status the framework chose.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "invalid_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_value",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    /// A bare status code: no body, no content type.
    fn empty(status: StatusCode) -> Response {
        (status, Body::empty()).into_response()
    }

    async fn run(router: Router, path: &str) -> (StatusCode, String, serde_json::Value) {
        let app = router.layer(axum::middleware::from_fn(reshape));
        let resp = app.oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = resp.status();
        let ct = resp.headers()[header::CONTENT_TYPE].to_str().unwrap().to_string();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        (status, ct, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn plain_and_empty_errors_take_the_surface_shape_and_others_are_left() {
        let r: Router = Router::new()
            .route("/scim/x", get(|| async { (StatusCode::BAD_REQUEST, "Invalid URL: bad") }))
            .route("/a/x", get(|| async { empty(StatusCode::CONFLICT) }))
            .route("/a/page", get(|| async { (StatusCode::BAD_REQUEST, axum::response::Html("<p>no</p>")) }));
        let (s, ct, v) = run(r.clone(), "/scim/x").await;
        assert_eq!((s, ct.as_str()), (StatusCode::BAD_REQUEST, "application/scim+json"));
        assert_eq!((v["status"].as_str(), v["detail"].as_str()), (Some("400"), Some("Invalid URL: bad")));
        let (s, _, v) = run(r.clone(), "/a/x").await;
        assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("error")));
        assert_eq!(v["error"]["message"], "Conflict");
        let app = r.layer(axum::middleware::from_fn(reshape));
        let page = app.oneshot(Request::get("/a/page").body(Body::empty()).unwrap()).await.unwrap();
        assert!(
            page.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"),
            "pages are left"
        );
        assert!(is_scim("/scim") && is_scim("/scim/v2") && !is_scim("/scimx") && !is_scim("/a/scim/"));
    }
}
