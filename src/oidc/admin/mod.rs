//! OIDC connections in the admin API: create — with issuer, client id and
//! secret (discovery is run first, so a wrong issuer or an unusable provider
//! is refused at once), or with none of them as a *pending* connection whose
//! redirect URI the provider's app registration needs first — update
//! (partial, accumulating: the connection becomes active, after discovery,
//! once all three are there; the secret is kept unless a new one is given),
//! and the public view, which never contains the client secret. The bodies
//! are typed (`body`); `validate_create` and `validate_update` check one
//! (discovery included) without storing anything.

pub mod body;

use serde_json::{Value, json};

use self::body::{
    ClientSecret, CreateSettings, NameField, OidcName, PatchSettings, SecretField, part, settings,
};
use super::Service;
use super::config::{OidcConfig, OidcDraft, login_url, redirect_uri};
use super::discovery::{self, Provider};
use crate::clock;
use crate::connections::body::{KindField, PollTokenField};
use crate::connections::{self, Status};
use crate::directory::orgs::new_id;
use crate::directory::{ConnectionKind, Org};
use crate::error::Error;
use crate::store::connections::ConnectionRow;

/// Why an admin request about an OIDC connection failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A refused value, a missing connection or a store failure.
    #[error(transparent)]
    Domain(#[from] Error),
    /// The provider's discovery failed: the operator's to fix (answered 422).
    #[error("OpenID Provider discovery failed: {message}")]
    Discovery { message: String },
    /// A step that does not fail on valid data failed (the HTTP client,
    /// serialising the stored settings); logged where it happened.
    #[error("internal error: {what}")]
    Internal { what: &'static str },
}

/// Validate the settings of a new or changed connection.
fn checked(s: &Service, draft: OidcDraft) -> Result<OidcDraft, Error> {
    let draft = draft.validate()?;
    // The provider sends the browser there after logout: only to idbridge's
    // own origin or an allowed origin, as after login (no open redirect).
    if let Some(u) = &draft.post_logout_redirect_uri {
        let safe =
            crate::session::redirect::safe_target(&s.public_url, &draft.login.allowed_origins, Some(u), "");
        if safe.is_empty() || !u.starts_with("http") || u.contains('#') || safe != url_normal(u) {
            return Err(Error::invalid(
                "post_logout_redirect_uri",
                "must be an absolute http(s) URL without fragment on idbridge's origin or an allowed origin",
            ));
        }
    }
    Ok(draft)
}

fn url_normal(u: &str) -> String {
    url::Url::parse(u).map(|u| u.to_string()).unwrap_or_default()
}

/// Log what `warnings()` says, where the connection is made.
fn log_warnings(id: &str, draft: &OidcDraft) {
    for w in draft.warnings() {
        tracing::warn!(connection = %id, warning = %w, "OIDC connection setting Microsoft advises against");
    }
}

/// Run discovery for the settings; a failure is the operator's to fix.
async fn discover(s: &Service, cfg: &OidcConfig) -> Result<Provider, AdminError> {
    let http = s.oidc.http().map_err(|e| {
        tracing::error!(error = %e, "OIDC HTTP client");
        AdminError::Internal { what: "the HTTP client" }
    })?;
    // The Graph endpoint is called at login: within the outbound policy, or refused now.
    if let Some(g) = &cfg.graph_groups_url {
        crate::outbound::check_url(g, http.policy())
            .map_err(|e| AdminError::from(Error::invalid("graph_groups_url", format!("refused: {e}"))))?;
    }
    discovery::discover(http, cfg).await.map_err(|e| AdminError::Discovery { message: e.to_string() })
}

/// A new OIDC connection as validated (discovery included); nothing is stored.
#[derive(Debug)]
pub struct OidcSetup {
    pub name: String,
    pub draft: OidcDraft,
    pub secret: Option<ClientSecret>,
    /// The discovered provider, when issuer, client id and secret are given.
    pub provider: Option<(Provider, OidcConfig)>,
}

/// A PATCH as validated (discovery included when needed); nothing is stored.
#[derive(Debug)]
pub struct OidcChange {
    pub name: Option<String>,
    pub draft: OidcDraft,
    pub secret: Option<ClientSecret>,
    pub provider: Option<(Provider, OidcConfig)>,
    /// Whether the connection was active before.
    pub was_active: bool,
}

/// Check a create body (running discovery when the provider is given).
/// `id` is the new connection's.
pub async fn validate_create(s: &Service, id: &str, body: Value) -> Result<OidcSetup, AdminError> {
    let body = body::create_body(body)?;
    let name = part::<NameField>(&body)?.name.ok_or_else(|| Error::invalid("name", "required"))?;
    let secret = part::<SecretField>(&body)?.client_secret;
    let mut draft = checked(s, settings::<CreateSettings>(&body)?.into_draft())?;
    draft.login.apply_poll_token(&s.secrets, id, &part::<PollTokenField>(&body)?.ssf_poll_token);
    draft.login.validate_signals(s.outbound)?;
    // All three of issuer, client id and secret, or none (pending): a create
    // that forgot one is more likely a mistake than a plan.
    let given = [draft.issuer.is_some(), draft.client_id.is_some(), secret.is_some()];
    let provider = if given.iter().any(|g| *g) {
        for (field, present) in ["issuer", "client_id", "client_secret"].into_iter().zip(given) {
            if !present {
                return Err(Error::invalid(
                    field,
                    "required (or leave out issuer, client_id and client_secret to create a pending connection)",
                )
                .into());
            }
        }
        let cfg = draft.ready().ok_or(AdminError::Internal { what: "a complete draft" })?;
        Some((discover(s, &cfg).await?, cfg))
    } else {
        None
    };
    Ok(OidcSetup { name: name.into_string(), draft, secret, provider })
}

/// Check a PATCH body against the stored connection `row` (running discovery
/// when the connection becomes active or what it depends on changes).
pub async fn validate_update(
    s: &Service,
    row: &ConnectionRow,
    body: Value,
) -> Result<OidcChange, AdminError> {
    let body = body::patch_body(body)?;
    part::<KindField>(&body)?.unchanged(ConnectionKind::Oidc)?;
    let current: OidcDraft = serde_json::from_str(&row.config)
        .map_err(|e| Error::invalid("config", format!("stored config unreadable: {e}")))?;
    let was_active = current.ready().is_some() && row.secret.is_some();
    body::refuse_removal(&body)?;
    let mut draft = checked(s, settings::<PatchSettings>(&body)?.apply(&current))?;
    draft.login.apply_poll_token(&s.secrets, &row.id, &part::<PollTokenField>(&body)?.ssf_poll_token);
    draft.login.validate_signals(s.outbound)?;
    let secret = part::<SecretField>(&body)?.client_secret;
    let has_secret = secret.is_some() || row.secret.is_some();
    // Discovery when the connection becomes active, and when what it
    // depends on changes; a failure changes nothing (422).
    let provider = match draft.ready().filter(|_| has_secret) {
        Some(cfg)
            if !was_active || draft.issuer != current.issuer || draft.tenant_ids != current.tenant_ids =>
        {
            Some((discover(s, &cfg).await?, cfg))
        }
        _ => None,
    };
    let name = part::<NameField>(&body)?.name.map(OidcName::into_string);
    Ok(OidcChange { name, draft, secret, provider, was_active })
}

pub async fn create(s: &Service, actor: &str, org: &Org, body: Value) -> Result<Value, AdminError> {
    let id = new_id();
    let OidcSetup { name, draft, secret, provider } = validate_create(s, &id, body).await?;
    let now = clock::now_str();
    let row = ConnectionRow {
        id: id.clone().into(),
        org_id: org.id.clone(),
        kind: ConnectionKind::Oidc,
        name,
        config: serde_json::to_string(&draft).map_err(|e| Error::invalid("body", e.to_string()))?,
        secret: secret.map(|sec| s.secrets.seal(&connections::secret_context(&id), sec.expose().as_bytes())),
        created_at: now.clone(),
        updated_at: now,
        groups_overage_seen_at: None,
    };
    let row = connections::insert(&s.db, actor, org, row).await?;
    if let Some((provider, cfg)) = provider {
        s.oidc.discovery.put(&row.id, &cfg, provider).await;
    }
    log_warnings(&row.id, &draft);
    Ok(describe(s, &row))
}

pub async fn update(
    s: &Service,
    actor: &str,
    _org: &Org,
    mut row: ConnectionRow,
    body: Value,
) -> Result<Value, AdminError> {
    let change = validate_update(s, &row, body).await?;
    if let Some(n) = change.name {
        row.name = n;
    }
    if let Some(secret) = &change.secret {
        row.secret = Some(s.secrets.seal(&connections::secret_context(&row.id), secret.expose().as_bytes()));
    }
    row.config = serde_json::to_string(&change.draft).map_err(|e| Error::invalid("body", e.to_string()))?;
    let row = connections::update(&s.db, actor, row, false).await?;
    s.oidc.discovery.forget(&row.id);
    if let Some((p, cfg)) = change.provider {
        s.oidc.discovery.put(&row.id, &cfg, p).await;
        if !change.was_active {
            tracing::info!(connection = %row.id, "OIDC connection activated: provider discovered");
        }
    }
    log_warnings(&row.id, &change.draft);
    Ok(describe(s, &row))
}

/// The connection as the admin API shows it (never a secret): `status`
/// (`pending` until issuer, client id and secret are all set), the settings,
/// and `warnings` about settings Microsoft advises against.
pub fn describe(s: &Service, row: &ConnectionRow) -> Value {
    let mut v = json!({
        "id": row.id,
        "kind": row.kind,
        "name": row.name,
        "redirect_uri": redirect_uri(&s.public_url, &row.id),
        "login_url": login_url(&s.public_url, &row.id),
        // To register at the provider (OIDC Back-Channel Logout 1.0 §2.2).
        "backchannel_logout_uri": super::backchannel::backchannel_logout_uri(&s.public_url, &row.id),
        "client_secret_set": row.secret.is_some(),
        "ssf_poll_token_set": false,
        // Shown as null until given (a pending connection).
        "issuer": null,
        "client_id": null,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    });
    match serde_json::from_str::<OidcDraft>(&row.config) {
        Ok(draft) => {
            let active = draft.ready().is_some() && row.secret.is_some();
            v["status"] = json!(if active { Status::Active } else { Status::Pending });
            v["warnings"] = json!(draft.warnings());
            v["ssf_poll_token_set"] = json!(draft.login.ssf_poll_token_sealed.is_some());
            if let Ok(Value::Object(cfg)) = serde_json::to_value(&draft) {
                // The sealed poll token is never shown, not even sealed.
                let hidden = ["match_by_set", "ssf_poll_token_sealed"];
                for (k, val) in cfg.into_iter().filter(|(k, _)| !hidden.contains(&k.as_str())) {
                    v[k] = val;
                }
            }
        }
        Err(e) => tracing::error!(connection = %row.id, error = %e, "stored OIDC config unreadable"),
    }
    v
}
