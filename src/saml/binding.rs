//! Browser binding of SP-initiated logins. `GET /saml/{id}/login` gives the
//! browser a cookie with 256 random bits, one per AuthnRequest, and stores
//! only its SHA-256 with the request ID; the ACS accepts an answer to that
//! request only from a browser that presents the cookie. An AuthnRequest
//! answered into another browser (login CSRF, session fixation: the attacker
//! starts a login, has the IdP answer it, and makes the victim's browser post
//! the answer) is refused, whether or not IdP-initiated login is allowed.

use sha2::{Digest, Sha256};

use crate::session::cookies::CookieHeaders;

/// The `Cookie` header values of a request, as text (read from the request at
/// the edge).
#[derive(Clone, Debug, Default)]
pub struct Cookies(pub Vec<String>);

impl CookieHeaders for Cookies {
    fn cookie_headers(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// How a binding cookie is named: one per request, so two tabs do not collide.
pub fn cookie_name(request_id: &str) -> String {
    format!("idbridge_saml_{}", &sha256_hex(request_id)[..16])
}

/// A fresh cookie value: 32 random bytes (`new_token` without a prefix).
pub fn new_value() -> crate::secrets::Secret {
    crate::secrets::new_token("")
}

/// SHA-256 (hex) of a value: what the store keeps.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The Set-Cookie value for the binding cookie of `request_id` (`max_age` 0
/// clears it), scoped to the ACS path `acs_path`.
///
/// Secure default: the IdP answers with a cross-site POST (SAML Bindings
/// 3.5), on which browsers send only `SameSite=None` cookies, and they accept
/// those only with `Secure` (also on http://localhost and 127.0.0.1, which
/// count as secure contexts). HttpOnly: no script reads it. The value is
/// useless elsewhere: it opens nothing, it only proves "the browser that asked".
pub fn set_cookie(request_id: &str, value: &str, acs_path: &str, max_age: i64) -> String {
    format!(
        "{}={value}; Path={acs_path}; HttpOnly; Secure; SameSite=None; Max-Age={max_age}",
        cookie_name(request_id)
    )
}

/// Whether the request's cookies hold the binding cookie of `request_id`
/// whose hash is `expected_sha256` (compared in constant time).
pub fn presented<H: CookieHeaders + ?Sized>(headers: &H, request_id: &str, expected_sha256: &str) -> bool {
    let name = cookie_name(request_id);
    crate::session::cookies::values(headers, &name)
        .any(|v| crate::secrets::ct_eq(sha256_hex(v).as_bytes(), expected_sha256.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn only_the_cookie_of_this_request_with_the_right_value_binds() {
        let (id, value) = ("_0123", "s3cret-value");
        let hash = sha256_hex(value);
        let mut h = HeaderMap::new();
        assert!(!presented(&h, id, &hash), "no cookie");
        h.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {}={value}", cookie_name(id))).unwrap(),
        );
        assert!(presented(&h, id, &hash));
        assert!(!presented(&h, "_other", &hash), "another request's cookie name");
        assert!(!presented(&h, id, &sha256_hex("other")), "another value");
        let c = set_cookie(id, value, "/saml/c1/acs", 600);
        assert!(c.contains("SameSite=None") && c.contains("Secure") && c.contains("HttpOnly"), "{c}");
        assert!(c.contains("Path=/saml/c1/acs"), "{c}");
    }
}
