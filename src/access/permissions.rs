//! The roles-and-permissions matrix: what an org or project role may do, in one static
//! table ([`matrix`]) that docs/roles.md mirrors row for row (a test keeps them equal).
//!
//! A user's rights on a project are the union of the columns their roles give them:
//! org admin (which acts as project admin on every project of the org), org member,
//! project admin and project member. A collaborator external to the org (org role `None`)
//! has only their project role's column, on that project, and nothing at org level.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use super::mapping::Role;

/// Something a user may try to do in an org or on one of its projects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    OrgRead,
    OrgMembersManage,
    /// SSO connections, SCIM tokens and the mapping document.
    OrgSsoManage,
    ProjectCreate,
    ProjectRead,
    ProjectCollaboratorsManage,
    ProjectDelete,
    ClustersCreate,
    ClustersUse,
    ClustersDelete,
    ModelsCreate,
    ModelsUse,
    ModelsDelete,
    EndpointsCreate,
    EndpointsUse,
    EndpointsDelete,
    EvaluationsCreate,
    EvaluationsUse,
    EvaluationsDelete,
    FilesCreate,
    FilesUse,
    FilesDelete,
    ApiKeysManageOwn,
    ApiKeysManageAll,
}

impl Action {
    /// The action id, as in docs/roles.md and in logs: `org.read`, `clusters.delete`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Action::OrgRead => "org.read",
            Action::OrgMembersManage => "org.members.manage",
            Action::OrgSsoManage => "org.sso.manage",
            Action::ProjectCreate => "project.create",
            Action::ProjectRead => "project.read",
            Action::ProjectCollaboratorsManage => "project.collaborators.manage",
            Action::ProjectDelete => "project.delete",
            Action::ClustersCreate => "clusters.create",
            Action::ClustersUse => "clusters.use",
            Action::ClustersDelete => "clusters.delete",
            Action::ModelsCreate => "models.create",
            Action::ModelsUse => "models.use",
            Action::ModelsDelete => "models.delete",
            Action::EndpointsCreate => "endpoints.create",
            Action::EndpointsUse => "endpoints.use",
            Action::EndpointsDelete => "endpoints.delete",
            Action::EvaluationsCreate => "evaluations.create",
            Action::EvaluationsUse => "evaluations.use",
            Action::EvaluationsDelete => "evaluations.delete",
            Action::FilesCreate => "files.create",
            Action::FilesUse => "files.use",
            Action::FilesDelete => "files.delete",
            Action::ApiKeysManageOwn => "api_keys.manage_own",
            Action::ApiKeysManageAll => "api_keys.manage_all",
        }
    }
}

impl Action {
    /// Whether the action is about one project (so a check must name an existing project):
    /// every action but reading the org, managing its members and SSO, and creating projects.
    pub fn is_project_scoped(self) -> bool {
        !matches!(
            self,
            Action::OrgRead | Action::OrgMembersManage | Action::OrgSsoManage | Action::ProjectCreate
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// An action id that is not in the matrix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action `{value}`")]
pub struct UnknownAction {
    /// The string as given.
    pub value: String,
}

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MATRIX
            .iter()
            .map(|(action, _)| *action)
            .find(|action| action.as_str() == s)
            .ok_or_else(|| UnknownAction { value: s.to_owned() })
    }
}

/// Column names of [`matrix`], in order; also the `role` of an allowing [`Decision`].
pub const COLUMNS: [&str; 4] = ["org_admin", "org_member", "project_admin", "project_member"];
const ORG_ADMIN: usize = 0;
const ORG_MEMBER: usize = 1;
const PROJECT_ADMIN: usize = 2;
const PROJECT_MEMBER: usize = 3;

const Y: bool = true;
const N: bool = false;

/// The matrix, one row per action in declaration order. Columns: org admin, org member,
/// project admin, project member. Project columns apply to the project in question only.
static MATRIX: [(Action, [bool; 4]); 24] = [
    (Action::OrgRead, [Y, Y, N, N]),
    (Action::OrgMembersManage, [Y, N, N, N]),
    (Action::OrgSsoManage, [Y, N, N, N]),
    // Only org admins create projects; the creator is not made project admin by this table.
    (Action::ProjectCreate, [Y, N, N, N]),
    // An org member sees nothing of a project unless they are a collaborator on it.
    (Action::ProjectRead, [Y, N, Y, Y]),
    (Action::ProjectCollaboratorsManage, [Y, N, Y, N]),
    (Action::ProjectDelete, [Y, N, Y, N]),
    (Action::ClustersCreate, [Y, N, Y, Y]),
    (Action::ClustersUse, [Y, N, Y, Y]),
    (Action::ClustersDelete, [Y, N, Y, N]),
    (Action::ModelsCreate, [Y, N, Y, Y]),
    (Action::ModelsUse, [Y, N, Y, Y]),
    (Action::ModelsDelete, [Y, N, Y, N]),
    (Action::EndpointsCreate, [Y, N, Y, Y]),
    (Action::EndpointsUse, [Y, N, Y, Y]),
    (Action::EndpointsDelete, [Y, N, Y, N]),
    (Action::EvaluationsCreate, [Y, N, Y, Y]),
    (Action::EvaluationsUse, [Y, N, Y, Y]),
    (Action::EvaluationsDelete, [Y, N, Y, Y]),
    (Action::FilesCreate, [Y, N, Y, Y]),
    (Action::FilesUse, [Y, N, Y, Y]),
    (Action::FilesDelete, [Y, N, Y, Y]),
    (Action::ApiKeysManageOwn, [Y, N, Y, Y]),
    (Action::ApiKeysManageAll, [Y, N, Y, N]),
];

/// The whole matrix: `(action, [org_admin, org_member, project_admin, project_member])`.
pub fn matrix() -> &'static [(Action, [bool; 4])] {
    &MATRIX
}

/// The answer of [`check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the action is allowed.
    pub allow: bool,
    /// The column that allowed it (`org_admin`, `project_admin`, `project_member`,
    /// `org_member`); `None` when denied.
    pub role: Option<&'static str>,
    /// A sentence for logs and error messages.
    pub reason: String,
}

/// May a user with these roles do `action`? `project_role` is the user's role on the
/// project the action is about (`None` for org-level actions or when not a collaborator);
/// the caller must have checked that the project belongs to the org of `org_role`.
pub fn check(org_role: Option<Role>, project_role: Option<Role>, action: Action) -> Decision {
    // Rows are in declaration order; a missing or misplaced row denies.
    let row = MATRIX.get(action as usize).filter(|(a, _)| *a == action).map(|(_, row)| row);
    let Some(row) = row else {
        return Decision { allow: false, role: None, reason: format!("`{action}` is not in the matrix") };
    };
    let org_admin = org_role == Some(Role::Admin);
    // A higher role holds the columns of the lower ones; an org admin acts as project admin
    // on every project of the org. Columns are tried from the most to the least specific
    // grant so that `role` names the strongest reason.
    let held = [
        (ORG_ADMIN, org_admin),
        (PROJECT_ADMIN, org_admin || project_role == Some(Role::Admin)),
        (PROJECT_MEMBER, org_admin || project_role.is_some()),
        (ORG_MEMBER, org_role.is_some()),
    ];
    if let Some(&(column, _)) = held.iter().find(|(column, holds)| *holds && row[*column]) {
        let role = COLUMNS[column];
        return Decision { allow: true, role: Some(role), reason: format!("{role} may {action}") };
    }
    let needed: Vec<&str> =
        COLUMNS.iter().zip(row).filter(|(_, allowed)| **allowed).map(|(c, _)| *c).collect();
    let show = |role: Option<Role>| role.map_or("none", Role::as_str);
    let reason = format!(
        "{action} needs one of [{}]; org role: {}, project role: {}",
        needed.join(", "),
        show(org_role),
        show(project_role)
    );
    Decision { allow: false, role: None, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "| action | org admin | org member | project admin | project member |";

    fn allowed(org: Option<Role>, project: Option<Role>, action: Action) -> Option<&'static str> {
        let decision = check(org, project, action);
        assert_eq!(decision.allow, decision.role.is_some(), "{decision:?}");
        decision.role
    }

    #[test]
    fn docs_roles_md_mirrors_the_matrix() {
        let doc = include_str!("../../docs/roles.md");
        let mut lines = doc.lines().skip_while(|line| line.trim() != HEADER).skip(1);
        assert!(lines.next().is_some_and(|sep| sep.starts_with("|---")), "table header not found");
        let mut documented = Vec::new();
        for line in lines.take_while(|line| line.starts_with('|')) {
            let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 5, "{line}");
            let action: Action = cells[0].trim_matches('`').parse().unwrap();
            let (_, row) = matrix().iter().find(|(a, _)| *a == action).unwrap();
            let expected = row.map(|allowed| if allowed { "yes" } else { "no" });
            assert_eq!(cells[1..], expected, "{line}");
            documented.push(action);
        }
        let table: Vec<Action> = matrix().iter().map(|(action, _)| *action).collect();
        assert_eq!(documented, table, "one row per action, in matrix order");
    }

    #[test]
    fn matrix_rows_are_in_declaration_order_and_ids_round_trip() {
        for (index, (action, _)) in matrix().iter().enumerate() {
            assert_eq!(*action as usize, index, "{action}");
            assert_eq!(action.as_str().parse::<Action>(), Ok(*action));
        }
        assert_eq!("billing.read".parse::<Action>(), Err(UnknownAction { value: "billing.read".into() }));
        assert_eq!(serde_json::to_value(Action::FilesDelete).unwrap(), "files.delete");
    }

    #[test]
    fn project_scoped_actions_are_those_a_project_role_can_hold() {
        for (action, row) in matrix() {
            assert_eq!(action.is_project_scoped(), row[PROJECT_ADMIN], "{action}");
        }
    }

    #[test]
    fn higher_columns_include_lower_ones() {
        for (action, row) in matrix() {
            assert!(row[ORG_ADMIN], "org admin may do everything: {action}");
            assert!(!row[PROJECT_MEMBER] || row[PROJECT_ADMIN], "project admin ⊇ member: {action}");
        }
    }

    #[test]
    fn org_admin_acts_as_project_admin_everywhere() {
        let admin = Some(Role::Admin);
        assert_eq!(allowed(admin, None, Action::ClustersDelete), Some("org_admin"));
        assert_eq!(allowed(admin, Some(Role::Member), Action::ProjectCollaboratorsManage), Some("org_admin"));
        assert_eq!(allowed(admin, None, Action::OrgSsoManage), Some("org_admin"));
    }

    #[test]
    fn org_member_without_a_project_role_sees_no_project() {
        let member = Some(Role::Member);
        assert_eq!(allowed(member, None, Action::OrgRead), Some("org_member"));
        assert_eq!(allowed(member, None, Action::ProjectCreate), None);
        assert_eq!(allowed(member, None, Action::ProjectRead), None);
        assert_eq!(allowed(member, None, Action::OrgMembersManage), None);
        let denied = check(member, None, Action::ProjectRead);
        let reason = "project.read needs one of [org_admin, project_admin, project_member]; \
                      org role: member, project role: none";
        assert_eq!(denied, Decision { allow: false, role: None, reason: reason.into() });
    }

    #[test]
    fn project_member_uses_resources_but_deletes_only_files_and_evaluations() {
        let (org, project) = (Some(Role::Member), Some(Role::Member));
        assert_eq!(allowed(org, project, Action::ModelsCreate), Some("project_member"));
        assert_eq!(allowed(org, project, Action::EndpointsUse), Some("project_member"));
        assert_eq!(allowed(org, project, Action::FilesDelete), Some("project_member"));
        assert_eq!(allowed(org, project, Action::EvaluationsDelete), Some("project_member"));
        assert_eq!(allowed(org, project, Action::ClustersDelete), None);
        assert_eq!(allowed(org, project, Action::ApiKeysManageOwn), Some("project_member"));
        assert_eq!(allowed(org, project, Action::ApiKeysManageAll), None);
        assert_eq!(allowed(org, project, Action::ProjectDelete), None);
        assert_eq!(allowed(org, project, Action::OrgRead), Some("org_member"));
    }

    #[test]
    fn project_admin_manages_the_project_only() {
        let (org, project) = (Some(Role::Member), Some(Role::Admin));
        assert_eq!(allowed(org, project, Action::ProjectDelete), Some("project_admin"));
        assert_eq!(allowed(org, project, Action::ModelsDelete), Some("project_admin"));
        assert_eq!(allowed(org, project, Action::ApiKeysManageAll), Some("project_admin"));
        assert_eq!(allowed(org, project, Action::OrgMembersManage), None);
        assert_eq!(allowed(org, project, Action::ProjectCreate), None);
    }

    #[test]
    fn external_collaborators_have_their_project_role_and_nothing_at_org_level() {
        assert_eq!(allowed(None, Some(Role::Member), Action::FilesCreate), Some("project_member"));
        assert_eq!(allowed(None, Some(Role::Member), Action::ClustersDelete), None);
        assert_eq!(
            allowed(None, Some(Role::Admin), Action::ProjectCollaboratorsManage),
            Some("project_admin")
        );
        assert_eq!(allowed(None, Some(Role::Admin), Action::OrgRead), None);
        assert_eq!(allowed(None, Some(Role::Admin), Action::ProjectCreate), None);
        for (action, _) in matrix() {
            assert_eq!(allowed(None, None, *action), None, "{action}");
        }
    }
}
