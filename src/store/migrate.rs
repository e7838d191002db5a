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
    ("0006_one_user_one_group_name", include_str!("migrations/0006_one_user_one_group_name.sql")),
    ("0007_idp_sessions", include_str!("migrations/0007_idp_sessions.sql")),
    ("0008_change_events", include_str!("migrations/0008_change_events.sql")),
    ("0009_rate_limits", include_str!("migrations/0009_rate_limits.sql")),
    ("0010_scim_str_cmp", include_str!("migrations/0010_scim_str_cmp.sql")),
    ("0011_scim_list_index", include_str!("migrations/0011_scim_list_index.sql")),
    ("0012_scim_group_list_index", include_str!("migrations/0012_scim_group_list_index.sql")),
];

/// The versions (1-based) a database at schema version `current` has not seen, of `known`
/// migrations; a database newer than this binary is refused (either engine).
pub(crate) fn pending(current: u32, known: usize) -> Result<std::ops::RangeInclusive<u32>, StoreError> {
    let known = u32::try_from(known).map_err(|_| StoreError::Setup("too many migrations".into()))?;
    if current > known {
        return Err(StoreError::Setup(format!(
            "database schema version {current} is newer than this binary knows ({known}); refusing to run"
        )));
    }
    Ok(current + 1..=known)
}

/// Apply the migrations the database has not seen yet; returns their numbers.
pub fn apply(conn: &mut Connection) -> Result<Vec<u32>, StoreError> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let mut applied = Vec::new();
    for version in pending(current, MIGRATIONS.len())? {
        let (name, sql) = MIGRATIONS[version as usize - 1];
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
        assert_eq!(apply(&mut conn)?, (4..=MIGRATIONS.len() as u32).collect::<Vec<_>>());
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
    fn version_6_renames_later_duplicate_groups_and_ends_sessions_of_shadowed_jit_users()
    -> Result<(), StoreError> {
        let mut conn = Connection::open_in_memory()?;
        for (_, sql) in &MIGRATIONS[..5] {
            conn.execute_batch(sql)?;
        }
        conn.pragma_update(None, "user_version", 5)?;
        conn.execute_batch(
            "INSERT INTO orgs VALUES ('o', 'acme', 'Acme', 't'), ('p', 'globex', 'Globex', 't');
             INSERT INTO groups (id, org_id, display_name, display_name_key, attributes, created_at, updated_at) VALUES
                 ('g2', 'o', 'ENG', 'eng', '{\"displayName\":\"ENG\"}', '2', '2'),
                 ('g1', 'o', 'Eng', 'eng', '{\"displayName\":\"Eng\"}', '1', '1'),
                 ('g3', 'o', 'eng', 'eng', '{\"displayName\":\"eng\"}', '2', '2'),
                 ('h1', 'p', 'Eng', 'eng', '{}', '9', '9'),
                 ('h2', 'o', 'Ops', 'ops', '{}', '1', '1');
             INSERT INTO users (id, org_id, origin, user_name, user_name_key, email, email_key, created_at, updated_at) VALUES
                 ('jit', 'o', 'sso', 'bo@acme.com', 'bo@acme.com', 'bo@acme.com', 'bo@acme.com', '1', '1'),
                 ('scim', 'o', 'scim', 'bo@acme.onmicrosoft.com', 'bo@acme.onmicrosoft.com', 'Bo@acme.com', 'bo@acme.com', '2', '2'),
                 ('alone', 'o', 'sso', 'cy@acme.com', 'cy@acme.com', 'cy@acme.com', 'cy@acme.com', '1', '1'),
                 ('other-org', 'p', 'sso', 'bo@acme.com', 'bo@acme.com', 'bo@acme.com', 'bo@acme.com', '1', '1');
             INSERT INTO sessions (jti, user_id, org_id, connection_id, created_at, expires_at, last_seen_at) VALUES
                 ('s-jit', 'jit', 'o', 'c', 't', 't', 't'), ('s-scim', 'scim', 'o', 'c', 't', 't', 't'),
                 ('s-alone', 'alone', 'o', 'c', 't', 't', 't'), ('s-other', 'other-org', 'p', 'c', 't', 't', 't');",
        )?;
        assert_eq!(apply(&mut conn)?, (6..=MIGRATIONS.len() as u32).collect::<Vec<_>>());
        let all = |sql: &str| -> Result<Vec<String>, StoreError> {
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        assert_eq!(
            all("SELECT id || '|' || display_name || '|' || display_name_key || '|' || version || '|' || \
                 ifnull(json_extract(attributes, '$.displayName'), '') FROM groups WHERE org_id = 'o' ORDER BY id")?,
            [
                "g1|Eng|eng|1|Eng",
                "g2|ENG (duplicate g2)|eng (duplicate g2)|2|ENG (duplicate g2)",
                "g3|eng (duplicate g3)|eng (duplicate g3)|2|eng (duplicate g3)",
                "h2|Ops|ops|1|"
            ]
        );
        assert_eq!(all("SELECT display_name FROM groups WHERE org_id = 'p'")?, ["Eng"], "per org");
        assert_eq!(all("SELECT jti FROM sessions WHERE revoked_at IS NOT NULL")?, ["s-jit"]);
        assert_eq!(
            all("SELECT action || ' ' || target FROM audit_events ORDER BY id")?,
            [
                "scim.group.rename_duplicate group:g2",
                "scim.group.rename_duplicate group:g3",
                "user.shadowed user:jit"
            ]
        );
        let dup = conn.execute(
            "INSERT INTO groups (id, org_id, display_name, display_name_key, created_at, updated_at)
             VALUES ('g4', 'o', 'eNg', 'eng', 't', 't')",
            [],
        );
        assert!(matches!(dup.map_err(StoreError::from), Err(StoreError::Conflict { .. })));
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
