//! Typed constructors for the change events of docs/events.md, each appending
//! one row to the outbox (`store::events::append`) on the caller's write
//! transaction: the event commits with its change or not at all.
//!
//! `member.*` and `collaborator.*` describe a change of one grant of one
//! source (`mapping` or `manual`): `role` is the grant's new role (null when
//! removed), `previous_role` its old one (null when added).

use serde_json::{Value, json};

use crate::clock;
use crate::model::Role;
use crate::store::{self, StoreError, Tx};

/// Which kind of grant changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Owned by the org's mapping (SCIM groups, SSO claims).
    Mapping,
    /// Made by the operator through the admin API.
    Manual,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Mapping => "mapping",
            Source::Manual => "manual",
        }
    }
}

/// `added`, `role_changed` or `removed` for a grant going `before` → `after`;
/// `None` when nothing changed.
fn verb(before: Option<Role>, after: Option<Role>) -> Option<&'static str> {
    match (before, after) {
        (None, Some(_)) => Some("added"),
        (Some(b), Some(a)) if a != b => Some("role_changed"),
        (Some(_), None) => Some("removed"),
        _ => None,
    }
}

fn write(conn: &Tx<'_>, org_id: &str, kind: &str, data: Value) -> Result<(), StoreError> {
    store::events::append(conn, org_id, kind, &clock::now_str(), &data)?;
    Ok(())
}

/// One org grant of `source` changed: `member.added`, `.role_changed` or `.removed`.
pub fn member(
    conn: &Tx<'_>,
    org_id: &str,
    user_id: &str,
    email: Option<&str>,
    (before, after): (Option<Role>, Option<Role>),
    source: Source,
) -> Result<(), StoreError> {
    let Some(v) = verb(before, after) else { return Ok(()) };
    let data = json!({
        "user_id": user_id, "email": email, "role": after, "previous_role": before,
        "source": source.as_str(),
    });
    write(conn, org_id, &format!("member.{v}"), data)
}

/// One project grant of `source` changed: `collaborator.added`, `.role_changed`
/// or `.removed`. `external` is computed here: the user holds no org grant.
#[allow(clippy::too_many_arguments)]
pub fn collaborator(
    conn: &Tx<'_>,
    org_id: &str,
    project: &str,
    user_id: &str,
    email: Option<&str>,
    (before, after): (Option<Role>, Option<Role>),
    source: Source,
) -> Result<(), StoreError> {
    let Some(v) = verb(before, after) else { return Ok(()) };
    let external = store::grants::stored_roles(conn, user_id)?.org.is_none();
    let data = json!({
        "project": project, "user_id": user_id, "email": email, "role": after,
        "previous_role": before, "source": source.as_str(), "external": external,
    });
    write(conn, org_id, &format!("collaborator.{v}"), data)
}

/// Why a user lost all access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deprovision {
    ScimDelete,
    ScimDeactivated,
    NoRole,
    IdpSignal,
}

impl Deprovision {
    pub fn as_str(self) -> &'static str {
        match self {
            Deprovision::ScimDelete => "scim_delete",
            Deprovision::ScimDeactivated => "scim_deactivated",
            Deprovision::NoRole => "no_role",
            Deprovision::IdpSignal => "idp_signal",
        }
    }
}

/// `user.deprovisioned`.
pub fn user_deprovisioned(
    conn: &Tx<'_>,
    org_id: &str,
    user_id: &str,
    email: Option<&str>,
    reason: Deprovision,
) -> Result<(), StoreError> {
    let data = json!({"user_id": user_id, "email": email, "reason": reason.as_str()});
    write(conn, org_id, "user.deprovisioned", data)
}

/// `session.revoked`: one per user and cause (not per session). Reasons:
/// `no_role`, `scim_delete`, `scim_deactivated`, `connection_deleted`,
/// `idp_logout`, `idp_signal`, `logout`.
pub fn session_revoked(conn: &Tx<'_>, org_id: &str, user_id: &str, reason: &str) -> Result<(), StoreError> {
    write(conn, org_id, "session.revoked", json!({"user_id": user_id, "reason": reason}))
}

/// `session.revoked` for each user in `users` (already distinct).
pub fn sessions_revoked(
    conn: &Tx<'_>,
    org_id: &str,
    users: &[String],
    reason: &str,
) -> Result<(), StoreError> {
    users.iter().try_for_each(|u| session_revoked(conn, org_id, u, reason))
}

/// `api_key.revoked` for each key in `keys`. Reasons: `deleted`, `no_role`,
/// `scim_delete`, `scim_deactivated`, `idp_signal`.
pub fn api_keys_revoked(
    conn: &Tx<'_>,
    org_id: &str,
    keys: &[store::api_keys::RevokedKey],
    reason: &str,
) -> Result<(), StoreError> {
    for k in keys {
        let data = json!({"project": k.project, "key_id": k.id, "user_id": k.user_id, "reason": reason});
        write(conn, org_id, "api_key.revoked", data)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_follow_the_grant() {
        assert_eq!(verb(None, Some(Role::Member)), Some("added"));
        assert_eq!(verb(Some(Role::Member), Some(Role::Admin)), Some("role_changed"));
        assert_eq!(verb(Some(Role::Admin), None), Some("removed"));
        assert_eq!(verb(Some(Role::Admin), Some(Role::Admin)), None);
        assert_eq!(verb(None, None), None);
    }
}
