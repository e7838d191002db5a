//! Reading cookies from a request, for every browser flow (the session cookie,
//! the SAML and OIDC login-binding cookies): one parser for `Cookie` headers.

use axum::http::{HeaderMap, header};

/// Every value of cookie `name` in the request's `Cookie` headers, in order
/// (a browser may send several cookies of one name for different paths).
pub fn values<'h>(headers: &'h HeaderMap, name: &'h str) -> impl Iterator<Item = &'h str> + 'h {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The first value of cookie `name`.
pub fn first<'h>(headers: &'h HeaderMap, name: &'h str) -> Option<&'h str> {
    values(headers, name).next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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
