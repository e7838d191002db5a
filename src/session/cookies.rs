//! Reading cookies from a request, for every browser flow (the session cookie,
//! the SAML and OIDC login-binding cookies): one parser for `Cookie` headers.
//! The parser sees the header values as text (`CookieHeaders`); how they are
//! read from an HTTP request is the edge's part (`routes.rs` implements it for
//! the request's header map).

/// The `Cookie` header values of a request, in order; values that are not
/// visible ASCII text are left out.
pub trait CookieHeaders {
    fn cookie_headers(&self) -> impl Iterator<Item = &str>;
}

/// Every value of cookie `name` in the request's `Cookie` headers, in order
/// (a browser may send several cookies of one name for different paths).
pub fn values<'h, H: CookieHeaders + ?Sized>(
    headers: &'h H,
    name: &'h str,
) -> impl Iterator<Item = &'h str> + 'h {
    headers
        .cookie_headers()
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The first value of cookie `name`.
pub fn first<'h, H: CookieHeaders + ?Sized>(headers: &'h H, name: &'h str) -> Option<&'h str> {
    values(headers, name).next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue, header};

    #[test]
    fn cookies_are_found_by_exact_name_across_headers() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; idbridge_session=tok; b=2"));
        h.append(header::COOKIE, HeaderValue::from_static("idbridge_session=second"));
        assert_eq!(values(&h, "idbridge_session").collect::<Vec<_>>(), ["tok", "second"]);
        assert_eq!(first(&h, "b"), Some("2"));
        assert_eq!(first(&h, "idbridge"), None, "no prefix match");
        assert_eq!(first(&h, "c"), None);
    }
}
