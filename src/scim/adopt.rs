//! One person, one user: a SCIM `POST /Users` for someone the org already
//! knows adopts that row instead of creating a second one (docs/mapping.md,
//! "One person, one user").
//!
//! - An operator-made (`manual`) user whose address is the new userName (or
//!   else its email) is adopted (issue 9).
//! - A user created just in time by a sign-in (`sso`) is adopted when one of
//!   the org's connections would sign the new SCIM user in as that row: its
//!   match rule (`match_by`) applied to the SCIM resource finds it —
//!   `external_id`: the SCIM `externalId` equals the row's external id;
//!   `email`: a work or primary SCIM email equals the row's email or userName
//!   (as an email sign-in matches, case-insensitively); `user_name`: the SCIM
//!   `userName` equals the row's userName (case-insensitively).
//!
//! Exactly one candidate is adopted: it keeps its id (sessions, grants and
//! claim facts stay), becomes origin `scim` and takes the SCIM attributes.
//! Several candidates are never guessed between: `409 uniqueness`, and the
//! candidates are logged. RFC 7644 §3.3: "If the service provider determines
//! that the creation of the requested resource conflicts with existing
//! resources (e.g., a "User" resource with a duplicate "userName"), the
//! service provider MUST return HTTP status code 409 (Conflict) with a
//! "scimType" error code of "uniqueness"".

use serde::Deserialize;
use serde_json::Value;

use super::error::ScimError;
use crate::model::{ConnectionKind, MatchBy, Origin};
use crate::store::users::{self, JitKey, UserFacts};
use crate::store::{StoreError, Tx};

/// The row a SCIM POST takes over, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adoption {
    pub user_id: String,
    /// The origin it had: `manual` or `sso`.
    pub from: Origin,
    /// The match rule that found it (None for an operator-made user, found by address).
    pub rule: Option<MatchBy>,
    /// The connections whose rule found it.
    pub connections: Vec<String>,
}

/// The one field of a stored connection config adoption reads: the login
/// settings' `match_by`, nested under `login` in a SAML config and
/// flattened into an OIDC one (saml/config.rs, oidc/config.rs), defaulting
/// as they do. Read here so that SCIM depends on neither protocol.
#[derive(Deserialize)]
struct MatchRule {
    #[serde(default)]
    match_by: MatchBy,
}

#[derive(Deserialize)]
struct SamlRule {
    #[serde(default)]
    login: Option<MatchRule>,
}

/// The match rule of each of the org's connections, in creation order. A
/// connection whose stored config cannot be read signs no one in; it is
/// skipped (and logged), not guessed at.
fn rules(conn: &Tx<'_>, org_id: &str) -> Result<Vec<(String, MatchBy)>, StoreError> {
    let mut out = Vec::new();
    for row in crate::store::connections::list(conn, org_id)? {
        let by = match row.kind {
            ConnectionKind::Saml => serde_json::from_str::<SamlRule>(&row.config)
                .map(|c| c.login.map(|l| l.match_by).unwrap_or_default()),
            ConnectionKind::Oidc => serde_json::from_str::<MatchRule>(&row.config).map(|c| c.match_by),
        };
        match by {
            Ok(by) => out.push((row.id.into(), by)),
            Err(e) => tracing::warn!(connection_id = %row.id, error = %e,
                "connection config unreadable; its match rule is not used for SCIM adoption"),
        }
    }
    Ok(out)
}

/// The SCIM user's work and primary email addresses, lowercased.
fn work_emails(cols: &UserFacts) -> Vec<String> {
    let attrs: Value = serde_json::from_str(&cols.attributes).unwrap_or(Value::Null);
    let Some(emails) = attrs.get("emails").and_then(Value::as_array) else { return Vec::new() };
    let field = |o: &serde_json::Map<String, Value>, name: &str| {
        o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    };
    let mut out: Vec<String> = Vec::new();
    for e in emails.iter().filter_map(Value::as_object) {
        let primary = field(e, "primary") == Some(Value::Bool(true));
        let work = field(e, "type").and_then(|t| t.as_str().map(|t| t.eq_ignore_ascii_case("work")));
        if let (true, Some(Value::String(v))) = (primary || work == Some(true), field(e, "value")) {
            let v = v.trim().to_lowercase();
            if !v.is_empty() && !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

/// What the rule `by` looks a just-in-time row up by, for this SCIM user.
fn lookup(by: MatchBy, cols: &UserFacts) -> (JitKey, Vec<String>) {
    match by {
        MatchBy::ExternalId => (JitKey::ExternalId, cols.external_id.iter().cloned().collect()),
        MatchBy::Email => (JitKey::Email, work_emails(cols)),
        MatchBy::UserName => (JitKey::UserName, vec![cols.user_name.to_lowercase()]),
    }
}

/// The row a SCIM POST of `cols` adopts, if any; 409 when several could be meant.
pub fn adoptable(conn: &Tx<'_>, org_id: &str, cols: &UserFacts) -> Result<Option<Adoption>, ScimError> {
    let mut found: Vec<Adoption> = Vec::new();
    let user_name_key = cols.user_name.to_lowercase();
    let email_key = cols.email.as_deref().map(str::to_lowercase);
    let keys: Vec<&str> = std::iter::once(user_name_key.as_str()).chain(email_key.as_deref()).collect();
    if let Some(u) = users::manual_by_address(conn, org_id, &keys)? {
        found.push(Adoption {
            user_id: u.id.into(),
            from: Origin::Manual,
            rule: None,
            connections: Vec::new(),
        });
    }
    for (connection_id, by) in rules(conn, org_id)? {
        let (key, values) = lookup(by, cols);
        if values.is_empty() {
            continue;
        }
        for u in users::jit_matching(conn, org_id, key, &values)? {
            match found.iter_mut().find(|a| a.user_id == u.id) {
                Some(a) => {
                    if !a.connections.contains(&connection_id) {
                        a.connections.push(connection_id.clone());
                    }
                }
                None => found.push(Adoption {
                    user_id: u.id.into(),
                    from: Origin::Sso,
                    rule: Some(by),
                    connections: vec![connection_id.clone()],
                }),
            }
        }
    }
    if found.len() > 1 {
        tracing::warn!(org_id, userName = %cols.user_name, externalId = ?cols.external_id, candidates = ?found,
            "SCIM create matches several existing users; refused rather than guessing");
        // Operator-made users stay invisible to SCIM: counted, never named.
        let mut named: Vec<String> =
            found.iter().filter(|a| a.from != Origin::Manual).map(|a| a.user_id.to_string()).collect();
        if found.iter().any(|a| a.from == Origin::Manual) {
            named.push("an operator-made user".to_string());
        }
        return Err(ScimError::AmbiguousUser { count: found.len(), named });
    }
    Ok(found.pop())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(attributes: Value) -> UserFacts {
        UserFacts {
            user_name: "Bo@Contoso.onmicrosoft.com".into(),
            attributes: attributes.to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn only_work_and_primary_emails_count() {
        let c = cols(serde_json::json!({"emails": [
            {"type": "work", "value": " Bo.Diaz@Contoso.com "},
            {"type": "home", "value": "bo@home.example"},
            {"primary": true, "value": "bo@primary.example"},
            {"Type": "Work", "Value": "bo.diaz@contoso.com"}
        ]}));
        assert_eq!(work_emails(&c), ["bo.diaz@contoso.com", "bo@primary.example"]);
        assert!(work_emails(&cols(serde_json::json!({"emails": "x"}))).is_empty());
    }

    #[test]
    fn each_rule_looks_up_its_own_attribute() {
        let mut c = cols(serde_json::json!({"emails": [{"type": "work", "value": "m@x.com"}]}));
        assert_eq!(lookup(MatchBy::ExternalId, &c), (JitKey::ExternalId, vec![]));
        c.external_id = Some("Oid-1".into());
        assert_eq!(lookup(MatchBy::ExternalId, &c), (JitKey::ExternalId, vec!["Oid-1".to_string()]));
        assert_eq!(lookup(MatchBy::Email, &c), (JitKey::Email, vec!["m@x.com".to_string()]));
        assert_eq!(
            lookup(MatchBy::UserName, &c),
            (JitKey::UserName, vec!["bo@contoso.onmicrosoft.com".to_string()])
        );
    }
}
