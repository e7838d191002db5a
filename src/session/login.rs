//! The end of every SSO login: "this person, with these facts, logged in
//! through this connection" → match or create the user, record the groups the
//! IdP asserted, reconcile through access/, and issue a session — or refuse.
//! A refusal is returned from inside the write job, so everything the attempt
//! wrote is rolled back: a refused login creates and changes nothing.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Issued, Sessions, token};
use crate::access::reconcile::{effective_roles, reconcile_user};
use crate::audit::{self, AuditAction};
use crate::clock;
use crate::directory::orgs::new_id;
use crate::directory::{Email, Origin, User};
use crate::error::Error;
use crate::store::sessions::SessionRow;
use crate::store::{self, Db, StoreError, Tx};

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

/// The page shown for `LoginRefused::ProvisionedMismatch` (SAML and OIDC alike).
pub const PROVISIONED_MISMATCH_PAGE: &str = "An account for your address was set up by your organization, but this \
     sign-in could not be matched to it. Ask your administrator to check how this connection matches users.";

/// Why a login was refused; `reason()` is the precise code that is logged and counted.
#[derive(Debug, thiserror::Error)]
pub enum LoginRefused {
    /// No user matches and just-in-time creation is off.
    #[error("no user matches {by:?} {key:?} and just-in-time provisioning is off")]
    NoSuchUser { by: MatchBy, key: String },
    /// The IdP did not assert the attribute the connection matches on.
    #[error("the identity provider did not send the {by:?} attribute needed to match the user")]
    MissingAttribute { by: MatchBy },
    /// The user was deactivated (SCIM active=false).
    #[error("user {user_id} is deactivated")]
    Inactive { user_id: String },
    /// The connection was deleted while the login was under way.
    #[error("connection {connection_id} no longer exists in this organization")]
    ConnectionGone { connection_id: String },
    /// Nobody matched by the connection's rule, but a SCIM-provisioned user holds the
    /// asserted address: a just-in-time twin would outlive that user's deprovisioning.
    #[error(
        "no user matches {by:?}, and SCIM-provisioned user {user_id} holds the asserted address {email:?}"
    )]
    ProvisionedMismatch { by: MatchBy, user_id: String, email: String },
    /// The mapping gives the user no role in the org or its projects.
    #[error("user {user_id} is not a member of this organization")]
    NotMember { user_id: String },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] Error),
}

impl LoginRefused {
    pub fn reason(&self) -> &'static str {
        match self {
            LoginRefused::NoSuchUser { .. } => "no_such_user",
            LoginRefused::MissingAttribute { .. } => "missing_attribute",
            LoginRefused::Inactive { .. } => "user_inactive",
            LoginRefused::ConnectionGone { .. } => "connection_deleted",
            LoginRefused::ProvisionedMismatch { .. } => "provisioned_user_mismatch",
            LoginRefused::NotMember { .. } => "not_member",
            LoginRefused::Store(_) => "internal",
        }
    }
}

impl From<StoreError> for LoginRefused {
    fn from(e: StoreError) -> Self {
        LoginRefused::Store(e.into())
    }
}

fn find_user(conn: &Tx<'_>, f: &LoginFacts) -> Result<Option<User>, LoginRefused> {
    let missing = || LoginRefused::MissingAttribute { by: f.match_by };
    match f.match_by {
        MatchBy::ExternalId => {
            let key = f.external_id.as_deref().unwrap_or(&f.subject);
            Ok(store::users::by_external_id(conn, &f.org_id, key)?)
        }
        MatchBy::UserName => Ok(store::users::by_user_name(conn, &f.org_id, &f.subject.to_lowercase())?),
        MatchBy::Email => {
            let email = f.email.as_deref().ok_or_else(missing)?;
            Ok(store::users::by_email(conn, &f.org_id, &email.trim().to_lowercase())?)
        }
    }
}

/// One person, one user: before a just-in-time user is created, no SCIM-provisioned
/// user of the org may hold the asserted email (as email or userName). Such a sign-in
/// missed that user by the connection's rule (e.g. Entra's default SCIM `externalId` is
/// the mailNickname while the connection matches the object id); a twin created now
/// would keep signing in after SCIM deactivates or deletes the provisioned user, so the
/// sign-in is refused and the operator fixes the matching (docs/mapping.md).
fn refuse_twin_of_provisioned(conn: &Tx<'_>, f: &LoginFacts) -> Result<(), LoginRefused> {
    let Some(email) = f.email.as_deref().map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()) else {
        return Ok(());
    };
    match store::users::by_email(conn, &f.org_id, &email)? {
        Some(u) if u.origin == Origin::Scim => {
            Err(LoginRefused::ProvisionedMismatch { by: f.match_by, user_id: u.id.into(), email })
        }
        _ => Ok(()),
    }
}

fn create_user(conn: &Tx<'_>, f: &LoginFacts, now: &str) -> Result<User, LoginRefused> {
    let email = f.email.as_deref().and_then(|e| Email::parse(e).ok()).map(|e| e.as_str().to_string());
    let user_name = match f.match_by {
        MatchBy::Email => email.clone().ok_or(LoginRefused::MissingAttribute { by: MatchBy::Email })?,
        _ => f.subject.clone(),
    };
    let u = User {
        id: new_id().into(),
        org_id: f.org_id.clone().into(),
        origin: Origin::Sso,
        user_name,
        external_id: match f.match_by {
            MatchBy::ExternalId => Some(f.external_id.clone().unwrap_or_else(|| f.subject.clone())),
            _ => f.external_id.clone(),
        },
        email,
        display_name: f.display_name.clone(),
        given_name: f.given_name.clone(),
        family_name: f.family_name.clone(),
        active: true,
        created_at: now.to_string(),
        updated_at: now.to_string(),
    };
    store::users::insert(conn, &u)?;
    Ok(u)
}

/// An operator-made user (an external collaborator added by email) whom the
/// org's IdP has just authenticated under the same address is adopted: the IdP
/// vouches for them from now on, so the mapping applies (docs/mapping.md).
/// Their manual grants stay. A refused login rolls the adoption back.
fn adopt_if_manual(
    conn: &Tx<'_>,
    user: &mut User,
    f: &LoginFacts,
    actor: &str,
    now: &str,
) -> Result<(), LoginRefused> {
    if user.origin != Origin::Manual || !store::users::adopt(conn, &f.org_id, &user.id, Origin::Sso, now)? {
        return Ok(());
    }
    user.origin = Origin::Sso;
    store::audit::append(
        conn,
        now,
        audit::Event {
            org_id: Some(&f.org_id),
            actor,
            action: AuditAction::UserAdopt,
            target: &format!("user:{}", user.id),
            detail: json!({"from": "manual", "origin": "sso", "connection_id": f.connection_id}),
        },
    )?;
    Ok(())
}

/// Complete a validated login: the session, or the refusal (nothing written).
pub async fn complete(
    db: &Db,
    sessions: Arc<Sessions>,
    issuer: &str,
    facts: LoginFacts,
) -> Result<(Issued, User), LoginRefused> {
    let issuer = issuer.to_string();
    db.write(move |tx| {
        let now_t = clock::now();
        let now = clock::format(now_t);
        let actor = format!("sso:{}", facts.connection_id);
        // The protocol handler loaded the connection before its own checks (for OIDC,
        // before a token exchange over the network); a deletion committed since then
        // must win, or the session would outlive its connection.
        let live = store::connections::by_id(tx, &facts.connection_id)?;
        if live.is_none_or(|c| c.org_id != facts.org_id) {
            return Err(LoginRefused::ConnectionGone { connection_id: facts.connection_id.clone() });
        }
        let mut user = match find_user(tx, &facts)? {
            Some(u) => u,
            None if facts.jit => {
                refuse_twin_of_provisioned(tx, &facts)?;
                create_user(tx, &facts, &now)?
            }
            None => {
                let key = match facts.match_by {
                    MatchBy::Email => facts.email.clone().unwrap_or_default(),
                    MatchBy::ExternalId => facts.external_id.clone().unwrap_or_else(|| facts.subject.clone()),
                    MatchBy::UserName => facts.subject.clone(),
                };
                return Err(LoginRefused::NoSuchUser { by: facts.match_by, key });
            }
        };
        if !user.active {
            return Err(LoginRefused::Inactive { user_id: user.id.into() });
        }
        adopt_if_manual(tx, &mut user, &facts, &actor, &now)?;
        // Groups unknown (overage): keep the last known facts of this
        // connection rather than drop access silently; the protocol handler
        // has logged, counted and flagged it.
        let kept = match &facts.groups {
            Some(groups) => {
                store::users::set_claim_groups(tx, &user.id, &facts.connection_id, groups)?;
                None
            }
            None => Some(store::users::keep_claim_groups_of(tx, &user.id, &facts.connection_id)?),
        };
        reconcile_user(tx, &facts.org_id, &user.id, &actor)?;
        let (org_role, projects) = effective_roles(tx, &user)?;
        if org_role.is_none() && projects.is_empty() {
            return Err(LoginRefused::NotMember { user_id: user.id.into() });
        }
        let org = store::orgs::org_by_id(tx, &facts.org_id)?
            .ok_or_else(|| Error::not_found("org", &facts.org_id))?;
        // A session never outlives the IdP's own bound on it (SAML
        // SessionNotOnOrAfter, OIDC session_expiry), nor idbridge's lifetime.
        let own = now_t + sessions.config.lifetime;
        let expires = facts.idp_session.not_on_or_after.map_or(own, |idp| idp.min(own));
        let claims = token::Claims {
            iss: issuer,
            sub: user.id.to_string(),
            aud: token::AUDIENCE.into(),
            iat: now_t.unix_timestamp(),
            nbf: now_t.unix_timestamp(),
            exp: expires.unix_timestamp(),
            jti: crate::secrets::random_hex(16),
            org: org.slug.clone(),
        };
        let signed = token::sign(&sessions.keys.ring(), &claims)
            .map_err(|e| StoreError::Setup(format!("cannot sign session: {e}")))?;
        store::sessions::insert(
            tx,
            &SessionRow {
                jti: claims.jti.clone(),
                user_id: user.id.to_string(),
                org_id: org.id.to_string(),
                connection_id: Some(facts.connection_id.clone()),
                created_at: now.clone(),
                expires_at: clock::format(expires),
                last_seen_at: now.clone(),
                revoked_at: None,
                idp: store::sessions::IdpSessionRow {
                    subject: facts.idp_session.subject.clone(),
                    session_index: facts.idp_session.session_index.clone(),
                    sid: facts.idp_session.sid.clone(),
                    data: serde_json::Value::Object(facts.idp_session.data.clone()).to_string(),
                },
            },
        )?;
        store::audit::append(
            tx,
            &now,
            audit::Event {
                org_id: Some(&org.id),
                actor: &actor,
                action: AuditAction::SessionCreate,
                target: &format!("user:{}", user.id),
                detail: match kept {
                    None => json!({"jti": claims.jti, "groups": facts.groups.as_ref().map_or(0, Vec::len)}),
                    Some(n) => json!({"jti": claims.jti, "groups_overage": true, "groups_kept": n}),
                },
            },
        )?;
        Ok((Issued { token: signed, jti: claims.jti, expires_at: clock::format(expires) }, user))
    })
    .await
}
