//! A SAML connection as the endpoints use it: its row, org and parsed
//! config, the SP URLs derived from the public URL, and the daily refresh of
//! IdP metadata that came from a URL (so an IdP's new signing certificate is
//! trusted before the old one is retired).

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::config::{IdpConfig, SamlConfig};
use super::error::SamlError;
use super::idp_metadata;
use crate::clock;
use crate::connections;
use crate::directory::Org;
use crate::http::AppState;
use crate::store::connections::ConnectionRow;

/// Metadata fetched from a URL is refreshed when older than this.
const REFRESH_AFTER: Duration = Duration::from_secs(24 * 3600);
/// After a failed refresh, wait this long before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A loaded SAML connection.
pub struct Loaded {
    pub row: ConnectionRow,
    pub org: Org,
    pub cfg: SamlConfig,
}

/// The SP's URLs for connection `id`.
pub struct SpUrls {
    pub entity_id: String,
    pub acs: String,
    pub metadata: String,
    pub login: String,
    /// Single Logout (HTTP-Redirect and HTTP-POST).
    pub slo: String,
}

pub fn urls(public_url: &str, id: &str, cfg: Option<&SamlConfig>) -> SpUrls {
    let metadata = format!("{public_url}/saml/{id}/metadata");
    SpUrls {
        entity_id: cfg.and_then(|c| c.sp_entity_id.clone()).unwrap_or_else(|| metadata.clone()),
        acs: format!("{public_url}/saml/{id}/acs"),
        login: format!("{public_url}/saml/{id}/login"),
        slo: format!("{public_url}/saml/{id}/slo"),
        metadata,
    }
}

impl Loaded {
    pub fn urls(&self, public_url: &str) -> SpUrls {
        urls(public_url, &self.row.id, Some(&self.cfg))
    }

    /// The IdP; a pending connection (no metadata yet) signs nobody in.
    pub fn idp(&self) -> Result<&IdpConfig, SamlError> {
        self.cfg.idp.as_ref().ok_or_else(|| SamlError::Pending { id: self.row.id.to_string() })
    }

    /// The trusted IdP signing certificates as DER.
    pub fn trusted_certs(&self) -> Result<Vec<Vec<u8>>, SamlError> {
        self.idp()?
            .signing_certs
            .iter()
            .map(|c| STANDARD.decode(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SamlError::Misconfigured { detail: format!("stored IdP certificate: {e}") })
    }
}

/// Parse a row's config.
pub fn config_of(row: &ConnectionRow) -> Result<SamlConfig, SamlError> {
    serde_json::from_str(&row.config).map_err(|e| SamlError::Misconfigured { detail: format!("config: {e}") })
}

/// Load SAML connection `id` (any other kind or id is unknown).
pub async fn load(state: &AppState, id: &str) -> Result<Loaded, SamlError> {
    let unknown = || SamlError::UnknownConnection { id: id.chars().take(64).collect() };
    if id.is_empty()
        || id.len() > 64
        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(unknown());
    }
    let (row, org) = match connections::get(&state.db, id).await {
        Ok(v) => v,
        Err(crate::error::Error::NotFound { .. }) => return Err(unknown()),
        Err(e) => return Err(e.into()),
    };
    if row.kind != crate::model::ConnectionKind::Saml {
        return Err(unknown());
    }
    let cfg = config_of(&row)?;
    let loaded = Loaded { row, org, cfg };
    maybe_refresh(state, &loaded);
    Ok(loaded)
}

/// Start a background refresh of URL-sourced metadata when it is stale (a
/// pending connection has none to refresh).
fn maybe_refresh(state: &AppState, c: &Loaded) {
    let Some(idp) = c.cfg.idp.as_ref() else { return };
    let Some(url) = idp.metadata_url.clone() else { return };
    let fetched = idp.metadata_fetched_at.as_deref().and_then(clock::parse);
    let stale = fetched.is_none_or(|t| (clock::now() - t).whole_seconds() > REFRESH_AFTER.as_secs() as i64);
    if !stale {
        return;
    }
    {
        let Ok(mut attempts) = state.saml.refresh_attempts.lock() else { return };
        if attempts.get(c.row.id.as_str()).is_some_and(|t| t.elapsed() < RETRY_AFTER) {
            return;
        }
        attempts.insert(c.row.id.to_string(), Instant::now());
    }
    let (state, id) = (state.clone(), c.row.id.clone());
    tokio::spawn(async move {
        match refresh(&state, &id, &url).await {
            Ok(n) => tracing::info!(connection = %id, certificates = n, "refreshed SAML IdP metadata"),
            Err(e) => {
                tracing::warn!(connection = %id, error = %e, "refreshing SAML IdP metadata failed; keeping the current one")
            }
        }
    });
}

/// Fetch and apply metadata from `url`; the entityID must not change.
pub async fn refresh(state: &AppState, id: &str, url: &str) -> Result<usize, crate::error::Error> {
    let xml = idp_metadata::fetch(url, state.outbound).await?;
    let mut idp = idp_metadata::parse(&xml)?;
    let (mut row, _) = connections::get(&state.db, id).await?;
    let mut cfg: SamlConfig = serde_json::from_str(&row.config)
        .map_err(|e| crate::error::Error::invalid("config", e.to_string()))?;
    let current = cfg.idp.as_ref().map(|i| i.entity_id.clone()).unwrap_or_default();
    if idp.entity_id != current {
        return Err(crate::error::Error::invalid(
            "idp_metadata_url",
            format!(
                "entityID changed from {current:?} to {:?}; update the connection explicitly",
                idp.entity_id
            ),
        ));
    }
    idp.metadata_url = Some(url.to_string());
    idp.metadata_fetched_at = Some(clock::now_str());
    let n = idp.signing_certs.len();
    cfg.idp = Some(idp);
    row.config =
        serde_json::to_string(&cfg).map_err(|e| crate::error::Error::invalid("config", e.to_string()))?;
    connections::update(&state.db, "saml:metadata-refresh", row, false).await?;
    Ok(n)
}
