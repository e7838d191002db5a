//! `scim_query` compiled to PostgreSQL SQL: the same plan and the same
//! answers as `scim_sql.rs` (SQLite), in PostgreSQL's dialect. The shape is
//! the same: a WHERE fragment over alias `u` (users) or `g` (groups) whose
//! values are all bound parameters (bare `?`, in textual order; the
//! PostgreSQL `Tx` numbers them `$1, $2, …` as SQLite does), and an ORDER BY.
//!
//! Where the dialects differ, and why:
//! - Conditions are boolean (`TRUE`/`FALSE`), not SQLite's 0/1 integers.
//! - Every placeholder carries its type (`?::text`, `?::bigint`,
//!   `?::float8`), so the server never has to guess a parameter's type from
//!   an overloaded function (`length`, `strpos`) and the binding of each
//!   `Value` variant (text, i64, f64) is the one the server expects.
//! - ORDER BY: PostgreSQL sorts NULLs last in ascending order, SQLite first;
//!   `NULLS FIRST`/`NULLS LAST` keep SQLite's order (nullable sort columns:
//!   externalId, displayName, the names, email). Only those: on a NOT NULL
//!   column the clause changes nothing but keeps the planner from reading
//!   an ascending index in order (scim_sql.rs `order`).
//! - The stored attributes are TEXT holding JSON: cast once per condition to
//!   `jsonb` and walked with `jsonb_each` (objects) and `jsonb_array_elements`
//!   (arrays), each inside a `CASE` branch that has checked `jsonb_typeof`, as
//!   the SQLite version checks `json_each`'s type: those functions raise an
//!   error on the wrong kind of value, and a string that looks like JSON is
//!   never parsed (a string is only ever read as text, with `#>> '{}'`).
//! - Attribute names: `lower(key COLLATE "C")` folds ASCII only, as SQLite's
//!   `lower` and the evaluator's `eq_ignore_ascii_case` do (under a libc
//!   locale `lower` would also fold e.g. 'İ' to 'i' and match a name the
//!   evaluator does not).
//! - Strings compare through the SQL function `scim_str_cmp` of migration
//!   postgres/0010 (Unicode lower-casing through ICU, code-point order).
//! - Numbers: an integer literal compares exactly (`numeric`), a decimal one
//!   as float8 (the evaluator's rule: integers exactly, anything with a
//!   decimal as f64; the server rounds numeric to float8 correctly, as Rust
//!   does). Booleans compare as jsonb (`x = 'true'::jsonb`): eq/ne only.
//!
//! Known differences from the evaluator, shared with the SQLite version: a
//! document with two keys differing only in case matches through either (the
//! evaluator takes the exact key, else the first); a stored decimal compared
//! with an integer literal beyond 2^53 compares exactly, not as f64.
//! PostgreSQL's own: `jsonb` refuses the escape `\u0000`, so a stored
//! attribute holding U+0000 makes any JSON condition over its org fail
//! with an error (never a wrong answer).

use super::scim_query::{After, Cond, GroupSort, Json, JsonPath, Literal, Op, Sort, Test, UserSort};
use super::scim_sql::{Frag, Members, Table};
use super::sql::Value;

/// A condition as a WHERE fragment (PostgreSQL).
pub fn compile<C: Table, M: Members>(cond: &Cond<C, M>) -> Frag {
    match cond {
        Cond::Always(true) => Frag::lit("TRUE"),
        Cond::Always(false) => Frag::lit("FALSE"),
        Cond::And(a, b) => Frag::lit("(").then(compile(a)).t(" AND ").then(compile(b)).t(")"),
        Cond::Or(a, b) => Frag::lit("(").then(compile(a)).t(" OR ").then(compile(b)).t(")"),
        Cond::Not(a) => Frag::lit("(NOT ").then(compile(a)).t(")"),
        Cond::Text { column, op, value } => {
            let c = column.sql();
            let v = if column.folded() { value.to_lowercase() } else { value.clone() };
            let expr = text_compare(c, *op, &v);
            if column.nullable() {
                Frag::lit(&format!("({c} IS NOT NULL AND ")).then(expr).t(")")
            } else {
                Frag::lit("(").then(expr).t(")")
            }
        }
        Cond::Null { column, null: true } => Frag::lit(&format!("({} IS NULL)", column.sql())),
        Cond::Null { column, null: false } => Frag::lit(&format!("({} IS NOT NULL)", column.sql())),
        Cond::Present(column) => {
            let c = column.sql();
            Frag::lit(&format!("({c} IS NOT NULL AND {c} <> '')"))
        }
        Cond::Flag { column, op, value } => {
            // Flags are BIGINT 0/1 in the PostgreSQL schema too (postgres/0001_init.sql).
            let c = column.sql();
            match op {
                Op::Eq => Frag::lit(&format!("({c} = {})", i32::from(*value))),
                Op::Ne => Frag::lit(&format!("({c} <> {})", i32::from(*value))),
                _ => Frag::lit("(FALSE)"),
            }
        }
        // group_members is the same table with the same columns; the SQLite
        // fragment (EXISTS over it, the user id a bare text parameter compared
        // with a text column) is valid PostgreSQL.
        Cond::Member(m) => m.sql(),
        Cond::Json(j) => JsonSql::default().json(j, &format!("({})::jsonb", C::DOC)),
    }
}

fn text(s: &str) -> Value<'static> {
    Value::Text(s.to_string().into())
}

/// A text column against a value. The columns are `COLLATE "C"` (code-point
/// order, byte equality), which a parameter of the default collation takes on.
fn text_compare(c: &str, op: Op, s: &str) -> Frag {
    let one = |sql: &str| Frag::lit(&format!("{c} {sql} ")).bind(text(s)).t("::text");
    match op {
        // Plain comparisons keep the `(org_id, user_name_key)` index usable.
        Op::Eq => one("="),
        Op::Ne => one("<>"),
        Op::Gt => one(">"),
        Op::Ge => one(">="),
        Op::Lt => one("<"),
        Op::Le => one("<="),
        Op::Co => Frag::lit(&format!("strpos({c}, ")).bind(text(s)).t("::text) > 0"),
        Op::Sw => Frag::lit(&format!("starts_with({c}, ")).bind(text(s)).t("::text)"),
        // right(c, n) is all of c when c is shorter than n, and then unequal.
        Op::Ew => {
            Frag::lit(&format!("right({c}, length(")).bind(text(s)).t("::text)) = ").bind(text(s)).t("::text")
        }
    }
}

/// ORDER BY for a user list (PostgreSQL), always with id as tie-break: the
/// same columns as SQLite's, with SQLite's NULL placement (smallest: first
/// ascending, last descending) spelled out.
pub fn user_order(s: Sort<UserSort>) -> String {
    super::scim_sql::user_order_in(s, PG_DIRECTIONS)
}

/// ORDER BY for a group list (PostgreSQL), always with id as tie-break.
pub fn group_order(s: Sort<GroupSort>) -> String {
    super::scim_sql::group_order_in(s, PG_DIRECTIONS)
}

/// The keyset condition of a user list page after `a` (PostgreSQL: the
/// placeholders typed; `NULLS FIRST`/`LAST` make NULL smallest, as in SQLite).
pub fn user_after(s: Sort<UserSort>, a: &After) -> Frag {
    super::scim_sql::after("u", super::scim_sql::user_sort_column(s.by), s.descending, a, "::text")
}

/// The keyset condition of a group list page after `a` (PostgreSQL).
pub fn group_after(s: Sort<GroupSort>, a: &After) -> Frag {
    super::scim_sql::after("g", super::scim_sql::group_sort_column(s.by), s.descending, a, "::text")
}

const PG_DIRECTIONS: super::scim_sql::Directions = ("ASC NULLS FIRST", "DESC NULLS LAST");

use super::scim_sql::name;

/// `lower(key) = ?` over the `key` of a `jsonb_each` row `k`, ASCII folding.
fn key_is(k: &str, n: &str) -> Frag {
    Frag::lit(&format!("lower({k}.key COLLATE \"C\") = ")).bind(name(n)).t("::text")
}

/// One jsonb value `x` against a literal.
fn leaf(x: &str, op: Op, value: &Literal, exact: bool) -> Frag {
    let number = |v: Value<'static>, ty: &str| {
        let sql_op = match op {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Co | Op::Sw | Op::Ew => return Frag::lit("FALSE"),
        };
        // numeric vs bigint: exact; numeric vs float8: the server casts the
        // numeric to float8 (no numeric = float8 operator), the evaluator's f64.
        Frag::lit(&format!("(jsonb_typeof({x}) = 'number' AND ({x})::numeric {sql_op} "))
            .bind(v)
            .t(&format!("::{ty})"))
    };
    match value {
        Literal::Text(s) => Frag::lit(&format!(
            "(jsonb_typeof({x}) = 'string' AND scim_str_cmp('{}', {x} #>> '{{}}', ",
            op.keyword()
        ))
        .bind(text(s))
        .t(&format!("::text, {exact}))")),
        Literal::Integer(i) => number(Value::Int(*i), "bigint"),
        Literal::Real(r) => number(Value::Real(*r), "float8"),
        Literal::Bool(b) => match op {
            // jsonb equality: true only for a JSON boolean of that value.
            Op::Eq => Frag::lit(&format!("({x} = '{b}'::jsonb)")),
            Op::Ne => Frag::lit(&format!("({x} = '{}'::jsonb)", !b)),
            // RFC 7644 Table 3 makes ordering booleans an error; the parser refuses it.
            _ => Frag::lit("FALSE"),
        },
    }
}

/// Compiles one JSON condition; numbers the aliases of its set-returning
/// functions. A value is named by a jsonb expression (`a1.value`).
#[derive(Default)]
struct JsonSql {
    next: usize,
}

type Pred<'p> = dyn FnMut(&mut JsonSql, &str) -> Frag + 'p;

impl JsonSql {
    fn alias(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    fn json(&mut self, j: &Json, doc: &str) -> Frag {
        match j {
            Json::Always(true) => Frag::lit("TRUE"),
            Json::Always(false) => Frag::lit("FALSE"),
            Json::And(a, b) | Json::Or(a, b) => {
                let joint = if matches!(j, Json::And(..)) { " AND " } else { " OR " };
                let left = self.json(a, doc);
                let right = self.json(b, doc);
                Frag::lit("(").then(left).t(joint).then(right).t(")")
            }
            Json::Not(a) => Frag::lit("(NOT ").then(self.json(a, doc)).t(")"),
            Json::Any { path, test } => self.any_value(doc, path, &mut |this, x| this.test(test, x)),
        }
    }

    /// `pr` of one value `x`, as `is_present` in filter/resolve.rs: members
    /// of an object are looked at one level deep (an object member counts when
    /// it has any member at all).
    fn present(&mut self, x: &str) -> Frag {
        let (p, q) = (self.alias("p"), self.alias("q"));
        let pv = format!("{p}.value");
        let scalar = format!(
            "CASE jsonb_typeof({pv}) WHEN 'null' THEN FALSE WHEN 'string' THEN {pv} <> '\"\"'::jsonb \
             WHEN 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements({pv}) {q}(value) \
             WHERE jsonb_typeof({q}.value) <> 'null') \
             WHEN 'object' THEN {pv} <> '{{}}'::jsonb ELSE TRUE END"
        );
        Frag::lit(&format!(
            "(CASE jsonb_typeof({x}) WHEN 'null' THEN FALSE WHEN 'string' THEN {x} <> '\"\"'::jsonb \
             WHEN 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements({x}) {p}(value) \
             WHERE jsonb_typeof({pv}) <> 'null') \
             WHEN 'object' THEN EXISTS (SELECT 1 FROM jsonb_each({x}) {p} WHERE {scalar}) ELSE TRUE END)"
        ))
    }

    fn test(&mut self, test: &Test, x: &str) -> Frag {
        match test {
            Test::Present => self.present(x),
            Test::Compare { op, value, exact } => leaf(x, *op, value, *exact),
            Test::CompareImplied { op, value, exact, exact_value } => {
                // A complex value is compared through its `value` sub-attribute.
                let v = self.alias("v");
                Frag::lit(&format!(
                    "(CASE WHEN jsonb_typeof({x}) = 'object' THEN EXISTS (SELECT 1 FROM jsonb_each({x}) {v} \
                     WHERE lower({v}.key COLLATE \"C\") = 'value' AND "
                ))
                .then(leaf(&format!("{v}.value"), *op, value, *exact_value))
                .t(") ELSE ")
                .then(leaf(x, *op, value, *exact))
                .t(" END)")
            }
            Test::Within(inner) => {
                // Each element that is an object is the context of the inner condition.
                let inner = self.json(inner, x);
                Frag::lit(&format!("(CASE WHEN jsonb_typeof({x}) = 'object' THEN "))
                    .then(inner)
                    .t(" ELSE FALSE END)")
            }
        }
    }

    /// True when `pred` holds for some value `path` names in `doc` (an object).
    fn any_value(&mut self, doc: &str, path: &JsonPath, pred: &mut Pred<'_>) -> Frag {
        let a = self.alias("a");
        let from = match &path.extension {
            None => Frag::lit(&format!("jsonb_each({doc}) {a} WHERE ")),
            Some(u) => {
                // The extension object keyed by the schema URI (RFC 7643 §3.3),
                // walked only when it is an object (jsonb_each raises otherwise).
                let s = self.alias("s");
                Frag::lit(&format!(
                    "jsonb_each({doc}) {s}, jsonb_each(CASE WHEN jsonb_typeof({s}.value) = 'object' \
                     THEN {s}.value ELSE '{{}}'::jsonb END) {a} WHERE "
                ))
                .then(key_is(&s, u))
                .t(" AND ")
            }
        };
        let x = format!("{a}.value");
        let body = match &path.sub {
            None => self.flatten(&x, pred),
            Some(sub) => self.flatten(&x, &mut |this, x| this.member(x, sub, pred)),
        };
        Frag::lit("EXISTS (SELECT 1 FROM ")
            .then(from)
            .then(key_is(&a, &path.attr))
            .t(" AND ")
            .then(body)
            .t(")")
    }

    /// `pred` over `x` itself, or over each element when `x` is an array.
    fn flatten(&mut self, x: &str, pred: &mut Pred<'_>) -> Frag {
        let e = self.alias("e");
        let each = pred(self, &format!("{e}.value"));
        let itself = pred(self, x);
        Frag::lit(&format!(
            "(CASE WHEN jsonb_typeof({x}) = 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements({x}) {e}(value) WHERE "
        ))
        .then(each)
        .t(") ELSE ")
        .then(itself)
        .t(" END)")
    }

    /// `pred` over the values of member `sub` of object `x` (flattened).
    fn member(&mut self, x: &str, sub: &str, pred: &mut Pred<'_>) -> Frag {
        let m = self.alias("m");
        let body = self.flatten(&format!("{m}.value"), pred);
        Frag::lit(&format!(
            "(CASE WHEN jsonb_typeof({x}) = 'object' THEN EXISTS (SELECT 1 FROM jsonb_each({x}) {m} WHERE "
        ))
        .then(key_is(&m, sub))
        .t(" AND ")
        .then(body)
        .t(") ELSE FALSE END)")
    }
}

/// Test hooks for tests/api/scim_filter_pg.rs, which holds this module to
/// the reference evaluator against a real PostgreSQL: not an API. They run
/// what the PostgreSQL store will run (the placeholders numbered in order,
/// each `Value` bound as the Rust type its cast names), directly on a
/// `postgres::Client`, because the integration tests cannot reach the
/// crate-private `Frag`.
#[doc(hidden)]
pub mod testing {
    use postgres::Client;
    use postgres::types::ToSql;

    use super::{compile, group_order, user_order};
    use crate::store::scim_query::{After, GroupCond, GroupSort, Sort, UserCond, UserSort};
    use crate::store::scim_sql::Frag;
    use crate::store::sql::Value;

    /// `?` → `$1, $2, …` in textual order (the rendered SQL holds no `?`
    /// inside a literal: every value is bound).
    pub fn numbered(sql: &str) -> String {
        let mut out = String::with_capacity(sql.len() + 16);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(c);
            }
        }
        out
    }

    fn boxed(v: &Value<'_>) -> Box<dyn ToSql + Sync> {
        match v {
            Value::Null => Box::new(None::<String>),
            Value::Int(i) => Box::new(*i),
            Value::Real(r) => Box::new(*r),
            Value::Text(t) => Box::new(t.to_string()),
            Value::Blob(b) => Box::new(b.to_vec()),
        }
    }

    fn ids(client: &mut Client, sql: &str, org_id: &str, w: &Frag) -> Result<Vec<String>, String> {
        let mut values: Vec<Box<dyn ToSql + Sync>> = vec![Box::new(org_id.to_string())];
        values.extend(w.args.iter().map(boxed));
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|b| b.as_ref()).collect();
        let sql = numbered(sql);
        let rows = client
            .query(&sql, &refs)
            .map_err(|e| format!("{}\nSQL {sql}", crate::store::pg::describe(&e)))?;
        rows.iter().map(|r| r.try_get::<_, String>(0).map_err(|e| e.to_string())).collect()
    }

    /// The rendered WHERE fragment of a user condition and its values (Debug).
    pub fn user_sql(cond: &UserCond) -> (String, Vec<String>) {
        let w = compile(cond);
        (w.sql, w.args.iter().map(|a| format!("{a:?}")).collect())
    }

    /// Ids of the org's live users `cond` selects, in `sort` order.
    pub fn user_ids(
        client: &mut Client,
        org_id: &str,
        cond: &UserCond,
        sort: Sort<UserSort>,
    ) -> Result<Vec<String>, String> {
        let w = compile(cond);
        let sql = format!(
            "SELECT u.id FROM users u WHERE u.org_id = ? AND u.deleted = 0 AND ({}) ORDER BY {}",
            w.sql,
            user_order(sort)
        );
        ids(client, &sql, org_id, &w)
    }

    /// Ids of the org's groups `cond` selects, in `sort` order.
    pub fn group_ids(
        client: &mut Client,
        org_id: &str,
        cond: &GroupCond,
        sort: Sort<GroupSort>,
    ) -> Result<Vec<String>, String> {
        let w = compile(cond);
        let sql = format!(
            "SELECT g.id FROM groups g WHERE g.org_id = ? AND ({}) ORDER BY {}",
            w.sql,
            group_order(sort)
        );
        ids(client, &sql, org_id, &w)
    }

    /// The server's plan of a cursor page (RFC 9865) of the org's users after
    /// `a` in `sort` order: the keyset condition and ORDER BY `each_user` runs.
    pub fn user_page_plan(
        client: &mut Client,
        org_id: &str,
        sort: Sort<UserSort>,
        a: &After,
    ) -> Result<Vec<String>, String> {
        let w = super::user_after(sort, a);
        let sql = format!(
            "EXPLAIN SELECT u.id FROM users u WHERE u.org_id = ? AND u.deleted = 0 AND {} AND (TRUE) AND {}
             ORDER BY {} LIMIT 101",
            crate::store::scim::SCIM_VISIBLE,
            w.sql,
            user_order(sort)
        );
        ids(client, &sql, org_id, &w)
    }

    /// The server's plan (EXPLAIN, one line per row) of a user list with `cond`.
    pub fn user_plan(client: &mut Client, org_id: &str, cond: &UserCond) -> Result<Vec<String>, String> {
        let w = compile(cond);
        let sql =
            format!("EXPLAIN SELECT u.id FROM users u WHERE u.org_id = ? AND u.deleted = 0 AND ({})", w.sql);
        ids(client, &sql, org_id, &w)
    }
}
