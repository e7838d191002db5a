//! Access: the one place that decides roles.
//!
//! - [`mapping`]: the mapping document (JSON from the admin API, TOML from the CLI), its
//!   parsing and validation against the org's projects.
//! - [`evaluate`]: turns a user's group facts into desired grants through a compiled mapping,
//!   and diffs desired against the grants the mapping currently owns.
//! - [`origin`]: who vouches for a user, hence whether the mapping applies to them and
//!   which of their group facts it reads.
//! - [`people`]: the operator's manual grants and a user's active flag: the fact through
//!   directory/, the grant decided and enforced here.
//! - [`permissions`]: the roles-and-permissions matrix (documented in docs/roles.md).
//! - [`scope`]: what an authorization check is about (a project that must exist, or the org).
//!
//! SCIM, SAML and OIDC only record facts; reconciliation asks this module what the grants
//! should be and writes only the difference, touching grants whose source is `mapping`.

pub mod api_keys;
pub mod evaluate;
pub mod mapping;
pub mod origin;
pub mod people;
pub mod permissions;
pub mod reconcile;
pub mod routes;
pub mod scope;
pub mod service;
