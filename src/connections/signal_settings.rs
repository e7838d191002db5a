//! The signal settings of a login connection (Universal Logout, Shared
//! Signals push and poll): checking them at save time, and sealing the
//! write-only RFC 8936 poll token. They sit with
//! the connection registry, below the protocols, so that the SAML and OIDC
//! admin code and the signal endpoints share them without calling each other.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::LoginSettings;
use super::body::{Patch, PollToken};
use crate::error::Error;
use crate::secrets::{Secret, SecretBox, SecretError};

/// Longest issuer, audience or JWKS URL accepted.
const MAX_SIGNAL_LEN: usize = 1024;

/// The write-only poll token field of an admin body (sealed, never shown).
pub const POLL_TOKEN_FIELD: &str = "ssf_poll_token";

/// The secret-box context of a connection's sealed poll token (distinct from
/// its `secret` part's, so one ciphertext cannot stand in for the other).
pub fn poll_token_context(id: &str) -> String {
    format!("connection:{id}:ssf_poll_token")
}

impl LoginSettings {
    /// Seal the `ssf_poll_token` of an admin body (`null` clears it).
    pub fn apply_poll_token(&mut self, sb: &SecretBox, id: &str, token: &Patch<PollToken>) {
        match token {
            Patch::Absent => {}
            Patch::Null => self.ssf_poll_token_sealed = None,
            Patch::Value(t) => {
                let sealed = sb.seal(&poll_token_context(id), t.expose().as_bytes());
                self.ssf_poll_token_sealed = Some(STANDARD.encode(sealed));
            }
        }
    }

    /// The poll token, opened; `None` when none is stored.
    pub fn poll_token(&self, sb: &SecretBox, id: &str) -> Result<Option<Secret>, SecretError> {
        let Some(b64) = &self.ssf_poll_token_sealed else { return Ok(None) };
        let ctx = poll_token_context(id);
        let sealed = STANDARD.decode(b64).map_err(|_| SecretError::Decrypt { context: ctx.clone() })?;
        let plain = sb.open(&ctx, &sealed)?;
        String::from_utf8(plain)
            .map(|t| Some(Secret::new(t)))
            .map_err(|_| SecretError::Decrypt { context: ctx })
    }
}

impl LoginSettings {
    /// Check the signal settings at save time: issuers and audience are
    /// printable without spaces; JWKS URLs are https (or loopback http) and
    /// within the operator's outbound policy (else 422 naming the reason, not
    /// a failure at the first signal). `ssf_issuer` and `ssf_jwks_uri` go
    /// together: a SET is verified by both or not accepted.
    pub fn validate_signals(&self, policy: crate::outbound::Policy) -> Result<(), Error> {
        let texts = [
            ("ssf_issuer", &self.ssf_issuer),
            ("ssf_audience", &self.ssf_audience),
            ("logout_issuer", &self.logout_issuer),
        ];
        for (name, v) in texts {
            if let Some(v) = v {
                if v.is_empty() || v.len() > MAX_SIGNAL_LEN || v.chars().any(|c| c.is_control() || c == ' ') {
                    return Err(Error::invalid(
                        name,
                        format!("must be 1-{MAX_SIGNAL_LEN} printable characters without spaces"),
                    ));
                }
            }
        }
        let urls = [
            ("ssf_jwks_uri", &self.ssf_jwks_uri),
            ("ssf_poll_url", &self.ssf_poll_url),
            ("logout_jwks_uri", &self.logout_jwks_uri),
        ];
        for (name, v) in urls {
            if let Some(v) = v {
                if v.len() > MAX_SIGNAL_LEN {
                    return Err(Error::invalid(name, format!("at most {MAX_SIGNAL_LEN} characters")));
                }
                crate::outbound::fetch::endpoint_allowed(v).map_err(|m| Error::invalid(name, m))?;
                crate::outbound::check_url(v, policy)
                    .map_err(|e| Error::invalid(name, format!("refused: {e}")))?;
            }
        }
        if self.ssf_issuer.is_some() != self.ssf_jwks_uri.is_some() {
            return Err(Error::invalid(
                if self.ssf_issuer.is_some() { "ssf_jwks_uri" } else { "ssf_issuer" },
                "ssf_issuer and ssf_jwks_uri are set together (a SET is verified with both)",
            ));
        }
        // Poll mode verifies polled SETs exactly as pushed ones: it needs the
        // issuer and JWKS, and a token to authenticate to the transmitter.
        if self.ssf_poll_url.is_some() {
            if self.ssf_issuer.is_none() {
                return Err(Error::invalid("ssf_poll_url", "needs ssf_issuer and ssf_jwks_uri"));
            }
            if self.ssf_poll_token_sealed.is_none() {
                return Err(Error::invalid(POLL_TOKEN_FIELD, "required with ssf_poll_url (RFC 8936 bearer)"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_poll_token_is_sealed_per_connection() {
        let sb = SecretBox::from_key(&[7; 32]);
        let mut s = LoginSettings::default();
        let token: PollToken = serde_json::from_value(json!("tok-1")).unwrap();
        s.apply_poll_token(&sb, "c1", &Patch::Value(token));
        let sealed = s.ssf_poll_token_sealed.clone().unwrap();
        assert!(!sealed.contains("tok-1"));
        assert_eq!(s.poll_token(&sb, "c1").unwrap().unwrap().expose(), "tok-1");
        assert!(s.poll_token(&sb, "c2").is_err(), "bound to its connection");
        s.apply_poll_token(&sb, "c1", &Patch::Absent);
        assert!(s.poll_token(&sb, "c1").unwrap().is_some(), "absent keeps it");
        s.apply_poll_token(&sb, "c1", &Patch::Null);
        assert!(s.poll_token(&sb, "c1").unwrap().is_none());
    }
}
