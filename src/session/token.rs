//! Session tokens: compact JWS (EdDSA) with the claims below. The signature
//! and claims are checked here; whether the session is still live (not
//! revoked, not idle, user still a member) is checked against the store.

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use super::keys::KeyRing;

/// The `aud` of every idbridge session token.
pub const AUDIENCE: &str = "idbridge-session";
/// Clock skew tolerated on `exp`/`nbf` between idbridge instances and callers.
const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// The org slug the session belongs to.
    pub org: String,
}

/// Why a token was refused (each a 401).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    /// No key is available to sign (should not happen after start-up).
    #[error("no signing key")]
    NoSigningKey,
    /// Not a JWS of three parts, or a header that is not JSON.
    #[error("malformed session token: {reason}")]
    Malformed { reason: String },
    /// The header names an algorithm other than EdDSA (`none`, HS256, RS256 ...).
    #[error("session token algorithm {alg} is not accepted (only EdDSA)")]
    Algorithm { alg: String },
    /// The `kid` is not one of idbridge's live keys.
    #[error("session token signed by unknown key {kid:?}")]
    UnknownKey { kid: Option<String> },
    /// Signature, issuer, audience or lifetime check failed.
    #[error("session token rejected: {reason}")]
    Invalid { reason: String },
}

pub fn sign(ring: &KeyRing, claims: &Claims) -> Result<String, TokenError> {
    let (kid, key) = ring.signing.as_ref().ok_or(TokenError::NoSigningKey)?;
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.clone());
    jsonwebtoken::encode(&header, claims, key).map_err(|e| TokenError::Invalid { reason: e.to_string() })
}

/// The `kid` a token names, after checking its header's algorithm.
pub fn header_kid(token: &str) -> Result<Option<String>, TokenError> {
    if token.len() > 4096 || token.split('.').count() != 3 {
        return Err(TokenError::Malformed { reason: "not a compact JWS".into() });
    }
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed { reason: e.to_string() })?;
    // Only EdDSA: never `none`, never an HMAC keyed with a public key.
    if header.alg != Algorithm::EdDSA {
        return Err(TokenError::Algorithm { alg: format!("{:?}", header.alg) });
    }
    // Keys offered inside the token (jwk, jku, x5u, x5c) are never used.
    Ok(header.kid)
}

/// Verify signature (by the key its `kid` names), iss, aud, exp, nbf.
pub fn verify(ring: &KeyRing, issuer: &str, token: &str) -> Result<Claims, TokenError> {
    let kid = header_kid(token)?;
    let key = kid.as_ref().and_then(|k| ring.verifying.get(k)).ok_or(TokenError::UnknownKey { kid })?;
    let mut v = Validation::new(Algorithm::EdDSA);
    v.leeway = LEEWAY_SECS;
    v.validate_nbf = true;
    v.set_issuer(&[issuer]);
    v.set_audience(&[AUDIENCE]);
    v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Claims>(token, key, &v)
        .map(|d| d.claims)
        .map_err(|e| TokenError::Invalid { reason: e.to_string() })
}
