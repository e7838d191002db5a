//! Where a user row came from (`users.origin`): who vouches for the user.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a user row came from (`users.origin`); serialized as the stored lowercase string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Provisioned by the org's SCIM client.
    Scim,
    /// Created just in time by a login through one of the org's connections.
    Sso,
    /// Created by an operator (a project collaborator added by email).
    Manual,
}

/// A `users.origin` value this code does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown user origin {value:?}")]
pub struct UnknownOrigin {
    /// The stored value.
    pub value: String,
}

impl Origin {
    /// Parse a stored origin.
    pub fn parse(value: &str) -> Result<Origin, UnknownOrigin> {
        match value {
            "scim" => Ok(Origin::Scim),
            "sso" => Ok(Origin::Sso),
            "manual" => Ok(Origin::Manual),
            other => Err(UnknownOrigin { value: other.to_owned() }),
        }
    }

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Scim => "scim",
            Origin::Sso => "sso",
            Origin::Manual => "manual",
        }
    }

    /// Whether the org's IdP vouches for the user (the mapping applies to them at all).
    pub fn vouched(self) -> bool {
        !matches!(self, Origin::Manual)
    }
}

impl FromStr for Origin {
    type Err = UnknownOrigin;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Origin::parse(s)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
