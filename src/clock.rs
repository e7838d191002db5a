//! Wall-clock helpers: one timestamp format everywhere (RFC 3339, UTC, milliseconds).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Now, in UTC.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Format a time as stored and shown: `2026-11-26T19:00:00.123Z`, always
/// three digits of milliseconds. Stored times are compared and sorted as text
/// (list order by creation, expiry checks), which is only time order at a
/// fixed width: RFC 3339 as `time` writes it trims trailing zeros, and
/// `…:00.1Z` sorted after `…:00.123Z`, `…:00Z` after both.
pub fn format(t: OffsetDateTime) -> String {
    const STORED: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(STORED).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// `format(now())`.
pub fn now_str() -> String {
    format(now())
}

/// Parse a stored timestamp.
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_millis_and_parses_back() {
        let t = time::macros::datetime!(2026-11-26 19:00:00.123456 UTC);
        let s = format(t);
        assert_eq!(s, "2026-11-26T19:00:00.123Z");
        assert_eq!(parse(&s).map(|p| p.unix_timestamp()), Some(t.unix_timestamp()));
        // Fixed width, so text order is time order.
        let a = format(time::macros::datetime!(2026-11-26 19:00:00 UTC));
        let b = format(time::macros::datetime!(2026-11-26 19:00:00.1 UTC));
        let c = format(time::macros::datetime!(2026-11-26 19:00:00.123 UTC));
        assert_eq!(
            (a.as_str(), b.as_str(), c.as_str()),
            ("2026-11-26T19:00:00.000Z", "2026-11-26T19:00:00.100Z", "2026-11-26T19:00:00.123Z")
        );
        assert!(a < b && b < c);
        assert!(parse(&a).is_some() && parse("2026-11-26T19:00:00Z").is_some());
    }
}
