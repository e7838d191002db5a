//! The operator's admin API (`/admin/v1`), bearer-authenticated with the
//! admin token. One file per resource; handlers named path + verb.

mod audit;
mod connections;
mod events;
mod mapping;
mod orgs;
mod paging;
mod people;
mod tokens;
mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::http::AppState;

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(orgs::router())
        .merge(tokens::router())
        .merge(people::router())
        .merge(audit::router())
        .merge(events::router())
        .merge(connections::router())
        .merge(mapping::router())
        .merge(webhooks::router())
        .layer(DefaultBodyLimit::max(state.admin_body_limit))
}
