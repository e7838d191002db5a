//! One PostgreSQL connection as the store uses it: the statements of the
//! per-aggregate files (written for both engines with `?N` placeholders, see
//! store::sql) rewritten to `$N`, prepared once per connection, bound from
//! [`Value`]s and read back as [`ValueRef`]s by the column's type.
//!
//! The driver is the synchronous `postgres` crate (tokio-postgres under a
//! small runtime of its own): the store's boundary is a closure run on a
//! dedicated thread (the writer) or a blocking thread (the readers), exactly
//! as with rusqlite, so a blocking client keeps one shape for both engines.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::error::Error as StdError;
use std::time::{Duration, Instant};

use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};

use crate::store::StoreError;
use crate::store::sql::{Params, Value, ValueRef};

/// Statements kept prepared per connection (the store has fewer distinct ones;
/// SCIM filters make new texts, so the cache is bounded).
const STATEMENT_CACHE: usize = 512;

/// A connection idle this long is checked before it is used.
const IDLE_CHECK: Duration = Duration::from_secs(2);

/// How long connecting may take before the store answers "unavailable".
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to PostgreSQL with its prepared statements. Not shared between
/// threads: one belongs to the writer, each reader owns one.
pub struct PgConn {
    url: String,
    client: RefCell<Option<Client>>,
    statements: RefCell<HashMap<String, Statement>>,
    /// A statement failed since the last [`PgConn::take_failed`]: PostgreSQL
    /// then refuses everything until the savepoint is rolled back.
    failed: Cell<bool>,
    /// When a statement last succeeded here.
    last_ok: Cell<Option<Instant>>,
}

impl PgConn {
    /// Connect to `url` (blocking).
    pub fn connect(url: &str) -> Result<PgConn, StoreError> {
        let conn = PgConn {
            url: url.to_string(),
            client: RefCell::new(None),
            statements: RefCell::new(HashMap::new()),
            failed: Cell::new(false),
            last_ok: Cell::new(None),
        };
        conn.ensure()?;
        Ok(conn)
    }

    /// Reconnect if the connection was lost (the server restarted, the network
    /// dropped): the store then serves again by itself.
    pub fn ensure(&self) -> Result<(), StoreError> {
        let mut slot = self.client.borrow_mut();
        if slot.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(());
        }
        self.statements.borrow_mut().clear();
        *slot = None;
        let client = open(&self.url)?;
        *slot = Some(client);
        Ok(())
    }

    /// `ensure`, and for a connection idle longer than [`IDLE_CHECK`], one
    /// round trip to see that the server still has it (a restart or a
    /// terminated session shows only when the connection is next used): so the
    /// first request after an outage finds a live connection, not a dead one.
    pub fn ensure_fresh(&self) -> Result<(), StoreError> {
        self.ensure()?;
        let idle = self.last_ok.get().is_none_or(|t| t.elapsed() >= IDLE_CHECK);
        if idle && self.batch("").is_err() {
            self.take_failed();
            self.ensure()?;
        }
        Ok(())
    }

    /// Whether a statement failed since the last call; clears the mark.
    pub fn take_failed(&self) -> bool {
        self.failed.replace(false)
    }

    /// Run SQL text without parameters (BEGIN, SAVEPOINT, …).
    pub fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.with_client(|c| c.batch_execute(sql))
    }

    fn with_client<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        // A statement run from inside a streamed query's visitor would need the
        // client the stream holds: an error, not a panic.
        let Ok(mut slot) = self.client.try_borrow_mut() else {
            self.failed.set(true);
            return Err(StoreError::Postgres(
                "a statement ran while a streamed query held the connection".into(),
            ));
        };
        let Some(client) = slot.as_mut() else {
            return Err(StoreError::Unavailable("not connected to PostgreSQL".into()));
        };
        let r = f(client).map_err(|e| error(&e));
        if r.is_ok() {
            self.last_ok.set(Some(Instant::now()));
        }
        if let Err(e) = &r {
            self.failed.set(true);
            // The driver runs its connection only inside calls, so a session the
            // server ended may not look closed yet: drop it, reconnect on next use.
            if matches!(e, StoreError::Unavailable(_)) {
                *slot = None;
            }
        }
        r
    }

    fn statement(&self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let text = rewrite(sql);
        let stmt = self.with_client(|c| c.prepare(&text))?;
        let mut cache = self.statements.borrow_mut();
        if cache.len() >= STATEMENT_CACHE {
            cache.clear();
        }
        cache.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    /// Run a statement; how many rows it changed.
    pub fn exec(&self, sql: &str, params: Params<'_>) -> Result<usize, StoreError> {
        let stmt = self.statement(sql)?;
        let values: Vec<Value<'_>> = params.iter().map(|p| p.value()).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let n = self.with_client(|c| c.execute(&stmt, &refs))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// Run a query and hand each row to `visit` as it arrives (memory stays
    /// bounded by one row, as SQLite's stepping does) until it answers false.
    pub fn query_each(
        &self,
        sql: &str,
        params: Params<'_>,
        visit: &mut dyn FnMut(&postgres::Row) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        use postgres::fallible_iterator::FallibleIterator;
        let stmt = self.statement(sql)?;
        let values: Vec<Value<'_>> = params.iter().map(|p| p.value()).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let mut outcome: Result<(), StoreError> = Ok(());
        let streamed = self.with_client(|c| {
            let mut rows = c.query_raw(&stmt, refs.iter().copied())?;
            while let Some(row) = rows.next()? {
                match visit(&row) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            Ok(())
        });
        streamed.and(outcome)
    }

    /// Run a query; all its rows.
    pub fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<postgres::Row>, StoreError> {
        let stmt = self.statement(sql)?;
        let values: Vec<Value<'_>> = params.iter().map(|p| p.value()).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        self.with_client(|c| c.query(&stmt, &refs))
    }
}

/// A client with the store's session settings.
pub(crate) fn open(url: &str) -> Result<Client, StoreError> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e: postgres::Error| StoreError::Setup(format!("{}: {}", super::redacted(url), e)))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    // A dead server or a cut network is noticed in seconds rather than the
    // kernel's default of hours.
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(10));
    config.keepalives_interval(Duration::from_secs(2));
    config.keepalives_retries(3);
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(Duration::from_secs(20));
    }
    if config.get_application_name().is_none() {
        config.application_name("idbridge");
    }
    let mut client = config.connect(NoTls).map_err(|e| {
        StoreError::Unavailable(format!("{}: connecting: {}", super::redacted(url), super::describe(&e)))
    })?;
    // Text compares and sorts by code point on every node whatever the
    // server's defaults; timestamps are stored as text, so the time zone is moot.
    // The server side of the same: a node that vanishes mid-transaction (its
    // machine lost, the network cut) must not hold the deployment's write lock
    // or the leadership for long — the server drops such a session after about
    // 16 s of silence, or 15 s idle inside a transaction (a batch never is).
    client
        .batch_execute(
            "SET client_encoding = 'UTF8';
             SET idle_in_transaction_session_timeout = '15s';
             SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3",
        )
        .map_err(|e| StoreError::Unavailable(super::describe(&e)))?;
    Ok(client)
}

/// The store's error for a driver error: a refused unique constraint is a
/// named conflict ("users.org_id, users.user_name_key", as SQLite names it),
/// a check or foreign key a constraint failure, a lost connection
/// "unavailable" (503), anything else a PostgreSQL error.
pub(crate) fn error(e: &postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        if code == "23505" {
            let table = db.table().unwrap_or("?");
            let cols = db
                .detail()
                .and_then(|d| d.strip_prefix("Key ("))
                .and_then(|d| d.split_once(")=("))
                .map(|(cols, _)| cols.to_string());
            let what = match cols {
                Some(cols) => {
                    cols.split(", ").map(|c| format!("{table}.{}", c.trim())).collect::<Vec<_>>().join(", ")
                }
                None => format!("{table}.{}", db.constraint().unwrap_or("?")),
            };
            return StoreError::Conflict { what };
        }
        if code.starts_with("23") {
            return StoreError::Constraint { what: db.constraint().unwrap_or(db.message()).to_string() };
        }
        // 57P01 admin shutdown, 57P02/57P03 crash or cannot connect now, 08xxx connection.
        if code.starts_with("08") || code.starts_with("57P") {
            return StoreError::Unavailable(super::describe(e));
        }
        return StoreError::Postgres(super::describe(e));
    }
    if e.is_closed() || e.source().is_some_and(|s| s.is::<std::io::Error>()) {
        return StoreError::Unavailable(super::describe(e));
    }
    StoreError::Postgres(super::describe(e))
}

/// `?N` → `$N`; a bare `?` takes the number after the largest so far (as
/// SQLite numbers it). Text inside quotes is left alone.
pub(crate) fn rewrite(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut largest = 0u32;
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                let n = match digits.parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => largest + 1,
                };
                largest = largest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for Value<'_> {
    fn to_sql(&self, ty: &Type, out: &mut postgres::types::private::BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                #[allow(clippy::cast_precision_loss)]
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    i.to_string().as_str().to_sql(&Type::TEXT, out)
                }
                _ => Err(format!("cannot bind an integer to {ty}").into()),
            },
            Value::Real(r) => match *ty {
                Type::FLOAT8 => r.to_sql(ty, out),
                #[allow(clippy::cast_possible_truncation)]
                Type::FLOAT4 => (*r as f32).to_sql(ty, out),
                _ => Err(format!("cannot bind a real to {ty}").into()),
            },
            Value::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
                    s.as_ref().to_sql(&Type::TEXT, out)
                }
                Type::JSONB => {
                    // jsonb's binary form: a version byte, then the text.
                    out.extend_from_slice(&[1]);
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                _ => Err(format!("cannot bind text to {ty}").into()),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ => Err(format!("cannot bind a blob to {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        // Every variant checks the parameter's type itself, above.
        true
    }

    to_sql_checked!();
}

/// One read column, by its type.
pub(crate) struct PgCell<'a>(pub(crate) ValueRef<'a>);

impl<'a> FromSql<'a> for PgCell<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(PgCell(match *ty {
            Type::INT8 => ValueRef::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => ValueRef::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => ValueRef::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::BOOL => ValueRef::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::FLOAT8 => ValueRef::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => ValueRef::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
                ValueRef::Text(std::str::from_utf8(raw)?)
            }
            Type::JSONB => match raw.split_first() {
                Some((1, text)) => ValueRef::Text(std::str::from_utf8(text)?),
                _ => return Err("unsupported jsonb version".into()),
            },
            Type::BYTEA => ValueRef::Blob(raw),
            _ => return Err(format!("column type {ty} is not one the store reads").into()),
        }))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(PgCell(ValueRef::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_like_sqlite() {
        assert_eq!(rewrite("SELECT ?1, ?2 WHERE a = ?1"), "SELECT $1, $2 WHERE a = $1");
        assert_eq!(rewrite("a = ? AND b = ? AND c = ?"), "a = $1 AND b = $2 AND c = $3");
        assert_eq!(rewrite("a = ?3 AND b = ?"), "a = $3 AND b = $4");
        assert_eq!(rewrite("x = '?' AND y = ?1 AND z = \"a?b\""), "x = '?' AND y = $1 AND z = \"a?b\"");
        assert_eq!(rewrite("s = 'it''s ?' OR t = ?"), "s = 'it''s ?' OR t = $1");
    }
}
