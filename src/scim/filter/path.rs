//! PATCH operation paths (RFC 7644 §3.5.2, Figure 1):
//!
//! ```text
//! PATH = attrPath / valuePath [subAttr]
//! ```
//!
//! e.g. `name.givenName`, `members[value eq "2819c223"]`, `emails[type eq "work"].value`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`. The same lexer,
//! limits and value-filter grammar as filters apply; errors map to `scimType` `invalidPath`.

use std::fmt;

use super::ast::{AttrPath, Filter};
use super::error::FilterError;
use super::lexer::TokenKind;
use super::parser::Parser;

/// A parsed PATCH `path`.
///
/// Invariants upheld by `parse_patch_path`: when `filter` is `Some`, `attr.sub_attr` is `None`
/// (the sub-attribute of a value path is `sub_attr`); when `filter` is `None`, `sub_attr` is
/// `None` (`name.givenName` is `attr` with its own `sub_attr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchPath {
    /// The attribute the operation targets (`emails`, `name.givenName`, `urn:...:manager`).
    pub attr: AttrPath,
    /// Value filter selecting elements of a multi-valued attribute (`[type eq "work"]`);
    /// attribute names inside it are relative to one element.
    pub filter: Option<Filter>,
    /// Sub-attribute of the selected elements (`.value` in `emails[type eq "work"].value`).
    pub sub_attr: Option<String>,
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// Parses the `path` of a PATCH operation. Errors map to `scimType` `invalidPath`.
pub fn parse_patch_path(input: &str) -> Result<PatchPath, FilterError> {
    let mut parser = Parser::new(input)?;
    let (attr, attr_pos) = match parser.bump() {
        Some(token) => match token.kind {
            TokenKind::Path(path) => (path, token.pos),
            kind => {
                return Err(FilterError::Unexpected {
                    pos: token.pos,
                    found: kind.describe(),
                    expected: "an attribute path",
                });
            }
        },
        None => return Err(FilterError::Empty),
    };
    if parser.peek() != Some(&TokenKind::LBracket) {
        parser.expect_end()?;
        return Ok(PatchPath { attr, filter: None, sub_attr: None });
    }
    let filter = parser.parse_value_filter(&attr, attr_pos)?;
    let mut sub_attr = None;
    if parser.peek() == Some(&TokenKind::Dot) {
        parser.bump();
        let (pos, found) = parser.found();
        match parser.bump().map(|t| t.kind) {
            // `subAttr = "." ATTRNAME`: a bare name, no URI and no second dot.
            Some(TokenKind::Path(AttrPath { urn: None, attr: name, sub_attr: None })) => {
                sub_attr = Some(name)
            }
            Some(TokenKind::Path(path)) => {
                return Err(FilterError::InvalidAttrPath {
                    pos,
                    text: path.to_string(),
                    reason: "only one attribute name may follow ']' and '.'",
                });
            }
            _ => {
                return Err(FilterError::Unexpected {
                    pos,
                    found,
                    expected: "a sub-attribute name after '.'",
                });
            }
        }
    }
    parser.expect_end()?;
    Ok(PatchPath { attr, filter: Some(filter), sub_attr })
}

#[cfg(test)]
mod tests {
    use super::super::ast::{CompValue, CompareOp};
    use super::*;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn eq(attr: &str, value: &str) -> Filter {
        Filter::Compare {
            path: AttrPath::new(attr),
            op: CompareOp::Eq,
            value: CompValue::String(value.into()),
        }
    }

    fn plain(attr: AttrPath) -> PatchPath {
        PatchPath { attr, filter: None, sub_attr: None }
    }

    #[test]
    fn attribute_paths() {
        assert_eq!(parse_patch_path("displayName"), Ok(plain(AttrPath::new("displayName"))));
        assert_eq!(parse_patch_path("members"), Ok(plain(AttrPath::new("members"))));
        assert_eq!(
            parse_patch_path("name.givenName"),
            Ok(plain(AttrPath::new("name").with_sub("givenName")))
        );
        assert_eq!(
            parse_patch_path(&format!("{ENTERPRISE}:manager")),
            Ok(plain(AttrPath::new("manager").with_urn(ENTERPRISE)))
        );
        assert_eq!(
            parse_patch_path(&format!("{ENTERPRISE}:manager.value")),
            Ok(plain(AttrPath::new("manager").with_urn(ENTERPRISE).with_sub("value")))
        );
    }

    #[test]
    fn value_paths_with_and_without_sub_attribute() {
        let members = parse_patch_path(r#"members[value eq "2819c223"]"#).unwrap();
        assert_eq!(
            members,
            PatchPath {
                attr: AttrPath::new("members"),
                filter: Some(eq("value", "2819c223")),
                sub_attr: None
            }
        );
        let emails = parse_patch_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(
            emails,
            PatchPath {
                attr: AttrPath::new("emails"),
                filter: Some(eq("type", "work")),
                sub_attr: Some("value".into())
            }
        );
        let street = parse_patch_path(r#"addresses[type eq "work"].streetAddress"#).unwrap();
        assert_eq!(street.attr, AttrPath::new("addresses"));
        assert_eq!(street.filter, Some(eq("type", "work")));
        assert_eq!(street.sub_attr.as_deref(), Some("streetAddress"));
        let both = parse_patch_path(r#"emails[type eq "work" and primary eq true].display"#).unwrap();
        let expected = Filter::And(
            Box::new(eq("type", "work")),
            Box::new(Filter::Compare {
                path: AttrPath::new("primary"),
                op: CompareOp::Eq,
                value: CompValue::Bool(true),
            }),
        );
        assert_eq!(both.filter, Some(expected));
        assert_eq!(both.sub_attr.as_deref(), Some("display"));
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "name.givenName",
            r#"members[value eq "2819c223"]"#,
            r#"emails[type eq "work"].value"#,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            r#"addresses[type eq "work" or not (primary eq false)].streetAddress"#,
        ] {
            assert_eq!(parse_patch_path(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn errors_with_positions() {
        assert_eq!(parse_patch_path(""), Err(FilterError::Empty));
        assert_eq!(parse_patch_path("  "), Err(FilterError::Empty));
        assert_eq!(
            parse_patch_path(r#""members""#),
            Err(FilterError::Unexpected {
                pos: 0,
                found: r#"string "members""#.into(),
                expected: "an attribute path"
            })
        );
        assert_eq!(
            parse_patch_path("userName eq \"x\""),
            Err(FilterError::TrailingInput { pos: 9, found: "'eq'".into() })
        );
        assert_eq!(
            parse_patch_path(r#"emails[type eq "work"]."#),
            Err(FilterError::Unexpected {
                pos: 23,
                found: "end of input".into(),
                expected: "a sub-attribute name after '.'"
            })
        );
        assert_eq!(
            parse_patch_path(r#"emails[type eq "work"].value.x"#),
            Err(FilterError::InvalidAttrPath {
                pos: 23,
                text: "value.x".into(),
                reason: "only one attribute name may follow ']' and '.'"
            })
        );
        assert_eq!(
            parse_patch_path(r#"emails[type eq "work"]x"#),
            Err(FilterError::TrailingInput { pos: 22, found: "attribute path x".into() })
        );
        assert_eq!(
            parse_patch_path(r#"emails[type eq "work""#),
            Err(FilterError::Unexpected {
                pos: 21,
                found: "end of input".into(),
                expected: "']' closing the value filter"
            })
        );
        assert_eq!(
            parse_patch_path(r#"emails.value[type eq "work"]"#),
            Err(FilterError::InvalidAttrPath {
                pos: 0,
                text: "emails.value".into(),
                reason: "a value path filters a multi-valued attribute, not a sub-attribute"
            })
        );
        assert_eq!(parse_patch_path(r#"emails[x[y eq 1]]"#), Err(FilterError::NestedValuePath { pos: 7 }));
    }

    #[test]
    fn limits_apply_to_paths_too() {
        let long = format!("members[value eq \"{}\"]", "a".repeat(4096));
        assert_eq!(parse_patch_path(&long), Err(FilterError::TooLong { len: long.len(), max: 4096 }));
        let deep = format!("members[{}value pr{}]", "(".repeat(32), ")".repeat(32));
        assert_eq!(parse_patch_path(&deep), Err(FilterError::TooDeep { pos: 39, max: 32 }));
    }
}
