//! ID token validation, step by step after OIDC Core 1.0 §3.1.3.7 (and
//! §3.1.3.8 for `at_hash`). `screen` checks the header and the claim types
//! first; openidconnect checks the signature against the discovered JWKS,
//! the audience, `exp` and the nonce; idbridge adds the issuer (with Entra
//! tenant templates), tenant pinning, `azp`, `iat`, `nbf`, `sub` and `at_hash`.

use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJwsSigningAlgorithm};
use openidconnect::{ClaimsVerificationError, ClientId, Nonce, SignatureVerificationError};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::discovery::Provider;
use super::screen::{self, MAX_LEN};

/// Signature algorithms accepted for ID tokens (secure default): asymmetric
/// only. Never `none`, and never HS*: an HMAC "signature" keyed with the
/// provider's public key is the classic forgery, and a client secret is not a
/// provider key either.
pub const ALLOWED_ALGS: &[CoreJwsSigningAlgorithm] = &[
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::EdDsa,
];
/// Clock skew tolerated between idbridge and the provider (secure default:
/// one minute, on `exp`, `iat` and `nbf`).
pub const LEEWAY: Duration = Duration::from_secs(60);
/// An ID token issued longer ago than this is refused: it was minted at the
/// code exchange a moment ago, and the login state lives 10 minutes.
pub const MAX_AGE: Duration = Duration::from_secs(600);

/// Why an ID token was refused.
#[derive(Debug, thiserror::Error)]
pub enum IdTokenError {
    #[error("{len} bytes, more than {MAX_LEN}")]
    TooLarge { len: usize },
    #[error("malformed: {message}")]
    Malformed { message: String },
    /// Encrypted (JWE) or otherwise unsupported structure.
    #[error("unsupported: {message}")]
    Unsupported { message: String },
    /// `alg` is not on the allow-list (`none`, HS*, unknown).
    #[error("algorithm {alg:?} is not allowed")]
    AlgNotAllowed { alg: String },
    /// The header offers a key (`jwk`) or a key location (`jku`, `x5u`, `x5c`).
    #[error("the header carries a key parameter {param:?}")]
    KeyInHeader { param: String },
    /// No key in the provider's JWKS has this `kid` (even after a re-fetch).
    #[error("no signing key {kid:?} in the provider's JWKS")]
    UnknownKey { kid: Option<String> },
    #[error("ambiguous key: {message}")]
    AmbiguousKey { message: String },
    #[error("bad signature: {message}")]
    BadSignature { message: String },
    /// Step 3: `aud` must contain the client id and nothing untrusted.
    #[error("audience: {message}")]
    Audience { message: String },
    /// Step 9.
    #[error("expired: {message}")]
    Expired { message: String },
    /// Step 11.
    #[error("nonce: {message}")]
    Nonce { message: String },
    /// Step 2.
    #[error("issuer {got:?}, expected {expected:?}")]
    Issuer { expected: String, got: String },
    /// Tenant pinning: `tid` missing or not among the configured tenant ids.
    #[error("tenant {tid:?} is not allowed")]
    TenantNotAllowed { tid: Option<String> },
    /// Steps 4-5.
    #[error("azp {got:?}, expected {expected:?}")]
    Azp { expected: String, got: Option<String> },
    /// Step 10.
    #[error("iat {iat} is in the future (now {now})")]
    IssuedInFuture { iat: i64, now: i64 },
    /// Step 10.
    #[error("iat {iat} is too long ago (now {now})")]
    IssuedTooLongAgo { iat: i64, now: i64 },
    #[error("nbf {nbf} is in the future (now {now})")]
    NotYetValid { nbf: i64, now: i64 },
    #[error("missing or invalid sub")]
    Subject,
    /// IPSIE SL1: the provider's session (`session_expiry`) has already ended.
    #[error("session_expiry {session_expiry} has passed (now {now})")]
    SessionExpired { session_expiry: i64, now: i64 },
    /// A claim OIDC Core defines is missing (when REQUIRED) or of the wrong JSON type.
    #[error("claim {name} {problem}")]
    Claim { name: &'static str, problem: String },
    /// §3.1.3.8: `at_hash` does not match the access token.
    #[error("at_hash does not match the access token")]
    AtHash,
    #[error("{message}")]
    Invalid { message: String },
}

impl IdTokenError {
    pub fn reason(&self) -> &'static str {
        match self {
            IdTokenError::TooLarge { .. } => "id_token_too_large",
            IdTokenError::Malformed { .. } => "id_token_malformed",
            IdTokenError::Unsupported { .. } => "id_token_unsupported",
            IdTokenError::AlgNotAllowed { .. } => "alg_not_allowed",
            IdTokenError::KeyInHeader { .. } => "untrusted_key_in_header",
            IdTokenError::UnknownKey { .. } => "unknown_key",
            IdTokenError::AmbiguousKey { .. } => "ambiguous_key",
            IdTokenError::BadSignature { .. } => "bad_signature",
            IdTokenError::Audience { .. } => "audience_mismatch",
            IdTokenError::Expired { .. } => "expired",
            IdTokenError::Nonce { .. } => "nonce_mismatch",
            IdTokenError::Issuer { .. } => "issuer_mismatch",
            IdTokenError::TenantNotAllowed { .. } => "tenant_not_allowed",
            IdTokenError::Azp { .. } => "azp_mismatch",
            IdTokenError::IssuedInFuture { .. } => "issued_in_future",
            IdTokenError::IssuedTooLongAgo { .. } => "issued_too_long_ago",
            IdTokenError::NotYetValid { .. } => "not_yet_valid",
            IdTokenError::Subject => "missing_subject",
            IdTokenError::SessionExpired { .. } => "idp_session_expired",
            IdTokenError::Claim { .. } => "id_token_claim_invalid",
            IdTokenError::AtHash => "at_hash_mismatch",
            IdTokenError::Invalid { .. } => "id_token_invalid",
        }
    }
}

/// What the token must match.
pub struct Expected<'a> {
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub tenant_ids: &'a [String],
    pub access_token: &'a str,
}

/// A validated ID token: all its claims, as sent.
#[derive(Debug, Clone)]
pub struct VerifiedIdToken {
    pub sub: String,
    pub claims: Map<String, Value>,
}

/// The JSON name of an algorithm (`RS256`).
pub fn alg_name(a: &CoreJwsSigningAlgorithm) -> String {
    serde_json::to_value(a).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

pub(super) fn int_claim(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    claims.get(name).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

/// Validate `token` against the provider's keys and `exp`ected values at
/// `now` (unix seconds).
pub fn verify(
    provider: &Provider,
    exp: &Expected<'_>,
    token: &str,
    now: i64,
) -> Result<VerifiedIdToken, IdTokenError> {
    // 1. (no JWE), 6. (keys only from the issuer), 7. (alg) and the claim
    // types: see screen.rs. The claims are read from exactly the bytes the
    // signature covers.
    let screen::Screened { header, claims } = screen::screen(token)?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or_default().to_string();
    let kid = header.get("kid").and_then(Value::as_str).map(String::from);

    let id_token =
        CoreIdToken::from_str(token).map_err(|e| IdTokenError::Malformed { message: e.to_string() })?;
    let skewed_now = chrono::DateTime::from_timestamp(now - LEEWAY.as_secs() as i64, 0).unwrap_or_default();
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(exp.client_id.to_string()),
        provider.metadata.issuer().clone(),
        provider.metadata.jwks().clone(),
    )
    // 2. is checked below against the issuer rule (Entra tenant templates).
    .require_issuer_match(false)
    // 6.-8. Signature with a JWKS key, algorithm on the allow-list; no
    // client secret is given, so no HMAC key exists at all.
    .set_allowed_algs(ALLOWED_ALGS.iter().cloned())
    // 9. The current time MUST be before the time represented by the exp
    //    Claim (with LEEWAY for clock skew).
    .set_time_fn(move || skewed_now)
    // 10. is checked below with both bounds.
    .set_issue_time_verifier_fn(|_| Ok(()));
    // 3. aud MUST contain client_id; tokens with untrusted extra audiences
    //    are rejected (openidconnect's default: no other audience trusted).
    // 11. nonce MUST be present and equal to the one sent.
    // 12.-13. acr and auth_time are checked only when requested (acr_values,
    //     max_age); idbridge requests neither, so the defaults (no check) apply.
    let nonce = Nonce::new(exp.nonce.to_string());
    id_token.claims(&verifier, &nonce).map_err(|e| map_verification_error(e, kid.clone()))?;

    let tid = claims.get("tid").and_then(Value::as_str).map(str::to_ascii_lowercase);
    // Tenant pinning (Entra): only the configured directories may log in.
    if !exp.tenant_ids.is_empty() && !tid.as_ref().is_some_and(|t| exp.tenant_ids.contains(t)) {
        return Err(IdTokenError::TenantNotAllowed { tid });
    }
    // 2. The Issuer Identifier for the OpenID Provider MUST exactly match
    //    the value of the iss (issuer) Claim.
    let got = claims.get("iss").and_then(Value::as_str).unwrap_or_default().to_string();
    let expected = provider.issuer.expected(tid.as_deref()).unwrap_or_default();
    if expected.is_empty() || got != expected {
        return Err(IdTokenError::Issuer { expected, got });
    }
    // 4. If the ID Token contains multiple audiences, the Client SHOULD
    //    verify that an azp Claim is present.
    // 5. If an azp (authorized party) Claim is present, the Client SHOULD
    //    verify that its client_id is the Claim Value.
    let azp = claims.get("azp").and_then(Value::as_str).map(String::from);
    let many_aud = claims.get("aud").and_then(Value::as_array).is_some_and(|a| a.len() > 1);
    if azp.as_deref().is_some_and(|a| a != exp.client_id) || (many_aud && azp.is_none()) {
        return Err(IdTokenError::Azp { expected: exp.client_id.to_string(), got: azp });
    }
    // 10. The iat Claim can be used to reject tokens that were issued too far
    //     away from the current time.
    let leeway = LEEWAY.as_secs() as i64;
    let iat = int_claim(&claims, "iat").ok_or(IdTokenError::Invalid { message: "no iat".into() })?;
    if iat > now + leeway {
        return Err(IdTokenError::IssuedInFuture { iat, now });
    }
    if iat < now - MAX_AGE.as_secs() as i64 - leeway {
        return Err(IdTokenError::IssuedTooLongAgo { iat, now });
    }
    if let Some(nbf) = int_claim(&claims, "nbf").filter(|nbf| *nbf > now + leeway) {
        return Err(IdTokenError::NotYetValid { nbf, now });
    }
    // IPSIE SL1: the RP's session must not outlive `session_expiry`, the
    // provider's own bound (a NumericDate); one already past signs nobody in.
    // (login::complete caps the session at it.)
    if let Some(session_expiry) = int_claim(&claims, "session_expiry").filter(|e| *e <= now) {
        return Err(IdTokenError::SessionExpired { session_expiry, now });
    }
    // sub: "A locally unique and never reassigned identifier ... It MUST NOT
    // exceed 255 ASCII characters in length."
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_string();
    if sub.is_empty() || sub.len() > 255 || sub.chars().any(char::is_control) {
        return Err(IdTokenError::Subject);
    }
    // 3.1.3.8: if at_hash is present, it must be the left half of the hash
    // of the access token, with the hash of the ID token's alg.
    let at_hash = claims.get("at_hash").and_then(Value::as_str);
    if at_hash.is_some_and(|h| !at_hash_matches(&alg, exp.access_token, h)) {
        return Err(IdTokenError::AtHash);
    }
    Ok(VerifiedIdToken { sub, claims })
}

fn map_verification_error(e: ClaimsVerificationError, kid: Option<String>) -> IdTokenError {
    use SignatureVerificationError as S;
    match e {
        ClaimsVerificationError::Expired(message) => IdTokenError::Expired { message },
        ClaimsVerificationError::InvalidAudience(message) => IdTokenError::Audience { message },
        ClaimsVerificationError::InvalidNonce(message) => IdTokenError::Nonce { message },
        ClaimsVerificationError::Unsupported(message) => IdTokenError::Unsupported { message },
        ClaimsVerificationError::SignatureVerification(S::NoMatchingKey) => IdTokenError::UnknownKey { kid },
        ClaimsVerificationError::SignatureVerification(S::AmbiguousKeyId(message)) => {
            IdTokenError::AmbiguousKey { message }
        }
        ClaimsVerificationError::SignatureVerification(S::DisallowedAlg(alg) | S::UnsupportedAlg(alg)) => {
            IdTokenError::AlgNotAllowed { alg }
        }
        ClaimsVerificationError::SignatureVerification(S::NoSignature) => {
            IdTokenError::AlgNotAllowed { alg: "none".into() }
        }
        ClaimsVerificationError::SignatureVerification(other) => {
            IdTokenError::BadSignature { message: other.to_string() }
        }
        other => IdTokenError::Invalid { message: other.to_string() },
    }
}

fn at_hash_matches(alg: &str, access_token: &str, at_hash: &str) -> bool {
    let digest: Vec<u8> = match alg {
        "RS256" | "PS256" | "ES256" => Sha256::digest(access_token).to_vec(),
        "RS384" | "PS384" | "ES384" => Sha384::digest(access_token).to_vec(),
        "RS512" | "PS512" | "ES512" | "EdDSA" => Sha512::digest(access_token).to_vec(),
        _ => return false,
    };
    let expected = URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2]);
    crate::secrets::ct_eq(expected.as_bytes(), at_hash.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_left_half_of_the_hash() {
        // OIDC Core A.3: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", RS256.
        assert!(at_hash_matches(
            "RS256",
            "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
            "77QmUPtjPfzWtF2AnpK9RQ"
        ));
        assert!(!at_hash_matches("RS256", "other", "77QmUPtjPfzWtF2AnpK9RQ"));
        assert!(!at_hash_matches(
            "HS256",
            "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
            "77QmUPtjPfzWtF2AnpK9RQ"
        ));
    }

    #[test]
    fn the_allow_list_has_no_none_or_hmac() {
        let names: Vec<String> = ALLOWED_ALGS.iter().map(alg_name).collect();
        assert!(names.contains(&"RS256".to_string()));
        for bad in ["none", "HS256", "HS384", "HS512"] {
            assert!(!names.contains(&bad.to_string()));
        }
    }
}
