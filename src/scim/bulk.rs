//! SCIM Bulk (RFC 7644 §3.7): operations run in order, each as its own
//! request through the same domain functions; `bulkId:` references in paths
//! and data resolve to the ids of resources created earlier in the request;
//! `failOnErrors` stops after that many errors.

use std::collections::HashMap;

use serde_json::Value;

use super::error::ScimError;
use super::query::ListParams;
use super::schema::BULK_MAX_OPERATIONS;
use super::users::Ctx;
use super::{groups, patching, users};
use crate::store::Db;

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// What a successful operation did (its status on the wire: 201, 200, 204).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Done {
    Created,
    Updated,
    Deleted,
}

/// A successful operation: what it did, the resource's location and version.
#[derive(Clone, Debug)]
pub struct Applied {
    pub done: Done,
    pub location: Option<String>,
    pub version: Option<i64>,
}

/// One operation of a Bulk request and how it ended.
#[derive(Debug)]
pub struct Outcome {
    pub method: String,
    pub bulk_id: Option<String>,
    pub result: Result<Applied, ScimError>,
}

fn resolve(v: &mut Value, ids: &HashMap<String, String>) -> Result<(), ScimError> {
    match v {
        Value::String(s) => {
            if let Some(b) = s.strip_prefix("bulkId:") {
                *s = ids
                    .get(b)
                    .cloned()
                    .ok_or_else(|| ScimError::BulkUnresolved { bulk_id: b.to_string() })?;
            }
        }
        Value::Array(a) => a.iter_mut().try_for_each(|x| resolve(x, ids))?,
        Value::Object(o) => o.values_mut().try_for_each(|x| resolve(x, ids))?,
        _ => {}
    }
    Ok(())
}

/// One operation: what it did, and the id of a created resource.
async fn one(
    db: &Db,
    ctx: &Ctx,
    method: &str,
    path: &str,
    data: Value,
) -> Result<(Applied, Option<String>), ScimError> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let loc = |kind: &str, id: &str| Some(format!("{}/{kind}/{id}", ctx.base));
    let applied = |done, location, version| Applied { done, location, version };
    match (method, parts.as_slice()) {
        ("POST", ["Users"]) => {
            let (v, ver) = users::create(db, ctx, data).await?;
            let id = v["id"].as_str().unwrap_or_default().to_string();
            Ok((applied(Done::Created, loc("Users", &id), Some(ver)), Some(id)))
        }
        ("POST", ["Groups"]) => {
            let (v, ver) = groups::create(db, ctx, data).await?;
            let id = v["id"].as_str().unwrap_or_default().to_string();
            Ok((applied(Done::Created, loc("Groups", &id), Some(ver)), Some(id)))
        }
        ("PUT", ["Users", id]) => {
            let (_, ver) = users::replace(db, ctx, id, data, None).await?;
            Ok((applied(Done::Updated, loc("Users", id), Some(ver)), None))
        }
        ("PUT", ["Groups", id]) => {
            let (_, ver) = groups::replace(db, ctx, id, data, None).await?;
            Ok((applied(Done::Updated, loc("Groups", id), Some(ver)), None))
        }
        ("PATCH", ["Users", id]) => {
            let (_, ver) = patching::patch_user(db, ctx, id, data, None).await?;
            Ok((applied(Done::Updated, loc("Users", id), Some(ver)), None))
        }
        ("PATCH", ["Groups", id]) => {
            let p =
                ListParams { excluded: vec![super::filter::AttrPath::new("members")], ..Default::default() };
            let (_, ver) = patching::patch_group(db, ctx, id, data, None, p).await?;
            Ok((applied(Done::Updated, loc("Groups", id), Some(ver)), None))
        }
        ("DELETE", ["Users", id]) => {
            users::delete(db, ctx, id, None).await?;
            Ok((applied(Done::Deleted, loc("Users", id), None), None))
        }
        ("DELETE", ["Groups", id]) => {
            groups::delete(db, ctx, id, None).await?;
            Ok((applied(Done::Deleted, loc("Groups", id), None), None))
        }
        _ => Err(ScimError::BulkUnsupported { method: method.to_string(), path: path.to_string() }),
    }
}

/// Run a Bulk request's operations in order; the outcome of each (the edge
/// renders the BulkResponse).
pub async fn run(db: &Db, ctx: &Ctx, body: Value) -> Result<Vec<Outcome>, ScimError> {
    let schemas_ok = body["schemas"].as_array().is_some_and(|a| a.iter().any(|s| s == BULK_REQUEST));
    if !schemas_ok {
        return Err(ScimError::syntax(format!("schemas must include {BULK_REQUEST}")));
    }
    let ops = body["Operations"].as_array().ok_or_else(|| ScimError::syntax("Operations is required"))?;
    if ops.len() > BULK_MAX_OPERATIONS {
        return Err(ScimError::TooMany { operations: ops.len(), max: BULK_MAX_OPERATIONS });
    }
    let fail_on = body["failOnErrors"].as_u64().filter(|n| *n > 0);
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    let mut errors = 0u64;
    for op in ops {
        let method = op["method"].as_str().unwrap_or("").to_ascii_uppercase();
        let bulk_id = op["bulkId"].as_str().map(String::from);
        let mut path = Value::String(op["path"].as_str().unwrap_or("").to_string());
        let mut data = op.get("data").cloned().unwrap_or(Value::Null);
        let result = match (resolve(&mut path, &ids), resolve(&mut data, &ids)) {
            (Ok(()), Ok(())) => one(db, ctx, &method, path.as_str().unwrap_or(""), data).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        let result = match result {
            Ok((applied, created)) => {
                if let (Some(b), Some(id)) = (&bulk_id, created) {
                    ids.insert(b.clone(), id);
                }
                Ok(applied)
            }
            Err(e) => {
                errors += 1;
                Err(e)
            }
        };
        out.push(Outcome { method, bulk_id, result });
        if fail_on.is_some_and(|n| errors >= n) {
            break;
        }
    }
    Ok(out)
}
