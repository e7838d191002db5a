//! An OIDC connection's settings: what the operator configures (issuer,
//! client, scopes, groups claim, Entra tenant pinning and Graph endpoint) plus
//! the login settings shared with SAML, stored as the connection's JSON
//! config (`OidcDraft`: issuer and client id may still be missing while the
//! connection is pending; `OidcConfig` once they are there). The client
//! secret is never part of it: it is sealed separately.
//!
//! Microsoft Entra issuers get `match_by: "external_id"` (the `oid` claim) by
//! default: Microsoft advises identifying users by the immutable `oid` (with
//! `tid`) and not authorising on mutable claims such as `email` or
//! `preferred_username` (Microsoft identity platform, "Secure applications
//! and APIs by validating claims").

use serde::{Deserialize, Serialize};

use crate::connections::LoginSettings;
use crate::error::Error;
use crate::outbound::fetch::endpoint_allowed;
use crate::session::login::MatchBy;

/// Scopes asked for when the operator names none.
const DEFAULT_SCOPES: [&str; 3] = ["openid", "profile", "email"];
/// Claim holding group values when the operator names none.
const DEFAULT_GROUPS_CLAIM: &str = "groups";
/// Longest client id, claim name, scope or tenant id accepted.
const MAX_TOKEN_LEN: usize = 255;
/// Most scopes and tenant ids accepted.
const MAX_LIST: usize = 50;

/// The stored configuration of an OIDC connection (no secret).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OidcConfig {
    /// The OpenID Provider's Issuer Identifier; discovery is at
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Always contains `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID token / userinfo claim with the user's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Entra ID tenant pinning: when set, the token's `tid` must be one of
    /// these, and a multi-tenant issuer (`.../{tenantid}/v2.0`) is only
    /// accepted for them. Required when discovery shows a `{tenantid}` issuer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenant_ids: Vec<String>,
    /// Entra groups overage: the Microsoft Graph `getMemberObjects` endpoint
    /// (e.g. `https://graph.microsoft.com/v1.0/me/getMemberObjects`) called
    /// with the access token when the ID token only points to the groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_groups_url: Option<String>,
    /// OIDC RP-Initiated Logout 1.0 §3: where the provider sends the browser
    /// after logout; on idbridge's origin or the allowed origins (checked by
    /// the admin API), and registered at the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uri: Option<String>,
    #[serde(flatten)]
    pub login: LoginSettings,
}

fn default_scopes() -> Vec<String> {
    DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect()
}

fn default_groups_claim() -> String {
    DEFAULT_GROUPS_CLAIM.to_string()
}

/// A scope token (RFC 6749 3.3): printable ASCII without space, quote or backslash.
fn scope_token_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_TOKEN_LEN
        && s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

fn printable(s: &str) -> bool {
    !s.trim().is_empty() && s.len() <= MAX_TOKEN_LEN && !s.chars().any(char::is_control)
}

/// An Entra tenant id: a GUID, stored lowercase.
fn tenant_id_ok(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The stored configuration of an OIDC connection: what the operator has
/// given so far. Issuer and client id are absent while it is pending.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OidcDraft {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenant_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_groups_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uri: Option<String>,
    /// The operator chose `match_by`; otherwise it follows the issuer
    /// (`external_id` for Entra, else `email`). Connections stored before
    /// this field existed count as chosen: their matching never changes by itself.
    #[serde(default = "yes")]
    pub match_by_set: bool,
    #[serde(flatten)]
    pub login: LoginSettings,
}

fn yes() -> bool {
    true
}

impl Default for OidcDraft {
    /// What a stored config without any field reads as (a pending connection
    /// whose `match_by` counts as chosen).
    fn default() -> Self {
        OidcDraft {
            issuer: None,
            client_id: None,
            scopes: default_scopes(),
            groups_claim: default_groups_claim(),
            tenant_ids: Vec::new(),
            graph_groups_url: None,
            post_logout_redirect_uri: None,
            match_by_set: true,
            login: LoginSettings::default(),
        }
    }
}

/// Microsoft Entra ID's sign-in hosts: the global cloud (and its older
/// name), US Government, and China (21Vianet).
const ENTRA_HOSTS: [&str; 5] = [
    "login.microsoftonline.com",
    "login.windows.net",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
];

/// Whether `issuer` is Microsoft Entra ID's (any tenant form: a tenant id,
/// `organizations`, `common`, v1 or v2.0).
pub fn is_entra_issuer(issuer: &str) -> bool {
    url::Url::parse(issuer).is_ok_and(|u| {
        u.scheme() == "https"
            && u.host_str().is_some_and(|h| ENTRA_HOSTS.contains(&h.to_ascii_lowercase().as_str()))
    })
}

impl OidcDraft {
    /// The complete configuration, once issuer and client id are set.
    pub fn ready(&self) -> Option<OidcConfig> {
        Some(OidcConfig {
            issuer: self.issuer.clone()?,
            client_id: self.client_id.clone()?,
            scopes: self.scopes.clone(),
            groups_claim: self.groups_claim.clone(),
            tenant_ids: self.tenant_ids.clone(),
            graph_groups_url: self.graph_groups_url.clone(),
            post_logout_redirect_uri: self.post_logout_redirect_uri.clone(),
            login: self.login.clone(),
        })
    }

    fn is_entra(&self) -> bool {
        self.issuer.as_deref().is_some_and(is_entra_issuer)
    }

    /// What the operator should know: Microsoft advises against authorising
    /// on the mutable `email` / `preferred_username` claims of Entra.
    pub fn warnings(&self) -> Vec<String> {
        let (chosen, claim) = match self.login.match_by {
            MatchBy::Email => ("email", "email"),
            MatchBy::UserName => ("user_name", "preferred_username"),
            MatchBy::ExternalId => return Vec::new(),
        };
        if !self.is_entra() {
            return Vec::new();
        }
        vec![format!(
            "match_by \"{chosen}\" with a Microsoft Entra issuer authorises on the mutable {claim} claim, \
             which Microsoft advises against (tenant admins, and for some accounts users, can change it): \
             use match_by \"external_id\" (the oid claim against the SCIM externalId)"
        )]
    }

    /// Check every value given and normalise (`openid` scope present, tenant
    /// ids lowercase, no duplicate scopes); a `match_by` nobody chose follows
    /// the issuer.
    pub fn validate(mut self) -> Result<Self, Error> {
        if let Some(i) = &self.issuer {
            let issuer = endpoint_allowed(i).map_err(|m| Error::invalid("issuer", m))?;
            if issuer.query().is_some() {
                return Err(Error::invalid("issuer", "an issuer has no query string"));
            }
        }
        if self.client_id.as_deref().is_some_and(|c| !printable(c)) {
            return Err(Error::invalid("client_id", "must be 1-255 printable characters"));
        }
        if !self.match_by_set {
            // Secure default: Entra's `oid` is immutable and unique; `sub` is
            // pairwise per app, `email` and `preferred_username` are mutable.
            self.login.match_by = if self.is_entra() { MatchBy::ExternalId } else { MatchBy::default() };
        }
        if self.scopes.len() > MAX_LIST {
            return Err(Error::invalid("scopes", format!("at most {MAX_LIST} scopes")));
        }
        let mut scopes: Vec<String> = Vec::new();
        for (i, s) in self.scopes.iter().enumerate() {
            if !scope_token_ok(s) {
                return Err(Error::invalid(format!("scopes[{i}]"), format!("{s:?} is not a valid scope")));
            }
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        self.scopes = scopes;
        if !printable(&self.groups_claim) || self.groups_claim.starts_with('_') {
            return Err(Error::invalid("groups_claim", "must be a claim name such as \"groups\""));
        }
        if self.tenant_ids.len() > MAX_LIST {
            return Err(Error::invalid("tenant_ids", format!("at most {MAX_LIST} tenant ids")));
        }
        for (i, t) in self.tenant_ids.iter_mut().enumerate() {
            *t = t.trim().to_ascii_lowercase();
            if !tenant_id_ok(t) {
                return Err(Error::invalid(
                    format!("tenant_ids[{i}]"),
                    format!("{t:?} is not a tenant id (GUID)"),
                ));
            }
        }
        if let Some(g) = &self.graph_groups_url {
            endpoint_allowed(g).map_err(|m| Error::invalid("graph_groups_url", m))?;
        }
        self.login.validate()?;
        if let Some(d) = &self.login.default_return_to {
            let path_ok = d.starts_with('/') && !d.starts_with("//") && !d.contains('\\');
            let url_ok = url::Url::parse(d).map(|u| matches!(u.scheme(), "http" | "https")).unwrap_or(false);
            if !(path_ok || url_ok) {
                return Err(Error::invalid("default_return_to", "must be an http(s) URL or a path"));
            }
        }
        Ok(self)
    }
}

impl OidcConfig {
    /// Check every value and normalise, as `OidcDraft::validate` does.
    pub fn validate(self) -> Result<Self, Error> {
        let draft = OidcDraft {
            issuer: Some(self.issuer),
            client_id: Some(self.client_id),
            scopes: self.scopes,
            groups_claim: self.groups_claim,
            tenant_ids: self.tenant_ids,
            graph_groups_url: self.graph_groups_url,
            post_logout_redirect_uri: self.post_logout_redirect_uri,
            match_by_set: true,
            login: self.login,
        };
        draft.validate()?.ready().ok_or_else(|| Error::invalid("issuer", "required"))
    }

    /// The discovery document's address.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'))
    }
}

/// The callback address registered at the provider.
pub fn redirect_uri(public_url: &str, connection_id: &str) -> String {
    format!("{public_url}/oidc/{connection_id}/callback")
}

/// The address that starts a login through this connection.
pub fn login_url(public_url: &str, connection_id: &str) -> String {
    format!("{public_url}/oidc/{connection_id}/login")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<OidcConfig, Error> {
        serde_json::from_value::<OidcConfig>(v).map_err(|e| Error::invalid("body", e.to_string()))?.validate()
    }

    #[test]
    fn defaults_and_normalisation() {
        let c = parse(json!({"issuer": "https://id.example.com", "client_id": "abc"})).unwrap();
        assert_eq!(c.scopes, ["openid", "profile", "email"]);
        assert_eq!(c.groups_claim, "groups");
        assert!(c.login.jit);
        let c = parse(json!({"issuer": "https://id.example.com", "client_id": "abc",
            "scopes": ["email", "groups", "email"], "tenant_ids": ["AAAAAAAA-bbbb-cccc-dddd-eeeeeeeeeeee"],
            "match_by": "external_id", "allowed_origins": ["https://app.example.com"]}))
        .unwrap();
        assert_eq!(c.scopes, ["openid", "email", "groups"]);
        assert_eq!(c.tenant_ids, ["aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"]);
        let round: OidcConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(round, c);
    }

    #[test]
    fn entra_issuers_default_to_oid_matching() {
        for i in [
            "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0",
            "https://login.microsoftonline.com/organizations/v2.0",
            "https://login.microsoftonline.com/common/v2.0",
            "https://login.microsoftonline.us/t/v2.0",
            "https://login.chinacloudapi.cn/t/v2.0",
            "https://login.partner.microsoftonline.cn/t/v2.0",
        ] {
            assert!(is_entra_issuer(i), "{i}");
        }
        for i in [
            "https://acme.okta.com",
            "http://login.microsoftonline.com/t/v2.0",
            "https://login.microsoftonline.com.evil.com/t",
        ] {
            assert!(!is_entra_issuer(i), "{i}");
        }
        let draft =
            |v: serde_json::Value| serde_json::from_value::<OidcDraft>(v).unwrap().validate().unwrap();
        let entra = "https://login.microsoftonline.com/organizations/v2.0";
        let d = draft(json!({"issuer": entra, "match_by_set": false}));
        assert_eq!((d.login.match_by, d.warnings().len()), (MatchBy::ExternalId, 0));
        let d = draft(json!({"issuer": "https://acme.okta.com", "match_by_set": false}));
        assert_eq!(d.login.match_by, MatchBy::Email);
        let d = draft(json!({"issuer": entra, "match_by": "user_name", "match_by_set": true}));
        assert_eq!((d.login.match_by, d.warnings().len()), (MatchBy::UserName, 1));
        assert!(d.warnings()[0].contains("preferred_username"), "{:?}", d.warnings());
        // Stored before the field existed: chosen, never changed by itself.
        let d = draft(json!({"issuer": entra, "client_id": "c"}));
        assert_eq!(d.login.match_by, MatchBy::Email);
        assert!(d.ready().is_some());
        assert!(draft(json!({"issuer": entra})).ready().is_none(), "no client id: pending");
    }

    #[test]
    fn the_default_draft_is_an_empty_stored_config() {
        assert_eq!(serde_json::from_value::<OidcDraft>(json!({})).unwrap(), OidcDraft::default());
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            json!({"issuer": "http://id.example.com", "client_id": "abc"}),
            json!({"issuer": "https://id.example.com?x=1", "client_id": "abc"}),
            json!({"issuer": "https://id.example.com", "client_id": ""}),
            json!({"issuer": "https://id.example.com", "client_id": "a", "scopes": ["a b"]}),
            json!({"issuer": "https://id.example.com", "client_id": "a", "groups_claim": "_claim_names"}),
            json!({"issuer": "https://id.example.com", "client_id": "a", "tenant_ids": ["common"]}),
            json!({"issuer": "https://id.example.com", "client_id": "a", "graph_groups_url": "http://graph.example.com/"}),
            json!({"issuer": "https://id.example.com", "client_id": "a", "default_return_to": "javascript:alert(1)"}),
            json!({"issuer": "https://id.example.com", "client_id": "a", "default_return_to": "//evil.com"}),
            json!({"issuer": "https://id.example.com", "client_id": "a", "allowed_origins": ["evil"]}),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad} accepted");
        }
    }
}
