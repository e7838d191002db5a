//! The typed parts of a SAML connection's create and PATCH bodies, each
//! field's type and limits checked as it is read. A body's field set is the
//! union of its parts' fields (`CREATE_PARTS`, `PATCH_PARTS`); a refusal
//! names its field (`{field}: {message}`), an unknown field is
//! `{field}: unknown field`.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::connections::body::part;
use crate::connections::body::{Body, KindField, Patch, PollTokenField, field_names, present};
use crate::error::Error;
use crate::saml::config::{AttributeNames, MAX_CLOCK_SKEW_SECS, SamlConfig};
use crate::session::login::MatchBy;

/// Longest connection name accepted.
const MAX_NAME_LEN: usize = 200;
/// Longest SP entityID override accepted.
const MAX_ENTITY_ID_LEN: usize = 1024;

/// The message of a refused unknown field.
pub const UNKNOWN_FIELD: &str = "unknown field";

/// A connection name: 1-200 characters, stored trimmed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SamlName(String);

impl SamlName {
    pub fn into_string(self) -> String {
        self.0
    }
}

impl<'de> Deserialize<'de> for SamlName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) if !s.trim().is_empty() && s.len() <= MAX_NAME_LEN => {
                Ok(SamlName(s.trim().to_string()))
            }
            _ => Err(de::Error::custom(format!(
                "must be a non-empty string of at most {MAX_NAME_LEN} characters"
            ))),
        }
    }
}

/// The name part (`null` is the same as absent: required on create, kept on PATCH).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameField {
    #[serde(default)]
    pub name: Option<SamlName>,
}

/// Where the IdP's metadata comes from: given inline or as a URL (one of them).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpSource {
    #[serde(default)]
    pub idp_metadata_xml: Option<String>,
    #[serde(default)]
    pub idp_metadata_url: Option<String>,
}

/// PATCH only: fetch the metadata again from the URL it came from.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataRefresh {
    #[serde(default)]
    pub refresh_metadata: Option<bool>,
}

/// `null`, the only value `groups_overage_seen_at` takes in a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cleared;

impl<'de> Deserialize<'de> for Cleared {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Cleared),
            _ => Err(de::Error::custom("can only be cleared (null)")),
        }
    }
}

/// PATCH only: forget the recorded groups overage (logins set it).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverageField {
    #[serde(default, deserialize_with = "present")]
    pub groups_overage_seen_at: Option<Cleared>,
}

/// `default_return_to`: an absolute http(s) URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnTo(String);

impl<'de> Deserialize<'de> for ReturnTo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = String::deserialize(d)?;
        let ok = url::Url::parse(&v).map(|u| matches!(u.scheme(), "http" | "https")).unwrap_or(false);
        if !ok {
            return Err(de::Error::custom("must be an absolute http(s) URL"));
        }
        Ok(ReturnTo(v))
    }
}

/// `clock_skew_seconds`: 0..=600.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockSkew(i64);

impl<'de> Deserialize<'de> for ClockSkew {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        if !(0..=MAX_CLOCK_SKEW_SECS).contains(&v) {
            return Err(de::Error::custom(format!("must be 0..={MAX_CLOCK_SKEW_SECS}")));
        }
        Ok(ClockSkew(v))
    }
}

/// `sp_entity_id`: a non-empty URI of at most 1024 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpEntityId(String);

impl<'de> Deserialize<'de> for SpEntityId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = String::deserialize(d)?;
        if v.trim().is_empty() || v.len() > MAX_ENTITY_ID_LEN {
            return Err(de::Error::custom(format!(
                "must be a non-empty URI of at most {MAX_ENTITY_ID_LEN} characters"
            )));
        }
        Ok(SpEntityId(v))
    }
}

/// A signal setting's value (checked further at save time, with the stored ones).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalValue(String);

impl<'de> Deserialize<'de> for SignalValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(SignalValue(s)),
            _ => Err(de::Error::custom("must be a string or null")),
        }
    }
}

/// The settings of a SAML connection an operator may set on create or PATCH
/// (all optional; `null` keeps the current value, but clears a signal
/// setting). Read in this order: the first refused field is reported.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlSettings {
    #[serde(default)]
    pub jit: Option<bool>,
    #[serde(default)]
    pub match_by: Option<MatchBy>,
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
    #[serde(default)]
    pub default_return_to: Option<ReturnTo>,
    #[serde(default)]
    pub clock_skew_seconds: Option<ClockSkew>,
    #[serde(default)]
    pub allow_idp_initiated: Option<bool>,
    #[serde(default)]
    pub allow_sha1: Option<bool>,
    #[serde(default)]
    pub attributes: Option<AttributeNames>,
    #[serde(default)]
    pub sp_entity_id: Option<SpEntityId>,
    #[serde(default)]
    pub ssf_issuer: Patch<SignalValue>,
    #[serde(default)]
    pub ssf_jwks_uri: Patch<SignalValue>,
    #[serde(default)]
    pub ssf_audience: Patch<SignalValue>,
    #[serde(default)]
    pub ssf_poll_url: Patch<SignalValue>,
    #[serde(default)]
    pub logout_issuer: Patch<SignalValue>,
    #[serde(default)]
    pub logout_jwks_uri: Patch<SignalValue>,
}

fn set_signal(target: &mut Option<String>, v: Patch<SignalValue>) {
    if let Some(v) = v.given() {
        *target = v.map(|s| s.0);
    }
}

impl SamlSettings {
    /// Set the given settings on `cfg`, then check the allowed origins.
    pub fn apply(self, cfg: &mut SamlConfig) -> Result<(), Error> {
        let login = &mut cfg.login;
        if let Some(v) = self.jit {
            login.jit = v;
        }
        if let Some(v) = self.match_by {
            login.match_by = v;
        }
        if let Some(v) = self.allowed_origins {
            login.allowed_origins = v;
        }
        if let Some(v) = self.default_return_to {
            login.default_return_to = Some(v.0);
        }
        if let Some(v) = self.clock_skew_seconds {
            cfg.clock_skew_seconds = v.0;
        }
        if let Some(v) = self.allow_idp_initiated {
            cfg.allow_idp_initiated = v;
        }
        if let Some(v) = self.allow_sha1 {
            cfg.allow_sha1 = v;
        }
        if let Some(v) = self.attributes {
            cfg.attributes = v;
        }
        if let Some(v) = self.sp_entity_id {
            cfg.sp_entity_id = Some(v.0);
        }
        let login = &mut cfg.login;
        set_signal(&mut login.ssf_issuer, self.ssf_issuer);
        set_signal(&mut login.ssf_jwks_uri, self.ssf_jwks_uri);
        set_signal(&mut login.ssf_audience, self.ssf_audience);
        set_signal(&mut login.ssf_poll_url, self.ssf_poll_url);
        set_signal(&mut login.logout_issuer, self.logout_issuer);
        set_signal(&mut login.logout_jwks_uri, self.logout_jwks_uri);
        login.validate()
    }
}

/// The parts of a create body.
pub fn create_parts() -> [&'static [&'static str]; 5] {
    [
        field_names::<KindField>(),
        field_names::<NameField>(),
        field_names::<IdpSource>(),
        field_names::<SamlSettings>(),
        field_names::<PollTokenField>(),
    ]
}

/// The parts of a PATCH body.
pub fn patch_parts() -> [&'static [&'static str]; 7] {
    [
        field_names::<OverageField>(),
        field_names::<KindField>(),
        field_names::<NameField>(),
        field_names::<IdpSource>(),
        field_names::<MetadataRefresh>(),
        field_names::<SamlSettings>(),
        field_names::<PollTokenField>(),
    ]
}

/// A create body: an object of known fields.
pub fn create_body(body: Value) -> Result<Body, Error> {
    Body::new(body, &create_parts(), UNKNOWN_FIELD)
}

/// A PATCH body: an object of known fields.
pub fn patch_body(body: Value) -> Result<Body, Error> {
    Body::new(body, &patch_parts(), UNKNOWN_FIELD)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::connections::body::PollToken;

    fn names(parts: &[&[&str]]) -> Vec<String> {
        let mut v: Vec<String> = parts.iter().flat_map(|p| p.iter().map(|s| s.to_string())).collect();
        v.sort();
        v
    }

    #[test]
    fn the_field_set_is_the_structs_and_unchanged() {
        let mut before = vec![
            "kind",
            "name",
            "idp_metadata_xml",
            "idp_metadata_url",
            "jit",
            "match_by",
            "allowed_origins",
            "default_return_to",
            "clock_skew_seconds",
            "allow_idp_initiated",
            "allow_sha1",
            "attributes",
            "sp_entity_id",
            "ssf_issuer",
            "ssf_jwks_uri",
            "ssf_audience",
            "ssf_poll_url",
            "ssf_poll_token",
            "logout_issuer",
            "logout_jwks_uri",
        ];
        before.sort();
        assert_eq!(names(&create_parts()), before);
        before.extend(["refresh_metadata", "groups_overage_seen_at"]);
        before.sort();
        assert_eq!(names(&patch_parts()), before);
        // Every field of every part is accepted, nothing else is.
        for f in names(&patch_parts()) {
            assert!(patch_body(json!({ f.clone(): null })).is_ok(), "{f}");
        }
        let e = create_body(json!({"kind": "saml", "refresh_metadata": true})).unwrap_err();
        assert_eq!(e.to_string(), "refresh_metadata: unknown field");
        let e = patch_body(json!({"jit": true, "b_typo": 1, "a_typo": 1})).unwrap_err();
        assert_eq!(e.to_string(), "a_typo: unknown field");
        assert_eq!(patch_body(json!("x")).unwrap_err().to_string(), "body: must be a JSON object");
    }

    fn settings(v: Value) -> Result<SamlSettings, String> {
        part::<SamlSettings>(&patch_body(v).unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn settings_are_typed_and_checked_in_order() {
        let s = settings(json!({"jit": false, "match_by": "external_id", "clock_skew_seconds": 600,
            "ssf_issuer": "https://t", "ssf_audience": null}))
        .unwrap();
        assert_eq!((s.jit, s.match_by), (Some(false), Some(MatchBy::ExternalId)));
        assert_eq!(s.clock_skew_seconds, Some(ClockSkew(600)));
        assert_eq!(s.ssf_issuer, Patch::Value(SignalValue("https://t".into())));
        assert_eq!((s.ssf_audience, s.ssf_jwks_uri), (Patch::Null, Patch::Absent));
        // `null` on a non-signal setting keeps the value.
        assert_eq!(settings(json!({"jit": null})).unwrap().jit, None);
        for (body, err) in [
            (json!({"jit": "yes"}), "jit: invalid type: string \"yes\", expected a boolean"),
            (json!({"clock_skew_seconds": 601}), "clock_skew_seconds: must be 0..=600"),
            (
                json!({"clock_skew_seconds": 1.5}),
                "clock_skew_seconds: invalid type: floating point `1.5`, expected i64",
            ),
            (json!({"default_return_to": "/x"}), "default_return_to: must be an absolute http(s) URL"),
            (
                json!({"sp_entity_id": " "}),
                "sp_entity_id: must be a non-empty URI of at most 1024 characters",
            ),
            (json!({"logout_issuer": 7}), "logout_issuer: must be a string or null"),
            (
                json!({"attributes": {"mail": []}}),
                "attributes: unknown field `mail`, expected one of `email`, `given_name`, `family_name`, `display_name`, `groups`, `external_id`",
            ),
            // `jit` is read before `sp_entity_id` although it sorts after.
            (json!({"sp_entity_id": "", "jit": 1}), "jit: invalid type: integer `1`, expected a boolean"),
        ] {
            assert_eq!(settings(body.clone()).unwrap_err(), err, "{body}");
        }
    }

    /// The settings as the untyped code applied them (kept to prove the
    /// typed parts give the same answers).
    fn untyped(cfg: &mut SamlConfig, body: &Value) -> Result<(), Error> {
        fn field<T: serde::de::DeserializeOwned>(body: &Value, name: &str) -> Result<Option<T>, Error> {
            match body.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => serde_json::from_value(v.clone())
                    .map(Some)
                    .map_err(|e| Error::invalid(name, e.to_string())),
            }
        }
        if let Some(v) = field(body, "jit")? {
            cfg.login.jit = v;
        }
        if let Some(v) = field(body, "match_by")? {
            cfg.login.match_by = v;
        }
        if let Some(v) = field(body, "allowed_origins")? {
            cfg.login.allowed_origins = v;
        }
        if let Some(v) = field::<String>(body, "default_return_to")? {
            let ok = url::Url::parse(&v).map(|u| matches!(u.scheme(), "http" | "https")).unwrap_or(false);
            if !ok {
                return Err(Error::invalid("default_return_to", "must be an absolute http(s) URL"));
            }
            cfg.login.default_return_to = Some(v);
        }
        if let Some(v) = field::<i64>(body, "clock_skew_seconds")? {
            if !(0..=MAX_CLOCK_SKEW_SECS).contains(&v) {
                return Err(Error::invalid(
                    "clock_skew_seconds",
                    format!("must be 0..={MAX_CLOCK_SKEW_SECS}"),
                ));
            }
            cfg.clock_skew_seconds = v;
        }
        if let Some(v) = field(body, "allow_idp_initiated")? {
            cfg.allow_idp_initiated = v;
        }
        if let Some(v) = field(body, "allow_sha1")? {
            cfg.allow_sha1 = v;
        }
        if let Some(v) = field::<AttributeNames>(body, "attributes")? {
            cfg.attributes = v;
        }
        if let Some(v) = field::<String>(body, "sp_entity_id")? {
            if v.trim().is_empty() || v.len() > 1024 {
                return Err(Error::invalid(
                    "sp_entity_id",
                    "must be a non-empty URI of at most 1024 characters",
                ));
            }
            cfg.sp_entity_id = Some(v);
        }
        let l = &mut cfg.login;
        for name in
            ["ssf_issuer", "ssf_jwks_uri", "ssf_audience", "ssf_poll_url", "logout_issuer", "logout_jwks_uri"]
        {
            let value = match body.get(name) {
                None => continue,
                Some(Value::Null) => None,
                Some(Value::String(v)) => Some(v.clone()),
                Some(_) => return Err(Error::invalid(name, "must be a string or null")),
            };
            match name {
                "ssf_issuer" => l.ssf_issuer = value,
                "ssf_jwks_uri" => l.ssf_jwks_uri = value,
                "ssf_audience" => l.ssf_audience = value,
                "ssf_poll_url" => l.ssf_poll_url = value,
                "logout_issuer" => l.logout_issuer = value,
                _ => l.logout_jwks_uri = value,
            }
        }
        l.validate()
    }

    fn stored() -> SamlConfig {
        serde_json::from_value(json!({"sp_signing_cert": "a", "sp_encryption_cert": "b", "sp_entity_id": "urn:x",
            "clock_skew_seconds": 30, "allow_sha1": true,
            "login": {"jit": false, "match_by": "user_name", "ssf_issuer": "https://t", "logout_issuer": "https://l"}}))
        .unwrap()
    }

    fn outcome(r: Result<(), Error>, cfg: &SamlConfig) -> Result<Value, String> {
        r.map(|()| serde_json::to_value(cfg).unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn settings_apply_as_the_untyped_code_did() {
        for body in [
            json!({}),
            json!({"jit": true, "match_by": "email", "allowed_origins": ["https://a.example"], "default_return_to": "https://a.example/x",
                "clock_skew_seconds": 0, "allow_idp_initiated": false, "allow_sha1": false, "attributes": {"email": ["m"]},
                "sp_entity_id": "urn:y", "ssf_issuer": "https://u", "ssf_jwks_uri": "https://u/j", "ssf_audience": "aud",
                "ssf_poll_url": "https://u/p", "logout_issuer": "https://m", "logout_jwks_uri": "https://m/j"}),
            json!({"jit": null, "match_by": null, "allowed_origins": null, "default_return_to": null, "clock_skew_seconds": null,
                "allow_idp_initiated": null, "allow_sha1": null, "attributes": null, "sp_entity_id": null,
                "ssf_issuer": null, "ssf_jwks_uri": null, "ssf_audience": null, "ssf_poll_url": null,
                "logout_issuer": null, "logout_jwks_uri": null}),
            json!({"allowed_origins": ["https://a.example/path"], "logout_jwks_uri": 1}),
            json!({"allowed_origins": ["evil"], "jit": true}),
            json!({"sp_entity_id": "", "ssf_issuer": 1}),
            json!({"clock_skew_seconds": -1, "match_by": "phone"}),
            json!({"attributes": [], "allow_sha1": "no"}),
            json!({"default_return_to": "ftp://x", "allowed_origins": 3}),
            json!({"ssf_poll_url": [], "ssf_audience": {}}),
        ] {
            let (mut a, mut b) = (stored(), stored());
            let typed =
                part::<SamlSettings>(&patch_body(body.clone()).unwrap()).and_then(|s| s.apply(&mut a));
            let before = untyped(&mut b, &body);
            assert_eq!(outcome(typed, &a), outcome(before, &b), "{body}");
        }
    }

    #[test]
    fn the_head_parts() {
        let b = patch_body(json!({"name": "  Okta  ", "groups_overage_seen_at": null})).unwrap();
        assert_eq!(part::<NameField>(&b).unwrap().name, Some(SamlName("Okta".into())));
        assert_eq!(part::<OverageField>(&b).unwrap().groups_overage_seen_at, Some(Cleared));
        let b = patch_body(json!({"name": null})).unwrap();
        assert_eq!(part::<OverageField>(&b).unwrap().groups_overage_seen_at, None);
        assert_eq!(part::<NameField>(&b).unwrap().name, None);
        for (body, err) in [
            (json!({"name": ""}), "name: must be a non-empty string of at most 200 characters"),
            (json!({"name": 5}), "name: must be a non-empty string of at most 200 characters"),
            (json!({"groups_overage_seen_at": "2024"}), "groups_overage_seen_at: can only be cleared (null)"),
            (
                json!({"refresh_metadata": "yes"}),
                "refresh_metadata: invalid type: string \"yes\", expected a boolean",
            ),
        ] {
            let b = patch_body(body.clone()).unwrap();
            let e = part::<NameField>(&b)
                .and(part::<OverageField>(&b).map(|_| ()))
                .and(part::<MetadataRefresh>(&b).map(|_| ()))
                .unwrap_err();
            assert_eq!(e.to_string(), err, "{body}");
        }
        let b = patch_body(json!({"ssf_poll_token": "t"})).unwrap();
        let t: PollToken = serde_json::from_value(json!("t")).unwrap();
        assert_eq!(part::<PollTokenField>(&b).unwrap().ssf_poll_token, Patch::Value(t));
    }
}
