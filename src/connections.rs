//! SSO connections shared by SAML and OIDC: the settings every login
//! connection has (just-in-time provisioning, how a login is matched to a
//! user, which return addresses are allowed), whether it is set up yet
//! (`Status`), and storage with audit. Deleting a connection ends its
//! sessions and drops the claim facts it asserted.

pub mod body;
mod signal_settings;

pub use signal_settings::{POLL_TOKEN_FIELD, poll_token_context};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access::reconcile::reconcile_user;
use crate::audit::{self, AuditAction};
use crate::clock;
use crate::directory::Org;
use crate::error::Error;
use crate::model::ConnectionKind;
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
    /// SecretBox (context `connections::poll_token_context`), base64. Write-only: the admin
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

    /// The post-login address when nothing (allowed) was asked for.
    pub fn default_target(&self, public_url: &str) -> String {
        self.default_return_to.clone().unwrap_or_else(|| format!("{public_url}/v1/me"))
    }
}

/// What the registry reads of a connection's stored config whatever its
/// kind: the shared settings and the IdP's own name (the OIDC issuer, the
/// SAML IdP's entityID). The signal endpoints need no more, so they do not
/// depend on the SAML or OIDC code.
#[derive(Clone, Debug, PartialEq)]
pub struct IdpView {
    pub settings: LoginSettings,
    /// The OIDC issuer, when the connection is OIDC with issuer and client id.
    pub oidc_issuer: Option<String>,
    /// The SAML IdP's entityID, when known (from its metadata).
    pub saml_entity_id: Option<String>,
}

/// The fields of a SAML config read here (the rest is the SAML code's).
#[derive(Deserialize)]
struct SamlFields {
    #[serde(default)]
    idp: Option<SamlIdpFields>,
    #[serde(default)]
    login: LoginSettings,
}

#[derive(Deserialize)]
struct SamlIdpFields {
    entity_id: String,
}

/// The fields of an OIDC config read here; its login settings are flattened
/// into it (the other members are the OIDC code's and are skipped).
#[derive(Deserialize)]
struct OidcFields {
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(flatten)]
    login: LoginSettings,
}

impl IdpView {
    /// Read `row`'s config.
    pub fn of(row: &ConnectionRow) -> Result<IdpView, serde_json::Error> {
        Ok(match row.kind {
            ConnectionKind::Saml => {
                let c: SamlFields = serde_json::from_str(&row.config)?;
                IdpView { settings: c.login, oidc_issuer: None, saml_entity_id: c.idp.map(|i| i.entity_id) }
            }
            ConnectionKind::Oidc => {
                let c: OidcFields = serde_json::from_str(&row.config)?;
                let oidc_issuer = c.issuer.filter(|_| c.client_id.is_some());
                IdpView { settings: c.login, oidc_issuer, saml_entity_id: None }
            }
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: ConnectionKind, config: serde_json::Value) -> ConnectionRow {
        ConnectionRow {
            id: "c1".into(),
            org_id: "o1".into(),
            kind,
            name: "n".into(),
            config: config.to_string(),
            secret: None,
            created_at: String::new(),
            updated_at: String::new(),
            groups_overage_seen_at: None,
        }
    }

    #[test]
    fn the_idp_view_reads_only_its_fields() {
        let oidc = json!({"issuer": "https://op", "client_id": "c", "scopes": ["openid"], "groups_claim": "groups",
            "match_by_set": true, "jit": false, "ssf_issuer": "https://t"});
        let v = IdpView::of(&row(ConnectionKind::Oidc, oidc)).unwrap();
        assert_eq!(v.oidc_issuer.as_deref(), Some("https://op"));
        assert!(!v.settings.jit);
        assert_eq!(v.settings.ssf_issuer.as_deref(), Some("https://t"));
        let pending = IdpView::of(&row(ConnectionKind::Oidc, json!({"issuer": "https://op"}))).unwrap();
        assert_eq!(pending.oidc_issuer, None, "no client id: not ready");
        let saml = json!({"idp": {"entity_id": "urn:idp", "sso_url": "x"}, "sp_signing_cert": "a",
            "sp_encryption_cert": "b", "login": {"jit": true}});
        let v = IdpView::of(&row(ConnectionKind::Saml, saml)).unwrap();
        assert_eq!(v.saml_entity_id.as_deref(), Some("urn:idp"));
    }
}
