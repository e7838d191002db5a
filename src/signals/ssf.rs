//! Shared Signals receiver: `POST /ssf/{id}/push` (RFC 8935 push delivery
//! of RFC 8417 Security Event Tokens from the connection's SSF transmitter).
//!
//! RFC 8935 2: "the SET Transmitter ... transmits the SET to the SET
//! Recipient's push endpoint ... with Content-Type application/secevent+jwt";
//! 2.2: the recipient answers "202 (Accepted)" once the SET is validated,
//! else "400 (Bad Request)" with `{"err": …, "description": …}` (2.3, codes
//! of 2.4 / 7.1). The SET is verified against `ssf_jwks_uri`, `iss` must be
//! `ssf_issuer`, `aud` the push URL (or `ssf_audience`), `iat` is required
//! (RFC 8417 2.2) and at most `MAX_AGE` old, `jti` is processed once.
//!
//! Events (SSF 1.0: one event per SET; the subject in `sub_id`, or inside
//! the event as `subject` for CAEP/RISC transmitters before SSF 1.0):
//! CAEP `session-revoked` ends the person's sessions; RISC
//! `account-disabled`, `account-purged`, `credential-compromise` and
//! `sessions-revoked` also revoke their API keys; the SSF `verification`
//! event is accepted with no effect. Any other event type is refused.
//!
//! The same checks and handling serve RFC 8936 poll delivery (`poll`, via
//! `process` with `Delivery::Poll`): only the default `aud` differs.
//!
//! A duplicate `jti` (RFC 8417 2.2: "jti ... a unique identifier for the
//! SET") is answered 202 and not processed again: the transmitter retries
//! when it did not see the first answer, and must not be told its SET was
//! invalid. A subject that is no user of this org is accepted (202), logged
//! and audited with nothing ended.

use serde_json::{Map, Value, json};
use time::Duration;

use super::jwt::{Expect, JwtError, SKEW_SECS, Typ};
use super::{Ending, Subject};
use crate::audit::{self, AuditAction};
use crate::clock;
use crate::error::Error;
use crate::http::AppState;
use crate::store::StoreError;
use crate::store::login_states::{self, LoginState};

/// Kind of the single-use rows of SET `jti`s.
const JTI_KIND: &str = "set_jti";
/// Largest SET accepted.
pub const MAX_BODY: usize = super::jwt::MAX_TOKEN_LEN;
/// Oldest SET accepted (by `iat`); its `jti` is kept a little longer.
pub const MAX_AGE: i64 = 24 * 3600;
const MAX_JTI_LEN: usize = 255;

const CAEP_SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";
const SSF_VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const RISC_ENDING: [&str; 4] =
    ["account-disabled", "account-purged", "credential-compromise", "sessions-revoked"];

/// Why a SET was refused (nothing was changed), with the RFC 8935 error code.
#[derive(Debug, thiserror::Error)]
pub enum SsfError {
    #[error("connection {id:?} not found")]
    UnknownConnection { id: String },
    #[error("Shared Signals are not configured on connection {id} (set ssf_issuer and ssf_jwks_uri)")]
    NotConfigured { id: String },
    #[error("Content-Type must be application/secevent+jwt (RFC 8935 2), not {got:?}")]
    ContentType { got: String },
    #[error("the body is not a compact JWS of at most {MAX_BODY} bytes")]
    Body,
    #[error("SET refused: {0}")]
    Token(#[from] JwtError),
    #[error("SET claim {name:?} missing or invalid: {message}")]
    Claim { name: &'static str, message: String },
    #[error("unsupported event type {uri:?}")]
    EventType { uri: String },
    #[error(transparent)]
    Internal(#[from] Error),
}

impl From<StoreError> for SsfError {
    fn from(e: StoreError) -> Self {
        SsfError::Internal(e.into())
    }
}

impl SsfError {
    /// The RFC 8935 2.4 error code.
    pub fn err(&self) -> &'static str {
        match self {
            SsfError::Token(JwtError::Issuer { .. }) | SsfError::NotConfigured { .. } => "invalid_issuer",
            SsfError::Token(JwtError::Audience { .. }) => "invalid_audience",
            SsfError::Token(
                JwtError::UnknownKey { .. } | JwtError::Signature { .. } | JwtError::Algorithm { .. },
            ) => "invalid_key",
            _ => "invalid_request",
        }
    }

    /// A short code for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            SsfError::UnknownConnection { .. } => "unknown_connection",
            SsfError::NotConfigured { .. } => "not_configured",
            SsfError::ContentType { .. } => "content_type",
            SsfError::Body => "body",
            SsfError::Token(e) => e.reason(),
            SsfError::Claim { .. } => "claim",
            SsfError::EventType { .. } => "event_type",
            SsfError::Internal(_) => "internal",
        }
    }
}

/// What an accepted SET did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Processed now: the event, and what was ended.
    Processed { event: String, ended: super::Ended },
    /// The jti was processed before: nothing done again.
    Duplicate { jti: String },
}

/// The push URL: the SET's `aud` unless `ssf_audience` is set.
pub fn push_url(public_url: &str, id: &str) -> String {
    format!("{public_url}/ssf/{id}/push")
}

/// What an event type ends; `None` for the verification event.
fn ending_of(uri: &str) -> Result<Option<Ending>, SsfError> {
    if uri == SSF_VERIFICATION {
        return Ok(None);
    }
    if uri == CAEP_SESSION_REVOKED {
        return Ok(Some(Ending {
            revoke_api_keys: false,
            reason: "caep_session_revoked",
            action: AuditAction::SsfEvent,
            event_reason: "idp_signal",
            deprovisions: false,
        }));
    }
    match uri.strip_prefix(RISC) {
        Some(t) if RISC_ENDING.contains(&t) => {
            let deprovisions = matches!(t, "account-disabled" | "account-purged");
            let event_reason = "idp_signal";
            Ok(Some(Ending {
                revoke_api_keys: true,
                reason: "risc",
                action: AuditAction::SsfEvent,
                event_reason,
                deprovisions,
            }))
        }
        _ => Err(SsfError::EventType { uri: uri.chars().take(200).collect() }),
    }
}

fn claim_err(name: &'static str, message: &str) -> SsfError {
    SsfError::Claim { name, message: message.into() }
}

/// The single event and its subject (`sub_id`, else the event's `subject`).
fn event_of(claims: &Map<String, Value>) -> Result<(String, Option<Ending>, Option<Subject>), SsfError> {
    let events =
        claims.get("events").and_then(Value::as_object).ok_or_else(|| claim_err("events", "required"))?;
    if events.len() != 1 {
        return Err(claim_err("events", "SSF 1.0: a SET carries exactly one event"));
    }
    let Some((uri, payload)) = events.iter().next() else { return Err(claim_err("events", "empty")) };
    let ending = ending_of(uri)?;
    if ending.is_none() {
        return Ok((uri.clone(), None, None));
    }
    let raw = claims
        .get("sub_id")
        .or_else(|| payload.get("subject"))
        .ok_or_else(|| claim_err("sub_id", "required"))?;
    let subject = Subject::parse(raw).map_err(|m| SsfError::Claim { name: "sub_id", message: m })?;
    Ok((uri.clone(), ending, Some(subject)))
}

/// How a SET arrived, which decides its required `aud`.
#[derive(Clone, Copy, Debug)]
pub enum Delivery<'a> {
    /// RFC 8935 push: `aud` is `ssf_audience`, else the push URL.
    Push,
    /// RFC 8936 poll: `aud` is `ssf_audience`, else the connection's
    /// `ssf_poll_url`; `jti` is the member name the SET was listed under
    /// (RFC 8936 2.5, `sets`: "Each member name is the "jti" of a SET to be
    /// delivered"), which must be the SET's own `jti`.
    Poll { jti: &'a str },
}

/// Verify a pushed SET and act on it.
pub async fn receive(
    state: &AppState,
    id: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Outcome, SsfError> {
    let ct = content_type.unwrap_or_default();
    let media = ct.split(';').next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/secevent+jwt") {
        return Err(SsfError::ContentType { got: ct.chars().take(100).collect() });
    }
    let token = std::str::from_utf8(body).map_err(|_| SsfError::Body)?.trim();
    if token.is_empty() || body.len() > MAX_BODY {
        return Err(SsfError::Body);
    }
    process(state, id, token, Delivery::Push).await
}

/// Verify a SET (pushed or polled: the same checks) and act on it.
pub async fn process(
    state: &AppState,
    id: &str,
    token: &str,
    delivery: Delivery<'_>,
) -> Result<Outcome, SsfError> {
    let conn =
        super::load(&state.db, id).await?.ok_or_else(|| SsfError::UnknownConnection { id: id.into() })?;
    let s = &conn.settings;
    let (Some(issuer), Some(jwks)) = (s.ssf_issuer.clone(), s.ssf_jwks_uri.clone()) else {
        return Err(SsfError::NotConfigured { id: id.into() });
    };
    if token.is_empty() || token.len() > MAX_BODY {
        return Err(SsfError::Body);
    }
    let default_aud = match delivery {
        Delivery::Push => push_url(&state.public_url, id),
        Delivery::Poll { .. } => {
            s.ssf_poll_url.clone().ok_or_else(|| SsfError::NotConfigured { id: id.into() })?
        }
    };
    let audiences = [s.ssf_audience.clone().unwrap_or(default_aud)];
    let expect = Expect {
        issuer: &issuer,
        audiences: &audiences,
        typ: Typ::Set,
        require_exp: false,
        max_age: Some(MAX_AGE),
    };
    let http = state
        .oidc
        .http()
        .map_err(|e| SsfError::Token(JwtError::Keys { url: jwks.clone(), message: e.to_string() }))?;
    let verified = state.signals.jwks.verify(http, &jwks, token, &expect).await?;
    let jti = match verified.claims.get("jti") {
        Some(Value::String(j)) if !j.is_empty() && j.len() <= MAX_JTI_LEN => j.clone(),
        _ => return Err(claim_err("jti", "required: a string of 1-255 characters (RFC 8417 2.2)")),
    };
    if let Delivery::Poll { jti: listed } = delivery {
        if listed != jti {
            return Err(claim_err("jti", "differs from the member name the poll answer lists it under"));
        }
    }
    let (event, ending, subject) = event_of(&verified.claims)?;
    state
        .db
        .write(move |tx| {
            let now = clock::now();
            let now_s = clock::format(now);
            let row = LoginState {
                kind: JTI_KIND.into(),
                key: format!("{}:{jti}", conn.row.id),
                connection_id: conn.row.id.to_string(),
                data: json!({"event": event}).to_string(),
                created_at: now_s.clone(),
                expires_at: clock::format(now + Duration::seconds(MAX_AGE + 2 * SKEW_SECS)),
            };
            match login_states::insert(tx, &row, &now_s) {
                Err(StoreError::Conflict { .. }) => return Ok(Outcome::Duplicate { jti }),
                other => other?,
            }
            let detail = json!({"event_type": event, "jti": jti});
            let (ended, format) = match (ending, &subject) {
                (Some(ending), Some(subject)) => {
                    let users = super::users_for(tx, &conn, subject)?;
                    (super::end_for(tx, &conn, &users, subject, ending, &detail, &now_s)?, Some(subject.format()))
                }
                _ => (super::Ended::default(), None),
            };
            if ended.users == 0 {
                // Verification, or nobody of this org: recorded all the same.
                crate::store::audit::append(
                    tx,
                    &now_s,
                    audit::Event {
                        org_id: Some(&conn.row.org_id),
                        actor: &format!("sso:{}", conn.row.id),
                        action: AuditAction::SsfEvent,
                        target: &format!("connection:{}", conn.row.id),
                        detail: json!({"connection": conn.row.id, "event_type": event, "jti": jti,
                            "subject_format": format, "users": 0, "sessions_ended": 0, "api_keys_revoked": 0}),
                    },
                )?;
            }
            Ok(Outcome::Processed { event, ended })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn events_and_subjects() {
        let (uri, ending, subject) = event_of(&claims(json!({"sub_id": {"format": "email", "email": "a@b"},
            "events": {CAEP_SESSION_REVOKED: {"event_timestamp": 1}}})))
        .unwrap();
        assert_eq!((uri.as_str(), ending.unwrap().revoke_api_keys), (CAEP_SESSION_REVOKED, false));
        assert_eq!(subject, Some(Subject::Email("a@b".into())));
        let legacy = format!("{RISC}account-disabled");
        let (_, ending, subject) = event_of(&claims(json!({"events": {legacy.clone():
            {"subject": {"format": "opaque", "id": "ext-1"}}}})))
        .unwrap();
        assert!(ending.unwrap().revoke_api_keys);
        assert_eq!(subject, Some(Subject::Opaque("ext-1".into())));
        let (_, ending, subject) =
            event_of(&claims(json!({"events": {SSF_VERIFICATION: {"state": "x"}}}))).unwrap();
        assert!(ending.is_none() && subject.is_none());
        for bad in [
            json!({"events": {}}),
            json!({"events": {"https://schemas.openid.net/secevent/caep/event-type/token-claims-change": {}},
                "sub_id": {"format": "email", "email": "a@b"}}),
            json!({"events": {CAEP_SESSION_REVOKED: {}}}),
            json!({"events": {CAEP_SESSION_REVOKED: {}, legacy.clone(): {}}}),
            json!({"sub_id": {"format": "phone_number", "phone_number": "+1"}, "events": {CAEP_SESSION_REVOKED: {}}}),
        ] {
            assert!(event_of(&claims(bad.clone())).is_err(), "{bad}");
        }
    }
}
