//! The end of a browser login, shared by SAML and OIDC: where to send the
//! user (only to idbridge's own origin or the connection's allow-list of
//! origins), the redirect that sets the session cookie, and the short page that
//! explains a refusal — as plain values; the HTTP responses are made at the edge
//! (`http::login_pages`).

use std::time::Duration;

use url::Url;

use super::{Issued, cookie};

/// Longest return address accepted.
const MAX_TARGET_LEN: usize = 2048;

fn origin_of(u: &Url) -> String {
    u.origin().ascii_serialization()
}

/// The address to send the user to after login: `requested` if it is an
/// absolute http(s) URL on idbridge's public origin or on one of `allowed`
/// origins, or a path on idbridge's own origin; otherwise `default`.
/// Never a `javascript:`/`data:` URL, a scheme-relative `//host`, or a URL
/// with credentials.
pub fn safe_target(public_url: &str, allowed: &[String], requested: Option<&str>, default: &str) -> String {
    let Some(req) = requested.map(str::trim).filter(|r| !r.is_empty()) else { return default.to_string() };
    if req.len() > MAX_TARGET_LEN || req.chars().any(|c| c.is_control() || c == '\\') {
        return default.to_string();
    }
    let Ok(base) = Url::parse(public_url) else { return default.to_string() };
    let candidate = if req.starts_with('/') {
        // A path on our own origin; "//host" and "/\host" are other hosts.
        if req.starts_with("//") {
            return default.to_string();
        }
        match base.join(req) {
            Ok(u) => u,
            Err(_) => return default.to_string(),
        }
    } else {
        match Url::parse(req) {
            Ok(u) => u,
            Err(_) => return default.to_string(),
        }
    };
    if !matches!(candidate.scheme(), "http" | "https")
        || !candidate.username().is_empty()
        || candidate.password().is_some()
    {
        return default.to_string();
    }
    let origin = origin_of(&candidate);
    let ok = origin == origin_of(&base)
        || allowed.iter().any(|a| Url::parse(a).map(|u| origin_of(&u) == origin).unwrap_or(false));
    if ok { candidate.to_string() } else { default.to_string() }
}

/// Where a completed login sends the browser and the session cookie it sets: the
/// parts of the 303 See Other the edge answers (`http::login_pages::login_success`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginRedirect {
    /// The `Location`: an address `safe_target` chose.
    pub location: String,
    /// The `Set-Cookie` value of the session cookie.
    pub set_cookie: String,
}

/// The redirect that ends a login with `issued` at `target`.
pub fn login_redirect(public_url: &str, lifetime: Duration, issued: &Issued, target: &str) -> LoginRedirect {
    LoginRedirect { location: target.to_string(), set_cookie: cookie(&issued.token, public_url, lifetime) }
}

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// The HTML of the short page that explains a refused login (`message` escaped; the
/// precise reason is in the log).
pub fn refusal_page(message: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign-in refused</title></head>\
         <body><h1>Sign-in refused</h1><p>{}</p><p>If you think this is wrong, contact your \
         administrator.</p></body></html>",
        escape(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUB: &str = "https://sso.example.com";
    const DEF: &str = "https://sso.example.com/v1/me";

    fn t(req: &str, allowed: &[&str]) -> String {
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        safe_target(PUB, &allowed, Some(req), DEF)
    }

    #[test]
    fn own_origin_and_allow_list_pass() {
        assert_eq!(t("https://sso.example.com/app?x=1", &[]), "https://sso.example.com/app?x=1");
        assert_eq!(t("/dashboard", &[]), "https://sso.example.com/dashboard");
        assert_eq!(
            t("https://app.example.com/home", &["https://app.example.com"]),
            "https://app.example.com/home"
        );
    }

    #[test]
    fn everything_else_falls_back() {
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,x",
            "//evil.com/x",
            "/\\evil.com",
            "https://evil.com/",
            "https://sso.example.com.evil.com/",
            "http://sso.example.com/",
            "https://user:pw@sso.example.com/",
            "https://app.example.com:8443/",
            "ftp://sso.example.com/",
            "not a url",
            "https://sso.example.com/\nSet-Cookie: x",
        ] {
            assert_eq!(t(bad, &["https://app.example.com"]), DEF, "{bad:?} accepted");
        }
        assert_eq!(safe_target(PUB, &[], None, DEF), DEF);
    }

    #[test]
    fn refusal_page_html_escapes() {
        let page = refusal_page("<script>");
        assert!(page.contains("&lt;script&gt;") && !page.contains("<script>"));
    }
}
