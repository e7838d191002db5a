//! SCIM Bulk (RFC 7644 §3.7): operations run in order, each as its own
//! request through the same domain functions; `bulkId:` references in paths
//! and data resolve to the ids of resources created earlier in the request;
//! `failOnErrors` stops after that many errors.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::error::ScimError;
use super::query::ListParams;
use super::schema::BULK_MAX_OPERATIONS;
use super::users::Ctx;
use super::{groups, patching, users};
use crate::store::Db;

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

fn resolve(v: &mut Value, ids: &HashMap<String, String>) -> Result<(), String> {
    match v {
        Value::String(s) => {
            if let Some(b) = s.strip_prefix("bulkId:") {
                *s = ids.get(b).cloned().ok_or_else(|| format!("unresolved reference bulkId:{b}"))?;
            }
        }
        Value::Array(a) => a.iter_mut().try_for_each(|x| resolve(x, ids))?,
        Value::Object(o) => o.values_mut().try_for_each(|x| resolve(x, ids))?,
        _ => {}
    }
    Ok(())
}

fn error_body(e: &ScimError) -> Value {
    let mut b = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                       "status": e.status.as_u16().to_string(), "detail": e.detail});
    if let Some(t) = e.scim_type {
        b["scimType"] = json!(t);
    }
    b
}

/// One operation: (status, location, version, id of a created resource).
async fn one(
    db: &Db,
    ctx: &Ctx,
    method: &str,
    path: &str,
    data: Value,
) -> Result<(u16, Option<String>, Option<i64>, Option<String>), ScimError> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let loc = |kind: &str, id: &str| format!("{}/{kind}/{id}", ctx.base);
    match (method, parts.as_slice()) {
        ("POST", ["Users"]) => {
            let (v, ver) = users::create(db, ctx, data).await?;
            let id = v["id"].as_str().unwrap_or_default().to_string();
            Ok((201, Some(loc("Users", &id)), Some(ver), Some(id)))
        }
        ("POST", ["Groups"]) => {
            let (v, ver) = groups::create(db, ctx, data).await?;
            let id = v["id"].as_str().unwrap_or_default().to_string();
            Ok((201, Some(loc("Groups", &id)), Some(ver), Some(id)))
        }
        ("PUT", ["Users", id]) => {
            let (_, ver) = users::replace(db, ctx, id, data, None).await?;
            Ok((200, Some(loc("Users", id)), Some(ver), None))
        }
        ("PUT", ["Groups", id]) => {
            let (_, ver) = groups::replace(db, ctx, id, data, None).await?;
            Ok((200, Some(loc("Groups", id)), Some(ver), None))
        }
        ("PATCH", ["Users", id]) => {
            let (_, ver) = patching::patch_user(db, ctx, id, data, None).await?;
            Ok((200, Some(loc("Users", id)), Some(ver), None))
        }
        ("PATCH", ["Groups", id]) => {
            let p =
                ListParams { excluded: vec![super::filter::AttrPath::new("members")], ..Default::default() };
            let (_, ver) = patching::patch_group(db, ctx, id, data, None, p).await?;
            Ok((200, Some(loc("Groups", id)), Some(ver), None))
        }
        ("DELETE", ["Users", id]) => {
            users::delete(db, ctx, id, None).await?;
            Ok((204, Some(loc("Users", id)), None, None))
        }
        ("DELETE", ["Groups", id]) => {
            groups::delete(db, ctx, id, None).await?;
            Ok((204, Some(loc("Groups", id)), None, None))
        }
        _ => Err(ScimError::bad("invalidPath", format!("unsupported bulk operation {method} {path}"))),
    }
}

pub async fn run(db: &Db, ctx: &Ctx, body: Value) -> Result<Value, ScimError> {
    let schemas_ok = body["schemas"].as_array().is_some_and(|a| a.iter().any(|s| s == BULK_REQUEST));
    if !schemas_ok {
        return Err(ScimError::bad("invalidSyntax", format!("schemas must include {BULK_REQUEST}")));
    }
    let ops = body["Operations"]
        .as_array()
        .ok_or_else(|| ScimError::bad("invalidSyntax", "Operations is required"))?;
    if ops.len() > BULK_MAX_OPERATIONS {
        return Err(ScimError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("tooMany"),
            format!("{} operations; at most {BULK_MAX_OPERATIONS}", ops.len()),
        ));
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
            (Err(e), _) | (_, Err(e)) => Err(ScimError::new(StatusCode::CONFLICT, Some("invalidValue"), e)),
        };
        let mut entry = json!({"method": method});
        if let Some(b) = &bulk_id {
            entry["bulkId"] = json!(b);
        }
        match result {
            Ok((status, location, version, created)) => {
                if let (Some(b), Some(id)) = (&bulk_id, created) {
                    ids.insert(b.clone(), id);
                }
                entry["status"] = json!(status.to_string());
                if let Some(l) = location {
                    entry["location"] = json!(l);
                }
                if let Some(v) = version {
                    entry["version"] = json!(super::resource::etag(v));
                }
            }
            Err(e) => {
                errors += 1;
                entry["status"] = json!(e.status.as_u16().to_string());
                entry["response"] = error_body(&e);
            }
        }
        out.push(entry);
        if fail_on.is_some_and(|n| errors >= n) {
            break;
        }
    }
    Ok(json!({"schemas": [BULK_RESPONSE], "Operations": out}))
}
