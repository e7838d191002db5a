//! Plain data shared by every layer: the records the store returns and the surfaces
//! render, roles and grant sources, user origins, the caller behind a session, what an IdP
//! asserted at a sign-in. Depends on nothing else in the crate,
//! so the store, the directory and access can all use it without a cycle.

mod caller;
mod ids;
mod kind;
mod login;
mod origin;
mod records;
mod role;

pub use caller::SessionContext;
pub use ids::{ConnectionId, OrgId, ProjectId, UserId, random_id};
pub use kind::{ConnectionKind, UnknownConnectionKind};
pub use login::{IdpSession, LoginFacts, MatchBy};
pub use origin::{Origin, UnknownOrigin};
pub use records::*;
pub use role::{Role, UnknownRole, ValidationIssue};

/// Whether a JSON text holds a U+0000 (it can only be the escape `\u0000`:
/// a raw control character is not valid JSON). Refused in every body: neither
/// engine's text handles it alike (PostgreSQL refuses it in TEXT and jsonb),
/// and no identity attribute legitimately holds one.
pub fn json_has_nul(bytes: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\\' {
            backslashes += 1;
            continue;
        }
        if b == b'u' && backslashes % 2 == 1 && bytes.get(i + 1..i + 5) == Some(b"0000") {
            return true;
        }
        backslashes = 0;
    }
    false
}

#[cfg(test)]
mod nul_tests {
    use super::json_has_nul;

    #[test]
    fn only_an_escaped_nul_counts() {
        assert!(json_has_nul(br#"{"a":"x\u0000y"}"#));
        assert!(json_has_nul(br#"{"\u0000":1}"#));
        assert!(json_has_nul(br#"["\\\u0000"]"#), "an escaped backslash, then the NUL escape");
        assert!(!json_has_nul(br#"{"a":"\\u0000"}"#), "a literal backslash followed by u0000");
        assert!(!json_has_nul(br#"{"a":"\u0001 u0000"}"#));
        assert!(!json_has_nul(b"{}"));
    }
}
