//! Shared by the benchmarks: which engine to measure (`BENCH_DB`, `NODES`) and
//! seeding rows straight into the SQLite file or the PostgreSQL database.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use idbridge::metrics::Metrics;
use idbridge::store::Db;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The one secret key of every node in a PostgreSQL run (nodes must share it).
#[allow(dead_code)] // scim_load only; reevaluate runs no server
pub const SECRET_KEY: &str = "00000000000000000000000000000000000000000000000000000000000000b1";

/// Where a benchmark's data lives: `BENCH_DB=sqlite` (default) or `BENCH_DB=postgres`.
pub enum Target {
    /// A fresh SQLite file in a temp dir (kept alive by the `TempDir`).
    Sqlite { _dir: tempfile::TempDir, path: PathBuf },
    /// A fresh database of the bench's own throw-away cluster.
    Postgres { url: String, version: String },
}

impl Target {
    /// The engine `BENCH_DB` names, with a fresh, empty database.
    pub async fn from_env(cluster: fn() -> String) -> Result<Target, BoxError> {
        match std::env::var("BENCH_DB").as_deref() {
            Err(_) | Ok("sqlite") => {
                let dir = tempfile::tempdir()?;
                let path = dir.path().join("bench.db");
                Ok(Target::Sqlite { _dir: dir, path })
            }
            Ok("postgres") => {
                tokio::task::spawn_blocking(move || -> Result<Target, BoxError> {
                    let url = cluster();
                    let mut c = postgres::Client::connect(&url, postgres::NoTls)?;
                    let version: String = c.query_one("SHOW server_version", &[])?.get(0);
                    // Durability as in production: print it so every run's log shows it.
                    let fsync: String = c.query_one("SHOW fsync", &[])?.get(0);
                    let sc: String = c.query_one("SHOW synchronous_commit", &[])?.get(0);
                    let sb: String = c.query_one("SHOW shared_buffers", &[])?.get(0);
                    println!(
                        "PostgreSQL {version} (fsync={fsync}, synchronous_commit={sc}, shared_buffers={sb})"
                    );
                    Ok(Target::Postgres { url, version })
                })
                .await?
            }
            Ok(other) => Err(format!("BENCH_DB={other}: expected sqlite or postgres").into()),
        }
    }

    /// The `--db` value / `Config::db` of this target.
    pub fn db_arg(&self) -> String {
        match self {
            Target::Sqlite { path, .. } => path.display().to_string(),
            Target::Postgres { url, .. } => url.clone(),
        }
    }

    #[allow(dead_code)] // scim_load only
    pub fn is_postgres(&self) -> bool {
        matches!(self, Target::Postgres { .. })
    }

    pub fn describe(&self) -> String {
        match self {
            Target::Sqlite { .. } => "sqlite (WAL, synchronous=FULL)".into(),
            Target::Postgres { version, .. } => {
                format!("postgres {version} (fsync=on, synchronous_commit=on)")
            }
        }
    }

    /// Open the store (migrating it) off the async runtime.
    pub async fn open(&self) -> Result<Db, BoxError> {
        let location = idbridge::config::DbLocation::parse(Path::new(&self.db_arg()));
        let db = tokio::task::spawn_blocking(move || idbridge::open_db(&location, Arc::new(Metrics::new())))
            .await??;
        Ok(db)
    }
}

/// Seed rows straight into the SQLite file (benchmark set-up only: the store's
/// own transaction handle is opaque outside the crate's store module).
pub async fn seed_raw<F>(path: &std::path::Path, f: F) -> rusqlite::Result<()>
where
    F: FnOnce(&rusqlite::Connection) -> rusqlite::Result<()>,
{
    let mut conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let tx = conn.transaction()?;
    f(&tx)?;
    tx.commit()
}

pub fn rusqlite_params<'a>(v: &'a [&'a str]) -> impl rusqlite::Params + 'a {
    rusqlite::params_from_iter(v.iter())
}

/// The same for PostgreSQL: `f` runs in one transaction of its own connection
/// (off the async runtime; the `postgres` client blocks). Afterwards the
/// tables are analysed, as autovacuum would shortly after a bulk load, so the
/// planner sees the seeded sizes and not an empty table.
pub async fn seed_pg<F>(url: &str, f: F) -> Result<(), BoxError>
where
    F: FnOnce(&mut postgres::Transaction<'_>) -> Result<(), BoxError> + Send + 'static,
{
    let url = url.to_string();
    tokio::task::spawn_blocking(move || -> Result<(), BoxError> {
        let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
        let mut tx = client.transaction()?;
        f(&mut tx)?;
        tx.commit()?;
        client.batch_execute("ANALYZE")?;
        Ok(())
    })
    .await?
}

/// `COPY … FROM STDIN` (text format) of `rows`; values must hold no tab,
/// newline or backslash (the benchmarks' generated rows do not).
pub fn copy_rows<I, R>(tx: &mut postgres::Transaction<'_>, copy: &str, rows: I) -> Result<(), BoxError>
where
    I: IntoIterator<Item = R>,
    R: AsRef<[String]>,
{
    let mut w = std::io::BufWriter::with_capacity(1 << 20, tx.copy_in(copy)?);
    let mut line = String::new();
    for row in rows {
        line.clear();
        for (i, v) in row.as_ref().iter().enumerate() {
            if i > 0 {
                line.push('\t');
            }
            line.push_str(v);
        }
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    w.into_inner().map_err(|e| e.into_error())?.finish()?;
    Ok(())
}
