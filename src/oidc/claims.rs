//! From validated claims to `LoginFacts`: who the person is (sub, email and
//! whether the provider verified it, names, Entra's object id), their groups
//! (from the configured claim, userinfo, or Microsoft Graph on overage), and
//! the two calls that fill gaps: userinfo when the ID token left something
//! out, and Graph for Entra's groups overage.
//!
//! Entra groups overage: when a user is in more groups than fit in a token
//! (200 in a JWT), Entra leaves the `groups` claim out and puts
//! `_claim_names: {"groups": "src1"}` and `_claim_sources` in its place.
//! idbridge then asks Microsoft Graph for the user's group ids at the
//! operator-configured endpoint, never at the endpoint named inside the token
//! (that one is the retired Azure AD Graph, and a token is not where idbridge
//! takes URLs to call from): `POST {graph_groups_url}` with
//! `{"securityEnabledOnly": false}` and the login's access token, the shape
//! of Graph's `/me/getMemberObjects`; the answer is `{"value": ["<id>", ...]}`.
//! The access token must be for Graph, so the connection's scopes must
//! include a Graph permission.

use serde_json::{Map, Value, json};

use super::config::{OidcConfig, is_entra_issuer};
use super::error::LoginError;
use crate::outbound::fetch::{HttpClient, MAX_BODY};
use crate::session::login::{IdpSession, LoginFacts, LoginRefused, MatchBy};

/// Longest single group value kept.
const MAX_GROUP_LEN: usize = 1024;
/// Largest Graph answer accepted (a member of thousands of groups).
const MAX_GRAPH_BODY: usize = 4 * 1024 * 1024;

/// What the provider asserted about the person, merged from the ID token
/// and, for what it lacked, userinfo.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    pub sub: String,
    pub email: Option<String>,
    /// `email_verified` as sent with that email (absent for Entra).
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub preferred_username: Option<String>,
    /// Entra's directory object id (`oid`).
    pub oid: Option<String>,
    pub groups: Option<Vec<String>>,
    /// Entra groups overage: the token only points to where the groups are.
    pub overage: bool,
    /// The provider's session id (`sid`, OIDC Back-Channel Logout §2.4); only
    /// ever from the ID token.
    pub sid: Option<String>,
    /// IPSIE SL1 `session_expiry` (Unix seconds); only ever from the ID token.
    pub session_expiry: Option<i64>,
}

/// Longest `sid` kept (a longer one is not recorded, so it never matches).
const MAX_SID_LEN: usize = 255;

fn text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

/// `email_verified` as a boolean; some providers send "true"/"false"
/// strings. Anything else counts as not verified.
fn verified(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Group values: an array of strings (numbers accepted), or one string.
fn groups(v: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let list: Vec<String> = match v {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        Value::String(_) | Value::Number(_) => one(v).into_iter().collect(),
        _ => return None,
    };
    Some(
        list.into_iter()
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty() && g.len() <= MAX_GROUP_LEN)
            .collect(),
    )
}

impl Identity {
    pub fn from_claims(sub: &str, claims: &Map<String, Value>, groups_claim: &str) -> Self {
        let overage = claims
            .get("_claim_names")
            .and_then(Value::as_object)
            .is_some_and(|names| names.contains_key(groups_claim))
            || claims.get("hasgroups").is_some_and(|v| v == &Value::Bool(true));
        Identity {
            sub: sub.to_string(),
            email: text(claims, "email"),
            email_verified: claims.get("email_verified").map(verified),
            name: text(claims, "name"),
            given_name: text(claims, "given_name"),
            family_name: text(claims, "family_name"),
            preferred_username: text(claims, "preferred_username"),
            oid: text(claims, "oid"),
            groups: claims.get(groups_claim).and_then(groups),
            overage,
            sid: text(claims, "sid").filter(|s| s.len() <= MAX_SID_LEN),
            session_expiry: super::verify::int_claim(claims, "session_expiry"),
        }
    }

    /// OIDC Core 5.4: scope claims may come only from userinfo.
    pub fn needs_userinfo(&self) -> bool {
        self.email.is_none() || self.name.is_none() || (self.groups.is_none() && !self.overage)
    }

    /// Fill what the ID token lacked from userinfo; an email and its
    /// `email_verified` always come from the same source.
    pub fn merge_userinfo(&mut self, ui: &Map<String, Value>, groups_claim: &str) {
        let other = Identity::from_claims(&self.sub, ui, groups_claim);
        if self.email.is_none() && other.email.is_some() {
            self.email = other.email;
            self.email_verified = other.email_verified;
        }
        let fill = |mine: &mut Option<String>, theirs: Option<String>| {
            if mine.is_none() {
                *mine = theirs;
            }
        };
        fill(&mut self.name, other.name);
        fill(&mut self.given_name, other.given_name);
        fill(&mut self.family_name, other.family_name);
        fill(&mut self.preferred_username, other.preferred_username);
        fill(&mut self.oid, other.oid);
        if self.groups.is_none() && !self.overage {
            self.groups = other.groups;
            self.overage = other.overage;
        }
    }

    /// The facts `login::complete` needs. An email the provider says is not
    /// verified is never used to match or create a user: matching by email
    /// is refused, and otherwise the address is dropped.
    pub fn into_facts(
        self,
        org_id: &str,
        connection_id: &str,
        cfg: &OidcConfig,
    ) -> Result<LoginFacts, LoginError> {
        let match_by = cfg.login.match_by;
        let mut email = self.email;
        if self.email_verified == Some(false) {
            if match_by == MatchBy::Email {
                return Err(LoginError::EmailNotVerified { email: email.unwrap_or_default() });
            }
            email = None;
        }
        // Entra: the stable id is `oid` — never `sub`, which is pairwise per
        // application — so matching by external id without one is refused.
        if match_by == MatchBy::ExternalId && self.oid.is_none() && is_entra_issuer(&cfg.issuer) {
            return Err(LoginError::Login(LoginRefused::MissingAttribute { by: MatchBy::ExternalId }));
        }
        // MatchBy::UserName compares the subject with SCIM userName: for
        // OIDC that is `preferred_username` (Okta login, Entra UPN), as `sub`
        // is an opaque id.
        // The provider's own view of its session: a logout names `sub` (never
        // preferred_username) and `sid`; `session_expiry` bounds the session.
        let idp_session = IdpSession {
            subject: Some(self.sub.clone()),
            sid: self.sid.clone(),
            not_on_or_after: self
                .session_expiry
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok()),
            ..Default::default()
        };
        let subject = match match_by {
            MatchBy::UserName => self
                .preferred_username
                .ok_or(LoginError::Login(LoginRefused::MissingAttribute { by: MatchBy::UserName }))?,
            _ => self.sub,
        };
        Ok(LoginFacts {
            org_id: org_id.to_string(),
            connection_id: connection_id.to_string(),
            subject,
            external_id: self.oid,
            email,
            display_name: self.name,
            given_name: self.given_name,
            family_name: self.family_name,
            // OIDC always knows the groups here: an overage was resolved
            // through Graph (or refused) before.
            groups: Some(self.groups.unwrap_or_default()),
            match_by,
            jit: cfg.login.jit,
            idp_session,
        })
    }
}

/// Call the userinfo endpoint with the access token.
pub async fn userinfo(
    http: &HttpClient,
    url: &str,
    access_token: &str,
    sub: &str,
) -> Result<Map<String, Value>, LoginError> {
    let v = http.get_json(url, Some(access_token), MAX_BODY).await.map_err(LoginError::Userinfo)?;
    let Value::Object(m) = v else {
        return Err(LoginError::Userinfo(crate::outbound::fetch::FetchError::Json {
            url: url.to_string(),
            message: "not a JSON object".into(),
        }));
    };
    // OIDC Core 5.3.4: "The sub Claim in the UserInfo Response MUST be
    // verified to exactly match the sub Claim in the ID Token; if they do
    // not match, the UserInfo Response values MUST NOT be used."
    let got = m.get("sub").and_then(Value::as_str).unwrap_or_default();
    if got != sub {
        return Err(LoginError::UserinfoSubject { id_token: sub.to_string(), userinfo: got.to_string() });
    }
    Ok(m)
}

/// The group ids of the signed-in user, from the configured Graph endpoint.
pub async fn overage_groups(
    http: &HttpClient,
    url: &str,
    access_token: &str,
) -> Result<Vec<String>, LoginError> {
    let body = json!({"securityEnabledOnly": false});
    let answer = http.post_json(url, access_token, &body, MAX_GRAPH_BODY).await.map_err(LoginError::Graph)?;
    let Some(values) = answer.get("value").and_then(Value::as_array) else {
        return Err(LoginError::GraphAnswer { message: "no \"value\" array".into() });
    };
    values
        .iter()
        .map(|v| {
            v.as_str()
                .map(String::from)
                .ok_or_else(|| LoginError::GraphAnswer { message: format!("{v} is not a group id") })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(match_by: &str) -> OidcConfig {
        serde_json::from_value(
            json!({"issuer": "https://id.example.com", "client_id": "c", "match_by": match_by}),
        )
        .unwrap()
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn unverified_email_is_never_used() {
        let id = Identity::from_claims(
            "s",
            &claims(json!({"email": "a@x.com", "email_verified": false})),
            "groups",
        );
        assert!(matches!(
            id.clone().into_facts("o", "c", &cfg("email")),
            Err(LoginError::EmailNotVerified { .. })
        ));
        let f = id.into_facts("o", "c", &cfg("external_id")).unwrap();
        assert_eq!(f.email, None);
        for v in [json!("false"), json!(0), json!(null)] {
            let id = Identity::from_claims(
                "s",
                &claims(json!({"email": "a@x.com", "email_verified": v})),
                "groups",
            );
            assert!(id.into_facts("o", "c", &cfg("email")).is_err());
        }
        // A missing claim (Entra) is fine.
        let id = Identity::from_claims("s", &claims(json!({"email": "a@x.com"})), "groups");
        assert_eq!(id.into_facts("o", "c", &cfg("email")).unwrap().email.as_deref(), Some("a@x.com"));
        let id = Identity::from_claims(
            "s",
            &claims(json!({"email": "a@x.com", "email_verified": "true"})),
            "groups",
        );
        assert!(id.into_facts("o", "c", &cfg("email")).is_ok());
    }

    #[test]
    fn userinfo_fills_only_what_is_missing_and_keeps_email_with_its_flag() {
        let mut id = Identity::from_claims("s", &claims(json!({"name": "Ann"})), "roles");
        assert!(id.needs_userinfo());
        id.merge_userinfo(
            &claims(json!({"sub": "s", "name": "Other", "email": "a@x.com", "email_verified": false, "roles": ["r1", 7]})),
            "roles",
        );
        assert_eq!(id.name.as_deref(), Some("Ann"));
        assert_eq!(id.email_verified, Some(false));
        assert_eq!(id.groups, Some(vec!["r1".to_string(), "7".to_string()]));
    }

    #[test]
    fn entra_external_id_is_oid_never_sub() {
        let entra: OidcConfig = serde_json::from_value(json!({"issuer":
            "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0",
            "client_id": "c", "match_by": "external_id"}))
        .unwrap();
        let id = Identity::from_claims("pairwise-sub", &claims(json!({"oid": "object-id"})), "groups");
        let f = id.into_facts("o", "c", &entra).unwrap();
        assert_eq!((f.external_id.as_deref(), f.match_by), (Some("object-id"), MatchBy::ExternalId));
        let no_oid = Identity::from_claims("pairwise-sub", &claims(json!({})), "groups");
        assert_eq!(no_oid.clone().into_facts("o", "c", &entra).unwrap_err().reason(), "missing_attribute");
        // Elsewhere `sub` stands in for the external id, as before.
        assert!(no_oid.into_facts("o", "c", &cfg("external_id")).is_ok());
    }

    #[test]
    fn overage_and_user_name() {
        let id = Identity::from_claims(
            "s",
            &claims(
                json!({"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "https://x"}}}),
            ),
            "groups",
        );
        assert!(id.overage);
        assert_eq!(id.groups, None);
        let err = id.into_facts("o", "c", &cfg("user_name")).unwrap_err();
        assert_eq!(err.reason(), "missing_attribute");
        let id = Identity::from_claims(
            "s",
            &claims(json!({"preferred_username": "Ann@X.com", "oid": "g"})),
            "groups",
        );
        let f = id.into_facts("o", "c", &cfg("user_name")).unwrap();
        assert_eq!((f.subject.as_str(), f.external_id.as_deref()), ("Ann@X.com", Some("g")));
    }
}
