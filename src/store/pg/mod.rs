//! PostgreSQL, the second storage engine (in progress): for now only the
//! connection and the migrations (`idbridge migrate --db postgres://…`); the
//! server still stores in SQLite. Driver: the synchronous `postgres` crate —
//! it runs its own small runtime, so call it only from blocking or dedicated
//! threads, never from async code (as the SQLite writer and readers do).
//! No TLS yet (`NoTls`): reach the server over a trusted network or a socket.

pub(crate) mod conn;
pub mod leader;
pub mod migrate;

use postgres::{Client, NoTls};

use super::StoreError;

/// The URL with its password (in the user info or a `password=` query
/// parameter) replaced by `***`: the form every message and log line shows.
pub fn redacted(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    format!("{scheme}{authority}{}", redact_query(tail))
}

/// `…?user=a&password=b` → `…?user=a&password=***`.
fn redact_query(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_string();
    };
    let params: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => p.to_string(),
        })
        .collect();
    format!("{path}?{}", params.join("&"))
}

/// The driver's error with its causes ("db error: ERROR: relation … exists"):
/// its own Display names only the kind.
pub(crate) fn describe(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// A store-setup error about the database at `url`, naming it without its password.
fn setup_error(url: &str, what: &str, e: &postgres::Error) -> StoreError {
    StoreError::Setup(format!("{}: {what}: {}", redacted(url), describe(e)))
}

/// Open one connection to `url` (blocking).
pub fn connect(url: &str) -> Result<Client, StoreError> {
    Client::connect(url, NoTls).map_err(|e| setup_error(url, "connecting", &e))
}

/// Apply the PostgreSQL migrations to the database at `url` (for `idbridge
/// migrate`); returns the versions applied. Blocking: call off async code.
pub fn migrate_url(url: &str) -> Result<Vec<u32>, StoreError> {
    let mut client = connect(url)?;
    migrate::apply(&mut client).map_err(|e| match e {
        StoreError::Setup(m) => StoreError::Setup(format!("{}: {m}", redacted(url))),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_hides_the_password_only() {
        assert_eq!(
            redacted("postgres://app:s3cret@db.internal:5432/idb"),
            "postgres://app:***@db.internal:5432/idb"
        );
        assert_eq!(redacted("postgresql://app@db/idb"), "postgresql://app@db/idb");
        assert_eq!(redacted("postgres://db/idb?sslmode=disable"), "postgres://db/idb?sslmode=disable");
        assert_eq!(
            redacted("postgres://a:p@x:1/d?user=a&password=p2&application_name=i"),
            "postgres://a:***@x:1/d?user=a&password=***&application_name=i"
        );
        assert_eq!(redacted("postgres://a:p%40ss@h"), "postgres://a:***@h");
        assert_eq!(redacted("postgres://a:p@ss@h/d"), "postgres://a:***@h/d", "last @ ends the user info");
        assert!(!redacted("postgres://u:hunter2@h:5/d").contains("hunter2"));
    }
}
