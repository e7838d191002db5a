//! Plain data shared by every layer: the records the store returns and the surfaces
//! render, roles and grant sources, user origins. Depends on nothing else in the crate,
//! so the store, the directory and access can all use it without a cycle.

mod ids;
mod kind;
mod origin;
mod records;
mod role;

pub use ids::{ConnectionId, OrgId, ProjectId, UserId, random_id};
pub use kind::{ConnectionKind, UnknownConnectionKind};
pub use origin::{Origin, UnknownOrigin};
pub use records::*;
pub use role::{Role, UnknownRole, ValidationIssue};
