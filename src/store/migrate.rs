//! Numbered migrations (src/store/migrations/NNNN_name.sql), applied in one
//! transaction each and recorded in `PRAGMA user_version`.

use rusqlite::Connection;

use super::StoreError;

/// Every migration, in order; the number is its position (1-based).
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("migrations/0001_init.sql")),
    ("0002_login_states", include_str!("migrations/0002_login_states.sql")),
    ("0003_scim", include_str!("migrations/0003_scim.sql")),
    ("0004_access_origin", include_str!("migrations/0004_access_origin.sql")),
];

/// Apply the migrations the database has not seen yet; returns their numbers.
pub fn apply(conn: &mut Connection) -> Result<Vec<u32>, StoreError> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as u32;
    if current > known {
        return Err(StoreError::Setup(format!(
            "database schema version {current} is newer than this binary knows ({known}); refusing to run"
        )));
    }
    let mut applied = Vec::new();
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as u32 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql).map_err(|e| StoreError::Setup(format!("migration {name}: {e}")))?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(migration = name, "applied migration");
        applied.push(version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_once_and_records_version() -> Result<(), StoreError> {
        let mut conn = Connection::open_in_memory()?;
        assert_eq!(apply(&mut conn)?, (1..=MIGRATIONS.len() as u32).collect::<Vec<_>>());
        assert_eq!(apply(&mut conn)?, Vec::<u32>::new());
        let v: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        assert_eq!(v, MIGRATIONS.len() as u32);
        Ok(())
    }

    #[test]
    fn refuses_newer_schema() -> Result<(), StoreError> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "user_version", 999)?;
        assert!(matches!(apply(&mut conn), Err(StoreError::Setup(_))));
        Ok(())
    }
}
