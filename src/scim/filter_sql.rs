//! Filters on attributes that have no indexed column, compiled to SQL over the
//! stored JSON (`users.attributes`, `groups.attributes`: the resource as the
//! client wrote it). One statement evaluates the filter inside SQLite, row by
//! row, so a list answers with bounded memory whatever the size of the org.
//!
//! The semantics are those of the reference evaluator (src/scim/filter/eval.rs),
//! which a test holds this compiler to (filter_sql_tests.rs):
//! - RFC 7643 §2.1: attribute names are case-insensitive (`lower(key) = ?`;
//!   names are ASCII by the filter grammar, and SQLite's `lower` folds ASCII).
//! - RFC 7644 §3.4.2.2: a multi-valued attribute matches if any value matches;
//!   arrays are flattened one level (`emails.value`); a complex value compared
//!   without a sub-attribute is compared through its `value`.
//! - `pr`: null, "" and [] (and objects with nothing present) are not present.
//! - Strings compare with the schema's caseExact (RFC 7643 §2.2), Unicode
//!   lower-casing otherwise, through the registered `scim_str_cmp` function;
//!   numbers numerically; booleans with `eq`/`ne` only; mixed types never match.
//!
//! Every `json_each` over a value sits in a `CASE` branch that has checked the
//! value's JSON type, so a string that merely looks like JSON is never parsed.
//! Values (and attribute names) are bound parameters, never formatted in.
//! Known edge, documented in docs/scim.md: an object holding two keys that differ
//! only in case (`title` and `Title`) matches through either, where the
//! evaluator looks at the exact-case one.

use rusqlite::types::Value as SqlValue;

use super::filter::{AttrPath, CORE_SCHEMA_PREFIX, CompValue, CompareOp, Filter};
use super::schema::{Kind, case_exact};

/// Deepest tree compiled (the parser already bounds filters far below this).
const MAX_HEIGHT: usize = 300;

/// SQL text and the values bound to its `?`s, in textual order.
#[derive(Debug, Default)]
pub struct Frag {
    pub sql: String,
    pub args: Vec<SqlValue>,
}

impl Frag {
    fn lit(sql: &str) -> Frag {
        Frag { sql: sql.to_string(), args: Vec::new() }
    }
    /// Append SQL text.
    fn t(mut self, sql: &str) -> Frag {
        self.sql.push_str(sql);
        self
    }
    /// Append a bound value.
    fn bind(mut self, v: SqlValue) -> Frag {
        self.sql.push('?');
        self.args.push(v);
        self
    }
    /// Append another fragment (its text and its values).
    fn then(mut self, other: Frag) -> Frag {
        self.sql.push_str(&other.sql);
        self.args.extend(other.args);
        self
    }
}

/// Attributes the renderer puts on top of the stored JSON (src/scim/resource.rs):
/// filters on them are answered from columns (query.rs) or by the evaluator.
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

fn name(s: &str) -> SqlValue {
    SqlValue::Text(s.to_ascii_lowercase())
}

/// `pr` of one value `x` (columns `x.value`, `x.type` of a json_each row), as
/// `is_present` in filter/resolve.rs.
fn present(x: &str) -> Frag {
    let scalar = |p: &str, q: &str| {
        format!(
            "CASE {p}.type WHEN 'null' THEN 0 WHEN 'text' THEN {p}.value <> '' \
             WHEN 'array' THEN EXISTS (SELECT 1 FROM json_each({p}.value) {q} WHERE {q}.type <> 'null') \
             WHEN 'object' THEN EXISTS (SELECT 1 FROM json_each({p}.value)) ELSE 1 END"
        )
    };
    let (p, q) = (format!("{x}p"), format!("{x}q"));
    Frag::lit(&format!(
        "(CASE {x}.type WHEN 'null' THEN 0 WHEN 'text' THEN {x}.value <> '' \
         WHEN 'array' THEN EXISTS (SELECT 1 FROM json_each({x}.value) {p} WHERE {p}.type <> 'null') \
         WHEN 'object' THEN EXISTS (SELECT 1 FROM json_each({x}.value) {p} WHERE {}) ELSE 1 END)",
        scalar(&p, &q)
    ))
}

/// One value `x` against a non-null literal.
fn leaf(x: &str, op: CompareOp, value: &CompValue, exact: bool) -> Frag {
    match value {
        CompValue::String(s) => {
            Frag::lit(&format!("({x}.type = 'text' AND scim_str_cmp('{op}', {x}.value, "))
                .bind(SqlValue::Text(s.clone()))
                .t(&format!(", {}))", i32::from(exact)))
        }
        CompValue::Number(n) => {
            let sql_op = match op {
                CompareOp::Eq => "=",
                CompareOp::Ne => "<>",
                CompareOp::Gt => ">",
                CompareOp::Ge => ">=",
                CompareOp::Lt => "<",
                CompareOp::Le => "<=",
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => return Frag::lit("0"),
            };
            let v = match n.as_i64() {
                Some(i) => SqlValue::Integer(i),
                None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
            };
            Frag::lit(&format!("({x}.type IN ('integer', 'real') AND {x}.value {sql_op} ")).bind(v).t(")")
        }
        CompValue::Bool(b) => match op {
            CompareOp::Eq => Frag::lit(&format!("({x}.type = '{b}')")),
            CompareOp::Ne => Frag::lit(&format!("({x}.type = '{}')", !b)),
            // RFC 7644 Table 3 makes ordering booleans an error; the parser refuses it.
            _ => Frag::lit("0"),
        },
        CompValue::Null => Frag::lit("0"),
    }
}

/// Compiles one filter (or a value path's inner filter) against a JSON document.
pub struct JsonFilter {
    kind: Kind,
    next: usize,
}

type Pred<'p> = dyn FnMut(&mut JsonFilter, &str) -> Option<Frag> + 'p;

impl JsonFilter {
    pub fn new(kind: Kind) -> Self {
        JsonFilter { kind, next: 0 }
    }

    fn alias(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    /// `f` at the root of a resource whose stored JSON is in column `doc`;
    /// None when some part is not in the stored JSON (rendered attributes).
    pub fn root(&mut self, f: &Filter, doc: &str) -> Option<Frag> {
        self.filter(f, doc, None, 0)
    }

    fn filter(&mut self, f: &Filter, doc: &str, parent: Option<&AttrPath>, height: usize) -> Option<Frag> {
        if height >= MAX_HEIGHT {
            return None;
        }
        let next = height + 1;
        Some(match f {
            Filter::Compare { path, op, value } => self.compare(doc, parent, path, *op, value)?,
            Filter::Present(path) => self.any_value(doc, parent, path, &mut |_, x| Some(present(x)))?,
            Filter::And(a, b) | Filter::Or(a, b) => {
                let joint = if matches!(f, Filter::And(..)) { " AND " } else { " OR " };
                let left = self.filter(a, doc, parent, next)?;
                let right = self.filter(b, doc, parent, next)?;
                Frag::lit("(").then(left).t(joint).then(right).t(")")
            }
            Filter::Not(a) => Frag::lit("(NOT ").then(self.filter(a, doc, parent, next)?).t(")"),
            Filter::ValuePath { path, filter } => self.any_value(doc, parent, path, &mut |this, x| {
                // Each element that is an object is the context of the inner filter.
                let inner = this.filter(filter, &format!("{x}.value"), Some(path), next)?;
                Some(
                    Frag::lit(&format!("(CASE WHEN {x}.type = 'object' THEN ")).then(inner).t(" ELSE 0 END)"),
                )
            })?,
        })
    }

    fn compare(
        &mut self,
        doc: &str,
        parent: Option<&AttrPath>,
        path: &AttrPath,
        op: CompareOp,
        value: &CompValue,
    ) -> Option<Frag> {
        if *value == CompValue::Null {
            // `eq null`: no value present; `ne null`: some value present.
            let any = self.any_value(doc, parent, path, &mut |_, x| Some(present(x)))?;
            return Some(match op {
                CompareOp::Eq => Frag::lit("(NOT ").then(any).t(")"),
                CompareOp::Ne => any,
                _ => Frag::lit("0"),
            });
        }
        let exact = case_exact(self.kind, &full_path(parent, path, false));
        let implied = path.sub_attr.is_none();
        let exact_implied = case_exact(self.kind, &full_path(parent, path, true));
        self.any_value(doc, parent, path, &mut |this, x| {
            if !implied {
                return Some(leaf(x, op, value, exact));
            }
            // A complex value is compared through its `value` sub-attribute.
            let v = this.alias("v");
            Some(
                Frag::lit(&format!(
                    "(CASE WHEN {x}.type = 'object' THEN EXISTS (SELECT 1 FROM json_each({x}.value) {v} \
                     WHERE lower({v}.key) = 'value' AND "
                ))
                .then(leaf(&v, op, value, exact_implied))
                .t(") ELSE ")
                .then(leaf(x, op, value, exact))
                .t(" END)"),
            )
        })
    }

    /// True when `pred` holds for some value `path` names in `doc` (as
    /// `values` in filter/resolve.rs: schema scope, attribute, sub-attribute,
    /// multi-valued attributes flattened one level).
    fn any_value(
        &mut self,
        doc: &str,
        parent: Option<&AttrPath>,
        path: &AttrPath,
        pred: &mut Pred<'_>,
    ) -> Option<Frag> {
        if parent.is_none() && overlaid(self.kind, path) {
            return None;
        }
        let scope = match path.urn.as_deref() {
            None => Frag::lit(doc),
            Some(u) if is_core_urn(u) => Frag::lit(doc),
            Some(u) => {
                // The extension object keyed by the schema URI (RFC 7643 §3.3).
                let s = self.alias("s");
                Frag::lit(&format!("(SELECT {s}.value FROM json_each({doc}) {s} WHERE lower({s}.key) = "))
                    .bind(name(u))
                    .t(&format!(" AND {s}.type = 'object')"))
            }
        };
        let a = self.alias("a");
        let body = match &path.sub_attr {
            None => self.flatten(&a, pred)?,
            Some(sub) => {
                let sub = sub.clone();
                self.flatten(&a, &mut |this, x| this.member(x, &sub, pred))?
            }
        };
        Some(
            Frag::lit("EXISTS (SELECT 1 FROM json_each(")
                .then(scope)
                .t(&format!(") {a} WHERE lower({a}.key) = "))
                .bind(name(&path.attr))
                .t(" AND ")
                .then(body)
                .t(")"),
        )
    }

    /// `pred` over `x` itself, or over each element when `x` is an array.
    fn flatten(&mut self, x: &str, pred: &mut Pred<'_>) -> Option<Frag> {
        let e = self.alias("e");
        let each = pred(self, &e)?;
        let itself = pred(self, x)?;
        Some(
            Frag::lit(&format!(
                "(CASE WHEN {x}.type = 'array' THEN EXISTS (SELECT 1 FROM json_each({x}.value) {e} WHERE "
            ))
            .then(each)
            .t(") ELSE ")
            .then(itself)
            .t(" END)"),
        )
    }

    /// `pred` over the values of member `sub` of object `x` (flattened).
    fn member(&mut self, x: &str, sub: &str, pred: &mut Pred<'_>) -> Option<Frag> {
        let m = self.alias("m");
        let body = self.flatten(&m, pred)?;
        Some(
            Frag::lit(&format!(
                "(CASE WHEN {x}.type = 'object' THEN EXISTS (SELECT 1 FROM json_each({x}.value) {m} \
                 WHERE lower({m}.key) = "
            ))
            .bind(name(sub))
            .t(" AND ")
            .then(body)
            .t(") ELSE 0 END)"),
        )
    }
}
