//! Reading the outbox of one org in id order: the pull API
//! (`GET /admin/v1/orgs/{org}/events`) and `idbridge events tail`.

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::store::{self, Db};

/// Largest page one read returns (the admin API bounds `limit` to it too).
pub const MAX_LIMIT: u32 = 1000;

/// One event as consumers see it (docs/events.md).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Event {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub at: String,
    /// The org's slug.
    pub org: String,
    pub data: Value,
}

/// Events of the org with slug `org` after id `after`, oldest first, at most `limit`.
pub async fn after(db: &Db, org: &str, after: i64, limit: u32) -> Result<Vec<Event>, Error> {
    let org = org.to_string();
    db.read(move |c| {
        // The outbox sits below the directory: the org is looked up in the store directly.
        let org = store::orgs::org_by_slug(c, &org)?.ok_or_else(|| Error::not_found("org", &org))?;
        let rows = store::events::list_after(c, &org.id, after.max(0), limit.clamp(1, MAX_LIMIT))?;
        Ok(rows
            .into_iter()
            .map(|e| Event { id: e.id, kind: e.kind, at: e.at, org: org.slug.clone(), data: e.data })
            .collect())
    })
    .await
}
