//! Roles in an org or a project, shared by the directory, access and the store.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A role in an org or a project. `Admin > Member` (declaration order gives `Ord`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May use the org or project.
    Member,
    /// May also manage it.
    Admin,
}

impl Role {
    /// The wire and database spelling: `"member"` or `"admin"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role string that is neither `admin` nor `member`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{value}`: expected `admin` or `member`")]
pub struct UnknownRole {
    /// The string as given.
    pub value: String,
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "member" => Ok(Role::Member),
            "admin" => Ok(Role::Admin),
            _ => Err(UnknownRole { value: s.to_owned() }),
        }
    }
}

/// One problem found by the mapping's `validate`, at a path such as `rules[2].projects.research`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationIssue {
    /// Where in the document: `rules`, `rules[2]`, `rules[2].group`, `rules[0].projects.x`.
    pub path: String,
    /// What is wrong, for an operator.
    pub message: String,
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}
