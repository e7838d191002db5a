//! Rate-limit counters in fixed windows, shared by every node on the database
//! (migration 0009): the count for (key, window) is one row, incremented and
//! read back by a single upsert, so two nodes counting at once never lose a hit.

use super::sql::p;
use super::{StoreError, Tx};

/// Count one hit for `key` in the window starting at `window_start` (Unix
/// seconds); the window's count including this hit.
pub fn hit(conn: &Tx<'_>, key: &str, window_start: i64) -> Result<i64, StoreError> {
    // One statement, so the increment is atomic on either engine: SQLite runs it
    // on the single writer; PostgreSQL's ON CONFLICT takes the row lock, so a
    // concurrent hit from another node waits and then increments the committed
    // count instead of inserting a second row.
    conn.query_one(
        "INSERT INTO rate_limits (key, window_start, hits) VALUES (?1, ?2, 1)
         ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limits.hits + 1
         RETURNING hits",
        p![key, window_start],
        |r| r.get(0),
    )
}

/// Delete the windows that started before `before` (Unix seconds); how many.
pub fn purge_before(conn: &Tx<'_>, before: i64) -> Result<usize, StoreError> {
    conn.exec("DELETE FROM rate_limits WHERE window_start < ?1", p![before])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryDb;

    #[test]
    fn counts_per_key_and_window_and_purges_old_windows() {
        let db = MemoryDb::new();
        let tx = db.tx();
        assert_eq!((0..3).map(|_| hit(&tx, "saml:a", 100).unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(hit(&tx, "saml:b", 100).unwrap(), 1, "keys are independent");
        assert_eq!(hit(&tx, "saml:a", 101).unwrap(), 1, "a new window starts at one");
        assert_eq!(purge_before(&tx, 101).unwrap(), 2, "both keys' window 100 go");
        assert_eq!(hit(&tx, "saml:a", 101).unwrap(), 2, "the current window stays");
        assert_eq!(hit(&tx, "saml:a", 100).unwrap(), 1, "a purged window counts from one again");
    }
}
