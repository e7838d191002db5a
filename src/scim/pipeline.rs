//! The one SCIM resource pipeline (RFC 7644 §3.3–§3.6), written once over
//! [`Resource`]: create, get, replace (If-Match), patch (If-Match, apply,
//! write like a PUT), delete (If-Match), and list/search (filter, sort,
//! paging, `attributes`/`excludedAttributes`). Users (users.rs) and Groups
//! (groups.rs) implement only what differs: how a row is loaded, rendered
//! and written, and what a change means (a user's grants and
//! deprovisioning; a group's members and who they affect). Every write runs
//! in one transaction with its reconciliation and audit; a failure changes
//! nothing.

use std::collections::HashMap;

use serde_json::Value;

use super::auth::ScimClient;
use super::cursor::{self, Cursor, Direction};
use super::error::ScimError;
use super::filter::{AttrPath, CompareOp, Filter, matches};
use super::limits::Page;
use super::patch::{PatchRequest, normalize_request};
use super::query::{ListParams, cursor_list_response, list_response, parse_params, project};
use super::resource::etag;
use super::schema::{Kind, USER_SCHEMA, case_exact};
use crate::audit::{self, AuditAction};
use crate::clock;
use crate::secrets::SecretBox;
use crate::store::scim::Streamed;
use crate::store::scim_query::{After, Cond, Paging};
use crate::store::{Db, StoreError, Tx};

/// Who is asking, and the base URL of their org's SCIM endpoint.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub client: ScimClient,
    pub base: String,
}

/// Which write replaces a stored resource (its audit action).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// PUT: the body is the new resource.
    Replace,
    /// PATCH: the current resource with the operations applied.
    Patch,
}

/// A SCIM resource type: what the pipeline needs to know of it.
pub trait Resource: Send + Sync + 'static {
    /// The resource type (`meta.resourceType`, "User not found").
    const NAME: &'static str;
    /// The endpoint under an org's SCIM base ("Users").
    const ENDPOINT: &'static str;
    /// Which schema decides case-exactness in the in-memory evaluator.
    const KIND: Kind;
    /// A stored resource.
    type Row: Send + 'static;
    /// What a write states: a normalised POST/PUT body or a patched resource.
    type Input: Send + 'static;
    /// What a listed row is rendered with (a user's groups, a group's members).
    type Related;
    /// The list query of the store.
    type Query;
    /// The columns and membership tests a filter compiles to.
    type Column;
    type Member;
    /// The store's sort order.
    type Sort;

    fn id(row: &Self::Row) -> &str;
    fn version(row: &Self::Row) -> i64;

    /// A POST/PUT body as it will be stored (refused before the writer is taken).
    fn normalize(body: Value) -> Result<Self::Input, ScimError>;
    /// The stored resource the org's client may see, if any.
    fn get_row(conn: &Tx<'_>, org_id: &str, id: &str) -> Result<Option<Self::Row>, StoreError>;
    /// The resource as answered; `related` the read-only references (groups, members).
    fn render(conn: &Tx<'_>, ctx: &Ctx, row: &Self::Row, related: bool) -> Result<Value, ScimError>;
    /// Whether a read with these parameters renders the related references.
    fn related_wanted(p: &ListParams) -> bool;
    /// The parameters a PATCH answers with (its `attributes`/`excludedAttributes`).
    fn patch_params(q: &HashMap<String, String>) -> Result<ListParams, ScimError> {
        parse_params(q)
    }
    /// A normalised PATCH request arrived (before the writer is taken).
    fn patch_received(_id: &str, _req: &PatchRequest) {}
    /// The current resource with a PATCH applied, as it will be stored.
    fn patched(
        conn: &Tx<'_>,
        ctx: &Ctx,
        before: &Self::Row,
        req: &PatchRequest,
    ) -> Result<Self::Input, ScimError>;

    /// Store a new resource with its consequences and audit; its id.
    fn write_new(tx: &Tx<'_>, ctx: &Ctx, input: Self::Input) -> Result<String, ScimError>;
    /// Store `input` over `before`, with its consequences and audit.
    fn write_replace(
        tx: &Tx<'_>,
        ctx: &Ctx,
        before: &Self::Row,
        input: Self::Input,
        change: Change,
    ) -> Result<(), ScimError>;
    /// Remove a resource, with its consequences and audit.
    fn remove(tx: &Tx<'_>, ctx: &Ctx, before: &Self::Row) -> Result<(), ScimError>;

    /// The filter as a store condition; None when only the evaluator knows a part.
    fn compile(f: &Filter) -> Option<Cond<Self::Column, Self::Member>>;
    fn sort(p: &ListParams) -> Self::Sort;
    fn query(
        cond: Cond<Self::Column, Self::Member>,
        sort: Self::Sort,
        paging: Paging,
        related: bool,
    ) -> Self::Query;
    /// Stream the rows of `q` to `visit` (false stops), each with its sort
    /// key (the value of the sort column, the position a cursor resumes after).
    fn each(
        conn: &Tx<'_>,
        org_id: &str,
        q: &Self::Query,
        visit: &mut dyn FnMut(Self::Row, Self::Related, Option<String>) -> bool,
    ) -> Result<Streamed, StoreError>;
    /// How many rows `q`'s condition selects.
    fn count(conn: &Tx<'_>, org_id: &str, q: &Self::Query) -> Result<i64, StoreError>;
    /// A listed row as answered (`related`: with its references).
    fn render_listed(base: &str, row: &Self::Row, rel: &Self::Related, related: bool) -> Value;
}

/// RFC 7644 §3.14: If-Match with a stale version → 412.
pub fn check_if_match(if_match: Option<&str>, version: i64) -> Result<(), ScimError> {
    let Some(h) = if_match else { return Ok(()) };
    let current = etag(version);
    let ok = h
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == current || t.trim_start_matches("W/") == &current[2..]);
    if ok { Ok(()) } else { Err(ScimError::PreconditionFailed { current, sent: h.to_string() }) }
}

/// Append an audit event by this SCIM client; `target` like `user:<id>`.
pub fn audit_scim(
    conn: &Tx<'_>,
    ctx: &Ctx,
    action: AuditAction,
    target: &str,
    detail: Value,
) -> Result<(), ScimError> {
    crate::store::audit::append(
        conn,
        &clock::now_str(),
        audit::Event { org_id: Some(&ctx.client.org_id), actor: &ctx.client.actor(), action, target, detail },
    )?;
    Ok(())
}

fn load<R: Resource>(conn: &Tx<'_>, ctx: &Ctx, id: &str) -> Result<R::Row, ScimError> {
    R::get_row(conn, &ctx.client.org_id, id)?.ok_or_else(|| ScimError::not_found(R::NAME, id))
}

/// The stored resource as answered, and its version.
fn rendered<R: Resource>(
    conn: &Tx<'_>,
    ctx: &Ctx,
    id: &str,
    related: bool,
) -> Result<(Value, i64), ScimError> {
    let row = load::<R>(conn, ctx, id)?;
    Ok((R::render(conn, ctx, &row, related)?, R::version(&row)))
}

/// What a write answers: the resource rendered in its transaction, or only
/// its id when rendering waits for the commit ([`answer_after_commit`]).
enum Written {
    Rendered(Value, i64),
    /// The id, and the parameters the answer is projected by.
    Committed(String, Box<ListParams>),
}

/// Groups with more members than this are answered after the commit.
const RENDER_IN_WRITER_MAX_MEMBERS: i64 = 1_000;

/// A large group answered with its members is rendered after the commit, on
/// a read connection: rendering its member list inside the transaction held
/// the single writer (and every other write) for it — 29 % of the writer's
/// time in a profile of 10-member PATCHes to 100-member groups under load.
/// The answer is then the resource as of this commit or a later one, with
/// that state's ETag. Small groups and users are rendered in place: there the
/// extra read costs more than it saves (the issue-13 workload's PATCHes to
/// 50-member groups ran about 10 % slower when every group took the read).
fn answer_after_commit<R: Resource>(tx: &Tx<'_>, id: &str, related: bool) -> Result<bool, ScimError> {
    if R::KIND != Kind::Group || !related {
        return Ok(false);
    }
    Ok(crate::store::scim::has_more_members_than(tx, id, RENDER_IN_WRITER_MAX_MEMBERS)?)
}

/// The answer of a write: rendered in the transaction, or read now.
async fn answer<R: Resource>(db: &Db, ctx: &Ctx, written: Written) -> Result<(Value, i64), ScimError> {
    match written {
        Written::Rendered(v, version) => Ok((v, version)),
        Written::Committed(id, p) => {
            let ctx = ctx.clone();
            db.read(move |c| {
                let (v, version) = rendered::<R>(c, &ctx, &id, R::related_wanted(&p))?;
                Ok((project(v, &p.attributes, &p.excluded), version))
            })
            .await
        }
    }
}

/// In the write's transaction: the answer, or the id to render after the commit.
fn written<R: Resource>(tx: &Tx<'_>, ctx: &Ctx, id: String, p: ListParams) -> Result<Written, ScimError> {
    let related = R::related_wanted(&p);
    if answer_after_commit::<R>(tx, &id, related)? {
        return Ok(Written::Committed(id, Box::new(p)));
    }
    let (v, version) = rendered::<R>(tx, ctx, &id, related)?;
    Ok(Written::Rendered(project(v, &p.attributes, &p.excluded), version))
}

/// POST: a new resource (201 with its ETag and Location at the edge).
pub async fn create<R: Resource>(db: &Db, ctx: &Ctx, body: Value) -> Result<(Value, i64), ScimError> {
    let input = R::normalize(body)?;
    let job_ctx = ctx.clone();
    let done = db
        .write(move |tx| {
            let id = R::write_new(tx, &job_ctx, input)?;
            written::<R>(tx, &job_ctx, id, ListParams::default())
        })
        .await?;
    answer::<R>(db, ctx, done).await
}

/// GET by id, projected by `p`.
pub async fn get<R: Resource>(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    p: ListParams,
) -> Result<(Value, i64), ScimError> {
    let (ctx, id) = (ctx.clone(), id.to_string());
    // A user with its groups is a point read; a group may have any number of members.
    let read = move |c: &Tx<'_>| {
        let (v, version) = rendered::<R>(c, &ctx, &id, R::related_wanted(&p))?;
        Ok((project(v, &p.attributes, &p.excluded), version))
    };
    if R::KIND == Kind::User { db.read_point(read).await } else { db.read(read).await }
}

/// PUT: the body replaces the resource.
pub async fn replace<R: Resource>(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    body: Value,
    if_match: Option<String>,
) -> Result<(Value, i64), ScimError> {
    let input = R::normalize(body)?;
    let (job_ctx, id) = (ctx.clone(), id.to_string());
    let done = db
        .write(move |tx| {
            let before = load::<R>(tx, &job_ctx, &id)?;
            check_if_match(if_match.as_deref(), R::version(&before))?;
            R::write_replace(tx, &job_ctx, &before, input, Change::Replace)?;
            written::<R>(tx, &job_ctx, id, ListParams::default())
        })
        .await?;
    answer::<R>(db, ctx, done).await
}

/// PATCH: the request is normalised (client quirks), applied to the current
/// resource and stored like a PUT; the answer is projected by `p`.
pub async fn patch<R: Resource>(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    body: Value,
    if_match: Option<String>,
    p: ListParams,
) -> Result<(Value, i64), ScimError> {
    let req = normalize_request(body)?;
    R::patch_received(id, &req);
    let (job_ctx, id) = (ctx.clone(), id.to_string());
    let done = db
        .write(move |tx| {
            let before = load::<R>(tx, &job_ctx, &id)?;
            check_if_match(if_match.as_deref(), R::version(&before))?;
            let input = R::patched(tx, &job_ctx, &before, &req)?;
            R::write_replace(tx, &job_ctx, &before, input, Change::Patch)?;
            written::<R>(tx, &job_ctx, id, p)
        })
        .await?;
    answer::<R>(db, ctx, done).await
}

/// DELETE.
pub async fn delete<R: Resource>(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    if_match: Option<String>,
) -> Result<(), ScimError> {
    let (ctx, id) = (ctx.clone(), id.to_string());
    db.write(move |tx| {
        let before = load::<R>(tx, &ctx, &id)?;
        check_if_match(if_match.as_deref(), R::version(&before))?;
        R::remove(tx, &ctx, &before)
    })
    .await
}

/// GET (or POST /.search) with filter, paging, sorting and projection. Rows
/// are streamed (one statement, related references aggregated in it) into a
/// page bounded by `count` and by `MAX_PAGE_BYTES` (RFC 7644 §3.4.2.4: fewer
/// than `count` may be returned; `itemsPerPage` says how many,
/// `totalResults` stays exact). References the parameters exclude are never
/// loaded.
/// With a `cursor` (RFC 9865), the page is a keyset page instead
/// ([`cursor_list`]); `sb` seals and opens cursors.
pub async fn list<R: Resource>(
    db: &Db,
    ctx: &Ctx,
    p: ListParams,
    sb: &SecretBox,
) -> Result<Value, ScimError> {
    let (ctx, sb) = (ctx.clone(), sb.clone());
    let point =
        R::KIND == Kind::User && p.cursor.is_none() && p.filter.as_ref().is_some_and(unique_user_lookup);
    let job = move |c: &Tx<'_>| match p.cursor.as_deref() {
        Some(cursor) => cursor_list::<R>(c, &ctx, &p, cursor, &sb),
        None => list_in::<R>(c, &ctx, &p),
    };
    if point { db.read_point(job).await } else { db.read(job).await }
}

/// `userName eq …`, `externalId eq …` or `id eq …` on Users: at most one
/// row, found by a unique index (how Okta and Entra look a user up before
/// creating it).
fn unique_user_lookup(f: &Filter) -> bool {
    match f {
        Filter::Compare { path, op: CompareOp::Eq, .. } => {
            path.sub_attr.is_none()
                && path.urn.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(USER_SCHEMA))
                && ["userName", "externalId", "id"].iter().any(|a| path.attr.eq_ignore_ascii_case(a))
        }
        _ => false,
    }
}

fn list_in<R: Resource>(c: &Tx<'_>, ctx: &Ctx, p: &ListParams) -> Result<Value, ScimError> {
    let org = &ctx.client.org_id;
    let sort = R::sort(p);
    let related = R::related_wanted(p);
    let mut page = Page::new(p.count);
    let total = match p.filter.as_ref().map(|f| (f, R::compile(f))) {
        Some((f, None)) => evaluated::<R>(c, ctx, p, f, sort, &mut page)?,
        compiled => {
            let cond = compiled.and_then(|(_, s)| s).unwrap_or(Cond::Always(true));
            // Index paging through a list page after page (an IdP's import) asks
            // for startIndex = the previous page's end + 1: where that page
            // ended is remembered, until the next commit, and the page is read
            // as a keyset page from there instead of walking OFFSET rows —
            // the same rows, at a cost that does not grow with depth.
            let stamp = c.read_stamp()?;
            let query = cursor::query_hash(R::ENDPOINT, p);
            let mark = |start: i64| format!("{org}\n{query}\n{start}");
            let resumed =
                c.recall(stamp, &mark(p.start_index)).and_then(|m| serde_json::from_str::<After>(&m).ok());
            let paging = match resumed {
                Some(after) => Paging { limit: Some(p.count), offset: 0, after: Some(after) },
                None => Paging { limit: Some(p.count), offset: p.start_index - 1, after: None },
            };
            let q = R::query(cond, sort, paging, related);
            let mut walk = Walk::default();
            let streamed = if page.is_full() {
                Streamed { seen: 0, exhausted: false }
            } else {
                R::each(c, org, &q, &mut |row, rel, key| {
                    walk.take(&mut page, R::id(&row), key, || {
                        project(R::render_listed(&ctx.base, &row, &rel, related), &p.attributes, &p.excluded)
                    })
                })?
            };
            if let Some(after) = walk.last.and_then(|a| serde_json::to_string(&a).ok()) {
                let next = p.start_index + i64::try_from(page.resources.len()).unwrap_or(0);
                c.remember(stamp, mark(next), after);
            }
            // A first page that read every match holds them all: no count
            // query (the common `userName eq` lookup costs one indexed probe).
            if p.start_index == 1 && streamed.exhausted && streamed.seen < p.count {
                streamed.seen
            } else {
                R::count(c, org, &q)?
            }
        }
    };
    Ok(list_response(total, p.start_index, page.resources))
}

/// A filter with parts only the evaluator knows (rendered references,
/// `meta`): one streamed pass over the org, counting every match.
fn evaluated<R: Resource>(
    c: &Tx<'_>,
    ctx: &Ctx,
    p: &ListParams,
    f: &Filter,
    sort: R::Sort,
    page: &mut Page,
) -> Result<i64, ScimError> {
    let related = R::related_wanted(p);
    let exact = |path: &AttrPath| case_exact(R::KIND, path);
    let all = R::query(Cond::Always(true), sort, Paging { limit: None, offset: 0, after: None }, true);
    let mut total = 0i64;
    R::each(c, &ctx.client.org_id, &all, &mut |row, rel, _| {
        let res = R::render_listed(&ctx.base, &row, &rel, true);
        if matches(f, &res, &exact) {
            total += 1;
            if total >= p.start_index && !page.is_full() {
                let res = if related { res } else { R::render_listed(&ctx.base, &row, &rel, false) };
                page.offer(project(res, &p.attributes, &p.excluded));
            }
        }
        true
    })?;
    Ok(total)
}

/// Where a cursor page stands: the last row it took, and whether a row is
/// left after it (then the page carries a `nextCursor`).
#[derive(Default)]
struct Walk {
    last: Option<After>,
    more: bool,
}

impl Walk {
    /// Offer the next row (rendered only if the page can take it); true to
    /// read on. A row the page cannot take (full, or over MAX_PAGE_BYTES)
    /// proves there is a next page and stays for it.
    fn take(
        &mut self,
        page: &mut Page,
        id: &str,
        key: Option<String>,
        render: impl FnOnce() -> Value,
    ) -> bool {
        if self.more {
            return false;
        }
        if page.is_full() {
            self.more = true;
            return false;
        }
        let before = page.resources.len();
        page.offer(render());
        if page.resources.len() > before {
            self.last = Some(After { key, id: id.to_string() });
            true
        } else {
            self.more = true;
            false
        }
    }
}

/// RFC 9865 cursor paging. A page is the rows after the cursor's position in
/// the list's order (`WHERE (sort key, id) > (?, ?)` over an index, LIMIT
/// count + 1 to learn whether a next page exists): its cost does not depend
/// on its depth, and rows created or deleted between pages make none of the
/// others skip or repeat. `totalResults` is counted on the first page only
/// (no count at all when that page holds every match) and carried in the
/// cursor: later pages report the count as of the walk's start (RFC 9865 §2
/// lets a cursor provider estimate it; the end of the walk is the missing
/// `nextCursor`). Filters only the evaluator knows walk the org from the
/// cursor's position, stopping once the page is full and one more match is
/// seen; their first page counts every match.
fn cursor_list<R: Resource>(
    c: &Tx<'_>,
    ctx: &Ctx,
    p: &ListParams,
    cursor: &str,
    sb: &SecretBox,
) -> Result<Value, ScimError> {
    let org = &ctx.client.org_id;
    let query = cursor::query_hash(R::ENDPOINT, p);
    let now = clock::now().unix_timestamp();
    let from = if cursor.is_empty() {
        None
    } else {
        let resumed = Cursor::resume(sb, cursor, org, &query, now);
        if let Err(e) = &resumed {
            tracing::info!(org_id = %org, resource = R::ENDPOINT, reason = e.reason(), "SCIM cursor refused");
        }
        Some(resumed?)
    };
    let sort = R::sort(p);
    let related = R::related_wanted(p);
    let after = from.as_ref().and_then(|f| f.after.clone());
    let mut page = Page::new(p.count);
    let mut walk = Walk::default();
    let total = match p.filter.as_ref().map(|f| (f, R::compile(f))) {
        Some((f, None)) => {
            let exact = |path: &AttrPath| case_exact(R::KIND, path);
            let paging = Paging { limit: None, offset: 0, after: after.clone() };
            let all = R::query(Cond::Always(true), sort, paging, true);
            // The first page reads on to count every match; later pages stop.
            let counting = from.is_none();
            let mut matched = 0i64;
            R::each(c, org, &all, &mut |row, rel, key| {
                let res = R::render_listed(&ctx.base, &row, &rel, true);
                if !matches(f, &res, &exact) {
                    return true;
                }
                matched += 1;
                let taken = walk.take(&mut page, R::id(&row), key, || {
                    let res = if related { res } else { R::render_listed(&ctx.base, &row, &rel, false) };
                    project(res, &p.attributes, &p.excluded)
                });
                taken || counting
            })?;
            from.as_ref().map_or(matched, |f| f.total)
        }
        compiled => {
            let cond = compiled.and_then(|(_, s)| s).unwrap_or(Cond::Always(true));
            let paging = Paging { limit: Some(p.count + 1), offset: 0, after: after.clone() };
            let q = R::query(cond, sort, paging, related);
            R::each(c, org, &q, &mut |row, rel, key| {
                walk.take(&mut page, R::id(&row), key, || {
                    project(R::render_listed(&ctx.base, &row, &rel, related), &p.attributes, &p.excluded)
                })
            })?;
            match &from {
                Some(f) => f.total,
                // A first page that read every match holds them all.
                None if !walk.more => i64::try_from(page.resources.len()).unwrap_or(i64::MAX),
                None => R::count(c, org, &q)?,
            }
        }
    };
    let next = walk.more.then(|| {
        Cursor {
            org_id: org.clone(),
            query,
            // A page that took nothing (count=0) resumes where it began.
            after: walk.last.or(after),
            direction: Direction::Next,
            total,
            expires: now + cursor::CURSOR_TIMEOUT_SECS,
        }
        .seal(sb)
    });
    Ok(cursor_list_response(total, page.resources, next))
}
