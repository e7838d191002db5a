//! RFC 9865 cursors: the position a cursor-paged list resumes after, sealed
//! so that a client can neither read nor forge one.
//!
//! A cursor is the JSON of [`Cursor`] sealed by the server's [`SecretBox`]
//! (XChaCha20-Poly1305 under IDBRIDGE_SECRET_KEY, context `scim-cursor:v1`),
//! in URL-safe base64 without padding: only RFC 3986 unreserved characters,
//! as RFC 9865 §2 requires. It holds the org it was issued to, a hash of the
//! parameters that define the result set (endpoint, filter, sortBy,
//! sortOrder, attributes, excludedAttributes), the keyset position (the last
//! returned row's sort key and id), the direction, the `totalResults` of the
//! walk's first page, and an expiry. Nothing is stored server-side: a cursor
//! costs no memory, and a client opening many cannot exhaust anything
//! (RFC 9865 §5.3).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::query::ListParams;
use crate::secrets::SecretBox;
use crate::store::scim_query::After;

/// How long a cursor stays valid after the response that issued it
/// (`cursorTimeout` in /ServiceProviderConfig).
pub const CURSOR_TIMEOUT_SECS: i64 = 3600;

/// The associated data every cursor is sealed with: a sealed value of
/// another purpose (a private key, a client secret) never opens as a cursor.
const CONTEXT: &str = "scim-cursor:v1";

/// Longest cursor text read: hostile input is refused before it is decoded.
/// A cursor holds at most a 2 KiB sort key (limits::MAX_NAME_BYTES).
const MAX_CURSOR_CHARS: usize = 8 * 1024;

/// The one detail of every invalid cursor: RFC 9865 §5.2 asks for identical
/// messages whatever the reason (another org's cursor, a forged one), so a
/// client learns nothing of other orgs; the reason is logged.
const INVALID: &str = "invalid cursor: a cursor is valid only for the request that returned it (same endpoint, \
                       filter, sortBy, sortOrder, attributes and excludedAttributes, same organization); send an \
                       empty cursor for the first page";

/// Which way a cursor walks. Only forward cursors are issued
/// (`previousCursor` is optional in RFC 9865 and not offered).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    #[serde(rename = "n")]
    Next,
}

/// What a cursor carries (short names: it travels in every URL).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// The org it was issued to.
    #[serde(rename = "o")]
    pub org_id: String,
    /// [`query_hash`] of the request that issued it.
    #[serde(rename = "q")]
    pub query: String,
    /// The last row returned; None: before the first row (a `count=0` page).
    #[serde(rename = "p")]
    pub after: Option<After>,
    #[serde(rename = "d")]
    pub direction: Direction,
    /// `totalResults` as counted on the walk's first page: later pages
    /// report it instead of counting again (RFC 9865 §2 allows an estimate).
    #[serde(rename = "t")]
    pub total: i64,
    /// Unix seconds after which the cursor is refused (`expiredCursor`).
    #[serde(rename = "e")]
    pub expires: i64,
}

/// Why a cursor is refused (400, RFC 9865 §2.1 Table 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Not base64, too long, does not open under the server's key (forged,
    /// altered, another server's), or not a cursor's contents.
    #[error("{}", INVALID)]
    Malformed,
    /// Issued to another org.
    #[error("{}", INVALID)]
    OtherOrg,
    /// Issued for another endpoint, filter, sort or projection.
    #[error("{}", INVALID)]
    OtherQuery,
    /// Past its expiry.
    #[error(
        "cursor expired: a cursor is valid for {} seconds (cursorTimeout in /ServiceProviderConfig); \
         start again with an empty cursor",
        CURSOR_TIMEOUT_SECS
    )]
    Expired,
}

impl CursorError {
    /// The RFC 9865 `scimType`.
    pub fn scim_type(self) -> &'static str {
        match self {
            CursorError::Expired => "expiredCursor",
            _ => "invalidCursor",
        }
    }

    /// Why, for the log (never sent to the client).
    pub fn reason(self) -> &'static str {
        match self {
            CursorError::Malformed => "malformed, forged or altered",
            CursorError::OtherOrg => "issued to another organization",
            CursorError::OtherQuery => "issued for another endpoint, filter, sort or projection",
            CursorError::Expired => "expired",
        }
    }
}

/// A digest of what defines a cursor-paged result set and its pages: the
/// endpoint and the parameters RFC 9865 §2 requires to stay identical
/// between pages (`count` may change: a keyset page does not depend on it).
pub fn query_hash(endpoint: &str, p: &ListParams) -> String {
    // The parsed forms, not the raw text: whitespace or letter case in a
    // filter that parse the same do not invalidate a cursor.
    let text = format!(
        "{endpoint}\n{:?}\n{:?}\n{}\n{:?}\n{:?}",
        p.filter, p.sort_by, p.descending, p.attributes, p.excluded
    );
    let digest = Sha256::digest(text.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

impl Cursor {
    /// The cursor as sent to the client.
    pub fn seal(&self, sb: &SecretBox) -> String {
        // Serializing plain strings and integers cannot fail; an empty
        // cursor would only fail to open later.
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(sb.seal(CONTEXT, &json))
    }

    /// A cursor's contents, if the server sealed it (no binding checked).
    pub fn open(sb: &SecretBox, text: &str) -> Result<Cursor, CursorError> {
        if text.len() > MAX_CURSOR_CHARS {
            return Err(CursorError::Malformed);
        }
        let sealed = URL_SAFE_NO_PAD.decode(text).map_err(|_| CursorError::Malformed)?;
        let json = sb.open(CONTEXT, &sealed).map_err(|_| CursorError::Malformed)?;
        serde_json::from_slice(&json).map_err(|_| CursorError::Malformed)
    }

    /// The cursor a request of `org_id` with `query` ([`query_hash`]) sent,
    /// checked: sealed by this server, for this org and query, not expired.
    pub fn resume(
        sb: &SecretBox,
        text: &str,
        org_id: &str,
        query: &str,
        now: i64,
    ) -> Result<Cursor, CursorError> {
        let c = Cursor::open(sb, text)?;
        if c.org_id != org_id {
            return Err(CursorError::OtherOrg);
        }
        if c.query != query {
            return Err(CursorError::OtherQuery);
        }
        if now > c.expires {
            return Err(CursorError::Expired);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse_filter;

    fn sample() -> Cursor {
        Cursor {
            org_id: "org-1".into(),
            query: "q".into(),
            after: Some(After { key: Some("2026-12-02T20:00:00.000Z".into()), id: "u-1".into() }),
            direction: Direction::Next,
            total: 42,
            expires: 1_000,
        }
    }

    #[test]
    fn a_cursor_round_trips_and_is_url_safe() {
        let sb = SecretBox::from_key(&[5u8; 32]);
        let text = sample().seal(&sb);
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{text}");
        assert!(!text.contains("org-1") && !text.contains("u-1"), "opaque: {text}");
        assert_eq!(Cursor::open(&sb, &text), Ok(sample()));
        assert_eq!(Cursor::resume(&sb, &text, "org-1", "q", 999), Ok(sample()));
        // The expiry second itself is still valid.
        assert!(Cursor::resume(&sb, &text, "org-1", "q", 1_000).is_ok());
        let none = Cursor { after: None, ..sample() };
        assert_eq!(Cursor::open(&sb, &none.seal(&sb)), Ok(none));
    }

    #[test]
    fn forged_altered_foreign_and_expired_cursors_are_refused() {
        let sb = SecretBox::from_key(&[5u8; 32]);
        let text = sample().seal(&sb);
        let resume = |t: &str, org: &str, q: &str, now: i64| Cursor::resume(&sb, t, org, q, now);
        assert_eq!(resume(&text, "org-2", "q", 0), Err(CursorError::OtherOrg));
        assert_eq!(resume(&text, "org-1", "other", 0), Err(CursorError::OtherQuery));
        assert_eq!(resume(&text, "org-1", "q", 1_001), Err(CursorError::Expired));
        // Any changed character: the seal no longer opens.
        let mut bytes = text.clone().into_bytes();
        let mid = bytes.len() / 2;
        bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(bytes).unwrap();
        assert_eq!(resume(&altered, "org-1", "q", 0), Err(CursorError::Malformed));
        // Another server's key, garbage, an oversized value, an empty seal.
        let other = SecretBox::from_key(&[6u8; 32]);
        assert_eq!(Cursor::open(&other, &text), Err(CursorError::Malformed));
        for junk in ["", "not a cursor!", "AAAA", &"A".repeat(MAX_CURSOR_CHARS + 1)] {
            assert_eq!(Cursor::open(&sb, junk), Err(CursorError::Malformed), "{junk:.20}");
        }
        // A value sealed for another purpose never opens as a cursor.
        let key_blob = URL_SAFE_NO_PAD.encode(sb.seal("key:1", br#"{"o":"org-1"}"#));
        assert_eq!(Cursor::open(&sb, &key_blob), Err(CursorError::Malformed));
        // Sealed contents that are not a cursor's.
        let odd = URL_SAFE_NO_PAD.encode(sb.seal(CONTEXT, br#"{"o":"org-1","x":1}"#));
        assert_eq!(Cursor::open(&sb, &odd), Err(CursorError::Malformed));
        assert_eq!(CursorError::Expired.scim_type(), "expiredCursor");
        assert_eq!(CursorError::OtherOrg.scim_type(), "invalidCursor");
        // Every invalid cursor answers the same detail.
        assert_eq!(CursorError::OtherOrg.to_string(), CursorError::Malformed.to_string());
    }

    #[test]
    fn the_query_hash_binds_what_defines_the_result_set() {
        let base = ListParams { count: 10, ..Default::default() };
        let with = |f: &str| ListParams { filter: Some(parse_filter(f).unwrap()), ..Default::default() };
        let h = |p: &ListParams| query_hash("Users", p);
        assert_eq!(h(&base), h(&ListParams { count: 50, ..Default::default() }), "count may change");
        assert_ne!(h(&base), query_hash("Groups", &base));
        assert_ne!(h(&base), h(&ListParams { descending: true, ..Default::default() }));
        assert_eq!(h(&with(r#"userName sw "a""#)), h(&with(r#"userName  sw   "a""#)));
        assert_ne!(h(&with(r#"userName sw "a""#)), h(&with(r#"userName sw "b""#)));
    }
}
