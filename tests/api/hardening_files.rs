//! Issue 9, item 14: the database holds personal data, token hashes and the
//! audit log, so it and its `-wal`/`-shm` companions are owner-only (0600),
//! whoever creates them (`serve`, `migrate`) and whatever the process umask;
//! an existing world-readable database is tightened at start, with a log line.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::StatusCode;

use crate::support::helpers::{ADMIN_TOKEN, db_path, spawn_process};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

fn companions(db: &Path) -> [PathBuf; 3] {
    let s = db.display().to_string();
    [db.to_path_buf(), PathBuf::from(format!("{s}-wal")), PathBuf::from(format!("{s}-shm"))]
}

/// Start `serve`, make one write, and return the modes of the three files while it runs.
async fn modes_after_a_write(db: &Path) -> (Vec<(PathBuf, u32)>, Vec<String>) {
    let proc = spawn_process(db, &[]);
    let r = reqwest::Client::new()
        .post(format!("{}/admin/v1/orgs", proc.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"slug": format!("o{}", std::process::id()), "name": "O"}))
        .send()
        .await
        .unwrap();
    assert!(r.status() == StatusCode::CREATED || r.status() == StatusCode::CONFLICT, "{}", r.status());
    let modes = companions(db).into_iter().map(|p| (p.clone(), mode(&p))).collect();
    let lines: Vec<String> = proc.stderr_lines.try_iter().collect();
    (modes, lines)
}

#[tokio::test]
async fn serve_creates_the_database_wal_and_shm_owner_only() {
    // File modes of the SQLite file and its companions; PostgreSQL has no such files.
    crate::sqlite_only!();
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    let (modes, _) = modes_after_a_write(&db).await;
    for (p, m) in modes {
        assert_eq!(m, 0o600, "{} is {m:o}", p.display());
    }
    // The key file beside the database was already owner-only; it stays so.
    let key = dir.path().join("idbridge.db.key");
    if key.exists() {
        assert_eq!(mode(&key), 0o600);
    }
}

#[tokio::test]
async fn migrate_creates_the_database_owner_only_and_serve_tightens_an_old_one() {
    // File modes of the SQLite file and its companions; PostgreSQL has no such files.
    crate::sqlite_only!();
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    let out =
        Command::new(env!("CARGO_BIN_EXE_idbridge")).args(["migrate", "--db"]).arg(&db).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mode(&db), 0o600, "migrate created {:o}", mode(&db));

    // A database left world-readable by an older version (or by hand) is
    // tightened at start, with its companions, and the change is logged.
    // An empty -wal is a valid (empty) write-ahead log; SQLite opens it as it is.
    let [_, wal, _] = companions(&db);
    if !wal.exists() {
        std::fs::write(&wal, b"").unwrap();
    }
    for p in [&db, &wal] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let (modes, _) = modes_after_a_write(&db).await;
    for (p, m) in modes {
        assert_eq!(m, 0o600, "{} is {m:o}", p.display());
    }

    // Every command that opens the store tightens, and says so.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_idbridge")).args(["migrate", "--db"]).arg(&db).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("permissions tightened to 0600") && log.contains("idbridge.db") && log.contains("0640"),
        "no log line about tightening: {log}"
    );
    assert_eq!(mode(&db), 0o600);
}
