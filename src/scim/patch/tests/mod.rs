//! Unit tests of the PATCH module, one file per concern. `support` holds the helpers and the
//! example resources (RFC 7643's Barbara Jensen, the Entra and Okta users and groups) they share.

mod apply;
mod fixtures;
mod members;
mod multi;
mod normalize;
mod schema;
mod support;
