//! The engine-neutral vocabulary of the store's statements: what a parameter
//! is ([`Param`] → [`Value`]), what a read column is ([`Column`] ← [`ValueRef`]),
//! and a read row ([`Row`]). The per-aggregate files (`store::users`, …)
//! speak only this and the [`Tx`](super::Tx) methods built on it
//! (`execute`, `query_opt`, `query_vec`, `query_each`, `query_one`), so a
//! second engine implements the binding and the reading once, here and in
//! tx.rs, instead of in every file. SQL text is written with numbered
//! placeholders (`?1`, `?2`, …); an engine whose syntax differs rewrites them.
//!
//! Values are the SQLite storage classes the schema uses: integers (also
//! booleans, stored as 0/1), text (also ids, enums, timestamps and JSON),
//! reals, blobs and NULL.

use std::borrow::Cow;

use rusqlite::types::{ToSqlOutput, ValueRef as SqliteRef};

use super::StoreError;
use crate::model::{ConnectionId, ConnectionKind, OrgId, Origin, ProjectId, UserId};

/// A parameter value as bound.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(Cow<'a, str>),
    Blob(&'a [u8]),
}

/// Something a statement can bind.
pub trait Param {
    fn value(&self) -> Value<'_>;
}

/// The parameters of one statement, in placeholder order.
pub type Params<'a> = &'a [&'a dyn Param];

/// `p![a, b]`: a statement's parameters (`&[&dyn Param]`).
macro_rules! p {
    () => { &[] as $crate::store::sql::Params<'_> };
    ($($v:expr),+ $(,)?) => { &[$(&$v as &dyn $crate::store::sql::Param),+] as $crate::store::sql::Params<'_> };
}
pub(crate) use p;

impl Param for str {
    fn value(&self) -> Value<'_> {
        Value::Text(Cow::Borrowed(self))
    }
}
impl Param for String {
    fn value(&self) -> Value<'_> {
        Value::Text(Cow::Borrowed(self))
    }
}
impl Param for i64 {
    fn value(&self) -> Value<'_> {
        Value::Int(*self)
    }
}
impl Param for i32 {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}
impl Param for u32 {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}
impl Param for usize {
    fn value(&self) -> Value<'_> {
        // Counts and limits: far below i64::MAX; saturate rather than wrap.
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl Param for bool {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}
impl Param for f64 {
    fn value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}
impl Param for [u8] {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}
impl Param for Vec<u8> {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}
impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}
impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value<'_> {
        match self {
            Some(v) => v.value(),
            None => Value::Null,
        }
    }
}
impl Param for Value<'_> {
    fn value(&self) -> Value<'_> {
        self.clone()
    }
}

/// Ids and enums are stored as the TEXT they wrap or name.
macro_rules! text_param {
    ($($name:ty),*) => {$(
        impl Param for $name {
            fn value(&self) -> Value<'_> {
                Value::Text(Cow::Borrowed(self.as_str()))
            }
        }
    )*};
}
text_param!(OrgId, ProjectId, UserId, ConnectionId, ConnectionKind, Origin);

/// One read column's value, borrowed from the row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl ValueRef<'_> {
    fn kind(&self) -> &'static str {
        match self {
            ValueRef::Null => "NULL",
            ValueRef::Int(_) => "an integer",
            ValueRef::Real(_) => "a real",
            ValueRef::Text(_) => "text",
            ValueRef::Blob(_) => "a blob",
        }
    }
}

/// Why a column could not be read as the type asked for.
#[derive(Debug, thiserror::Error)]
pub enum ColumnError {
    #[error("expected {expected}, found {found}")]
    Type { expected: &'static str, found: &'static str },
    /// A stored value this code does not know (an enum's unknown name).
    #[error("{what}: {message}")]
    Unknown { what: &'static str, message: String },
}

/// Something a read column can be.
pub trait Column: Sized {
    fn from_column(v: ValueRef<'_>) -> Result<Self, ColumnError>;
}

fn mismatch<T>(expected: &'static str, v: ValueRef<'_>) -> Result<T, ColumnError> {
    Err(ColumnError::Type { expected, found: v.kind() })
}

impl Column for i64 {
    fn from_column(v: ValueRef<'_>) -> Result<Self, ColumnError> {
        match v {
            ValueRef::Int(i) => Ok(i),
            other => mismatch("an integer", other),
        }
    }
}
impl Column for u32 {
    fn from_column(v: ValueRef<'_>) -> Result<Self, ColumnError> {
        match v {
            ValueRef::Int(i) => u32::try_from(i)
                .map_err(|_| ColumnError::Type { expected: "a u32", found: "an integer out of range" }),
            other => mismatch("an integer", other),
        }
    }
}
impl Column for bool {
    fn from_column(v: ValueRef<'_>) -> Result<Self, ColumnError> {
        match v {
            ValueRef::Int(i) => Ok(i != 0),
            other => mismatch("a 0/1 integer", other),
        }
    }
}
impl Column for f64 {
    fn from_column(v: ValueRef<'_>) -> Result<Self, ColumnError> {
        match v {
            ValueRef::Real(r) => Ok(r),
            // SQLite returns a whole real as an integer when it can.
            #[allow(clippy::cast_precision_loss)]
            ValueRef::Int(i) => Ok(i as f64),
            other => mismatch("a real", other),
        }
    }
}
impl Column for String {
    fn from_column(v: ValueRef<'_>) -> Result<Self, ColumnError> {
        match v {
            ValueRef::Text(s) => Ok(s.to_string()),
            other => mismatch("text", other),
        }
    }
}
impl Column for Vec<u8> {
    fn from_column(v: ValueRef<'_>) -> Result<Self, ColumnError> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            other => mismatch("a blob", other),
        }
    }
}
impl<T: Column> Column for Option<T> {
    fn from_column(v: ValueRef<'_>) -> Result<Self, ColumnError> {
        match v {
            ValueRef::Null => Ok(None),
            other => T::from_column(other).map(Some),
        }
    }
}

macro_rules! text_id_column {
    ($($name:ident),*) => {$(
        impl Column for $name {
            fn from_column(v: ValueRef<'_>) -> Result<Self, ColumnError> {
                String::from_column(v).map($name::from)
            }
        }
    )*};
}
text_id_column!(OrgId, ProjectId, UserId, ConnectionId);

impl Column for ConnectionKind {
    fn from_column(v: ValueRef<'_>) -> Result<Self, ColumnError> {
        match v {
            ValueRef::Text(s) => ConnectionKind::parse(s)
                .map_err(|e| ColumnError::Unknown { what: "connection kind", message: e.to_string() }),
            other => mismatch("text", other),
        }
    }
}
impl Column for Origin {
    fn from_column(v: ValueRef<'_>) -> Result<Self, ColumnError> {
        match v {
            ValueRef::Text(s) => Origin::parse(s)
                .map_err(|e| ColumnError::Unknown { what: "user origin", message: e.to_string() }),
            other => mismatch("text", other),
        }
    }
}

/// One row of a result.
pub struct Row<'r> {
    inner: RowInner<'r>,
}

enum RowInner<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Pg(&'r postgres::Row),
}

impl<'r> Row<'r> {
    pub(super) fn sqlite(r: &'r rusqlite::Row<'r>) -> Row<'r> {
        Row { inner: RowInner::Sqlite(r) }
    }

    pub(super) fn pg(r: &'r postgres::Row) -> Row<'r> {
        Row { inner: RowInner::Pg(r) }
    }

    /// Column `idx` (0-based) as a `T`.
    pub fn get<T: Column>(&self, idx: usize) -> Result<T, StoreError> {
        match &self.inner {
            RowInner::Sqlite(r) => {
                let v = r.get_ref(idx)?;
                T::from_column(from_sqlite(v)).map_err(|e| column_error(idx, e))
            }
            RowInner::Pg(r) => {
                let cell = r.try_get::<usize, super::pg::conn::PgCell<'_>>(idx).map_err(|e| {
                    StoreError::Corrupt { what: "column", message: format!("column {idx}: {e}") }
                })?;
                T::from_column(cell.0).map_err(|e| column_error(idx, e))
            }
        }
    }
}

fn column_error(idx: usize, e: ColumnError) -> StoreError {
    match e {
        ColumnError::Unknown { what, message } => StoreError::Corrupt { what, message },
        ColumnError::Type { .. } => {
            StoreError::Corrupt { what: "column", message: format!("column {idx}: {e}") }
        }
    }
}

fn from_sqlite(v: SqliteRef<'_>) -> ValueRef<'_> {
    match v {
        SqliteRef::Null => ValueRef::Null,
        SqliteRef::Integer(i) => ValueRef::Int(i),
        SqliteRef::Real(r) => ValueRef::Real(r),
        // The store writes only UTF-8; anything else reads as a blob and fails a text read.
        SqliteRef::Text(t) => std::str::from_utf8(t).map_or(ValueRef::Blob(t), ValueRef::Text),
        SqliteRef::Blob(b) => ValueRef::Blob(b),
    }
}

/// A parameter as rusqlite binds it.
pub(super) struct SqliteBind<'a>(pub(super) &'a dyn Param);

impl rusqlite::ToSql for SqliteBind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as Owned;
        Ok(match self.0.value() {
            Value::Null => ToSqlOutput::Borrowed(SqliteRef::Null),
            Value::Int(i) => ToSqlOutput::Owned(Owned::Integer(i)),
            Value::Real(r) => ToSqlOutput::Owned(Owned::Real(r)),
            Value::Text(Cow::Borrowed(s)) => ToSqlOutput::Borrowed(SqliteRef::Text(s.as_bytes())),
            Value::Text(Cow::Owned(s)) => ToSqlOutput::Owned(Owned::Text(s)),
            Value::Blob(b) => ToSqlOutput::Borrowed(SqliteRef::Blob(b)),
        })
    }
}

/// The parameters of a statement as rusqlite binds them.
pub(super) fn sqlite_params<'a>(params: Params<'a>) -> impl rusqlite::Params + 'a {
    rusqlite::params_from_iter(params.iter().map(|p| SqliteBind(*p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tx::MemoryDb;

    #[test]
    fn values_round_trip_through_sqlite() {
        let db = MemoryDb::new();
        let tx = db.tx();
        let got = tx
            .query_one(
                "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7",
                p![42_i64, "text", true, None::<String>, 1.5_f64, ConnectionKind::Oidc, Origin::Scim],
                |r| {
                    Ok((
                        r.get::<i64>(0)?,
                        r.get::<String>(1)?,
                        r.get::<bool>(2)?,
                        r.get::<Option<String>>(3)?,
                        r.get::<f64>(4)?,
                        r.get::<ConnectionKind>(5)?,
                        r.get::<Origin>(6)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(got, (42, "text".into(), true, None, 1.5, ConnectionKind::Oidc, Origin::Scim));
    }

    #[test]
    fn a_wrong_type_or_an_unknown_name_is_corrupt_not_a_panic() {
        let db = MemoryDb::new();
        let tx = db.tx();
        let e = tx.query_one("SELECT 'x'", p![], |r| r.get::<i64>(0)).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
        let e = tx.query_one("SELECT 'ldap'", p![], |r| r.get::<ConnectionKind>(0)).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { what: "connection kind", .. }), "{e:?}");
        let e = tx.query_one("SELECT 'nobody'", p![], |r| r.get::<Origin>(0)).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { what: "user origin", .. }), "{e:?}");
        // Typed values are bound as the TEXT they always were.
        let s =
            tx.query_one("SELECT ?1 || ?2", p![ConnectionKind::Saml, Origin::Manual], |r| r.get::<String>(0));
        assert_eq!(s.unwrap(), "samlmanual");
        let e = tx.query_one("SELECT NULL", p![], |r| r.get::<String>(0)).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
    }

    #[test]
    fn query_helpers_read_none_one_many_and_stop_early() {
        let db = MemoryDb::new();
        let tx = db.tx();
        tx.exec("CREATE TEMP TABLE t (n INTEGER)", p![]).unwrap();
        for n in 1..=5_i64 {
            assert_eq!(tx.exec("INSERT INTO t (n) VALUES (?1)", p![n]).unwrap(), 1);
        }
        assert_eq!(
            tx.query_opt("SELECT n FROM t WHERE n = ?1", p![9_i64], |r| r.get::<i64>(0)).unwrap(),
            None
        );
        assert_eq!(
            tx.query_opt("SELECT n FROM t WHERE n = ?1", p![3_i64], |r| r.get::<i64>(0)).unwrap(),
            Some(3)
        );
        let all = tx.query_vec("SELECT n FROM t ORDER BY n", p![], |r| r.get::<i64>(0)).unwrap();
        assert_eq!(all, vec![1, 2, 3, 4, 5]);
        let mut seen = Vec::new();
        tx.query_each("SELECT n FROM t ORDER BY n", p![], |r| {
            seen.push(r.get::<i64>(0)?);
            Ok(seen.len() < 2)
        })
        .unwrap();
        assert_eq!(seen, vec![1, 2]);
        let e = tx.query_one("SELECT n FROM t WHERE n = 9", p![], |r| r.get::<i64>(0)).unwrap_err();
        assert!(matches!(e, StoreError::NoRow), "{e:?}");
    }
}
