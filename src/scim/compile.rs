//! A parsed filter (filter/) translated into the store's list query
//! (`store::scim_query`): SCIM attribute paths mapped to indexed columns or
//! to paths in the stored JSON, the schema's case-exactness (RFC 7643 §2.2)
//! decided here, and None when some part needs the in-memory evaluator
//! (attributes the renderer adds on top of the stored JSON, e.g. `groups`,
//! `meta.resourceType`, `members.display`). The store compiles the result to
//! SQL with bound parameters; this file knows no SQL.
//!
//! The semantics are those of the reference evaluator (filter/eval.rs), to
//! which a store test holds the compiled SQL (store/scim_query_tests.rs).

use super::filter::{AttrPath, CORE_SCHEMA_PREFIX, CompValue, CompareOp, Filter};
use super::schema::{Kind, case_exact};
use crate::store::scim_query::{
    Cond, GroupColumn, GroupSort, Json, JsonPath, Literal, Membership, NoMembership, Op, Sort, Test,
    UserColumn, UserSort,
};

/// Deepest tree translated (the parser already bounds filters far below this).
const MAX_HEIGHT: usize = 300;

/// What an attribute path is in the store, when it has a column.
enum Col<C> {
    /// A text column.
    Text(C),
    /// A boolean column.
    Flag(C),
    /// Group membership by user id.
    Member,
}

/// A resource type's columns and membership conditions.
trait Target {
    type C: Copy;
    type M;
    const KIND: Kind;
    fn column(path: &AttrPath) -> Option<Col<Self::C>>;
    fn member(m: Membership) -> Option<Self::M>;
}

struct Users;
struct Groups;

fn is(path: &AttrPath, name: &str, sub: Option<&str>) -> bool {
    let urn_ok = match &path.urn {
        None => true,
        Some(u) => u.to_ascii_lowercase().starts_with("urn:ietf:params:scim:schemas:core:2.0:"),
    };
    urn_ok
        && path.attr.eq_ignore_ascii_case(name)
        && match (sub, &path.sub_attr) {
            (None, None) => true,
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
}

impl Target for Users {
    type C = UserColumn;
    type M = NoMembership;
    const KIND: Kind = Kind::User;
    fn column(path: &AttrPath) -> Option<Col<UserColumn>> {
        Some(match () {
            _ if is(path, "id", None) => Col::Text(UserColumn::Id),
            _ if is(path, "externalId", None) => Col::Text(UserColumn::ExternalId),
            _ if is(path, "meta", Some("created")) => Col::Text(UserColumn::Created),
            _ if is(path, "meta", Some("lastModified")) => Col::Text(UserColumn::LastModified),
            _ if is(path, "userName", None) => Col::Text(UserColumn::UserName),
            _ if is(path, "active", None) => Col::Flag(UserColumn::Active),
            _ => return None,
        })
    }
    fn member(_: Membership) -> Option<NoMembership> {
        None
    }
}

impl Target for Groups {
    type C = GroupColumn;
    type M = Membership;
    const KIND: Kind = Kind::Group;
    fn column(path: &AttrPath) -> Option<Col<GroupColumn>> {
        Some(match () {
            _ if is(path, "id", None) => Col::Text(GroupColumn::Id),
            _ if is(path, "externalId", None) => Col::Text(GroupColumn::ExternalId),
            _ if is(path, "meta", Some("created")) => Col::Text(GroupColumn::Created),
            _ if is(path, "meta", Some("lastModified")) => Col::Text(GroupColumn::LastModified),
            _ if is(path, "displayName", None) => Col::Text(GroupColumn::DisplayName),
            _ if is(path, "members", Some("value")) || is(path, "members", None) => Col::Member,
            _ => return None,
        })
    }
    fn member(m: Membership) -> Option<Membership> {
        Some(m)
    }
}

/// A user filter as a store condition, or None when it needs the evaluator.
pub fn user_cond(f: &Filter) -> Option<Cond<UserColumn, NoMembership>> {
    cond::<Users>(f)
}

/// A group filter as a store condition, or None when it needs the evaluator.
pub fn group_cond(f: &Filter) -> Option<Cond<GroupColumn, Membership>> {
    cond::<Groups>(f)
}

fn op(o: CompareOp) -> Op {
    match o {
        CompareOp::Eq => Op::Eq,
        CompareOp::Ne => Op::Ne,
        CompareOp::Co => Op::Co,
        CompareOp::Sw => Op::Sw,
        CompareOp::Ew => Op::Ew,
        CompareOp::Gt => Op::Gt,
        CompareOp::Ge => Op::Ge,
        CompareOp::Lt => Op::Lt,
        CompareOp::Le => Op::Le,
    }
}

fn boxed<C, M>(f: &Filter, t: impl Fn(&Filter) -> Option<Cond<C, M>>) -> Option<Box<Cond<C, M>>> {
    t(f).map(Box::new)
}

fn cond<T: Target>(f: &Filter) -> Option<Cond<T::C, T::M>> {
    Some(match f {
        Filter::Compare { path, .. } | Filter::Present(path) if T::column(path).is_none() => {
            Cond::Json(json_root(T::KIND, f)?)
        }
        Filter::Compare { path, op: o, value } => match (T::column(path)?, value) {
            (Col::Flag(c), CompValue::Bool(b)) if matches!(o, CompareOp::Eq | CompareOp::Ne) => {
                Cond::Flag { column: c, op: op(*o), value: *b }
            }
            (Col::Flag(_), _) => Cond::Always(false),
            (Col::Member, CompValue::String(s)) if *o == CompareOp::Eq => {
                Cond::Member(T::member(Membership::User(s.clone()))?)
            }
            (Col::Member, _) => return None,
            (Col::Text(c), CompValue::String(s)) => Cond::Text { column: c, op: op(*o), value: s.clone() },
            (Col::Text(c), CompValue::Null) => match o {
                CompareOp::Eq => Cond::Null { column: c, null: true },
                CompareOp::Ne => Cond::Null { column: c, null: false },
                _ => Cond::Always(false),
            },
            (Col::Text(_), _) => Cond::Always(false),
        },
        Filter::Present(path) => match T::column(path)? {
            Col::Text(c) => Cond::Present(c),
            Col::Flag(_) => Cond::Always(true),
            Col::Member => Cond::Member(T::member(Membership::Any)?),
        },
        Filter::And(a, b) => Cond::And(boxed(a, cond::<T>)?, boxed(b, cond::<T>)?),
        Filter::Or(a, b) => Cond::Or(boxed(a, cond::<T>)?, boxed(b, cond::<T>)?),
        Filter::Not(a) => Cond::Not(boxed(a, cond::<T>)?),
        Filter::ValuePath { path, filter } => {
            // members[value eq "id"] is the one value path on an indexed column.
            let on_members = path.sub_attr.is_none() && matches!(T::column(path), Some(Col::Member));
            if let Filter::Compare { path: inner, op: CompareOp::Eq, value: CompValue::String(s) } =
                filter.as_ref()
            {
                if on_members && inner.attr.eq_ignore_ascii_case("value") && inner.sub_attr.is_none() {
                    return Some(Cond::Member(T::member(Membership::User(s.clone()))?));
                }
            }
            Cond::Json(json_root(T::KIND, f)?)
        }
    })
}

/// The sort of a user list (unknown attributes sort by creation).
pub fn user_sort(sort: Option<&AttrPath>, descending: bool) -> Sort<UserSort> {
    let by = sort.and_then(|s| {
        Some(match () {
            _ if is(s, "id", None) => UserSort::Id,
            _ if is(s, "externalId", None) => UserSort::ExternalId,
            _ if is(s, "meta", Some("lastModified")) => UserSort::LastModified,
            _ if is(s, "meta", Some("created")) => UserSort::Created,
            _ if is(s, "userName", None) => UserSort::UserName,
            _ if is(s, "displayName", None) => UserSort::DisplayName,
            _ if is(s, "name", Some("familyName")) => UserSort::FamilyName,
            _ if is(s, "name", Some("givenName")) => UserSort::GivenName,
            _ if is(s, "emails", None) || is(s, "emails", Some("value")) => UserSort::Email,
            _ => return None,
        })
    });
    Sort { by, descending }
}

/// The sort of a group list (unknown attributes sort by creation).
pub fn group_sort(sort: Option<&AttrPath>, descending: bool) -> Sort<GroupSort> {
    let by = sort.and_then(|s| {
        Some(match () {
            _ if is(s, "id", None) => GroupSort::Id,
            _ if is(s, "externalId", None) => GroupSort::ExternalId,
            _ if is(s, "meta", Some("lastModified")) => GroupSort::LastModified,
            _ if is(s, "meta", Some("created")) => GroupSort::Created,
            _ if is(s, "displayName", None) => GroupSort::DisplayName,
            _ => return None,
        })
    });
    Sort { by, descending }
}

// ---------------------------------------------------------------------------------------
// Attributes without a column: conditions over the stored JSON
// ---------------------------------------------------------------------------------------

/// Attributes the renderer puts on top of the stored JSON (src/scim/resource.rs):
/// filters on them are answered from columns (above) or by the evaluator.
fn overlaid(kind: Kind, path: &AttrPath) -> bool {
    let core = path.urn.as_deref().is_none_or(is_core_urn);
    let names: &[&str] = match kind {
        Kind::User => &["schemas", "id", "userName", "externalId", "active", "groups", "meta"],
        Kind::Group => &["schemas", "id", "displayName", "externalId", "members", "meta"],
    };
    core && names.iter().any(|n| n.eq_ignore_ascii_case(&path.attr))
}

fn is_core_urn(urn: &str) -> bool {
    urn.get(..CORE_SCHEMA_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(CORE_SCHEMA_PREFIX))
}

/// The path the schema knows (as eval.rs): `type` inside `emails[...]` is
/// `emails.type`; `implied` adds the implied `.value` of a complex attribute.
fn full_path(parent: Option<&AttrPath>, path: &AttrPath, implied: bool) -> AttrPath {
    let mut full = match parent {
        Some(p) if path.urn.is_none() && path.sub_attr.is_none() => {
            AttrPath { urn: p.urn.clone(), attr: p.attr.clone(), sub_attr: Some(path.attr.clone()) }
        }
        _ => path.clone(),
    };
    if implied && full.sub_attr.is_none() {
        full.sub_attr = Some("value".to_string());
    }
    full
}

fn literal(v: &CompValue) -> Option<Literal> {
    Some(match v {
        CompValue::String(s) => Literal::Text(s.clone()),
        CompValue::Number(n) => match n.as_i64() {
            Some(i) => Literal::Integer(i),
            None => Literal::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        CompValue::Bool(b) => Literal::Bool(*b),
        CompValue::Null => return None,
    })
}

/// `f` at the root of a resource's stored JSON; None when some part is not
/// in the stored JSON (rendered attributes).
fn json_root(kind: Kind, f: &Filter) -> Option<Json> {
    json(kind, f, None, 0)
}

fn json(kind: Kind, f: &Filter, parent: Option<&AttrPath>, height: usize) -> Option<Json> {
    if height >= MAX_HEIGHT {
        return None;
    }
    let next = height + 1;
    let sub = |g: &Filter| json(kind, g, parent, next).map(Box::new);
    Some(match f {
        Filter::Compare { path, op: o, value } => {
            let path_of = json_path(kind, parent, path)?;
            let Some(value) = literal(value) else {
                // `eq null`: no value present; `ne null`: some value present.
                let any = Json::Any { path: path_of, test: Test::Present };
                return Some(match o {
                    CompareOp::Eq => Json::Not(Box::new(any)),
                    CompareOp::Ne => any,
                    _ => Json::Always(false),
                });
            };
            let exact = case_exact(kind, &full_path(parent, path, false));
            let test = if path.sub_attr.is_none() {
                let exact_value = case_exact(kind, &full_path(parent, path, true));
                Test::CompareImplied { op: op(*o), value, exact, exact_value }
            } else {
                Test::Compare { op: op(*o), value, exact }
            };
            Json::Any { path: path_of, test }
        }
        Filter::Present(path) => Json::Any { path: json_path(kind, parent, path)?, test: Test::Present },
        Filter::And(a, b) => Json::And(sub(a)?, sub(b)?),
        Filter::Or(a, b) => Json::Or(sub(a)?, sub(b)?),
        Filter::Not(a) => Json::Not(sub(a)?),
        Filter::ValuePath { path, filter } => {
            let path_of = json_path(kind, parent, path)?;
            // Each element that is an object is the context of the inner filter.
            let inner = json(kind, filter, Some(path), next)?;
            Json::Any { path: path_of, test: Test::Within(Box::new(inner)) }
        }
    })
}

/// Where `path` points in the stored JSON (an extension object for a
/// non-core schema URN); None for attributes the renderer adds.
fn json_path(kind: Kind, parent: Option<&AttrPath>, path: &AttrPath) -> Option<JsonPath> {
    if parent.is_none() && overlaid(kind, path) {
        return None;
    }
    let extension = path.urn.as_deref().filter(|u| !is_core_urn(u)).map(String::from);
    Some(JsonPath { extension, attr: path.attr.clone(), sub: path.sub_attr.clone() })
}
