//! `GET /oidc/{connection_id}/login?return_to=URL[&login_hint=...]`: start
//! the authorization code flow. A fresh state, nonce and PKCE verifier are
//! stored server-side (single use, 10 minutes) together with the requested
//! return address; the browser gets a cookie binding it to this state (so a
//! callback URL started by someone else cannot log it in) and a 303 to the
//! provider's authorization endpoint. This file is the protocol side; the
//! handler, the rate limit and the response are in `routes.rs`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient};
use openidconnect::{ClientId, CsrfToken, Nonce, PkceCodeChallenge, RedirectUrl, Scope};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::config::redirect_uri;
use super::{LoginError, STATE_KIND, Service, load, query_params};
use crate::clock;
use crate::store::login_states::{self, LoginState};

/// How long a started login may take (secure default: state, nonce and PKCE
/// verifier are kept no longer than this).
pub const STATE_TTL: Duration = Duration::from_secs(600);
/// Longest return address or login hint kept.
const MAX_PARAM_LEN: usize = 2048;

/// What the callback needs from the login that started it.
#[derive(Serialize, Deserialize)]
pub(super) struct Pending {
    pub nonce: String,
    pub pkce_verifier: String,
    /// SHA-256 (hex) of the browser-binding cookie's value.
    pub binding_sha256: String,
    /// As requested; checked against the allow-list when the login ends.
    pub return_to: Option<String>,
}

/// 32 random bytes, URL-safe base64 (256 bits: unguessable).
fn random_b64() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

pub(super) fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The state is stored under its hash: a copy of the database does not hand
/// out usable states.
pub(super) fn state_key(state: &str) -> String {
    sha256_hex(state)
}

/// One binding cookie per started login, so two tabs do not collide.
pub(super) fn binding_cookie_name(state: &str) -> String {
    format!("idbridge_oidc_{}", &sha256_hex(state)[..16])
}

/// A started login: where the browser goes, and the binding cookie it gets
/// (for `STATE_TTL`, scoped to the connection's callback).
pub(super) struct Started {
    /// The provider's authorization endpoint with the request's parameters.
    pub auth_url: String,
    /// The connection's id as stored.
    pub connection_id: String,
    pub cookie_name: String,
    pub cookie_value: String,
}

/// Start a login through `connection_id` with the request's raw query:
/// store the state and return where to send the browser.
pub(super) async fn start(
    state: &Service,
    connection_id: &str,
    query: Option<&str>,
) -> Result<Started, LoginError> {
    let mut params = query_params(query)?;
    let conn = load(state, connection_id).await?;
    let provider = conn.provider(state).await?;
    let redirect = RedirectUrl::new(redirect_uri(&state.public_url, &conn.id))
        .map_err(|e| LoginError::Internal(format!("redirect_uri: {e}")))?;

    let csrf = random_b64();
    let nonce = random_b64();
    let binding = random_b64();
    // PKCE (RFC 7636) with S256: the code is useless without the verifier,
    // which never leaves idbridge.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();

    let client = CoreClient::from_provider_metadata(
        provider.metadata.clone(),
        ClientId::new(conn.cfg.client_id.clone()),
        None,
    )
    .set_redirect_uri(redirect);
    let (csrf_for_url, nonce_for_url) = (csrf.clone(), nonce.clone());
    let mut req = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(csrf_for_url),
            move || Nonce::new(nonce_for_url),
        )
        .set_pkce_challenge(challenge);
    for s in conn.cfg.scopes.iter().filter(|s| *s != "openid") {
        req = req.add_scope(Scope::new(s.clone()));
    }
    if let Some(h) = params
        .get("login_hint")
        .map(String::as_str)
        .map(str::trim)
        .filter(|h| !h.is_empty() && h.len() <= 256)
    {
        req = req.add_extra_param("login_hint", h.to_string());
    }
    let (auth_url, _, _) = req.url();

    let pending = Pending {
        nonce,
        pkce_verifier: verifier.secret().clone(),
        binding_sha256: sha256_hex(&binding),
        return_to: params.remove("return_to").filter(|r| r.len() <= MAX_PARAM_LEN),
    };
    let now = clock::now();
    let row = LoginState {
        kind: STATE_KIND.into(),
        key: state_key(&csrf),
        connection_id: conn.id.clone(),
        data: serde_json::to_string(&pending).map_err(|e| LoginError::Internal(e.to_string()))?,
        created_at: clock::format(now),
        expires_at: clock::format(now + STATE_TTL),
    };
    state
        .db
        .write(move |tx| {
            login_states::purge_expired(tx, &row.created_at)?;
            login_states::insert(tx, &row, &row.created_at)
        })
        .await
        .map_err(|e| LoginError::Internal(e.to_string()))?;

    Ok(Started {
        auth_url: auth_url.to_string(),
        connection_id: conn.id,
        cookie_name: binding_cookie_name(&csrf),
        cookie_value: binding,
    })
}
