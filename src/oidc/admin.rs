//! OIDC connections in the admin API: create (discovery is run first, so a
//! wrong issuer or an unusable provider is refused at once), update (partial;
//! the secret is kept unless a new one is given), and the public view, which
//! never contains the client secret.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::config::{OidcConfig, login_url, redirect_uri};
use super::discovery::{self, Provider};
use crate::clock;
use crate::connections;
use crate::directory::Org;
use crate::directory::orgs::new_id;
use crate::error::{ApiError, Error};
use crate::http::AppState;
use crate::http::extract::Operator;
use crate::store::connections::ConnectionRow;

/// Fields of the connection settings (besides `kind`, `name`, `client_secret`).
const CONFIG_FIELDS: [&str; 10] = [
    "issuer",
    "client_id",
    "scopes",
    "groups_claim",
    "tenant_ids",
    "graph_groups_url",
    "jit",
    "match_by",
    "allowed_origins",
    "default_return_to",
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
        !(["kind", "name", "client_secret"].contains(&k.as_str()) || CONFIG_FIELDS.contains(&k.as_str()))
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

/// Parse and validate the settings part of a body.
fn config_of(fields: Map<String, Value>) -> Result<OidcConfig, ApiError> {
    let cfg: OidcConfig =
        serde_json::from_value(Value::Object(fields)).map_err(|e| Error::invalid("body", e.to_string()))?;
    Ok(cfg.validate()?)
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
    let secret = secret_of(&body)?.ok_or_else(|| Error::invalid("client_secret", "required"))?;
    let fields: Map<String, Value> =
        body.into_iter().filter(|(k, _)| CONFIG_FIELDS.contains(&k.as_str())).collect();
    let cfg = config_of(fields)?;
    let provider = discover(s, &cfg).await?;

    let id = new_id();
    let now = clock::now_str();
    let row = ConnectionRow {
        id: id.clone(),
        org_id: org.id.clone(),
        kind: "oidc".into(),
        name,
        config: serde_json::to_string(&cfg).map_err(|e| Error::invalid("body", e.to_string()))?,
        secret: Some(s.secret_box.seal(&connections::secret_context(&id), secret.as_bytes())),
        created_at: now.clone(),
        updated_at: now,
    };
    let row = connections::insert(&s.db, Operator::ACTOR, org, row).await?;
    s.oidc.discovery.put(&row.id, &cfg, provider).await;
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
    let current: OidcConfig = serde_json::from_str(&row.config)
        .map_err(|e| Error::invalid("config", format!("stored config unreadable: {e}")))?;
    let mut fields = match serde_json::to_value(&current) {
        Ok(Value::Object(m)) => m,
        _ => return Err(ApiError::internal()),
    };
    for (k, v) in body.iter().filter(|(k, _)| CONFIG_FIELDS.contains(&k.as_str())) {
        if v.is_null() {
            fields.remove(k);
        } else {
            fields.insert(k.clone(), v.clone());
        }
    }
    let cfg = config_of(fields)?;
    let rediscover = cfg.issuer != current.issuer || cfg.tenant_ids != current.tenant_ids;
    let provider = if rediscover { Some(discover(s, &cfg).await?) } else { None };
    if let Some(n) = name_of(&body)? {
        row.name = n;
    }
    if let Some(secret) = secret_of(&body)? {
        row.secret = Some(s.secret_box.seal(&connections::secret_context(&row.id), secret.as_bytes()));
    }
    row.config = serde_json::to_string(&cfg).map_err(|e| Error::invalid("body", e.to_string()))?;
    let row = connections::update(&s.db, Operator::ACTOR, row).await?;
    s.oidc.discovery.forget(&row.id);
    if let Some(p) = provider {
        s.oidc.discovery.put(&row.id, &cfg, p).await;
    }
    Ok(describe(s, &row))
}

/// The connection as the admin API shows it (never a secret).
pub fn describe(s: &AppState, row: &ConnectionRow) -> Value {
    let mut v = json!({
        "id": row.id,
        "kind": row.kind,
        "name": row.name,
        "redirect_uri": redirect_uri(&s.public_url, &row.id),
        "login_url": login_url(&s.public_url, &row.id),
        "client_secret_set": row.secret.is_some(),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    });
    match serde_json::from_str::<OidcConfig>(&row.config).map(serde_json::to_value) {
        Ok(Ok(Value::Object(cfg))) => {
            for (k, val) in cfg {
                v[k] = val;
            }
        }
        _ => tracing::error!(connection = %row.id, "stored OIDC config unreadable"),
    }
    v
}
