//! Cross-site request forgery defence for cookie-authenticated writes.
//! The session cookie is SameSite=Lax, which still lets another site's page
//! make the browser send some requests with it — and every request from a
//! sibling subdomain (same *site*). So a `/v1` write (POST, PUT, PATCH,
//! DELETE) authenticated by the cookie must also show it was made by
//! idbridge's own origin:
//!
//! - `Content-Type: application/json` (any parameters). A cross-origin page
//!   cannot send it without a CORS preflight, which idbridge never grants;
//!   forms and `text/plain` fetches can send only the three "simple" types.
//!   Required even for body-less writes (`POST /v1/logout`, DELETE): one rule.
//! - `Sec-Fetch-Site`, when the browser sends it (Fetch Metadata), is
//!   `same-origin` or `none` (typed by the user), never `same-site` or
//!   `cross-site`.
//! - `Origin`, when sent, is idbridge's public origin (`null` is not).
//!
//! Bearer-authenticated requests carry no ambient credential: unaffected.
//!
//! The check reads plain values (`WriteRequest`); the edge (`routes.rs`) takes them
//! from the request.

/// The parts of a write that the check reads, as the edge found them in the request
/// (header values as their raw bytes; `None`: the header is absent).
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteRequest<'a> {
    /// The method is safe (GET, HEAD, OPTIONS, TRACE): it changes nothing.
    pub safe_method: bool,
    pub content_type: Option<&'a [u8]>,
    pub sec_fetch_site: Option<&'a [u8]>,
    pub origin: Option<&'a [u8]>,
}

/// Why a cookie-authenticated write was refused.
#[derive(Debug, thiserror::Error)]
pub enum CsrfRefused {
    /// The write is not declared as JSON.
    #[error(
        "a write authenticated by the session cookie needs Content-Type: application/json (got {content_type:?})"
    )]
    NotJson { content_type: Option<String> },
    /// Fetch Metadata says the request was made by another origin.
    #[error(
        "a write authenticated by the session cookie must come from idbridge's own origin (Sec-Fetch-Site: {sec_fetch_site})"
    )]
    CrossSiteFetch { sec_fetch_site: String },
    /// The Origin header names another origin.
    #[error("a write authenticated by the session cookie must come from {expected} (Origin: {origin})")]
    ForeignOrigin { origin: String, expected: String },
}

/// Longest header value quoted back.
const MAX_QUOTED: usize = 200;

fn quoted(v: &[u8]) -> String {
    String::from_utf8_lossy(v).chars().filter(|c| !c.is_control()).take(MAX_QUOTED).collect()
}

/// A header value as text: only when every byte is visible ASCII or a tab (what an
/// HTTP header value may hold as text; anything else is not read as text).
fn text(v: &[u8]) -> Option<&str> {
    if v.iter().all(|&b| b == b'\t' || (32..127).contains(&b)) { std::str::from_utf8(v).ok() } else { None }
}

/// The origin (`scheme://host[:port]`, default port dropped) of a URL.
fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let o = u.origin();
    o.is_tuple().then(|| o.ascii_serialization())
}

/// Check a request that the session cookie authenticates. Safe methods
/// (GET, HEAD, OPTIONS, TRACE) change nothing and pass.
pub fn check(req: &WriteRequest<'_>, public_url: &str) -> Result<(), CsrfRefused> {
    if req.safe_method {
        return Ok(());
    }
    let content_type = req.content_type;
    let essence =
        content_type.and_then(text).and_then(|v| v.split(';').next()).map(|v| v.trim().to_ascii_lowercase());
    if essence.as_deref() != Some("application/json") {
        return Err(CsrfRefused::NotJson { content_type: content_type.map(quoted) });
    }
    if let Some(site) = req.sec_fetch_site {
        let site = quoted(site);
        if !matches!(site.as_str(), "same-origin" | "none") {
            return Err(CsrfRefused::CrossSiteFetch { sec_fetch_site: site });
        }
    }
    if let Some(origin) = req.origin {
        let expected = origin_of(public_url).unwrap_or_default();
        let got = text(origin).and_then(origin_of);
        if expected.is_empty() || got.as_deref() != Some(expected.as_str()) {
            return Err(CsrfRefused::ForeignOrigin { origin: quoted(origin), expected });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::routes::write_request;
    use axum::http::{HeaderMap, Method};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    const PUBLIC: &str = "https://sso.example.com/idbridge";

    #[test]
    fn json_from_own_origin_passes_everything_else_is_refused() {
        let post = Method::POST;
        let ok = |p: &[(&'static str, &str)]| check(&write_request(&post, &headers(p)), PUBLIC).is_ok();
        assert!(ok(&[("content-type", "application/json")]));
        assert!(ok(&[
            ("content-type", "application/json; charset=UTF-8"),
            ("origin", "https://sso.example.com")
        ]));
        assert!(ok(&[("content-type", "application/json"), ("origin", "https://sso.example.com:443")]));
        assert!(ok(&[("content-type", "application/json"), ("sec-fetch-site", "same-origin")]));
        assert!(!ok(&[]));
        assert!(!ok(&[("content-type", "text/plain")]));
        assert!(!ok(&[("content-type", "application/json"), ("origin", "https://evil.example.com")]));
        assert!(!ok(&[("content-type", "application/json"), ("origin", "http://sso.example.com")]));
        assert!(!ok(&[("content-type", "application/json"), ("origin", "null")]));
        assert!(!ok(&[("content-type", "application/json"), ("sec-fetch-site", "same-site")]));
        assert!(
            check(&write_request(&Method::GET, &headers(&[("origin", "https://evil.example.com")])), PUBLIC)
                .is_ok()
        );
        assert!(check(&write_request(&Method::DELETE, &headers(&[])), PUBLIC).is_err());
    }
}
