//! A SAML connection's stored configuration (the `config` JSON of its row;
//! never a secret). The settings an operator may set on create or PATCH are
//! `admin::body::SamlSettings`.

use serde::{Deserialize, Serialize};

use crate::connections::LoginSettings;

/// Default allowed clock difference with the IdP: 90 s covers ordinary NTP
/// drift without keeping stolen assertions usable for long.
pub const DEFAULT_CLOCK_SKEW_SECS: i64 = 90;
/// Largest clock skew an operator may configure.
pub const MAX_CLOCK_SKEW_SECS: i64 = 600;

/// What idbridge knows of the IdP (from its metadata).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct IdpConfig {
    /// The IdP's entityID: every Issuer must equal it.
    pub entity_id: String,
    /// SingleSignOnService with the HTTP-Redirect binding (SP-initiated login).
    #[serde(default)]
    pub sso_url: Option<String>,
    /// Trusted signing certificates, base64 DER; several during a rollover.
    pub signing_certs: Vec<String>,
    /// The IdP's SingleLogoutService endpoints (HTTP-Redirect and HTTP-POST
    /// only), for Single Logout; none when the IdP does not do SLO.
    #[serde(default)]
    pub slo: Vec<SloService>,
    /// Where the metadata came from, when it was fetched (refreshed daily).
    #[serde(default)]
    pub metadata_url: Option<String>,
    #[serde(default)]
    pub metadata_fetched_at: Option<String>,
}

/// A SingleLogoutService of IdP metadata (SAML Metadata 2.2.2): where
/// requests go (`location`) and where responses go (`response_location`,
/// else `location`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SloService {
    pub binding: String,
    pub location: String,
    #[serde(default)]
    pub response_location: Option<String>,
}

impl SloService {
    /// Where a LogoutResponse is sent (SAML Metadata 2.2.2: ResponseLocation, else Location).
    pub fn response_url(&self) -> &str {
        self.response_location.as_deref().unwrap_or(&self.location)
    }
}

impl IdpConfig {
    /// The IdP's SingleLogoutService for `binding`, if its metadata has one.
    pub fn slo_for(&self, binding: &str) -> Option<&SloService> {
        self.slo.iter().find(|s| s.binding == binding)
    }
}

/// Which assertion attributes carry what; the first one present wins.
/// Defaults cover Okta's attribute statements and Entra's claim URIs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AttributeNames {
    pub email: Vec<String>,
    pub given_name: Vec<String>,
    pub family_name: Vec<String>,
    pub display_name: Vec<String>,
    pub groups: Vec<String>,
    pub external_id: Vec<String>,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl Default for AttributeNames {
    fn default() -> Self {
        AttributeNames {
            email: strings(&[
                "email",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                "mail",
                "urn:oid:0.9.2342.19200300.100.1.3",
                // Entra's "name" claim is the user principal name.
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
            ]),
            given_name: strings(&[
                "firstName",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
                "givenName",
                "urn:oid:2.5.4.42",
            ]),
            family_name: strings(&[
                "lastName",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
                "sn",
                "urn:oid:2.5.4.4",
            ]),
            display_name: strings(&[
                "displayName",
                "http://schemas.microsoft.com/identity/claims/displayname",
                "urn:oid:2.16.840.1.113730.3.1.241",
            ]),
            groups: strings(&["groups", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"]),
            external_id: strings(&[
                "http://schemas.microsoft.com/identity/claims/objectidentifier",
                "externalId",
            ]),
        }
    }
}

/// The `config` JSON of a SAML connection.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SamlConfig {
    /// The IdP, from its metadata; `None` while the connection is pending
    /// (created before the IdP gave a metadata URL: every sign-in is refused).
    #[serde(default)]
    pub idp: Option<IdpConfig>,
    /// Override of the SP entityID (default `{public_url}/saml/{id}/metadata`).
    #[serde(default)]
    pub sp_entity_id: Option<String>,
    /// SP certificates, base64 DER (their keys are in the sealed secret).
    pub sp_signing_cert: String,
    pub sp_encryption_cert: String,
    #[serde(default)]
    pub login: LoginSettings,
    #[serde(default = "default_skew")]
    pub clock_skew_seconds: i64,
    /// Accept logins started at the IdP (Okta and Entra tiles): default yes.
    #[serde(default = "yes")]
    pub allow_idp_initiated: bool,
    /// Accept RSA-SHA1 signatures and SHA-1 digests: default no.
    #[serde(default)]
    pub allow_sha1: bool,
    #[serde(default)]
    pub attributes: AttributeNames,
}

fn default_skew() -> i64 {
    DEFAULT_CLOCK_SKEW_SECS
}

fn yes() -> bool {
    true
}
