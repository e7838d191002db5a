//! The syntax tree of a SCIM filter (RFC 7644 §3.4.2.2, Figure 1): attribute paths, comparison
//! operators, JSON comparison values and the boolean structure that joins them.
//!
//! `Display` reproduces canonical filter text: keywords in lower case, one space between tokens,
//! strings re-escaped as JSON, and parentheses only where precedence or the left-to-right
//! grouping of the parse would otherwise be lost, so `parse_filter(&f.to_string()) == Ok(f)`.

use std::fmt;

use serde_json::Number;

use super::MAX_TREE_HEIGHT;
use super::error::FilterError;

/// `attrPath = [URI ":"] ATTRNAME *1subAttr` — e.g. `userName`, `name.givenName`,
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// Schema URI the attribute belongs to, without the trailing `:`; `None` when unqualified.
    pub urn: Option<String>,
    /// Attribute name as written (SCIM attribute names are case-insensitive, RFC 7643 §2.1).
    pub attr: String,
    /// Sub-attribute of a complex attribute (`familyName` in `name.familyName`).
    pub sub_attr: Option<String>,
}

impl AttrPath {
    /// An unqualified attribute without sub-attribute, e.g. `AttrPath::new("userName")`.
    pub fn new(attr: impl Into<String>) -> Self {
        Self { urn: None, attr: attr.into(), sub_attr: None }
    }

    /// The same path with `sub` as its sub-attribute (`name` → `name.familyName`).
    pub fn with_sub(mut self, sub: impl Into<String>) -> Self {
        self.sub_attr = Some(sub.into());
        self
    }

    /// The same path qualified by schema URI `urn`.
    pub fn with_urn(mut self, urn: impl Into<String>) -> Self {
        self.urn = Some(urn.into());
        self
    }

    /// Parses an attribute path on its own, e.g. one entry of the `attributes` query parameter
    /// (RFC 7644 §3.4.2.5). Errors are `InvalidAttrPath` at position 0.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let err = |reason| FilterError::InvalidAttrPath { pos: 0, text: text.to_string(), reason };
        if !text.chars().all(is_path_char) {
            return Err(err("only letters, digits, '-', '_', '.' and ':' may appear in an attribute path"));
        }
        Self::from_word(text).map_err(err)
    }

    /// Splits a word of path characters into `[URI ":"] ATTRNAME *1subAttr`. The URI is
    /// everything before the last `:`, so the dots of `...:enterprise:2.0:User:manager` stay in
    /// it, and must itself contain a `:` (`scheme ":" ...`, RFC 3986 §3).
    pub(super) fn from_word(word: &str) -> Result<Self, &'static str> {
        let (urn, rest) = match word.rfind(':') {
            Some(i) => (Some(&word[..i]), &word[i + 1..]),
            None => (None, word),
        };
        if let Some(urn) = urn {
            if !urn.contains(':') {
                return Err("a schema URI needs the form scheme:rest, e.g. urn:ietf:params:scim:...");
            }
            if urn.split(':').any(str::is_empty) {
                return Err("empty segment in the schema URI");
            }
            if rest.is_empty() {
                return Err("no attribute name after the schema URI");
            }
        }
        let mut parts = rest.split('.');
        let attr = parts.next().unwrap_or_default();
        let sub_attr = parts.next();
        if parts.next().is_some() {
            return Err("at most one sub-attribute may follow the attribute name");
        }
        check_attr_name(attr)?;
        if let Some(sub) = sub_attr {
            check_attr_name(sub)?;
        }
        Ok(AttrPath {
            urn: urn.map(str::to_string),
            attr: attr.to_string(),
            sub_attr: sub_attr.map(str::to_string),
        })
    }
}

/// Characters an attribute path may contain: nameChar plus `.` (subAttr) and `:` (schema URI).
pub(super) fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')
}

/// `ATTRNAME = ALPHA *(nameChar)`, `nameChar = "-" / "_" / DIGIT / ALPHA`.
fn check_attr_name(name: &str) -> Result<(), &'static str> {
    match name.chars().next() {
        None => Err("empty attribute name"),
        Some(c) if !c.is_ascii_alphabetic() => Err("an attribute name must start with a letter"),
        Some(_) if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') => {
            Err("an attribute name may contain only letters, digits, '-' and '_'")
        }
        Some(_) => Ok(()),
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// `compareOp` — the attribute operators of RFC 7644 §3.4.2.2 Table 3, except `pr`, which takes
/// no value and is `Filter::Present`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`: the attribute and operator values are identical.
    Eq,
    /// `ne`: the attribute and operator values are not identical.
    Ne,
    /// `co`: the operator value is a substring of the attribute value.
    Co,
    /// `sw`: the attribute value starts with the operator value.
    Sw,
    /// `ew`: the attribute value ends with the operator value.
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal to.
    Ge,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal to.
    Le,
}

impl CompareOp {
    /// Every operator, in the order of RFC 7644 Table 3.
    pub const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The canonical (lower-case) keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// The operator spelled `word`, compared case-insensitively (`Eq` and `EQ` are `eq`).
    pub fn from_keyword(word: &str) -> Option<CompareOp> {
        Self::ALL.into_iter().find(|op| op.as_str().eq_ignore_ascii_case(word))
    }

    /// `gt`, `ge`, `lt` and `le`: the operators that order values rather than match them.
    pub fn is_ordering(self) -> bool {
        matches!(self, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le)
    }

    /// `co`, `sw` and `ew`: the operators defined only on strings.
    pub fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `compValue = false / null / true / number / string` (rules from JSON, RFC 7159).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompValue {
    /// A JSON string, escapes already decoded.
    String(String),
    /// A JSON number, integer or decimal.
    Number(Number),
    /// `true` or `false`.
    Bool(bool),
    /// `null`; `attr eq null` means "attr is not present".
    Null,
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::String(s) => write!(f, "{}", serde_json::Value::from(s.as_str())),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

/// A parsed filter. Inside `ValuePath`, attribute names are relative to one value (element) of
/// the multi-valued attribute `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `attrPath SP compareOp SP compValue`.
    Compare { path: AttrPath, op: CompareOp, value: CompValue },
    /// `attrPath SP "pr"`.
    Present(AttrPath),
    /// `FILTER SP "and" SP FILTER`.
    And(Box<Filter>, Box<Filter>),
    /// `FILTER SP "or" SP FILTER`.
    Or(Box<Filter>, Box<Filter>),
    /// `"not" "(" FILTER ")"`.
    Not(Box<Filter>),
    /// `attrPath "[" valFilter "]"`, e.g. `emails[type eq "work" and primary eq true]`.
    ValuePath { path: AttrPath, filter: Box<Filter> },
}

/// Binding strength used by `Display` to decide where parentheses are needed.
fn precedence(filter: &Filter) -> u8 {
    match filter {
        Filter::Or(..) => 1,
        Filter::And(..) => 2,
        _ => 3,
    }
}

fn write_operand(
    f: &mut fmt::Formatter<'_>,
    child: &Filter,
    parent_prec: u8,
    right: bool,
    height: usize,
) -> fmt::Result {
    let prec = precedence(child);
    // The parser groups `a or b or c` as `(a or b) or c`; a right operand of equal precedence
    // needs parentheses to come back as the same tree.
    if prec < parent_prec || (prec == parent_prec && right) {
        f.write_str("(")?;
        write_filter(f, child, height + 1)?;
        f.write_str(")")
    } else {
        write_filter(f, child, height + 1)
    }
}

fn write_filter(f: &mut fmt::Formatter<'_>, filter: &Filter, height: usize) -> fmt::Result {
    // Bounded recursion: parsed trees never reach MAX_TREE_HEIGHT; a hand-built deeper tree is
    // elided rather than allowed to exhaust the stack (returning fmt::Error would panic in
    // `to_string`).
    if height >= MAX_TREE_HEIGHT {
        return f.write_str("...");
    }
    match filter {
        Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
        Filter::Present(path) => write!(f, "{path} pr"),
        Filter::And(left, right) | Filter::Or(left, right) => {
            let prec = precedence(filter);
            write_operand(f, left, prec, false, height)?;
            f.write_str(if prec == 1 { " or " } else { " and " })?;
            write_operand(f, right, prec, true, height)
        }
        Filter::Not(inner) => {
            f.write_str("not (")?;
            write_filter(f, inner, height + 1)?;
            f.write_str(")")
        }
        Filter::ValuePath { path, filter } => {
            write!(f, "{path}[")?;
            write_filter(f, filter, height + 1)?;
            f.write_str("]")
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_filter(f, self, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(attr: &str, op: CompareOp, value: &str) -> Filter {
        Filter::Compare { path: AttrPath::new(attr), op, value: CompValue::String(value.into()) }
    }

    #[test]
    fn attr_path_display_covers_every_form() {
        assert_eq!(AttrPath::new("userName").to_string(), "userName");
        assert_eq!(AttrPath::new("name").with_sub("givenName").to_string(), "name.givenName");
        let urn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        assert_eq!(
            AttrPath::new("manager").with_urn(urn).with_sub("value").to_string(),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
        );
        assert_eq!(
            AttrPath::new("employeeNumber").with_urn(urn).to_string(),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
        );
    }

    #[test]
    fn attr_path_parse_standalone() {
        let urn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        assert_eq!(AttrPath::parse("name.givenName"), Ok(AttrPath::new("name").with_sub("givenName")));
        assert_eq!(
            AttrPath::parse(&format!("{urn}:manager.value")),
            Ok(AttrPath::new("manager").with_urn(urn).with_sub("value"))
        );
        let err =
            |text: &str, reason| Err(FilterError::InvalidAttrPath { pos: 0, text: text.into(), reason });
        let chars = "only letters, digits, '-', '_', '.' and ':' may appear in an attribute path";
        assert_eq!(AttrPath::parse("members.$ref"), err("members.$ref", chars));
        assert_eq!(AttrPath::parse("user name"), err("user name", chars));
        assert_eq!(AttrPath::parse(""), err("", "empty attribute name"));
        assert_eq!(AttrPath::parse("2fa"), err("2fa", "an attribute name must start with a letter"));
        assert_eq!(AttrPath::parse("a.-b"), err("a.-b", "an attribute name must start with a letter"));
    }

    #[test]
    fn operator_keywords_are_case_insensitive() {
        assert_eq!(CompareOp::from_keyword("eq"), Some(CompareOp::Eq));
        assert_eq!(CompareOp::from_keyword("Eq"), Some(CompareOp::Eq));
        assert_eq!(CompareOp::from_keyword("LE"), Some(CompareOp::Le));
        assert_eq!(CompareOp::from_keyword("pr"), None);
        assert_eq!(CompareOp::from_keyword("equals"), None);
        let words: Vec<&str> = CompareOp::ALL.iter().map(|op| op.as_str()).collect();
        assert_eq!(words, ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]);
        assert!(CompareOp::Ge.is_ordering() && !CompareOp::Eq.is_ordering());
        assert!(CompareOp::Ew.is_substring() && !CompareOp::Lt.is_substring());
    }

    #[test]
    fn comp_value_display_is_json() {
        assert_eq!(CompValue::String("O'Malley \"x\"\n".into()).to_string(), r#""O'Malley \"x\"\n""#);
        assert_eq!(CompValue::Number(Number::from(-42)).to_string(), "-42");
        assert_eq!(CompValue::Number(Number::from_f64(1.5).unwrap()).to_string(), "1.5");
        assert_eq!(CompValue::Bool(true).to_string(), "true");
        assert_eq!(CompValue::Null.to_string(), "null");
    }

    #[test]
    fn filter_display_parenthesises_only_where_needed() {
        let a = cmp("a", CompareOp::Eq, "1");
        let b = cmp("b", CompareOp::Eq, "2");
        let c = Filter::Present(AttrPath::new("c"));
        let or_ab = Filter::Or(Box::new(a.clone()), Box::new(b.clone()));
        let and = Filter::And(Box::new(or_ab.clone()), Box::new(c.clone()));
        assert_eq!(and.to_string(), r#"(a eq "1" or b eq "2") and c pr"#);
        let or = Filter::Or(Box::new(a.clone()), Box::new(Filter::And(Box::new(b), Box::new(c.clone()))));
        assert_eq!(or.to_string(), r#"a eq "1" or b eq "2" and c pr"#);
        let left_chain = Filter::Or(Box::new(or_ab.clone()), Box::new(c.clone()));
        assert_eq!(left_chain.to_string(), r#"a eq "1" or b eq "2" or c pr"#);
        let right_chain = Filter::Or(Box::new(c), Box::new(or_ab));
        assert_eq!(right_chain.to_string(), r#"c pr or (a eq "1" or b eq "2")"#);
        let not = Filter::Not(Box::new(a.clone()));
        assert_eq!(not.to_string(), r#"not (a eq "1")"#);
        let vp = Filter::ValuePath { path: AttrPath::new("emails"), filter: Box::new(a) };
        assert_eq!(vp.to_string(), r#"emails[a eq "1"]"#);
    }

    #[test]
    fn filter_display_of_a_hand_built_overdeep_tree_is_elided() {
        let mut f = Filter::Present(AttrPath::new("x"));
        for _ in 0..MAX_TREE_HEIGHT + 5 {
            f = Filter::Not(Box::new(f));
        }
        let text = f.to_string();
        assert!(text.starts_with("not (not ("));
        assert!(text.contains("..."));
        assert!(!text.contains("x pr"));
    }
}
