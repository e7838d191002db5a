//! The typed parts of an OIDC connection's create and PATCH bodies. A body's
//! field set is the union of its parts' fields (`create_parts`,
//! `patch_parts`); an unknown field is `{field}: unknown field for an OIDC
//! connection`. The name, secret and poll token name their field when
//! refused; a settings value of the wrong type is refused as `body` with
//! serde's message (as the stored config would be read).

use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::Value;

pub use crate::connections::body::part;
use crate::connections::body::{Body, KindField, Patch, PollTokenField, field_names, present};
use crate::error::Error;
use crate::oidc::config::OidcDraft;
use crate::session::login::MatchBy;

/// The message of a refused unknown field.
pub const UNKNOWN_FIELD: &str = "unknown field for an OIDC connection";
/// Longest connection name and client secret accepted.
const MAX_NAME_LEN: usize = 200;
const MAX_SECRET_LEN: usize = 4096;

/// A connection name: 1-200 characters, stored trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcName(String);

impl OidcName {
    pub fn into_string(self) -> String {
        self.0
    }
}

impl<'de> Deserialize<'de> for OidcName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(n) if !n.trim().is_empty() && n.len() <= MAX_NAME_LEN => {
                Ok(OidcName(n.trim().to_string()))
            }
            _ => Err(de::Error::custom(format!("must be 1-{MAX_NAME_LEN} characters"))),
        }
    }
}

/// The name part (`null` is refused).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameField {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<OidcName>,
}

/// The client secret as given (write-only; sealed before it is stored).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(..)")
    }
}

impl ClientSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ClientSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s)
                if !s.is_empty() && s.len() <= MAX_SECRET_LEN && !s.chars().any(char::is_control) =>
            {
                Ok(ClientSecret(s))
            }
            _ => Err(de::Error::custom("must be a non-empty string")),
        }
    }
}

/// The client secret part (`null` is refused; absent keeps the stored one).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretField {
    #[serde(default, deserialize_with = "present")]
    pub client_secret: Option<ClientSecret>,
}

/// The settings of a create body, in the order they are read: the
/// connection's own, then the login settings, each by name. `null` is the
/// default for an optional setting and refused for the others.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSettings {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub graph_groups_url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub groups_claim: Option<String>,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub post_logout_redirect_uri: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub tenant_ids: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub allowed_origins: Option<Vec<String>>,
    #[serde(default)]
    pub default_return_to: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub jit: Option<bool>,
    #[serde(default)]
    pub logout_issuer: Option<String>,
    #[serde(default)]
    pub logout_jwks_uri: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub match_by: Option<MatchBy>,
    #[serde(default)]
    pub ssf_audience: Option<String>,
    #[serde(default)]
    pub ssf_issuer: Option<String>,
    #[serde(default)]
    pub ssf_jwks_uri: Option<String>,
    #[serde(default)]
    pub ssf_poll_url: Option<String>,
}

fn or<T>(v: Option<T>, default: T) -> T {
    v.unwrap_or(default)
}

impl CreateSettings {
    /// The settings as a new connection's (unvalidated) draft: what is not
    /// given is the default, and `match_by` follows the issuer unless given.
    pub fn into_draft(self) -> OidcDraft {
        let d = OidcDraft::default();
        let mut login = d.login;
        login.jit = or(self.jit, login.jit);
        login.match_by = or(self.match_by, login.match_by);
        login.allowed_origins = or(self.allowed_origins, login.allowed_origins);
        login.default_return_to = self.default_return_to;
        login.ssf_issuer = self.ssf_issuer;
        login.ssf_jwks_uri = self.ssf_jwks_uri;
        login.ssf_audience = self.ssf_audience;
        login.ssf_poll_url = self.ssf_poll_url;
        login.logout_issuer = self.logout_issuer;
        login.logout_jwks_uri = self.logout_jwks_uri;
        OidcDraft {
            issuer: self.issuer,
            client_id: self.client_id,
            scopes: or(self.scopes, d.scopes),
            groups_claim: or(self.groups_claim, d.groups_claim),
            tenant_ids: or(self.tenant_ids, d.tenant_ids),
            graph_groups_url: self.graph_groups_url,
            post_logout_redirect_uri: self.post_logout_redirect_uri,
            match_by_set: self.match_by.is_some(),
            login,
        }
    }
}

/// The settings of a PATCH body, in the order they are read (as
/// `CreateSettings`): absent keeps, `null` goes back to the default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchSettings {
    #[serde(default)]
    pub client_id: Patch<String>,
    #[serde(default)]
    pub graph_groups_url: Patch<String>,
    #[serde(default)]
    pub groups_claim: Patch<String>,
    #[serde(default)]
    pub issuer: Patch<String>,
    #[serde(default)]
    pub post_logout_redirect_uri: Patch<String>,
    #[serde(default)]
    pub scopes: Patch<Vec<String>>,
    #[serde(default)]
    pub tenant_ids: Patch<Vec<String>>,
    #[serde(default)]
    pub allowed_origins: Patch<Vec<String>>,
    #[serde(default)]
    pub default_return_to: Patch<String>,
    #[serde(default)]
    pub jit: Patch<bool>,
    #[serde(default)]
    pub logout_issuer: Patch<String>,
    #[serde(default)]
    pub logout_jwks_uri: Patch<String>,
    #[serde(default)]
    pub match_by: Patch<MatchBy>,
    #[serde(default)]
    pub ssf_audience: Patch<String>,
    #[serde(default)]
    pub ssf_issuer: Patch<String>,
    #[serde(default)]
    pub ssf_jwks_uri: Patch<String>,
    #[serde(default)]
    pub ssf_poll_url: Patch<String>,
}

/// Set `target` from a PATCH field: kept when absent, `default` on `null`.
fn patch<T>(target: &mut T, p: Patch<T>, default: impl FnOnce() -> T) {
    match p {
        Patch::Absent => {}
        Patch::Null => *target = default(),
        Patch::Value(v) => *target = v,
    }
}

fn patch_opt<T>(target: &mut Option<T>, p: Patch<T>) {
    if let Some(v) = p.given() {
        *target = v;
    }
}

impl PatchSettings {
    /// The (unvalidated) draft after this PATCH of `current`.
    pub fn apply(self, current: &OidcDraft) -> OidcDraft {
        let d = OidcDraft::default();
        let mut draft = current.clone();
        patch_opt(&mut draft.issuer, self.issuer);
        patch_opt(&mut draft.client_id, self.client_id);
        patch(&mut draft.scopes, self.scopes, || d.scopes);
        patch(&mut draft.groups_claim, self.groups_claim, || d.groups_claim);
        patch(&mut draft.tenant_ids, self.tenant_ids, Vec::new);
        patch_opt(&mut draft.graph_groups_url, self.graph_groups_url);
        patch_opt(&mut draft.post_logout_redirect_uri, self.post_logout_redirect_uri);
        let (login, dl) = (&mut draft.login, d.login);
        if !matches!(self.match_by, Patch::Absent) {
            draft.match_by_set = matches!(self.match_by, Patch::Value(_));
        }
        patch(&mut login.jit, self.jit, || dl.jit);
        patch(&mut login.match_by, self.match_by, MatchBy::default);
        patch(&mut login.allowed_origins, self.allowed_origins, Vec::new);
        patch_opt(&mut login.default_return_to, self.default_return_to);
        patch_opt(&mut login.ssf_issuer, self.ssf_issuer);
        patch_opt(&mut login.ssf_jwks_uri, self.ssf_jwks_uri);
        patch_opt(&mut login.ssf_audience, self.ssf_audience);
        patch_opt(&mut login.ssf_poll_url, self.ssf_poll_url);
        patch_opt(&mut login.logout_issuer, self.logout_issuer);
        patch_opt(&mut login.logout_jwks_uri, self.logout_jwks_uri);
        draft
    }
}

/// Refuse a PATCH that clears the issuer or the client id (before any value
/// is read: a connection keeps them once given).
pub fn refuse_removal(body: &Body) -> Result<(), Error> {
    match ["client_id", "issuer"].into_iter().find(|k| body.is_null(k)) {
        Some(k) => Err(Error::invalid(k, "cannot be removed (delete the connection instead)")),
        None => Ok(()),
    }
}

/// The parts of a create body.
pub fn create_parts() -> [&'static [&'static str]; 5] {
    [
        field_names::<KindField>(),
        field_names::<NameField>(),
        field_names::<SecretField>(),
        field_names::<CreateSettings>(),
        field_names::<PollTokenField>(),
    ]
}

/// The parts of a PATCH body.
pub fn patch_parts() -> [&'static [&'static str]; 5] {
    [
        field_names::<KindField>(),
        field_names::<NameField>(),
        field_names::<SecretField>(),
        field_names::<PatchSettings>(),
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

/// Read the settings part, a refusal being the body's.
pub fn settings<T: serde::de::DeserializeOwned>(body: &Body) -> Result<T, Error> {
    body.part::<T>().map_err(|e| e.as_body())
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;

    /// The fields of the settings before the bodies were typed.
    const CONFIG_FIELDS: [&str; 17] = [
        "issuer",
        "client_id",
        "scopes",
        "groups_claim",
        "tenant_ids",
        "graph_groups_url",
        "post_logout_redirect_uri",
        "jit",
        "match_by",
        "allowed_origins",
        "default_return_to",
        "ssf_issuer",
        "ssf_jwks_uri",
        "ssf_audience",
        "ssf_poll_url",
        "logout_issuer",
        "logout_jwks_uri",
    ];

    fn sorted(v: impl IntoIterator<Item = &'static str>) -> Vec<&'static str> {
        let mut v: Vec<_> = v.into_iter().collect();
        v.sort();
        v
    }

    #[test]
    fn the_field_set_is_the_structs_and_unchanged() {
        let before =
            sorted(CONFIG_FIELDS.into_iter().chain(["kind", "name", "client_secret", "ssf_poll_token"]));
        assert_eq!(sorted(create_parts().into_iter().flatten().copied()), before);
        assert_eq!(sorted(patch_parts().into_iter().flatten().copied()), before);
        assert_eq!(field_names::<CreateSettings>(), field_names::<PatchSettings>());
        for f in before {
            assert!(patch_body(json!({ f: null })).is_ok(), "{f}");
        }
        for bad in ["match_by_set", "ssf_poll_token_sealed", "idp_metadata_url"] {
            let e = create_body(json!({ bad: 1 })).unwrap_err();
            assert_eq!(e.to_string(), format!("{bad}: unknown field for an OIDC connection"));
        }
    }

    /// The settings as the untyped code read them: the body's settings
    /// fields deserialised as a stored config.
    fn untyped(body: &Value) -> Result<OidcDraft, String> {
        let mut m: Map<String, Value> = body
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| CONFIG_FIELDS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        m.insert("match_by_set".into(), json!(body.get("match_by").is_some_and(|v| !v.is_null())));
        serde_json::from_value(Value::Object(m))
            .map_err(|e| Error::invalid("body", e.to_string()).to_string())
    }

    fn typed(body: &Value) -> Result<OidcDraft, String> {
        let b = create_body(body.clone()).map_err(|e| e.to_string())?;
        settings::<CreateSettings>(&b).map(CreateSettings::into_draft).map_err(|e| e.to_string())
    }

    #[test]
    fn create_settings_read_as_the_untyped_code_did() {
        for body in [
            json!({}),
            json!({"issuer": "https://op", "client_id": "c", "scopes": ["openid", "x"], "jit": false}),
            json!({"issuer": null, "graph_groups_url": null, "ssf_issuer": null, "default_return_to": null}),
            json!({"match_by": "external_id", "allowed_origins": ["https://a"], "tenant_ids": ["t"]}),
            json!({"scopes": "openid"}),
            json!({"scopes": null}),
            json!({"groups_claim": null}),
            json!({"jit": null}),
            json!({"jit": "yes", "scopes": 1}),
            json!({"match_by": "phone"}),
            json!({"match_by": null}),
            json!({"logout_issuer": 7}),
            json!({"allowed_origins": [1], "issuer": 2}),
            json!({"ssf_poll_url": false, "client_id": []}),
            json!({"tenant_ids": {}, "jit": 1.5}),
            json!({"scopes": 1, "client_id": 2}),
            json!({"jit": 1, "allowed_origins": 2}),
            json!({"tenant_ids": 1, "groups_claim": 2}),
            json!({"ssf_poll_url": 1, "default_return_to": 2}),
        ] {
            assert_eq!(typed(&body), untyped(&body), "{body}");
        }
    }

    /// A PATCH as the untyped code read it: the body merged into the stored
    /// settings as JSON maps (`null` removes), then deserialised.
    fn untyped_patch(current: &OidcDraft, body: &Value) -> Result<OidcDraft, String> {
        let Value::Object(mut fields) = serde_json::to_value(current).unwrap() else { unreachable!() };
        for (k, v) in body.as_object().unwrap().iter().filter(|(k, _)| CONFIG_FIELDS.contains(&k.as_str())) {
            if v.is_null() && ["issuer", "client_id"].contains(&k.as_str()) {
                return Err(Error::invalid(k.clone(), "cannot be removed (delete the connection instead)")
                    .to_string());
            }
            if v.is_null() {
                fields.remove(k);
            } else {
                fields.insert(k.clone(), v.clone());
            }
        }
        if let Some(v) = body.get("match_by") {
            fields.insert("match_by_set".into(), json!(!v.is_null()));
        }
        serde_json::from_value(Value::Object(fields))
            .map_err(|e| Error::invalid("body", e.to_string()).to_string())
    }

    fn typed_patch(current: &OidcDraft, body: &Value) -> Result<OidcDraft, String> {
        let b = patch_body(body.clone()).map_err(|e| e.to_string())?;
        refuse_removal(&b).map_err(|e| e.to_string())?;
        settings::<PatchSettings>(&b).map(|p| p.apply(current)).map_err(|e| e.to_string())
    }

    #[test]
    fn patch_settings_read_as_the_untyped_code_did() {
        let stored = [
            OidcDraft::default(),
            serde_json::from_value(
                json!({"issuer": "https://op", "client_id": "c", "scopes": ["openid", "x"],
                "groups_claim": "roles", "tenant_ids": ["t"], "graph_groups_url": "https://g",
                "post_logout_redirect_uri": "https://p", "match_by_set": false, "jit": false,
                "match_by": "user_name", "allowed_origins": ["https://a"], "default_return_to": "/x",
                "ssf_issuer": "https://t", "ssf_jwks_uri": "https://t/j", "ssf_poll_token_sealed": "s",
                "logout_issuer": "https://l"}),
            )
            .unwrap(),
        ];
        let all_null: Map<String, Value> = CONFIG_FIELDS
            .iter()
            .filter(|k| !["issuer", "client_id"].contains(k))
            .map(|k| (k.to_string(), Value::Null))
            .collect();
        for current in &stored {
            for body in [
                json!({}),
                Value::Object(all_null.clone()),
                json!({"issuer": "https://op2", "client_id": "d", "scopes": ["openid"], "jit": true}),
                json!({"match_by": null}),
                json!({"match_by": "external_id", "tenant_ids": null, "ssf_issuer": null}),
                json!({"issuer": null, "client_id": null}),
                json!({"scopes": 1, "client_id": null}),
                json!({"graph_groups_url": 5, "issuer": null}),
                json!({"scopes": 1, "client_id": 2}),
                json!({"jit": 1, "allowed_origins": 2}),
                json!({"tenant_ids": 1, "groups_claim": 2}),
                json!({"logout_issuer": 7, "match_by": "phone"}),
            ] {
                assert_eq!(typed_patch(current, &body), untyped_patch(current, &body), "{body}");
            }
        }
    }

    #[test]
    fn patch_settings_null_is_the_default_and_absent_keeps() {
        let current = CreateSettings {
            issuer: Some("https://op".into()),
            scopes: Some(vec!["openid".into(), "x".into()]),
            jit: Some(false),
            match_by: Some(MatchBy::UserName),
            ssf_issuer: Some("https://t".into()),
            ..Default::default()
        }
        .into_draft();
        let b =
            patch_body(json!({"scopes": null, "jit": null, "ssf_issuer": null, "client_id": "c"})).unwrap();
        let d = settings::<PatchSettings>(&b).unwrap().apply(&current);
        assert_eq!(d.scopes, OidcDraft::default().scopes);
        assert!(d.login.jit);
        assert_eq!(d.login.ssf_issuer, None);
        assert_eq!((d.issuer.as_deref(), d.client_id.as_deref()), (Some("https://op"), Some("c")));
        assert_eq!((d.login.match_by, d.match_by_set), (MatchBy::UserName, true), "absent keeps");
        let b = patch_body(json!({"match_by": null})).unwrap();
        let d = settings::<PatchSettings>(&b).unwrap().apply(&current);
        assert_eq!((d.login.match_by, d.match_by_set), (MatchBy::Email, false), "null: not chosen");
        let e = settings::<PatchSettings>(&patch_body(json!({"tenant_ids": "x", "jit": 1})).unwrap())
            .unwrap_err();
        assert_eq!(e.to_string(), "body: invalid type: string \"x\", expected a sequence");
    }

    #[test]
    fn name_and_secret() {
        let b = create_body(json!({"name": " Okta ", "client_secret": "s3"})).unwrap();
        assert_eq!(part::<NameField>(&b).unwrap().name, Some(OidcName("Okta".into())));
        assert_eq!(part::<SecretField>(&b).unwrap().client_secret.unwrap().expose(), "s3");
        let b = create_body(json!({})).unwrap();
        assert!(part::<NameField>(&b).unwrap().name.is_none());
        assert!(part::<SecretField>(&b).unwrap().client_secret.is_none());
        for (body, err) in [
            (json!({"name": null}), "name: must be 1-200 characters"),
            (json!({"name": " "}), "name: must be 1-200 characters"),
            (json!({"client_secret": null}), "client_secret: must be a non-empty string"),
            (json!({"client_secret": "a\nb"}), "client_secret: must be a non-empty string"),
        ] {
            let b = create_body(body.clone()).unwrap();
            let e = part::<NameField>(&b).and(part::<SecretField>(&b).map(|_| ())).unwrap_err();
            assert_eq!(e.to_string(), err, "{body}");
        }
    }
}
