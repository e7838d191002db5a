//! Universal Logout: `POST /idp/{id}/global-token-revocation`, as Okta calls
//! it (draft-parecki-oauth-global-token-revocation: "the request body is a
//! JSON object with a sub_id member ... a Subject Identifier", answered 204
//! on success, 401 when authentication fails, 404 when the user is unknown).
//!
//! The request is authorised by a JWT bearer signed by the connection's IdP
//! (Okta's "SIGNED_JWT" authentication method): keys and issuer are
//! `logout_jwks_uri` / `logout_issuer` when set on the connection, else —
//! for an OIDC connection — the provider's (its discovery `jwks_uri`, `iss`
//! the connection's issuer). `aud` must be this endpoint's URL, `exp` is
//! required, and the `jti` is single-use (stored, in the same transaction as
//! the revocation, until the token expires). The person named by `sub_id`
//! (`email` or `iss_sub`) loses every session and every API key at once.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::jwt::{Expect, JwtError, SKEW_SECS, Typ};
use super::{Connection, Ended, Ending, Subject};
use crate::clock;
use crate::error::Error;
use crate::http::AppState;
use crate::store::StoreError;
use crate::store::login_states::{self, LoginState};

/// Kind of the single-use rows of bearer `jti`s.
const JTI_KIND: &str = "ul_jti";
/// Largest request body (a subject identifier is small).
pub const MAX_BODY: usize = 16 * 1024;
/// Longest `jti` accepted.
const MAX_JTI_LEN: usize = 255;

const ENDING: Ending = Ending {
    revoke_api_keys: true,
    reason: "universal_logout",
    action: crate::audit::AuditAction::SessionUniversalLogout,
    event_reason: "idp_logout",
    deprovisions: false,
};

/// Why a Universal Logout request was refused (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum UlError {
    #[error("connection {id:?} not found")]
    UnknownConnection { id: String },
    #[error("Universal Logout is not configured on connection {id}: {why}")]
    NotConfigured { id: String, why: &'static str },
    #[error("no bearer token (Authorization: Bearer <JWT signed by the IdP>)")]
    NoBearer,
    #[error("bearer token refused: {0}")]
    Token(#[from] JwtError),
    #[error("bearer token has no usable jti (a string of 1-{MAX_JTI_LEN} characters)")]
    Jti,
    #[error("bearer token jti {jti:?} was already used")]
    Replayed { jti: String },
    #[error("the provider's keys are unavailable: {0}")]
    Discovery(String),
    #[error("invalid request body: {0}")]
    Body(String),
    #[error("no user of this connection's org matches the {format} subject")]
    UnknownSubject { format: &'static str },
    #[error(transparent)]
    Internal(#[from] Error),
}

impl From<StoreError> for UlError {
    fn from(e: StoreError) -> Self {
        UlError::Internal(e.into())
    }
}

impl UlError {
    /// A short code for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            UlError::UnknownConnection { .. } => "unknown_connection",
            UlError::NotConfigured { .. } => "not_configured",
            UlError::NoBearer => "no_bearer",
            UlError::Token(e) => e.reason(),
            UlError::Jti => "jti",
            UlError::Replayed { .. } => "replayed",
            UlError::Discovery(_) => "discovery",
            UlError::Body(_) => "body",
            UlError::UnknownSubject { .. } => "unknown_subject",
            UlError::Internal(_) => "internal",
        }
    }
}

/// This endpoint's URL: the bearer's required `aud`.
pub fn endpoint_url(public_url: &str, id: &str) -> String {
    format!("{public_url}/idp/{id}/global-token-revocation")
}

/// The bearer's issuer and JWKS URL for this connection.
async fn trust(state: &AppState, conn: &Connection) -> Result<(String, String), UlError> {
    let id = conn.row.id.to_string();
    let s = &conn.settings;
    if let Some(jwks) = &s.logout_jwks_uri {
        let issuer = s.logout_issuer.clone().or_else(|| conn.oidc.as_ref().map(|c| c.issuer.clone()));
        let issuer =
            issuer.ok_or(UlError::NotConfigured { id, why: "logout_jwks_uri without logout_issuer" })?;
        return Ok((issuer, jwks.clone()));
    }
    let Some(cfg) = &conn.oidc else {
        return Err(UlError::NotConfigured { id, why: "set logout_issuer and logout_jwks_uri" });
    };
    if s.logout_issuer.as_ref().is_some_and(|i| *i != cfg.issuer) {
        return Err(UlError::NotConfigured {
            id,
            why: "a logout_issuer other than the provider's needs logout_jwks_uri",
        });
    }
    let http = state.oidc.http().map_err(|e| UlError::Discovery(e.to_string()))?;
    let provider =
        state.oidc.discovery.get(http, &id, cfg).await.map_err(|e| UlError::Discovery(e.to_string()))?;
    Ok((cfg.issuer.clone(), provider.metadata.jwks_uri().to_string()))
}

/// The token of an `Authorization: Bearer` header.
fn bearer(authorization: Option<&str>) -> Result<&str, UlError> {
    let h = authorization.ok_or(UlError::NoBearer)?.trim();
    let (scheme, token) = h.split_once(' ').ok_or(UlError::NoBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(UlError::NoBearer);
    }
    Ok(token.trim())
}

/// The `sub_id` of the body.
pub fn parse_body(body: &[u8]) -> Result<Subject, UlError> {
    if body.len() > MAX_BODY {
        return Err(UlError::Body(format!("larger than {MAX_BODY} bytes")));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| UlError::Body(format!("not JSON: {e}")))?;
    let sub_id = v.get("sub_id").ok_or_else(|| UlError::Body("no sub_id member".into()))?;
    let subject = Subject::parse(sub_id).map_err(UlError::Body)?;
    match subject {
        // The draft's formats as Okta sends them (Subject format: Email, or Issuer and Subject identifier).
        Subject::Email(_) | Subject::IssSub { .. } => Ok(subject),
        Subject::Opaque(_) => Err(UlError::Body("sub_id format must be email or iss_sub".into())),
    }
}

/// Verify the request and end the person's sessions and API keys.
pub async fn revoke(
    state: &AppState,
    id: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Result<(Connection, Subject, Ended), UlError> {
    let conn =
        super::load(&state.db, id).await?.ok_or_else(|| UlError::UnknownConnection { id: id.into() })?;
    let (issuer, jwks) = trust(state, &conn).await?;
    let token = bearer(authorization)?;
    let http = state.oidc.http().map_err(|e| UlError::Discovery(e.to_string()))?;
    let audiences = [endpoint_url(&state.public_url, id)];
    let expect =
        Expect { issuer: &issuer, audiences: &audiences, typ: Typ::Any, require_exp: true, max_age: None };
    let verified = state.signals.jwks.verify(http, &jwks, token, &expect).await?;
    let jti = match verified.claims.get("jti") {
        Some(Value::String(j)) if !j.is_empty() && j.len() <= MAX_JTI_LEN => j.clone(),
        _ => return Err(UlError::Jti),
    };
    let exp = verified.claims.get("exp").and_then(Value::as_i64).unwrap_or_default();
    let subject = parse_body(body)?;
    let (conn, subject, ended) = state
        .db
        .write(move |tx| {
            let now = clock::now();
            let now_s = clock::format(now);
            // Kept until the token could no longer be accepted anyway.
            let until = OffsetDateTime::from_unix_timestamp(exp + SKEW_SECS).unwrap_or(now);
            let row = LoginState {
                kind: JTI_KIND.into(),
                key: format!("{}:{jti}", conn.row.id),
                connection_id: conn.row.id.to_string(),
                data: "{}".into(),
                created_at: now_s.clone(),
                expires_at: clock::format(until.max(now)),
            };
            match login_states::insert(tx, &row, &now_s) {
                Err(StoreError::Conflict { .. }) => return Err(UlError::Replayed { jti }),
                other => other?,
            }
            let users = super::users_for(tx, &conn, &subject)?;
            if users.is_empty() {
                // Rolled back: the jti stays usable, nothing changed.
                return Err(UlError::UnknownSubject { format: subject.format() });
            }
            let detail = json!({"jti": jti, "kid": verified.kid});
            let ended = super::end_for(tx, &conn, &users, &subject, ENDING, &detail, &now_s)?;
            Ok((conn, subject, ended))
        })
        .await?;
    Ok((conn, subject, ended))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_bearers() {
        assert_eq!(
            parse_body(br#"{"sub_id":{"format":"email","email":"a@b.c"}}"#).unwrap(),
            Subject::Email("a@b.c".into())
        );
        assert_eq!(
            parse_body(br#"{"sub_id":{"format":"iss_sub","iss":"https://i","sub":"00u1"}}"#).unwrap(),
            Subject::IssSub { iss: "https://i".into(), sub: "00u1".into() }
        );
        for bad in [
            &br#"{}"#[..],
            br#"not json"#,
            br#"{"sub_id":{"format":"phone_number","phone_number":"+1"}}"#,
            br#"{"sub_id":{"format":"email"}}"#,
            br#"{"sub_id":{"format":"opaque","id":"x"}}"#,
        ] {
            assert!(matches!(parse_body(bad), Err(UlError::Body(_))), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(bearer(Some("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer(Some("bearer  abc ")).unwrap(), "abc");
        for bad in [None, Some("Basic abc"), Some("Bearer"), Some("Bearer ")] {
            assert!(bearer(bad).is_err(), "{bad:?}");
        }
    }
}
