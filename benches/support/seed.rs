//! Shared by the benchmarks: seeding rows straight into the SQLite file.

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
