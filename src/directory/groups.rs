//! Groups and memberships as facts of the org, written by its SCIM client.
//! Membership changes cost O(change): only the rows that change are written.
//! Who must be reconciled afterwards is the caller's decision.

use std::collections::HashSet;

use crate::error::Error;
use crate::store::scim::{self as st, ScimGroupRow};
use crate::store::{StoreError, Tx};

/// Membership changes as requested by a client, applied to one group.
#[derive(Debug, Default, Clone)]
pub struct MemberOps {
    pub add: Vec<String>,
    pub remove: Vec<String>,
    /// Replace every member with these.
    pub replace_all: Option<Vec<String>>,
    pub remove_all: bool,
}

/// Why a membership change was refused (nothing is changed).
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// A member to add is longer than any user id can be.
    #[error("member value is {bytes} bytes; at most {max}")]
    TooLong { bytes: usize, max: usize },
    /// A member to add is not a live user of the org.
    #[error("member {id:?} is not a user of this organization")]
    NotAUser { id: String },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new group of the org.
pub fn create(tx: &Tx<'_>, org_id: &str, row: &ScimGroupRow) -> Result<(), Error> {
    Ok(st::insert_group(tx, org_id, row)?)
}

/// Replace a group's displayName, externalId and attributes (bumping its version).
pub fn update(tx: &Tx<'_>, org_id: &str, row: &ScimGroupRow, now: &str) -> Result<(), Error> {
    st::update_group(tx, org_id, row, now)?;
    Ok(())
}

/// A membership change happened: bump version and lastModified only.
pub fn touch(tx: &Tx<'_>, group_id: &str, now: &str) -> Result<(), Error> {
    Ok(st::touch_group(tx, group_id, now)?)
}

/// Delete a group; returns who were its members.
pub fn delete(tx: &Tx<'_>, org_id: &str, id: &str) -> Result<Vec<String>, Error> {
    let members = st::member_ids(tx, id)?;
    st::delete_group(tx, org_id, id)?;
    Ok(members)
}

/// Apply member changes; returns (added, removed). A member to add must be a
/// live user of the org of at most `max_bytes`; removing a non-member (even
/// a deleted user) is fine.
pub fn change_members(
    tx: &Tx<'_>,
    org_id: &str,
    group_id: &str,
    ops: &MemberOps,
    max_bytes: usize,
) -> Result<(Vec<String>, Vec<String>), MembershipError> {
    let mut add: Vec<String> = ops.add.clone();
    let mut remove: Vec<String> = ops.remove.clone();
    if ops.remove_all || ops.replace_all.is_some() {
        let current = st::member_ids(tx, group_id)?;
        match &ops.replace_all {
            Some(wanted) => {
                let want: HashSet<&String> = wanted.iter().collect();
                let have: HashSet<&String> = current.iter().collect();
                remove.extend(current.iter().filter(|c| !want.contains(c)).cloned());
                add.extend(wanted.iter().filter(|w| !have.contains(w)).cloned());
            }
            None => remove.extend(current),
        }
    }
    add.sort();
    add.dedup();
    if let Some(long) = add.iter().find(|a| a.len() > max_bytes) {
        return Err(MembershipError::TooLong { bytes: long.len(), max: max_bytes });
    }
    if !add.is_empty() {
        let live = st::live_user_ids(tx, org_id, &add)?;
        if let Some(missing) = add.iter().find(|a| !live.contains(*a)) {
            return Err(MembershipError::NotAUser { id: missing.clone() });
        }
    }
    let removed = st::remove_members(tx, group_id, &remove)?;
    let added = st::add_members(tx, group_id, &add)?;
    Ok((added, removed))
}
