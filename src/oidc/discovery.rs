//! OpenID Provider discovery (OIDC Discovery 1.0) and its cache: the
//! provider's metadata and signing keys per connection, fetched with the
//! capped client, checked (issuer, endpoints, algorithms), refreshed hourly on
//! use, and re-fetched at most once a minute when a token names a key the
//! cached JWKS does not have (the provider rotated its keys).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{CoreClientAuthMethod, CoreJsonWebKey, CoreJsonWebKeyType, CoreProviderMetadata};
use openidconnect::{AuthType, JsonWebKey, JsonWebKeySet};
use serde_json::Value;

use super::config::OidcConfig;
use super::verify::ALLOWED_ALGS;
use crate::outbound::fetch::{FetchError, HttpClient, MAX_BODY, endpoint_allowed};

/// Cached metadata and keys are refreshed on first use after this long.
const REFRESH_AFTER: Duration = Duration::from_secs(3600);
/// If a refresh fails, the cached copy is still used for this long (the
/// provider's outage should not end all logins at once).
const MAX_STALE: Duration = Duration::from_secs(24 * 3600);
/// An unknown `kid` re-runs discovery at most this often per connection, so
/// tokens with made-up key ids cannot turn idbridge into a request amplifier.
pub const FORCED_REFRESH_EVERY: Duration = Duration::from_secs(60);

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The document or JWKS could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The document is not valid provider metadata.
    #[error("{url}: not OpenID Provider metadata: {message}")]
    Document { url: String, message: String },
    /// OIDC Discovery 4.3: the document's issuer must be the configured one.
    #[error("issuer mismatch: configured {expected:?}, discovery document says {got:?}")]
    IssuerMismatch { expected: String, got: String },
    /// A multi-tenant issuer template needs the allowed tenants to be pinned.
    #[error(
        "the provider's issuer {template:?} is multi-tenant: set tenant_ids to the tenants allowed to log in"
    )]
    TenantRequired { template: String },
    /// An endpoint is not https (or loopback http).
    #[error("{name}: {message}")]
    Endpoint { name: &'static str, message: String },
    /// The provider signs ID tokens only with algorithms idbridge refuses.
    #[error("the provider signs ID tokens only with {offered:?}; idbridge accepts RS*, PS*, ES*, EdDSA")]
    NoUsableAlg { offered: Vec<String> },
    /// The provider supports neither client_secret_basic nor client_secret_post.
    #[error("the token endpoint accepts neither client_secret_basic nor client_secret_post")]
    NoClientAuth,
    /// The provider has no token endpoint (the code flow needs one).
    #[error("the provider has no token endpoint")]
    NoTokenEndpoint,
    /// The JWKS holds no public signing key idbridge can use.
    #[error("{url}: no usable public signing key in the JWKS")]
    NoKeys { url: String },
}

/// How the ID token's `iss` is checked.
#[derive(Clone, Debug, PartialEq)]
pub enum IssuerRule {
    /// One issuer, compared exactly.
    Exact(String),
    /// Entra's multi-tenant `https://login.microsoftonline.com/{tenantid}/v2.0`:
    /// the token's issuer must be the template with its own, allowed, `tid`.
    Tenant { template: String },
}

impl IssuerRule {
    /// The issuer a token from tenant `tid` must carry.
    pub fn expected(&self, tid: Option<&str>) -> Option<String> {
        match self {
            IssuerRule::Exact(s) => Some(s.clone()),
            IssuerRule::Tenant { template } => tid.map(|t| template.replace(TENANT_PLACEHOLDER, t)),
        }
    }
}

const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// A provider as discovered: metadata with its signing keys, and how to check issuers.
#[derive(Clone, Debug)]
pub struct Provider {
    /// The metadata; `jwks()` holds only public signing keys.
    pub metadata: CoreProviderMetadata,
    pub issuer: IssuerRule,
    /// RFC 9207: the provider sends `iss` with the authorization response.
    pub iss_param_supported: bool,
    /// How the client authenticates at the token endpoint.
    pub auth_type: AuthType,
    /// OIDC RP-Initiated Logout 1.0 §2.1: "end_session_endpoint ... URL at the
    /// OP to which an RP can perform a redirect to request that the End-User
    /// be logged out at the OP" (only https, or http on loopback, is kept: the
    /// browser carries the ID token there).
    pub end_session_endpoint: Option<String>,
    /// OIDC Back-Channel Logout 1.0 §2.1: `backchannel_logout_supported` and
    /// `backchannel_logout_session_supported` (the provider sends `sid`).
    pub backchannel_logout_supported: bool,
    pub backchannel_logout_session_supported: bool,
    fetched_at: Instant,
}

fn endpoint(name: &'static str, url: &str) -> Result<(), DiscoveryError> {
    endpoint_allowed(url).map(|_| ()).map_err(|message| DiscoveryError::Endpoint { name, message })
}

/// An endpoint idbridge itself will call: also within the outbound policy
/// (refused now, at discovery, rather than at the first login).
fn fetched_endpoint(http: &HttpClient, name: &'static str, url: &str) -> Result<(), DiscoveryError> {
    endpoint(name, url)?;
    crate::outbound::check_url(url, http.policy())
        .map(|_| ())
        .map_err(|e| DiscoveryError::Endpoint { name, message: e.to_string() })
}

/// Fetch and check the discovery document and the JWKS.
pub async fn discover(http: &HttpClient, cfg: &OidcConfig) -> Result<Provider, DiscoveryError> {
    let url = cfg.discovery_url();
    let doc = http.get_json(&url, None, MAX_BODY).await?;
    let doc_issuer = doc.get("issuer").and_then(Value::as_str).unwrap_or_default().to_string();
    // OIDC Discovery 4.3: "The issuer value returned MUST be identical to the
    // Issuer URL that was used as the prefix to /.well-known/openid-configuration".
    // Entra's multi-tenant endpoints (common, organizations) answer with a
    // `{tenantid}` template instead: accepted only with pinned tenant ids.
    let issuer = if doc_issuer == cfg.issuer {
        IssuerRule::Exact(doc_issuer)
    } else if doc_issuer.contains(TENANT_PLACEHOLDER) && same_but_tenant(&doc_issuer, &cfg.issuer) {
        if cfg.tenant_ids.is_empty() {
            return Err(DiscoveryError::TenantRequired { template: doc_issuer });
        }
        IssuerRule::Tenant { template: doc_issuer }
    } else {
        return Err(DiscoveryError::IssuerMismatch { expected: cfg.issuer.clone(), got: doc_issuer });
    };
    let iss_param_supported =
        doc.get("authorization_response_iss_parameter_supported").and_then(Value::as_bool).unwrap_or(false);
    let flag = |name: &str| doc.get(name).and_then(Value::as_bool).unwrap_or(false);
    let (backchannel_logout_supported, backchannel_logout_session_supported) =
        (flag("backchannel_logout_supported"), flag("backchannel_logout_session_supported"));
    // An unusable end_session_endpoint is left out (logout then stays local),
    // rather than failing discovery and with it every login.
    let end_session_endpoint = doc
        .get("end_session_endpoint")
        .and_then(Value::as_str)
        .filter(|u| match endpoint("end_session_endpoint", u) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(issuer = %cfg.issuer, error = %e, "end_session_endpoint ignored");
                false
            }
        })
        .map(String::from);
    let metadata: CoreProviderMetadata = serde_json::from_value(doc)
        .map_err(|e| DiscoveryError::Document { url: url.clone(), message: e.to_string() })?;

    endpoint("authorization_endpoint", metadata.authorization_endpoint().as_str())?;
    let token = metadata.token_endpoint().ok_or(DiscoveryError::NoTokenEndpoint)?;
    fetched_endpoint(http, "token_endpoint", token.as_str())?;
    if let Some(u) = metadata.userinfo_endpoint() {
        fetched_endpoint(http, "userinfo_endpoint", u.as_str())?;
    }
    fetched_endpoint(http, "jwks_uri", metadata.jwks_uri().as_str())?;

    let offered = metadata.id_token_signing_alg_values_supported();
    if !offered.iter().any(|a| ALLOWED_ALGS.contains(a)) {
        let offered = offered.iter().map(super::verify::alg_name).collect();
        return Err(DiscoveryError::NoUsableAlg { offered });
    }
    // OIDC Discovery 3: client_secret_basic is the default when the list is absent.
    let auth_type = match metadata.token_endpoint_auth_methods_supported() {
        None => AuthType::BasicAuth,
        Some(m) if m.contains(&CoreClientAuthMethod::ClientSecretBasic) => AuthType::BasicAuth,
        Some(m) if m.contains(&CoreClientAuthMethod::ClientSecretPost) => AuthType::RequestBody,
        Some(_) => return Err(DiscoveryError::NoClientAuth),
    };

    let jwks_url = metadata.jwks_uri().to_string();
    let raw = http.get_json(&jwks_url, None, MAX_BODY).await?;
    let jwks: JsonWebKeySet<CoreJsonWebKey> = serde_json::from_value(raw)
        .map_err(|e| DiscoveryError::Document { url: jwks_url.clone(), message: e.to_string() })?;
    // Secure default: only public keys. A shared-secret ("oct") key published
    // in a JWKS would let anyone who read the JWKS sign tokens.
    let keys: Vec<CoreJsonWebKey> =
        jwks.keys().iter().filter(|k| *k.key_type() != CoreJsonWebKeyType::Symmetric).cloned().collect();
    if keys.is_empty() {
        return Err(DiscoveryError::NoKeys { url: jwks_url });
    }
    let metadata = metadata.set_jwks(JsonWebKeySet::new(keys));
    Ok(Provider {
        metadata,
        issuer,
        iss_param_supported,
        auth_type,
        end_session_endpoint,
        backchannel_logout_supported,
        backchannel_logout_session_supported,
        fetched_at: Instant::now(),
    })
}

/// `configured` is `template` with `{tenantid}` replaced by one path segment
/// (`common`, `organizations` or a tenant id).
fn same_but_tenant(template: &str, configured: &str) -> bool {
    let Some((pre, post)) = template.split_once(TENANT_PLACEHOLDER) else { return false };
    configured.len() > pre.len() + post.len()
        && configured.starts_with(pre)
        && configured.ends_with(post)
        && !configured[pre.len()..configured.len() - post.len()].contains('/')
}

/// One connection's cache entry; its async lock makes fetches single-flight.
type SharedSlot = Arc<tokio::sync::Mutex<Slot>>;

#[derive(Default)]
struct Slot {
    provider: Option<Arc<Provider>>,
    last_forced: Option<Instant>,
}

/// Discovered providers by connection (and issuer, so a changed issuer is
/// never served from the old entry).
#[derive(Default)]
pub struct Cache {
    slots: Mutex<HashMap<(String, String), SharedSlot>>,
}

impl Cache {
    fn slot(&self, connection_id: &str, cfg: &OidcConfig) -> SharedSlot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry((connection_id.to_string(), cfg.issuer.clone())).or_default().clone()
    }

    /// The provider of a connection: cached, refreshed after an hour (one
    /// fetch at a time per connection; a failed refresh keeps the old copy
    /// for up to a day).
    pub async fn get(
        &self,
        http: &HttpClient,
        id: &str,
        cfg: &OidcConfig,
    ) -> Result<Arc<Provider>, DiscoveryError> {
        let slot = self.slot(id, cfg);
        let mut s = slot.lock().await;
        if let Some(p) = s.provider.as_ref().filter(|p| p.fetched_at.elapsed() < REFRESH_AFTER) {
            return Ok(p.clone());
        }
        match discover(http, cfg).await {
            Ok(p) => {
                let p = Arc::new(p);
                s.provider = Some(p.clone());
                Ok(p)
            }
            Err(e) => match &s.provider {
                Some(old) if old.fetched_at.elapsed() < MAX_STALE => {
                    tracing::warn!(connection = id, error = %e, "OIDC discovery refresh failed; using the cached copy");
                    Ok(old.clone())
                }
                _ => Err(e),
            },
        }
    }

    /// A token named a key that `seen` does not have: re-run discovery,
    /// unless another request already did or one ran less than a minute
    /// ago. `None` when nothing newer is available.
    pub async fn refresh_for_unknown_key(
        &self,
        http: &HttpClient,
        id: &str,
        cfg: &OidcConfig,
        seen: &Provider,
    ) -> Option<Arc<Provider>> {
        let slot = self.slot(id, cfg);
        let mut s = slot.lock().await;
        if let Some(p) = s.provider.as_ref().filter(|p| p.fetched_at > seen.fetched_at) {
            return Some(p.clone());
        }
        if s.last_forced.is_some_and(|t| t.elapsed() < FORCED_REFRESH_EVERY) {
            tracing::info!(connection = id, "unknown signing key; JWKS re-fetch is rate-limited");
            return None;
        }
        s.last_forced = Some(Instant::now());
        match discover(http, cfg).await {
            Ok(p) => {
                let p = Arc::new(p);
                s.provider = Some(p.clone());
                Some(p)
            }
            Err(e) => {
                tracing::warn!(connection = id, error = %e, "OIDC discovery re-fetch for an unknown key failed");
                None
            }
        }
    }

    /// Seed the cache (the admin API has just discovered the provider).
    pub async fn put(&self, id: &str, cfg: &OidcConfig, provider: Provider) {
        let slot = self.slot(id, cfg);
        slot.lock().await.provider = Some(Arc::new(provider));
    }

    /// Drop everything cached for a connection (its settings changed).
    pub fn forget(&self, connection_id: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|(id, _), _| id != connection_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_templates() {
        let t = "https://login.microsoftonline.com/{tenantid}/v2.0";
        assert!(same_but_tenant(t, "https://login.microsoftonline.com/organizations/v2.0"));
        assert!(same_but_tenant(t, "https://login.microsoftonline.com/common/v2.0"));
        assert!(!same_but_tenant(t, "https://login.microsoftonline.com/v2.0"));
        assert!(!same_but_tenant(t, "https://login.microsoftonline.com/a/b/v2.0"));
        assert!(!same_but_tenant(t, "https://evil.example.com/common/v2.0"));
        let rule = IssuerRule::Tenant { template: t.into() };
        assert_eq!(
            rule.expected(Some("11111111-2222-3333-4444-555555555555")).as_deref(),
            Some("https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0")
        );
        assert_eq!(rule.expected(None), None);
    }
}
