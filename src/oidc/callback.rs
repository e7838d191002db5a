//! `GET /oidc/{connection_id}/callback`: finish the authorization code flow.
//! The state is taken (single use) and must be bound to this browser; the
//! code is exchanged with the PKCE verifier; the ID token is validated
//! (`verify`), with one rate-limited re-discovery when it names an unknown
//! key; missing claims come from userinfo, overage groups from Graph; then
//! `login::complete`, and the edge (`routes.rs`) answers with the 303 and the
//! session cookie. Any failure is a short page, a precise log line and a
//! counted reason, and writes nothing. This file is the protocol side; it reads
//! the request as plain data (raw query, `Cookie` header values).

use openidconnect::core::CoreClient;
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, OAuth2TokenResponse, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, TokenResponse,
};

use super::claims::{Identity, overage_groups, userinfo};
use super::config::redirect_uri;
use super::discovery::{IssuerRule, Provider};
use super::login::{Pending, binding_cookie_name, sha256_hex, state_key};
use super::verify::{self, Expected, IdTokenError};
use super::{Loaded, LoginError, STATE_KIND, Service, load, query_params};
use crate::clock;
use crate::session::cookies::CookieHeaders;
use crate::session::{Issued, SharedSessions, login, redirect};
use crate::store::login_states;

/// Longest `error` / `error_description` kept for the log.
const MAX_ERROR_LEN: usize = 300;

fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(MAX_ERROR_LEN).collect()
}

/// A completed login: the session issued, and where the browser goes.
pub(super) struct Completed {
    pub issued: Issued,
    /// The requested return address if allowed, else the connection's default.
    pub target: String,
}

/// Finish a login through `connection_id` with the request's raw query and
/// `Cookie` headers; the session is issued from `sessions`.
pub(super) async fn finish<H: CookieHeaders + ?Sized>(
    state: &Service,
    sessions: SharedSessions,
    connection_id: &str,
    query: Option<&str>,
    cookies: &H,
) -> Result<Completed, LoginError> {
    let params = query_params(query)?;
    let param = |name: &'static str| params.get(name).map(String::as_str).filter(|v| !v.is_empty());
    // A pending connection started no login: refuse before touching any state.
    if let Err(e @ LoginError::Pending { .. }) = load(state, connection_id).await {
        return Err(e);
    }

    // The provider's answer may be an error (RFC 6749 4.1.2.1): show it,
    // and spend the state so it cannot be used again.
    if let Some(error) = param("error") {
        if let Some(s) = param("state") {
            let (key, now) = (state_key(s), clock::now_str());
            let _ = state.db.write(move |tx| login_states::take(tx, STATE_KIND, &key, &now)).await;
        }
        return Err(LoginError::Provider {
            error: printable(error),
            description: printable(param("error_description").unwrap_or_default()),
        });
    }

    // State: issued by idbridge, for this connection, not used before, not
    // expired, and bound to this browser.
    let csrf = param("state").ok_or(LoginError::MissingParameter { name: "state" })?;
    let (key, now) = (state_key(csrf), clock::now_str());
    let taken = state
        .db
        .write(move |tx| login_states::take(tx, STATE_KIND, &key, &now))
        .await
        .map_err(|e| LoginError::Internal(e.to_string()))?
        .ok_or(LoginError::UnknownState)?;
    if taken.connection_id != connection_id {
        return Err(LoginError::StateOtherConnection {
            issued_for: taken.connection_id,
            used_on: connection_id.to_string(),
        });
    }
    let pending: Pending =
        serde_json::from_str(&taken.data).map_err(|e| LoginError::Internal(e.to_string()))?;
    let bound = crate::session::cookies::first(cookies, &binding_cookie_name(csrf))
        .is_some_and(|v| crate::secrets::ct_eq(sha256_hex(v).as_bytes(), pending.binding_sha256.as_bytes()));
    if !bound {
        return Err(LoginError::NotSameBrowser);
    }

    let conn = load(state, connection_id).await?;
    let provider = conn.provider(state).await?;
    check_response_issuer(&provider, &conn, param("iss"))?;
    let code = param("code").ok_or(LoginError::MissingParameter { name: "code" })?;

    let (id_token, access_token) = exchange(state, &conn, &provider, code, &pending.pkce_verifier).await?;
    let verified =
        verify_with_refresh(state, &conn, provider.clone(), &id_token, &pending.nonce, &access_token).await?;

    let mut identity = Identity::from_claims(&verified.sub, &verified.claims, &conn.cfg.groups_claim);
    let userinfo_url = provider.metadata.userinfo_endpoint().filter(|_| identity.needs_userinfo());
    if let Some(url) = userinfo_url {
        let http = state.oidc.http().map_err(|e| LoginError::Internal(e.to_string()))?;
        let ui = userinfo(http, url.as_str(), &access_token, &verified.sub).await?;
        identity.merge_userinfo(&ui, &conn.cfg.groups_claim);
    }
    if identity.overage {
        let url = conn
            .cfg
            .graph_groups_url
            .as_deref()
            .ok_or_else(|| LoginError::GroupsOverage { claim: conn.cfg.groups_claim.clone() })?;
        let http = state.oidc.http().map_err(|e| LoginError::Internal(e.to_string()))?;
        identity.groups = Some(overage_groups(http, url, &access_token).await?);
    }

    let mut facts = identity.into_facts(&conn.org.id, &conn.id, &conn.cfg)?;
    // For RP-initiated logout's id_token_hint, kept sealed (logout.rs).
    super::logout::keep_id_token(state, &conn.id, &id_token, &mut facts.idp_session.data);
    let (issued, user) = login::complete(&state.db, sessions, &state.public_url, facts).await?;
    let default = conn.cfg.login.default_target(&state.public_url);
    let target = redirect::safe_target(
        &state.public_url,
        &conn.cfg.login.allowed_origins,
        pending.return_to.as_deref(),
        &default,
    );
    tracing::info!(connection = %conn.id, user = %user.id, "OIDC login completed");
    Ok(Completed { issued, target })
}

/// RFC 9207: when the provider names itself in the authorization response,
/// it must be this connection's issuer (an attacker's provider cannot pass
/// its code off as this one's); a provider that announced the parameter
/// must send it.
fn check_response_issuer(provider: &Provider, conn: &Loaded, iss: Option<&str>) -> Result<(), LoginError> {
    let expected: Vec<String> = match &provider.issuer {
        IssuerRule::Exact(e) => vec![e.clone()],
        IssuerRule::Tenant { .. } => {
            conn.cfg.tenant_ids.iter().filter_map(|t| provider.issuer.expected(Some(t))).collect()
        }
    };
    match iss {
        Some(got) if expected.iter().any(|e| e == got) => Ok(()),
        None if !provider.iss_param_supported => Ok(()),
        got => Err(LoginError::ResponseIssuer { expected: expected.join(" or "), got: got.map(printable) }),
    }
}

/// Exchange the code (with the PKCE verifier) for the ID token and access token.
async fn exchange(
    state: &Service,
    conn: &Loaded,
    provider: &Provider,
    code: &str,
    verifier: &str,
) -> Result<(String, String), LoginError> {
    let http = state.oidc.http().map_err(|e| LoginError::Internal(e.to_string()))?;
    let secret = conn.client_secret(state)?;
    let redirect = RedirectUrl::new(redirect_uri(&state.public_url, &conn.id))
        .map_err(|e| LoginError::Internal(format!("redirect_uri: {e}")))?;
    let client = CoreClient::from_provider_metadata(
        provider.metadata.clone(),
        ClientId::new(conn.cfg.client_id.clone()),
        Some(ClientSecret::new(secret.expose().to_string())),
    )
    .set_redirect_uri(redirect)
    .set_auth_type(provider.auth_type.clone());
    let request = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| LoginError::Internal(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()));
    let response = request.request_async(http).await.map_err(|e| match e {
        RequestTokenError::ServerResponse(r) => LoginError::TokenRefused {
            error: printable(r.error().as_ref()),
            description: printable(r.error_description().map(String::as_str).unwrap_or_default()),
        },
        RequestTokenError::Request(e) => LoginError::TokenEndpoint { message: e.to_string() },
        RequestTokenError::Parse(e, body) => unacceptable_token_response(&e, &body),
        RequestTokenError::Other(m) => LoginError::TokenEndpoint { message: m },
    })?;
    let id_token = response.id_token().ok_or(LoginError::MissingIdToken)?.to_string();
    Ok((id_token, response.access_token().secret().clone()))
}

/// The provider answered the code exchange with a body openidconnect could
/// not parse: it was reached, and its answer is refused (a 4xx page), with
/// the most precise reason — the ID token's own fault when screening finds
/// one (alg `None`, a string `email_verified`, no `exp`, ...).
/// (The parse error names the JSON path of the fault, e.g. `id_token: ...`.)
fn unacceptable_token_response(e: &dyn std::fmt::Display, body: &[u8]) -> LoginError {
    let id_token = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("id_token").and_then(serde_json::Value::as_str).map(str::to_string));
    match id_token.map(|t| super::screen::screen(&t)) {
        Some(Err(refused)) => LoginError::IdToken(refused),
        _ => LoginError::TokenResponseInvalid { message: printable(&e.to_string()) },
    }
}

/// Validate the ID token; if it names a key the cached JWKS lacks, re-run
/// discovery once (rate-limited per connection) and try again.
async fn verify_with_refresh(
    state: &Service,
    conn: &Loaded,
    provider: std::sync::Arc<Provider>,
    id_token: &str,
    nonce: &str,
    access_token: &str,
) -> Result<verify::VerifiedIdToken, LoginError> {
    let expected =
        Expected { client_id: &conn.cfg.client_id, nonce, tenant_ids: &conn.cfg.tenant_ids, access_token };
    let now = clock::now().unix_timestamp();
    match verify::verify(&provider, &expected, id_token, now) {
        Err(IdTokenError::UnknownKey { kid }) => {
            let http = state.oidc.http().map_err(|e| LoginError::Internal(e.to_string()))?;
            match state.oidc.discovery.refresh_for_unknown_key(http, &conn.id, &conn.cfg, &provider).await {
                Some(fresh) => Ok(verify::verify(&fresh, &expected, id_token, now)?),
                None => Err(IdTokenError::UnknownKey { kid }.into()),
            }
        }
        other => Ok(other?),
    }
}
