//! Newtypes validated at the edge so an invalid value cannot travel inward.

use std::fmt;

/// Why a name was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    /// A slug must be 1–63 characters of `a-z`, `0-9` and `-`.
    #[error("invalid {field} {value:?}: use 1-63 characters a-z, 0-9 and '-'")]
    Slug { field: &'static str, value: String },
    /// An email must look like local@domain.
    #[error("invalid email {value:?}")]
    Email { value: String },
    /// A display name must be 1-200 characters without control characters.
    #[error("invalid {field}: must be 1-200 characters without control characters")]
    Text { field: &'static str },
}

/// `[a-z0-9-]{1,63}`: org and project slugs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    pub fn parse(field: &'static str, s: &str) -> Result<Slug, NameError> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Slug(s.to_string()))
        } else {
            Err(NameError::Slug { field, value: s.chars().take(80).collect() })
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Slug {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, trimmed; compared case-insensitively through `key()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Email, NameError> {
        let s = s.trim();
        let bad = || NameError::Email { value: s.chars().take(80).collect() };
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty() && local.len() <= 64 && !local.contains('@');
        let dotted = domain.contains('.') || domain == "localhost";
        let domain_ok = dotted && !domain.starts_with('.') && !domain.ends_with('.');
        if !local_ok || !domain_ok {
            return Err(bad());
        }
        Ok(Email(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The comparison key: lowercased.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A human-readable name: 1–200 characters, no control characters.
pub fn display_text(field: &'static str, s: &str) -> Result<String, NameError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > 200 || t.chars().any(char::is_control) {
        return Err(NameError::Text { field });
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(Slug::parse("slug", "acme-1").is_ok());
        assert!(Slug::parse("slug", &"a".repeat(63)).is_ok());
        for bad in ["", "Acme", "a_b", "a b", "é", &"a".repeat(64), "a/b", "../x"] {
            assert!(Slug::parse("slug", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(Email::parse(" Ann@Example.com ").map(|e| e.key()), Ok("ann@example.com".into()));
        for bad in ["", "ann", "@x.com", "ann@", "a b@x.com", "ann@x", "ann@.x.com", "a@b@c.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn texts() {
        assert_eq!(display_text("name", "  Acme Inc "), Ok("Acme Inc".into()));
        assert!(display_text("name", "").is_err());
        assert!(display_text("name", "a\u{0}b").is_err());
        assert!(display_text("name", &"x".repeat(201)).is_err());
    }
}
