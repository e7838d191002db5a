//! SCIM Bulk (RFC 7644 §3.7): operations run in order, each as its own
//! request through the same domain functions; `bulkId:` references in paths
//! and data resolve to the ids of resources created earlier in the request;
//! `failOnErrors` stops after that many errors.

use std::collections::HashMap;

use serde_json::Value;

use super::error::ScimError;
use super::groups::Groups;
use super::pipeline::{self, Ctx, Resource};
use super::query::ListParams;
use super::schema::BULK_MAX_OPERATIONS;
use super::users::Users;
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

fn unsupported(method: &str, path: &str) -> ScimError {
    ScimError::BulkUnsupported { method: method.to_string(), path: path.to_string() }
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
    match parts.as_slice() {
        [endpoint, rest @ ..] if *endpoint == Users::ENDPOINT => {
            on::<Users>(db, ctx, (method, path), rest, data).await
        }
        [endpoint, rest @ ..] if *endpoint == Groups::ENDPOINT => {
            on::<Groups>(db, ctx, (method, path), rest, data).await
        }
        _ => Err(unsupported(method, path)),
    }
}

/// One operation on a resource of type `R`, through the same pipeline as
/// the endpoint's own requests (no If-Match in Bulk).
async fn on<R: Resource>(
    db: &Db,
    ctx: &Ctx,
    (method, path): (&str, &str),
    rest: &[&str],
    data: Value,
) -> Result<(Applied, Option<String>), ScimError> {
    let loc = |id: &str| Some(format!("{}/{}/{id}", ctx.base, R::ENDPOINT));
    let applied = |done, location, version| Applied { done, location, version };
    match (method, rest) {
        ("POST", []) => {
            let (v, ver) = pipeline::create::<R>(db, ctx, data).await?;
            let id = v["id"].as_str().unwrap_or_default().to_string();
            Ok((applied(Done::Created, loc(&id), Some(ver)), Some(id)))
        }
        ("PUT", [id]) => {
            let (_, ver) = pipeline::replace::<R>(db, ctx, id, data, None).await?;
            Ok((applied(Done::Updated, loc(id), Some(ver)), None))
        }
        ("PATCH", [id]) => {
            // The answer is not sent: a group's members are not loaded for it.
            let p =
                ListParams { excluded: vec![super::filter::AttrPath::new("members")], ..Default::default() };
            let (_, ver) = pipeline::patch::<R>(db, ctx, id, data, None, p).await?;
            Ok((applied(Done::Updated, loc(id), Some(ver)), None))
        }
        ("DELETE", [id]) => {
            pipeline::delete::<R>(db, ctx, id, None).await?;
            Ok((applied(Done::Deleted, loc(id), None), None))
        }
        _ => Err(unsupported(method, path)),
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
