//! The mapping as the operator drives it: read the current document, preview
//! a new one (nothing written), apply it (stored as a new version, every user
//! of the org re-evaluated in the same transaction).

use std::collections::HashSet;

use serde::Serialize;
use serde_json::json;

use super::mapping::{self, MappingDocument};
use super::reconcile::{ActiveMapping, UserChange, active_mapping, reconcile_org};
use crate::clock;
use crate::directory::orgs::org_in;
use crate::error::Error;
use crate::store::{self, Db, Tx};

/// The current mapping of an org.
#[derive(Debug, Serialize)]
pub struct CurrentMapping {
    /// 0 when no document was ever applied (the built-in default is in force).
    pub version: i64,
    pub mapping: MappingDocument,
}

/// The outcome of an apply.
#[derive(Debug, Serialize)]
pub struct Applied {
    pub version: i64,
    pub mapping: MappingDocument,
    pub changes: Vec<UserChange>,
}

/// Parse a JSON mapping document; parse failures are 422 with the field path.
pub fn parse_document(json_text: &[u8]) -> Result<MappingDocument, Error> {
    mapping::parse_json(json_text).map_err(|e| Error::invalid("mapping", e.to_string()))
}

fn validated(conn: &Tx<'_>, org_id: &str, doc: &MappingDocument) -> Result<(), Error> {
    let known: HashSet<String> =
        store::orgs::list_projects(conn, org_id)?.into_iter().map(|p| p.slug).collect();
    mapping::validate(doc, &known).map_err(|issues| Error::InvalidDocument { issues })
}

pub async fn get(db: &Db, org: &str) -> Result<CurrentMapping, Error> {
    let org = org.to_string();
    db.read(move |c| {
        let org = org_in(c, &org)?;
        let m = active_mapping(c, &org.id)?;
        Ok(CurrentMapping { version: m.version, mapping: m.doc })
    })
    .await
}

/// What applying `doc` would change; nothing is written (runs on a read connection).
pub async fn preview(db: &Db, org: &str, doc: MappingDocument) -> Result<Vec<UserChange>, Error> {
    let org = org.to_string();
    db.read(move |c| {
        let org = org_in(c, &org)?;
        validated(c, &org.id, &doc)?;
        let current = active_mapping(c, &org.id)?;
        reconcile_org(c, &org.id, &ActiveMapping::new(current.version + 1, doc), "preview", false)
    })
    .await
}

/// Store `doc` as the org's next mapping version and re-evaluate everyone, in one transaction.
pub async fn apply(db: &Db, actor: &str, org: &str, doc: MappingDocument) -> Result<Applied, Error> {
    let (actor, org) = (actor.to_string(), org.to_string());
    db.write(move |tx| {
        let org = org_in(tx, &org)?;
        validated(tx, &org.id, &doc)?;
        let text = serde_json::to_string(&doc).map_err(store::StoreError::from)?;
        let now = clock::now_str();
        let version = store::mappings::insert_next(tx, &org.id, &text, &now, &actor)?;
        let active = ActiveMapping::new(version, doc);
        let changes = reconcile_org(tx, &org.id, &active, &actor, true)?;
        store::audit::append(
            tx,
            &now,
            crate::audit::Event {
                org_id: Some(&org.id),
                actor: &actor,
                action: crate::audit::AuditAction::MappingApply,
                target: &format!("mapping:{version}"),
                detail: json!({"version": version, "changes": changes.len(), "mapping": active.doc}),
            },
        )?;
        Ok(Applied { version, mapping: active.doc, changes })
    })
    .await
}
