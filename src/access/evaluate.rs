//! Evaluation: a user's group facts and the mapping give the user's desired grants; a diff
//! against the grants the mapping currently owns gives the changes reconciliation applies.
//!
//! [`CompiledMapping`] is built once per mapping version (a hash map from group key to rule
//! indices) so that re-evaluating a whole org costs one hash lookup per group value.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::mapping::{MappingDocument, Role, group_key};

/// One group the user belongs to, as an IdP told us about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFact {
    /// SCIM group displayName.
    pub display_name: Option<String>,
    /// SCIM group externalId (Entra sends the group's object id).
    pub external_id: Option<String>,
    /// Raw value of a SAML attribute or OIDC groups claim (a name or a GUID).
    pub raw_claim: Option<String>,
}

impl GroupFact {
    /// Whether this fact is an SSO group claim (not a SCIM group membership).
    pub fn is_claim(&self) -> bool {
        self.raw_claim.is_some()
    }
}

/// Why a grant exists: the default org role or a rule of the mapping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Reason {
    /// `default_org_role` of the mapping.
    Default,
    /// The rule at index `rule`, whose group is `group` (as written in the mapping).
    Rule {
        /// Index into the mapping's `rules`.
        rule: usize,
        /// The rule's `group`.
        group: String,
    },
}

/// The grants the mapping wants a user to have, each with the first source that gives it.
///
/// `org` is `None` when the default is `none` and no matching rule has an `org_role`, even
/// if matching rules grant project roles: such rules do not by themselves make the user an
/// org member. The project grants are still computed; the caller decides whether to apply
/// them (for example as an external collaborator) or to drop them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Desired {
    /// Org role and its reason.
    pub org: Option<(Role, Reason)>,
    /// Project slug → role and its reason.
    pub projects: BTreeMap<String, (Role, Reason)>,
}

impl Desired {
    /// The roles alone, as they will be stored once the diff is applied.
    pub fn roles(&self) -> Current {
        Current {
            org: self.org.as_ref().map(|(role, _)| *role),
            projects: self.projects.iter().map(|(slug, (role, _))| (slug.clone(), *role)).collect(),
        }
    }
}

/// The user's stored grants whose source is `mapping` (manual grants are not listed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Current {
    /// Org role granted by the mapping.
    pub org: Option<Role>,
    /// Project slug → role granted by the mapping.
    pub projects: BTreeMap<String, Role>,
}

/// One grant to add, remove or change. `reason` is the desired grant's reason; `None` when
/// the grant is removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "scope", rename_all = "lowercase")]
pub enum Change {
    /// The org role changes.
    Org {
        /// Role before (None: not a member through the mapping).
        before: Option<Role>,
        /// Role after (None: membership removed).
        after: Option<Role>,
        /// Why the new role is granted.
        reason: Option<Reason>,
    },
    /// A project role changes.
    Project {
        /// Project slug.
        project: String,
        /// Role before (None: not a collaborator through the mapping).
        before: Option<Role>,
        /// Role after (None: grant removed).
        after: Option<Role>,
        /// Why the new role is granted.
        reason: Option<Reason>,
    },
}

#[derive(Debug, Clone)]
struct CompiledRule {
    group: String,
    org_role: Option<Role>,
    projects: Vec<(String, Role)>,
}

/// A mapping prepared for evaluation.
#[derive(Debug, Clone)]
pub struct CompiledMapping {
    default: Option<Role>,
    rules: Vec<CompiledRule>,
    /// [`group_key`] of a rule's group → indices of the rules naming it, ascending.
    by_group: HashMap<String, Vec<usize>>,
}

impl CompiledMapping {
    /// Precomputes the group index. Works on unvalidated documents too (duplicate groups
    /// simply match together).
    pub fn new(doc: &MappingDocument) -> Self {
        let mut by_group: HashMap<String, Vec<usize>> = HashMap::with_capacity(doc.rules.len());
        let rules = doc
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| {
                by_group.entry(group_key(&rule.group)).or_default().push(index);
                CompiledRule {
                    group: rule.group.clone(),
                    org_role: rule.org_role,
                    projects: rule.projects.iter().map(|(slug, role)| (slug.clone(), *role)).collect(),
                }
            })
            .collect();
        CompiledMapping { default: doc.default_org_role.role(), rules, by_group }
    }

    /// Desired grants for a user with these groups. An inactive user gets nothing.
    ///
    /// Each role is the highest granted by the default and every matching rule; its reason
    /// is the first source granting that role (the default, then rules by index).
    pub fn evaluate(&self, active: bool, groups: &[GroupFact]) -> Desired {
        let mut desired = Desired::default();
        if !active {
            return desired;
        }
        desired.org = self.default.map(|role| (role, Reason::Default));
        for index in self.matching_rules(groups) {
            let Some(rule) = self.rules.get(index) else { continue };
            let reason = || Reason::Rule { rule: index, group: rule.group.clone() };
            if let Some(role) = rule.org_role
                && desired.org.as_ref().is_none_or(|(have, _)| role > *have)
            {
                desired.org = Some((role, reason()));
            }
            for (slug, role) in &rule.projects {
                match desired.projects.get_mut(slug) {
                    Some(have) if *role > have.0 => *have = (*role, reason()),
                    Some(_) => {}
                    None => {
                        desired.projects.insert(slug.clone(), (*role, reason()));
                    }
                }
            }
        }
        desired
    }

    /// Whether any rule names this group: when none does, a change of the
    /// group's members cannot change anyone's grants.
    pub fn matches_group(&self, fact: &GroupFact) -> bool {
        !self.matching_rules(std::slice::from_ref(fact)).is_empty()
    }

    /// Indices of the rules matching any value of any fact, ascending and without repeats.
    fn matching_rules(&self, groups: &[GroupFact]) -> Vec<usize> {
        let mut found = Vec::new();
        if self.by_group.is_empty() {
            return found;
        }
        for fact in groups {
            for value in [&fact.display_name, &fact.external_id, &fact.raw_claim].into_iter().flatten() {
                let trimmed = value.trim();
                // Fast path: an already-lowercase ASCII value is its own key (no allocation).
                let hit = if trimmed.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
                    self.by_group.get(trimmed)
                } else {
                    self.by_group.get(&group_key(trimmed))
                };
                if let Some(indices) = hit {
                    found.extend_from_slice(indices);
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// The changes that turn `current` into `desired`: only real ones (add, remove, role
/// change), the org first, then projects in slug order.
pub fn diff(current: &Current, desired: &Desired) -> Vec<Change> {
    let mut changes = Vec::new();
    let after = desired.org.as_ref().map(|(role, _)| *role);
    if current.org != after {
        let reason = desired.org.as_ref().map(|(_, reason)| reason.clone());
        changes.push(Change::Org { before: current.org, after, reason });
    }
    let slugs: BTreeSet<&String> = current.projects.keys().chain(desired.projects.keys()).collect();
    for slug in slugs {
        let before = current.projects.get(slug).copied();
        let wanted = desired.projects.get(slug);
        let after = wanted.map(|(role, _)| *role);
        if before != after {
            let reason = wanted.map(|(_, reason)| reason.clone());
            changes.push(Change::Project { project: slug.clone(), before, after, reason });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::mapping::{DefaultRole, Rule, parse_json};

    fn compiled(json: &str) -> CompiledMapping {
        CompiledMapping::new(&parse_json(json.as_bytes()).unwrap())
    }

    fn named(name: &str) -> GroupFact {
        GroupFact { display_name: Some(name.into()), ..GroupFact::default() }
    }

    fn rule(index: usize, group: &str) -> Reason {
        Reason::Rule { rule: index, group: group.into() }
    }

    const MAPPING: &str = r#"{"default_org_role": "none", "rules": [
        {"group": "Engineering", "org_role": "member", "projects": {"research": "member", "inference": "member"}},
        {"group": "IT-Admins", "org_role": "admin", "projects": {"research": "admin"}},
        {"group": "Staff", "org_role": "admin"},
        {"group": "6f1c2a9e-0000-4000-8000-000000000001", "projects": {"inference": "admin"}}
    ]}"#;

    #[test]
    fn two_groups_give_the_higher_role_with_the_first_rule_granting_it() {
        let desired =
            compiled(MAPPING).evaluate(true, &[named("Staff"), named("Engineering"), named("IT-Admins")]);
        assert_eq!(desired.org, Some((Role::Admin, rule(1, "IT-Admins"))));
        assert_eq!(
            desired.projects,
            BTreeMap::from([
                ("inference".to_owned(), (Role::Member, rule(0, "Engineering"))),
                ("research".to_owned(), (Role::Admin, rule(1, "IT-Admins"))),
            ])
        );
    }

    #[test]
    fn default_is_kept_as_reason_when_no_rule_grants_more() {
        let desired =
            compiled(r#"{"rules":[{"group":"eng","org_role":"member"}]}"#).evaluate(true, &[named("ENG")]);
        assert_eq!(desired.org, Some((Role::Member, Reason::Default)));
    }

    #[test]
    fn default_none_without_a_match_gives_no_org_role() {
        assert_eq!(compiled(MAPPING).evaluate(true, &[named("Marketing")]), Desired::default());
    }

    #[test]
    fn project_only_rule_does_not_make_an_org_member() {
        let fact = GroupFact {
            raw_claim: Some("6F1C2A9E-0000-4000-8000-000000000001".into()),
            ..GroupFact::default()
        };
        let desired = compiled(MAPPING).evaluate(true, &[fact]);
        assert_eq!(desired.org, None);
        let grant = (Role::Admin, rule(3, "6f1c2a9e-0000-4000-8000-000000000001"));
        assert_eq!(desired.projects, BTreeMap::from([("inference".to_owned(), grant)]));
    }

    #[test]
    fn matches_by_name_external_id_or_raw_claim_case_insensitively() {
        let mapping = compiled(MAPPING);
        let admin = Some((Role::Admin, rule(2, "Staff")));
        assert_eq!(mapping.evaluate(true, &[named("  sTaFf ")]).org, admin);
        let by_id = GroupFact {
            display_name: Some("Other".into()),
            external_id: Some("STAFF".into()),
            raw_claim: None,
        };
        assert_eq!(mapping.evaluate(true, &[by_id]).org, admin);
        let by_claim = GroupFact { raw_claim: Some("staff".into()), ..GroupFact::default() };
        assert_eq!(mapping.evaluate(true, &[by_claim]).org, admin);
        let unicode = compiled(r#"{"rules":[{"group":"ÉQUIPE","org_role":"admin"}]}"#);
        assert_eq!(unicode.evaluate(true, &[named("équipe")]).org, Some((Role::Admin, rule(0, "ÉQUIPE"))));
    }

    #[test]
    fn inactive_user_gets_nothing() {
        let mapping = compiled(r#"{"default_org_role": "admin", "rules": []}"#);
        assert_eq!(mapping.evaluate(false, &[named("Staff")]), Desired::default());
        assert_eq!(mapping.evaluate(true, &[]).org, Some((Role::Admin, Reason::Default)));
    }

    #[test]
    fn diff_adds_changes_and_removes_in_order_and_serialises_with_tags() {
        let desired = compiled(MAPPING).evaluate(true, &[named("IT-Admins")]);
        let old = [("research".to_owned(), Role::Member), ("old".to_owned(), Role::Admin)];
        let current = Current { org: Some(Role::Member), projects: BTreeMap::from(old) };
        let expected = serde_json::json!([
            {"scope": "org", "before": "member", "after": "admin",
             "reason": {"kind": "rule", "rule": 1, "group": "IT-Admins"}},
            {"scope": "project", "project": "old", "before": "admin", "after": null, "reason": null},
            {"scope": "project", "project": "research", "before": "member", "after": "admin",
             "reason": {"kind": "rule", "rule": 1, "group": "IT-Admins"}},
        ]);
        assert_eq!(serde_json::to_value(diff(&current, &desired)).unwrap(), expected);
        let added = diff(&Current::default(), &desired);
        let org = Change::Org { before: None, after: Some(Role::Admin), reason: Some(rule(1, "IT-Admins")) };
        assert_eq!(added[0], org);
    }

    #[test]
    fn diff_of_equal_grants_is_empty_and_inactive_removes_all() {
        let desired = compiled(MAPPING).evaluate(true, &[named("Engineering")]);
        assert_eq!(diff(&desired.roles(), &desired), []);
        let removed = diff(&desired.roles(), &Desired::default());
        assert_eq!(removed.len(), 3);
        assert_eq!(removed[0], Change::Org { before: Some(Role::Member), after: None, reason: None });
    }

    #[test]
    fn default_reason_serialises_with_its_kind() {
        assert_eq!(serde_json::to_value(Reason::Default).unwrap(), serde_json::json!({"kind": "default"}));
    }

    #[test]
    fn a_large_org_evaluates_every_user() {
        // 1,000 rules; 100,000 users with 5 groups each (names, ids and claims mixed).
        let rules: Vec<Rule> = (0..1000)
            .map(|i| Rule {
                group: format!("Group-{i}"),
                org_role: (i % 10 == 0).then_some(Role::Admin),
                projects: BTreeMap::from([(format!("p{}", i % 50), Role::Member)]),
            })
            .collect();
        let mapping = CompiledMapping::new(&MappingDocument { default_org_role: DefaultRole::Member, rules });
        let facts: Vec<GroupFact> = (0..1000)
            .map(|i| match i % 3 {
                0 => named(&format!("group-{i}")),
                1 => GroupFact { external_id: Some(format!("GROUP-{i}")), ..GroupFact::default() },
                _ => GroupFact { raw_claim: Some(format!("Group-{i}")), ..GroupFact::default() },
            })
            .collect();
        let mut admins = 0;
        for user in 0..100_000usize {
            let groups: Vec<GroupFact> = (0..5).map(|k| facts[(user * 7 + k * 131) % 1000].clone()).collect();
            let desired = mapping.evaluate(true, &groups);
            assert!(!desired.projects.is_empty());
            admins += usize::from(desired.org.is_some_and(|(role, _)| role == Role::Admin));
        }
        // Rule i grants admin when i % 10 == 0; (7u + 131k) % 10 == (7u + k) % 10 hits 0 for half of all u.
        assert_eq!(admins, 50_000);
    }
}
