//! The HTTP side of the OIDC endpoints: the `Service` the OIDC code takes,
//! built from the app state.

use axum::extract::FromRef;

use super::Service;
use crate::http::AppState;

impl From<&AppState> for Service {
    fn from(s: &AppState) -> Self {
        Service {
            db: s.db.clone(),
            secrets: s.secret_box.clone(),
            public_url: s.public_url.clone(),
            metrics: s.metrics.clone(),
            oidc: s.oidc.clone(),
            outbound: s.outbound,
        }
    }
}

impl FromRef<AppState> for Service {
    fn from_ref(s: &AppState) -> Self {
        s.into()
    }
}
