//! Who vouches for a user, and so which facts the mapping may read about them.
//!
//! The mapping (its `default_org_role` and its rules) gives roles only to people the org's
//! IdP vouches for: users its SCIM client provisioned and users who signed in through one
//! of its connections. An operator-made user (an external collaborator added by email)
//! holds only the grants an operator gave, until the IdP itself brings the same address
//! (a SCIM POST or an SSO login), which adopts the row (docs/mapping.md).
//!
//! Which groups count, per origin (docs/mapping.md, "SSO group claims and SCIM
//! memberships"): for a SCIM-provisioned user the SCIM group memberships are the
//! authority and SSO group claims are not used, so a removal pushed by SCIM takes the role
//! away at once; for a user created by an SSO login the claims of their most recent
//! sign-in count, together with any SCIM group they were added to.

use super::evaluate::GroupFact;

pub use crate::model::{Origin, UnknownOrigin};

/// The facts the mapping reads for a user of this origin: none for an operator-made
/// user; SCIM memberships only for a SCIM user; memberships and claims for an SSO user.
pub fn usable_facts(origin: Origin, facts: Vec<GroupFact>) -> Vec<GroupFact> {
    match origin {
        Origin::Manual => Vec::new(),
        Origin::Scim => facts.into_iter().filter(|f| !f.is_claim()).collect(),
        Origin::Sso => facts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn membership(name: &str) -> GroupFact {
        GroupFact { display_name: Some(name.into()), ..GroupFact::default() }
    }

    fn claim(value: &str) -> GroupFact {
        GroupFact { raw_claim: Some(value.into()), ..GroupFact::default() }
    }

    #[test]
    fn origins_round_trip_and_unknown_ones_are_refused() {
        for o in [Origin::Scim, Origin::Sso, Origin::Manual] {
            assert_eq!(Origin::parse(o.as_str()), Ok(o));
        }
        assert_eq!(Origin::parse("Manual"), Err(UnknownOrigin { value: "Manual".into() }));
    }

    #[test]
    fn only_the_idp_vouches() {
        assert!(Origin::Scim.vouched() && Origin::Sso.vouched());
        assert!(!Origin::Manual.vouched());
    }

    #[test]
    fn each_origin_reads_its_authoritative_facts() {
        let facts = vec![membership("Engineering"), claim("IT-Admins")];
        assert_eq!(usable_facts(Origin::Manual, facts.clone()), []);
        assert_eq!(usable_facts(Origin::Scim, facts.clone()), [membership("Engineering")]);
        assert_eq!(usable_facts(Origin::Sso, facts.clone()), facts);
    }
}
