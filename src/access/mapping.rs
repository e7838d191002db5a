//! The mapping document: which IdP groups give which org and project roles.
//!
//! The admin API takes it as JSON (`PUT /admin/v1/orgs/{org}/mapping`), the CLI reads it
//! from TOML (`idbridge mapping apply`). Both forms deserialize into [`MappingDocument`]
//! with unknown fields and unknown roles refused; [`validate`] then checks what serde cannot
//! (empty or duplicate groups, unknown projects, rules that grant nothing, size limits).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// At most this many rules per document: evaluation cost and the preview size stay bounded.
pub const MAX_RULES: usize = 10_000;
/// At most this many characters in a rule's group (Entra and Okta names are far shorter).
pub const MAX_GROUP_CHARS: usize = 256;

pub use crate::model::{Role, UnknownRole};

/// The org role of a user whom no rule gives one; `none` means such a user is not a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultRole {
    /// Not a member unless a rule grants an org role.
    None,
    /// Every user of the org is at least a member (the default).
    #[default]
    Member,
    /// Every user of the org is an admin.
    Admin,
}

impl DefaultRole {
    /// The role granted by default, if any.
    pub fn role(&self) -> Option<Role> {
        match self {
            DefaultRole::None => None,
            DefaultRole::Member => Some(Role::Member),
            DefaultRole::Admin => Some(Role::Admin),
        }
    }
}

/// The whole document, as stored and as answered by the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingDocument {
    /// Org role of every active user before rules are applied.
    #[serde(default)]
    pub default_org_role: DefaultRole,
    /// Rules in order; the index is what a grant's reason points at.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One rule: members of `group` get `org_role` and the listed project roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Group display name, SCIM externalId or raw groups-claim value (case-insensitive).
    pub group: String,
    /// Org role granted to the group's members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_role: Option<Role>,
    /// Project slug → role granted on that project.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub projects: BTreeMap<String, Role>,
}

/// A document that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The JSON body is malformed or does not have the document's shape.
    #[error("invalid mapping JSON: {message}")]
    Json {
        /// serde_json's message (with line and column), prefixed by the field path when known.
        message: String,
    },
    /// The TOML file is malformed or does not have the document's shape.
    #[error("invalid mapping TOML: {message}")]
    Toml {
        /// The toml parser's message (with the offending line), prefixed by the field path.
        message: String,
    },
    /// The document could not be written as TOML.
    #[error("mapping cannot be written as TOML: {message}")]
    TomlWrite {
        /// The toml serializer's message.
        message: String,
    },
}

pub use crate::model::ValidationIssue;

/// The key groups are compared by: trimmed, Unicode lower case.
pub fn group_key(group: &str) -> String {
    group.trim().to_lowercase()
}

/// Parses the JSON form (the admin API body).
pub fn parse_json(bytes: &[u8]) -> Result<MappingDocument, MappingError> {
    serde_json::from_slice(bytes).map_err(|err| {
        let path = serde_json::from_slice::<Value>(bytes).ok().and_then(|doc| locate(&doc));
        MappingError::Json { message: with_path(path, &err.to_string()) }
    })
}

/// Parses the TOML form (`default_org_role = "member"`, `[[rules]]`, `[rules.projects]`).
pub fn parse_toml(text: &str) -> Result<MappingDocument, MappingError> {
    toml::from_str(text).map_err(|err| {
        let path = toml::from_str::<toml::Table>(text)
            .ok()
            .and_then(|table| serde_json::to_value(table).ok())
            .and_then(|doc| locate(&doc));
        MappingError::Toml { message: with_path(path, &err.to_string()) }
    })
}

/// Writes the TOML form, which [`parse_toml`] reads back to the same document.
pub fn to_toml(doc: &MappingDocument) -> Result<String, MappingError> {
    toml::to_string(doc).map_err(|err| MappingError::TomlWrite { message: err.to_string() })
}

fn with_path(path: Option<String>, message: &str) -> String {
    let message = message.trim_end();
    path.map_or_else(|| message.to_owned(), |path| format!("at {path}: {message}"))
}

fn fails<T: DeserializeOwned>(value: &Value) -> bool {
    T::deserialize(value).is_err()
}

/// Finds the first field that does not fit the document's shape, so that serde's
/// "unknown variant `owner`" can say where it is. `None` when nothing is found.
fn locate(doc: &Value) -> Option<String> {
    for (key, value) in doc.as_object()? {
        let found = match key.as_str() {
            "default_org_role" => fails::<DefaultRole>(value).then(|| key.clone()),
            "rules" => locate_in_rules(value),
            _ => Some(key.clone()),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

fn locate_in_rules(rules: &Value) -> Option<String> {
    let Some(rules) = rules.as_array() else { return Some("rules".to_owned()) };
    for (index, rule) in rules.iter().enumerate() {
        let at = format!("rules[{index}]");
        let Some(fields) = rule.as_object() else { return Some(at) };
        for (key, value) in fields {
            let bad = match key.as_str() {
                "group" => fails::<String>(value),
                "org_role" => fails::<Option<Role>>(value),
                "projects" => match value.as_object() {
                    Some(projects) => {
                        if let Some((slug, _)) = projects.iter().find(|(_, role)| fails::<Role>(role)) {
                            return Some(format!("{at}.projects.{slug}"));
                        }
                        false
                    }
                    None => true,
                },
                _ => true,
            };
            if bad {
                return Some(format!("{at}.{key}"));
            }
        }
        if !fields.contains_key("group") {
            return Some(at);
        }
    }
    None
}

/// Checks what serde cannot; collects every issue rather than stopping at the first.
pub fn validate(
    doc: &MappingDocument,
    known_project_slugs: &HashSet<String>,
) -> Result<(), Vec<ValidationIssue>> {
    let mut issues = Vec::new();
    let mut issue = |path: String, message: String| issues.push(ValidationIssue { path, message });
    if doc.rules.len() > MAX_RULES {
        issue("rules".into(), format!("{} rules; at most {MAX_RULES} are allowed", doc.rules.len()));
    }
    // Group key → index of the first rule that names it.
    let mut first_rule: HashMap<String, usize> = HashMap::with_capacity(doc.rules.len());
    for (index, rule) in doc.rules.iter().enumerate() {
        let at = format!("rules[{index}]");
        let key = group_key(&rule.group);
        if key.is_empty() {
            issue(format!("{at}.group"), "group is empty".into());
        } else if rule.group.chars().count() > MAX_GROUP_CHARS {
            issue(format!("{at}.group"), format!("group is longer than {MAX_GROUP_CHARS} characters"));
        } else if let Some(first) = first_rule.get(&key) {
            issue(
                format!("{at}.group"),
                format!(
                    "group `{}` is already used by rules[{first}] (groups match case-insensitively)",
                    rule.group
                ),
            );
        } else {
            first_rule.insert(key, index);
        }
        if rule.org_role.is_none() && rule.projects.is_empty() {
            issue(at.clone(), "rule grants nothing: give it an org_role or projects".into());
        }
        for slug in rule.projects.keys() {
            if !known_project_slugs.contains(slug) {
                issue(format!("{at}.projects.{slug}"), format!("unknown project `{slug}` in this org"));
            }
        }
    }
    if issues.is_empty() { Ok(()) } else { Err(issues) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"default_org_role": "member", "rules": [
        {"group": "Engineering", "org_role": "member", "projects": {"research": "admin", "inference": "member"}},
        {"group": "IT-Admins", "org_role": "admin"}]}"#;

    const TOML: &str = r#"default_org_role = "member"
        [[rules]]
        group = "Engineering"
        org_role = "member"
        [rules.projects]
        research = "admin"
        inference = "member"
        [[rules]]
        group = "IT-Admins"
        org_role = "admin""#;

    fn rule(group: &str, org_role: Option<Role>) -> Rule {
        Rule { group: group.into(), org_role, projects: BTreeMap::new() }
    }

    fn contract_doc() -> MappingDocument {
        let mut engineering = rule("Engineering", Some(Role::Member));
        engineering.projects =
            BTreeMap::from([("inference".into(), Role::Member), ("research".into(), Role::Admin)]);
        MappingDocument {
            default_org_role: DefaultRole::Member,
            rules: vec![engineering, rule("IT-Admins", Some(Role::Admin))],
        }
    }

    /// The message of a JSON or TOML parse error.
    fn error(result: Result<MappingDocument, MappingError>) -> String {
        match result {
            Err(MappingError::Json { message } | MappingError::Toml { message }) => message,
            other => panic!("not a parse error: {other:?}"),
        }
    }

    #[test]
    fn json_and_toml_forms_parse_and_round_trip_to_the_same_document() {
        let doc = contract_doc();
        assert_eq!(parse_json(JSON.as_bytes()).unwrap(), doc);
        assert_eq!(parse_toml(TOML).unwrap(), doc);
        let json = serde_json::to_value(&doc).unwrap();
        // Same shape as the contract: no `org_role: null`, no `projects: {}`.
        assert_eq!(json, serde_json::from_str::<Value>(JSON).unwrap());
        assert_eq!(parse_json(json.to_string().as_bytes()).unwrap(), doc);
        assert_eq!(parse_toml(&to_toml(&doc).unwrap()).unwrap(), doc);
    }

    #[test]
    fn defaults_apply_when_fields_are_missing() {
        assert_eq!(parse_json(b"{}").unwrap(), MappingDocument::default());
        assert_eq!(MappingDocument::default().default_org_role, DefaultRole::Member);
        assert_eq!(parse_toml("default_org_role = \"none\"").unwrap().default_org_role.role(), None);
    }

    #[test]
    fn unknown_fields_are_refused_with_their_path() {
        let message = error(parse_json(br#"{"default_org_role":"member","extra":1}"#));
        assert!(message.starts_with("at extra: unknown field `extra`"), "{message}");
        let message = error(parse_toml("[[rules]]\ngroup = \"g\"\norg_roles = \"admin\"\n"));
        assert!(message.starts_with("at rules[0].org_roles: TOML parse error at line 3"), "{message}");
        assert!(message.contains("unknown field `org_roles`"), "{message}");
    }

    #[test]
    fn unknown_roles_and_bad_syntax_are_refused() {
        let body = br#"{"rules":[{"group":"a","org_role":"admin"},{"group":"b","projects":{"x":"owner"}}]}"#;
        let message = error(parse_json(body));
        assert!(message.starts_with("at rules[1].projects.x: unknown variant `owner`"), "{message}");
        assert!(
            error(parse_toml("default_org_role = \"root\""))
                .starts_with("at default_org_role: TOML parse error")
        );
        assert_eq!(error(parse_json(b"{")), "EOF while parsing an object at line 1 column 1");
    }

    #[test]
    fn role_strings_and_order() {
        assert!(Role::Admin > Role::Member);
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert_eq!(Role::Member.as_str(), "member");
        assert_eq!("Admin".parse::<Role>(), Err(UnknownRole { value: "Admin".into() }));
    }

    #[test]
    fn validation_collects_every_issue_with_its_path() {
        let slugs = HashSet::from(["research".to_owned(), "inference".to_owned()]);
        assert_eq!(validate(&contract_doc(), &slugs), Ok(()));
        let mut doc = contract_doc();
        doc.rules.extend([rule(" engineering ", Some(Role::Admin)), rule("  ", None)]);
        doc.rules.push(rule(&"x".repeat(257), Some(Role::Member)));
        let issues = validate(&doc, &HashSet::from(["inference".to_owned()])).unwrap_err();
        let found: Vec<String> = issues.iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "rules[0].projects.research: unknown project `research` in this org",
                "rules[2].group: group ` engineering ` is already used by rules[0] (groups match case-insensitively)",
                "rules[3].group: group is empty",
                "rules[3]: rule grants nothing: give it an org_role or projects",
                "rules[4].group: group is longer than 256 characters",
            ]
        );
    }

    #[test]
    fn validation_bounds_the_number_of_rules() {
        let rules = (0..=MAX_RULES).map(|i| rule(&format!("g{i}"), Some(Role::Member))).collect();
        let doc = MappingDocument { default_org_role: DefaultRole::None, rules };
        let issues: Vec<String> =
            validate(&doc, &HashSet::new()).unwrap_err().iter().map(ToString::to_string).collect();
        assert_eq!(issues, ["rules: 10001 rules; at most 10000 are allowed"]);
    }
}
