//! Users of an org. Every read of a user — admin, sign-in, SCIM (get and the
//! streamed lists of store::scim) — returns one shape, `model::User`, through
//! one row mapper ([`user_row`]); SCIM's stored resource (`attributes`) and
//! `version` ride along, never serialised into admin output.

use super::sql::{Row, p};
use super::{StoreError, Tx};
use crate::model::{Origin, User};

/// The columns [`user_row`] reads, from `users u`; a statement may select
/// more after them (from index [`USER_COLUMN_COUNT`]).
pub const USER_COLUMNS: &str = "u.id, u.org_id, u.origin, u.user_name, u.external_id, u.email, \
     u.display_name, u.given_name, u.family_name, u.active, u.created_at, u.updated_at, u.attributes, u.version";

/// How many columns [`USER_COLUMNS`] names.
pub const USER_COLUMN_COUNT: usize = 14;

/// The one row mapper of a user: every read of `users` (admin, sign-in,
/// SCIM) returns this shape.
pub fn user_row(r: &Row<'_>) -> Result<User, StoreError> {
    Ok(User {
        id: r.get(0)?,
        org_id: r.get(1)?,
        origin: r.get(2)?,
        user_name: r.get(3)?,
        external_id: r.get(4)?,
        email: r.get(5)?,
        display_name: r.get(6)?,
        given_name: r.get(7)?,
        family_name: r.get(8)?,
        active: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        attributes: r.get(12)?,
        version: r.get(13)?,
    })
}

/// What the org's IdP (a SCIM client, or a sign-in) or an operator states
/// about a user: the indexed columns, and the SCIM resource as stored (JSON,
/// no id/meta/password/groups; `{}` for a user SCIM never wrote).
#[derive(Clone, Debug, Default)]
pub struct UserFacts {
    pub user_name: String,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub active: bool,
    pub attributes: String,
}

impl UserFacts {
    /// The facts of a user record (no SCIM attributes).
    pub fn of(u: &User) -> UserFacts {
        UserFacts {
            user_name: u.user_name.clone(),
            external_id: u.external_id.clone(),
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            given_name: u.given_name.clone(),
            family_name: u.family_name.clone(),
            active: u.active,
            attributes: "{}".to_string(),
        }
    }
}

/// Insert a user record with no SCIM attributes (manual or just-in-time).
pub fn insert(conn: &Tx<'_>, u: &User) -> Result<(), StoreError> {
    let at = (u.created_at.as_str(), u.updated_at.as_str());
    insert_facts(conn, u.org_id.as_str(), u.id.as_str(), u.origin, &UserFacts::of(u), at)
}

/// The one insert of a user: `origin` says who vouches for it (SCIM, a
/// sign-in, an operator); `at` is (created_at, updated_at).
pub fn insert_facts(
    conn: &Tx<'_>,
    org_id: &str,
    id: &str,
    origin: Origin,
    f: &UserFacts,
    at: (&str, &str),
) -> Result<(), StoreError> {
    conn.exec(
        "INSERT INTO users (id, org_id, origin, user_name, user_name_key, external_id, email, email_key,
                            display_name, given_name, family_name, active, attributes, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        p![
            id,
            org_id,
            origin.as_str(),
            f.user_name,
            f.user_name.to_lowercase(),
            f.external_id,
            f.email,
            f.email.as_ref().map(|e| e.to_lowercase()),
            f.display_name,
            f.given_name,
            f.family_name,
            f.active,
            f.attributes,
            at.0,
            at.1
        ],
    )?;
    Ok(())
}

pub fn by_id(conn: &Tx<'_>, org_id: &str, id: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE org_id = ?1 AND id = ?2");
    conn.query_opt(&sql, p![org_id, id], user_row)
}

/// The org's rows whose email or userName is the address ?2: two index probes
/// (`users_email_idx`, `users_user_name_unique`). Written as a UNION because
/// SQLite plans `email_key = ?2 OR user_name_key = ?2` as a scan of the whole
/// org (seen: 45 ms per SCIM POST on a 100,000-user org).
const BY_ADDRESS: &str = "SELECT id FROM users WHERE org_id = ?1 AND email_key = ?2
                          UNION SELECT id FROM users WHERE org_id = ?1 AND user_name_key = ?2";

/// Which of several rows with one address a sign-in means: the SCIM-managed
/// one, then a just-in-time one, then an operator-made one.
const ORIGIN_RANK: &str = "CASE origin WHEN 'scim' THEN 0 WHEN 'sso' THEN 1 ELSE 2 END";

/// The user a sign-in by email means: among the org's live (not SCIM-deleted)
/// users whose email or userName equals `email_key` (lowercased), the
/// SCIM-managed one first, then the one whose email (not userName) matches,
/// then the oldest. Inactive users are not skipped: the caller refuses an
/// inactive one, so a deactivated SCIM user never falls back to an older
/// just-in-time duplicate with the same address (docs/mapping.md, "One person, one user").
pub fn by_email(conn: &Tx<'_>, org_id: &str, email_key: &str) -> Result<Option<User>, StoreError> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE id IN ({BY_ADDRESS}) AND deleted = 0
         ORDER BY {ORIGIN_RANK}, (email_key = ?2) DESC, created_at, id LIMIT 1"
    );
    conn.query_opt(&sql, p![org_id, email_key], user_row)
}

pub fn by_external_id(conn: &Tx<'_>, org_id: &str, external_id: &str) -> Result<Option<User>, StoreError> {
    let sql =
        format!("SELECT {USER_COLUMNS} FROM users u WHERE org_id = ?1 AND external_id = ?2 AND deleted = 0");
    conn.query_opt(&sql, p![org_id, external_id], user_row)
}

pub fn by_user_name(conn: &Tx<'_>, org_id: &str, user_name_key: &str) -> Result<Option<User>, StoreError> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE org_id = ?1 AND user_name_key = ?2 AND deleted = 0"
    );
    conn.query_opt(&sql, p![org_id, user_name_key], user_row)
}

/// Replace a user's raw group claim values with those of this login: only the
/// most recent sign-in's claims are kept, whichever connection it came through
/// (docs/mapping.md, "SSO group claims and SCIM memberships").
pub fn set_claim_groups(
    conn: &Tx<'_>,
    user_id: &str,
    connection_id: &str,
    groups: &[String],
) -> Result<(), StoreError> {
    conn.exec("DELETE FROM user_claim_groups WHERE user_id = ?1", p![user_id])?;
    for g in groups {
        conn.exec(
            "INSERT INTO user_claim_groups (user_id, connection_id, value) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            p![user_id, connection_id, g],
        )?;
    }
    Ok(())
}

/// A login through `connection_id` that did not say which groups the user is
/// in (a groups overage): keep the values this connection asserted last and
/// drop other connections' (as any login through it does). Returns how many
/// values were kept.
pub fn keep_claim_groups_of(conn: &Tx<'_>, user_id: &str, connection_id: &str) -> Result<usize, StoreError> {
    conn.exec(
        "DELETE FROM user_claim_groups WHERE user_id = ?1 AND connection_id <> ?2",
        p![user_id, connection_id],
    )?;
    Ok(conn.query_one(
        "SELECT COUNT(*) FROM user_claim_groups WHERE user_id = ?1 AND connection_id = ?2",
        p![user_id, connection_id],
        |r| r.get::<i64>(0),
    )? as usize)
}

/// Drop every claim value a connection asserted (the connection is being
/// deleted); returns the users who had some, ascending.
pub fn drop_connection_claims(conn: &Tx<'_>, connection_id: &str) -> Result<Vec<String>, StoreError> {
    let users: Vec<String> = conn.query_vec(
        "SELECT DISTINCT user_id FROM user_claim_groups WHERE connection_id = ?1 ORDER BY user_id",
        p![connection_id],
        |r| r.get(0),
    )?;
    conn.exec("DELETE FROM user_claim_groups WHERE connection_id = ?1", p![connection_id])?;
    Ok(users)
}

/// The operator-made (`manual`) user whose address — email or userName,
/// lowercased — is one of `keys`, preferring the earlier key; None if none is.
pub fn manual_by_address(conn: &Tx<'_>, org_id: &str, keys: &[&str]) -> Result<Option<User>, StoreError> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u
         WHERE id IN ({BY_ADDRESS}) AND origin = 'manual' AND deleted = 0"
    );
    for key in keys {
        if let Some(u) = conn.query_opt(&sql, p![org_id, key], user_row)? {
            return Ok(Some(u));
        }
    }
    Ok(None)
}

/// The org's IdP takes over an operator-made user: its origin becomes `origin`
/// (`scim` or `sso`) and the mapping applies to it from now on. True if the
/// user was `manual`; any other user is left alone.
pub fn adopt(conn: &Tx<'_>, org_id: &str, id: &str, origin: Origin, at: &str) -> Result<bool, StoreError> {
    take_over(conn, org_id, id, Origin::Manual, origin, at)
}

/// Change a live user's origin from `from` to `to`; true if it was `from`.
pub fn take_over(
    conn: &Tx<'_>,
    org_id: &str,
    id: &str,
    from: Origin,
    to: Origin,
    at: &str,
) -> Result<bool, StoreError> {
    Ok(conn.exec(
        "UPDATE users SET origin = ?4, updated_at = ?5, version = version + 1
             WHERE org_id = ?1 AND id = ?2 AND origin = ?3 AND deleted = 0",
        p![org_id, id, from, to, at],
    )? == 1)
}

/// Which attribute a just-in-time user is looked up by (a connection's match rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JitKey {
    /// `external_id`, exactly.
    ExternalId,
    /// `email_key` or `user_name_key` (an email sign-in matches either, see [`by_email`]).
    Email,
    /// `user_name_key`.
    UserName,
}

/// The live just-in-time (`sso`) users of the org whose `key` attribute equals
/// one of `values` (lowercased already for `Email` and `UserName`), by id.
pub fn jit_matching(
    conn: &Tx<'_>,
    org_id: &str,
    key: JitKey,
    values: &[String],
) -> Result<Vec<User>, StoreError> {
    let cond = match key {
        JitKey::ExternalId => "external_id = ?2",
        JitKey::Email => {
            "id IN (SELECT id FROM users WHERE org_id = ?1 AND email_key = ?2
                          UNION SELECT id FROM users WHERE org_id = ?1 AND user_name_key = ?2)"
        }
        JitKey::UserName => "user_name_key = ?2",
    };
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE org_id = ?1 AND origin = 'sso' AND deleted = 0 AND {cond} ORDER BY id"
    );
    let mut out: Vec<User> = Vec::new();
    for v in values {
        conn.query_each(&sql, p![org_id, v], |r| {
            let u = user_row(r)?;
            if !out.iter().any(|o| o.id == u.id) {
                out.push(u);
            }
            Ok(true)
        })?;
    }
    Ok(out)
}

/// Set a user's active flag; true if it changed.
pub fn set_active(conn: &Tx<'_>, org_id: &str, id: &str, active: bool, at: &str) -> Result<bool, StoreError> {
    Ok(conn.exec(
        "UPDATE users SET active = ?3, updated_at = ?4, version = version + 1
         WHERE org_id = ?1 AND id = ?2 AND active != ?3",
        p![org_id, id, active, at],
    )? == 1)
}

#[cfg(test)]
mod plan_tests {
    use super::*;
    use rusqlite::{Connection, params};

    /// Address lookups run on every SCIM POST and every sign-in by email: they
    /// must probe the email and userName indexes, never walk the whole org.
    #[test]
    fn address_lookups_probe_the_indexes() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&mut c).unwrap();
        let sql =
            format!("EXPLAIN QUERY PLAN SELECT id FROM users WHERE id IN ({BY_ADDRESS}) AND deleted = 0");
        let mut stmt = c.prepare(&sql).unwrap();
        let plan: Vec<String> =
            stmt.query_map(params!["o", "a@b.c"], |r| r.get(3)).unwrap().collect::<Result<_, _>>().unwrap();
        assert!(plan.iter().any(|p| p.contains("org_id=? AND email_key=?")), "{plan:?}");
        assert!(plan.iter().any(|p| p.contains("org_id=? AND user_name_key=?")), "{plan:?}");
        assert!(!plan.iter().any(|p| p.ends_with("(org_id=?)") || p.starts_with("SCAN")), "{plan:?}");
    }
}
