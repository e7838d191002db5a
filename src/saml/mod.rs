//! SAML 2.0 service provider, one per connection: SP metadata, SP-initiated
//! login (signed AuthnRequest, HTTP-Redirect), and the ACS (HTTP-POST,
//! IdP- and SP-initiated) with the checks that stop the known attacks on SAML
//! SPs. The pieces: xml_guard (before any parser), structure (the one shape
//! accepted), verify (xmlsec through samael), decrypt (EncryptedAssertion),
//! validate (every spec check), attributes (→ LoginFacts), acs (store work),
//! login (SP-initiated start); Single Logout: logout (messages),
//! redirect_binding (query signatures), slo (the endpoint), slo_out (from
//! `POST /v1/logout`). The HTTP side: routes (handlers, router, statuses) and
//! slo_pages (the pages of the SLO endpoint), both edge files.

pub mod acs;
pub mod admin;
pub mod attributes;
pub mod authn_request;
pub mod binding;
pub mod config;
pub mod connection;
pub mod decrypt;
pub mod dom;
pub mod error;
pub mod idp_metadata;
pub mod keys;
pub mod login;
pub mod logout;
pub mod redirect_binding;
pub mod routes;
pub mod slo;
pub mod slo_out;
pub mod slo_pages;
pub mod sp_metadata;
pub mod structure;
pub mod validate;
pub mod verify;
pub mod xml_guard;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use self::error::SamlError;
use crate::metrics::Metrics;
use crate::session::login::LoginRefused;

/// What the SAML code works with (built from the app state in `routes`).
#[derive(Clone)]
pub struct Service {
    pub db: crate::store::Db,
    /// Opens the sealed SP keys.
    pub secrets: crate::secrets::SecretBox,
    /// Absolute base URL without a trailing slash (the SP's URLs).
    pub public_url: std::sync::Arc<str>,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub saml: std::sync::Arc<SamlState>,
    /// What IdP metadata fetches may reach.
    pub outbound: crate::outbound::Policy,
}

/// Process-wide SAML state, held in `AppState`.
#[derive(Default)]
pub struct SamlState {
    /// Last metadata refresh attempt per connection (rate limit).
    pub refresh_attempts: Mutex<HashMap<String, Instant>>,
}

/// Longest error text logged: messages quote attacker-chosen values.
const MAX_LOGGED: usize = 1000;

/// An error as one log-safe line: control characters escaped, length capped.
fn loggable(e: &dyn std::fmt::Display) -> String {
    e.to_string().escape_debug().take(MAX_LOGGED).collect()
}

/// A refused SAML message: the precise reason logged and counted (the edge
/// shows a short page).
pub fn log_refusal(metrics: &Metrics, connection_id: &str, e: &SamlError) {
    let id = loggable(&connection_id.chars().take(64).collect::<String>());
    tracing::warn!(connection = %id, reason = e.reason(), error = %loggable(e), "SAML login refused");
    metrics.refusal("saml", e.reason());
}

/// A login refused by `login::complete` (no such user, not a member, ...):
/// logged and counted (the edge shows a short page).
pub fn log_login_refusal(metrics: &Metrics, connection_id: &str, e: &LoginRefused) {
    tracing::warn!(connection = %connection_id, reason = e.reason(), error = %loggable(e), "SAML login refused");
    metrics.refusal("saml", e.reason());
}
