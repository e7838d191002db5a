//! `POST /oidc/{connection_id}/backchannel-logout`: OpenID Connect
//! Back-Channel Logout 1.0. The provider posts a `logout_token` (§2.5); it is
//! verified (`logout_token`, §2.6), with one rate-limited re-discovery when it
//! names an unknown key; then, in one write transaction, its `jti` is spent
//! (single use), the connection's matching sessions end (§2.7) and the ending
//! is audited. 200 on success; any refusal is a 400 `{"error":
//! "invalid_request"}` (§2.8) that changes nothing, logged and counted with
//! its precise reason. Both answers carry `Cache-Control: no-store` (§2.8).
//! This file is the protocol side; the handler and its answers are in
//! `routes.rs`.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::logout_token::{self, LogoutToken, LogoutTokenError};
use super::verify::IdTokenError;
use super::{LoginError, Service, load};
use crate::audit::{self, AuditAction};
use crate::clock;
use crate::store::login_states::{self, LoginState};
use crate::store::{StoreError, sessions};

/// Kind of the `login_states` rows that remember spent logout-token `jti`s.
const JTI_KIND: &str = "oidc_logout_jti";
/// Largest request body read (a logout token is at most `screen::MAX_LEN`).
const MAX_BODY: usize = super::screen::MAX_LEN + 1024;

/// idbridge's back-channel logout URI for a connection, to register at the provider.
pub fn backchannel_logout_uri(public_url: &str, connection_id: &str) -> String {
    format!("{public_url}/oidc/{connection_id}/backchannel-logout")
}

/// Why a back-channel logout request was refused.
#[derive(Debug, thiserror::Error)]
pub(super) enum BackchannelError {
    #[error("no active OIDC connection: {0}")]
    Connection(LoginError),
    #[error("content type {0:?}, expected application/x-www-form-urlencoded")]
    ContentType(String),
    #[error("body of {0} bytes is too large")]
    TooLarge(usize),
    #[error("no logout_token parameter")]
    MissingToken,
    #[error("parameter {0:?} appears more than once")]
    Duplicate(String),
    #[error("logout token: {0}")]
    Token(#[from] LogoutTokenError),
    /// §2.6 step 8: "verify that another Logout Token with the same jti value
    /// has not been recently received."
    #[error("jti {0:?} was already used")]
    Replayed(String),
    #[error("{0}")]
    Internal(String),
}

impl BackchannelError {
    /// The precise reason code, logged and counted.
    pub(super) fn reason(&self) -> &'static str {
        match self {
            BackchannelError::Connection(e) => e.reason(),
            BackchannelError::ContentType(_) => "wrong_content_type",
            BackchannelError::TooLarge(_) => "body_too_large",
            BackchannelError::MissingToken => "missing_logout_token",
            BackchannelError::Duplicate(_) => "duplicate_parameter",
            BackchannelError::Token(e) => e.reason(),
            BackchannelError::Replayed(_) => "jti_replayed",
            BackchannelError::Internal(_) => "internal",
        }
    }
}

/// §2.5: "The OP uses an HTTP POST to the registered back-channel logout URI
/// to send the logout request to the RP. The logout token is sent as the
/// logout_token parameter using the application/x-www-form-urlencoded encoding".
fn logout_token_param(content_type: Option<&str>, body: &[u8]) -> Result<String, BackchannelError> {
    let ctype = content_type.unwrap_or_default();
    let media = ctype.split(';').next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(BackchannelError::ContentType(ctype.chars().take(100).collect()));
    }
    if body.len() > MAX_BODY {
        return Err(BackchannelError::TooLarge(body.len()));
    }
    let mut token = None;
    for (k, v) in url::form_urlencoded::parse(body) {
        if k == "logout_token" && token.replace(v.into_owned()).is_some() {
            return Err(BackchannelError::Duplicate(k.into_owned()));
        }
    }
    token.filter(|t| !t.is_empty()).ok_or(BackchannelError::MissingToken)
}

/// Handle a back-channel logout request through `connection_id` (its
/// `Content-Type` and body): verify the logout token and end the sessions it
/// names. The number of users whose sessions ended.
pub(super) async fn logout(
    state: &Service,
    connection_id: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<usize, BackchannelError> {
    let raw = logout_token_param(content_type, body)?;
    let conn = load(state, connection_id).await.map_err(BackchannelError::Connection)?;
    let provider = conn.provider(state).await.map_err(BackchannelError::Connection)?;
    let now = clock::now().unix_timestamp();
    let verify = |p: &super::discovery::Provider| {
        logout_token::verify(p, &conn.cfg.client_id, &conn.cfg.tenant_ids, &raw, now)
    };
    // A key the cached JWKS lacks: the provider may have rotated; one
    // rate-limited re-discovery, as for ID tokens.
    let token = match verify(&provider) {
        Err(LogoutTokenError::Jws(IdTokenError::UnknownKey { kid })) => {
            let http = state.oidc.http().map_err(|e| BackchannelError::Internal(e.to_string()))?;
            match state.oidc.discovery.refresh_for_unknown_key(http, &conn.id, &conn.cfg, &provider).await {
                Some(fresh) => verify(&fresh)?,
                None => return Err(LogoutTokenError::Jws(IdTokenError::UnknownKey { kid }).into()),
            }
        }
        other => other?,
    };
    end_sessions(state, &conn.id, &conn.org.id, token).await
}

/// In one transaction: spend the jti, end the sessions, audit. A replayed
/// jti rolls everything back.
async fn end_sessions(
    state: &Service,
    connection_id: &str,
    org_id: &str,
    token: LogoutToken,
) -> Result<usize, BackchannelError> {
    let (connection_id, org_id) = (connection_id.to_string(), org_id.to_string());
    let key = hex::encode(Sha256::digest(format!("{connection_id}\n{}", token.jti)));
    let until = time::OffsetDateTime::from_unix_timestamp(token.remember_until())
        .map_err(|e| BackchannelError::Internal(e.to_string()))?;
    state
        .db
        .write(move |tx| -> Result<usize, BackchannelError> {
            let now = clock::now_str();
            let spent = LoginState {
                kind: JTI_KIND.into(),
                key,
                connection_id: connection_id.clone(),
                data: "{}".into(),
                created_at: now.clone(),
                expires_at: clock::format(until),
            };
            match login_states::insert(tx, &spent, &now) {
                Err(StoreError::Conflict { .. }) => {
                    return Err(BackchannelError::Replayed(token.jti.clone()));
                }
                other => other.map_err(|e| BackchannelError::Internal(e.to_string()))?,
            }
            // §2.7: "If the Logout Token contains a sid Claim, the RP logs out
            // the session with that sid ... if only a sub Claim is present,
            // the RP logs out all the sessions for that End-User".
            // Sessions are those of this connection only, and so of its org.
            const REASON: &str = "oidc_backchannel";
            let users = match (&token.sid, &token.sub) {
                (Some(sid), sub) => {
                    sessions::revoke_by_idp_sid(tx, &connection_id, sid, sub.as_deref(), REASON, &now)
                }
                (None, Some(sub)) => {
                    sessions::revoke_by_idp_subject(tx, &connection_id, sub, None, REASON, &now)
                }
                (None, None) => Ok(Vec::new()),
            }
            .map_err(|e| BackchannelError::Internal(e.to_string()))?;
            crate::events::emit::sessions_revoked(tx, &org_id, &users, "idp_logout")
                .map_err(|e| BackchannelError::Internal(e.to_string()))?;
            crate::store::audit::append(
                tx,
                &now,
                audit::Event {
                    org_id: Some(&org_id),
                    actor: &format!("sso:{connection_id}"),
                    action: AuditAction::SessionIdpLogout,
                    target: &format!("connection:{connection_id}"),
                    detail: json!({
                        "connection": connection_id,
                        "reason": REASON,
                        "count": users.len(),
                        "users": users,
                        "by": if token.sid.is_some() { "sid" } else { "sub" },
                    }),
                },
            )
            .map_err(|e| BackchannelError::Internal(e.to_string()))?;
            Ok(users.len())
        })
        .await
}

impl From<StoreError> for BackchannelError {
    fn from(e: StoreError) -> Self {
        BackchannelError::Internal(e.to_string())
    }
}
