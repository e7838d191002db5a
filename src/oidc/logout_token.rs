//! The checks of a back-channel Logout Token, after OpenID Connect
//! Back-Channel Logout 1.0 §2.4 (its claims) and §2.6 (its validation). The
//! JWS passes the same screening as an ID token (`screen::screen_jws`: size,
//! no JWE, `alg` exactly on the asymmetric allow-list, no key in the header);
//! the signature is checked against the provider's discovered JWKS only.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::JsonWebKey;
use openidconnect::core::CoreJwsSigningAlgorithm;
use serde_json::{Map, Value};

use super::discovery::Provider;
use super::screen;
use super::verify::{ALLOWED_ALGS, IdTokenError, LEEWAY, MAX_AGE, alg_name, int_claim};

/// §2.4: "events ... a JSON object that MUST contain the name
/// http://schemas.openid.net/event/backchannel-logout as a member name".
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Longest `sub`, `sid` and `jti` accepted (OIDC Core: `sub` "MUST NOT exceed
/// 255 ASCII characters"; the same bound for the others).
const MAX_ID_LEN: usize = 255;

/// Why a Logout Token was refused (every one is a 400 `invalid_request`).
#[derive(Debug, thiserror::Error)]
pub enum LogoutTokenError {
    /// Size, shape, JWE, `alg`, keys in the header: as for ID tokens.
    #[error(transparent)]
    Jws(#[from] IdTokenError),
    /// RFC 8725 §3.11 explicit typing: another kind of JWT (`typ`).
    #[error("typ {typ:?} is not logout+jwt")]
    Type { typ: String },
    /// §2.6 step 4: "Validate the iss ... Claims in the same way they are validated in ID Tokens."
    #[error("iss {got:?}, expected {expected:?}")]
    Issuer { expected: String, got: String },
    #[error("aud {got} does not name only this client {expected:?}")]
    Audience { expected: String, got: String },
    #[error("tenant {tid:?} is not allowed")]
    TenantNotAllowed { tid: Option<String> },
    #[error("no iat")]
    MissingIat,
    #[error("iat {iat} is in the future (now {now})")]
    IssuedInFuture { iat: i64, now: i64 },
    #[error("iat {iat} is more than {max}s ago (now {now})")]
    IssuedTooLongAgo { iat: i64, now: i64, max: u64 },
    #[error("exp {exp} has passed (now {now})")]
    Expired { exp: i64, now: i64 },
    /// §2.4: "jti REQUIRED."
    #[error("jti is missing or not a string of 1-255 characters")]
    Jti,
    /// §2.6 step 6.
    #[error("events: {problem}")]
    Event { problem: &'static str },
    /// §2.6 step 5: "Verify that the Logout Token contains a sub Claim, a sid Claim, or both."
    #[error("neither sub nor sid")]
    NoSubject,
    #[error("{name} is not a string of 1-255 characters")]
    BadIdentifier { name: &'static str },
    /// §2.6 step 7: "Verify that the Logout Token does not contain a nonce Claim."
    #[error("a nonce claim is present (an ID token, not a logout token)")]
    Nonce,
}

impl LogoutTokenError {
    /// The precise reason, logged and counted.
    pub fn reason(&self) -> &'static str {
        match self {
            LogoutTokenError::Jws(e) => e.reason(),
            LogoutTokenError::Type { .. } => "wrong_type",
            LogoutTokenError::Issuer { .. } => "issuer_mismatch",
            LogoutTokenError::Audience { .. } => "audience_mismatch",
            LogoutTokenError::TenantNotAllowed { .. } => "tenant_not_allowed",
            LogoutTokenError::MissingIat => "missing_iat",
            LogoutTokenError::IssuedInFuture { .. } => "issued_in_future",
            LogoutTokenError::IssuedTooLongAgo { .. } => "issued_too_long_ago",
            LogoutTokenError::Expired { .. } => "expired",
            LogoutTokenError::Jti => "missing_jti",
            LogoutTokenError::Event { .. } => "missing_logout_event",
            LogoutTokenError::NoSubject => "missing_sub_and_sid",
            LogoutTokenError::BadIdentifier { .. } => "bad_identifier",
            LogoutTokenError::Nonce => "nonce_present",
        }
    }
}

/// A verified Logout Token: whom it logs out, and its single-use id.
#[derive(Debug, Clone, PartialEq)]
pub struct LogoutToken {
    pub sub: Option<String>,
    pub sid: Option<String>,
    pub jti: String,
    pub iat: i64,
}

impl LogoutToken {
    /// Until when its `jti` must be remembered: past that, `iat` refuses it anyway.
    pub fn remember_until(&self) -> i64 {
        self.iat + (MAX_AGE + LEEWAY).as_secs() as i64 + 1
    }
}

/// Optional identifier claim: absent, or a non-empty short string.
fn identifier(claims: &Map<String, Value>, name: &'static str) -> Result<Option<String>, LogoutTokenError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s))
            if !s.is_empty() && s.len() <= MAX_ID_LEN && !s.chars().any(char::is_control) =>
        {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(LogoutTokenError::BadIdentifier { name }),
    }
}

/// §2.6 step 2: "Validate the Logout Token signature in the same way that an
/// ID Token signature is validated": a key of the provider's JWKS (by `kid`
/// when the header names one) of a type that fits the allowed `alg`.
fn check_signature(
    provider: &Provider,
    token: &str,
    header: &Map<String, Value>,
) -> Result<(), IdTokenError> {
    let alg_text = header.get("alg").and_then(Value::as_str).unwrap_or_default();
    let alg: &CoreJwsSigningAlgorithm = ALLOWED_ALGS
        .iter()
        .find(|a| alg_name(a) == alg_text)
        .ok_or_else(|| IdTokenError::AlgNotAllowed { alg: alg_text.chars().take(40).collect() })?;
    let kid = header.get("kid").and_then(Value::as_str);
    let (input, sig) =
        token.rsplit_once('.').ok_or(IdTokenError::Malformed { message: "no signature".into() })?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|e| IdTokenError::Malformed { message: format!("signature: {e}") })?;
    let keys: Vec<_> = provider
        .metadata
        .jwks()
        .keys()
        .iter()
        .filter(|k| kid.is_none() || k.key_id().map(|id| id.as_str()) == kid)
        .collect();
    if keys.is_empty() {
        return Err(IdTokenError::UnknownKey { kid: kid.map(String::from) });
    }
    let mut last = String::from("no key of a type that fits the alg");
    for key in keys {
        match key.verify_signature(alg, input.as_bytes(), &sig) {
            Ok(()) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(IdTokenError::BadSignature { message: last })
}

/// Validate `token` for the connection with `client_id` (and Entra
/// `tenant_ids`) at `now` (Unix seconds).
pub fn verify(
    provider: &Provider,
    client_id: &str,
    tenant_ids: &[String],
    token: &str,
    now: i64,
) -> Result<LogoutToken, LogoutTokenError> {
    // Step 1 (no JWE) and step 3: "Validate the alg (algorithm) Header
    // Parameter in the same way it is validated for ID Tokens. Like ID Tokens,
    // selection of the algorithm used is governed by the
    // id_token_signing_alg_values_supported Discovery parameter ... none MUST NOT be used."
    let screen::Screened { header, claims } = screen::screen_jws(token)?;
    // §2.4: "Logout Tokens SHOULD be explicitly typed by using a typ header
    // value of logout+jwt"; a JWT typed as something else (an access token,
    // a security event) is not one.
    if let Some(typ) = header.get("typ") {
        let t = typ.as_str().unwrap_or_default().to_ascii_lowercase();
        let t = t.strip_prefix("application/").unwrap_or(&t);
        if t != "logout+jwt" && t != "jwt" {
            return Err(LogoutTokenError::Type { typ: typ.to_string().chars().take(60).collect() });
        }
    }
    check_signature(provider, token, &header)?;

    // Step 4: iss, aud and iat "in the same way they are validated in ID Tokens".
    let tid = claims.get("tid").and_then(Value::as_str).map(str::to_ascii_lowercase);
    if !tenant_ids.is_empty() && !tid.as_ref().is_some_and(|t| tenant_ids.contains(t)) {
        return Err(LogoutTokenError::TenantNotAllowed { tid });
    }
    let got = claims.get("iss").and_then(Value::as_str).unwrap_or_default().to_string();
    let expected = provider.issuer.expected(tid.as_deref()).unwrap_or_default();
    if expected.is_empty() || got != expected {
        return Err(LogoutTokenError::Issuer { expected, got });
    }
    // OIDC Core 3.1.3.7 step 3: "The ID Token MUST be rejected if the ID
    // Token does not list the Client as a valid audience, or if it contains
    // additional audiences not trusted by the Client" (none are trusted).
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == client_id,
        Some(Value::Array(a)) => !a.is_empty() && a.iter().all(|v| v.as_str() == Some(client_id)),
        _ => false,
    };
    if !aud_ok {
        let got = claims.get("aud").map(Value::to_string).unwrap_or_else(|| "(none)".into());
        return Err(LogoutTokenError::Audience { expected: client_id.to_string(), got });
    }
    let leeway = LEEWAY.as_secs() as i64;
    let iat = int_claim(&claims, "iat").ok_or(LogoutTokenError::MissingIat)?;
    if iat > now + leeway {
        return Err(LogoutTokenError::IssuedInFuture { iat, now });
    }
    // A logout token is sent the moment the provider's session ends: one
    // older than MAX_AGE is refused (and so a jti need only be remembered that long).
    if iat < now - MAX_AGE.as_secs() as i64 - leeway {
        return Err(LogoutTokenError::IssuedTooLongAgo { iat, now, max: MAX_AGE.as_secs() });
    }
    // §2.4: "exp REQUIRED. Expiration time" — older providers leave it out,
    // so it is checked when present (iat bounds the token's age regardless).
    if let Some(exp) = int_claim(&claims, "exp").filter(|e| *e <= now - leeway) {
        return Err(LogoutTokenError::Expired { exp, now });
    }
    if claims.get("exp").is_some_and(|e| !e.is_number()) {
        return Err(LogoutTokenError::Expired { exp: 0, now });
    }
    // Step 6: "Verify that the Logout Token contains an events Claim whose
    // value is JSON object containing the member name
    // http://schemas.openid.net/event/backchannel-logout." §2.4: "The
    // corresponding member value MUST be a JSON object".
    let event = claims.get("events").and_then(Value::as_object).and_then(|e| e.get(BACKCHANNEL_EVENT));
    match event {
        None => return Err(LogoutTokenError::Event { problem: "no back-channel logout event" }),
        Some(v) if !v.is_object() => {
            return Err(LogoutTokenError::Event { problem: "the event's value is not a JSON object" });
        }
        Some(_) => {}
    }
    // Step 7: "Verify that the Logout Token does not contain a nonce Claim."
    if claims.contains_key("nonce") {
        return Err(LogoutTokenError::Nonce);
    }
    // §2.4: "jti REQUIRED. Unique identifier for the token".
    let jti = identifier(&claims, "jti").map_err(|_| LogoutTokenError::Jti)?.ok_or(LogoutTokenError::Jti)?;
    // Step 5: "Verify that the Logout Token contains a sub Claim, a sid Claim, or both."
    let (sub, sid) = (identifier(&claims, "sub")?, identifier(&claims, "sid")?);
    if sub.is_none() && sid.is_none() {
        return Err(LogoutTokenError::NoSubject);
    }
    Ok(LogoutToken { sub, sid, jti, iat })
}
