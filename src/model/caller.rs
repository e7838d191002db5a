//! Who is behind an authenticated request: the caller identity a live session
//! resolves to, with the caller's current roles. Plain data: `session::authenticate`
//! builds it, access (API keys, authz checks) reads it, so access need not know
//! sessions.

use super::{Role, User};

/// Who is behind a live session, with their current roles.
#[derive(Debug, Clone)]
pub struct SessionContext {
    pub jti: String,
    pub user: User,
    pub org_id: String,
    pub org_slug: String,
    pub org_role: Option<Role>,
    /// (project id, slug, effective role), by slug; org admins get every project as admin.
    pub projects: Vec<(String, String, Role)>,
}

impl SessionContext {
    /// The caller's role on the project with slug `project`, if any.
    pub fn project_role(&self, project: &str) -> Option<Role> {
        self.projects.iter().find(|(_, slug, _)| slug == project).map(|(_, _, r)| *r)
    }
}
