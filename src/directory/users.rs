//! Users as facts of the org, written by its IdP: the SCIM client creates,
//! replaces, adopts and deletes them (a sign-in creates them just in time,
//! through the same insert). What a change means for access (reconciliation,
//! deprovisioning) is the caller's; this module only states the facts.

use crate::directory::orgs::new_id;
use crate::error::Error;
use crate::model::Origin;
use crate::store::Tx;
use crate::store::scim as st;
use crate::store::users::{self, UserFacts};

/// A new user of the org, vouched for by `origin`; returns its id.
pub fn create(
    tx: &Tx<'_>,
    org_id: &str,
    origin: Origin,
    facts: &UserFacts,
    now: &str,
) -> Result<String, Error> {
    let id = new_id();
    users::insert_facts(tx, org_id, &id, origin, facts, (now, now))?;
    Ok(id)
}

/// An existing row (origin `from`: operator-made or just in time) becomes the
/// user `origin` states, with these facts; same id, so sessions, grants and
/// claim facts stay.
pub fn adopt(
    tx: &Tx<'_>,
    org_id: &str,
    id: &str,
    from: Origin,
    origin: Origin,
    facts: &UserFacts,
    now: &str,
) -> Result<(), Error> {
    users::take_over(tx, org_id, id, from, origin, now)?;
    st::replace_user(tx, org_id, id, facts, now)?;
    Ok(())
}

/// Replace a user's facts (bumping its version); then, when it was a
/// just-in-time row, it is SCIM-managed from here on: true if it was.
pub fn replace(tx: &Tx<'_>, org_id: &str, id: &str, facts: &UserFacts, now: &str) -> Result<bool, Error> {
    st::replace_user(tx, org_id, id, facts, now)?;
    Ok(users::take_over(tx, org_id, id, Origin::Sso, Origin::Scim, now)?)
}

/// SCIM DELETE: the user leaves every group; the row stays (inactive, hidden
/// from SCIM, userName and externalId freed) for manual grants and the audit trail.
pub fn remove(tx: &Tx<'_>, org_id: &str, id: &str, now: &str) -> Result<(), Error> {
    st::remove_user_from_all_groups(tx, id)?;
    st::soft_delete_user(tx, org_id, id, now)?;
    Ok(())
}
