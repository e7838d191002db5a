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

use axum::http::{HeaderMap, Method, header};

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

fn quoted(v: &axum::http::HeaderValue) -> String {
    String::from_utf8_lossy(v.as_bytes()).chars().filter(|c| !c.is_control()).take(MAX_QUOTED).collect()
}

/// The origin (`scheme://host[:port]`, default port dropped) of a URL.
fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let o = u.origin();
    o.is_tuple().then(|| o.ascii_serialization())
}

/// Check a request that the session cookie authenticates. Safe methods
/// (GET, HEAD, OPTIONS, TRACE) change nothing and pass.
pub fn check(method: &Method, headers: &HeaderMap, public_url: &str) -> Result<(), CsrfRefused> {
    if method.is_safe() {
        return Ok(());
    }
    let content_type = headers.get(header::CONTENT_TYPE);
    let essence = content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if essence.as_deref() != Some("application/json") {
        return Err(CsrfRefused::NotJson { content_type: content_type.map(quoted) });
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = quoted(site);
        if !matches!(site.as_str(), "same-origin" | "none") {
            return Err(CsrfRefused::CrossSiteFetch { sec_fetch_site: site });
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let expected = origin_of(public_url).unwrap_or_default();
        let got = origin.to_str().ok().and_then(origin_of);
        if expected.is_empty() || got.as_deref() != Some(expected.as_str()) {
            return Err(CsrfRefused::ForeignOrigin { origin: quoted(origin), expected });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let ok = |p: &[(&'static str, &str)]| check(&post, &headers(p), PUBLIC).is_ok();
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
        assert!(check(&Method::GET, &headers(&[("origin", "https://evil.example.com")]), PUBLIC).is_ok());
        assert!(check(&Method::DELETE, &headers(&[]), PUBLIC).is_err());
    }
}
