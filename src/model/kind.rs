//! The kind of an SSO connection (`connections.kind`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The protocol of an SSO connection; serialized as the stored `saml` or `oidc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionKind {
    /// SAML 2.0 (Web Browser SSO profile).
    Saml,
    /// OpenID Connect (authorization code flow).
    Oidc,
}

/// A `connections.kind` value this code does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown connection kind {value:?}")]
pub struct UnknownConnectionKind {
    /// The value as given.
    pub value: String,
}

impl ConnectionKind {
    /// Parse a stored (or requested) kind.
    pub fn parse(value: &str) -> Result<ConnectionKind, UnknownConnectionKind> {
        match value {
            "saml" => Ok(ConnectionKind::Saml),
            "oidc" => Ok(ConnectionKind::Oidc),
            other => Err(UnknownConnectionKind { value: other.to_owned() }),
        }
    }

    /// The stored and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionKind::Saml => "saml",
            ConnectionKind::Oidc => "oidc",
        }
    }
}

impl FromStr for ConnectionKind {
    type Err = UnknownConnectionKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConnectionKind::parse(s)
    }
}

impl fmt::Display for ConnectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ConnectionKind;

    #[test]
    fn kinds_round_trip_as_the_stored_strings() {
        for (k, s) in [(ConnectionKind::Saml, "saml"), (ConnectionKind::Oidc, "oidc")] {
            assert_eq!(k.as_str(), s);
            assert_eq!(ConnectionKind::parse(s), Ok(k));
            assert_eq!(serde_json::to_value(k).unwrap(), serde_json::json!(s));
        }
        assert!(ConnectionKind::parse("SAML").is_err());
    }
}
