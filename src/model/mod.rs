//! Plain data shared by every layer: the records the store returns and the surfaces
//! render, roles and grant sources, user origins, the caller behind a session, what an IdP
//! asserted at a sign-in. Depends on nothing else in the crate,
//! so the store, the directory and access can all use it without a cycle.

mod caller;
mod ids;
mod kind;
mod login;
mod origin;
mod records;
mod role;

pub use caller::SessionContext;
pub use ids::{ConnectionId, OrgId, ProjectId, UserId, random_id};
pub use kind::{ConnectionKind, UnknownConnectionKind};
pub use login::{IdpSession, LoginFacts, MatchBy};
pub use origin::{Origin, UnknownOrigin};
pub use records::*;
pub use role::{Role, UnknownRole, ValidationIssue};
