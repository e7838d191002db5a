//! OIDC connections in the admin API: create — with issuer, client id and
//! secret (discovery is run first, so a wrong issuer or an unusable provider
//! is refused at once), or with none of them as a *pending* connection whose
//! redirect URI the provider's app registration needs first — update
//! (partial, accumulating: the connection becomes active, after discovery,
//! once all three are there; the secret is kept unless a new one is given),
//! and the public view, which never contains the client secret.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::config::{OidcConfig, OidcDraft, login_url, redirect_uri};
use super::discovery::{self, Provider};
use crate::clock;
use crate::connections::{self, Status};
use crate::directory::orgs::new_id;
use crate::directory::{ConnectionKind, Org};
use crate::error::Error;
use crate::http::ApiError;
use crate::http::AppState;
use crate::http::extract::Operator;
use crate::store::connections::ConnectionRow;

/// Fields of the connection settings (besides `kind`, `name`, `client_secret`).
const CONFIG_FIELDS: [&str; 17] = [
    "issuer",
    "client_id",
    "scopes",
    "groups_claim",
    "tenant_ids",
    "graph_groups_url",
    "post_logout_redirect_uri",
    "jit",
    "match_by",
    "allowed_origins",
    "default_return_to",
    "ssf_issuer",
    "ssf_jwks_uri",
    "ssf_audience",
    "ssf_poll_url",
    "logout_issuer",
    "logout_jwks_uri",
];
/// Longest connection name and client secret accepted.
const MAX_NAME_LEN: usize = 200;
const MAX_SECRET_LEN: usize = 4096;

fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(Error::invalid("body", "must be a JSON object").into()),
    }
}

/// Refuse fields this connection kind does not have (a typo must not pass silently).
fn known_fields(body: &Map<String, Value>) -> Result<(), ApiError> {
    match body.keys().find(|k| {
        !(["kind", "name", "client_secret", crate::signals::poll::POLL_TOKEN_FIELD].contains(&k.as_str())
            || CONFIG_FIELDS.contains(&k.as_str()))
    }) {
        Some(k) => Err(Error::invalid(k.clone(), "unknown field for an OIDC connection").into()),
        None => Ok(()),
    }
}

fn name_of(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match body.get("name") {
        None => Ok(None),
        Some(Value::String(n)) if !n.trim().is_empty() && n.len() <= MAX_NAME_LEN => {
            Ok(Some(n.trim().to_string()))
        }
        Some(_) => Err(Error::invalid("name", format!("must be 1-{MAX_NAME_LEN} characters")).into()),
    }
}

fn secret_of(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match body.get("client_secret") {
        None => Ok(None),
        Some(Value::String(s))
            if !s.is_empty() && s.len() <= MAX_SECRET_LEN && !s.chars().any(char::is_control) =>
        {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(Error::invalid("client_secret", "must be a non-empty string").into()),
    }
}

/// Parse and validate the settings part of a body (or of the stored
/// settings with a body merged in).
fn draft_of(s: &AppState, fields: Map<String, Value>) -> Result<OidcDraft, ApiError> {
    let draft: OidcDraft =
        serde_json::from_value(Value::Object(fields)).map_err(|e| Error::invalid("body", e.to_string()))?;
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
            )
            .into());
        }
    }
    Ok(draft)
}

fn url_normal(u: &str) -> String {
    url::Url::parse(u).map(|u| u.to_string()).unwrap_or_default()
}

/// Whether a body chose `match_by` (`null` goes back to the issuer's default).
fn match_by_chosen(body: &Map<String, Value>) -> Option<bool> {
    body.get("match_by").map(|v| !v.is_null())
}

/// Log what `warnings()` says, where the connection is made.
fn log_warnings(id: &str, draft: &OidcDraft) {
    for w in draft.warnings() {
        tracing::warn!(connection = %id, warning = %w, "OIDC connection setting Microsoft advises against");
    }
}

/// Run discovery for the settings; a failure is the operator's to fix.
async fn discover(s: &AppState, cfg: &OidcConfig) -> Result<Provider, ApiError> {
    let http = s.oidc.http().map_err(|e| {
        tracing::error!(error = %e, "OIDC HTTP client");
        ApiError::internal()
    })?;
    // The Graph endpoint is called at login: within the outbound policy, or refused now.
    if let Some(g) = &cfg.graph_groups_url {
        crate::outbound::check_url(g, http.policy())
            .map_err(|e| ApiError::from(Error::invalid("graph_groups_url", format!("refused: {e}"))))?;
    }
    discovery::discover(http, cfg).await.map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "discovery_failed",
            format!("OpenID Provider discovery failed: {e}"),
        )
    })
}

pub async fn create(s: &AppState, org: &Org, body: Value) -> Result<Value, ApiError> {
    let body = object(body)?;
    known_fields(&body)?;
    let name = name_of(&body)?.ok_or_else(|| Error::invalid("name", "required"))?;
    let secret = secret_of(&body)?;
    let chosen = match_by_chosen(&body).unwrap_or(false);
    let mut fields: Map<String, Value> = body
        .iter()
        .filter(|(k, _)| CONFIG_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    fields.insert("match_by_set".into(), Value::Bool(chosen));
    let mut draft = draft_of(s, fields)?;
    let id = new_id();
    draft.login.apply_poll_token(&s.secret_box, &id, &Value::Object(body.clone()))?;
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
        let cfg = draft.ready().ok_or_else(ApiError::internal)?;
        Some((discover(s, &cfg).await?, cfg))
    } else {
        None
    };

    let now = clock::now_str();
    let row = ConnectionRow {
        id: id.clone().into(),
        org_id: org.id.clone(),
        kind: ConnectionKind::Oidc,
        name,
        config: serde_json::to_string(&draft).map_err(|e| Error::invalid("body", e.to_string()))?,
        secret: secret.map(|sec| s.secret_box.seal(&connections::secret_context(&id), sec.as_bytes())),
        created_at: now.clone(),
        updated_at: now,
        groups_overage_seen_at: None,
    };
    let row = connections::insert(&s.db, Operator::ACTOR, org, row).await?;
    if let Some((provider, cfg)) = provider {
        s.oidc.discovery.put(&row.id, &cfg, provider).await;
    }
    log_warnings(&row.id, &draft);
    Ok(describe(s, &row))
}

pub async fn update(
    s: &AppState,
    _org: &Org,
    mut row: ConnectionRow,
    body: Value,
) -> Result<Value, ApiError> {
    let body = object(body)?;
    known_fields(&body)?;
    if body.get("kind").is_some_and(|k| k != "oidc") {
        return Err(Error::invalid("kind", "the kind of a connection cannot change").into());
    }
    let current: OidcDraft = serde_json::from_str(&row.config)
        .map_err(|e| Error::invalid("config", format!("stored config unreadable: {e}")))?;
    let was_active = current.ready().is_some() && row.secret.is_some();
    let mut fields = match serde_json::to_value(&current) {
        Ok(Value::Object(m)) => m,
        _ => return Err(ApiError::internal()),
    };
    for (k, v) in body.iter().filter(|(k, _)| CONFIG_FIELDS.contains(&k.as_str())) {
        if v.is_null() && ["issuer", "client_id"].contains(&k.as_str()) {
            return Err(Error::invalid(k.clone(), "cannot be removed (delete the connection instead)").into());
        }
        if v.is_null() {
            fields.remove(k);
        } else {
            fields.insert(k.clone(), v.clone());
        }
    }
    if let Some(chosen) = match_by_chosen(&body) {
        fields.insert("match_by_set".into(), Value::Bool(chosen));
    }
    let mut draft = draft_of(s, fields)?;
    draft.login.apply_poll_token(&s.secret_box, &row.id, &Value::Object(body.clone()))?;
    draft.login.validate_signals(s.outbound)?;
    let secret = secret_of(&body)?;
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
    if let Some(n) = name_of(&body)? {
        row.name = n;
    }
    if let Some(secret) = secret {
        row.secret = Some(s.secret_box.seal(&connections::secret_context(&row.id), secret.as_bytes()));
    }
    row.config = serde_json::to_string(&draft).map_err(|e| Error::invalid("body", e.to_string()))?;
    let row = connections::update(&s.db, Operator::ACTOR, row, false).await?;
    s.oidc.discovery.forget(&row.id);
    if let Some((p, cfg)) = provider {
        s.oidc.discovery.put(&row.id, &cfg, p).await;
        if !was_active {
            tracing::info!(connection = %row.id, "OIDC connection activated: provider discovered");
        }
    }
    log_warnings(&row.id, &draft);
    Ok(describe(s, &row))
}

/// The connection as the admin API shows it (never a secret): `status`
/// (`pending` until issuer, client id and secret are all set), the settings,
/// and `warnings` about settings Microsoft advises against.
pub fn describe(s: &AppState, row: &ConnectionRow) -> Value {
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
