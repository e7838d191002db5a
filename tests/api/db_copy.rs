//! `idbridge db copy` (src/store/copy.rs): a deployment populated through the
//! real HTTP API is copied SQLite → PostgreSQL → PostgreSQL → SQLite → SQLite
//! and every table's rows are compared, value types included; the last copy
//! then serves the old SCIM token and sessions. Refusals: a non-empty target
//! (left unchanged), a source at another schema version. The real binary: its
//! progress lines, summary, exit codes, and the password never printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use idbridge::store::copy::{self, CopyError, Endpoint};
use reqwest::StatusCode;
use rusqlite::types::Value;
use serde_json::json;

use crate::support::helpers::{SECRET_KEY, TestApp, db_path, spawn_app, spawn_app_in};
use crate::support::postgres::{PASSWORD, fresh_database};

/// Every table of a database: each row as `column=value` pairs (value with its type), rows sorted.
type Dump = BTreeMap<String, Vec<String>>;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn row_text(cols: &[String], values: Vec<Value>) -> String {
    let mut pairs: Vec<String> = cols.iter().zip(values).map(|(c, v)| format!("{c}={v:?}")).collect();
    pairs.sort();
    pairs.join(" ")
}

fn dump_sqlite(path: &Path) -> Dump {
    let c = rusqlite::Connection::open(path).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut dump = Dump::new();
    for t in tables {
        let mut stmt = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let cols: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| Ok((0..cols.len()).map(|i| r.get::<_, Value>(i).unwrap()).collect::<Vec<_>>()))
            .unwrap()
            .map(|r| row_text(&cols, r.unwrap()))
            .collect();
        rows.sort();
        dump.insert(t, rows);
    }
    dump
}

fn pg_value(r: &::postgres::Row, i: usize) -> Value {
    use ::postgres::types::Type;
    let ty = r.columns()[i].type_().clone();
    let v = match ty {
        Type::INT8 => r.get::<_, Option<i64>>(i).map(Value::Integer),
        Type::INT4 => r.get::<_, Option<i32>>(i).map(|n| Value::Integer(n.into())),
        Type::FLOAT8 => r.get::<_, Option<f64>>(i).map(Value::Real),
        Type::TEXT => r.get::<_, Option<String>>(i).map(Value::Text),
        Type::BYTEA => r.get::<_, Option<Vec<u8>>>(i).map(Value::Blob),
        other => panic!("column type {other} in the schema: teach the dump"),
    };
    v.unwrap_or(Value::Null)
}

fn dump_pg(url: &str) -> Dump {
    let mut c = idbridge::store::pg::connect(url).unwrap();
    let tables: Vec<String> = c
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_name <> 'schema_migrations'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut dump = Dump::new();
    for t in tables {
        let rows = c.query(&format!("SELECT * FROM \"{t}\""), &[]).unwrap();
        let mut out: Vec<String> = rows
            .iter()
            .map(|r| {
                let cols: Vec<String> = r.columns().iter().map(|c| c.name().to_string()).collect();
                row_text(&cols, (0..cols.len()).map(|i| pg_value(r, i)).collect())
            })
            .collect();
        out.sort();
        dump.insert(t, out);
    }
    dump
}

fn run_copy(from: Endpoint, to: Endpoint) -> (Result<copy::Summary, CopyError>, String) {
    let mut progress = Vec::new();
    let result = copy::copy(&from, &to, &mut progress);
    (result, String::from_utf8(progress).unwrap())
}

/// A deployment with a bit of everything, made through the HTTP API; returns the
/// SCIM token of acme and the id of one of its SCIM users.
async fn populate(app: &TestApp) -> (String, String) {
    app.org("acme").await;
    app.org("globex").await;
    app.project("acme", "research").await;
    let scim = app.scim("acme").await;
    let ann = scim.user("ann@acme.com", "ext-ann").await;
    let bob = scim.user("bob@acme.com", "ext-bob").await;
    scim.group("Engineering", &[&ann, &bob]).await;
    let (s, b) = app
        .put_mapping(
            "acme",
            json!({"default_org_role": "member",
                   "rules": [{"group": "Engineering", "org_role": "admin", "projects": {"research": "member"}}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) =
        app.admin_post("/admin/v1/orgs/acme/webhooks", json!({"url": "http://127.0.0.1:9/hook"})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) =
        app.admin_post("/admin/v1/orgs/acme/connections", json!({"kind": "saml", "name": "Okta"})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    app.login("acme", "cy@acme.com", &["Engineering"]).await.unwrap();
    (scim.token.clone(), ann)
}

const MUST_HAVE_ROWS: &[&str] = &[
    "orgs",
    "projects",
    "users",
    "groups",
    "group_members",
    "org_grants",
    "project_grants",
    "mappings",
    "connections",
    "scim_tokens",
    "signing_keys",
    "sessions",
    "audit_events",
    "change_events",
    "webhooks",
];

#[tokio::test]
async fn a_deployment_copied_through_every_direction_keeps_every_row_and_serves_from_the_copy() {
    // The source is an SQLite deployment by design (the copy goes to and from PostgreSQL itself).
    crate::sqlite_only!();
    let app = spawn_app().await;
    let (scim_token, ann) = populate(&app).await;
    let dir = app.stop().await;
    let source = db_path(&dir);
    // Retention purged the newest event: the copy must still never hand out its id again.
    let top: i64 = {
        let c = rusqlite::Connection::open(&source).unwrap();
        let top: i64 = c.query_row("SELECT max(id) FROM change_events", [], |r| r.get(0)).unwrap();
        c.execute("DELETE FROM change_events WHERE id = ?1", [top]).unwrap();
        top
    };
    let original = dump_sqlite(&source);
    for t in MUST_HAVE_ROWS {
        assert!(!original[*t].is_empty(), "the test deployment has no {t} rows");
    }
    assert!(original.values().any(|rows| rows.iter().any(|r| r.contains("Blob("))), "blobs are copied too");

    let (pg_a, pg_b) = (fresh_database().await, fresh_database().await);
    let out = tempfile::tempdir().unwrap();
    let (lite_c, lite_d) = (out.path().join("c.db"), out.path().join("d.db"));
    let (src, a, b, c, d) = (source.clone(), pg_a.clone(), pg_b.clone(), lite_c.clone(), lite_d.clone());
    let outputs = blocking(move || {
        let steps = [
            (Endpoint::Sqlite(src), Endpoint::Postgres(a.clone())),
            (Endpoint::Postgres(a), Endpoint::Postgres(b.clone())),
            (Endpoint::Postgres(b), Endpoint::Sqlite(c.clone())),
            (Endpoint::Sqlite(c), Endpoint::Sqlite(d)),
        ];
        steps
            .into_iter()
            .map(|(from, to)| {
                let (r, progress) = run_copy(from.clone(), to.clone());
                let summary = r.unwrap_or_else(|e| panic!("{} -> {}: {e}", from.shown(), to.shown()));
                (summary, progress)
            })
            .collect::<Vec<_>>()
    })
    .await;
    let (summary, progress) = &outputs[0];
    assert_eq!(summary.tables.len(), original.len(), "every table copied: {:?}", summary.tables);
    for (table, rows) in &summary.tables {
        assert_eq!(*rows as usize, original[table].len(), "{table}");
        assert!(progress.contains(&format!("copying {table}: {rows} row(s)")), "{progress}");
    }
    let order: Vec<&str> = summary.tables.iter().map(|(t, _)| t.as_str()).collect();
    let at = |t: &str| order.iter().position(|x| *x == t).unwrap();
    assert!(
        at("orgs") < at("users") && at("users") < at("group_members") && at("groups") < at("group_members")
    );

    let (a, b, c) = (pg_a.clone(), pg_b.clone(), lite_c.clone());
    let (dump_a, dump_b) = blocking(move || (dump_pg(&a), dump_pg(&b))).await;
    assert_eq!(dump_a, original, "SQLite -> PostgreSQL");
    assert_eq!(dump_b, original, "PostgreSQL -> PostgreSQL");
    assert_eq!(dump_sqlite(&c), original, "PostgreSQL -> SQLite");
    assert_eq!(dump_sqlite(&lite_d), original, "SQLite -> SQLite");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&lite_d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the SQLite target is owner-only");
    }

    // New ids go past the copied ones (and past the purged event) on both engines.
    let org_id: String = {
        let conn = rusqlite::Connection::open(&lite_c).unwrap();
        conn.query_row("SELECT id FROM orgs WHERE slug = 'acme'", [], |r| r.get(0)).unwrap()
    };
    let (oid, a) = (org_id.clone(), pg_a.clone());
    let (pg_event, pg_audit, max_audit) = blocking(move || {
        let mut pg = idbridge::store::pg::connect(&a).unwrap();
        let event: i64 = pg
            .query_one("INSERT INTO change_events (org_id, type, at, data) VALUES ($1, 't', 't', '{}') RETURNING id", &[&oid])
            .unwrap()
            .get(0);
        let max_audit: i64 = pg.query_one("SELECT max(id) FROM audit_events", &[]).unwrap().get(0);
        let audit: i64 = pg
            .query_one("INSERT INTO audit_events (at, actor, action, target) VALUES ('t', 'a', 'b', 'c') RETURNING id", &[])
            .unwrap()
            .get(0);
        (event, audit, max_audit)
    })
    .await;
    assert_eq!(pg_event, top + 1, "PostgreSQL: the sequence is past the purged event {top}");
    assert_eq!(pg_audit, max_audit + 1);
    {
        let conn = rusqlite::Connection::open(&lite_c).unwrap();
        conn.execute(
            "INSERT INTO change_events (org_id, type, at, data) VALUES (?1, 't', 't', '{}')",
            [&org_id],
        )
        .unwrap();
        assert_eq!(conn.last_insert_rowid(), top + 1, "SQLite: sqlite_sequence carried over");
    }

    // The last copy serves: the old SCIM token reads the user, sessions are signed with the copied keys.
    let served = tempfile::tempdir().unwrap();
    std::fs::rename(&lite_d, db_path(&served)).unwrap();
    let app = spawn_app_in(served).await;
    let resp = app
        .client
        .get(app.url(&format!("/scim/v2/acme/Users/{ann}")))
        .bearer_auth(&scim_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let user: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(user["userName"], "ann@acme.com");
    let token = app.login("acme", "cy@acme.com", &["Engineering"]).await.unwrap();
    let (s, me) = app.me(&token).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["org"]["role"], "admin");
    app.stop().await;
}

#[tokio::test]
async fn a_non_empty_target_is_refused_and_left_unchanged() {
    // The source is an SQLite deployment by design (the copy goes to and from PostgreSQL itself).
    crate::sqlite_only!();
    let app = spawn_app().await;
    app.org("acme").await;
    let dir = app.stop().await;
    let source = db_path(&dir);
    let pg = fresh_database().await;
    let other = tempfile::tempdir().unwrap();
    let lite = other.path().join("t.db");
    let old = other.path().join("old.db");
    {
        // A target at schema version 1 with a row: refused before its migrations run.
        let c = rusqlite::Connection::open(&old).unwrap();
        c.execute_batch(include_str!("../../src/store/migrations/0001_init.sql")).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute("INSERT INTO settings (key, value) VALUES ('k', 'v')", []).unwrap();
    }
    let (src, url, lite2, old2) = (source.clone(), pg.clone(), lite.clone(), old.clone());
    blocking(move || {
        run_copy(Endpoint::Sqlite(src.clone()), Endpoint::Postgres(url.clone())).0.unwrap();
        run_copy(Endpoint::Sqlite(src.clone()), Endpoint::Sqlite(lite2.clone())).0.unwrap();
        let (before_pg, before_lite, before_old) = (dump_pg(&url), dump_sqlite(&lite2), dump_sqlite(&old2));
        for to in
            [Endpoint::Postgres(url.clone()), Endpoint::Sqlite(lite2.clone()), Endpoint::Sqlite(old2.clone())]
        {
            match run_copy(Endpoint::Sqlite(src.clone()), to.clone()) {
                (Err(e @ CopyError::NotEmpty { .. }), _) => {
                    let m = e.to_string();
                    assert!(m.contains("the target is not empty (table ") && m.contains(" has rows)"), "{m}");
                    assert!(!m.contains(PASSWORD) && !m.contains('\n'), "{m}");
                }
                (other, _) => panic!("{}: expected a refusal, got {:?}", to.shown(), other.map(|_| ())),
            }
        }
        assert_eq!(dump_pg(&url), before_pg);
        assert_eq!(dump_sqlite(&lite2), before_lite);
        assert_eq!(dump_sqlite(&old2), before_old);
        let v: u32 = rusqlite::Connection::open(&old2)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1, "the refused target was not migrated");
        let refused = run_copy(Endpoint::Sqlite(old2.clone()), Endpoint::Sqlite(old2)).0;
        assert!(matches!(refused, Err(CopyError::SameDatabase(_))), "{refused:?}");
    })
    .await;
}

#[tokio::test]
async fn a_source_at_another_schema_version_is_refused_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let (newer, older, missing) =
        (dir.path().join("newer.db"), dir.path().join("older.db"), dir.path().join("no.db"));
    idbridge::store::Db::migrate_only(&newer).unwrap();
    rusqlite::Connection::open(&newer).unwrap().pragma_update(None, "user_version", 99).unwrap();
    {
        let c = rusqlite::Connection::open(&older).unwrap();
        c.execute_batch(include_str!("../../src/store/migrations/0001_init.sql")).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
    }
    let (pg_newer, pg_never) = (fresh_database().await, fresh_database().await);
    let target = dir.path().join("target.db");
    let (pg, t) = (pg_newer.clone(), target.clone());
    blocking(move || {
        idbridge::store::pg::migrate_url(&pg).unwrap();
        let mut c = idbridge::store::pg::connect(&pg).unwrap();
        c.execute("INSERT INTO schema_migrations VALUES (99, '0099_future', 'x')", &[]).unwrap();
        // This binary's schema version: its number of SQLite migrations.
        let known = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/migrations"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "sql"))
            .count();
        let ours = format!("this binary's is {known};");
        let cases = [
            (
                Endpoint::Sqlite(newer),
                "schema version 99, this binary's is 8; it was written by a newer idbridge",
            ),
            (
                Endpoint::Postgres(pg),
                "schema version 99, this binary's is 8; it was written by a newer idbridge",
            ),
            (
                Endpoint::Sqlite(older.clone()),
                "schema version 1, this binary's is 8; run `idbridge migrate --db ",
            ),
            (
                Endpoint::Postgres(pg_never),
                "schema version 0, this binary's is 8; run `idbridge migrate --db postgres://idbridge:***@",
            ),
        ];
        for (from, wanted) in cases {
            let wanted = wanted.replace("this binary's is 8;", &ours);
            match run_copy(from.clone(), Endpoint::Sqlite(t.clone())).0 {
                Err(e @ CopyError::SourceSchema { .. }) => {
                    let m = e.to_string();
                    assert!(m.contains(&wanted), "{m}");
                    assert!(!m.contains(PASSWORD), "{m}");
                }
                other => panic!("{}: expected a refusal, got {:?}", from.shown(), other.map(|_| ())),
            }
            assert!(!t.exists(), "nothing is created for a refused source");
        }
        let r = run_copy(Endpoint::Sqlite(missing.clone()), Endpoint::Sqlite(t.clone())).0;
        assert!(matches!(r, Err(CopyError::NoSource(_))), "{r:?}");
        assert!(!missing.exists(), "a missing source is not created");
        let v: u32 = rusqlite::Connection::open(&older)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1, "the source is never migrated by a copy");
    })
    .await;
}

fn idbridge(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .args(args)
        .env_remove("IDBRIDGE_DB")
        .env("IDBRIDGE_SECRET_KEY", SECRET_KEY)
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_binary_copies_with_progress_and_a_summary_and_never_prints_the_password() {
    // The source is an SQLite deployment by design (the copy goes to and from PostgreSQL itself).
    crate::sqlite_only!();
    let app = spawn_app().await;
    app.org("acme").await;
    let dir = app.stop().await;
    let source: PathBuf = db_path(&dir);
    {
        // A big table: progress lines every 10,000 rows.
        let mut c = rusqlite::Connection::open(&source).unwrap();
        let tx = c.transaction().unwrap();
        for i in 0..10_050 {
            tx.execute(
                "INSERT INTO audit_events (at, actor, action, target) VALUES ('t', 'load', 'x', ?1)",
                [format!("t{i}")],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let audit_rows: i64 = rusqlite::Connection::open(&source)
        .unwrap()
        .query_row("SELECT count(*) FROM audit_events", [], |r| r.get(0))
        .unwrap();
    let url = fresh_database().await;
    let src = source.to_str().unwrap().to_string();
    let (u, s) = (url.clone(), src.clone());
    let (first, second, help) = blocking(move || {
        (
            idbridge(&["db", "copy", "--from", &s, "--to", &u]),
            idbridge(&["db", "copy", "--from", &s, "--to", &u]),
            idbridge(&["db", "copy", "--help"]),
        )
    })
    .await;
    let (out, err) = (String::from_utf8_lossy(&first.stdout), String::from_utf8_lossy(&first.stderr));
    assert!(first.status.success(), "{out}\n{err}");
    assert!(err.contains(&format!("copying audit_events: {audit_rows} row(s)")), "{err}");
    assert!(err.contains(&format!("  audit_events: 10000 of {audit_rows} rows")), "{err}");
    assert!(err.contains("copying orgs: 1 row(s)"), "{err}");
    assert!(err.contains("IDBRIDGE_SECRET_KEY"), "the key reminder: {err}");
    assert!(out.contains(&format!("copied {src} -> postgres://idbridge:***@")), "{out}");
    assert!(out.contains("row counts verified on both sides"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["audit_events", &audit_rows.to_string()])
    );
    for text in [&out, &err] {
        assert!(!text.contains(PASSWORD), "password printed: {text}");
    }

    let (out, err) = (String::from_utf8_lossy(&second.stdout), String::from_utf8_lossy(&second.stderr));
    assert_eq!(second.status.code(), Some(1), "{out}\n{err}");
    assert!(err.contains("the target is not empty (table "), "{err}");
    assert!(err.contains("postgres://idbridge:***@"), "{err}");
    assert!(!err.contains(PASSWORD) && !out.contains(PASSWORD), "{err}");

    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--from <FILE_OR_URL>") && help.contains("IDBRIDGE_SECRET_KEY"), "{help}");
}
