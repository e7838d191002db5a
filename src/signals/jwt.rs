//! A JWT verifier for tokens an IdP signs with keys published at a JWKS URL
//! (Universal Logout bearers, Security Event Tokens). RFC 7515/7519 checks,
//! strictest first, before any claim is believed:
//!
//! - compact JWS only, at most `MAX_TOKEN_LEN` bytes;
//! - `alg` compared case-sensitively against an allow-list of asymmetric
//!   algorithms (RS*, PS*, ES256/384, EdDSA): never `none` (RFC 7518 3.6, an
//!   unsigned token) nor HS* (an HMAC "keyed" with a public key anyone can read);
//! - keys offered by the token itself (`jwk`, `jku`, `x5u`, `x5c`) are
//!   refused: a key is taken only from the configured JWKS, by `kid`;
//! - `crit` is refused (RFC 7515 4.1.11: "If any of the listed extension
//!   Header Parameters are not understood ... then the JWS is invalid");
//! - the JWKS is fetched through the outbound guard, cached for an hour, and
//!   re-fetched at most once a minute per URL for an unknown `kid` (rotation),
//!   so made-up key ids cannot make idbridge a request amplifier;
//! - `iss` exact, `aud` (string or array) naming an expected audience,
//!   `exp`/`nbf`/`iat` with `SKEW_SECS` of clock skew.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::outbound::fetch::{HttpClient, MAX_BODY};

/// Largest token accepted.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Clock difference allowed with the IdP (ordinary NTP drift).
pub const SKEW_SECS: i64 = 60;
const REFRESH_AFTER: Duration = Duration::from_secs(3600);
/// A failed refresh keeps the cached keys this long (an IdP outage must not
/// make idbridge deaf to its signals at once).
const MAX_STALE: Duration = Duration::from_secs(24 * 3600);
const FORCED_REFRESH_EVERY: Duration = Duration::from_secs(60);

/// The algorithms accepted, by their exact `alg` names.
const ALLOWED: [(&str, Algorithm); 9] = [
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];
/// Header parameters that carry or point to a key: never used.
const EMBEDDED_KEY_PARAMS: [&str; 4] = ["jwk", "jku", "x5u", "x5c"];

/// Why a token was refused (each with its evidence).
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("not a compact JWS: {reason}")]
    Malformed { reason: String },
    #[error("alg {alg:?} is not accepted (RS256/384/512, PS256/384/512, ES256/384, EdDSA only)")]
    Algorithm { alg: String },
    #[error("header parameter {name:?} is refused: keys come only from the configured JWKS")]
    EmbeddedKey { name: String },
    #[error("critical header parameters are not understood (RFC 7515 4.1.11)")]
    Critical,
    #[error("typ {typ:?} is not {expected}")]
    Type { typ: String, expected: &'static str },
    #[error("no key {kid:?} for {alg} in the JWKS {url}")]
    UnknownKey { kid: Option<String>, alg: String, url: String },
    #[error("JWKS {url} unavailable: {message}")]
    Keys { url: String, message: String },
    #[error("signature does not verify with key {kid:?}: {message}")]
    Signature { kid: Option<String>, message: String },
    #[error("iss {got:?} is not the expected {expected:?}")]
    Issuer { got: Option<String>, expected: String },
    #[error("aud {got} does not name {expected:?}")]
    Audience { got: String, expected: Vec<String> },
    #[error("expired at {exp} (now {now}, {SKEW_SECS} s of skew allowed)")]
    Expired { exp: i64, now: i64 },
    #[error("not valid before {nbf} (now {now})")]
    NotYetValid { nbf: i64, now: i64 },
    #[error("issued in the future (iat {iat}, now {now})")]
    IssuedInFuture { iat: i64, now: i64 },
    #[error("too old: iat {iat}, now {now}, at most {max} s accepted")]
    TooOld { iat: i64, now: i64, max: i64 },
    #[error("claim {name:?} missing or of the wrong type")]
    Claim { name: &'static str },
}

impl JwtError {
    /// A short code for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            JwtError::Malformed { .. } => "malformed",
            JwtError::Algorithm { .. } => "alg",
            JwtError::EmbeddedKey { .. } => "embedded_key",
            JwtError::Critical => "crit",
            JwtError::Type { .. } => "typ",
            JwtError::UnknownKey { .. } => "unknown_key",
            JwtError::Keys { .. } => "jwks_unavailable",
            JwtError::Signature { .. } => "signature",
            JwtError::Issuer { .. } => "iss",
            JwtError::Audience { .. } => "aud",
            JwtError::Expired { .. } => "expired",
            JwtError::NotYetValid { .. } => "nbf",
            JwtError::IssuedInFuture { .. } => "iat_future",
            JwtError::TooOld { .. } => "too_old",
            JwtError::Claim { .. } => "claim",
        }
    }
}

/// Which `typ` header a token may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Typ {
    /// Anything (Universal Logout bearers: the audience is this endpoint).
    Any,
    /// A SET: `secevent+jwt` (RFC 8417 2.3 explicit typing) or absent (older
    /// transmitters); any other type (`JWT`, `at+jwt`, `logout+jwt`) is
    /// another kind of token and refused.
    Set,
}

/// What a token must say.
pub struct Expect<'a> {
    pub issuer: &'a str,
    /// The token's `aud` must name one of these.
    pub audiences: &'a [String],
    pub typ: Typ,
    pub require_exp: bool,
    /// `iat` is required and at most this old (seconds), when set.
    pub max_age: Option<i64>,
}

/// A verified token's claims.
#[derive(Debug)]
pub struct Verified {
    pub claims: Map<String, Value>,
    pub kid: Option<String>,
}

#[derive(Debug)]
struct Screened {
    alg: Algorithm,
    alg_name: String,
    kid: Option<String>,
}

/// The header checks, before any key is looked for.
fn screen(token: &str, typ: Typ) -> Result<Screened, JwtError> {
    let malformed = |reason: &str| JwtError::Malformed { reason: reason.into() };
    if token.len() > MAX_TOKEN_LEN {
        return Err(malformed("longer than 16 KiB"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 || parts[0].is_empty() || parts[1].is_empty() {
        return Err(malformed("not three dot-separated parts"));
    }
    let raw = URL_SAFE_NO_PAD.decode(parts[0]).map_err(|_| malformed("header is not base64url"))?;
    let header: Map<String, Value> =
        serde_json::from_slice(&raw).map_err(|_| malformed("header is not a JSON object"))?;
    let alg_name = match header.get("alg") {
        Some(Value::String(a)) => a.clone(),
        _ => return Err(malformed("header has no alg")),
    };
    let alg = ALLOWED
        .iter()
        .find(|(n, _)| *n == alg_name)
        .map(|(_, a)| *a)
        .ok_or_else(|| JwtError::Algorithm { alg: alg_name.chars().take(40).collect() })?;
    if let Some(name) = EMBEDDED_KEY_PARAMS.iter().find(|p| header.contains_key(**p)) {
        return Err(JwtError::EmbeddedKey { name: name.to_string() });
    }
    if header.contains_key("crit") {
        return Err(JwtError::Critical);
    }
    if typ == Typ::Set {
        match header.get("typ") {
            None => {}
            Some(Value::String(t))
                if t.eq_ignore_ascii_case("secevent+jwt")
                    || t.eq_ignore_ascii_case("application/secevent+jwt") => {}
            Some(other) => {
                return Err(JwtError::Type { typ: other.to_string(), expected: "secevent+jwt" });
            }
        }
    }
    if parts[2].is_empty() {
        return Err(malformed("no signature"));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(malformed("kid is not a string")),
    };
    Ok(Screened { alg, alg_name, kid })
}

/// One JWKS URL's cache entry; its async lock makes fetches single-flight.
#[derive(Default)]
struct Slot {
    keys: Option<(Arc<Vec<Jwk>>, Instant)>,
    last_forced: Option<Instant>,
}

/// Public signing keys by JWKS URL.
#[derive(Default)]
pub struct JwksCache {
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
}

async fn fetch(http: &HttpClient, url: &str) -> Result<Vec<Jwk>, JwtError> {
    let unavailable = |message: String| JwtError::Keys { url: url.to_string(), message };
    let doc = http.get_json(url, None, MAX_BODY).await.map_err(|e| unavailable(e.to_string()))?;
    let listed =
        doc.get("keys").and_then(Value::as_array).ok_or_else(|| unavailable("no keys array".into()))?;
    // Secure default: only public signing keys; a shared-secret ("oct") key in
    // a JWKS would let anyone who read it sign. Keys idbridge cannot parse are skipped.
    let keys: Vec<Jwk> = listed
        .iter()
        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
        .filter(|k| !matches!(k.algorithm, AlgorithmParameters::OctetKey(_)))
        .filter(|k| k.common.public_key_use.as_ref().is_none_or(|u| *u == PublicKeyUse::Signature))
        .collect();
    if keys.is_empty() {
        return Err(unavailable("no usable public signing key".into()));
    }
    Ok(keys)
}

/// The key a token names: by `kid`, or the only key when it names none; a
/// key that declares an `alg` must declare the token's.
fn pick<'k>(keys: &'k [Jwk], kid: Option<&str>, alg: &str) -> Option<&'k Jwk> {
    let fits = |k: &&Jwk| k.common.key_algorithm.as_ref().is_none_or(|a| format!("{a:?}") == alg);
    match kid {
        Some(kid) => keys.iter().filter(fits).find(|k| k.common.key_id.as_deref() == Some(kid)),
        None if keys.len() == 1 => keys.iter().find(fits),
        None => None,
    }
}

impl JwksCache {
    fn slot(&self, url: &str) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(url.to_string()).or_default().clone()
    }

    /// The key for (`kid`, `alg`) from the JWKS at `url`: cached, refreshed
    /// hourly, re-fetched (rate-limited) when the kid is unknown.
    async fn key(&self, http: &HttpClient, url: &str, kid: Option<&str>, alg: &str) -> Result<Jwk, JwtError> {
        let slot = self.slot(url);
        let mut s = slot.lock().await;
        let fresh = s.keys.as_ref().filter(|(_, at)| at.elapsed() < REFRESH_AFTER).map(|(k, _)| k.clone());
        let keys = match fresh {
            Some(k) => k,
            None => match fetch(http, url).await {
                Ok(k) => {
                    let k = Arc::new(k);
                    s.keys = Some((k.clone(), Instant::now()));
                    k
                }
                Err(e) => match &s.keys {
                    Some((old, at)) if at.elapsed() < MAX_STALE => {
                        tracing::warn!(jwks = url, error = %e, "JWKS refresh failed; using the cached keys");
                        old.clone()
                    }
                    _ => return Err(e),
                },
            },
        };
        if let Some(k) = pick(&keys, kid, alg) {
            return Ok(k.clone());
        }
        let unknown =
            || JwtError::UnknownKey { kid: kid.map(str::to_string), alg: alg.into(), url: url.into() };
        if s.last_forced.is_some_and(|t| t.elapsed() < FORCED_REFRESH_EVERY) {
            tracing::info!(jwks = url, "unknown signing key; JWKS re-fetch is rate-limited");
            return Err(unknown());
        }
        s.last_forced = Some(Instant::now());
        let keys = Arc::new(fetch(http, url).await?);
        s.keys = Some((keys.clone(), Instant::now()));
        pick(&keys, kid, alg).cloned().ok_or_else(unknown)
    }

    /// Verify `token` against the JWKS at `jwks_url` and `expect`.
    pub async fn verify(
        &self,
        http: &HttpClient,
        jwks_url: &str,
        token: &str,
        expect: &Expect<'_>,
    ) -> Result<Verified, JwtError> {
        let screened = screen(token, expect.typ)?;
        let jwk = self.key(http, jwks_url, screened.kid.as_deref(), &screened.alg_name).await?;
        let sig = |message: String| JwtError::Signature { kid: screened.kid.clone(), message };
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| sig(e.to_string()))?;
        // Only the signature here (with the header's algorithm, which the key's
        // family must match); the claims are checked below with precise reasons.
        let mut v = Validation::new(screened.alg);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key, &v).map_err(|e| sig(e.to_string()))?;
        check_claims(&data.claims, expect, crate::clock::now().unix_timestamp())?;
        Ok(Verified { claims: data.claims, kid: screened.kid })
    }
}

fn number(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => {
            v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)).map(Some).ok_or(JwtError::Claim { name })
        }
    }
}

/// RFC 7519 4.1: iss, aud, exp, nbf, iat.
fn check_claims(claims: &Map<String, Value>, expect: &Expect<'_>, now: i64) -> Result<(), JwtError> {
    let iss = claims.get("iss").and_then(Value::as_str);
    if iss != Some(expect.issuer) {
        return Err(JwtError::Issuer { got: iss.map(str::to_string), expected: expect.issuer.to_string() });
    }
    let auds: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !auds.iter().any(|a| expect.audiences.iter().any(|e| e == a)) {
        let got = claims.get("aud").map_or_else(|| "(none)".to_string(), Value::to_string);
        return Err(JwtError::Audience { got, expected: expect.audiences.to_vec() });
    }
    match number(claims, "exp")? {
        Some(exp) if exp + SKEW_SECS <= now => return Err(JwtError::Expired { exp, now }),
        None if expect.require_exp => return Err(JwtError::Claim { name: "exp" }),
        _ => {}
    }
    if let Some(nbf) = number(claims, "nbf")? {
        if nbf - SKEW_SECS > now {
            return Err(JwtError::NotYetValid { nbf, now });
        }
    }
    match (number(claims, "iat")?, expect.max_age) {
        (Some(iat), _) if iat - SKEW_SECS > now => return Err(JwtError::IssuedInFuture { iat, now }),
        (Some(iat), Some(max)) if now - iat > max => return Err(JwtError::TooOld { iat, now, max }),
        (None, Some(_)) => return Err(JwtError::Claim { name: "iat" }),
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(header: Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        format!("{h}.{}.c2ln", URL_SAFE_NO_PAD.encode("{}"))
    }

    #[test]
    fn header_screening() {
        assert!(screen(&token(json!({"alg": "RS256", "kid": "a"})), Typ::Any).is_ok());
        for (h, reason) in [
            (json!({"alg": "none"}), "alg"),
            (json!({"alg": "HS256"}), "alg"),
            (json!({"alg": "rs256"}), "alg"),
            (json!({"alg": "RS256", "jwk": {}}), "embedded_key"),
            (json!({"alg": "RS256", "jku": "https://evil.example/jwks"}), "embedded_key"),
            (json!({"alg": "RS256", "x5c": []}), "embedded_key"),
            (json!({"alg": "RS256", "x5u": "https://evil.example/c"}), "embedded_key"),
            (json!({"alg": "RS256", "crit": ["exp"]}), "crit"),
            (json!({"kid": "a"}), "malformed"),
        ] {
            assert_eq!(screen(&token(h.clone()), Typ::Any).unwrap_err().reason(), reason, "{h}");
        }
        assert_eq!(
            screen(&token(json!({"alg": "ES256", "typ": "JWT"})), Typ::Set).unwrap_err().reason(),
            "typ"
        );
        assert!(screen(&token(json!({"alg": "ES256", "typ": "secevent+jwt"})), Typ::Set).is_ok());
        assert_eq!(screen("a.b", Typ::Any).unwrap_err().reason(), "malformed");
    }

    #[test]
    fn claims_checks() {
        let aud = vec!["https://me/x".to_string()];
        let e = Expect {
            issuer: "https://idp",
            audiences: &aud,
            typ: Typ::Any,
            require_exp: true,
            max_age: None,
        };
        let ok = json!({"iss": "https://idp", "aud": ["other", "https://me/x"], "exp": 1100, "iat": 1000});
        assert!(check_claims(ok.as_object().unwrap(), &e, 1000).is_ok());
        for (patch, reason) in [
            (json!({"iss": "https://evil"}), "iss"),
            (json!({"aud": "other"}), "aud"),
            (json!({"exp": 900}), "expired"),
            (json!({"exp": null}), "claim"),
            (json!({"nbf": 1200}), "nbf"),
            (json!({"iat": 1200}), "iat_future"),
        ] {
            let mut c = ok.as_object().unwrap().clone();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    c.remove(k);
                } else {
                    c.insert(k.clone(), v.clone());
                }
            }
            assert_eq!(check_claims(&c, &e, 1000).unwrap_err().reason(), reason, "{patch}");
        }
        let set = Expect { require_exp: false, max_age: Some(50), ..e };
        let old = json!({"iss": "https://idp", "aud": "https://me/x", "iat": 900});
        assert_eq!(check_claims(old.as_object().unwrap(), &set, 1000).unwrap_err().reason(), "too_old");
    }
}
