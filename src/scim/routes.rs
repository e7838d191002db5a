//! SCIM 2.0 HTTP surface under `/scim/v2/{org}` (RFC 7644): Users, Groups,
//! discovery endpoints and Bulk. Handlers extract the client and inputs and
//! call one domain function each.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::Value;

use super::auth::{MAX_BODY, ScimClient};
use super::error::ScimError;
use super::query::{ListParams, list_response, parse_params, project};
use super::resource::etag;
use super::schema;
use super::users::Ctx;
use super::wire::{ScimJson, bulk_response, scim_response};
use super::{bulk, groups, patching, users};
use crate::http::AppState;

fn ctx(s: &AppState, client: ScimClient) -> Ctx {
    let base = format!("{}/scim/v2/{}", s.public_url, client.org_slug);
    Ctx { client, base }
}

fn if_match(h: &HeaderMap) -> Option<String> {
    h.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(String::from)
}

fn params(q: &HashMap<String, String>) -> Result<ListParams, ScimError> {
    parse_params(q)
}

/// A /.search body: the same parameters as the query string (RFC 7644 §3.4.3).
fn search_params(body: &Value) -> Result<ListParams, ScimError> {
    let mut raw = HashMap::new();
    if let Some(o) = body.as_object() {
        for (k, v) in o {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
                _ => continue,
            };
            raw.insert(k.clone(), s);
        }
    }
    parse_params(&raw)
}

fn one(status: StatusCode, v: &Value, version: i64, location: bool) -> Response {
    let loc = if location { v["meta"]["location"].as_str().map(String::from) } else { None };
    scim_response(status, v, Some(&etag(version)), loc.as_deref())
}

async fn scim_users_get(
    State(s): State<AppState>,
    client: ScimClient,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ScimError> {
    let list = users::list(&s.db, &ctx(&s, client), params(&q)?).await?;
    Ok(scim_response(StatusCode::OK, &list, None, None))
}

async fn scim_users_search_post(
    State(s): State<AppState>,
    client: ScimClient,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let list = users::list(&s.db, &ctx(&s, client), search_params(&body)?).await?;
    Ok(scim_response(StatusCode::OK, &list, None, None))
}

async fn scim_users_post(
    State(s): State<AppState>,
    client: ScimClient,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let (v, version) = users::create(&s.db, &ctx(&s, client), body).await?;
    Ok(one(StatusCode::CREATED, &v, version, true))
}

async fn scim_user_id_get(
    State(s): State<AppState>,
    client: ScimClient,
    Path((_, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ScimError> {
    let p = params(&q)?;
    let (v, version) = users::get(&s.db, &ctx(&s, client), &id).await?;
    Ok(one(StatusCode::OK, &project(v, &p.attributes, &p.excluded), version, false))
}

async fn scim_user_id_put(
    State(s): State<AppState>,
    client: ScimClient,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let (v, version) = users::replace(&s.db, &ctx(&s, client), &id, body, if_match(&headers)).await?;
    Ok(one(StatusCode::OK, &v, version, false))
}

async fn scim_user_id_patch(
    State(s): State<AppState>,
    client: ScimClient,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let (v, version) = patching::patch_user(&s.db, &ctx(&s, client), &id, body, if_match(&headers)).await?;
    Ok(one(StatusCode::OK, &v, version, false))
}

async fn scim_user_id_delete(
    State(s): State<AppState>,
    client: ScimClient,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    users::delete(&s.db, &ctx(&s, client), &id, if_match(&headers)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn scim_groups_get(
    State(s): State<AppState>,
    client: ScimClient,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ScimError> {
    let list = groups::list(&s.db, &ctx(&s, client), params(&q)?).await?;
    Ok(scim_response(StatusCode::OK, &list, None, None))
}

async fn scim_groups_search_post(
    State(s): State<AppState>,
    client: ScimClient,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let list = groups::list(&s.db, &ctx(&s, client), search_params(&body)?).await?;
    Ok(scim_response(StatusCode::OK, &list, None, None))
}

async fn scim_groups_post(
    State(s): State<AppState>,
    client: ScimClient,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let (v, version) = groups::create(&s.db, &ctx(&s, client), body).await?;
    Ok(one(StatusCode::CREATED, &v, version, true))
}

async fn scim_group_id_get(
    State(s): State<AppState>,
    client: ScimClient,
    Path((_, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ScimError> {
    let (v, version) = groups::get(&s.db, &ctx(&s, client), &id, params(&q)?).await?;
    Ok(one(StatusCode::OK, &v, version, false))
}

async fn scim_group_id_put(
    State(s): State<AppState>,
    client: ScimClient,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let (v, version) = groups::replace(&s.db, &ctx(&s, client), &id, body, if_match(&headers)).await?;
    Ok(one(StatusCode::OK, &v, version, false))
}

async fn scim_group_id_patch(
    State(s): State<AppState>,
    client: ScimClient,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let p = params(&q)?;
    let (v, version) =
        patching::patch_group(&s.db, &ctx(&s, client), &id, body, if_match(&headers), p).await?;
    Ok(one(StatusCode::OK, &v, version, false))
}

async fn scim_group_id_delete(
    State(s): State<AppState>,
    client: ScimClient,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    groups::delete(&s.db, &ctx(&s, client), &id, if_match(&headers)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn scim_service_provider_config_get(State(s): State<AppState>, client: ScimClient) -> Response {
    let c = ctx(&s, client);
    scim_response(StatusCode::OK, &schema::service_provider_config(&c.base), None, None)
}

fn list_of(items: Vec<Value>) -> Value {
    list_response(items.len() as i64, 1, items)
}

async fn scim_resource_types_get(State(s): State<AppState>, client: ScimClient) -> Response {
    let c = ctx(&s, client);
    scim_response(StatusCode::OK, &list_of(schema::resource_types(&c.base)), None, None)
}

async fn scim_resource_type_id_get(
    State(s): State<AppState>,
    client: ScimClient,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ScimError> {
    let c = ctx(&s, client);
    let found = schema::resource_types(&c.base).into_iter().find(|r| r["id"] == id.as_str());
    found
        .map(|v| scim_response(StatusCode::OK, &v, None, None))
        .ok_or_else(|| ScimError::not_found("ResourceType", id))
}

async fn scim_schemas_get(State(s): State<AppState>, client: ScimClient) -> Response {
    let c = ctx(&s, client);
    scim_response(StatusCode::OK, &list_of(schema::schemas(&c.base)), None, None)
}

async fn scim_schema_id_get(
    State(s): State<AppState>,
    client: ScimClient,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ScimError> {
    let c = ctx(&s, client);
    let found = schema::schemas(&c.base).into_iter().find(|r| r["id"] == id.as_str());
    found
        .map(|v| scim_response(StatusCode::OK, &v, None, None))
        .ok_or_else(|| ScimError::not_found("Schema", id))
}

async fn scim_bulk_post(
    State(s): State<AppState>,
    client: ScimClient,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let out = bulk::run(&s.db, &ctx(&s, client), body).await?;
    Ok(scim_response(StatusCode::OK, &bulk_response(out), None, None))
}

/// Any other path under an org's SCIM base: a SCIM 404.
async fn scim_unknown(_client: ScimClient) -> ScimError {
    ScimError::NoEndpoint
}

/// Searching several resource types at once (root `/.search`) is not offered.
async fn scim_root_search_post(_client: ScimClient) -> ScimError {
    ScimError::CrossTypeSearch
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/scim/v2/{org}/Users", get(scim_users_get).post(scim_users_post))
        .route("/scim/v2/{org}/Users/.search", post(scim_users_search_post))
        .route(
            "/scim/v2/{org}/Users/{id}",
            get(scim_user_id_get).put(scim_user_id_put).patch(scim_user_id_patch).delete(scim_user_id_delete),
        )
        .route("/scim/v2/{org}/Groups", get(scim_groups_get).post(scim_groups_post))
        .route("/scim/v2/{org}/Groups/.search", post(scim_groups_search_post))
        .route(
            "/scim/v2/{org}/Groups/{id}",
            get(scim_group_id_get)
                .put(scim_group_id_put)
                .patch(scim_group_id_patch)
                .delete(scim_group_id_delete),
        )
        .route("/scim/v2/{org}/ServiceProviderConfig", get(scim_service_provider_config_get))
        .route("/scim/v2/{org}/ResourceTypes", get(scim_resource_types_get))
        .route("/scim/v2/{org}/ResourceTypes/{id}", get(scim_resource_type_id_get))
        .route("/scim/v2/{org}/Schemas", get(scim_schemas_get))
        .route("/scim/v2/{org}/Schemas/{id}", get(scim_schema_id_get))
        .route("/scim/v2/{org}/Bulk", post(scim_bulk_post))
        .route("/scim/v2/{org}/.search", post(scim_root_search_post))
        .route("/scim/v2/{org}/{*rest}", any(scim_unknown))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}
