//! The end of every SSO login: "this person, with these facts, logged in
//! through this connection" → the facts through directory/ (match or create the
//! user, record the groups the IdP asserted), then access/ (reconcile, roles), then
//! the session is issued — or the login refused.
//! A refusal is returned from inside the write job, so everything the attempt
//! wrote is rolled back: a refused login creates and changes nothing.

use std::sync::Arc;

use serde_json::json;

use super::{Issued, Sessions, token};
use crate::access::reconcile::{effective_roles, reconcile_user};
use crate::audit::{self, AuditAction};
use crate::clock;
use crate::directory::User;
use crate::directory::{self, login::SignInRefused};
use crate::error::Error;
use crate::store::sessions::SessionRow;
use crate::store::{self, Db, StoreError};

/// The sign-in data and the match rule live in model/ (the protocols, connections and
/// the directory use them); re-exported here where the protocols have always found them.
pub use crate::model::{IdpSession, LoginFacts, MatchBy};

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

/// The directory's refusals, each carried on as the same variant (same message, same reason).
impl From<SignInRefused> for LoginRefused {
    fn from(e: SignInRefused) -> Self {
        match e {
            SignInRefused::NoSuchUser { by, key } => LoginRefused::NoSuchUser { by, key },
            SignInRefused::MissingAttribute { by } => LoginRefused::MissingAttribute { by },
            SignInRefused::Inactive { user_id } => LoginRefused::Inactive { user_id },
            SignInRefused::ProvisionedMismatch { by, user_id, email } => {
                LoginRefused::ProvisionedMismatch { by, user_id, email }
            }
            SignInRefused::Store(e) => LoginRefused::Store(e),
        }
    }
}

impl From<StoreError> for LoginRefused {
    fn from(e: StoreError) -> Self {
        LoginRefused::Store(e.into())
    }
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
        let user = directory::login::match_user(tx, &facts, &actor, &now)?;
        let kept = directory::login::record_claim_groups(tx, &user, &facts)?;
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
