//! `idbridge db copy`: a whole deployment from one database to another, either
//! engine to either engine (the way off the embedded SQLite default).
//!
//! The tables, their columns, keys and foreign keys come from this binary's own
//! schema (its SQLite migrations applied to an in-memory database), so a table
//! added by a later migration is copied without anyone listing it here. Both
//! sides are checked against that schema. The source is read in one snapshot
//! (SQLite: one read transaction; PostgreSQL: REPEATABLE READ READ ONLY); the
//! target is written in one transaction, parents before children, in multi-row
//! INSERTs, and its row counts are compared with the source's before the
//! commit, so a failed copy leaves the target as it was after its migrations.
//! Values travel as they are stored (integers, reals, text, bytes, NULL):
//! sealed secrets stay sealed, so the target needs the source's secret key.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use rusqlite::types::Value;

use super::{Db, StoreError, pg};

/// One side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl Endpoint {
    /// The name every message shows: the path, or the URL without its password.
    pub fn shown(&self) -> String {
        match self {
            Endpoint::Sqlite(p) => p.display().to_string(),
            Endpoint::Postgres(url) => pg::redacted(url),
        }
    }
}

/// Why a copy was refused or failed; in every case the target holds no copied row.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The target already holds data (before or after its migrations).
    #[error(
        "{target}: the target is not empty (table {table} has rows); copy only into a new, empty database"
    )]
    NotEmpty { target: String, table: String },
    /// The source's schema version is not this binary's.
    #[error("{db}: schema version {found}, this binary's is {known}; {advice}")]
    SourceSchema { db: String, found: u32, known: u32, advice: String },
    /// A database's tables or columns are not this binary's schema.
    #[error("{db}: {detail}")]
    Schema { db: String, detail: String },
    /// After copying, a table's row count differs between the two sides.
    #[error("{table}: {source_rows} row(s) in the source, {target_rows} in the target; nothing committed")]
    CountMismatch { table: String, source_rows: u64, target_rows: u64 },
    /// A value whose type the target column does not take (or the copy does not know).
    #[error("{table}.{column}: cannot copy a {kind} value into a {target_type} column")]
    Value { table: String, column: String, kind: &'static str, target_type: String },
    /// A source column of a type the copy does not read (the schema has none).
    #[error("{table}.{column}: column type {type_name} is not one the copy knows")]
    UnknownType { table: String, column: String, type_name: String },
    /// The two endpoints name the same database.
    #[error("{0}: --from and --to name the same database")]
    SameDatabase(String),
    /// The source SQLite file does not exist (it is never created by a copy).
    #[error("{0}: no such database file")]
    NoSource(String),
    /// Opening or migrating a side.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Any other error of the SQLite engine, on the named side.
    #[error("{db}: {what}: {error}")]
    Sqlite { db: String, what: String, error: rusqlite::Error },
    /// Any other error of the PostgreSQL engine, on the named side.
    #[error("{db}: {what}: {message}")]
    Postgres { db: String, what: String, message: String },
}

/// What was copied: each table with its row count (verified on both sides), in copy order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub tables: Vec<(String, u64)>,
}

/// A progress line every this many rows of one table.
const PROGRESS_EVERY: u64 = 10_000;
/// Rows per INSERT at most; fewer for wide tables (bound-parameter limits below).
const BATCH_ROWS: usize = 500;
/// SQLite's historical minimum of bound parameters per statement (newer builds allow more).
const SQLITE_MAX_PARAMS: usize = 999;
/// PostgreSQL's wire protocol counts bound parameters in 16 bits.
const PG_MAX_PARAMS: usize = 65_535;
/// PostgreSQL's migration ledger: bookkeeping, written by the target's own migrations.
const PG_LEDGER: &str = "schema_migrations";

/// A table of this binary's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    /// Every column, in declaration order.
    pub columns: Vec<String>,
    /// The primary key columns (rows are read in this order).
    pub key: Vec<String>,
    /// Tables this one refers to by foreign key.
    pub parents: BTreeSet<String>,
    /// The single INTEGER primary key that hands out ids (SQLite rowid,
    /// PostgreSQL identity), whose sequence must end up past the copied ids.
    pub sequenced: Option<String>,
}

/// This binary's tables in foreign-key order (every parent before its children),
/// read from its SQLite migrations applied to an in-memory database.
pub fn plan() -> Result<Vec<Table>, CopyError> {
    let (tables, _) = reference()?;
    fk_order(tables)
}

/// The reference schema's tables (by name) and its version.
fn reference() -> Result<(Vec<Table>, u32), CopyError> {
    let db = "this binary's schema".to_string();
    let err = |what: &str| {
        let (db, what) = (db.clone(), what.to_string());
        move |error| CopyError::Sqlite { db, what, error }
    };
    let mut conn = rusqlite::Connection::open_in_memory().map_err(err("opening"))?;
    super::functions::register(&conn).map_err(err("registering functions"))?;
    // Silenced: "applied migration" lines about this scratch database would read as if
    // the operator's databases were being migrated.
    tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
        super::migrate::apply(&mut conn)
    })?;
    let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(err("version"))?;
    let mut tables = Vec::new();
    for name in sqlite_tables(&conn).map_err(err("listing tables"))? {
        tables.push(sqlite_table(&conn, &name).map_err(err("reading the schema"))?);
    }
    Ok((tables, version))
}

/// The tables of an SQLite database, without SQLite's own (`sqlite_sequence`, …).
fn sqlite_tables(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

fn sqlite_table(conn: &rusqlite::Connection, name: &str) -> rusqlite::Result<Table> {
    let mut columns = Vec::new();
    let mut key: Vec<(i64, String, String)> = Vec::new();
    let mut stmt = conn.prepare("SELECT name, type, pk FROM pragma_table_info(?1) ORDER BY cid")?;
    let mut rows = stmt.query([name])?;
    while let Some(r) = rows.next()? {
        let (col, ty, pk): (String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
        if pk > 0 {
            key.push((pk, col.clone(), ty));
        }
        columns.push(col);
    }
    key.sort();
    let sequenced = match key.as_slice() {
        [(_, col, ty)] if ty.eq_ignore_ascii_case("INTEGER") => Some(col.clone()),
        _ => None,
    };
    let mut stmt = conn.prepare("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)")?;
    let parents = stmt.query_map([name], |r| r.get(0))?.collect::<rusqlite::Result<BTreeSet<String>>>()?;
    Ok(Table {
        name: name.to_string(),
        columns,
        key: key.into_iter().map(|(_, c, _)| c).collect(),
        parents,
        sequenced,
    })
}

/// Kahn's order, ties by name; a cycle (a self-reference included) is refused:
/// rows of such tables would need an order within the table, which no copy here knows.
fn fk_order(tables: Vec<Table>) -> Result<Vec<Table>, CopyError> {
    let known: BTreeSet<String> = tables.iter().map(|t| t.name.clone()).collect();
    let mut left: BTreeMap<String, Table> = tables.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut out: Vec<Table> = Vec::new();
    loop {
        let done: BTreeSet<&str> = out.iter().map(|t| t.name.as_str()).collect();
        let ready = left
            .values()
            .find(|t| t.parents.iter().all(|p| done.contains(p.as_str()) || !known.contains(p)))
            .map(|t| t.name.clone());
        match ready {
            Some(name) => {
                if let Some(t) = left.remove(&name) {
                    out.push(t);
                }
            }
            None if left.is_empty() => return Ok(out),
            None => {
                return Err(CopyError::Schema {
                    db: "this binary's schema".into(),
                    detail: format!(
                        "foreign keys form a cycle among {}",
                        left.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                });
            }
        }
    }
}

/// `"name"`, quoted for either engine.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn column_list(t: &Table) -> String {
    t.columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ")
}

/// `INSERT INTO t (cols) VALUES (…), (…)` for `rows` rows; `param(i)` writes the i-th placeholder.
fn insert_sql(t: &Table, rows: usize, param: impl Fn(usize) -> String) -> String {
    let n = t.columns.len();
    let groups: Vec<String> = (0..rows)
        .map(|r| format!("({})", (0..n).map(|c| param(r * n + c + 1)).collect::<Vec<_>>().join(", ")))
        .collect();
    format!("INSERT INTO {} ({}) VALUES {}", ident(&t.name), column_list(t), groups.join(", "))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Integer(_) => "integer",
        Value::Real(_) => "real",
        Value::Text(_) => "text",
        Value::Blob(_) => "blob",
    }
}

// ---------------------------------------------------------------------------------------
// The two engines, each as a source (one snapshot) and as a target (one transaction)
// ---------------------------------------------------------------------------------------

enum Side {
    Sqlite {
        db: String,
        conn: rusqlite::Connection,
    },
    Postgres {
        db: String,
        // Boxed: the driver's client is several times the size of an SQLite connection.
        client: Box<postgres::Client>,
        statements: BTreeMap<(String, usize), postgres::Statement>,
    },
}

impl Side {
    fn db(&self) -> &str {
        match self {
            Side::Sqlite { db, .. } | Side::Postgres { db, .. } => db,
        }
    }

    /// Open the source and start its snapshot; the SQLite file must exist and is opened read-only.
    fn open_source(from: &Endpoint) -> Result<Side, CopyError> {
        let db = from.shown();
        match from {
            Endpoint::Sqlite(path) => {
                if !path.is_file() {
                    return Err(CopyError::NoSource(db));
                }
                let conn = super::open_conn(path, true)?;
                // A deferred read transaction takes its snapshot at the first read,
                // the version below; every later read sees that same snapshot.
                conn.execute_batch("BEGIN DEFERRED").map_err(lerr(&db, "starting the read"))?;
                Ok(Side::Sqlite { db, conn })
            }
            Endpoint::Postgres(url) => {
                let mut client = pg::connect(url)?;
                client
                    .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .map_err(perr(&db, "starting the snapshot"))?;
                Ok(Side::Postgres { db, client: Box::new(client), statements: BTreeMap::new() })
            }
        }
    }

    /// Open a target (already migrated) and start its one write transaction.
    fn open_target(to: &Endpoint) -> Result<Side, CopyError> {
        let db = to.shown();
        match to {
            Endpoint::Sqlite(path) => {
                let conn = super::open_conn(path, false)?;
                // IMMEDIATE: the write lock now, so nothing writes between the emptiness check and the commit.
                conn.execute_batch("BEGIN IMMEDIATE").map_err(lerr(&db, "starting the transaction"))?;
                Ok(Side::Sqlite { db, conn })
            }
            Endpoint::Postgres(url) => {
                let mut client = pg::connect(url)?;
                client.batch_execute("BEGIN").map_err(perr(&db, "starting the transaction"))?;
                Ok(Side::Postgres { db, client: Box::new(client), statements: BTreeMap::new() })
            }
        }
    }

    /// Open an existing target as it is (not migrated, nothing written), to look for rows.
    fn peek(to: &Endpoint) -> Result<Option<Side>, CopyError> {
        match to {
            Endpoint::Sqlite(path) if !path.exists() => Ok(None),
            Endpoint::Sqlite(path) => {
                Ok(Some(Side::Sqlite { db: to.shown(), conn: super::open_conn(path, true)? }))
            }
            Endpoint::Postgres(url) => Ok(Some(Side::Postgres {
                db: to.shown(),
                client: Box::new(pg::connect(url)?),
                statements: BTreeMap::new(),
            })),
        }
    }

    /// The schema version recorded (0: never migrated), read without writing.
    fn version(&mut self) -> Result<u32, CopyError> {
        let what = "reading the schema version";
        match self {
            Side::Sqlite { db, conn } => {
                conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(lerr(db, what))
            }
            Side::Postgres { db, client, .. } => {
                // Two statements: a query naming a missing table fails at parse time,
                // whatever a CASE around it says.
                let ledger = client
                    .query_one("SELECT to_regclass($1) IS NOT NULL", &[&PG_LEDGER])
                    .map_err(perr(db, what))?;
                if !ledger.get::<_, bool>(0) {
                    return Ok(0);
                }
                let row = client
                    .query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[])
                    .map_err(perr(db, what))?;
                let v: i32 = row.get(0);
                Ok(u32::try_from(v).unwrap_or(0))
            }
        }
    }

    /// Every table but the engine's bookkeeping.
    fn tables(&mut self) -> Result<Vec<String>, CopyError> {
        let what = "listing tables";
        match self {
            Side::Sqlite { db, conn } => sqlite_tables(conn).map_err(lerr(db, what)),
            Side::Postgres { db, client, .. } => {
                let rows = client
                    .query(
                        "SELECT table_name::text FROM information_schema.tables
                         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> $1
                         ORDER BY table_name",
                        &[&PG_LEDGER],
                    )
                    .map_err(perr(db, what))?;
                Ok(rows.iter().map(|r| r.get(0)).collect())
            }
        }
    }

    fn columns(&mut self, table: &str) -> Result<Vec<String>, CopyError> {
        let what = "reading columns";
        match self {
            Side::Sqlite { db, conn } => {
                let mut stmt = conn
                    .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
                    .map_err(lerr(db, what))?;
                let cols = stmt.query_map([table], |r| r.get(0)).and_then(|rows| rows.collect());
                cols.map_err(lerr(db, "reading columns"))
            }
            Side::Postgres { db, client, .. } => {
                let rows = client
                    .query(
                        "SELECT column_name::text FROM information_schema.columns
                         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                        &[&table],
                    )
                    .map_err(perr(db, what))?;
                Ok(rows.iter().map(|r| r.get(0)).collect())
            }
        }
    }

    /// Refuse a database whose tables or columns are not the reference's.
    fn check_schema(&mut self, reference: &[Table]) -> Result<(), CopyError> {
        let found: BTreeSet<String> = self.tables()?.into_iter().collect();
        let wanted: BTreeSet<String> = reference.iter().map(|t| t.name.clone()).collect();
        let schema = |detail: String| CopyError::Schema { db: self.db().to_string(), detail };
        if let Some(extra) = found.difference(&wanted).next() {
            return Err(schema(format!(
                "table {extra} is not in this binary's schema (it would not be copied)"
            )));
        }
        if let Some(missing) = wanted.difference(&found).next() {
            return Err(schema(format!("table {missing} of this binary's schema is missing")));
        }
        for t in reference {
            let mut have = self.columns(&t.name)?;
            let mut want = t.columns.clone();
            have.sort();
            want.sort();
            if have != want {
                return Err(CopyError::Schema {
                    db: self.db().to_string(),
                    detail: format!(
                        "table {} has columns ({}), this binary's ({})",
                        t.name,
                        have.join(", "),
                        want.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// The first of `tables` that holds a row.
    fn first_nonempty(&mut self, tables: &[String]) -> Result<Option<String>, CopyError> {
        for t in tables {
            let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", ident(t));
            let what = "looking for rows";
            let any = match self {
                Side::Sqlite { db, conn } => {
                    conn.query_row(&sql, [], |r| r.get::<_, bool>(0)).map_err(lerr(db, what))?
                }
                Side::Postgres { db, client, .. } => {
                    client.query_one(&sql, &[]).map_err(perr(db, what))?.get::<_, bool>(0)
                }
            };
            if any {
                return Ok(Some(t.clone()));
            }
        }
        Ok(None)
    }

    fn count(&mut self, table: &str) -> Result<u64, CopyError> {
        let sql = format!("SELECT count(*) FROM {}", ident(table));
        let what = "counting rows";
        let n: i64 = match self {
            Side::Sqlite { db, conn } => conn.query_row(&sql, [], |r| r.get(0)).map_err(lerr(db, what))?,
            Side::Postgres { db, client, .. } => client.query_one(&sql, &[]).map_err(perr(db, what))?.get(0),
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The highest id the table's sequence has handed out (0 if none): at least the
    /// largest id present, more when the newest rows were deleted (change events
    /// past their retention), so that an id is never handed out twice.
    fn high_water(&mut self, t: &Table, col: &str) -> Result<i64, CopyError> {
        let max_sql = format!("SELECT coalesce(max({}), 0) FROM {}", ident(col), ident(&t.name));
        let what = "reading the id sequence";
        match self {
            Side::Sqlite { db, conn } => {
                let max: i64 = conn.query_row(&max_sql, [], |r| r.get(0)).map_err(lerr(db, what))?;
                // sqlite_sequence exists once any AUTOINCREMENT table does; it keeps the highest id ever given.
                let seq: Option<i64> = conn
                    .query_row(
                        "SELECT CASE WHEN EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence')
                                THEN 1 ELSE 0 END",
                        [],
                        |r| r.get::<_, i64>(0),
                    )
                    .and_then(|has| {
                        if has == 0 {
                            return Ok(None);
                        }
                        conn.query_row(
                            "SELECT max(seq) FROM sqlite_sequence WHERE name = ?1",
                            [&t.name],
                            |r| r.get(0),
                        )
                    })
                    .map_err(lerr(db, "reading sqlite_sequence"))?;
                Ok(max.max(seq.unwrap_or(0)))
            }
            Side::Postgres { db, client, .. } => {
                let row = client
                    .query_one(
                        &format!(
                            "SELECT coalesce(max({}), 0)::bigint,
                                    (SELECT s.last_value FROM pg_sequences s
                                     WHERE format('%I.%I', s.schemaname, s.sequencename)::regclass
                                           = pg_get_serial_sequence($1, $2)::regclass)
                             FROM {}",
                            ident(col),
                            ident(&t.name)
                        ),
                        &[&t.name, &col],
                    )
                    .map_err(perr(db, what))?;
                let (max, seq): (i64, Option<i64>) = (row.get(0), row.get(1));
                Ok(max.max(seq.unwrap_or(0)))
            }
        }
    }

    /// Make the target's sequence of `t` hand out ids above `high`.
    fn set_high_water(&mut self, t: &Table, col: &str, high: i64) -> Result<(), CopyError> {
        let what = "setting the id sequence";
        match self {
            Side::Sqlite { db, conn } => {
                // Only AUTOINCREMENT tables keep a sequence; the others hand out max(id) + 1,
                // which the copied rows already carry.
                let autoincrement: bool = conn
                    .query_row(
                        "SELECT instr(upper(sql), 'AUTOINCREMENT') > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                        [&t.name],
                        |r| r.get(0),
                    )
                    .map_err(lerr(db, what))?;
                if !autoincrement || high == 0 {
                    return Ok(());
                }
                let set = conn
                    .execute(
                        "UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1",
                        rusqlite::params![t.name, high],
                    )
                    .and_then(|n| {
                        if n == 0 {
                            conn.execute(
                                "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)",
                                rusqlite::params![t.name, high],
                            )
                        } else {
                            Ok(n)
                        }
                    });
                set.map(|_| ()).map_err(lerr(db, "setting sqlite_sequence"))
            }
            Side::Postgres { db, client, .. } => {
                // setval(seq, n, true): the next id is n + 1; (1, false): the next is 1.
                let (value, called) = if high > 0 { (high, true) } else { (1, false) };
                client
                    .query_one(
                        "SELECT setval(pg_get_serial_sequence($1, $2), $3, $4)",
                        &[&t.name, &col, &value, &called],
                    )
                    .map_err(perr(db, what))?;
                Ok(())
            }
        }
    }

    /// Every row of `t` in key order, handed to `each` one at a time.
    fn each_row(
        &mut self,
        t: &Table,
        each: &mut dyn FnMut(Vec<Value>) -> Result<(), CopyError>,
    ) -> Result<(), CopyError> {
        let order = if t.key.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", t.key.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", "))
        };
        let sql = format!("SELECT {} FROM {}{order}", column_list(t), ident(&t.name));
        let what = "reading rows";
        match self {
            Side::Sqlite { db, conn } => {
                let mut stmt = conn.prepare(&sql).map_err(lerr(db, what))?;
                let mut rows = stmt.query([]).map_err(lerr(db, what))?;
                while let Some(r) = rows.next().map_err(lerr(db, what))? {
                    let mut values = Vec::with_capacity(t.columns.len());
                    for i in 0..t.columns.len() {
                        values.push(r.get::<_, Value>(i).map_err(lerr(db, what))?);
                    }
                    each(values)?;
                }
                Ok(())
            }
            Side::Postgres { db, client, .. } => {
                let mut rows = client
                    .query_raw(&sql, std::iter::empty::<&(dyn ToSql + Sync)>())
                    .map_err(perr(db, what))?;
                while let Some(r) = rows.next().map_err(perr(db, what))? {
                    let mut values = Vec::with_capacity(t.columns.len());
                    for (i, c) in r.columns().iter().enumerate() {
                        values.push(pg_value(&r, i, c.type_()).map_err(perr(db, what))?.ok_or_else(
                            || CopyError::UnknownType {
                                table: t.name.clone(),
                                column: c.name().to_string(),
                                type_name: c.type_().name().to_string(),
                            },
                        )?);
                    }
                    each(values)?;
                }
                Ok(())
            }
        }
    }

    /// Insert `rows` (at most one batch) into `t` in one statement.
    fn insert(&mut self, t: &Table, rows: &[Vec<Value>]) -> Result<(), CopyError> {
        if rows.is_empty() {
            return Ok(());
        }
        let what = format!("inserting into {}", t.name);
        match self {
            Side::Sqlite { db, conn } => {
                let sql = insert_sql(t, rows.len(), |i| format!("?{i}"));
                let mut stmt = conn.prepare_cached(&sql).map_err(lerr(db, &what))?;
                stmt.execute(rusqlite::params_from_iter(rows.iter().flatten())).map_err(lerr(db, &what))?;
                Ok(())
            }
            Side::Postgres { db, client, statements } => {
                let cache_key = (t.name.clone(), rows.len());
                let stmt = match statements.get(&cache_key) {
                    Some(s) => s.clone(),
                    None => {
                        let s = client
                            .prepare(&insert_sql(t, rows.len(), |i| format!("${i}")))
                            .map_err(perr(db, &what))?;
                        statements.insert(cache_key, s.clone());
                        s
                    }
                };
                // The server infers each parameter's type from its column: convert to exactly that.
                let types = stmt.params().to_vec();
                let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(types.len());
                for (i, v) in rows.iter().flatten().enumerate() {
                    let ty = types.get(i).cloned().unwrap_or(Type::UNKNOWN);
                    params.push(to_pg(v, &ty).ok_or_else(|| CopyError::Value {
                        table: t.name.clone(),
                        column: t.columns.get(i % t.columns.len().max(1)).cloned().unwrap_or_default(),
                        kind: kind(v),
                        target_type: ty.name().to_string(),
                    })?);
                }
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
                client.execute(&stmt, &refs).map_err(perr(db, &what))?;
                Ok(())
            }
        }
    }

    /// Rows per INSERT into `t` on this engine.
    fn batch_rows(&self, t: &Table) -> usize {
        let limit = match self {
            Side::Sqlite { .. } => SQLITE_MAX_PARAMS,
            Side::Postgres { .. } => PG_MAX_PARAMS,
        };
        (limit / t.columns.len().max(1)).clamp(1, BATCH_ROWS)
    }

    /// Lock every table against other writers until the commit (PostgreSQL; SQLite's
    /// BEGIN IMMEDIATE already holds the database's one write lock). Readers go on.
    fn lock(&mut self, tables: &[Table]) -> Result<(), CopyError> {
        if let Side::Postgres { db, client, .. } = self {
            let names: Vec<String> = tables.iter().map(|t| ident(&t.name)).collect();
            client
                .batch_execute(&format!("LOCK TABLE {} IN EXCLUSIVE MODE", names.join(", ")))
                .map_err(perr(db, "locking the tables"))?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), CopyError> {
        let what = "committing";
        match self {
            Side::Sqlite { db, conn } => conn.execute_batch("COMMIT").map_err(lerr(db, what)),
            Side::Postgres { db, client, .. } => client.batch_execute("COMMIT").map_err(perr(db, what)),
        }
    }

    /// End the transaction without keeping anything (the connection closing would, too).
    fn rollback(&mut self) {
        // A failed rollback leaves the transaction to the connection's close, which rolls it back.
        let _ = match self {
            Side::Sqlite { conn, .. } => conn.execute_batch("ROLLBACK").map_err(|_| ()),
            Side::Postgres { client, .. } => client.batch_execute("ROLLBACK").map_err(|_| ()),
        };
    }
}

/// An SQLite error on side `db` while doing `what`.
fn lerr(db: &str, what: &str) -> impl FnOnce(rusqlite::Error) -> CopyError + use<> {
    let (db, what) = (db.to_string(), what.to_string());
    move |error| CopyError::Sqlite { db, what, error }
}

/// A PostgreSQL error on side `db` while doing `what`, with its causes.
fn perr(db: &str, what: &str) -> impl FnOnce(postgres::Error) -> CopyError + use<> {
    let (db, what) = (db.to_string(), what.to_string());
    move |e| CopyError::Postgres { db, what, message: pg::describe(&e) }
}

/// A PostgreSQL value as stored: `None` for a column type the copy does not know.
fn pg_value(r: &postgres::Row, i: usize, ty: &Type) -> Result<Option<Value>, postgres::Error> {
    let v = match *ty {
        Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Value::Integer),
        Type::INT4 => r.try_get::<_, Option<i32>>(i)?.map(|n| Value::Integer(n.into())),
        Type::INT2 => r.try_get::<_, Option<i16>>(i)?.map(|n| Value::Integer(n.into())),
        Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(Value::Real),
        Type::FLOAT4 => r.try_get::<_, Option<f32>>(i)?.map(|n| Value::Real(n.into())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            r.try_get::<_, Option<String>>(i)?.map(Value::Text)
        }
        Type::BYTEA => r.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
        _ => return Ok(None),
    };
    Ok(Some(v.unwrap_or(Value::Null)))
}

/// `v` as a parameter of PostgreSQL type `ty`, or `None` when it does not fit exactly.
fn to_pg(v: &Value, ty: &Type) -> Option<Box<dyn ToSql + Sync>> {
    Some(match (v, ty) {
        (Value::Null, &Type::INT8) => Box::new(None::<i64>),
        (Value::Null, &Type::INT4) => Box::new(None::<i32>),
        (Value::Null, &Type::INT2) => Box::new(None::<i16>),
        (Value::Null, &Type::FLOAT8) => Box::new(None::<f64>),
        (Value::Null, &Type::FLOAT4) => Box::new(None::<f32>),
        (Value::Null, &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR) => Box::new(None::<String>),
        (Value::Null, &Type::BYTEA) => Box::new(None::<Vec<u8>>),
        (Value::Integer(n), &Type::INT8) => Box::new(*n),
        (Value::Integer(n), &Type::INT4) => Box::new(i32::try_from(*n).ok()?),
        (Value::Integer(n), &Type::INT2) => Box::new(i16::try_from(*n).ok()?),
        (Value::Real(x), &Type::FLOAT8) => Box::new(*x),
        (Value::Text(s), &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR) => Box::new(s.clone()),
        (Value::Blob(b), &Type::BYTEA) => Box::new(b.clone()),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------
// The copy
// ---------------------------------------------------------------------------------------

/// Copy every row of `from` into `to` (see the module header). Blocking: call it
/// off async code. Progress lines go to `progress` (a failure to write them is
/// ignored: a closed stderr must not abort a copy halfway).
pub fn copy(from: &Endpoint, to: &Endpoint, progress: &mut dyn Write) -> Result<Summary, CopyError> {
    if same_database(from, to) {
        return Err(CopyError::SameDatabase(to.shown()));
    }
    let (tables, reference_version) = reference()?;
    let tables = fk_order(tables)?;
    let known = u32::try_from(pg::migrate::MIGRATIONS.len()).unwrap_or(u32::MAX);
    if known != reference_version {
        return Err(CopyError::Schema {
            db: "this binary's schema".into(),
            detail: format!("{reference_version} SQLite migrations but {known} PostgreSQL ones"),
        });
    }

    let mut source = Side::open_source(from)?;
    let result = copy_from(&mut source, from, to, &tables, known, progress);
    source.rollback();
    result
}

fn copy_from(
    source: &mut Side,
    from: &Endpoint,
    to: &Endpoint,
    tables: &[Table],
    known: u32,
    progress: &mut dyn Write,
) -> Result<Summary, CopyError> {
    let found = source.version()?;
    if found != known {
        let advice = if found < known {
            format!("run `idbridge migrate --db {}` on it first", from.shown())
        } else {
            "it was written by a newer idbridge: copy it with that version".to_string()
        };
        return Err(CopyError::SourceSchema { db: from.shown(), found, known, advice });
    }
    source.check_schema(tables)?;
    let mut counts = Vec::with_capacity(tables.len());
    for t in tables {
        counts.push(source.count(&t.name)?);
    }

    // Look before migrating: a non-empty target is refused with nothing written to it.
    if let Some(mut existing) = Side::peek(to)? {
        let present = existing.tables()?;
        let ordered = ordered_names(tables, &present);
        if let Some(table) = existing.first_nonempty(&ordered)? {
            return Err(CopyError::NotEmpty { target: to.shown(), table });
        }
    }
    match to {
        Endpoint::Sqlite(path) => drop(Db::migrate_only(path)?),
        Endpoint::Postgres(url) => drop(pg::migrate_url(url)?),
    }
    let mut target = Side::open_target(to)?;
    let result = copy_into(source, &mut target, to, tables, &counts, progress);
    match result {
        Ok(summary) => {
            target.commit()?;
            Ok(summary)
        }
        Err(e) => {
            target.rollback();
            Err(e)
        }
    }
}

/// The reference's tables present on a side, in copy order, then any others by name.
fn ordered_names(tables: &[Table], present: &[String]) -> Vec<String> {
    let mut names: Vec<String> =
        tables.iter().map(|t| t.name.clone()).filter(|n| present.contains(n)).collect();
    names.extend(present.iter().filter(|p| !tables.iter().any(|t| &t.name == *p)).cloned());
    names
}

fn copy_into(
    source: &mut Side,
    target: &mut Side,
    to: &Endpoint,
    tables: &[Table],
    counts: &[u64],
    progress: &mut dyn Write,
) -> Result<Summary, CopyError> {
    target.check_schema(tables)?;
    target.lock(tables)?;
    // Again inside the transaction: a node that started on the target meanwhile may have written.
    let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
    if let Some(table) = target.first_nonempty(&names)? {
        return Err(CopyError::NotEmpty { target: to.shown(), table });
    }
    let mut summary = Summary { tables: Vec::with_capacity(tables.len()) };
    for (t, &expected) in tables.iter().zip(counts) {
        let _ = writeln!(progress, "copying {}: {expected} row(s)", t.name);
        let batch = target.batch_rows(t);
        let mut pending: Vec<Vec<Value>> = Vec::with_capacity(batch);
        let mut done: u64 = 0;
        source.each_row(t, &mut |row| {
            pending.push(row);
            done += 1;
            if pending.len() == batch {
                target.insert(t, &pending)?;
                pending.clear();
            }
            if done % PROGRESS_EVERY == 0 {
                let _ = writeln!(progress, "  {}: {done} of {expected} rows", t.name);
            }
            Ok(())
        })?;
        target.insert(t, &pending)?;
        if let Some(col) = &t.sequenced {
            let high = source.high_water(t, col)?;
            target.set_high_water(t, col, high)?;
        }
        let copied = target.count(&t.name)?;
        if copied != expected || done != expected {
            return Err(CopyError::CountMismatch {
                table: t.name.clone(),
                source_rows: expected,
                target_rows: copied,
            });
        }
        summary.tables.push((t.name.clone(), copied));
    }
    // Once more over every table at the end, as the commit will leave them.
    for (t, &expected) in tables.iter().zip(counts) {
        let copied = target.count(&t.name)?;
        if copied != expected {
            return Err(CopyError::CountMismatch {
                table: t.name.clone(),
                source_rows: expected,
                target_rows: copied,
            });
        }
    }
    Ok(summary)
}

fn same_database(from: &Endpoint, to: &Endpoint) -> bool {
    match (from, to) {
        (Endpoint::Sqlite(a), Endpoint::Sqlite(b)) => {
            a == b || matches!((canonical(a), canonical(b)), (Some(x), Some(y)) if x == y)
        }
        (Endpoint::Postgres(a), Endpoint::Postgres(b)) => a == b,
        _ => false,
    }
}

fn canonical(p: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(p).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, parents: &[&str]) -> Table {
        Table {
            name: name.into(),
            columns: vec!["id".into()],
            key: vec!["id".into()],
            parents: parents.iter().map(|p| p.to_string()).collect(),
            sequenced: None,
        }
    }

    #[test]
    fn the_plan_holds_every_table_of_the_schema_parents_first() {
        let plan = plan().unwrap();
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::functions::register(&conn).unwrap();
        super::super::migrate::apply(&mut conn).unwrap();
        let mut all: Vec<String> = sqlite_tables(&conn).unwrap();
        all.sort();
        let mut planned: Vec<String> = plan.iter().map(|t| t.name.clone()).collect();
        planned.sort();
        assert_eq!(planned, all, "every table is copied");
        assert!(all.len() >= 18, "{all:?}");
        for (i, t) in plan.iter().enumerate() {
            for p in &t.parents {
                let at = plan.iter().position(|x| &x.name == p).unwrap();
                assert!(at < i, "{p} must come before {}", t.name);
            }
        }
        let seq: Vec<&str> = plan.iter().filter(|t| t.sequenced.is_some()).map(|t| t.name.as_str()).collect();
        assert_eq!(seq, ["audit_events", "change_events"]);
        let users = plan.iter().find(|t| t.name == "users").unwrap();
        assert!(users.columns.contains(&"deleted".to_string()), "columns of later migrations");
        assert_eq!(plan.iter().find(|t| t.name == "group_members").unwrap().key, ["group_id", "user_id"]);
    }

    #[test]
    fn fk_order_puts_parents_first_and_refuses_cycles() {
        let order = fk_order(vec![table("c", &["b", "a"]), table("b", &["a"]), table("a", &[])]).unwrap();
        let names: Vec<&str> = order.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(matches!(
            fk_order(vec![table("x", &["y"]), table("y", &["x"])]),
            Err(CopyError::Schema { .. })
        ));
        assert!(matches!(fk_order(vec![table("s", &["s"])]), Err(CopyError::Schema { .. })));
    }

    #[test]
    fn values_go_into_postgres_columns_only_as_exactly_their_type() {
        assert!(to_pg(&Value::Integer(5), &Type::INT8).is_some());
        assert!(to_pg(&Value::Integer(1 << 40), &Type::INT4).is_none());
        assert!(to_pg(&Value::Text("x".into()), &Type::INT8).is_none());
        assert!(to_pg(&Value::Blob(vec![1]), &Type::TEXT).is_none());
        assert!(to_pg(&Value::Null, &Type::BYTEA).is_some());
        assert!(to_pg(&Value::Real(1.5), &Type::FLOAT8).is_some());
    }

    #[test]
    fn insert_statements_number_their_placeholders_per_engine() {
        let t = Table { columns: vec!["a".into(), "b".into()], ..table("t", &[]) };
        assert_eq!(
            insert_sql(&t, 2, |i| format!("${i}")),
            "INSERT INTO \"t\" (\"a\", \"b\") VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
    }
}
