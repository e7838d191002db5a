//! Evaluates a parsed filter against a SCIM resource held as `serde_json::Value`: the
//! reference semantics for filters, and what PATCH uses to pick elements with a value filter.
//!
//! Semantics (RFC 7644 §3.4.2.2 unless noted):
//! - A multi-valued attribute matches if ANY of its values matches ("only one has to match for
//!   the entire User to match"). That holds for `ne` too: `emails.type ne "work"` matches a
//!   user with one work and one home address. An absent attribute matches no comparison.
//! - A complex value compared without a sub-attribute is compared through its `value`
//!   sub-attribute, so `emails co "example.com"` (an RFC example) looks at `emails.value`.
//! - Strings compare after Unicode lower-casing unless `case_exact(path)` says the attribute is
//!   `caseExact` (RFC 7643 §2.2); `gt`/`ge`/`lt`/`le` order them lexicographically by code point,
//!   which is also chronological for the fixed-format `dateTime` values SCIM uses.
//! - Numbers compare numerically (exactly for integers); booleans only with `eq`/`ne`.
//!   Any other pairing, e.g. a string attribute against a number, is no match rather than an
//!   error: the parser already rejects the nonsensical literal pairings.
//! - `eq null` means "not present" and `ne null` "present", with `pr` meaning.
//!
//! Inside a value path `emails[type eq "work"]`, names are relative to each element; the
//! `case_exact` callback still receives the full path (`emails.type`) so it can consult the
//! schema. A complex value's implied `value` is reported as `emails.value`.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::MAX_TREE_HEIGHT;
use super::ast::{AttrPath, CompValue, CompareOp, Filter};
use super::resolve::{is_present, member, values};

/// Whether `filter` matches `resource`. `case_exact` answers whether a string attribute is
/// compared case-sensitively (its schema `caseExact`).
pub fn matches(filter: &Filter, resource: &Value, case_exact: &dyn Fn(&AttrPath) -> bool) -> bool {
    Eval { case_exact, parent: None }.filter(filter, resource, 0).unwrap_or(false)
}

struct Eval<'a> {
    case_exact: &'a dyn Fn(&AttrPath) -> bool,
    /// Inside a value path: the multi-valued attribute whose element is the context.
    parent: Option<&'a AttrPath>,
}

impl Eval<'_> {
    /// `None` when evaluation reached `MAX_TREE_HEIGHT`; `matches` then reports no match.
    fn filter(&self, filter: &Filter, context: &Value, height: usize) -> Option<bool> {
        // Bounded recursion: trees from the parser are lower than MAX_TREE_HEIGHT. A taller
        // hand-built tree abandons the whole evaluation (not just the branch, which a `not`
        // above it would turn into a match) rather than exhausting the stack.
        if height >= MAX_TREE_HEIGHT {
            return None;
        }
        let next = height + 1;
        Some(match filter {
            Filter::Compare { path, op, value } => self.compare(path, *op, value, context),
            Filter::Present(path) => values(context, path).into_iter().any(is_present),
            Filter::And(left, right) => {
                self.filter(left, context, next)? && self.filter(right, context, next)?
            }
            Filter::Or(left, right) => {
                self.filter(left, context, next)? || self.filter(right, context, next)?
            }
            Filter::Not(inner) => !self.filter(inner, context, next)?,
            Filter::ValuePath { path, filter } => {
                let inner = Eval { case_exact: self.case_exact, parent: Some(path) };
                for element in values(context, path) {
                    if element.is_object() && inner.filter(filter, element, next)? {
                        return Some(true);
                    }
                }
                false
            }
        })
    }

    fn compare(&self, path: &AttrPath, op: CompareOp, expected: &CompValue, context: &Value) -> bool {
        let found = values(context, path);
        if *expected == CompValue::Null {
            let present = found.iter().any(|v| is_present(v));
            return match op {
                CompareOp::Eq => !present,
                CompareOp::Ne => present,
                _ => false,
            };
        }
        let exact_direct = OnceCell::new();
        let exact_implied = OnceCell::new();
        found.into_iter().any(|value| {
            let (value, implied) = match value {
                Value::Object(_) if path.sub_attr.is_none() => match member(value, "value") {
                    Some(inner) => (inner, true),
                    None => return false,
                },
                other => (other, false),
            };
            match (value, expected) {
                (Value::String(actual), CompValue::String(wanted)) => {
                    let cell = if implied { &exact_implied } else { &exact_direct };
                    let exact = *cell.get_or_init(|| (self.case_exact)(&self.full_path(path, implied)));
                    compare_strings(op, actual, wanted, exact)
                }
                (Value::Number(actual), CompValue::Number(wanted)) => compare_numbers(op, actual, wanted),
                (Value::Bool(actual), CompValue::Bool(wanted)) => match op {
                    CompareOp::Eq => actual == wanted,
                    CompareOp::Ne => actual != wanted,
                    // RFC 7644 Table 3 makes gt/ge/lt/le on booleans an error; here: no match.
                    _ => false,
                },
                _ => false,
            }
        })
    }

    /// The path as the schema knows it: `type` inside `emails[...]` is `emails.type`;
    /// `implied_value` appends the implied `.value` of a complex attribute.
    fn full_path(&self, path: &AttrPath, implied_value: bool) -> AttrPath {
        let mut full = match self.parent {
            Some(parent) if path.urn.is_none() && path.sub_attr.is_none() => AttrPath {
                urn: parent.urn.clone(),
                attr: parent.attr.clone(),
                sub_attr: Some(path.attr.clone()),
            },
            _ => path.clone(),
        };
        if implied_value && full.sub_attr.is_none() {
            full.sub_attr = Some("value".to_string());
        }
        full
    }
}

fn compare_strings(op: CompareOp, actual: &str, wanted: &str, case_exact: bool) -> bool {
    let (actual, wanted): (Cow<'_, str>, Cow<'_, str>) = if case_exact {
        (Cow::Borrowed(actual), Cow::Borrowed(wanted))
    } else {
        (Cow::Owned(actual.to_lowercase()), Cow::Owned(wanted.to_lowercase()))
    };
    match op {
        CompareOp::Eq => actual == wanted,
        CompareOp::Ne => actual != wanted,
        CompareOp::Co => actual.contains(wanted.as_ref()),
        CompareOp::Sw => actual.starts_with(wanted.as_ref()),
        CompareOp::Ew => actual.ends_with(wanted.as_ref()),
        CompareOp::Gt => actual > wanted,
        CompareOp::Ge => actual >= wanted,
        CompareOp::Lt => actual < wanted,
        CompareOp::Le => actual <= wanted,
    }
}

fn compare_numbers(op: CompareOp, actual: &Number, wanted: &Number) -> bool {
    let Some(order) = number_order(actual, wanted) else {
        return false;
    };
    match op {
        CompareOp::Eq => order == Ordering::Equal,
        CompareOp::Ne => order != Ordering::Equal,
        CompareOp::Gt => order == Ordering::Greater,
        CompareOp::Ge => order != Ordering::Less,
        CompareOp::Lt => order == Ordering::Less,
        CompareOp::Le => order != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// Integers (i64 or u64) compare exactly; anything involving a decimal compares as f64.
fn number_order(a: &Number, b: &Number) -> Option<Ordering> {
    let int = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use serde_json::json;

    use super::super::parse_filter;
    use super::*;

    fn folded(_: &AttrPath) -> bool {
        false
    }

    fn exact(_: &AttrPath) -> bool {
        true
    }

    fn check(filter: &str, resource: &Value) -> bool {
        matches(&parse_filter(filter).unwrap(), resource, &folded)
    }

    fn compare(attr: &str, op: CompareOp, value: CompValue) -> Filter {
        Filter::Compare { path: AttrPath::new(attr), op, value }
    }

    #[test]
    fn strings_fold_unicode_case_unless_case_exact() {
        let user = json!({"givenName": "ÉMILE", "city": "a"});
        let filter = parse_filter(r#"givenName eq "émile""#).unwrap();
        assert!(matches(&filter, &user, &folded));
        assert!(!matches(&filter, &user, &exact));
        let lt = parse_filter(r#"city lt "B""#).unwrap();
        assert!(matches(&lt, &user, &folded));
        assert!(!matches(&lt, &user, &exact));
        assert!(check(r#"givenName sw "ém" and givenName ew "ile" and givenName co "mil""#, &user));
        assert!(!check(r#"givenName co "x""#, &user));
    }

    #[test]
    fn case_exact_sees_full_paths() {
        let seen = RefCell::new(Vec::new());
        let record = |path: &AttrPath| {
            seen.borrow_mut().push(path.to_string());
            false
        };
        let user = json!({"emails": [{"type": "work", "value": "a@x"}, {"type": "home", "value": "b@x"}]});
        let filter =
            parse_filter(r#"emails[type eq "home"] and emails co "@x" and emails.type eq "home""#).unwrap();
        assert!(matches(&filter, &user, &record));
        // Asked once per comparison and context (each element of a value path is a context),
        // not once per value compared.
        assert_eq!(*seen.borrow(), ["emails.type", "emails.type", "emails.value", "emails.type"]);
    }

    #[test]
    fn numbers_compare_numerically() {
        let doc = json!({"n": 10, "f": 2.5, "big": u64::MAX, "neg": -3});
        assert!(check("n eq 10 and n eq 10.0 and n gt 9.5 and n ge 10 and n lt 11 and n le 10", &doc));
        assert!(check("f gt 2 and f lt 3 and f ne 2.4", &doc));
        assert!(check("big gt 9223372036854775807 and neg lt 0 and neg gt -4", &doc));
        assert!(!check("n gt 10 or n lt 10 or n ne 10", &doc));
        assert!(!check("n co 1 or n sw 1 or n ew 0", &doc));
    }

    #[test]
    fn booleans_match_only_eq_and_ne() {
        let doc = json!({"active": true});
        assert!(check("active eq true and active ne false", &doc));
        assert!(!check("active eq false", &doc));
        // The parser refuses `gt true`; a hand-built tree simply does not match.
        for op in [CompareOp::Gt, CompareOp::Ge, CompareOp::Lt, CompareOp::Le, CompareOp::Co] {
            assert!(!matches(&compare("active", op, CompValue::Bool(false)), &doc, &folded));
        }
    }

    #[test]
    fn mismatched_types_never_match() {
        let doc = json!({"age": 30, "name": "30", "flag": "true"});
        assert!(!check(r#"age eq "30" or age ne "31""#, &doc));
        assert!(!check("name eq 30 or name ne 31", &doc));
        assert!(!check("flag eq true", &doc));
    }

    #[test]
    fn null_means_not_present() {
        let doc = json!({"a": "x", "empty": "", "nothing": null, "list": [], "obj": {"k": ""}});
        assert!(check("missing eq null and empty eq null and nothing eq null and list eq null", &doc));
        assert!(check("obj eq null and a ne null", &doc));
        assert!(!check("a eq null or missing ne null or empty ne null", &doc));
        assert!(!matches(&compare("a", CompareOp::Gt, CompValue::Null), &doc, &folded));
    }

    #[test]
    fn present() {
        let doc =
            json!({"s": "x", "e": "", "zero": 0, "no": false, "tags": ["a"], "none": [], "name": {"g": "B"}});
        assert!(check("s pr and zero pr and no pr and tags pr and name pr and name.g pr", &doc));
        assert!(!check("e pr or none pr or missing pr or name.x pr", &doc));
    }

    #[test]
    fn multi_valued_any_semantics_including_ne() {
        let doc = json!({"emails": [{"type": "work"}, {"type": "home"}], "tags": ["a", "b"]});
        assert!(check(r#"emails.type eq "home" and emails.type ne "home""#, &doc));
        assert!(check(r#"tags eq "b" and tags ne "b""#, &doc));
        assert!(!check(r#"not (emails.type eq "home")"#, &doc));
        assert!(!check(r#"missing ne "x""#, &doc));
        let single = json!({"emails": [{"type": "home"}]});
        assert!(!check(r#"emails.type ne "home""#, &single));
    }

    #[test]
    fn value_paths_select_object_elements() {
        let doc = json!({
            "name": {"givenName": "Barbara"},
            "tags": ["x"],
            "emails": [null, "bad", {"type": "work", "primary": true, "value": "a@x"}]
        });
        assert!(check(r#"name[givenName eq "barbara"]"#, &doc));
        assert!(!check(r#"tags[value eq "x"]"#, &doc));
        assert!(check(r#"emails[type eq "work" and primary eq true and not (value ew "@y")]"#, &doc));
        assert!(!check(r#"emails[type eq "home"]"#, &doc));
        assert!(!check(r#"missing[type pr]"#, &doc));
    }

    #[test]
    fn complex_values_compare_through_implied_value() {
        let doc = json!({"emails": [{"value": "bjensen@example.com"}], "name": {"givenName": "B"}});
        assert!(check(r#"emails co "example.com" and emails eq "BJENSEN@example.com""#, &doc));
        assert!(!check(r#"name eq "B""#, &doc));
    }

    #[test]
    fn schema_qualified_attributes() {
        let urn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let doc =
            json!({"userName": "bjensen", urn: {"employeeNumber": "701984", "manager": {"value": "m-1"}}});
        assert!(check(
            &format!(r#"{urn}:employeeNumber eq "701984" and {urn}:manager.value eq "m-1""#),
            &doc
        ));
        assert!(check(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen""#, &doc));
        assert!(!check(&format!(r#"{urn}:userName eq "bjensen""#), &doc));
        assert!(!check(r#"employeeNumber eq "701984""#, &doc));
    }

    #[test]
    fn overdeep_hand_built_tree_does_not_match() {
        let mut filter = Filter::Present(AttrPath::new("a"));
        for _ in 0..MAX_TREE_HEIGHT {
            filter = Filter::Not(Box::new(filter));
        }
        // Whatever the parity of the `not`s above the cut-off, the answer is "no match".
        assert!(!matches(&filter, &json!({"a": 1}), &folded));
        assert!(!matches(&Filter::Not(Box::new(filter.clone())), &json!({"a": 1}), &folded));
        assert!(!matches(&Filter::Not(Box::new(filter)), &json!({}), &folded));
    }
}
