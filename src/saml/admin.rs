//! SAML connections in the admin API: create — from IdP metadata (XML or
//! URL), or without it as a *pending* connection whose SP values the IdP's
//! set-up page needs first — update settings or metadata (which activates a
//! pending one), describe (never a private key). The SP keys are generated
//! here, per connection, at creation, and stored only sealed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::config::{AttributeNames, DEFAULT_CLOCK_SKEW_SECS, IdpConfig, SETTING_FIELDS, SamlConfig};
use super::connection::{config_of, urls};
use super::{idp_metadata, keys};
use crate::clock;
use crate::connections::{self, Status};
use crate::directory::orgs::new_id;
use crate::directory::{ConnectionKind, Org};
use crate::error::Error;
use crate::http::ApiError;
use crate::http::AppState;
use crate::http::extract::Operator;
use crate::store::connections::ConnectionRow;

const MAX_NAME_LEN: usize = 200;

fn check_fields(body: &Value, extra: &[&str]) -> Result<(), Error> {
    let Some(obj) = body.as_object() else { return Err(Error::invalid("body", "must be a JSON object")) };
    for k in obj.keys() {
        let known = ["kind", "name", "idp_metadata_xml", "idp_metadata_url"].contains(&k.as_str())
            || SETTING_FIELDS.contains(&k.as_str())
            || extra.contains(&k.as_str());
        if !known {
            return Err(Error::invalid(k.clone(), "unknown field"));
        }
    }
    Ok(())
}

fn name_of(body: &Value) -> Result<Option<String>, Error> {
    match body.get("name") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= MAX_NAME_LEN => {
            Ok(Some(s.trim().to_string()))
        }
        Some(_) => Err(Error::invalid(
            "name",
            format!("must be a non-empty string of at most {MAX_NAME_LEN} characters"),
        )),
    }
}

/// IdP settings from `idp_metadata_xml` or `idp_metadata_url` (exactly one), if either is given.
async fn idp_from_body(s: &AppState, body: &Value) -> Result<Option<IdpConfig>, Error> {
    let xml = body.get("idp_metadata_xml").and_then(Value::as_str);
    let url = body.get("idp_metadata_url").and_then(Value::as_str);
    match (xml, url) {
        (Some(_), Some(_)) => {
            Err(Error::invalid("idp_metadata_url", "give idp_metadata_xml or idp_metadata_url, not both"))
        }
        (Some(x), None) => Ok(Some(idp_metadata::parse(x)?)),
        (None, Some(u)) => {
            let text = idp_metadata::fetch(u, s.outbound).await?;
            let mut idp = idp_metadata::parse(&text)?;
            idp.metadata_url = Some(u.to_string());
            idp.metadata_fetched_at = Some(clock::now_str());
            Ok(Some(idp))
        }
        (None, None) => Ok(None),
    }
}

pub async fn create(s: &AppState, org: &Org, body: Value) -> Result<Value, ApiError> {
    check_fields(&body, &[])?;
    let name = name_of(&body)?.ok_or_else(|| Error::invalid("name", "required"))?;
    // Without metadata the connection is pending: SP keys and URLs exist at
    // once, sign-in waits for a PATCH with the metadata.
    let idp = idp_from_body(s, &body).await?;
    let id = new_id();
    let cn = format!("idbridge SAML SP {id}");
    let generated = tokio::task::spawn_blocking(move || keys::generate(&cn))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| {
            tracing::error!(error = %e, "SP key generation failed");
            ApiError::internal()
        })?;
    let mut cfg = SamlConfig {
        idp,
        sp_entity_id: None,
        sp_signing_cert: generated.signing_cert.clone(),
        sp_encryption_cert: generated.encryption_cert.clone(),
        login: Default::default(),
        clock_skew_seconds: DEFAULT_CLOCK_SKEW_SECS,
        allow_idp_initiated: true,
        allow_sha1: false,
        attributes: AttributeNames::default(),
    };
    cfg.apply_settings(&body)?;
    cfg.login.apply_poll_token(&s.secret_box, &id, &body)?;
    cfg.login.validate_signals(s.outbound)?;
    let sealed = keys::seal(&s.secret_box, &id, &generated.keys).map_err(|e| {
        tracing::error!(error = %e, "sealing SP keys failed");
        ApiError::internal()
    })?;
    let now = clock::now_str();
    let row = ConnectionRow {
        id: id.into(),
        org_id: org.id.clone(),
        kind: ConnectionKind::Saml,
        name,
        config: serde_json::to_string(&cfg).map_err(|_| ApiError::internal())?,
        secret: Some(sealed),
        created_at: now.clone(),
        updated_at: now,
        groups_overage_seen_at: None,
    };
    let row = connections::insert(&s.db, Operator::ACTOR, org, row).await?;
    Ok(describe(s, &row))
}

pub async fn update(
    s: &AppState,
    _org: &Org,
    mut row: ConnectionRow,
    body: Value,
) -> Result<Value, ApiError> {
    check_fields(&body, &["refresh_metadata", "groups_overage_seen_at"])?;
    // Only clearing is allowed: logins set it.
    let clear_overage = match body.get("groups_overage_seen_at") {
        None => false,
        Some(Value::Null) => true,
        Some(_) => {
            return Err(Error::invalid("groups_overage_seen_at", "can only be cleared (null)").into());
        }
    };
    if body.get("kind").is_some_and(|k| k != "saml") {
        return Err(Error::invalid("kind", "the kind of a connection cannot change").into());
    }
    let mut cfg = config_of(&row).map_err(|e| {
        tracing::error!(connection = %row.id, error = %e, "stored SAML config unreadable");
        ApiError::internal()
    })?;
    if let Some(name) = name_of(&body)? {
        row.name = name;
    }
    let was_pending = cfg.idp.is_none();
    if let Some(idp) = idp_from_body(s, &body).await? {
        cfg.idp = Some(idp);
    } else if body.get("refresh_metadata") == Some(&Value::Bool(true)) {
        let url = cfg.idp.as_ref().and_then(|i| i.metadata_url.clone()).ok_or_else(|| {
            Error::invalid("refresh_metadata", "this connection's metadata did not come from a URL")
        })?;
        let text = idp_metadata::fetch(&url, s.outbound).await?;
        let mut idp = idp_metadata::parse(&text)?;
        idp.metadata_url = Some(url);
        idp.metadata_fetched_at = Some(clock::now_str());
        cfg.idp = Some(idp);
    }
    cfg.apply_settings(&body)?;
    cfg.login.apply_poll_token(&s.secret_box, &row.id, &body)?;
    cfg.login.validate_signals(s.outbound)?;
    row.config = serde_json::to_string(&cfg).map_err(|_| ApiError::internal())?;
    let row = connections::update(&s.db, Operator::ACTOR, row, clear_overage).await?;
    if was_pending && cfg.idp.is_some() {
        tracing::info!(connection = %row.id, "SAML connection activated: IdP metadata added");
    }
    Ok(describe(s, &row))
}

fn fingerprint(b64_der: &str) -> String {
    let der = STANDARD.decode(b64_der).unwrap_or_default();
    Sha256::digest(&der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// The connection as the admin API shows it (never a secret).
pub fn describe(s: &AppState, row: &ConnectionRow) -> Value {
    let cfg = match config_of(row) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(connection = %row.id, error = %e, "stored SAML config unreadable");
            let u = urls(&s.public_url, &row.id, None);
            return json!({"id": row.id, "kind": row.kind, "name": row.name, "sp_entity_id": u.entity_id,
                "acs_url": u.acs, "metadata_url": u.metadata, "login_url": u.login, "created_at": row.created_at});
        }
    };
    let u = urls(&s.public_url, &row.id, Some(&cfg));
    let status = if cfg.idp.is_some() { Status::Active } else { Status::Pending };
    let idp = cfg.idp.as_ref().map(|idp| {
        json!({
            "entity_id": idp.entity_id,
            "sso_url": idp.sso_url,
            "slo": idp.slo,
            "signing_certificate_sha256": idp.signing_certs.iter().map(|c| fingerprint(c)).collect::<Vec<_>>(),
            "metadata_url": idp.metadata_url,
            "metadata_fetched_at": idp.metadata_fetched_at,
        })
    });
    json!({
        "id": row.id,
        "kind": row.kind,
        "name": row.name,
        "status": status,
        "sp_entity_id": u.entity_id,
        "acs_url": u.acs,
        "metadata_url": u.metadata,
        "login_url": u.login,
        "slo_url": u.slo,
        "sp_signing_certificate": keys::pem_of(&cfg.sp_signing_cert),
        "sp_encryption_certificate": keys::pem_of(&cfg.sp_encryption_cert),
        "idp": idp,
        "jit": cfg.login.jit,
        "match_by": cfg.login.match_by,
        "allowed_origins": cfg.login.allowed_origins,
        "default_return_to": cfg.login.default_return_to,
        "clock_skew_seconds": cfg.clock_skew_seconds,
        "allow_idp_initiated": cfg.allow_idp_initiated,
        "allow_sha1": cfg.allow_sha1,
        "attributes": cfg.attributes,
        "ssf_issuer": cfg.login.ssf_issuer,
        "ssf_jwks_uri": cfg.login.ssf_jwks_uri,
        "ssf_audience": cfg.login.ssf_audience,
        "ssf_poll_url": cfg.login.ssf_poll_url,
        // Write-only: whether a poll token is stored, never the token.
        "ssf_poll_token_set": cfg.login.ssf_poll_token_sealed.is_some(),
        "logout_issuer": cfg.login.logout_issuer,
        "logout_jwks_uri": cfg.login.logout_jwks_uri,
        "groups_overage_seen_at": row.groups_overage_seen_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}
