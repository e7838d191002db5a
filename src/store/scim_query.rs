//! The query a SCIM list runs, as data: a tree of conditions over the known
//! (indexed) columns of users and groups and over the stored attributes JSON,
//! plus sort and paging. scim/ builds it from a parsed filter (deciding what
//! an attribute path means and when a filter must go to the in-memory
//! evaluator); this module's sibling `scim_sql.rs` compiles it to SQL with
//! bound parameters only. Nothing outside the store sees SQL.

/// An operator, as SCIM spells it (RFC 7644 §3.4.2.2, Table 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    /// The keyword the `scim_str_cmp` SQL function takes.
    pub fn keyword(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Co => "co",
            Op::Sw => "sw",
            Op::Ew => "ew",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
        }
    }
}

/// The indexed columns of a user a condition may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserColumn {
    Id,
    ExternalId,
    Created,
    LastModified,
    /// The userName key (lower-cased text: compared case-insensitively).
    UserName,
    /// `active` (a flag).
    Active,
}

/// The indexed columns of a group a condition may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupColumn {
    Id,
    ExternalId,
    Created,
    LastModified,
    /// The displayName key (lower-cased text: compared case-insensitively).
    DisplayName,
}

/// What a user list may be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserSort {
    Id,
    ExternalId,
    Created,
    LastModified,
    UserName,
    DisplayName,
    FamilyName,
    GivenName,
    Email,
}

/// What a group list may be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupSort {
    Id,
    ExternalId,
    Created,
    LastModified,
    DisplayName,
}

/// Group membership, the one condition over another table (`group_members`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Membership {
    /// The group has at least one member.
    Any,
    /// The user with this id is a member.
    User(String),
}

/// No membership conditions on users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoMembership {}

/// A condition over the rows of one table: `C` its columns, `M` its
/// membership conditions.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond<C, M> {
    /// Every row (true) or none (false).
    Always(bool),
    And(Box<Cond<C, M>>, Box<Cond<C, M>>),
    Or(Box<Cond<C, M>>, Box<Cond<C, M>>),
    Not(Box<Cond<C, M>>),
    /// A text column compared with a value (never matches a NULL column).
    Text {
        column: C,
        op: Op,
        value: String,
    },
    /// A text column is NULL (`null: true`) or is not.
    Null {
        column: C,
        null: bool,
    },
    /// A text column holds a non-empty value.
    Present(C),
    /// A flag column equals (`Op::Eq`) or differs from (`Op::Ne`) a boolean;
    /// any other operator matches nothing.
    Flag {
        column: C,
        op: Op,
        value: bool,
    },
    /// A membership condition.
    Member(M),
    /// A condition over the stored attributes JSON.
    Json(Json),
}

/// A user list condition.
pub type UserCond = Cond<UserColumn, NoMembership>;
/// A group list condition.
pub type GroupCond = Cond<GroupColumn, Membership>;

/// A literal compared with a JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Text(String),
    Integer(i64),
    Real(f64),
    Bool(bool),
}

/// Which values of a document an attribute path names: `attr` (in the
/// extension object keyed by `extension`, when set), then its member `sub`;
/// multi-valued attributes are flattened one level. Names match
/// case-insensitively (ASCII).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPath {
    pub extension: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

/// A condition over a JSON document (the stored attributes, or one element
/// of a multi-valued attribute inside a `Test::Within`).
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Always(bool),
    And(Box<Json>, Box<Json>),
    Or(Box<Json>, Box<Json>),
    Not(Box<Json>),
    /// Some value `path` names satisfies `test`.
    Any {
        path: JsonPath,
        test: Test,
    },
}

/// What one value must satisfy.
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    /// Present: not null, not "", not [] (nor an array of nulls), and an
    /// object with some member present.
    Present,
    /// `value op literal`; strings compare case-exactly when `exact`,
    /// numbers numerically, booleans with eq/ne only; mixed types never match.
    Compare { op: Op, value: Literal, exact: bool },
    /// As `Compare`, but an object is compared through its `value` member
    /// (with `exact_value`): a complex attribute named without a sub-attribute.
    CompareImplied { op: Op, value: Literal, exact: bool, exact_value: bool },
    /// The value is an object satisfying the inner condition (a value path).
    Within(Box<Json>),
}

/// An order: a column and a direction (ties broken by id, same direction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort<S> {
    /// None: by creation.
    pub by: Option<S>,
    pub descending: bool,
}

/// A page of a list: the rows after `after` (when set), skipping `offset`
/// of them, at most `limit` (None: all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paging {
    pub limit: Option<i64>,
    pub offset: i64,
    /// Keyset paging (SCIM cursors): only rows strictly after this position
    /// in the list's order. A page then costs the same at any depth (an index
    /// range, no OFFSET to walk).
    pub after: Option<After>,
}

/// A position in a list: the sort key and id of the last row a page
/// returned. `key` is the sort column's value (None: NULL); with the default
/// order it is `created_at`. Ties are broken by id, in the list's direction.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct After {
    pub key: Option<String>,
    pub id: String,
}

/// A list of users: which, in what order, which page.
#[derive(Clone, Debug)]
pub struct UserQuery {
    pub cond: UserCond,
    pub sort: Sort<UserSort>,
    pub paging: Paging,
}

/// A list of groups; `with_members` aggregates each group's members.
#[derive(Clone, Debug)]
pub struct GroupQuery {
    pub cond: GroupCond,
    pub sort: Sort<GroupSort>,
    pub paging: Paging,
    pub with_members: bool,
}
