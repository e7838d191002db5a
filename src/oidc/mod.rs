//! OpenID Connect relying party: per-connection discovery (cached), the
//! login redirect (authorization code flow with PKCE S256, state and nonce
//! kept server-side, single use, 10 minutes), and the callback that exchanges
//! the code, validates the ID token (OIDC Core 3.1.3.7), completes the claims
//! from userinfo or Microsoft Graph, and ends in `session::login::complete`.
//!
//! Files: `config` (connection settings), `admin` (admin API), `discovery` (metadata and keys cache),
//! `login` and `callback` (the two endpoints' protocol side), `screen` (ID token shape and
//! claim types, before any parser), `verify` (ID token checks),
//! `claims` (claims to `LoginFacts`, userinfo, Entra groups overage via
//! Graph), `error` (refusal reasons and page texts); logout: `backchannel`
//! (Back-Channel Logout 1.0), `logout_token` (its token checks),
//! `logout` (RP-Initiated Logout from `/v1/logout`). `routes` is the HTTP
//! edge: the handlers, the `Service` built from the app state, the status
//! codes, cookie headers and pages, and `router()`.

pub mod admin;
mod backchannel;
mod callback;
mod claims;
pub mod config;
pub mod discovery;
mod error;
mod login;
pub mod logout;
mod logout_token;
pub mod routes;
pub mod screen;
pub mod verify;

use std::collections::HashMap;
use std::sync::Arc;

pub use error::LoginError;

use crate::connections;
use crate::directory::Org;
use crate::error::Error;
use crate::outbound::fetch::{FetchError, HttpClient, SharedClient};
use crate::secrets::Secret;
use config::OidcConfig;

/// Kind of the single-use login state rows (state → nonce, PKCE verifier).
const STATE_KIND: &str = "oidc_state";

/// What the OIDC code works with (built from the app state in `routes`).
#[derive(Clone)]
pub struct Service {
    pub db: crate::store::Db,
    /// Seals and opens client secrets and poll tokens.
    pub secrets: crate::secrets::SecretBox,
    /// Absolute base URL without a trailing slash (redirect URI, logout URIs).
    pub public_url: Arc<str>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The HTTP client and the discovery cache.
    pub oidc: Arc<OidcState>,
    /// What the operator's URLs may reach.
    pub outbound: crate::outbound::Policy,
}

/// Process-wide OIDC state, held in `AppState`: the HTTP client (built on
/// first use, guarded by the outbound policy) and the discovery cache.
#[derive(Default)]
pub struct OidcState {
    http: Arc<SharedClient>,
    pub discovery: discovery::Cache,
}

impl OidcState {
    /// State whose client reaches only what `outbound` permits.
    pub fn new(outbound: crate::outbound::Policy) -> Self {
        OidcState { http: Arc::new(SharedClient::new(outbound)), discovery: discovery::Cache::default() }
    }

    /// The shared client for talking to providers.
    pub fn http(&self) -> Result<&HttpClient, FetchError> {
        self.http.get()
    }

    /// The same client as a handle (the signal endpoints use it too).
    pub fn client(&self) -> Arc<SharedClient> {
        self.http.clone()
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
pub(crate) async fn load(state: &Service, id: &str) -> Result<Loaded, LoginError> {
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
    pub fn client_secret(&self, state: &Service) -> Result<Secret, LoginError> {
        let sealed = self
            .sealed_secret
            .as_deref()
            .ok_or_else(|| LoginError::Internal(format!("connection {}: no client secret", self.id)))?;
        let plain = state
            .secrets
            .open(&connections::secret_context(&self.id), sealed)
            .map_err(|e| LoginError::Internal(e.to_string()))?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| LoginError::Internal(format!("connection {}: client secret is not UTF-8", self.id)))
    }

    /// The provider, from the cache or discovered now.
    pub async fn provider(&self, state: &Service) -> Result<std::sync::Arc<discovery::Provider>, LoginError> {
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
