//! SSO connections shared by SAML and OIDC: the settings every login
//! connection has (just-in-time provisioning, how a login is matched to a
//! user, which return addresses are allowed), whether it is set up yet
//! (`Status`), and storage with audit. Deleting a connection ends its
//! sessions and drops the claim facts it asserted.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access::reconcile::reconcile_user;
use crate::audit::{self, AuditAction};
use crate::clock;
use crate::directory::Org;
use crate::error::Error;
use crate::session::login::MatchBy;
use crate::store::connections::ConnectionRow;
use crate::store::{self, Db};

/// Whether a connection can sign people in. A connection may be created
/// before the IdP's side is known (Okta's and Entra's set-up pages want
/// idbridge's URLs first): it is `Pending` — SP values shown, SP metadata
/// served, every sign-in refused with `connection_pending` — until the IdP's
/// metadata (SAML) or issuer, client id and secret (OIDC) are added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Pending,
}

/// Settings common to every login connection (part of its JSON config).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoginSettings {
    /// Create users just in time on their first login (default true).
    #[serde(default = "yes")]
    pub jit: bool,
    /// How a login finds an existing (e.g. SCIM-provisioned) user.
    #[serde(default)]
    pub match_by: MatchBy,
    /// Origins (scheme://host[:port]) a login may return to besides idbridge's own.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Where to go after login when no (allowed) return address was asked for.
    #[serde(default)]
    pub default_return_to: Option<String>,
    /// Shared Signals: the transmitter's issuer (a SET's `iss` must equal it).
    /// Unset (secure default): every SET pushed to this connection is refused.
    #[serde(default)]
    pub ssf_issuer: Option<String>,
    /// Shared Signals: the transmitter's JWKS (fetched through the outbound guard).
    #[serde(default)]
    pub ssf_jwks_uri: Option<String>,
    /// Shared Signals: the `aud` a SET must carry, when not the push URL.
    #[serde(default)]
    pub ssf_audience: Option<String>,
    /// Shared Signals poll mode (RFC 8936): the transmitter's poll endpoint.
    /// Unset (secure default): no outbound polling, push only.
    #[serde(default)]
    pub ssf_poll_url: Option<String>,
    /// The bearer token presented at `ssf_poll_url`, sealed with the app's
    /// SecretBox (context `signals::poll::poll_token_context`), base64. Write-only: the admin
    /// API takes `ssf_poll_token` and shows only `ssf_poll_token_set`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssf_poll_token_sealed: Option<String>,
    /// Universal Logout: the bearer JWT's issuer (OIDC default: the provider's issuer).
    #[serde(default)]
    pub logout_issuer: Option<String>,
    /// Universal Logout: the JWKS of that issuer (OIDC default: the provider's `jwks_uri`).
    #[serde(default)]
    pub logout_jwks_uri: Option<String>,
}

/// The signal settings (Universal Logout, Shared Signals) of a connection body.
pub const SIGNAL_FIELDS: [&str; 6] =
    ["ssf_issuer", "ssf_jwks_uri", "ssf_audience", "ssf_poll_url", "logout_issuer", "logout_jwks_uri"];

/// Longest issuer, audience or JWKS URL accepted.
const MAX_SIGNAL_LEN: usize = 1024;

fn yes() -> bool {
    true
}

impl Default for LoginSettings {
    fn default() -> Self {
        LoginSettings {
            jit: true,
            match_by: MatchBy::default(),
            allowed_origins: Vec::new(),
            default_return_to: None,
            ssf_issuer: None,
            ssf_jwks_uri: None,
            ssf_audience: None,
            ssf_poll_url: None,
            ssf_poll_token_sealed: None,
            logout_issuer: None,
            logout_jwks_uri: None,
        }
    }
}

impl LoginSettings {
    /// Each allowed origin must be an absolute http(s) origin without path.
    pub fn validate(&self) -> Result<(), Error> {
        for (i, o) in self.allowed_origins.iter().enumerate() {
            let ok = url::Url::parse(o)
                .map(|u| {
                    matches!(u.scheme(), "http" | "https")
                        && u.host_str().is_some()
                        && u.path() == "/"
                        && u.query().is_none()
                        && u.username().is_empty()
                })
                .unwrap_or(false);
            if !ok {
                return Err(Error::invalid(
                    format!("allowed_origins[{i}]"),
                    format!("{o:?} is not an origin like https://app.example.com"),
                ));
            }
        }
        Ok(())
    }

    /// Set the signal settings present in an admin body (`null` clears one).
    pub fn apply_signal_settings(&mut self, body: &serde_json::Value) -> Result<(), Error> {
        for name in SIGNAL_FIELDS {
            let value = match body.get(name) {
                None => continue,
                Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(v)) => Some(v.clone()),
                Some(_) => return Err(Error::invalid(name, "must be a string or null")),
            };
            match name {
                "ssf_issuer" => self.ssf_issuer = value,
                "ssf_jwks_uri" => self.ssf_jwks_uri = value,
                "ssf_audience" => self.ssf_audience = value,
                "ssf_poll_url" => self.ssf_poll_url = value,
                "logout_issuer" => self.logout_issuer = value,
                _ => self.logout_jwks_uri = value,
            }
        }
        Ok(())
    }

    /// Check the signal settings at save time: issuers and audience are
    /// printable without spaces; JWKS URLs are https (or loopback http) and
    /// within the operator's outbound policy (else 422 naming the reason, not
    /// a failure at the first signal). `ssf_issuer` and `ssf_jwks_uri` go
    /// together: a SET is verified by both or not accepted.
    pub fn validate_signals(&self, policy: crate::outbound::Policy) -> Result<(), Error> {
        let texts = [
            ("ssf_issuer", &self.ssf_issuer),
            ("ssf_audience", &self.ssf_audience),
            ("logout_issuer", &self.logout_issuer),
        ];
        for (name, v) in texts {
            if let Some(v) = v {
                if v.is_empty() || v.len() > MAX_SIGNAL_LEN || v.chars().any(|c| c.is_control() || c == ' ') {
                    return Err(Error::invalid(
                        name,
                        format!("must be 1-{MAX_SIGNAL_LEN} printable characters without spaces"),
                    ));
                }
            }
        }
        let urls = [
            ("ssf_jwks_uri", &self.ssf_jwks_uri),
            ("ssf_poll_url", &self.ssf_poll_url),
            ("logout_jwks_uri", &self.logout_jwks_uri),
        ];
        for (name, v) in urls {
            if let Some(v) = v {
                if v.len() > MAX_SIGNAL_LEN {
                    return Err(Error::invalid(name, format!("at most {MAX_SIGNAL_LEN} characters")));
                }
                crate::oidc::fetch::endpoint_allowed(v).map_err(|m| Error::invalid(name, m))?;
                crate::outbound::check_url(v, policy)
                    .map_err(|e| Error::invalid(name, format!("refused: {e}")))?;
            }
        }
        if self.ssf_issuer.is_some() != self.ssf_jwks_uri.is_some() {
            return Err(Error::invalid(
                if self.ssf_issuer.is_some() { "ssf_jwks_uri" } else { "ssf_issuer" },
                "ssf_issuer and ssf_jwks_uri are set together (a SET is verified with both)",
            ));
        }
        // Poll mode verifies polled SETs exactly as pushed ones: it needs the
        // issuer and JWKS, and a token to authenticate to the transmitter.
        if self.ssf_poll_url.is_some() {
            if self.ssf_issuer.is_none() {
                return Err(Error::invalid("ssf_poll_url", "needs ssf_issuer and ssf_jwks_uri"));
            }
            if self.ssf_poll_token_sealed.is_none() {
                return Err(Error::invalid(
                    crate::signals::poll::POLL_TOKEN_FIELD,
                    "required with ssf_poll_url (RFC 8936 bearer)",
                ));
            }
        }
        Ok(())
    }

    /// The post-login address when nothing (allowed) was asked for.
    pub fn default_target(&self, public_url: &str) -> String {
        self.default_return_to.clone().unwrap_or_else(|| format!("{public_url}/v1/me"))
    }
}

/// Store a new connection and audit it.
pub async fn insert(db: &Db, actor: &str, org: &Org, row: ConnectionRow) -> Result<ConnectionRow, Error> {
    let (actor, org_id) = (actor.to_string(), org.id.clone());
    db.write(move |tx| {
        store::connections::insert(tx, &row)?;
        store::audit::append(
            tx,
            &row.created_at,
            audit::Event {
                org_id: Some(&org_id),
                actor: &actor,
                action: AuditAction::ConnectionCreate,
                target: &format!("connection:{}", row.id),
                detail: json!({"kind": row.kind, "name": row.name}),
            },
        )?;
        Ok(row)
    })
    .await
}

/// Replace a connection's name/config/secret (and forget a recorded groups
/// overage when `clear_overage`) and audit it.
pub async fn update(
    db: &Db,
    actor: &str,
    mut row: ConnectionRow,
    clear_overage: bool,
) -> Result<ConnectionRow, Error> {
    let actor = actor.to_string();
    db.write(move |tx| {
        row.updated_at = clock::now_str();
        if !store::connections::update(tx, &row)? {
            return Err(Error::not_found("connection", row.id));
        }
        if clear_overage {
            store::connections::clear_groups_overage(tx, &row.id)?;
            row.groups_overage_seen_at = None;
        } else {
            // A login may have recorded one since the row was read.
            row.groups_overage_seen_at =
                store::connections::by_id(tx, &row.id)?.and_then(|r| r.groups_overage_seen_at);
        }
        store::audit::append(
            tx,
            &row.updated_at,
            audit::Event {
                org_id: Some(&row.org_id),
                actor: &actor,
                action: AuditAction::ConnectionUpdate,
                target: &format!("connection:{}", row.id),
                detail: json!({"kind": row.kind, "name": row.name}),
            },
        )?;
        Ok(row)
    })
    .await
}

/// A login through connection `id` came without the user's groups (the IdP
/// only pointed to them: Entra's SAML groups overage). Flag the connection
/// (`groups_overage_seen_at`, the latest such login) and audit it; `detail`
/// names who signed in. Returns the recorded time.
pub async fn record_groups_overage(
    db: &Db,
    org_id: &str,
    id: &str,
    detail: serde_json::Value,
) -> Result<String, Error> {
    let (org_id, id) = (org_id.to_string(), id.to_string());
    db.write(move |tx| {
        let now = clock::now_str();
        if !store::connections::mark_groups_overage(tx, &id, &now)? {
            return Err(Error::not_found("connection", id));
        }
        store::audit::append(
            tx,
            &now,
            audit::Event {
                org_id: Some(&org_id),
                actor: &format!("sso:{id}"),
                action: AuditAction::ConnectionGroupsOverage,
                target: &format!("connection:{id}"),
                detail,
            },
        )?;
        Ok(now)
    })
    .await
}

/// A connection with its org, by id (the SSO endpoints know only the id).
pub async fn get(db: &Db, id: &str) -> Result<(ConnectionRow, Org), Error> {
    let id = id.to_string();
    db.read(move |c| {
        let row = store::connections::by_id(c, &id)?.ok_or_else(|| Error::not_found("connection", &id))?;
        let org =
            store::orgs::org_by_id(c, &row.org_id)?.ok_or_else(|| Error::not_found("org", &row.org_id))?;
        Ok((row, org))
    })
    .await
}

pub async fn list(db: &Db, org_id: &str) -> Result<Vec<ConnectionRow>, Error> {
    let org_id = org_id.to_string();
    db.read(move |c| Ok(store::connections::list(c, &org_id)?)).await
}

/// Delete a connection and take its power with it, in one transaction: every
/// session made through it ends at once, the group claims it asserted are
/// dropped, and the users who had some are re-evaluated (which also ends their
/// other sessions and revokes API keys when they are left without the role).
pub async fn delete(db: &Db, actor: &str, org: &Org, id: &str) -> Result<(), Error> {
    let (actor, org_id, id) = (actor.to_string(), org.id.clone(), id.to_string());
    db.write(move |tx| {
        let now = clock::now_str();
        if !store::connections::delete(tx, &org_id, &id)? {
            return Err(Error::not_found("connection", id));
        }
        let ended = store::sessions::revoke_connection(tx, &id, &now)?;
        let sessions = ended.len();
        let mut users_ended = ended;
        users_ended.sort();
        users_ended.dedup();
        crate::events::emit::sessions_revoked(tx, &org_id, &users_ended, "connection_deleted")?;
        let users = store::users::drop_connection_claims(tx, &id)?;
        for user_id in &users {
            reconcile_user(tx, &org_id, user_id, &actor)?;
        }
        store::audit::append(
            tx,
            &now,
            audit::Event {
                org_id: Some(&org_id),
                actor: &actor,
                action: AuditAction::ConnectionDelete,
                target: &format!("connection:{id}"),
                detail: json!({"sessions_revoked": sessions, "users_reevaluated": users.len()}),
            },
        )?;
        Ok(())
    })
    .await
}

/// The secret-box context of a connection's sealed secret.
pub fn secret_context(id: &str) -> String {
    format!("connection:{id}")
}
