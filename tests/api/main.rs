//! The one integration-test binary: every surface driven over HTTP against a
//! real server on 127.0.0.1:0 with a real SQLite file in a temp dir.

mod access_mapping;
mod admin_orgs;
mod admin_people;
mod authz;
mod docs;
mod durability;
mod hardening_access;
mod hardening_bounds;
mod hardening_csrf;
mod hardening_files;
mod hardening_filters;
mod hardening_login;
mod hardening_outbound;
mod helpers;
mod http_edges;
mod oidc_admin;
mod oidc_forge;
mod oidc_login;
mod oidc_support;
mod oidc_tokens;
mod process;
mod raw_target;
mod saml_admin;
mod saml_attacks;
mod saml_client;
mod saml_idp;
mod saml_login;
mod saml_signer;
mod saml_wrapping;
mod scim_conformance;
mod scim_entra_patch;
mod scim_groups;
mod scim_patch;
mod scim_users;
mod sessions;
