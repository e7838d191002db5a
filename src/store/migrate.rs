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
    ("0005_connection_overage", include_str!("migrations/0005_connection_overage.sql")),
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
    fn version_4_takes_back_what_deleted_connections_and_the_mapping_gave_wrongly() -> Result<(), StoreError>
    {
        let mut conn = Connection::open_in_memory()?;
        for (_, sql) in &MIGRATIONS[..3] {
            conn.execute_batch(sql)?;
        }
        conn.pragma_update(None, "user_version", 3)?;
        conn.execute_batch(
            "INSERT INTO orgs VALUES ('o', 'acme', 'Acme', 't');
             INSERT INTO connections (id, org_id, kind, name, config, created_at, updated_at)
                 VALUES ('live', 'o', 'saml', 'IdP', '{}', 't', 't');
             INSERT INTO users (id, org_id, origin, user_name, user_name_key, created_at, updated_at) VALUES
                 ('signed-in', 'o', 'manual', 'a@x.com', 'a@x.com', 't', 't'),
                 ('outsider', 'o', 'manual', 'b@x.com', 'b@x.com', 't', 't'),
                 ('jit', 'o', 'sso', 'c@x.com', 'c@x.com', 't', 't');
             INSERT INTO sessions (jti, user_id, org_id, connection_id, created_at, expires_at, last_seen_at) VALUES
                 ('s1', 'signed-in', 'o', 'live', 't', 't', 't'),
                 ('s2', 'jit', 'o', 'gone', 't', 't', 't');
             INSERT INTO user_claim_groups VALUES ('jit', 'gone', 'Admins'), ('jit', 'live', 'Staff');
             INSERT INTO groups (id, org_id, display_name, display_name_key, created_at, updated_at)
                 VALUES ('g', 'o', 'Eng', 'eng', 't', 't');
             INSERT INTO group_members VALUES ('g', 'outsider'), ('g', 'signed-in');
             INSERT INTO org_grants (org_id, user_id, source, role, created_at) VALUES
                 ('o', 'outsider', 'mapping', 'admin', 't'), ('o', 'outsider', 'manual', 'member', 't'),
                 ('o', 'signed-in', 'mapping', 'member', 't');",
        )?;
        assert_eq!(apply(&mut conn)?, vec![4, 5]);
        let all = |sql: &str| -> Result<Vec<String>, StoreError> {
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        assert_eq!(
            all("SELECT id || ':' || origin FROM users ORDER BY id")?,
            ["jit:sso", "outsider:manual", "signed-in:sso"]
        );
        assert_eq!(all("SELECT jti FROM sessions WHERE revoked_at IS NOT NULL")?, ["s2"]);
        assert_eq!(all("SELECT value FROM user_claim_groups")?, ["Staff"]);
        assert_eq!(all("SELECT user_id FROM group_members")?, ["signed-in"]);
        let grants = all("SELECT user_id || ':' || source FROM org_grants ORDER BY user_id, source")?;
        assert_eq!(grants, ["outsider:manual", "signed-in:mapping"]);
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
