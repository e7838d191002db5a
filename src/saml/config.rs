//! A SAML connection's stored configuration (the `config` JSON of its row;
//! never a secret) and the settings an operator may set on create or PATCH.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::connections::LoginSettings;
use crate::error::Error;

/// Default allowed clock difference with the IdP: 90 s covers ordinary NTP
/// drift without keeping stolen assertions usable for long.
pub const DEFAULT_CLOCK_SKEW_SECS: i64 = 90;
/// Largest clock skew an operator may configure.
const MAX_CLOCK_SKEW_SECS: i64 = 600;

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

/// Fields of the admin body that are settings (all optional).
pub const SETTING_FIELDS: [&str; 16] = [
    "jit",
    "match_by",
    "allowed_origins",
    "default_return_to",
    "clock_skew_seconds",
    "allow_idp_initiated",
    "allow_sha1",
    "attributes",
    "sp_entity_id",
    "ssf_issuer",
    "ssf_jwks_uri",
    "ssf_audience",
    "ssf_poll_url",
    crate::connections::POLL_TOKEN_FIELD,
    "logout_issuer",
    "logout_jwks_uri",
];

fn field<T: serde::de::DeserializeOwned>(body: &Value, name: &str) -> Result<Option<T>, Error> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            serde_json::from_value(v.clone()).map(Some).map_err(|e| Error::invalid(name, e.to_string()))
        }
    }
}

impl SamlConfig {
    /// Apply the settings present in an admin body, validating each.
    pub fn apply_settings(&mut self, body: &Value) -> Result<(), Error> {
        if let Some(v) = field(body, "jit")? {
            self.login.jit = v;
        }
        if let Some(v) = field(body, "match_by")? {
            self.login.match_by = v;
        }
        if let Some(v) = field(body, "allowed_origins")? {
            self.login.allowed_origins = v;
        }
        if let Some(v) = field::<String>(body, "default_return_to")? {
            let ok = url::Url::parse(&v).map(|u| matches!(u.scheme(), "http" | "https")).unwrap_or(false);
            if !ok {
                return Err(Error::invalid("default_return_to", "must be an absolute http(s) URL"));
            }
            self.login.default_return_to = Some(v);
        }
        if let Some(v) = field::<i64>(body, "clock_skew_seconds")? {
            if !(0..=MAX_CLOCK_SKEW_SECS).contains(&v) {
                return Err(Error::invalid(
                    "clock_skew_seconds",
                    format!("must be 0..={MAX_CLOCK_SKEW_SECS}"),
                ));
            }
            self.clock_skew_seconds = v;
        }
        if let Some(v) = field(body, "allow_idp_initiated")? {
            self.allow_idp_initiated = v;
        }
        if let Some(v) = field(body, "allow_sha1")? {
            self.allow_sha1 = v;
        }
        if let Some(v) = field::<AttributeNames>(body, "attributes")? {
            self.attributes = v;
        }
        if let Some(v) = field::<String>(body, "sp_entity_id")? {
            if v.trim().is_empty() || v.len() > 1024 {
                return Err(Error::invalid(
                    "sp_entity_id",
                    "must be a non-empty URI of at most 1024 characters",
                ));
            }
            self.sp_entity_id = Some(v);
        }
        self.login.apply_signal_settings(body)?;
        self.login.validate()
    }
}
