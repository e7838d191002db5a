//! Plain data: what the store returns and the surfaces render.

use serde::{Deserialize, Serialize};

use super::{OrgId, Origin, ProjectId, Role, UserId};

/// Who owns a grant: the mapping engine or the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantSource {
    Mapping,
    Manual,
}

impl GrantSource {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantSource::Mapping => "mapping",
            GrantSource::Manual => "manual",
        }
    }
    pub fn parse(s: &str) -> Option<GrantSource> {
        match s {
            "mapping" => Some(GrantSource::Mapping),
            "manual" => Some(GrantSource::Manual),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Org {
    pub id: OrgId,
    pub slug: String,
    pub name: String,
    pub created_at: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Project {
    pub id: ProjectId,
    #[serde(skip)]
    pub org_id: OrgId,
    pub slug: String,
    pub name: String,
    pub created_at: String,
}

/// A person as one org knows them.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct User {
    pub id: UserId,
    #[serde(skip)]
    pub org_id: OrgId,
    pub origin: Origin,
    pub user_name: String,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
    /// The SCIM resource as stored (JSON, no id/meta/password/groups; `{}`
    /// for a user SCIM never wrote). SCIM's alone: never in admin output.
    #[serde(skip)]
    pub attributes: String,
    /// Bumped by every change: the SCIM `meta.version` / ETag.
    #[serde(skip)]
    pub version: i64,
}

/// One row of `GET /admin/v1/orgs/{org}/members`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Member {
    pub user_id: UserId,
    pub email: Option<String>,
    pub user_name: String,
    /// The effective org role (highest grant), or null when the user holds none.
    pub role: Option<Role>,
    /// Which grant gave `role` (manual wins a tie).
    pub source: Option<GrantSource>,
    /// The user is active and holds an org role.
    pub active: bool,
}

/// One row of `GET /admin/v1/orgs/{org}/projects/{project}/collaborators`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Collaborator {
    pub user_id: UserId,
    pub email: Option<String>,
    pub role: Role,
    pub source: GrantSource,
    /// The user holds no role in the org itself.
    pub external: bool,
    pub active: bool,
}

/// One stored grant with what granted it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct GrantRow {
    /// None for an org grant, the project slug for a project grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub role: Role,
    pub source: GrantSource,
    pub reason: serde_json::Value,
    pub mapping_version: Option<i64>,
    pub created_at: String,
}

/// A SCIM token as listed (never the secret).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ScimTokenInfo {
    pub id: String,
    pub description: String,
    pub prefix: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AuditEvent {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}
