//! SCIM 2.0 server (RFC 7643/7644) that Okta's and Microsoft Entra ID's
//! provisioning clients push users and groups into, per org, with per-org
//! bearer tokens. Client quirks are normalised at the edge (resource.rs,
//! patch/); facts are recorded and access/ reconciles the affected users.

pub mod adopt;
pub mod auth;
pub mod bulk;
pub mod compile;
pub mod cursor;
pub mod error;
pub mod filter;
pub mod groups;
pub mod limits;
pub mod patch;
pub mod pipeline;
pub mod query;
pub mod resource;
pub mod routes;
pub mod schema;
pub mod shed;
pub mod users;
pub mod wire;
