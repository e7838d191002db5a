//! What an IdP asserted at a sign-in, after the protocol (SAML, OIDC) validated it,
//! and the rule that matches a sign-in to a user. Plain data: the protocols build it,
//! the directory matches and records it, the session layer completes the login.

use serde::{Deserialize, Serialize};

/// How a login is matched to an existing (e.g. SCIM-provisioned) user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MatchBy {
    /// The IdP's stable id (Entra object id, OIDC `sub`) against SCIM externalId.
    ExternalId,
    /// The login subject (NameID) against SCIM userName, case-insensitively.
    UserName,
    /// The asserted email against the user's email or userName, case-insensitively.
    #[default]
    Email,
}

/// What an IdP asserted, after the protocol handler validated it.
#[derive(Clone, Debug, Default)]
pub struct LoginFacts {
    pub org_id: String,
    pub connection_id: String,
    /// NameID (SAML) or `sub` (OIDC).
    pub subject: String,
    /// The IdP's stable object id when it sends one (Entra `objectidentifier`, `oid`).
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Raw group claim values (names from Okta, object-id GUIDs from Entra).
    /// `None`: the IdP left the groups out and only pointed to them (Entra's
    /// SAML groups overage) — unknown, which is not "no groups": the values
    /// this connection asserted at the user's last login are kept.
    pub groups: Option<Vec<String>>,
    pub match_by: MatchBy,
    /// Create the user just in time when no user matches.
    pub jit: bool,
    /// What the IdP said about its own session, recorded with idbridge's session.
    pub idp_session: IdpSession,
}

/// The IdP's session behind a login: how the IdP names it when it ends it, and
/// the bound it puts on it.
#[derive(Clone, Debug, Default)]
pub struct IdpSession {
    /// The subject as the IdP names it in a logout: SAML NameID, OIDC `sub`.
    pub subject: Option<String>,
    /// SAML `AuthnStatement/@SessionIndex`.
    pub session_index: Option<String>,
    /// OIDC `sid`.
    pub sid: Option<String>,
    /// Other values a logout needs (SAML NameID Format, NameQualifier, SPNameQualifier, …).
    pub data: serde_json::Map<String, serde_json::Value>,
    /// The IdP's bound on the session (SAML `SessionNotOnOrAfter`, OIDC `session_expiry`):
    /// idbridge's session never outlives it.
    pub not_on_or_after: Option<time::OffsetDateTime>,
}
