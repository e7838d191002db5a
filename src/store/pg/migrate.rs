//! PostgreSQL migrations (src/store/migrations/postgres/NNNN_name.sql, one per
//! SQLite migration, same numbers and names), applied in one transaction each
//! and recorded in `schema_migrations`. The whole run holds a session-level
//! `pg_advisory_lock` on its connection, so nodes that start together do not
//! race: the second waits, then finds nothing left to apply.

use postgres::Client;

use super::super::StoreError;

/// The advisory-lock key every idbridge migrator takes ("idbridge" in ASCII).
pub const LOCK_KEY: i64 = 0x6964_6272_6964_6765;

/// Every migration, in order; the number is its position (1-based).
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../migrations/postgres/0001_init.sql")),
    ("0002_login_states", include_str!("../migrations/postgres/0002_login_states.sql")),
    ("0003_scim", include_str!("../migrations/postgres/0003_scim.sql")),
    ("0004_access_origin", include_str!("../migrations/postgres/0004_access_origin.sql")),
    ("0005_connection_overage", include_str!("../migrations/postgres/0005_connection_overage.sql")),
    ("0006_one_user_one_group_name", include_str!("../migrations/postgres/0006_one_user_one_group_name.sql")),
    ("0007_idp_sessions", include_str!("../migrations/postgres/0007_idp_sessions.sql")),
    ("0008_change_events", include_str!("../migrations/postgres/0008_change_events.sql")),
    ("0009_rate_limits", include_str!("../migrations/postgres/0009_rate_limits.sql")),
    ("0010_scim_str_cmp", include_str!("../migrations/postgres/0010_scim_str_cmp.sql")),
    ("0011_scim_list_index", include_str!("../migrations/postgres/0011_scim_list_index.sql")),
    ("0012_scim_group_list_index", include_str!("../migrations/postgres/0012_scim_group_list_index.sql")),
];

const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

const RECORD: &str = "INSERT INTO schema_migrations (version, name, applied_at)
    VALUES ($1, $2, to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))";

fn setup(what: &str, e: postgres::Error) -> StoreError {
    StoreError::Setup(format!("{what}: {}", super::describe(&e)))
}

/// Apply the migrations the database has not seen yet, under the advisory
/// lock; returns their numbers.
pub fn apply(client: &mut Client) -> Result<Vec<u32>, StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .map_err(|e| setup("taking the migration lock", e))?;
    let result = apply_locked(client);
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY]);
    let applied = result?;
    unlocked.map_err(|e| setup("releasing the migration lock", e))?;
    Ok(applied)
}

/// The recorded schema version (0 for a database never migrated).
pub fn current_version(client: &mut Client) -> Result<u32, StoreError> {
    client.batch_execute(CREATE_LEDGER).map_err(|e| setup("creating schema_migrations", e))?;
    let row = client
        .query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[])
        .map_err(|e| setup("reading schema_migrations", e))?;
    let v: i32 = row.get(0);
    u32::try_from(v).map_err(|_| StoreError::Setup(format!("schema_migrations holds version {v}")))
}

fn apply_locked(client: &mut Client) -> Result<Vec<u32>, StoreError> {
    let current = current_version(client)?;
    let mut applied = Vec::new();
    for version in crate::store::migrate::pending(current, MIGRATIONS.len())? {
        let (name, sql) = MIGRATIONS[version as usize - 1];
        apply_one(client, version, name, sql)?;
        tracing::info!(migration = name, engine = "postgres", "applied migration");
        applied.push(version);
    }
    Ok(applied)
}

fn apply_one(client: &mut Client, version: u32, name: &str, sql: &str) -> Result<(), StoreError> {
    let what = format!("migration {name}");
    let mut tx = client.transaction().map_err(|e| setup(&what, e))?;
    tx.batch_execute(sql).map_err(|e| setup(&what, e))?;
    let v = i32::try_from(version).map_err(|_| StoreError::Setup(format!("{what}: version {version}")))?;
    tx.execute(RECORD, &[&v, &name]).map_err(|e| setup(&what, e))?;
    tx.commit().map_err(|e| setup(&what, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_postgres_migration_per_sqlite_migration_same_names() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations");
        let mut sqlite: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_suffix(".sql").map(str::to_string))
            .collect();
        sqlite.sort();
        let pg: Vec<String> = MIGRATIONS.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(pg, sqlite);
    }
}
