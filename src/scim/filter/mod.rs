//! SCIM 2.0 filters and PATCH paths: parse untrusted text from an IdP into a tree, and evaluate
//! that tree against a resource held as JSON.
//!
//! The grammar is RFC 7644 §3.4.2.2, Figure 1, with the PATCH path rule of §3.5.2:
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"
//! valFilter = attrExp / logExp / *1"not" "(" valFilter ")"
//! attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//! logExp    = FILTER SP ("and" / "or") SP FILTER
//! compValue = false / null / true / number / string      ; rules from JSON
//! compareOp = "eq" / "ne" / "co" / "sw" / "ew" / "gt" / "lt" / "ge" / "le"
//! attrPath  = [URI ":"] ATTRNAME *1subAttr
//! ATTRNAME  = ALPHA *(nameChar)
//! nameChar  = "-" / "_" / DIGIT / ALPHA
//! subAttr   = "." ATTRNAME
//! PATH      = attrPath / valuePath [subAttr]             ; PATCH "path", §3.5.2
//! ```
//!
//! Where this implementation chooses, and why:
//! - Keywords (operators, `and`/`or`/`not`, `true`/`false`/`null`) are case-insensitive:
//!   "Attribute names and attribute operators used in filters are case insensitive", and
//!   Entra sends `Eq` as readily as `eq`.
//! - Any run of whitespace (space, tab, CR, LF) separates tokens, and none is needed where the
//!   boundary is plain (`not(`, `emails[type eq "work"]`); an IdP that sends two spaces is
//!   not refused.
//! - `valFilter` may not contain another value path (errata 4690/7322: "Nesting of valuePath
//!   ... should not be possible"), but may use `and`, `or`, `not` and parentheses.
//! - `valuePath subAttr SP compareOp SP compValue` is accepted in a filter too (Entra matches
//!   users with `emails[type eq "work"].value eq "..."`): it means what the PATCH path
//!   `valuePath subAttr` selects, compared, and parses to the tree of
//!   `emails[type eq "work" and value eq "..."]`.
//! - A boolean or `null` literal with `gt`/`ge`/`lt`/`le`/`co`/`sw`/`ew` is rejected at parse
//!   time (Table 3: such comparisons "SHALL cause a failed response ... invalidFilter").
//! - `$ref` is not an ATTRNAME (no `$` in nameChar), so `members.$ref` is rejected.
//!
//! Errors: `FilterError`; `err.scim_type(Grammar::Filter)` is `invalidFilter`,
//! `err.scim_type(Grammar::PatchPath)` is `invalidPath` (RFC 7644 §3.12, Table 9).
//!
//! Limits: filters arrive from the network, so input length, nesting and comparison count are
//! bounded before they can cost memory, stack or time; see the constants below.

mod ast;
mod error;
mod eval;
mod lexer;
mod parser;
mod path;
mod resolve;
mod string;

pub use ast::{AttrPath, CompValue, CompareOp, Filter};
pub use error::{FilterError, Grammar};
pub use eval::matches;
pub use parser::parse_filter;
pub use path::{PatchPath, parse_patch_path};
pub use resolve::CORE_SCHEMA_PREFIX;

/// Longest filter or PATCH path accepted, in bytes, checked before tokenising. Secure default:
/// Entra and Okta send filters well under 200 bytes; 4 KiB leaves room for long value lists
/// while bounding lexer work and allocations per request.
pub const MAX_FILTER_LEN: usize = 4096;

/// Deepest nesting accepted. Each `(`, `not (` and value-path `[` opens one level. Secure
/// default: the parser recurses once per level, so this bounds its stack use.
pub const MAX_DEPTH: usize = 32;

/// Most comparisons (`attr op value` or `attr pr`) in one filter. Secure default: bounds the
/// work of evaluating or translating a filter to SQL.
pub const MAX_TERMS: usize = 256;

/// Height bound of every tree the parser returns: at most `MAX_TERMS - 1` `and`/`or` nodes and
/// `MAX_DEPTH` `not`/value-path nodes lie on any branch, plus the leaf. Evaluation and `Display`
/// stop descending at this height, so a hand-built deeper tree cannot exhaust the stack either.
pub const MAX_TREE_HEIGHT: usize = MAX_TERMS + MAX_DEPTH;

#[cfg(test)]
mod rfc_tests;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn case_folded(_: &AttrPath) -> bool {
        false
    }

    #[test]
    fn depth_limit_counts_parentheses_not_and_brackets() {
        let a_pr = || Filter::Present(AttrPath::new("a"));
        let ok = format!("{}a pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(parse_filter(&ok), Ok(a_pr()));
        let deep = format!("{}a pr{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert_eq!(parse_filter(&deep), Err(FilterError::TooDeep { pos: 32, max: 32 }));
        let nots = format!("{}a pr{}", "not (".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        let expected = (0..MAX_DEPTH).fold(a_pr(), |f, _| Filter::Not(Box::new(f)));
        assert_eq!(parse_filter(&nots), Ok(expected));
        let nots = format!("{}a pr{}", "not (".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert_eq!(parse_filter(&nots), Err(FilterError::TooDeep { pos: 160, max: 32 }));
        let bracketed = format!("e[{}a pr{}]", "(".repeat(MAX_DEPTH - 1), ")".repeat(MAX_DEPTH - 1));
        let expected = Filter::ValuePath { path: AttrPath::new("e"), filter: Box::new(a_pr()) };
        assert_eq!(parse_filter(&bracketed), Ok(expected));
        let bracketed = format!("e[{}a pr{}]", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(parse_filter(&bracketed), Err(FilterError::TooDeep { pos: 33, max: 32 }));
        // Sequential groups do not add up: depth is nesting, not count.
        let wide = vec!["(a pr)"; 40].join(" or ");
        assert_eq!(parse_filter(&wide).map(|f| f.to_string()), Ok(vec!["a pr"; 40].join(" or ")));
    }

    #[test]
    fn term_and_length_limits() {
        let max = vec!["a pr"; MAX_TERMS].join(" or ");
        assert_eq!(parse_filter(&max).map(|f| f.to_string()), Ok(max.clone()));
        let over = vec!["a eq 1"; MAX_TERMS + 1].join(" or ");
        assert_eq!(parse_filter(&over), Err(FilterError::TooManyTerms { pos: 256 * 10, max: 256 }));
        let long = format!("a eq \"{}\"", "x".repeat(MAX_FILTER_LEN));
        assert_eq!(parse_filter(&long), Err(FilterError::TooLong { len: MAX_FILTER_LEN + 7, max: 4096 }));
        let exactly = format!("a eq \"{}\"", "x".repeat(MAX_FILTER_LEN - 7));
        assert_eq!(exactly.len(), MAX_FILTER_LEN);
        let value = CompValue::String("x".repeat(MAX_FILTER_LEN - 7));
        assert_eq!(
            parse_filter(&exactly),
            Ok(Filter::Compare { path: AttrPath::new("a"), op: CompareOp::Eq, value })
        );
    }

    #[test]
    fn limits_are_consistent() {
        assert_eq!((MAX_FILTER_LEN, MAX_DEPTH, MAX_TERMS, MAX_TREE_HEIGHT), (4096, 32, 256, 288));
        // The tallest tree the limits allow: 31 nested `not`s around a value path holding a
        // 256-term `or` chain, 288 nodes from root to deepest leaf. Evaluation must reach the leaf.
        // The only comparison that can match is the leftmost leaf, the deepest node of the tree.
        let chain = format!("value eq 7 or {}", vec!["x eq 1"; MAX_TERMS - 1].join(" or "));
        let text = format!("{}e[{chain}]{}", "not (".repeat(MAX_DEPTH - 1), ")".repeat(MAX_DEPTH - 1));
        let filter = parse_filter(&text).unwrap();
        let resource = json!({"e": [{"value": 7}]});
        // An odd number of `not`s: the innermost match is inverted.
        assert!(!matches(&filter, &resource, &case_folded));
        assert!(matches(&filter, &json!({"e": [{"value": 8}]}), &case_folded));
    }
}
