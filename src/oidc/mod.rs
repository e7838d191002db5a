//! OpenID Connect relying party: per-connection discovery (cached), the
//! login redirect (authorization code flow with PKCE S256, state and nonce
//! kept server-side, single use, 10 minutes), and the callback that exchanges
//! the code, validates the ID token (OIDC Core 3.1.3.7), completes the claims
//! from userinfo or Microsoft Graph, and ends in `session::login::complete`.
//!
//! Files: `config` (connection settings), `admin` (admin API), `fetch`
//! (the capped HTTP client), `discovery` (metadata and keys cache),
//! `login` and `callback` (the two endpoints), `screen` (ID token shape and
//! claim types, before any parser), `verify` (ID token checks),
//! `claims` (claims to `LoginFacts`, userinfo, Entra groups overage via
//! Graph), `error` (refusal reasons and pages); logout: `backchannel`
//! (Back-Channel Logout 1.0 endpoint), `logout_token` (its token checks),
//! `logout` (RP-Initiated Logout from `/v1/logout`).

pub mod admin;
mod backchannel;
mod callback;
mod claims;
pub mod config;
pub mod discovery;
mod error;
pub mod fetch;
mod login;
pub mod logout;
mod logout_token;
pub mod screen;
pub mod verify;

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::Router;
use axum::routing::{get, post};

pub use error::LoginError;

use crate::connections;
use crate::directory::Org;
use crate::error::Error;
use crate::http::AppState;
use crate::secrets::Secret;
use config::OidcConfig;
use fetch::HttpClient;

/// Kind of the single-use login state rows (state → nonce, PKCE verifier).
const STATE_KIND: &str = "oidc_state";

/// Process-wide OIDC state, held in `AppState`: the HTTP client (built on
/// first use, guarded by the outbound policy) and the discovery cache.
#[derive(Default)]
pub struct OidcState {
    outbound: crate::outbound::Policy,
    http: OnceLock<HttpClient>,
    pub discovery: discovery::Cache,
}

impl OidcState {
    /// State whose client reaches only what `outbound` permits.
    pub fn new(outbound: crate::outbound::Policy) -> Self {
        OidcState { outbound, ..Default::default() }
    }

    /// The shared client for talking to providers.
    pub fn http(&self) -> Result<&HttpClient, fetch::FetchError> {
        if let Some(h) = self.http.get() {
            return Ok(h);
        }
        let h = HttpClient::new(self.outbound)?;
        Ok(self.http.get_or_init(|| h))
    }
}

/// An OIDC connection as the login endpoints need it.
pub(crate) struct Loaded {
    pub id: String,
    pub org: Org,
    pub cfg: OidcConfig,
    pub sealed_secret: Option<Vec<u8>>,
}

/// The connection `id`, if it exists, is an OIDC one and is active (a
/// pending one — no issuer, client id or secret yet — signs nobody in and has
/// nothing to discover).
pub(crate) async fn load(state: &AppState, id: &str) -> Result<Loaded, LoginError> {
    let (row, org) = match connections::get(&state.db, id).await {
        Ok(found) => found,
        Err(Error::NotFound { .. }) => return Err(LoginError::UnknownConnection { id: id.to_string() }),
        Err(e) => return Err(e.into()),
    };
    if row.kind != crate::model::ConnectionKind::Oidc {
        return Err(LoginError::UnknownConnection { id: id.to_string() });
    }
    let draft: config::OidcDraft = serde_json::from_str(&row.config)
        .map_err(|e| LoginError::Internal(format!("connection {id}: stored config unreadable: {e}")))?;
    let Some(cfg) = draft.ready().filter(|_| row.secret.is_some()) else {
        return Err(LoginError::Pending { id: row.id.into() });
    };
    Ok(Loaded { id: row.id.into(), org, cfg, sealed_secret: row.secret })
}

impl Loaded {
    /// The client secret, unsealed.
    pub fn client_secret(&self, state: &AppState) -> Result<Secret, LoginError> {
        let sealed = self
            .sealed_secret
            .as_deref()
            .ok_or_else(|| LoginError::Internal(format!("connection {}: no client secret", self.id)))?;
        let plain = state
            .secret_box
            .open(&connections::secret_context(&self.id), sealed)
            .map_err(|e| LoginError::Internal(e.to_string()))?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| LoginError::Internal(format!("connection {}: client secret is not UTF-8", self.id)))
    }

    /// The provider, from the cache or discovered now.
    pub async fn provider(
        &self,
        state: &AppState,
    ) -> Result<std::sync::Arc<discovery::Provider>, LoginError> {
        let http = state.oidc.http().map_err(|e| LoginError::Internal(e.to_string()))?;
        Ok(state.oidc.discovery.get(http, &self.id, &self.cfg).await?)
    }
}

/// The query parameters of a login or callback request. RFC 6749 3.1:
/// "Request and response parameters MUST NOT be included more than once."
pub(crate) fn query_params(raw: Option<&str>) -> Result<HashMap<String, String>, LoginError> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(LoginError::DuplicateParameter { name: k.chars().take(64).collect() });
        }
    }
    Ok(out)
}

/// The OIDC endpoints.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oidc/{connection_id}/login", get(login::oidc_login_get))
        .route("/oidc/{connection_id}/callback", get(callback::oidc_callback_get))
        .route("/oidc/{connection_id}/backchannel-logout", post(backchannel::oidc_backchannel_logout_post))
}
