//! SQL functions registered on every connection. `scim_str_cmp` gives SQL the
//! string semantics of SCIM filters (RFC 7644 §3.4.2.2), so that a filter over
//! the stored JSON compiled to SQL (src/store/scim_sql.rs) answers exactly
//! what the in-memory evaluator (src/scim/filter/eval.rs) answers: Unicode
//! lower-casing unless the attribute is caseExact (RFC 7643 §2.2) — SQLite's
//! own `lower()` folds ASCII only — and code-point order for gt/ge/lt/le.

use std::borrow::Cow;

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;

/// `scim_str_cmp(op, actual, wanted, case_exact)`: 1 when `actual op wanted`,
/// 0 otherwise (also when `actual` or `wanted` is not text, or `op` unknown).
/// `op` is a SCIM operator keyword: eq ne co sw ew gt ge lt le.
pub fn scim_str_cmp(op: &str, actual: &str, wanted: &str, case_exact: bool) -> bool {
    let (a, w): (Cow<'_, str>, Cow<'_, str>) = if case_exact {
        (Cow::Borrowed(actual), Cow::Borrowed(wanted))
    } else {
        (Cow::Owned(actual.to_lowercase()), Cow::Owned(wanted.to_lowercase()))
    };
    match op {
        "eq" => a == w,
        "ne" => a != w,
        "co" => a.contains(w.as_ref()),
        "sw" => a.starts_with(w.as_ref()),
        "ew" => a.ends_with(w.as_ref()),
        "gt" => a > w,
        "ge" => a >= w,
        "lt" => a < w,
        "le" => a <= w,
        _ => false,
    }
}

fn text<'a>(v: ValueRef<'a>) -> Option<&'a str> {
    match v {
        ValueRef::Text(t) => std::str::from_utf8(t).ok(),
        _ => None,
    }
}

/// Register the functions on `conn` (called by the store for every connection).
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags =
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("scim_str_cmp", 4, flags, |ctx| {
        let (Some(op), Some(actual), Some(wanted)) =
            (text(ctx.get_raw(0)), text(ctx.get_raw(1)), text(ctx.get_raw(2)))
        else {
            return Ok(false);
        };
        let exact = matches!(ctx.get_raw(3), ValueRef::Integer(n) if n != 0);
        Ok(scim_str_cmp(op, actual, wanted, exact))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_unicode_unless_case_exact() {
        let c = Connection::open_in_memory().unwrap();
        register(&c).unwrap();
        let q = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(q("SELECT scim_str_cmp('eq', 'ÉMILE', 'émile', 0)"), 1);
        assert_eq!(q("SELECT scim_str_cmp('eq', 'ÉMILE', 'émile', 1)"), 0);
        assert_eq!(q("SELECT scim_str_cmp('co', 'abc', '', 0)"), 1);
        assert_eq!(q("SELECT scim_str_cmp('sw', 'Abc', 'a', 0)"), 1);
        assert_eq!(q("SELECT scim_str_cmp('ew', 'Abc', 'BC', 1)"), 0);
        assert_eq!(q("SELECT scim_str_cmp('lt', 'a', 'B', 0)"), 1);
        assert_eq!(q("SELECT scim_str_cmp('eq', 1, '1', 0)"), 0, "numbers are not strings");
        assert_eq!(q("SELECT scim_str_cmp('xx', 'a', 'a', 0)"), 0);
    }
}
