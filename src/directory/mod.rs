//! The directory: orgs, projects, users, groups and memberships — the facts
//! the IdPs and operators state. Types here are plain data shared by the
//! store, the domain functions and the HTTP surfaces.

pub mod groups;
pub mod login;
pub mod names;
pub mod orgs;
pub mod people;
pub mod tokens;
pub mod users;

pub use crate::model::*;
pub use names::{Email, Slug};
