//! What the test modules share and that holds no test itself: the in-process app and the real
//! binary (`helpers`), the identity providers the tests talk to (the real OpenID Provider and a
//! crafted one, a SAML IdP with its `xmlsec1` signer), a browser-like SAML client, the Single
//! Logout helpers, a webhook receiver, and a throw-away PostgreSQL cluster (`postgres`, one per
//! test run, a fresh database per test).

pub mod helpers;
pub mod oidc_forge;
pub mod oidc_support;
pub mod postgres;
pub mod saml_client;
pub mod saml_idp;
pub mod saml_signer;
pub mod saml_slo_support;
pub mod webhook_receiver;
