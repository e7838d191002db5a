//! Screening of an ID token before any library parses it: its size and
//! shape, the JOSE header (`alg` on the allow-list exactly as spelled, no
//! key parameters) and the JSON types of the claims OIDC Core defines. Every
//! ID token passes here first — the one idbridge verifies, and the one in a
//! token response that openidconnect could not parse — so a token with
//! malformed claims is refused with the precise claim and problem, never
//! mistaken for a provider that could not be reached.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::verify::{ALLOWED_ALGS, IdTokenError, alg_name};

/// Longest ID token accepted (Entra tokens with many claims are ~10 KB).
pub const MAX_LEN: usize = 64 * 1024;
/// JOSE header parameters that carry or point to a key. The signing key comes
/// only from the discovered JWKS, so a token offering its own is refused.
const KEY_HEADERS: [&str; 4] = ["jwk", "jku", "x5u", "x5c"];

/// The JSON type a claim must have.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Num,
    Bool,
    StrOrStrs,
    Strs,
}

/// OIDC Core 1.0 §2 (ID Token) and §5.1 (Standard Claims): the claims whose
/// type is defined, and whether they are REQUIRED in an ID token.
const CLAIMS: &[(&str, Kind, bool)] = &[
    // §2: iss, sub, aud, exp, iat are REQUIRED.
    ("iss", Kind::Str, true),
    ("sub", Kind::Str, true),
    ("aud", Kind::StrOrStrs, true),
    ("exp", Kind::Num, true),
    ("iat", Kind::Num, true),
    ("auth_time", Kind::Num, false),
    ("nbf", Kind::Num, false),
    ("nonce", Kind::Str, false),
    ("acr", Kind::Str, false),
    ("amr", Kind::Strs, false),
    ("azp", Kind::Str, false),
    ("at_hash", Kind::Str, false),
    ("c_hash", Kind::Str, false),
    // OIDC Front-/Back-Channel Logout §2/§3: "sid ... String"; IPSIE SL1's
    // `session_expiry` is a NumericDate like `exp`.
    ("sid", Kind::Str, false),
    ("session_expiry", Kind::Num, false),
    // §5.1: "email_verified  boolean", "phone_number_verified  boolean",
    // "updated_at  number".
    ("email", Kind::Str, false),
    ("email_verified", Kind::Bool, false),
    ("phone_number_verified", Kind::Bool, false),
    ("name", Kind::Str, false),
    ("given_name", Kind::Str, false),
    ("family_name", Kind::Str, false),
    ("preferred_username", Kind::Str, false),
    ("updated_at", Kind::Num, false),
];

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn fits(kind: Kind, v: &Value) -> bool {
    let strs = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    match kind {
        Kind::Str => v.is_string(),
        Kind::Num => v.is_number(),
        Kind::Bool => v.is_boolean(),
        Kind::StrOrStrs => v.is_string() || strs(v),
        Kind::Strs => strs(v),
    }
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Str => "a string",
        Kind::Num => "a number (seconds since the epoch)",
        Kind::Bool => "a JSON boolean",
        Kind::StrOrStrs => "a string or an array of strings",
        Kind::Strs => "an array of strings",
    }
}

pub(super) fn decode_json(part: &str, what: &str) -> Result<Map<String, Value>, IdTokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| IdTokenError::Malformed { message: format!("{what}: {e}") })?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(IdTokenError::Malformed { message: format!("{what} is not a JSON object") }),
    }
}

/// A token that passed the screening: its header and claims, decoded from
/// exactly the bytes the signature covers.
pub struct Screened {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
}

/// Screen `token` (compact JWS) as an ID token: its shape and header
/// (`screen_jws`), then the claims OIDC Core types. The signature is not
/// checked here.
pub fn screen(token: &str) -> Result<Screened, IdTokenError> {
    let screened = screen_jws(token)?;
    check_claims(&screened.claims)?;
    Ok(screened)
}

/// The size, shape and JOSE header checks every provider-signed JWT passes
/// (ID tokens and back-channel logout tokens alike), and its decoded parts.
pub fn screen_jws(token: &str) -> Result<Screened, IdTokenError> {
    if token.len() > MAX_LEN {
        return Err(IdTokenError::TooLarge { len: token.len() });
    }
    let parts: Vec<&str> = token.split('.').collect();
    // OIDC Core 3.1.3.7 step 1: "If the ID Token is encrypted, decrypt it
    // using the keys and algorithms that the Client specified during
    // Registration." (idbridge registers no encryption: a JWE is refused.)
    if parts.len() == 5 {
        return Err(IdTokenError::Unsupported {
            message: "encrypted ID tokens (JWE) are not supported".into(),
        });
    }
    let [head, payload, _signature] = parts.as_slice() else {
        return Err(IdTokenError::Malformed { message: format!("{} parts, expected 3", parts.len()) });
    };
    let header = decode_json(head, "header")?;
    // Step 7: "The alg value SHOULD be the default of RS256 or the algorithm
    // sent by the Client in the id_token_signed_response_alg parameter."
    // (idbridge: any asymmetric algorithm on the allow-list, compared exactly
    // as RFC 7515 4.1.1 defines it — case-sensitive; never none/None/NONE or HS*.)
    let alg = match header.get("alg") {
        Some(Value::String(a)) => a.clone(),
        Some(other) => format!("<{}>", describe(other)),
        None => String::new(),
    };
    if !ALLOWED_ALGS.iter().any(|a| alg_name(a) == alg) {
        return Err(IdTokenError::AlgNotAllowed { alg: alg.chars().take(40).collect() });
    }
    // Step 6: "... The Client MUST use the keys provided by the Issuer."
    if let Some(param) = KEY_HEADERS.iter().find(|p| header.contains_key(**p)) {
        return Err(IdTokenError::KeyInHeader { param: param.to_string() });
    }
    if header.get("kid").is_some_and(|k| !k.is_string()) {
        return Err(IdTokenError::Malformed { message: "header kid is not a string".into() });
    }
    let claims = decode_json(payload, "payload")?;
    Ok(Screened { header, claims })
}

fn check_claims(claims: &Map<String, Value>) -> Result<(), IdTokenError> {
    for (name, kind, required) in CLAIMS {
        match claims.get(*name) {
            // An optional claim sent as null counts as absent.
            None | Some(Value::Null) if *required => {
                return Err(IdTokenError::Claim {
                    name,
                    problem: "is missing; OIDC Core 2 makes it REQUIRED".into(),
                });
            }
            None | Some(Value::Null) => {}
            Some(v) if !fits(*kind, v) => {
                return Err(IdTokenError::Claim {
                    name,
                    problem: format!("is {}, OIDC Core requires {}", describe(v), expected(*kind)),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(header: Value, claims: Value) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    fn good() -> Value {
        json!({"iss": "https://op", "sub": "u1", "aud": "c", "exp": 2, "iat": 1})
    }

    fn with(k: &str, v: Value) -> Value {
        let mut c = good();
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v;
        }
        c
    }

    fn reason(header: Value, claims: Value) -> &'static str {
        match screen(&token(header, claims)) {
            Ok(_) => "ok",
            Err(e) => e.reason(),
        }
    }

    #[test]
    fn claim_types_and_required_claims() {
        let rs = json!({"alg": "RS256"});
        assert_eq!(reason(rs.clone(), good()), "ok");
        assert_eq!(reason(rs.clone(), with("aud", json!(["c", "d"]))), "ok");
        assert_eq!(reason(rs.clone(), with("email_verified", json!(true))), "ok");
        for (k, v) in [
            ("email_verified", json!("false")),
            ("exp", Value::Null),
            ("exp", json!("soon")),
            ("iat", Value::Null),
            ("sub", json!(7)),
            ("aud", json!([1])),
            ("amr", json!("pwd")),
        ] {
            assert_eq!(reason(rs.clone(), with(k, v.clone())), "id_token_claim_invalid", "{k}: {v}");
        }
    }

    #[test]
    fn alg_exactly_on_the_allow_list_and_no_header_keys() {
        for alg in [json!("none"), json!("None"), json!("NONE"), json!("rs256"), json!("HS256"), json!(1)] {
            assert_eq!(reason(json!({ "alg": alg }), good()), "alg_not_allowed", "{alg}");
        }
        assert_eq!(reason(json!({}), good()), "alg_not_allowed");
        assert_eq!(reason(json!({"alg": "RS256", "jku": "https://x"}), good()), "untrusted_key_in_header");
        assert!(matches!(screen("a.b"), Err(IdTokenError::Malformed { .. })));
        assert!(matches!(screen("a.b.c.d.e"), Err(IdTokenError::Unsupported { .. })));
    }
}
