//! SAML login (not implemented yet): connection administration answers 501.

pub mod admin;

use axum::Router;

use crate::http::AppState;

/// Process-wide SAML state (caches, clients), held in `AppState`.
#[derive(Default)]
pub struct SamlState {}

/// The SAML endpoints.
pub fn router() -> Router<AppState> {
    Router::new()
}
