//! What an authorization check is about. `permissions::check` decides from roles alone and
//! trusts its caller that the project belongs to the org; this is that caller's check. A
//! project-scoped action must name a project, and a named project must be a project of the
//! credential's org under exactly that slug (slugs are `[a-z0-9-]`: `Research` is not
//! `research`). Anything else is denied, never widened to "the whole org" — otherwise an
//! org admin would be allowed on a project that does not exist, and an API key on "no
//! project in particular".

use super::permissions::Action;
use crate::directory::Project;
use crate::error::Error;
use crate::store::{self, Tx};

/// Why a check was denied before roles were looked at.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    /// A project-scoped action came without a project.
    #[error("{action} is about one project: the request must name it in `project`")]
    MissingProject {
        /// The action asked about.
        action: Action,
    },
    /// The named project is not a project of the org (compared exactly).
    #[error("project {project:?} does not exist in org {org:?}")]
    UnknownProject {
        /// The org of the credential.
        org: String,
        /// The project as named in the request.
        project: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] Error),
}

impl ScopeError {
    /// The reason code that is logged and counted.
    pub fn reason(&self) -> &'static str {
        match self {
            ScopeError::MissingProject { .. } => "missing_project",
            ScopeError::UnknownProject { .. } => "unknown_project",
            ScopeError::Store(_) => "internal",
        }
    }
}

/// The project the check is about (`None`: an org-level action naming none).
pub fn resolve(
    conn: &Tx<'_>,
    org_id: &str,
    org_slug: &str,
    project: Option<&str>,
    action: Action,
) -> Result<Option<Project>, ScopeError> {
    let Some(slug) = project else {
        if action.is_project_scoped() {
            return Err(ScopeError::MissingProject { action });
        }
        return Ok(None);
    };
    // Exact, case-sensitive comparison in the store (`slug = ?`): no folding, no trimming.
    match store::orgs::project_by_slug(conn, org_id, slug).map_err(Error::from)? {
        Some(p) => Ok(Some(p)),
        None => Err(ScopeError::UnknownProject { org: org_slug.to_owned(), project: slug.to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::orgs::new_id;
    use crate::directory::{Org, Project};

    fn db() -> (store::MemoryDb, String) {
        let mem = store::MemoryDb::new();
        let conn = mem.tx();
        let org =
            Org { id: new_id().into(), slug: "acme".into(), name: "Acme".into(), created_at: "t".into() };
        store::orgs::insert_org(&conn, &org).unwrap();
        let p = Project {
            id: new_id().into(),
            org_id: org.id.clone(),
            slug: "research".into(),
            name: "R".into(),
            created_at: "t".into(),
        };
        store::orgs::insert_project(&conn, &p).unwrap();
        (mem, org.id.into())
    }

    #[test]
    fn a_named_project_must_exist_exactly() {
        let (mem, org) = db();
        let conn = mem.tx();
        let found = resolve(&conn, &org, "acme", Some("research"), Action::ModelsUse).unwrap();
        assert_eq!(found.map(|p| p.slug).as_deref(), Some("research"));
        for bad in ["Research", "research ", "nope", ""] {
            let e = resolve(&conn, &org, "acme", Some(bad), Action::OrgRead).unwrap_err();
            assert_eq!(e.reason(), "unknown_project", "{bad:?}");
        }
    }

    #[test]
    fn a_project_scoped_action_needs_a_project() {
        let (mem, org) = db();
        let conn = mem.tx();
        let e = resolve(&conn, &org, "acme", None, Action::ModelsUse).unwrap_err();
        assert!(matches!(e, ScopeError::MissingProject { action: Action::ModelsUse }), "{e}");
        assert!(resolve(&conn, &org, "acme", None, Action::OrgRead).unwrap().is_none());
        assert!(resolve(&conn, &org, "acme", None, Action::ProjectCreate).unwrap().is_none());
    }
}
