//! Sessions: JWTs signed by idbridge (EdDSA), each backed by a stored `jti`
//! so revocation is immediate; the JWKS; `/v1/me`; the session cookie; and
//! `login::complete`, the one function SAML and OIDC call after validating an
//! IdP's answer.

pub mod cookies;
pub mod csrf;
pub mod keys;
pub mod login;
pub mod redirect;
pub mod routes;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::clock;
use crate::error::Error;
pub use crate::model::SessionContext;
use crate::secrets::SecretBox;
use crate::store::{self, Db, StoreError};

/// Name of the session cookie.
pub const COOKIE: &str = "idbridge_session";
/// Write `last_seen_at` at most this often per session (idle tracking
/// without a write on every request).
const TOUCH_EVERY_SECS: i64 = 60;

/// Session lifetimes.
#[derive(Clone, Copy, Debug)]
pub struct SessionConfig {
    /// Absolute lifetime from login (default 8 h).
    pub lifetime: Duration,
    /// Idle timeout: a session unused for this long ends (default 1 h).
    pub idle: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig { lifetime: Duration::from_secs(8 * 3600), idle: Duration::from_secs(3600) }
    }
}

/// Why a presented session was refused (all 401).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No cookie and no bearer token.
    #[error("no session")]
    Missing,
    /// Signature or claims failed.
    #[error(transparent)]
    Token(#[from] token::TokenError),
    /// The jti is unknown, revoked, expired or idle.
    #[error("session {state}")]
    Ended { state: &'static str },
    /// The user is inactive or no longer holds any role in the org.
    #[error("user is no longer a member of the org")]
    NotMember,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] Error),
}

impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> Self {
        SessionError::Store(e.into())
    }
}

/// A freshly issued session.
#[derive(Debug, Clone, Serialize)]
pub struct Issued {
    pub token: String,
    pub jti: String,
    pub expires_at: String,
}

/// What checking a presented session needs (a narrow handle; the edge builds it
/// from the router's state, `routes.rs`).
#[derive(Clone)]
pub struct SessionService {
    pub db: Db,
    /// The signing keys and the lifetimes.
    pub sessions: SharedSessions,
    /// Opens the stored private keys when a token names a key not loaded yet.
    pub secret_box: SecretBox,
    /// The issuer of idbridge's tokens: its public URL without a trailing slash.
    pub public_url: Arc<str>,
}

/// Check a session token and return who it is. The signature and claims are
/// verified first; then the stored session must be live and the user still a
/// member of the org (or a collaborator on one of its projects).
pub async fn authenticate(service: &SessionService, token: &str) -> Result<SessionContext, SessionError> {
    let sessions = &service.sessions;
    let claims = match token::verify(&sessions.keys.ring(), &service.public_url, token) {
        Err(token::TokenError::UnknownKey { kid: Some(kid) })
            if sessions.keys.reload_for_unknown_kid(&service.db, &service.secret_box, &kid).await =>
        {
            token::verify(&sessions.keys.ring(), &service.public_url, token)?
        }
        other => other?,
    };
    let idle = sessions.config.idle;
    let jti = claims.jti.clone();
    let (ctx, touch) = service
        .db
        .read(move |c| -> Result<(SessionContext, bool), SessionError> {
            let row = store::sessions::get(c, &jti)?.ok_or(SessionError::Ended { state: "unknown" })?;
            if row.revoked_at.is_some() {
                return Err(SessionError::Ended { state: "revoked" });
            }
            let now = clock::now();
            let expires = clock::parse(&row.expires_at).ok_or(SessionError::Ended { state: "corrupt" })?;
            if expires <= now {
                return Err(SessionError::Ended { state: "expired" });
            }
            let seen = clock::parse(&row.last_seen_at).ok_or(SessionError::Ended { state: "corrupt" })?;
            if seen + idle <= now {
                return Err(SessionError::Ended { state: "idle too long" });
            }
            let user = store::users::by_id(c, &row.org_id, &row.user_id)?.ok_or(SessionError::NotMember)?;
            let (org_role, projects) = crate::access::reconcile::effective_roles(c, &user)?;
            if org_role.is_none() && projects.is_empty() {
                return Err(SessionError::NotMember);
            }
            let org = store::orgs::org_by_id(c, &row.org_id)?.ok_or(SessionError::NotMember)?;
            let touch = (now - seen).whole_seconds() >= TOUCH_EVERY_SECS;
            Ok((
                SessionContext { jti, user, org_id: org.id.into(), org_slug: org.slug, org_role, projects },
                touch,
            ))
        })
        .await?;
    if touch {
        let jti = ctx.jti.clone();
        service.db.write(move |tx| store::sessions::touch(tx, &jti, &clock::now_str())).await?;
    }
    Ok(ctx)
}

/// Session state shared by the handlers.
pub struct Sessions {
    pub keys: keys::Keys,
    pub config: SessionConfig,
}

pub type SharedSessions = Arc<Sessions>;

/// `Set-Cookie` value for a session: HttpOnly, SameSite=Lax, Secure on https.
pub fn cookie(token: &str, public_url: &str, max_age: Duration) -> String {
    let secure = if public_url.starts_with("https://") { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}", max_age.as_secs())
}
