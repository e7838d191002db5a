//! SCIM 2.0 HTTP surface under `/scim/v2/{org}` (RFC 7644): Users, Groups,
//! discovery endpoints and Bulk. Handlers extract the client and inputs and
//! call one domain function each; Users and Groups share one set of generic
//! handlers over the resource pipeline (pipeline.rs).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::Value;

use super::auth::{MAX_BODY, ScimClient};
use super::bulk;
use super::error::ScimError;
use super::groups::Groups;
use super::pipeline::{self, Ctx, Resource};
use super::query::{ListParams, list_response, parse_params};
use super::resource::etag;
use super::schema;
use super::users::Users;
use super::wire::{ScimJson, bulk_response, scim_response};
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

async fn scim_resources_get<R: Resource>(
    State(s): State<AppState>,
    client: ScimClient,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ScimError> {
    let list = pipeline::list::<R>(&s.db, &ctx(&s, client), params(&q)?, &s.secret_box).await?;
    Ok(scim_response(StatusCode::OK, &list, None, None))
}

async fn scim_resources_search_post<R: Resource>(
    State(s): State<AppState>,
    client: ScimClient,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let list = pipeline::list::<R>(&s.db, &ctx(&s, client), search_params(&body)?, &s.secret_box).await?;
    Ok(scim_response(StatusCode::OK, &list, None, None))
}

async fn scim_resources_post<R: Resource>(
    State(s): State<AppState>,
    client: ScimClient,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let (v, version) = pipeline::create::<R>(&s.db, &ctx(&s, client), body).await?;
    Ok(one(StatusCode::CREATED, &v, version, true))
}

async fn scim_resource_id_get<R: Resource>(
    State(s): State<AppState>,
    client: ScimClient,
    Path((_, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ScimError> {
    let p = params(&q)?;
    let (v, version) = pipeline::get::<R>(&s.db, &ctx(&s, client), &id, p).await?;
    Ok(one(StatusCode::OK, &v, version, false))
}

async fn scim_resource_id_put<R: Resource>(
    State(s): State<AppState>,
    client: ScimClient,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let (v, version) = pipeline::replace::<R>(&s.db, &ctx(&s, client), &id, body, if_match(&headers)).await?;
    Ok(one(StatusCode::OK, &v, version, false))
}

async fn scim_resource_id_patch<R: Resource>(
    State(s): State<AppState>,
    client: ScimClient,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let p = R::patch_params(&q)?;
    let (v, version) =
        pipeline::patch::<R>(&s.db, &ctx(&s, client), &id, body, if_match(&headers), p).await?;
    Ok(one(StatusCode::OK, &v, version, false))
}

async fn scim_resource_id_delete<R: Resource>(
    State(s): State<AppState>,
    client: ScimClient,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    pipeline::delete::<R>(&s.db, &ctx(&s, client), &id, if_match(&headers)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A resource type's routes: `/{R::ENDPOINT}`, `/.search` and `/{id}`.
fn resource_routes<R: Resource>(router: Router<AppState>) -> Router<AppState> {
    let base = format!("/scim/v2/{{org}}/{}", R::ENDPOINT);
    router
        .route(&base, get(scim_resources_get::<R>).post(scim_resources_post::<R>))
        .route(&format!("{base}/.search"), post(scim_resources_search_post::<R>))
        .route(
            &format!("{base}/{{id}}"),
            get(scim_resource_id_get::<R>)
                .put(scim_resource_id_put::<R>)
                .patch(scim_resource_id_patch::<R>)
                .delete(scim_resource_id_delete::<R>),
        )
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

/// Admission of every SCIM request (shed.rs) before its handler runs, so
/// before the body is read and anything is written: a 429 under overload.
async fn shed_admit(State(s): State<AppState>, req: axum::extract::Request, next: Next) -> Response {
    let queued = s.metrics.write_queue_depth();
    let slot = match s.scim_shed.admit(req.method().as_str(), req.uri().path(), queued) {
        Ok(slot) => slot,
        Err(refused) => return refused.into_response(),
    };
    let resp = next.run(req).await;
    drop(slot);
    resp
}

/// Any other path under an org's SCIM base: a SCIM 404.
async fn scim_unknown(_client: ScimClient) -> ScimError {
    ScimError::NoEndpoint
}

/// Searching several resource types at once (root `/.search`) is not offered.
async fn scim_root_search_post(_client: ScimClient) -> ScimError {
    ScimError::CrossTypeSearch
}

pub fn router(state: &AppState) -> Router<AppState> {
    let router = resource_routes::<Groups>(resource_routes::<Users>(Router::new()));
    router
        .route("/scim/v2/{org}/ServiceProviderConfig", get(scim_service_provider_config_get))
        .route("/scim/v2/{org}/ResourceTypes", get(scim_resource_types_get))
        .route("/scim/v2/{org}/ResourceTypes/{id}", get(scim_resource_type_id_get))
        .route("/scim/v2/{org}/Schemas", get(scim_schemas_get))
        .route("/scim/v2/{org}/Schemas/{id}", get(scim_schema_id_get))
        .route("/scim/v2/{org}/Bulk", post(scim_bulk_post))
        .route("/scim/v2/{org}/.search", post(scim_root_search_post))
        .route("/scim/v2/{org}/{*rest}", any(scim_unknown))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Outermost: an overloaded node refuses before the body is read (shed.rs).
        .layer(middleware::from_fn_with_state(state.clone(), shed_admit))
}
