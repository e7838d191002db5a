//! The layers around every request: request id (set and echoed as
//! `x-request-id`), a tracing span carrying it, metrics by matched route, and
//! a catch-panic layer so a panic answers 500 JSON instead of a dropped connection.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderName;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use super::AppState;
use crate::http::ApiError;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wrap the router in the layer stack (outermost first).
pub fn apply(router: axum::Router, state: AppState) -> axum::Router {
    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
            let id = req
                .extensions()
                .get::<RequestId>()
                .and_then(|r| r.header_value().to_str().ok())
                .unwrap_or("-")
                .to_string();
            // The path only: query strings can carry SAML messages or codes.
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(middleware::from_fn_with_state(state, track))
        .layer(CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
            tracing::error!("handler panicked; answered 500");
            ApiError::internal().into_response()
        }));
    router.layer(stack)
}

/// Count the request by matched route (not raw path: bounded label values).
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let resp = next.run(req).await;
    state.metrics.observe_request(&method, &route, resp.status().as_u16(), started.elapsed().as_secs_f64());
    resp
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        let v: Vec<&str> = Vec::new();
        v[0]
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_json_500_with_a_request_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = crate::config::Config::for_db(dir.path().join("t.db"));
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        cfg.admin_token = Some(crate::secrets::Secret::new("t"));
        let app = crate::App::build(cfg).await.unwrap();
        let router = super::apply(
            Router::new().route("/boom", get(boom)).with_state(app.state.clone()),
            app.state.clone(),
        );
        let resp = router.oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(resp.headers().contains_key("x-request-id"));
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "internal");
        assert!(!String::from_utf8_lossy(&body).contains("index out of bounds"), "panic message not shown");
    }
}
