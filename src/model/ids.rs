//! Typed ids of the model's aggregates: each a newtype over the stored TEXT id,
//! serialized as the bare string. They deref to `str`, so `&org.id` still goes
//! where a `&str` is expected.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use rand::RngCore;
use serde::{Deserialize, Serialize};

/// A new random id: 16 random bytes, lowercase hex (32 characters), the format
/// of every id idbridge makes (`directory::orgs::new_id`).
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// An id as stored or as given (not checked).
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            /// A new random id (`random_id`).
            pub fn generate() -> Self {
                $name(random_id())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_owned())
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> String {
                id.0.clone()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

id_type!(
    /// `orgs.id`.
    OrgId
);
id_type!(
    /// `projects.id`.
    ProjectId
);
id_type!(
    /// `users.id`.
    UserId
);
id_type!(
    /// `connections.id`.
    ConnectionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_and_serialize_as_their_string() {
        let id = OrgId::new("abc");
        let s: &str = &id;
        assert_eq!(s, "abc");
        assert_eq!(id, "abc");
        assert_eq!(id, String::from("abc"));
        assert_eq!(id.to_string(), "abc");
        assert_eq!(serde_json::to_value(&id).unwrap(), serde_json::json!("abc"));
        let back: UserId = serde_json::from_str("\"u1\"").unwrap();
        assert_eq!(back.as_str(), "u1");
        let mut set = std::collections::HashSet::new();
        set.insert(ConnectionId::new("c"));
        assert!(set.contains("c"), "Borrow<str> agrees with Hash");
    }

    #[test]
    fn generated_ids_keep_the_format() {
        let id = ProjectId::generate();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(id, ProjectId::generate());
    }
}
