//! PostgreSQL migrations (src/store/pg/): they apply on a fresh database and
//! only once, concurrent migrators serialize on the advisory lock, a newer
//! database is refused, the schema is SQLite's (tables, columns, types, keys,
//! indexes, foreign keys: this test keeps the two migration sets from
//! drifting), and the binary's `migrate` takes a URL while `serve` and the
//! other commands refuse one. Runs against the throw-away cluster of
//! support/postgres.rs.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::{Arc, Barrier};

use idbridge::store::StoreError;
use idbridge::store::pg;

use crate::support::postgres::{PASSWORD, fresh_database};

const KNOWN: u32 = 12;

/// Run `f` where the blocking driver may run (never on the async runtime's threads).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test]
async fn pg_migrations_apply_on_a_fresh_database_then_none() {
    let url = fresh_database().await;
    blocking(move || {
        assert_eq!(pg::migrate_url(&url).unwrap(), (1..=KNOWN).collect::<Vec<_>>());
        assert_eq!(pg::migrate_url(&url).unwrap(), Vec::<u32>::new());
        let mut c = pg::connect(&url).unwrap();
        let rows =
            c.query("SELECT version, name, applied_at FROM schema_migrations ORDER BY version", &[]).unwrap();
        let names: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
        assert_eq!(names.len(), KNOWN as usize);
        assert_eq!(names[0], "0001_init");
        assert_eq!(names[7], "0008_change_events");
        assert_eq!(names[8], "0009_rate_limits");
        let at: String = rows[0].get(2);
        assert!(at.ends_with('Z') && at.len() == "2026-01-01T00:00:00.000Z".len(), "{at}");
    })
    .await;
}

#[tokio::test]
async fn pg_two_migrators_started_together_both_succeed_and_apply_once() {
    let url = fresh_database().await;
    blocking(move || {
        let start = Arc::new(Barrier::new(2));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (url, start) = (url.clone(), start.clone());
                std::thread::spawn(move || {
                    let mut client = pg::connect(&url).unwrap();
                    start.wait();
                    pg::migrate::apply(&mut client)
                })
            })
            .collect();
        let mut counts: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap().unwrap().len()).collect();
        counts.sort();
        assert_eq!(counts, [0, KNOWN as usize]);
        let mut c = pg::connect(&url).unwrap();
        let n: i64 = c.query_one("SELECT count(*) FROM schema_migrations", &[]).unwrap().get(0);
        assert_eq!(n, i64::from(KNOWN));
    })
    .await;
}

#[tokio::test]
async fn pg_two_migrate_processes_started_together_both_succeed() {
    let url = fresh_database().await;
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_idbridge"))
            .args(["migrate", "--db", &url])
            .env_remove("IDBRIDGE_DB")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs = blocking(move || [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()]).await;
    let mut said: Vec<String> = Vec::new();
    for out in &outs {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        said.push(
            String::from_utf8_lossy(&out.stdout).trim().rsplit(": ").next().unwrap_or_default().to_string(),
        );
    }
    said.sort();
    assert_eq!(said, ["0 migration(s) applied".to_string(), format!("{KNOWN} migration(s) applied")]);
}

#[tokio::test]
async fn pg_a_database_recorded_as_newer_is_refused() {
    let url = fresh_database().await;
    blocking(move || {
        pg::migrate_url(&url).unwrap();
        let mut c = pg::connect(&url).unwrap();
        c.execute("INSERT INTO schema_migrations VALUES (99, '0099_future', 'x')", &[]).unwrap();
        match pg::migrate_url(&url) {
            Err(StoreError::Setup(m)) => {
                assert!(
                    m.contains(&format!(
                        "database schema version 99 is newer than this binary knows ({KNOWN})"
                    )),
                    "{m}"
                );
                assert!(!m.contains(PASSWORD), "password leaked: {m}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn pg_connection_errors_name_the_url_without_its_password() {
    let url = format!("postgres://idbridge:{PASSWORD}@127.0.0.1:1/nothing");
    let err = blocking(move || pg::migrate_url(&url).unwrap_err().to_string()).await;
    assert!(err.contains("postgres://idbridge:***@127.0.0.1:1/nothing"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
}

/// Apply the first `n` PostgreSQL migrations by hand, recorded as the runner records them.
fn migrate_to(c: &mut ::postgres::Client, n: usize) {
    pg::migrate::current_version(c).unwrap();
    for (i, (name, sql)) in pg::migrate::MIGRATIONS[..n].iter().enumerate() {
        c.batch_execute(sql).unwrap();
        let v = i32::try_from(i + 1).unwrap();
        c.execute("INSERT INTO schema_migrations VALUES ($1, $2, 't')", &[&v, name]).unwrap();
    }
}

fn all(c: &mut ::postgres::Client, sql: &str) -> Vec<String> {
    c.query(sql, &[]).unwrap().iter().map(|r| r.get(0)).collect()
}

/// The PostgreSQL 0004 does what the SQLite one does (src/store/migrate.rs's test of version 4).
#[tokio::test]
async fn pg_version_4_takes_back_what_deleted_connections_and_the_mapping_gave_wrongly() {
    let url = fresh_database().await;
    blocking(move || {
        let mut c = pg::connect(&url).unwrap();
        migrate_to(&mut c, 3);
        c.batch_execute(
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
        )
        .unwrap();
        assert_eq!(pg::migrate::apply(&mut c).unwrap(), (4..=KNOWN).collect::<Vec<_>>());
        assert_eq!(
            all(&mut c, "SELECT id || ':' || origin FROM users ORDER BY id"),
            ["jit:sso", "outsider:manual", "signed-in:sso"]
        );
        assert_eq!(all(&mut c, "SELECT jti FROM sessions WHERE revoked_at IS NOT NULL"), ["s2"]);
        let revoked = all(&mut c, "SELECT revoked_at FROM sessions WHERE jti = 's2'");
        assert!(revoked[0].ends_with('Z') && revoked[0].len() == 24, "{revoked:?}");
        assert_eq!(all(&mut c, "SELECT value FROM user_claim_groups"), ["Staff"]);
        assert_eq!(all(&mut c, "SELECT user_id FROM group_members"), ["signed-in"]);
        assert_eq!(
            all(&mut c, "SELECT user_id || ':' || source FROM org_grants ORDER BY user_id, source"),
            ["outsider:manual", "signed-in:mapping"]
        );
    })
    .await;
}

/// The PostgreSQL 0006 does what the SQLite one does (src/store/migrate.rs's test of version 6).
#[tokio::test]
async fn pg_version_6_renames_later_duplicate_groups_and_ends_sessions_of_shadowed_jit_users() {
    let url = fresh_database().await;
    blocking(move || {
        let mut c = pg::connect(&url).unwrap();
        migrate_to(&mut c, 5);
        c.batch_execute(
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
        )
        .unwrap();
        assert_eq!(pg::migrate::apply(&mut c).unwrap(), (6..=KNOWN).collect::<Vec<_>>());
        assert_eq!(
            all(
                &mut c,
                "SELECT id || '|' || display_name || '|' || display_name_key || '|' || version || '|' || \
                 coalesce(attributes::jsonb ->> 'displayName', '') FROM groups WHERE org_id = 'o' ORDER BY id"
            ),
            [
                "g1|Eng|eng|1|Eng",
                "g2|ENG (duplicate g2)|eng (duplicate g2)|2|ENG (duplicate g2)",
                "g3|eng (duplicate g3)|eng (duplicate g3)|2|eng (duplicate g3)",
                "h2|Ops|ops|1|"
            ]
        );
        assert_eq!(all(&mut c, "SELECT display_name FROM groups WHERE org_id = 'p'"), ["Eng"], "per org");
        assert_eq!(all(&mut c, "SELECT jti FROM sessions WHERE revoked_at IS NOT NULL"), ["s-jit"]);
        assert_eq!(
            all(&mut c, "SELECT action || ' ' || target FROM audit_events ORDER BY id"),
            [
                "scim.group.rename_duplicate group:g2",
                "scim.group.rename_duplicate group:g3",
                "user.shadowed user:jit"
            ]
        );
        let details: Vec<serde_json::Value> = all(&mut c, "SELECT detail FROM audit_events ORDER BY id")
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(details[0], serde_json::json!({"from": "ENG", "displayName": "ENG (duplicate g2)"}));
        assert_eq!(details[2], serde_json::json!({"sessions_revoked": 1}));
        let dup = c.execute(
            "INSERT INTO groups (id, org_id, display_name, display_name_key, created_at, updated_at)
             VALUES ('g4', 'o', 'eNg', 'eng', 't', 't')",
            &[],
        );
        let code = dup.unwrap_err().code().cloned();
        assert_eq!(code, Some(::postgres::error::SqlState::UNIQUE_VIOLATION));
    })
    .await;
}

/// One table as the test compares it across engines.
#[derive(Debug, Default, PartialEq, Eq)]
struct Table {
    /// (name, type as PostgreSQL should have it, not null)
    columns: BTreeSet<(String, String, bool)>,
    /// (unique, columns in order): primary key, unique constraints, indexes.
    indexes: BTreeSet<(bool, Vec<String>)>,
    /// (columns, referenced table, referenced columns, on delete)
    foreign_keys: BTreeSet<(Vec<String>, String, Vec<String>, String)>,
}

fn sqlite_schema() -> BTreeMap<String, Table> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema.db");
    idbridge::store::Db::migrate_only(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let strings = |sql: &str| -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let mut schema = BTreeMap::new();
    for name in strings("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'") {
        let mut t = Table::default();
        let mut pk: Vec<(i64, String)> = Vec::new();
        let mut stmt = conn.prepare(&format!("PRAGMA table_info('{name}')")).unwrap();
        let cols = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?, r.get::<_, i64>(5)?))
        });
        for (col, ty, notnull, pk_pos) in cols.unwrap().map(Result::unwrap) {
            let pg_type = match ty.as_str() {
                "TEXT" => "text",
                "INTEGER" => "bigint",
                "BLOB" => "bytea",
                other => panic!("{name}.{col}: type {other} has no mapping"),
            };
            if pk_pos > 0 {
                pk.push((pk_pos, col.clone()));
            }
            t.columns.insert((col, pg_type.to_string(), notnull == 1 || pk_pos > 0));
        }
        pk.sort();
        // A rowid-alias INTEGER PRIMARY KEY has no index of its own in index_list.
        let pk_cols: Vec<String> = pk.into_iter().map(|(_, c)| c).collect();
        if !pk_cols.is_empty() {
            t.indexes.insert((true, pk_cols));
        }
        let mut stmt = conn.prepare(&format!("PRAGMA index_list('{name}')")).unwrap();
        let indexes: Vec<(String, bool)> = stmt
            .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(2)? == 1)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (index, unique) in indexes {
            let cols = strings(&format!("SELECT name FROM pragma_index_info('{index}') ORDER BY seqno"));
            t.indexes.insert((unique, cols));
        }
        let mut stmt = conn.prepare(&format!("PRAGMA foreign_key_list('{name}')")).unwrap();
        let fks: Vec<(i64, String, String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(6)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut by_id: BTreeMap<i64, (Vec<String>, String, Vec<String>, String)> = BTreeMap::new();
        for (id, table, from, to, on_delete) in fks {
            let e =
                by_id.entry(id).or_insert_with(|| (Vec::new(), table, Vec::new(), on_delete.to_lowercase()));
            e.0.push(from);
            e.2.push(to);
        }
        t.foreign_keys = by_id.into_values().collect();
        schema.insert(name, t);
    }
    schema
}

const PG_COLUMNS: &str = "SELECT table_name::text, column_name::text, data_type::text, is_nullable = 'NO',
        coalesce(collation_name::text, '')
   FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'schema_migrations'";

const PG_INDEXES: &str = "SELECT t.relname::text, ix.indisunique,
        array(SELECT a.attname::text FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(n, o)
              JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o)
   FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid
  WHERE t.relnamespace = 'public'::regnamespace AND t.relname <> 'schema_migrations'";

const PG_FOREIGN_KEYS: &str = "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text,
        array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
              JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o),
        array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
              JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o),
        CASE c.confdeltype WHEN 'c' THEN 'cascade' WHEN 'a' THEN 'no action' WHEN 'n' THEN 'set null'
             WHEN 'r' THEN 'restrict' ELSE 'set default' END
   FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace";

fn pg_schema(url: &str) -> BTreeMap<String, Table> {
    let mut c = pg::connect(url).unwrap();
    let mut schema: BTreeMap<String, Table> = BTreeMap::new();
    for r in c.query(PG_COLUMNS, &[]).unwrap() {
        let (table, col, ty, notnull, collation): (String, String, String, bool, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        if ty == "text" {
            assert_eq!(collation, "C", "{table}.{col} compares by code point, as SQLite does");
        }
        schema.entry(table).or_default().columns.insert((col, ty, notnull));
    }
    for r in c.query(PG_INDEXES, &[]).unwrap() {
        schema.entry(r.get(0)).or_default().indexes.insert((r.get(1), r.get(2)));
    }
    for r in c.query(PG_FOREIGN_KEYS, &[]).unwrap() {
        schema.entry(r.get(0)).or_default().foreign_keys.insert((r.get(2), r.get(1), r.get(3), r.get(4)));
    }
    schema
}

#[tokio::test]
async fn pg_schema_matches_sqlite() {
    let url = fresh_database().await;
    let (sqlite, postgres) = blocking(move || {
        pg::migrate_url(&url).unwrap();
        (sqlite_schema(), pg_schema(&url))
    })
    .await;
    assert_eq!(sqlite.keys().collect::<Vec<_>>(), postgres.keys().collect::<Vec<_>>(), "same tables");
    assert!(sqlite.len() >= 18, "{:?}", sqlite.keys());
    for (name, table) in &sqlite {
        assert_eq!(Some(table), postgres.get(name), "table {name}: SQLite (left) vs PostgreSQL (right)");
    }
}

#[test]
fn pg_migrate_binary_prints_the_count_and_hides_the_password() {
    let url = crate::support::postgres::fresh_database_blocking();
    let shown = url.replace(PASSWORD, "***");
    for expected in [format!("{KNOWN} migration(s) applied"), "0 migration(s) applied".to_string()] {
        let out = Command::new(env!("CARGO_BIN_EXE_idbridge"))
            .args(["migrate", "--db", &url])
            .env_remove("IDBRIDGE_DB")
            .output()
            .unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{stderr}");
        assert_eq!(stdout.trim(), format!("{shown}: {expected}"));
        assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD), "{stdout}{stderr}");
    }
    // IDBRIDGE_DB names it as well as --db.
    let out = Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .arg("migrate")
        .env("IDBRIDGE_DB", &url)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("{shown}: 0 migration(s) applied"));
}

#[test]
fn every_command_takes_a_postgres_url_and_an_unreachable_one_fails_clearly_creating_nothing() {
    let url = format!("postgresql://idbridge:{PASSWORD}@127.0.0.1:1/idb");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mapping.toml"), "default_org_role = \"member\"\n").unwrap();
    let commands: &[&[&str]] = &[
        &["serve", "--listen", "127.0.0.1:0"],
        &["mapping", "show", "--org", "acme"],
        &["mapping", "apply", "--org", "acme", "mapping.toml"],
        &["events", "tail", "--org", "acme", "--once"],
        &["keys", "rotate"],
    ];
    for args in commands {
        for via_env in [false, true] {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_idbridge"));
            cmd.args(*args)
                .current_dir(dir.path())
                .env_remove("IDBRIDGE_DB")
                .env("IDBRIDGE_SECRET_KEY", crate::support::helpers::SECRET_KEY);
            if via_env {
                cmd.env("IDBRIDGE_DB", &url);
            } else {
                cmd.args(["--db", &url]);
            }
            let out = cmd.output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} succeeded against an unreachable server");
            assert!(stderr.contains("postgresql://idbridge:***@127.0.0.1:1/idb"), "{args:?}: {stderr}");
            assert!(!stderr.contains(PASSWORD), "{stderr}");
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "{args:?} created a file");
        }
    }
    // Without the shared secret key, serving from PostgreSQL is refused before connecting.
    let out = Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db", &url])
        .current_dir(dir.path())
        .env_remove("IDBRIDGE_SECRET_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("IDBRIDGE_SECRET_KEY is required with PostgreSQL"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}
