//! Typed admin request bodies of connections, the parts both kinds share:
//! `Body` (a JSON object whose every field belongs to one of the kind's typed
//! parts, else refused), `Body::part` (one typed part, read in the order its
//! struct declares its fields, each refusal naming its field), `Patch` (a
//! PATCH field: absent, `null` or a value), the `kind` field and the
//! write-only poll token. The field set of a kind is its structs' fields,
//! read from their `Deserialize` impls (`field_names`): no list kept by hand.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::model::ConnectionKind;

/// A field of a PATCH body: left out (keep), `null` (clear) or a new value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Absent fields never reach here (`#[serde(default)]` gives `Absent`).
        Ok(match Option::<T>::deserialize(d)? {
            None => Patch::Null,
            Some(v) => Patch::Value(v),
        })
    }
}

impl<T> Patch<T> {
    /// `None` when absent, else the new value (`None` for `null`).
    pub fn given(self) -> Option<Option<T>> {
        match self {
            Patch::Absent => None,
            Patch::Null => Some(None),
            Patch::Value(v) => Some(Some(v)),
        }
    }
}

/// `deserialize_with` for an `Option<T>` field whose `null` is read as a `T`
/// (refused by most `T`): absent is `None`, anything given is `T`'s.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Why a part of a body did not deserialise: the field (when one is to
/// blame) and serde's or the field type's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: Option<&'static str>,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}

impl de::Error for FieldError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        FieldError { field: None, message: msg.to_string() }
    }
}

impl FieldError {
    /// The refusal naming the field (`body` when none is to blame).
    pub fn by_field(self) -> Error {
        Error::invalid(self.field.unwrap_or("body"), self.message)
    }

    /// The refusal naming the body as a whole, with the message only.
    pub fn as_body(self) -> Error {
        Error::invalid("body", self.message)
    }
}

/// The fields a struct's `Deserialize` asks for, in declaration order.
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut names: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut names));
    names
}

struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, FieldError> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, FieldError> {
        *self.0 = fields;
        Err(de::Error::custom("names read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// A body checked to be a JSON object with known fields only.
#[derive(Clone, Debug)]
pub struct Body {
    map: Map<String, Value>,
}

impl Body {
    /// Check that `body` is an object and that each of its fields belongs to
    /// one of `parts` (else `{field, unknown}`: the first one, by name).
    pub fn new(body: Value, parts: &[&[&str]], unknown: &str) -> Result<Body, Error> {
        let Value::Object(map) = body else { return Err(Error::invalid("body", "must be a JSON object")) };
        if let Some(k) = map.keys().find(|k| !parts.iter().any(|p| p.contains(&k.as_str()))) {
            return Err(Error::invalid(k.clone(), unknown));
        }
        Ok(Body { map })
    }

    /// Whether `field` is given as `null`.
    pub fn is_null(&self, field: &str) -> bool {
        self.map.get(field).is_some_and(Value::is_null)
    }

    /// Read the part `T` of the body: its fields in the order `T` declares
    /// them, the first refused one named in the error.
    pub fn part<T: DeserializeOwned>(&self) -> Result<T, FieldError> {
        T::deserialize(Ordered(&self.map))
    }
}

/// Read part `T` of `body`, a refusal naming its field (both kinds' name,
/// secret, poll-token and SAML parts).
pub fn part<T: DeserializeOwned>(body: &Body) -> Result<T, Error> {
    body.part::<T>().map_err(FieldError::by_field)
}

/// A deserialiser of one struct from a body's map, field by field in the
/// struct's own order, each value's error tagged with its field.
struct Ordered<'a>(&'a Map<String, Value>);

impl<'de> Deserializer<'de> for Ordered<'_> {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, FieldError> {
        Err(de::Error::custom("a body part is a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        visitor.visit_map(OrderedFields { map: self.0, fields: fields.iter(), current: None })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

struct OrderedFields<'a> {
    map: &'a Map<String, Value>,
    fields: std::slice::Iter<'static, &'static str>,
    current: Option<(&'static str, &'a Value)>,
}

impl<'de> MapAccess<'de> for OrderedFields<'_> {
    type Error = FieldError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, FieldError> {
        for f in self.fields.by_ref() {
            if let Some(v) = self.map.get(*f) {
                self.current = Some((f, v));
                return seed.deserialize((*f).into_deserializer()).map(Some);
            }
        }
        Ok(None)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, FieldError> {
        let (field, value) = self.current.take().ok_or_else(|| de::Error::custom("value before key"))?;
        seed.deserialize(value.clone())
            .map_err(|e: serde_json::Error| FieldError { field: Some(field), message: e.to_string() })
    }
}

/// The `kind` a body names, whatever it is (a PATCH may not change it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestedKind {
    Known(ConnectionKind),
    /// `null`, another string or another type.
    Other,
}

impl<'de> Deserialize<'de> for RequestedKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => ConnectionKind::parse(&s).map_or(RequestedKind::Other, RequestedKind::Known),
            _ => RequestedKind::Other,
        })
    }
}

/// The `kind` part of a body.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindField {
    #[serde(default, deserialize_with = "present")]
    pub kind: Option<RequestedKind>,
}

impl KindField {
    /// Refuse a `kind` other than the connection's own.
    pub fn unchanged(&self, own: ConnectionKind) -> Result<(), Error> {
        match self.kind {
            None => Ok(()),
            Some(RequestedKind::Known(k)) if k == own => Ok(()),
            Some(_) => Err(Error::invalid("kind", "the kind of a connection cannot change")),
        }
    }
}

/// Longest poll token accepted.
const MAX_POLL_TOKEN_LEN: usize = 4096;

/// An RFC 8936 poll token as given (write-only): 1-4096 printable
/// characters without spaces.
#[derive(Clone, PartialEq, Eq)]
pub struct PollToken(String);

impl fmt::Debug for PollToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PollToken(..)")
    }
}

impl PollToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for PollToken {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(t)
                if !t.is_empty()
                    && t.len() <= MAX_POLL_TOKEN_LEN
                    && !t.chars().any(|c| c.is_control() || c.is_whitespace()) =>
            {
                Ok(PollToken(t))
            }
            _ => Err(de::Error::custom(format!(
                "must be 1-{MAX_POLL_TOKEN_LEN} printable characters without spaces, or null"
            ))),
        }
    }
}

/// The write-only poll token part of a body (`null` clears the stored one).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollTokenField {
    #[serde(default)]
    pub ssf_poll_token: Patch<PollToken>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    struct Part {
        #[serde(default)]
        b: Patch<bool>,
        #[serde(default)]
        a: Option<String>,
    }

    fn body(v: Value) -> Body {
        Body::new(v, &[field_names::<Part>()], "unknown field").unwrap()
    }

    #[test]
    fn the_fields_are_the_structs() {
        assert_eq!(field_names::<Part>(), ["b", "a"]);
        assert_eq!(field_names::<PollTokenField>(), ["ssf_poll_token"]);
        let e = Body::new(json!({"z": 1, "y": 2, "a": "x"}), &[field_names::<Part>()], "nope").unwrap_err();
        assert_eq!(e.to_string(), "y: nope");
        let e = Body::new(json!([1]), &[field_names::<Part>()], "nope").unwrap_err();
        assert_eq!(e.to_string(), "body: must be a JSON object");
    }

    #[test]
    fn a_part_is_read_in_its_own_order_and_null_is_not_absent() {
        let p: Part = body(json!({"a": "x"})).part().unwrap();
        assert_eq!(p, Part { b: Patch::Absent, a: Some("x".into()) });
        let p: Part = body(json!({"b": null, "a": null})).part().unwrap();
        assert_eq!(p, Part { b: Patch::Null, a: None });
        assert_eq!(body(json!({"b": true})).part::<Part>().unwrap().b, Patch::Value(true));
        // `b` is declared first: its error wins although `a` sorts first.
        let e = body(json!({"a": 1, "b": "x"})).part::<Part>().unwrap_err();
        assert_eq!(e.field, Some("b"));
        assert_eq!(e.message, "invalid type: string \"x\", expected a boolean");
        assert_eq!(e.by_field().to_string(), "b: invalid type: string \"x\", expected a boolean");
    }

    #[test]
    fn the_kind_and_the_poll_token() {
        let k =
            |v: Value| Body::new(v, &[field_names::<KindField>()], "u").unwrap().part::<KindField>().unwrap();
        assert!(k(json!({})).unchanged(ConnectionKind::Saml).is_ok());
        assert!(k(json!({"kind": "saml"})).unchanged(ConnectionKind::Saml).is_ok());
        for bad in [json!("oidc"), json!(null), json!(5), json!("SAML")] {
            let e = k(json!({ "kind": bad })).unchanged(ConnectionKind::Saml).unwrap_err();
            assert_eq!(e.to_string(), "kind: the kind of a connection cannot change");
        }
        let t = |v: Value| {
            Body::new(json!({ "ssf_poll_token": v }), &[field_names::<PollTokenField>()], "u")
                .unwrap()
                .part::<PollTokenField>()
        };
        assert_eq!(t(json!("tok")).unwrap().ssf_poll_token, Patch::Value(PollToken("tok".into())));
        assert_eq!(t(json!(null)).unwrap().ssf_poll_token, Patch::Null);
        for bad in [json!(""), json!("a b"), json!(7), json!("x".repeat(MAX_POLL_TOKEN_LEN + 1))] {
            let e = t(bad).unwrap_err().by_field();
            assert_eq!(
                e.to_string(),
                "ssf_poll_token: must be 1-4096 printable characters without spaces, or null"
            );
        }
    }
}
