//! SAML connections in the admin API: create — from IdP metadata (XML or
//! URL), or without it as a *pending* connection whose SP values the IdP's
//! set-up page needs first — update settings or metadata (which activates a
//! pending one), describe (never a private key). The SP keys are generated
//! here, per connection, at creation, and stored only sealed. The bodies are
//! typed (`body`); `validate_create` and `validate_update` check one without
//! storing anything.

pub mod body;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use self::body::{IdpSource, MetadataRefresh, NameField, OverageField, SamlName, SamlSettings, part};
use super::Service;
use super::config::{AttributeNames, DEFAULT_CLOCK_SKEW_SECS, IdpConfig, SamlConfig};
use super::connection::{config_of, urls};
use super::{idp_metadata, keys};
use crate::clock;
use crate::connections::body::{Body, KindField, PollTokenField};
use crate::connections::{self, Status};
use crate::directory::orgs::new_id;
use crate::directory::{ConnectionKind, Org};
use crate::error::Error;
use crate::store::connections::ConnectionRow;

/// Why an admin request about a SAML connection failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A refused value, a missing connection or a store failure.
    #[error(transparent)]
    Domain(#[from] Error),
    /// A step that does not fail on valid data failed (key generation,
    /// sealing, serialising, reading the stored config); logged where it happened.
    #[error("internal error: {what}")]
    Internal { what: &'static str },
}

/// A new SAML connection as validated: its name and config (the SP
/// certificates still empty: the keys are made once the body is valid).
#[derive(Clone, Debug)]
pub struct SamlSetup {
    pub name: String,
    pub config: SamlConfig,
}

/// A PATCH as validated: the connection's new name and config, and whether
/// the recorded groups overage is forgotten.
#[derive(Clone, Debug)]
pub struct SamlChange {
    pub name: Option<String>,
    pub config: SamlConfig,
    pub clear_overage: bool,
}

/// IdP settings from the metadata given inline or as a URL (exactly one), if either is.
async fn idp_from(s: &Service, src: IdpSource) -> Result<Option<IdpConfig>, Error> {
    match (src.idp_metadata_xml, src.idp_metadata_url) {
        (Some(_), Some(_)) => {
            Err(Error::invalid("idp_metadata_url", "give idp_metadata_xml or idp_metadata_url, not both"))
        }
        (Some(x), None) => Ok(Some(idp_metadata::parse(&x)?)),
        (None, Some(u)) => fetch_idp(s, u).await.map(Some),
        (None, None) => Ok(None),
    }
}

async fn fetch_idp(s: &Service, url: String) -> Result<IdpConfig, Error> {
    let text = idp_metadata::fetch(&url, s.outbound).await?;
    let mut idp = idp_metadata::parse(&text)?;
    idp.metadata_url = Some(url);
    idp.metadata_fetched_at = Some(clock::now_str());
    Ok(idp)
}

/// Apply the settings and the poll token of `body` to `cfg` and check the
/// signal settings (with those already stored).
fn apply_settings(s: &Service, id: &str, body: &Body, cfg: &mut SamlConfig) -> Result<(), Error> {
    part::<SamlSettings>(body)?.apply(cfg)?;
    let token = part::<PollTokenField>(body)?.ssf_poll_token;
    cfg.login.apply_poll_token(&s.secrets, id, &token);
    cfg.login.validate_signals(s.outbound)
}

/// Check a create body (fetching the IdP metadata from a URL) and make the
/// connection's config; nothing is stored. `id` is the new connection's.
pub async fn validate_create(s: &Service, id: &str, body: Value) -> Result<SamlSetup, Error> {
    let body = body::create_body(body)?;
    let name = part::<NameField>(&body)?.name.ok_or_else(|| Error::invalid("name", "required"))?;
    // Without metadata the connection is pending: SP keys and URLs exist at
    // once, sign-in waits for a PATCH with the metadata.
    let idp = idp_from(s, part::<IdpSource>(&body)?).await?;
    let mut config = SamlConfig {
        idp,
        sp_entity_id: None,
        sp_signing_cert: String::new(),
        sp_encryption_cert: String::new(),
        login: Default::default(),
        clock_skew_seconds: DEFAULT_CLOCK_SKEW_SECS,
        allow_idp_initiated: true,
        allow_sha1: false,
        attributes: AttributeNames::default(),
    };
    apply_settings(s, id, &body, &mut config)?;
    Ok(SamlSetup { name: name.into_string(), config })
}

/// Check a PATCH body against the stored connection `row` (fetching the IdP
/// metadata when asked) and make its new config; nothing is stored.
pub async fn validate_update(
    s: &Service,
    row: &ConnectionRow,
    body: Value,
) -> Result<SamlChange, AdminError> {
    let body = body::patch_body(body)?;
    let clear_overage = part::<OverageField>(&body)?.groups_overage_seen_at.is_some();
    part::<KindField>(&body)?.unchanged(ConnectionKind::Saml)?;
    let mut config = config_of(row).map_err(|e| {
        tracing::error!(connection = %row.id, error = %e, "stored SAML config unreadable");
        AdminError::Internal { what: "reading the stored config" }
    })?;
    let name = part::<NameField>(&body)?.name.map(SamlName::into_string);
    let source = part::<IdpSource>(&body)?;
    let refresh = part::<MetadataRefresh>(&body)?.refresh_metadata == Some(true);
    if let Some(idp) = idp_from(s, source).await? {
        config.idp = Some(idp);
    } else if refresh {
        let url = config.idp.as_ref().and_then(|i| i.metadata_url.clone()).ok_or_else(|| {
            Error::invalid("refresh_metadata", "this connection's metadata did not come from a URL")
        })?;
        config.idp = Some(fetch_idp(s, url).await?);
    }
    apply_settings(s, &row.id, &body, &mut config)?;
    Ok(SamlChange { name, config, clear_overage })
}

pub async fn create(s: &Service, actor: &str, org: &Org, body: Value) -> Result<Value, AdminError> {
    let id = new_id();
    let SamlSetup { name, config: mut cfg } = validate_create(s, &id, body).await?;
    let cn = format!("idbridge SAML SP {id}");
    let generated = tokio::task::spawn_blocking(move || keys::generate(&cn))
        .await
        .map_err(|_| AdminError::Internal { what: "SP key generation" })?
        .map_err(|e| {
            tracing::error!(error = %e, "SP key generation failed");
            AdminError::Internal { what: "SP key generation" }
        })?;
    cfg.sp_signing_cert = generated.signing_cert.clone();
    cfg.sp_encryption_cert = generated.encryption_cert.clone();
    let sealed = keys::seal(&s.secrets, &id, &generated.keys).map_err(|e| {
        tracing::error!(error = %e, "sealing SP keys failed");
        AdminError::Internal { what: "sealing SP keys" }
    })?;
    let now = clock::now_str();
    let row = ConnectionRow {
        id: id.into(),
        org_id: org.id.clone(),
        kind: ConnectionKind::Saml,
        name,
        config: serde_json::to_string(&cfg)
            .map_err(|_| AdminError::Internal { what: "serialising the config" })?,
        secret: Some(sealed),
        created_at: now.clone(),
        updated_at: now,
        groups_overage_seen_at: None,
    };
    let row = connections::insert(&s.db, actor, org, row).await?;
    Ok(describe(s, &row))
}

pub async fn update(
    s: &Service,
    actor: &str,
    _org: &Org,
    mut row: ConnectionRow,
    body: Value,
) -> Result<Value, AdminError> {
    let was_pending = config_of(&row).map(|c| c.idp.is_none()).unwrap_or(false);
    let change = validate_update(s, &row, body).await?;
    if let Some(name) = change.name {
        row.name = name;
    }
    row.config = serde_json::to_string(&change.config)
        .map_err(|_| AdminError::Internal { what: "serialising the config" })?;
    let row = connections::update(&s.db, actor, row, change.clear_overage).await?;
    if was_pending && change.config.idp.is_some() {
        tracing::info!(connection = %row.id, "SAML connection activated: IdP metadata added");
    }
    Ok(describe(s, &row))
}

fn fingerprint(b64_der: &str) -> String {
    let der = STANDARD.decode(b64_der).unwrap_or_default();
    Sha256::digest(&der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// The connection as the admin API shows it (never a secret).
pub fn describe(s: &Service, row: &ConnectionRow) -> Value {
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
