//! From a validated assertion to `LoginFacts`: the connection's attribute
//! names (Okta's `email`/`firstName`/`lastName`/`groups`, Entra's claim URIs
//! by default) pick email, names, groups and the IdP's stable id; the NameID
//! is the subject, and stands in for email (emailAddress format, or an
//! unspecified one that looks like an address) or for the stable id
//! (persistent format) when no attribute carries them.
//!
//! Entra's groups overage: "The number of groups emitted in a token is
//! limited to 150 for SAML assertions and 200 for JWT, including nested
//! groups" (Microsoft, "Configure group claims for applications"); above it
//! Entra sends no groups attribute but a link to the user's groups in Graph
//! (`http://schemas.microsoft.com/claims/groups.link`). Then the groups are
//! *unknown* (`None`), not empty: the last known ones are kept (session::login).

use super::config::SamlConfig;
use super::validate::ValidAssertion;
use crate::session::login::{IdpSession, LoginFacts};

const FORMAT_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const FORMAT_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
const FORMAT_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
/// Most group values kept from one assertion (Entra caps SAML groups at 150).
const MAX_GROUPS: usize = 1000;
/// How the overage claim's name ends (Entra sends it under the
/// `http://schemas.microsoft.com/claims/` namespace).
const GROUPS_LINK_SUFFIX: &str = "claims/groups.link";

/// The assertion only points to the user's groups (Entra's groups overage).
pub fn groups_overage(v: &ValidAssertion) -> bool {
    v.attributes.iter().any(|(name, _)| name.ends_with(GROUPS_LINK_SUFFIX))
}

/// The first value of the first listed attribute that has one.
fn first(v: &ValidAssertion, names: &[String]) -> Option<String> {
    names.iter().find_map(|n| {
        v.attributes.iter().find(|(name, _)| name == n).and_then(|(_, vals)| vals.first().cloned())
    })
}

/// Build the facts `login::complete` needs.
pub fn facts(v: &ValidAssertion, cfg: &SamlConfig, org_id: &str, connection_id: &str) -> LoginFacts {
    let names = &cfg.attributes;
    let format = v.name_id_format.as_deref().unwrap_or(FORMAT_UNSPECIFIED);
    let name_id_is_email =
        format == FORMAT_EMAIL || (format == FORMAT_UNSPECIFIED && looks_like_email(&v.name_id));
    let email = first(v, &names.email).or_else(|| name_id_is_email.then(|| v.name_id.clone()));
    let external_id =
        first(v, &names.external_id).or_else(|| (format == FORMAT_PERSISTENT).then(|| v.name_id.clone()));
    let given_name = first(v, &names.given_name);
    let family_name = first(v, &names.family_name);
    let display_name = first(v, &names.display_name).or_else(|| {
        let joined = [given_name.as_deref(), family_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        (!joined.is_empty()).then_some(joined)
    });
    let mut groups: Vec<String> = Vec::new();
    for n in &names.groups {
        for (name, vals) in &v.attributes {
            if name == n {
                for g in vals {
                    if groups.len() < MAX_GROUPS && !groups.contains(g) {
                        groups.push(g.clone());
                    }
                }
            }
        }
    }
    // A groups link with no group values: unknown, keep the last known ones.
    let groups = if groups.is_empty() && groups_overage(v) { None } else { Some(groups) };
    LoginFacts {
        org_id: org_id.to_string(),
        connection_id: connection_id.to_string(),
        subject: v.name_id.clone(),
        external_id,
        email,
        display_name,
        given_name,
        family_name,
        groups,
        match_by: cfg.login.match_by,
        jit: cfg.login.jit,
        idp_session: idp_session(v),
    }
}

/// What a Single Logout needs to name this session again (NameID with its
/// Format and qualifiers, SessionIndex) and the IdP's bound on it.
fn idp_session(v: &ValidAssertion) -> IdpSession {
    let mut data = serde_json::Map::new();
    for (k, val) in [
        ("name_id_format", &v.name_id_format),
        ("name_qualifier", &v.name_id_qualifier),
        ("sp_name_qualifier", &v.sp_name_qualifier),
    ] {
        if let Some(x) = val {
            data.insert(k.into(), serde_json::Value::String(x.clone()));
        }
    }
    IdpSession {
        subject: Some(v.name_id.clone()),
        session_index: v.session_index.clone(),
        sid: None,
        data,
        not_on_or_after: v.session_not_on_or_after,
    }
}

fn looks_like_email(s: &str) -> bool {
    let mut parts = s.splitn(2, '@');
    matches!((parts.next(), parts.next()), (Some(a), Some(b)) if !a.is_empty() && b.contains('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::config::{AttributeNames, IdpConfig};

    fn cfg() -> SamlConfig {
        SamlConfig {
            idp: Some(IdpConfig {
                entity_id: "i".into(),
                sso_url: None,
                signing_certs: vec![],
                slo: vec![],
                metadata_url: None,
                metadata_fetched_at: None,
            }),
            sp_entity_id: None,
            sp_signing_cert: String::new(),
            sp_encryption_cert: String::new(),
            login: Default::default(),
            clock_skew_seconds: 90,
            allow_idp_initiated: true,
            allow_sha1: false,
            attributes: AttributeNames::default(),
        }
    }

    fn assertion(format: &str, name_id: &str, attrs: &[(&str, &[&str])]) -> ValidAssertion {
        ValidAssertion {
            assertion_id: "a".into(),
            in_response_to: None,
            replay_until: time::OffsetDateTime::UNIX_EPOCH,
            name_id: name_id.into(),
            name_id_format: Some(format.into()),
            name_id_qualifier: None,
            sp_name_qualifier: None,
            session_index: Some("idx".into()),
            session_not_on_or_after: None,
            attributes: attrs
                .iter()
                .map(|(n, v)| (n.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
        }
    }

    #[test]
    fn okta_and_entra_names() {
        let okta = assertion(
            FORMAT_UNSPECIFIED,
            "ann@acme.com",
            &[("firstName", &["Ann"]), ("lastName", &["Lee"]), ("groups", &["Engineering", "Everyone"])],
        );
        let f = facts(&okta, &cfg(), "o", "c");
        assert_eq!(f.email.as_deref(), Some("ann@acme.com"));
        assert_eq!(f.display_name.as_deref(), Some("Ann Lee"));
        assert_eq!(f.groups.as_deref(), Some(&["Engineering".to_string(), "Everyone".to_string()][..]));
        let entra = assertion(
            FORMAT_PERSISTENT,
            "opaque-xyz",
            &[
                ("http://schemas.microsoft.com/identity/claims/objectidentifier", &["oid-1"]),
                ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", &["bo@acme.com"]),
                ("http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", &["6f1c-guid"]),
            ],
        );
        let f = facts(&entra, &cfg(), "o", "c");
        assert_eq!(f.email.as_deref(), Some("bo@acme.com"));
        assert_eq!(f.external_id.as_deref(), Some("oid-1"));
        assert_eq!(f.subject, "opaque-xyz");
        assert_eq!(f.groups, Some(vec!["6f1c-guid".to_string()]));
    }

    #[test]
    fn groups_link_without_groups_is_unknown_not_empty() {
        let link = "http://schemas.microsoft.com/claims/groups.link";
        let graph = "https://graph.windows.net/t/users/o/getMemberObjects";
        let overage = assertion(FORMAT_PERSISTENT, "x", &[(link, &[graph])]);
        assert!(groups_overage(&overage));
        assert_eq!(facts(&overage, &cfg(), "o", "c").groups, None);
        let none = assertion(FORMAT_PERSISTENT, "x", &[]);
        assert_eq!(facts(&none, &cfg(), "o", "c").groups, Some(vec![]));
        // Values present beside a link are used as they are.
        let both = assertion(FORMAT_PERSISTENT, "x", &[(link, &[graph]), ("groups", &["g"])]);
        assert_eq!(facts(&both, &cfg(), "o", "c").groups, Some(vec!["g".to_string()]));
    }
}
