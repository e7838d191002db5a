//! Session records: a JWT is valid only while its `jti` row is live.

use super::sql::{Row, p};
use super::{StoreError, Tx};

#[derive(Clone, Debug)]
pub struct SessionRow {
    pub jti: String,
    pub user_id: String,
    pub org_id: String,
    pub connection_id: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    pub last_seen_at: String,
    pub revoked_at: Option<String>,
    /// What the IdP said about this session (SAML NameID and SessionIndex, OIDC sub and sid).
    pub idp: IdpSessionRow,
}

/// The IdP's view of a session, kept so that the IdP can end it (Single Logout,
/// back-channel logout, Universal Logout, Shared Signals).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdpSessionRow {
    /// SAML NameID, OIDC `sub`.
    pub subject: Option<String>,
    /// SAML `AuthnStatement/@SessionIndex`.
    pub session_index: Option<String>,
    /// OIDC `sid`.
    pub sid: Option<String>,
    /// Anything else a logout needs, as a JSON object (e.g. NameID Format and qualifiers).
    pub data: String,
}

pub fn insert(conn: &Tx<'_>, s: &SessionRow) -> Result<(), StoreError> {
    let idp_data = if s.idp.data.is_empty() { "{}" } else { s.idp.data.as_str() };
    conn.exec(
        "INSERT INTO sessions (jti, user_id, org_id, connection_id, created_at, expires_at, last_seen_at,
                               idp_subject, idp_session_index, idp_sid, idp_data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        p![
            s.jti,
            s.user_id,
            s.org_id,
            s.connection_id,
            s.created_at,
            s.expires_at,
            s.last_seen_at,
            s.idp.subject,
            s.idp.session_index,
            s.idp.sid,
            idp_data,
        ],
    )?;
    Ok(())
}

pub fn get(conn: &Tx<'_>, jti: &str) -> Result<Option<SessionRow>, StoreError> {
    conn.query_opt(
        "SELECT jti, user_id, org_id, connection_id, created_at, expires_at, last_seen_at, revoked_at,
                    idp_subject, idp_session_index, idp_sid, idp_data
             FROM sessions WHERE jti = ?1",
        p![jti],
        session_row,
    )
}

fn session_row(r: &Row<'_>) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        jti: r.get(0)?,
        user_id: r.get(1)?,
        org_id: r.get(2)?,
        connection_id: r.get(3)?,
        created_at: r.get(4)?,
        expires_at: r.get(5)?,
        last_seen_at: r.get(6)?,
        revoked_at: r.get(7)?,
        idp: IdpSessionRow {
            subject: r.get(8)?,
            session_index: r.get(9)?,
            sid: r.get(10)?,
            data: r.get(11)?,
        },
    })
}

pub fn touch(conn: &Tx<'_>, jti: &str, now: &str) -> Result<(), StoreError> {
    conn.exec("UPDATE sessions SET last_seen_at = ?2 WHERE jti = ?1 AND revoked_at IS NULL", p![jti, now])?;
    Ok(())
}

pub fn revoke(conn: &Tx<'_>, jti: &str, now: &str) -> Result<bool, StoreError> {
    Ok(conn
        .exec("UPDATE sessions SET revoked_at = ?2 WHERE jti = ?1 AND revoked_at IS NULL", p![jti, now])?
        == 1)
}

/// End every live session of a user; returns how many.
pub fn revoke_user(conn: &Tx<'_>, user_id: &str, now: &str) -> Result<usize, StoreError> {
    conn.exec(
        "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        p![user_id, now],
    )
}

/// End every live session made through a connection (it is being deleted);
/// returns the user of each ended session (one entry per session).
pub fn revoke_connection(conn: &Tx<'_>, connection_id: &str, now: &str) -> Result<Vec<String>, StoreError> {
    conn.query_vec(
        "UPDATE sessions SET revoked_at = ?2 WHERE connection_id = ?1 AND revoked_at IS NULL RETURNING user_id",
        p![connection_id, now],
        |r| r.get(0),
    )
}

/// Delete sessions that expired before `before` (kept a while after expiry
/// for investigation); returns how many.
pub fn purge_expired(conn: &Tx<'_>, before: &str) -> Result<usize, StoreError> {
    conn.exec("DELETE FROM sessions WHERE expires_at < ?1", p![before])
}

/// End the live sessions a connection's IdP names by subject (SAML NameID, OIDC
/// `sub`), only those of that SAML SessionIndex when one is given; `reason` is
/// recorded. Returns the users whose sessions ended (once each).
pub fn revoke_by_idp_subject(
    conn: &Tx<'_>,
    connection_id: &str,
    subject: &str,
    session_index: Option<&str>,
    reason: &str,
    now: &str,
) -> Result<Vec<String>, StoreError> {
    let rows = conn.query_vec(
        "UPDATE sessions SET revoked_at = ?5, revoked_reason = ?4
         WHERE connection_id = ?1 AND idp_subject = ?2 AND revoked_at IS NULL
           AND (CAST(?3 AS TEXT) IS NULL OR idp_session_index = ?3)
         RETURNING user_id",
        p![connection_id, subject, session_index, reason, now],
        |r| r.get(0),
    )?;
    Ok(distinct(rows))
}

/// End the live sessions a connection's OpenID Provider names by `sid`
/// (and `sub`, when given); `reason` is recorded. Returns the users whose sessions ended.
pub fn revoke_by_idp_sid(
    conn: &Tx<'_>,
    connection_id: &str,
    sid: &str,
    subject: Option<&str>,
    reason: &str,
    now: &str,
) -> Result<Vec<String>, StoreError> {
    let rows = conn.query_vec(
        "UPDATE sessions SET revoked_at = ?5, revoked_reason = ?4
         WHERE connection_id = ?1 AND idp_sid = ?2 AND revoked_at IS NULL
           AND (CAST(?3 AS TEXT) IS NULL OR idp_subject = ?3)
         RETURNING user_id",
        p![connection_id, sid, subject, reason, now],
        |r| r.get(0),
    )?;
    Ok(distinct(rows))
}

/// End every live session of a user, recording `reason`; returns how many.
pub fn revoke_user_for(conn: &Tx<'_>, user_id: &str, reason: &str, now: &str) -> Result<usize, StoreError> {
    conn.exec(
        "UPDATE sessions SET revoked_at = ?3, revoked_reason = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        p![user_id, reason, now],
    )
}

/// The users a connection's IdP knows by `subject` (SAML NameID, OIDC `sub`):
/// those with a session through that connection carrying it, live or not
/// (rows are kept a week after expiry), so a signal can find the person
/// even when no session is live.
pub fn users_by_idp_subject(
    conn: &Tx<'_>,
    org_id: &str,
    connection_id: &str,
    subject: &str,
) -> Result<Vec<String>, StoreError> {
    let rows = conn.query_vec(
        "SELECT DISTINCT user_id FROM sessions WHERE org_id = ?1 AND connection_id = ?2 AND idp_subject = ?3",
        p![org_id, connection_id, subject],
        |r| r.get(0),
    )?;
    Ok(distinct(rows))
}

fn distinct(mut users: Vec<String>) -> Vec<String> {
    users.sort();
    users.dedup();
    users
}

#[cfg(test)]
mod idp_tests {
    use super::*;
    use crate::store::Tx;
    use rusqlite::Connection;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&mut c).unwrap();
        c.execute_batch(
            "INSERT INTO orgs VALUES ('o', 'acme', 'Acme', 't');
             INSERT INTO users (id, org_id, origin, user_name, user_name_key, created_at, updated_at) VALUES
                 ('u1', 'o', 'sso', 'a', 'a', 't', 't'), ('u2', 'o', 'sso', 'b', 'b', 't', 't');",
        )
        .unwrap();
        for (jti, user, conn_id, subject, index, sid) in [
            ("s1", "u1", "c", "ann", "i1", "sid1"),
            ("s2", "u1", "c", "ann", "i2", "sid2"),
            ("s3", "u2", "c", "bob", "i3", "sid3"),
            ("s4", "u1", "other", "ann", "i1", "sid1"),
        ] {
            insert(
                &Tx::new(&c),
                &SessionRow {
                    jti: jti.into(),
                    user_id: user.into(),
                    org_id: "o".into(),
                    connection_id: Some(conn_id.into()),
                    created_at: "t".into(),
                    expires_at: "t".into(),
                    last_seen_at: "t".into(),
                    revoked_at: None,
                    idp: IdpSessionRow {
                        subject: Some(subject.into()),
                        session_index: Some(index.into()),
                        sid: Some(sid.into()),
                        data: String::new(),
                    },
                },
            )
            .unwrap();
        }
        c
    }

    fn live(c: &Connection) -> Vec<String> {
        let mut stmt = c.prepare("SELECT jti FROM sessions WHERE revoked_at IS NULL ORDER BY jti").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn idp_revocations_touch_only_the_named_sessions_of_that_connection() {
        let c = db();
        assert_eq!(
            revoke_by_idp_subject(&Tx::new(&c), "c", "ann", Some("i1"), "idp_slo", "now").unwrap(),
            ["u1"]
        );
        assert_eq!(live(&c), ["s2", "s3", "s4"]);
        assert_eq!(
            revoke_by_idp_sid(&Tx::new(&c), "c", "sid3", Some("someone-else"), "bcl", "now").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(revoke_by_idp_sid(&Tx::new(&c), "c", "sid3", None, "bcl", "now").unwrap(), ["u2"]);
        assert_eq!(revoke_by_idp_subject(&Tx::new(&c), "c", "ann", None, "idp_slo", "now").unwrap(), ["u1"]);
        assert_eq!(live(&c), ["s4"], "another connection's session stays");
        let reason: String =
            c.query_row("SELECT revoked_reason FROM sessions WHERE jti = 's3'", [], |r| r.get(0)).unwrap();
        assert_eq!(reason, "bcl");
        assert_eq!(revoke_user_for(&Tx::new(&c), "u1", "universal_logout", "now").unwrap(), 1);
        assert!(live(&c).is_empty());
    }
}
