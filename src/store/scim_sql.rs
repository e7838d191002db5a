//! `scim_query` compiled to SQL: a WHERE fragment over alias `u` (users) or
//! `g` (groups) whose values are all bound parameters (`?`, in textual
//! order), and an ORDER BY over known columns.
//!
//! Conditions on indexed columns compile to plain comparisons, so that
//! `userName eq` uses the `(org_id, user_name_key)` index. Every leaf is
//! two-valued so NULL never leaks into NOT: an absent attribute matches no
//! comparison, and `not` of that is true; the guard on a nullable column is a
//! plain conjunct (`c IS NOT NULL AND c = ?`), which keeps equality indexable.
//!
//! Conditions over the stored JSON (`users.attributes`, `groups.attributes`)
//! evaluate inside SQLite, row by row, with the semantics of the SCIM
//! reference evaluator (src/scim/filter/eval.rs; tests in
//! scim_query_tests.rs):
//! - RFC 7643 §2.1: attribute names are case-insensitive (`lower(key) = ?`;
//!   names are ASCII by the filter grammar, and SQLite's `lower` folds ASCII).
//! - RFC 7644 §3.4.2.2: a multi-valued attribute matches if any value matches;
//!   arrays are flattened one level (`emails.value`); a complex value compared
//!   without a sub-attribute is compared through its `value`.
//! - `pr`: null, "" and [] (and objects with nothing present) are not present.
//! - Strings compare case-exactly or with Unicode lower-casing through the
//!   registered `scim_str_cmp` function; numbers numerically; booleans with
//!   `eq`/`ne` only; mixed types never match.
//!
//! Every `json_each` over a value sits in a `CASE` branch that has checked the
//! value's JSON type, so a string that merely looks like JSON is never parsed.

use super::sql::Value;

use super::scim_query::{
    After, Cond, GroupColumn, GroupSort, Json, JsonPath, Literal, Membership, NoMembership, Op, Sort, Test,
    UserColumn, UserSort,
};

/// SQL text and the values bound to its `?`s, in textual order.
#[derive(Debug, Default)]
pub struct Frag {
    pub sql: String,
    pub args: Vec<Value<'static>>,
}

impl Frag {
    pub(crate) fn lit(sql: &str) -> Frag {
        Frag { sql: sql.to_string(), args: Vec::new() }
    }
    /// Append SQL text.
    pub(crate) fn t(mut self, sql: &str) -> Frag {
        self.sql.push_str(sql);
        self
    }
    /// Append a bound value.
    pub(crate) fn bind(mut self, v: Value<'static>) -> Frag {
        self.sql.push('?');
        self.args.push(v);
        self
    }
    /// Append another fragment (its text and its values).
    pub(crate) fn then(mut self, other: Frag) -> Frag {
        self.sql.push_str(&other.sql);
        self.args.extend(other.args);
        self
    }
}

/// The columns of one table, as SQL.
pub trait Table: Copy {
    /// The column, qualified by the table's alias.
    fn sql(self) -> &'static str;
    /// Holds lower-cased text: compared values are lower-cased too.
    fn folded(self) -> bool;
    /// May hold NULL (the others are NOT NULL in the schema).
    fn nullable(self) -> bool;
    /// The stored attributes JSON of the table's alias.
    const DOC: &'static str;
}

impl Table for UserColumn {
    fn sql(self) -> &'static str {
        match self {
            UserColumn::Id => "u.id",
            UserColumn::ExternalId => "u.external_id",
            UserColumn::Created => "u.created_at",
            UserColumn::LastModified => "u.updated_at",
            UserColumn::UserName => "u.user_name_key",
            UserColumn::Active => "u.active",
        }
    }
    fn folded(self) -> bool {
        self == UserColumn::UserName
    }
    fn nullable(self) -> bool {
        self == UserColumn::ExternalId
    }
    const DOC: &'static str = "u.attributes";
}

impl Table for GroupColumn {
    fn sql(self) -> &'static str {
        match self {
            GroupColumn::Id => "g.id",
            GroupColumn::ExternalId => "g.external_id",
            GroupColumn::Created => "g.created_at",
            GroupColumn::LastModified => "g.updated_at",
            GroupColumn::DisplayName => "g.display_name_key",
        }
    }
    fn folded(self) -> bool {
        self == GroupColumn::DisplayName
    }
    fn nullable(self) -> bool {
        self == GroupColumn::ExternalId
    }
    const DOC: &'static str = "g.attributes";
}

/// Membership conditions, as SQL.
pub trait Members {
    fn sql(&self) -> Frag;
}

impl Members for NoMembership {
    fn sql(&self) -> Frag {
        match *self {}
    }
}

impl Members for Membership {
    fn sql(&self) -> Frag {
        match self {
            Membership::Any => Frag::lit("EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id)"),
            Membership::User(id) => {
                Frag::lit("EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.user_id = ")
                    .bind(Value::Text(id.clone().into()))
                    .t(")")
            }
        }
    }
}

/// A condition as a WHERE fragment.
pub fn compile<C: Table, M: Members>(cond: &Cond<C, M>) -> Frag {
    match cond {
        Cond::Always(true) => Frag::lit("1"),
        Cond::Always(false) => Frag::lit("0"),
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
            let c = column.sql();
            match op {
                Op::Eq => Frag::lit(&format!("({c} = {})", i32::from(*value))),
                Op::Ne => Frag::lit(&format!("({c} <> {})", i32::from(*value))),
                _ => Frag::lit("(0)"),
            }
        }
        Cond::Member(m) => m.sql(),
        Cond::Json(j) => JsonSql::default().json(j, C::DOC),
    }
}

fn text_compare(c: &str, op: Op, s: &str) -> Frag {
    let v = || Value::Text(s.to_string().into());
    let one = |sql: String| Frag { sql, args: vec![v()] };
    match op {
        Op::Eq => one(format!("{c} = ?")),
        Op::Ne => one(format!("{c} <> ?")),
        Op::Co => one(format!("instr({c}, ?) > 0")),
        Op::Sw => Frag { sql: format!("substr({c}, 1, length(?)) = ?"), args: vec![v(), v()] },
        Op::Ew => Frag {
            sql: format!("(length({c}) >= length(?) AND substr({c}, -length(?)) = ?)"),
            args: vec![v(), v(), v()],
        },
        Op::Gt => one(format!("{c} > ?")),
        Op::Ge => one(format!("{c} >= ?")),
        Op::Lt => one(format!("{c} < ?")),
        Op::Le => one(format!("{c} <= ?")),
    }
}

/// ORDER BY for a user list, always with id as tie-break.
pub fn user_order(s: Sort<UserSort>) -> String {
    user_order_in(s, ("ASC", "DESC"))
}

/// How an engine spells ascending and descending (PostgreSQL adds SQLite's NULL placement).
pub(crate) type Directions = (&'static str, &'static str);

/// `user_order` with the engine's `(ascending, descending)`: one column map for both engines.
pub(crate) fn user_order_in(s: Sort<UserSort>, dirs: Directions) -> String {
    order("u", user_sort_column(s.by), s.descending, dirs)
}

/// The column a user list is sorted by (None: by creation), and whether it
/// may hold NULL (which sorts smallest on both engines: see `Directions`).
pub(crate) fn user_sort_column(by: Option<UserSort>) -> (&'static str, bool) {
    match by {
        None | Some(UserSort::Created) => ("created_at", false),
        Some(UserSort::Id) => ("id", false),
        Some(UserSort::ExternalId) => ("external_id", true),
        Some(UserSort::LastModified) => ("updated_at", false),
        Some(UserSort::UserName) => ("user_name_key", false),
        Some(UserSort::DisplayName) => ("display_name", true),
        Some(UserSort::FamilyName) => ("family_name", true),
        Some(UserSort::GivenName) => ("given_name", true),
        Some(UserSort::Email) => ("email_key", true),
    }
}

/// The column a group list is sorted by, and whether it may hold NULL.
pub(crate) fn group_sort_column(by: Option<GroupSort>) -> (&'static str, bool) {
    match by {
        None | Some(GroupSort::Created) => ("created_at", false),
        Some(GroupSort::Id) => ("id", false),
        Some(GroupSort::ExternalId) => ("external_id", true),
        Some(GroupSort::LastModified) => ("updated_at", false),
        Some(GroupSort::DisplayName) => ("display_name_key", false),
    }
}

/// The rows strictly after `a` in the order `col dir, id dir` of alias `p`
/// (keyset paging); `cast` follows each placeholder (PostgreSQL's `::text`).
/// NULL sorts smallest (first ascending, last descending) on both engines,
/// so a NULL key or a nullable column needs its own branch; a NOT NULL
/// column is one row-value comparison, which both planners turn into a
/// range of an index that starts `(org_id, col, id)`.
pub(crate) fn after(p: &str, (col, nullable): (&str, bool), descending: bool, a: &After, cast: &str) -> Frag {
    let c = format!("{p}.{col}");
    let id = format!("{p}.id");
    let gt = if descending { "<" } else { ">" };
    let text = |s: &str| Value::Text(s.to_string().into());
    match &a.key {
        Some(k) if !nullable => Frag::lit(&format!("(({c}, {id}) {gt} ("))
            .bind(text(k))
            .t(cast)
            .t(", ")
            .bind(text(&a.id))
            .t(cast)
            .t("))"),
        Some(k) => {
            // NULLs are before every value ascending, after every value descending.
            let nulls = if descending { format!(" OR {c} IS NULL") } else { String::new() };
            Frag::lit(&format!("({c} {gt} "))
                .bind(text(k))
                .t(cast)
                .t(&format!(" OR ({c} = "))
                .bind(text(k))
                .t(cast)
                .t(&format!(" AND {id} {gt} "))
                .bind(text(&a.id))
                .t(cast)
                .t(&format!("){nulls})"))
        }
        None => {
            let values = if descending { String::new() } else { format!(" OR {c} IS NOT NULL") };
            Frag::lit(&format!("(({c} IS NULL AND {id} {gt} "))
                .bind(text(&a.id))
                .t(cast)
                .t(&format!("){values})"))
        }
    }
}

/// The keyset condition of a user list page after `a` (SQLite).
pub fn user_after(s: Sort<UserSort>, a: &After) -> Frag {
    after("u", user_sort_column(s.by), s.descending, a, "")
}

/// The keyset condition of a group list page after `a` (SQLite).
pub fn group_after(s: Sort<GroupSort>, a: &After) -> Frag {
    after("g", group_sort_column(s.by), s.descending, a, "")
}

/// ORDER BY for a group list, always with id as tie-break.
pub fn group_order(s: Sort<GroupSort>) -> String {
    group_order_in(s, ("ASC", "DESC"))
}

/// `group_order` with the engine's `(ascending, descending)`.
pub(crate) fn group_order_in(s: Sort<GroupSort>, dirs: Directions) -> String {
    order("g", group_sort_column(s.by), s.descending, dirs)
}

/// `col dir, id dir`. The engine's NULL placement is spelled only for a
/// nullable column: on a NOT NULL one (and on id) it changes no order, and
/// PostgreSQL uses an index `(…, col, id)` for `ORDER BY col ASC` (or a
/// backward scan for DESC) but not for `ASC NULLS FIRST`: the default order
/// and its cursor pages would sort every row instead of reading the index.
fn order(p: &str, (col, nullable): (&str, bool), descending: bool, dirs: Directions) -> String {
    let plain = if descending { "DESC" } else { "ASC" };
    let dir = if !nullable {
        plain
    } else if descending {
        dirs.1
    } else {
        dirs.0
    };
    format!("{p}.{col} {dir}, {p}.id {plain}")
}

/// An attribute name, bound lower-cased (names are ASCII by the grammar).
pub(crate) fn name(s: &str) -> Value<'static> {
    Value::Text(s.to_ascii_lowercase().into())
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

/// One value `x` against a literal.
fn leaf(x: &str, op: Op, value: &Literal, exact: bool) -> Frag {
    let number = |v: Value<'static>| {
        let sql_op = match op {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Co | Op::Sw | Op::Ew => return Frag::lit("0"),
        };
        Frag::lit(&format!("({x}.type IN ('integer', 'real') AND {x}.value {sql_op} ")).bind(v).t(")")
    };
    match value {
        Literal::Text(s) => {
            Frag::lit(&format!("({x}.type = 'text' AND scim_str_cmp('{}', {x}.value, ", op.keyword()))
                .bind(Value::Text(s.clone().into()))
                .t(&format!(", {}))", i32::from(exact)))
        }
        Literal::Integer(i) => number(Value::Int(*i)),
        Literal::Real(r) => number(Value::Real(*r)),
        Literal::Bool(b) => match op {
            Op::Eq => Frag::lit(&format!("({x}.type = '{b}')")),
            Op::Ne => Frag::lit(&format!("({x}.type = '{}')", !b)),
            // RFC 7644 Table 3 makes ordering booleans an error; the parser refuses it.
            _ => Frag::lit("0"),
        },
    }
}

/// Compiles one JSON condition; numbers the aliases of its `json_each`s.
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
            Json::Always(true) => Frag::lit("1"),
            Json::Always(false) => Frag::lit("0"),
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

    fn test(&mut self, test: &Test, x: &str) -> Frag {
        match test {
            Test::Present => present(x),
            Test::Compare { op, value, exact } => leaf(x, *op, value, *exact),
            Test::CompareImplied { op, value, exact, exact_value } => {
                // A complex value is compared through its `value` sub-attribute.
                let v = self.alias("v");
                Frag::lit(&format!(
                    "(CASE WHEN {x}.type = 'object' THEN EXISTS (SELECT 1 FROM json_each({x}.value) {v} \
                     WHERE lower({v}.key) = 'value' AND "
                ))
                .then(leaf(&v, *op, value, *exact_value))
                .t(") ELSE ")
                .then(leaf(x, *op, value, *exact))
                .t(" END)")
            }
            Test::Within(inner) => {
                // Each element that is an object is the context of the inner condition.
                let inner = self.json(inner, &format!("{x}.value"));
                Frag::lit(&format!("(CASE WHEN {x}.type = 'object' THEN ")).then(inner).t(" ELSE 0 END)")
            }
        }
    }

    /// True when `pred` holds for some value `path` names in `doc`.
    fn any_value(&mut self, doc: &str, path: &JsonPath, pred: &mut Pred<'_>) -> Frag {
        let scope = match &path.extension {
            None => Frag::lit(doc),
            Some(u) => {
                // The extension object keyed by the schema URI (RFC 7643 §3.3).
                let s = self.alias("s");
                Frag::lit(&format!("(SELECT {s}.value FROM json_each({doc}) {s} WHERE lower({s}.key) = "))
                    .bind(name(u))
                    .t(&format!(" AND {s}.type = 'object')"))
            }
        };
        let a = self.alias("a");
        let body = match &path.sub {
            None => self.flatten(&a, pred),
            Some(sub) => self.flatten(&a, &mut |this, x| this.member(x, sub, pred)),
        };
        Frag::lit("EXISTS (SELECT 1 FROM json_each(")
            .then(scope)
            .t(&format!(") {a} WHERE lower({a}.key) = "))
            .bind(name(&path.attr))
            .t(" AND ")
            .then(body)
            .t(")")
    }

    /// `pred` over `x` itself, or over each element when `x` is an array.
    fn flatten(&mut self, x: &str, pred: &mut Pred<'_>) -> Frag {
        let e = self.alias("e");
        let each = pred(self, &e);
        let itself = pred(self, x);
        Frag::lit(&format!(
            "(CASE WHEN {x}.type = 'array' THEN EXISTS (SELECT 1 FROM json_each({x}.value) {e} WHERE "
        ))
        .then(each)
        .t(") ELSE ")
        .then(itself)
        .t(" END)")
    }

    /// `pred` over the values of member `sub` of object `x` (flattened).
    fn member(&mut self, x: &str, sub: &str, pred: &mut Pred<'_>) -> Frag {
        let m = self.alias("m");
        let body = self.flatten(&m, pred);
        Frag::lit(&format!(
            "(CASE WHEN {x}.type = 'object' THEN EXISTS (SELECT 1 FROM json_each({x}.value) {m} \
             WHERE lower({m}.key) = "
        ))
        .bind(name(sub))
        .t(" AND ")
        .then(body)
        .t(") ELSE 0 END)")
    }
}
