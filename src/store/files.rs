//! The database files on disk. They hold personal data, token hashes and the
//! audit log, so the database and its `-wal` / `-shm` companions are
//! owner-only (0600), whoever creates them and whatever the process umask.
//!
//! SQLite creates the main file with mode 0644 (less the umask), and creates
//! `-wal`, `-journal` and `-shm` with the mode of the main file (os_unix.c,
//! `findCreateFileMode` and `unixOpenSharedMemory`). So the root fix is to
//! create the main file ourselves, 0600, before SQLite opens it: every file
//! SQLite adds later inherits that mode. Files left broader by an older
//! version, a restore or a hand-made copy are tightened at open, with a log line.

use std::path::{Path, PathBuf};

use super::StoreError;

/// Secure default: read and write for the owner only.
#[cfg(unix)]
const DB_FILE_MODE: u32 = 0o600;

/// Companion files SQLite may keep beside the database.
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Paths SQLite does not treat as a plain file name: nothing to protect here.
fn is_plain_file(path: &Path) -> bool {
    let s = path.to_string_lossy();
    !(s.is_empty() || s == ":memory:" || s.starts_with("file:"))
}

/// Create `path` owner-only if it does not exist, and restrict it and any
/// companion that exists to 0600. Called before SQLite opens the database.
pub fn secure_db_files(path: &Path) -> Result<(), StoreError> {
    if !is_plain_file(path) {
        return Ok(());
    }
    create_owner_only(path)?;
    let mut all = vec![path.to_path_buf()];
    all.extend(COMPANIONS.iter().map(|c| PathBuf::from(format!("{}{c}", path.display()))));
    for p in all {
        tighten(&p);
    }
    Ok(())
}

#[cfg(unix)]
fn create_owner_only(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    // A zero-length file is a valid empty SQLite database.
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(DB_FILE_MODE).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Setup(format!("cannot create {}: {e}", path.display()))),
    }
}

#[cfg(not(unix))]
fn create_owner_only(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// Restrict an existing file to 0600; a failure is logged, not fatal (the
/// operator sees the reason and the file's current mode).
#[cfg(unix)]
fn tighten(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else { return };
    let old = meta.permissions().mode() & 0o777;
    if old & !DB_FILE_MODE == 0 {
        return;
    }
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(DB_FILE_MODE)) {
        Ok(()) => tracing::warn!(
            path = %path.display(),
            old_mode = format!("{old:04o}"),
            "database file was readable by others; permissions tightened to 0600"
        ),
        Err(e) => tracing::error!(
            path = %path.display(),
            mode = format!("{old:04o}"),
            error = %e,
            "database file is readable by others and its permissions could not be tightened to 0600"
        ),
    }
}

#[cfg(not(unix))]
fn tighten(_path: &Path) {}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_owner_only_and_tightens_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        secure_db_files(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        let wal = dir.path().join("x.db-wal");
        std::fs::write(&wal, b"").unwrap();
        for p in [&db, &wal] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        secure_db_files(&db).unwrap();
        assert_eq!((mode(&db), mode(&wal)), (0o600, 0o600));
        assert!(!dir.path().join("x.db-shm").exists(), "absent companions are not created");
        // SQLite URIs and in-memory databases are left alone.
        secure_db_files(Path::new(":memory:")).unwrap();
        secure_db_files(Path::new("file:whatever?mode=memory")).unwrap();
        assert!(!Path::new("file:whatever?mode=memory").exists());
    }

    #[test]
    fn sqlite_companions_inherit_the_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("y.db");
        secure_db_files(&db).unwrap();
        let conn = rusqlite::Connection::open(&db).unwrap();
        let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
        for suffix in ["-wal", "-shm"] {
            let p = dir.path().join(format!("y.db{suffix}"));
            assert_eq!(mode(&p), 0o600, "{suffix}");
        }
    }
}
