//! Audit events as the crate writes them: a closed list of actions and the event
//! that names one. A foundation module (depends only on `model`); `store::audit`
//! appends these, the audit API reads the stored rows back as plain strings.

use std::fmt;

use serde_json::Value;

/// What an audit event records. `as_str` is the stored `audit_events.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// An operator created an org.
    OrgCreate,
    /// An operator created a project.
    ProjectCreate,
    /// An operator granted a project role to a collaborator.
    ProjectCollaboratorGrant,
    /// An operator revoked a collaborator's project role.
    ProjectCollaboratorRevoke,
    /// An operator activated a user.
    UserActivate,
    /// An operator deactivated a user.
    UserDeactivate,
    /// The org's IdP (SCIM or an SSO login) took over an existing user row.
    UserAdopt,
    /// A SCIM token was created.
    ScimTokenCreate,
    /// A SCIM token was revoked.
    ScimTokenRevoke,
    /// The SCIM client created a user.
    ScimUserCreate,
    /// The SCIM client replaced a user (PUT).
    ScimUserReplace,
    /// The SCIM client patched a user (PATCH).
    ScimUserPatch,
    /// The SCIM client activated a user.
    ScimUserActivate,
    /// The SCIM client deactivated a user.
    ScimUserDeactivate,
    /// The SCIM client deleted a user.
    ScimUserDelete,
    /// The SCIM client created a group.
    ScimGroupCreate,
    /// The SCIM client replaced a group (PUT).
    ScimGroupReplace,
    /// The SCIM client patched a group (PATCH).
    ScimGroupPatch,
    /// The SCIM client deleted a group.
    ScimGroupDelete,
    /// A user's grants changed (reconciliation with the mapping).
    AccessChange,
    /// A user's access was revoked (sessions and API keys ended by reconciliation).
    AccessRevoke,
    /// An operator applied a new mapping version.
    MappingApply,
    /// A user created an API key.
    ApiKeyCreate,
    /// A user revoked an API key.
    ApiKeyRevoke,
    /// An SSO connection was created.
    ConnectionCreate,
    /// An SSO connection was updated.
    ConnectionUpdate,
    /// An SSO connection was deleted.
    ConnectionDelete,
    /// A login of the connection came without the user's groups (groups overage).
    ConnectionGroupsOverage,
    /// A user signed in (a session was created).
    SessionCreate,
    /// A user signed out (OIDC RP-initiated logout).
    SessionLogout,
    /// The IdP ended sessions (OIDC back-channel logout, SAML Single Logout request).
    SessionIdpLogout,
    /// idbridge sent a SAML Single Logout request to the IdP.
    SessionSloRequest,
    /// The IdP answered idbridge's SAML Single Logout request.
    SessionSloResponse,
    /// The IdP ended a user's sessions through Universal Logout.
    SessionUniversalLogout,
    /// A Shared Signals (SSF/CAEP/RISC) event was received.
    SsfEvent,
    /// The session signing key was rotated.
    SigningKeyRotate,
    /// A webhook was created.
    WebhookCreate,
    /// A webhook was deleted.
    WebhookDelete,
    /// A webhook's signing secret was rotated.
    WebhookRotateSecret,
}

impl AuditAction {
    /// Every action, in declaration order.
    pub const ALL: &'static [AuditAction] = &[
        AuditAction::OrgCreate,
        AuditAction::ProjectCreate,
        AuditAction::ProjectCollaboratorGrant,
        AuditAction::ProjectCollaboratorRevoke,
        AuditAction::UserActivate,
        AuditAction::UserDeactivate,
        AuditAction::UserAdopt,
        AuditAction::ScimTokenCreate,
        AuditAction::ScimTokenRevoke,
        AuditAction::ScimUserCreate,
        AuditAction::ScimUserReplace,
        AuditAction::ScimUserPatch,
        AuditAction::ScimUserActivate,
        AuditAction::ScimUserDeactivate,
        AuditAction::ScimUserDelete,
        AuditAction::ScimGroupCreate,
        AuditAction::ScimGroupReplace,
        AuditAction::ScimGroupPatch,
        AuditAction::ScimGroupDelete,
        AuditAction::AccessChange,
        AuditAction::AccessRevoke,
        AuditAction::MappingApply,
        AuditAction::ApiKeyCreate,
        AuditAction::ApiKeyRevoke,
        AuditAction::ConnectionCreate,
        AuditAction::ConnectionUpdate,
        AuditAction::ConnectionDelete,
        AuditAction::ConnectionGroupsOverage,
        AuditAction::SessionCreate,
        AuditAction::SessionLogout,
        AuditAction::SessionIdpLogout,
        AuditAction::SessionSloRequest,
        AuditAction::SessionSloResponse,
        AuditAction::SessionUniversalLogout,
        AuditAction::SsfEvent,
        AuditAction::SigningKeyRotate,
        AuditAction::WebhookCreate,
        AuditAction::WebhookDelete,
        AuditAction::WebhookRotateSecret,
    ];

    /// The stored spelling (`audit_events.action`, the audit API's `action`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::OrgCreate => "org.create",
            AuditAction::ProjectCreate => "project.create",
            AuditAction::ProjectCollaboratorGrant => "project.collaborator.grant",
            AuditAction::ProjectCollaboratorRevoke => "project.collaborator.revoke",
            AuditAction::UserActivate => "user.activate",
            AuditAction::UserDeactivate => "user.deactivate",
            AuditAction::UserAdopt => "user.adopt",
            AuditAction::ScimTokenCreate => "scim_token.create",
            AuditAction::ScimTokenRevoke => "scim_token.revoke",
            AuditAction::ScimUserCreate => "scim.user.create",
            AuditAction::ScimUserReplace => "scim.user.replace",
            AuditAction::ScimUserPatch => "scim.user.patch",
            AuditAction::ScimUserActivate => "scim.user.activate",
            AuditAction::ScimUserDeactivate => "scim.user.deactivate",
            AuditAction::ScimUserDelete => "scim.user.delete",
            AuditAction::ScimGroupCreate => "scim.group.create",
            AuditAction::ScimGroupReplace => "scim.group.replace",
            AuditAction::ScimGroupPatch => "scim.group.patch",
            AuditAction::ScimGroupDelete => "scim.group.delete",
            AuditAction::AccessChange => "access.change",
            AuditAction::AccessRevoke => "access.revoke",
            AuditAction::MappingApply => "mapping.apply",
            AuditAction::ApiKeyCreate => "api_key.create",
            AuditAction::ApiKeyRevoke => "api_key.revoke",
            AuditAction::ConnectionCreate => "connection.create",
            AuditAction::ConnectionUpdate => "connection.update",
            AuditAction::ConnectionDelete => "connection.delete",
            AuditAction::ConnectionGroupsOverage => "connection.groups_overage",
            AuditAction::SessionCreate => "session.create",
            AuditAction::SessionLogout => "session.logout",
            AuditAction::SessionIdpLogout => "session.idp_logout",
            AuditAction::SessionSloRequest => "session.slo_request",
            AuditAction::SessionSloResponse => "session.slo_response",
            AuditAction::SessionUniversalLogout => "session.universal_logout",
            AuditAction::SsfEvent => "ssf.event",
            AuditAction::SigningKeyRotate => "signing_key.rotate",
            AuditAction::WebhookCreate => "webhook.create",
            AuditAction::WebhookDelete => "webhook.delete",
            AuditAction::WebhookRotateSecret => "webhook.rotate_secret",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit event to append (`store::audit::append`), in the transaction of its change.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// The org it concerns; `None` for an installation-wide event (signing keys).
    pub org_id: Option<&'a str>,
    /// Who did it: `operator`, `user:<id>`, `sso:<connection>`, `scim:<token>`.
    pub actor: &'a str,
    pub action: AuditAction,
    /// What it was done to: `user:<id>`, `connection:<id>`, `org:<slug>`, ...
    pub target: &'a str,
    /// Action-specific facts (JSON).
    pub detail: Value,
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::AuditAction;

    /// The action strings the crate wrote before the enum existed (stored rows keep them).
    const BEFORE: &[&str] = &[
        "org.create",
        "project.create",
        "project.collaborator.grant",
        "project.collaborator.revoke",
        "user.activate",
        "user.deactivate",
        "user.adopt",
        "scim_token.create",
        "scim_token.revoke",
        "scim.user.create",
        "scim.user.replace",
        "scim.user.patch",
        "scim.user.activate",
        "scim.user.deactivate",
        "scim.user.delete",
        "scim.group.create",
        "scim.group.replace",
        "scim.group.patch",
        "scim.group.delete",
        "access.change",
        "access.revoke",
        "mapping.apply",
        "api_key.create",
        "api_key.revoke",
        "connection.create",
        "connection.update",
        "connection.delete",
        "connection.groups_overage",
        "session.create",
        "session.logout",
        "session.idp_logout",
        "session.slo_request",
        "session.slo_response",
        "session.universal_logout",
        "ssf.event",
        "signing_key.rotate",
        "webhook.create",
        "webhook.delete",
        "webhook.rotate_secret",
    ];

    #[test]
    fn every_action_string_is_unique_and_unchanged() {
        let strings: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        let unique: HashSet<&str> = strings.iter().copied().collect();
        assert_eq!(unique.len(), strings.len(), "duplicate action string in {strings:?}");
        let before: HashSet<&str> = BEFORE.iter().copied().collect();
        assert_eq!(before.len(), BEFORE.len());
        // A variant missing from ALL leaves its old string unmatched here.
        assert_eq!(unique, before);
    }
}
