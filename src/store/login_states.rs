//! Single-use login state with an expiry (SAML request ids and assertion ids,
//! OIDC state). `insert` refuses a key that is already there (replay);
//! `take` deletes and returns a live entry, so each can be used once.

use super::sql::p;
use super::{StoreError, Tx};

#[derive(Clone, Debug, PartialEq)]
pub struct LoginState {
    pub kind: String,
    pub key: String,
    pub connection_id: String,
    /// JSON.
    pub data: String,
    pub created_at: String,
    pub expires_at: String,
}

/// Insert; `StoreError::Conflict` if (kind, key) exists and has not expired.
pub fn insert(conn: &Tx<'_>, s: &LoginState, now: &str) -> Result<(), StoreError> {
    // An expired entry with the same key no longer blocks.
    conn.exec(
        "DELETE FROM login_states WHERE kind = ?1 AND key = ?2 AND expires_at <= ?3",
        p![s.kind, s.key, now],
    )?;
    // DO NOTHING rather than a failed statement: a replay is an answer, not
    // an error, and PostgreSQL refuses the rest of a transaction after one.
    let inserted = conn.exec(
        "INSERT INTO login_states (kind, key, connection_id, data, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
        p![s.kind, s.key, s.connection_id, s.data, s.created_at, s.expires_at],
    )?;
    if inserted == 0 {
        return Err(StoreError::Conflict { what: "login_states.kind, login_states.key".into() });
    }
    Ok(())
}

/// Delete and return the entry if it exists and has not expired at `now`.
pub fn take(conn: &Tx<'_>, kind: &str, key: &str, now: &str) -> Result<Option<LoginState>, StoreError> {
    let row = conn.query_opt(
        "DELETE FROM login_states WHERE kind = ?1 AND key = ?2
             RETURNING kind, key, connection_id, data, created_at, expires_at",
        p![kind, key],
        |r| {
            Ok(LoginState {
                kind: r.get(0)?,
                key: r.get(1)?,
                connection_id: r.get(2)?,
                data: r.get(3)?,
                created_at: r.get(4)?,
                expires_at: r.get(5)?,
            })
        },
    )?;
    Ok(row.filter(|s| s.expires_at.as_str() > now))
}

/// Remove expired entries; returns how many.
pub fn purge_expired(conn: &Tx<'_>, now: &str) -> Result<usize, StoreError> {
    conn.exec("DELETE FROM login_states WHERE expires_at <= ?1", p![now])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Tx;
    use rusqlite::Connection;

    fn state(key: &str, expires_at: &str) -> LoginState {
        LoginState {
            kind: "saml_assertion".into(),
            key: key.into(),
            connection_id: "c".into(),
            data: "{}".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            expires_at: expires_at.into(),
        }
    }

    #[test]
    fn single_use_replay_refused_and_expiry() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&mut conn).unwrap();
        let now = "2026-01-01T00:00:00.000Z";
        insert(&Tx::new(&conn), &state("a", "2026-01-01T00:05:00.000Z"), now).unwrap();
        assert!(matches!(
            insert(&Tx::new(&conn), &state("a", "2026-01-01T00:05:00.000Z"), now),
            Err(StoreError::Conflict { .. })
        ));
        assert!(take(&Tx::new(&conn), "saml_assertion", "a", now).unwrap().is_some());
        assert!(take(&Tx::new(&conn), "saml_assertion", "a", now).unwrap().is_none(), "single use");
        insert(&Tx::new(&conn), &state("b", "2026-01-01T00:00:01.000Z"), now).unwrap();
        assert!(
            take(&Tx::new(&conn), "saml_assertion", "b", "2026-01-01T00:00:02.000Z").unwrap().is_none(),
            "expired"
        );
        insert(&Tx::new(&conn), &state("c", "2026-01-01T00:00:01.000Z"), now).unwrap();
        assert_eq!(purge_expired(&Tx::new(&conn), "2026-01-01T00:00:02.000Z").unwrap(), 1);
    }
}
