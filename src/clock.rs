//! Wall-clock helpers: one timestamp format everywhere (RFC 3339, UTC, milliseconds).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Now, in UTC.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Format a time as stored and shown: `2026-11-26T19:00:00.123Z`.
pub fn format(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let ms = t.millisecond();
    let t = t.replace_nanosecond(ms as u32 * 1_000_000).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
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
    }
}
