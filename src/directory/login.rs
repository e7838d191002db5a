//! The facts of a sign-in: which user of the org a validated login is (matched by the
//! connection's rule, or created just in time), whether that person may sign in as
//! far as the directory knows (active, not the twin of a provisioned user), the
//! adoption of an operator-made user by the IdP, and the group values the IdP
//! asserted. Roles are not decided here: `session::login` asks access/ afterwards.

use serde_json::json;

use crate::audit::{self, AuditAction};
use crate::directory::orgs::new_id;
use crate::directory::{Email, LoginFacts, MatchBy, Origin, User};
use crate::error::Error;
use crate::store::{self, StoreError, Tx};

/// Why the directory cannot let a sign-in through (`session::login::LoginRefused`
/// carries each variant on unchanged).
#[derive(Debug, thiserror::Error)]
pub enum SignInRefused {
    /// No user matches and just-in-time creation is off.
    #[error("no user matches {by:?} {key:?} and just-in-time provisioning is off")]
    NoSuchUser { by: MatchBy, key: String },
    /// The IdP did not assert the attribute the connection matches on.
    #[error("the identity provider did not send the {by:?} attribute needed to match the user")]
    MissingAttribute { by: MatchBy },
    /// The user was deactivated (SCIM active=false).
    #[error("user {user_id} is deactivated")]
    Inactive { user_id: String },
    /// Nobody matched by the connection's rule, but a SCIM-provisioned user holds the
    /// asserted address: a just-in-time twin would outlive that user's deprovisioning.
    #[error(
        "no user matches {by:?}, and SCIM-provisioned user {user_id} holds the asserted address {email:?}"
    )]
    ProvisionedMismatch { by: MatchBy, user_id: String, email: String },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] Error),
}

impl From<StoreError> for SignInRefused {
    fn from(e: StoreError) -> Self {
        SignInRefused::Store(e.into())
    }
}

fn find_user(conn: &Tx<'_>, f: &LoginFacts) -> Result<Option<User>, SignInRefused> {
    let missing = || SignInRefused::MissingAttribute { by: f.match_by };
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
fn refuse_twin_of_provisioned(conn: &Tx<'_>, f: &LoginFacts) -> Result<(), SignInRefused> {
    let Some(email) = f.email.as_deref().map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()) else {
        return Ok(());
    };
    match store::users::by_email(conn, &f.org_id, &email)? {
        Some(u) if u.origin == Origin::Scim => {
            Err(SignInRefused::ProvisionedMismatch { by: f.match_by, user_id: u.id.into(), email })
        }
        _ => Ok(()),
    }
}

fn create_user(conn: &Tx<'_>, f: &LoginFacts, now: &str) -> Result<User, SignInRefused> {
    let email = f.email.as_deref().and_then(|e| Email::parse(e).ok()).map(|e| e.as_str().to_string());
    let user_name = match f.match_by {
        MatchBy::Email => email.clone().ok_or(SignInRefused::MissingAttribute { by: MatchBy::Email })?,
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
        attributes: "{}".into(),
        version: 1,
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
) -> Result<(), SignInRefused> {
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

/// The user a validated sign-in is: matched by the connection's rule, else created
/// just in time (when the connection allows it and no provisioned twin holds the
/// address); refused when nobody matches or the user is deactivated. An
/// operator-made user is adopted by the IdP. Runs inside the login's write job.
pub fn match_user(conn: &Tx<'_>, facts: &LoginFacts, actor: &str, now: &str) -> Result<User, SignInRefused> {
    let mut user = match find_user(conn, facts)? {
        Some(u) => u,
        None if facts.jit => {
            refuse_twin_of_provisioned(conn, facts)?;
            create_user(conn, facts, now)?
        }
        None => {
            let key = match facts.match_by {
                MatchBy::Email => facts.email.clone().unwrap_or_default(),
                MatchBy::ExternalId => facts.external_id.clone().unwrap_or_else(|| facts.subject.clone()),
                MatchBy::UserName => facts.subject.clone(),
            };
            return Err(SignInRefused::NoSuchUser { by: facts.match_by, key });
        }
    };
    if !user.active {
        return Err(SignInRefused::Inactive { user_id: user.id.into() });
    }
    adopt_if_manual(conn, &mut user, facts, actor, now)?;
    Ok(user)
}

/// Record the group values the IdP asserted for `user` through the login's
/// connection. Groups unknown (`None`, overage): the last known facts of this
/// connection are kept rather than access dropped silently; returns how many were
/// kept (`None` when the asserted groups were recorded).
pub fn record_claim_groups(conn: &Tx<'_>, user: &User, facts: &LoginFacts) -> Result<Option<usize>, Error> {
    Ok(match &facts.groups {
        Some(groups) => {
            store::users::set_claim_groups(conn, &user.id, &facts.connection_id, groups)?;
            None
        }
        None => Some(store::users::keep_claim_groups_of(conn, &user.id, &facts.connection_id)?),
    })
}
