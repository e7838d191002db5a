//! Sessions end when the IdP says so: Universal Logout (Okta's, after
//! draft-parecki-oauth-global-token-revocation) at
//! `POST /idp/{id}/global-token-revocation`, and Shared Signals (RFC 8935
//! push of RFC 8417 Security Event Tokens; OpenID SSF 1.0, CAEP 1.0, RISC
//! 1.0 events) at `POST /ssf/{id}/push`. Both verify a JWT signed by the
//! connection's IdP (`jwt`), name a person by a subject identifier
//! (`Subject`, RFC 9493 formats), and end that person's sessions — and revoke
//! their API keys where the signal says access is gone — in one transaction
//! with the single-use `jti` and an audit event per person (`end_for`).
//!
//! A connection belongs to one org: the person is looked for only among that
//! org's users, so a signal through one org's connection can never touch
//! another org.
//!
//! Files: `jwt` (the verifier and JWKS cache), `universal_logout`, `ssf`,
//! `poll` (RFC 8936 poll mode: idbridge polls the transmitter), `routes`
//! (the two handlers and their answers).

pub mod jwt;
pub mod poll;
pub mod routes;
pub mod ssf;
pub mod universal_logout;

use serde_json::{Value, json};

use crate::audit::{self, AuditAction};
use crate::connections::LoginSettings;
use crate::error::Error;
use crate::events::emit;
use crate::model::ConnectionKind;
use crate::oidc::config::{OidcConfig, OidcDraft};
use crate::store::connections::ConnectionRow;
use crate::store::{self, Db, StoreError};

/// Process-wide state of the signal endpoints (in `AppState`).
#[derive(Default)]
pub struct SignalsState {
    pub jwks: jwt::JwksCache,
    /// RFC 8936 poll mode: acknowledgements owed per connection.
    pub poll: poll::PollState,
}

/// Longest subject value accepted.
const MAX_SUBJECT_LEN: usize = 1024;

/// Who a signal is about (RFC 9493 Subject Identifiers, as Okta's Universal
/// Logout and the CAEP interoperability profile use them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// `{"format":"email","email":…}`: the user with that email (or userName) in the org.
    Email(String),
    /// `{"format":"iss_sub","iss":…,"sub":…}`: the IdP's subject (see `Connection::subject_issuers`).
    IssSub { iss: String, sub: String },
    /// `{"format":"opaque","id":…}`: the user whose SCIM externalId it is.
    Opaque(String),
}

fn text(v: &Value, name: &str) -> Result<String, String> {
    match v.get(name) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SUBJECT_LEN => Ok(s.clone()),
        _ => Err(format!("subject member {name:?} must be a non-empty string of at most {MAX_SUBJECT_LEN}")),
    }
}

impl Subject {
    /// Parse a subject identifier object; `complex` (SSF 1.0) is accepted by its `user` member.
    pub fn parse(v: &Value) -> Result<Subject, String> {
        let format = v.get("format").and_then(Value::as_str).ok_or("subject has no format")?;
        match format {
            "email" => Ok(Subject::Email(text(v, "email")?)),
            "iss_sub" => Ok(Subject::IssSub { iss: text(v, "iss")?, sub: text(v, "sub")? }),
            "opaque" => Ok(Subject::Opaque(text(v, "id")?)),
            "complex" => match v.get("user") {
                Some(user) if user.get("format").and_then(Value::as_str) != Some("complex") => {
                    Subject::parse(user)
                }
                _ => Err("a complex subject must name a user".into()),
            },
            other => {
                Err(format!("unsupported subject format {:?}", other.chars().take(40).collect::<String>()))
            }
        }
    }

    pub fn format(&self) -> &'static str {
        match self {
            Subject::Email(_) => "email",
            Subject::IssSub { .. } => "iss_sub",
            Subject::Opaque(_) => "opaque",
        }
    }
}

/// A connection as the signal endpoints need it.
pub struct Connection {
    pub row: ConnectionRow,
    pub settings: LoginSettings,
    /// The OIDC configuration, when the connection is OIDC with issuer and client id.
    pub oidc: Option<OidcConfig>,
    /// The SAML IdP's entityID, when known.
    pub saml_entity_id: Option<String>,
}

impl Connection {
    /// The issuers an `iss_sub` subject may name: the IdP's own (OIDC issuer,
    /// SAML entityID) and the configured logout and SSF issuers (Okta names
    /// users by its org URL whichever protocol signs them in).
    pub fn subject_issuers(&self) -> Vec<&str> {
        [
            self.oidc.as_ref().map(|c| c.issuer.as_str()),
            self.saml_entity_id.as_deref(),
            self.settings.logout_issuer.as_deref(),
            self.settings.ssf_issuer.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// The connection `id` (SAML or OIDC), or `None` when there is none.
pub async fn load(db: &Db, id: &str) -> Result<Option<Connection>, Error> {
    let row = match crate::connections::get(db, id).await {
        Ok((row, _)) => row,
        Err(Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let unreadable = |e: String| {
        tracing::error!(connection = %row.id, error = %e, "stored connection config unreadable");
        Error::invalid("config", "stored connection config unreadable")
    };
    let conn = match row.kind {
        ConnectionKind::Saml => {
            let cfg = crate::saml::connection::config_of(&row).map_err(|e| unreadable(e.to_string()))?;
            Connection { settings: cfg.login, oidc: None, saml_entity_id: cfg.idp.map(|i| i.entity_id), row }
        }
        ConnectionKind::Oidc => {
            let draft: OidcDraft =
                serde_json::from_str(&row.config).map_err(|e| unreadable(e.to_string()))?;
            Connection { settings: draft.login.clone(), oidc: draft.ready(), saml_entity_id: None, row }
        }
    };
    Ok(Some(conn))
}

/// What a signal ends.
#[derive(Clone, Copy, Debug)]
pub struct Ending {
    /// Also revoke every API key of the person (their access is gone, not only a session).
    pub revoke_api_keys: bool,
    /// Recorded on each ended session (`sessions.revoked_reason`).
    pub reason: &'static str,
    /// The audit action.
    pub action: AuditAction,
    /// The `reason` of the change events (`session.revoked`, `api_key.revoked`):
    /// `idp_logout` or `idp_signal`.
    pub event_reason: &'static str,
    /// The IdP says the account is gone (RISC account-disabled, account-purged):
    /// also emit `user.deprovisioned` (`idp_signal`).
    pub deprovisions: bool,
}

/// What was ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ended {
    pub users: usize,
    pub sessions: usize,
    pub api_keys: usize,
}

/// The users of the connection's org `subject` names (none of another org's).
pub fn users_for(
    tx: &crate::store::Tx<'_>,
    conn: &Connection,
    subject: &Subject,
) -> Result<Vec<String>, StoreError> {
    let org = conn.row.org_id.as_str();
    let mut users: Vec<String> = match subject {
        Subject::Email(e) => {
            store::users::by_email(tx, org, &e.to_lowercase())?.map(|u| u.id.into()).into_iter().collect()
        }
        Subject::Opaque(id) => {
            store::users::by_external_id(tx, org, id)?.map(|u| u.id.into()).into_iter().collect()
        }
        Subject::IssSub { iss, sub } => {
            if !conn.subject_issuers().contains(&iss.as_str()) {
                return Ok(Vec::new());
            }
            // The IdP's subject as sessions of this connection recorded it, and
            // the SCIM externalId (Okta provisions its user id as externalId).
            let mut u = store::sessions::users_by_idp_subject(tx, org, &conn.row.id, sub)?;
            u.extend(store::users::by_external_id(tx, org, sub)?.map(|u| String::from(u.id)));
            u
        }
    };
    users.sort();
    users.dedup();
    Ok(users)
}

/// Inside the caller's write transaction: end `users`' sessions (and API
/// keys), one audit event per person with `detail` merged in.
pub fn end_for(
    tx: &crate::store::Tx<'_>,
    conn: &Connection,
    users: &[String],
    subject: &Subject,
    ending: Ending,
    detail: &Value,
    now: &str,
) -> Result<Ended, StoreError> {
    let mut ended = Ended::default();
    for user in users {
        let sessions = store::sessions::revoke_user_for(tx, user, ending.reason, now)?;
        let org = conn.row.org_id.as_str();
        if ending.deprovisions {
            let email = store::users::by_id(tx, org, user)?.and_then(|u| u.email);
            emit::user_deprovisioned(tx, org, user, email.as_deref(), emit::Deprovision::IdpSignal)?;
        }
        if sessions > 0 {
            emit::session_revoked(tx, org, user, ending.event_reason)?;
        }
        let revoked = if ending.revoke_api_keys {
            store::api_keys::revoke_user_all(tx, user, now)?
        } else {
            Vec::new()
        };
        emit::api_keys_revoked(tx, org, &revoked, ending.event_reason)?;
        let keys = revoked.len();
        let mut d = json!({
            "connection": conn.row.id,
            "subject_format": subject.format(),
            "sessions_ended": sessions,
            "api_keys_revoked": keys,
        });
        if let (Some(d), Some(extra)) = (d.as_object_mut(), detail.as_object()) {
            d.extend(extra.clone());
        }
        store::audit::append(
            tx,
            now,
            audit::Event {
                org_id: Some(&conn.row.org_id),
                actor: &format!("sso:{}", conn.row.id),
                action: ending.action,
                target: &format!("user:{user}"),
                detail: d,
            },
        )?;
        ended.users += 1;
        ended.sessions += sessions;
        ended.api_keys += keys;
    }
    Ok(ended)
}
