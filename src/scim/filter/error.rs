//! Errors from the SCIM filter and PATCH-path grammars. Each variant carries its evidence: the
//! byte offset into the input (`pos`), what was found there and, where it helps, what was
//! expected.
//!
//! Mapping to the SCIM error schema (RFC 7644 §3.12, Table 9): every variant is a syntax or
//! limit violation, so the `scimType` depends only on which grammar was being parsed, not on the
//! variant: `invalidFilter` for a `filter` parameter, `invalidPath` for a PATCH `path`. The
//! caller states the grammar: `err.scim_type(Grammar::PatchPath)`.

use thiserror::Error;

use super::ast::CompareOp;

/// Which grammar was being parsed when an error occurred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grammar {
    /// A `filter` query parameter or `/.search` body (RFC 7644 §3.4.2.2); see `parse_filter`.
    Filter,
    /// The `path` of a PATCH operation (RFC 7644 §3.5.2); see `parse_patch_path`.
    PatchPath,
}

impl Grammar {
    /// The SCIM `scimType` for a syntax error in this grammar (RFC 7644 Table 9).
    pub fn scim_type(self) -> &'static str {
        match self {
            Grammar::Filter => "invalidFilter",
            Grammar::PatchPath => "invalidPath",
        }
    }
}

/// Why a filter or PATCH path was rejected. Positions are byte offsets into the input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FilterError {
    /// The input is empty or only whitespace.
    #[error("empty filter")]
    Empty,
    /// The input is longer than `MAX_FILTER_LEN` bytes; nothing was parsed.
    #[error("filter is {len} bytes long; the limit is {max}")]
    TooLong { len: usize, max: usize },
    /// Parentheses, `not (...)` and value paths `[...]` nest deeper than `MAX_DEPTH`.
    #[error("nesting deeper than {max} levels at byte {pos}")]
    TooDeep { pos: usize, max: usize },
    /// More than `MAX_TERMS` comparisons (`pr` counts as one); `pos` is the first one too many.
    #[error("more than {max} comparisons; the one at byte {pos} is over the limit")]
    TooManyTerms { pos: usize, max: usize },
    /// A character that cannot start any token.
    #[error("unexpected character {found:?} at byte {pos}")]
    UnexpectedChar { pos: usize, found: char },
    /// A string literal that is never closed; `pos` is its opening quote.
    #[error("unterminated string starting at byte {pos}")]
    UnterminatedString { pos: usize },
    /// A backslash escape JSON does not allow, or a `\u` escape that is not a scalar value.
    #[error("invalid escape at byte {pos}: {reason}")]
    InvalidEscape { pos: usize, reason: &'static str },
    /// A raw control character (U+0000 to U+001F) inside a string; JSON requires it escaped.
    #[error("unescaped control character U+{code:04X} in a string at byte {pos}")]
    ControlChar { pos: usize, code: u32 },
    /// A number that is not JSON number syntax, or is out of range.
    #[error("invalid number {text:?} at byte {pos}")]
    InvalidNumber { pos: usize, text: String },
    /// An attribute path that does not fit `[URI ":"] ATTRNAME *1subAttr`.
    #[error("invalid attribute path {text:?} at byte {pos}: {reason}")]
    InvalidAttrPath { pos: usize, text: String, reason: &'static str },
    /// A word where a comparison operator was expected (`userName equals "x"`).
    #[error("unknown operator {found:?} at byte {pos}; expected eq, ne, co, sw, ew, gt, ge, lt, le or pr")]
    UnknownOperator { pos: usize, found: String },
    /// A comparison operator that is not followed by a JSON value.
    #[error("missing value after '{op}': found {found} at byte {pos}")]
    MissingValue { pos: usize, op: CompareOp, found: String },
    /// An operator with a literal it cannot compare: `gt`/`ge`/`lt`/`le` with a boolean or
    /// `null` (RFC 7644 Table 3: "Boolean ... attributes SHALL cause a failed response ... with
    /// a scimType of invalidFilter"), or `co`/`sw`/`ew` with anything but a string or number.
    #[error("operator '{op}' cannot compare with {value} (byte {pos})")]
    OperatorValueMismatch { pos: usize, op: CompareOp, value: String },
    /// `not` without the parenthesised filter RFC 7644 requires (`*1"not" "(" FILTER ")"`).
    #[error("'not' must be followed by '(': found {found} at byte {pos}")]
    NotWithoutParens { pos: usize, found: String },
    /// A value path inside another value path's brackets (RFC 7644 errata 4690 and 7322).
    #[error("value path at byte {pos} is nested inside another value path")]
    NestedValuePath { pos: usize },
    /// A token that cannot appear here.
    #[error("expected {expected} at byte {pos}, found {found}")]
    Unexpected { pos: usize, found: String, expected: &'static str },
    /// A token after a complete filter or path (an unbalanced `)`, a missing `and`/`or`, ...).
    #[error("unexpected {found} at byte {pos} after a complete expression")]
    TrailingInput { pos: usize, found: String },
}

impl FilterError {
    /// The SCIM `scimType` for this error when it came from `grammar`: `invalidFilter` or
    /// `invalidPath`. The variant does not matter; see the module documentation.
    pub fn scim_type(&self, grammar: Grammar) -> &'static str {
        grammar.scim_type()
    }

    /// Byte offset the error points at, when it points at one (`Empty` and `TooLong` do not).
    pub fn position(&self) -> Option<usize> {
        match self {
            FilterError::Empty | FilterError::TooLong { .. } => None,
            FilterError::TooDeep { pos, .. }
            | FilterError::TooManyTerms { pos, .. }
            | FilterError::UnexpectedChar { pos, .. }
            | FilterError::UnterminatedString { pos }
            | FilterError::InvalidEscape { pos, .. }
            | FilterError::ControlChar { pos, .. }
            | FilterError::InvalidNumber { pos, .. }
            | FilterError::InvalidAttrPath { pos, .. }
            | FilterError::UnknownOperator { pos, .. }
            | FilterError::MissingValue { pos, .. }
            | FilterError::OperatorValueMismatch { pos, .. }
            | FilterError::NotWithoutParens { pos, .. }
            | FilterError::NestedValuePath { pos }
            | FilterError::Unexpected { pos, .. }
            | FilterError::TrailingInput { pos, .. } => Some(*pos),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scim_type_depends_on_the_grammar_only() {
        let errors = [
            FilterError::Empty,
            FilterError::TooLong { len: 5000, max: 4096 },
            FilterError::UnterminatedString { pos: 12 },
            FilterError::NestedValuePath { pos: 3 },
        ];
        for err in &errors {
            assert_eq!(err.scim_type(Grammar::Filter), "invalidFilter");
            assert_eq!(err.scim_type(Grammar::PatchPath), "invalidPath");
        }
        assert_eq!(Grammar::Filter.scim_type(), "invalidFilter");
        assert_eq!(Grammar::PatchPath.scim_type(), "invalidPath");
    }

    #[test]
    fn positions() {
        assert_eq!(FilterError::Empty.position(), None);
        assert_eq!(FilterError::TooLong { len: 4097, max: 4096 }.position(), None);
        assert_eq!(FilterError::TooDeep { pos: 32, max: 32 }.position(), Some(32));
        let err = FilterError::Unexpected { pos: 9, found: "')'".into(), expected: "a value" };
        assert_eq!(err.position(), Some(9));
    }

    #[test]
    fn messages_show_the_evidence() {
        let err = FilterError::MissingValue { pos: 12, op: CompareOp::Eq, found: "end of input".into() };
        assert_eq!(err.to_string(), "missing value after 'eq': found end of input at byte 12");
        let err = FilterError::UnknownOperator { pos: 9, found: "equals".into() };
        assert_eq!(
            err.to_string(),
            "unknown operator \"equals\" at byte 9; expected eq, ne, co, sw, ew, gt, ge, lt, le or pr"
        );
        let err = FilterError::TooLong { len: 5000, max: 4096 };
        assert_eq!(err.to_string(), "filter is 5000 bytes long; the limit is 4096");
        let err = FilterError::ControlChar { pos: 4, code: 0x0a };
        assert_eq!(err.to_string(), "unescaped control character U+000A in a string at byte 4");
        let err = FilterError::InvalidAttrPath { pos: 0, text: "a.b.c".into(), reason: "r" };
        assert_eq!(err.to_string(), "invalid attribute path \"a.b.c\" at byte 0: r");
    }
}
