//! OIDC login (not implemented yet): connection administration answers 501.

pub mod admin;

use axum::Router;

use crate::http::AppState;

/// Process-wide OIDC state (caches, clients), held in `AppState`.
#[derive(Default)]
pub struct OidcState {}

/// The OIDC endpoints.
pub fn router() -> Router<AppState> {
    Router::new()
}
