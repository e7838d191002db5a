//! Recursive-descent parser for SCIM filters (RFC 7644 §3.4.2.2, Figure 1).
//!
//! Precedence, loosest first: `or`, `and`, then `not (...)`, `(...)` and value paths
//! (RFC 7644: "'not' takes precedence over 'and', which takes precedence over 'or'").
//! `and`/`or` chains are parsed by loops and grouped left to right, `a or b or c` as
//! `(a or b) or c`; the parser recurses only through `(`, `not (` and `[`, each of which counts
//! one level against `MAX_DEPTH`, so the Rust stack is bounded whatever the input.

use super::ast::{AttrPath, CompValue, CompareOp, Filter};
use super::error::FilterError;
use super::lexer::{Token, TokenKind, tokenize};
use super::{MAX_DEPTH, MAX_FILTER_LEN, MAX_TERMS};

/// Parses a SCIM filter such as `userName eq "bjensen"` or
/// `emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp"]`.
/// Errors map to `scimType` `invalidFilter`.
pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    let mut parser = Parser::new(input)?;
    let filter = parser.parse_or()?;
    parser.expect_end()?;
    Ok(filter)
}

/// Token cursor plus the counters that enforce the limits. Shared with the PATCH-path parser.
pub(super) struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// Byte length of the input: the position reported for "end of input".
    end: usize,
    depth: usize,
    terms: usize,
    /// Inside `[...]`, where another value path is not allowed.
    in_value_path: bool,
}

impl Parser {
    /// Checks the length limit, tokenises, and rejects input with no tokens.
    pub(super) fn new(input: &str) -> Result<Self, FilterError> {
        // Secure default: the length is checked before any work is done on the input.
        if input.len() > MAX_FILTER_LEN {
            return Err(FilterError::TooLong { len: input.len(), max: MAX_FILTER_LEN });
        }
        let tokens = tokenize(input)?;
        if tokens.is_empty() {
            return Err(FilterError::Empty);
        }
        Ok(Self { tokens, next: 0, end: input.len(), depth: 0, terms: 0, in_value_path: false })
    }

    pub(super) fn peek(&self) -> Option<&TokenKind> {
        self.tokens.get(self.next).map(|t| &t.kind)
    }

    /// Position and description of the next token, or of the end of input.
    pub(super) fn found(&self) -> (usize, String) {
        match self.tokens.get(self.next) {
            Some(t) => (t.pos, t.kind.describe()),
            None => (self.end, "end of input".to_string()),
        }
    }

    /// Takes the next token; `None` at end of input.
    pub(super) fn bump(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).cloned();
        if token.is_some() {
            self.next += 1;
        }
        token
    }

    fn unexpected(&self, expected: &'static str) -> FilterError {
        let (pos, found) = self.found();
        FilterError::Unexpected { pos, found, expected }
    }

    fn expect(&mut self, kind: &TokenKind, expected: &'static str) -> Result<(), FilterError> {
        if self.peek() == Some(kind) {
            self.next += 1;
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    pub(super) fn expect_end(&self) -> Result<(), FilterError> {
        match self.tokens.get(self.next) {
            None => Ok(()),
            Some(t) => Err(FilterError::TrailingInput { pos: t.pos, found: t.kind.describe() }),
        }
    }

    /// Enters one nesting level opened by the token at `pos`.
    fn enter(&mut self, pos: usize) -> Result<(), FilterError> {
        if self.depth >= MAX_DEPTH {
            return Err(FilterError::TooDeep { pos, max: MAX_DEPTH });
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// `FILTER "or" FILTER`, loosest binding.
    pub(super) fn parse_or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.parse_and()?;
        while self.peek() == Some(&TokenKind::Or) {
            self.next += 1;
            let right = self.parse_and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// `FILTER "and" FILTER`.
    fn parse_and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.parse_unary()?;
        while self.peek() == Some(&TokenKind::And) {
            self.next += 1;
            let right = self.parse_unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// `"not" "(" FILTER ")"`, `"(" FILTER ")"`, a value path, or an attribute expression.
    fn parse_unary(&mut self) -> Result<Filter, FilterError> {
        let Some(token) = self.bump() else {
            return Err(self.unexpected("an attribute path, '(' or 'not'"));
        };
        match token.kind {
            TokenKind::Not => {
                // RFC 7644 Figure 1: `*1"not" "(" FILTER ")"` — the parentheses are required.
                if self.peek() != Some(&TokenKind::LParen) {
                    let (pos, found) = self.found();
                    return Err(FilterError::NotWithoutParens { pos, found });
                }
                self.next += 1;
                let inner = self.parse_group(token.pos, &TokenKind::RParen, "')' closing 'not ('")?;
                Ok(Filter::Not(Box::new(inner)))
            }
            TokenKind::LParen => self.parse_group(token.pos, &TokenKind::RParen, "')'"),
            TokenKind::Path(path) => {
                if self.peek() == Some(&TokenKind::LBracket) {
                    let mut filter = self.parse_value_filter(&path, token.pos)?;
                    if self.peek() == Some(&TokenKind::Dot) {
                        filter = self.parse_sub_attr_exp(filter)?;
                    }
                    Ok(Filter::ValuePath { path, filter: Box::new(filter) })
                } else {
                    self.parse_attr_exp(path, token.pos)
                }
            }
            kind => Err(FilterError::Unexpected {
                pos: token.pos,
                found: kind.describe(),
                expected: "an attribute path, '(' or 'not'",
            }),
        }
    }

    /// The filter inside a group whose opening token is at `open_pos` (already consumed), up to
    /// and including `close`.
    fn parse_group(
        &mut self,
        open_pos: usize,
        close: &TokenKind,
        expected: &'static str,
    ) -> Result<Filter, FilterError> {
        self.enter(open_pos)?;
        let inner = self.parse_or()?;
        self.expect(close, expected)?;
        self.leave();
        Ok(inner)
    }

    /// `"[" valFilter "]"` after attribute `path` (token at `path_pos`); the `[` is next.
    pub(super) fn parse_value_filter(
        &mut self,
        path: &AttrPath,
        path_pos: usize,
    ) -> Result<Filter, FilterError> {
        if path.sub_attr.is_some() {
            return Err(FilterError::InvalidAttrPath {
                pos: path_pos,
                text: path.to_string(),
                reason: "a value path filters a multi-valued attribute, not a sub-attribute",
            });
        }
        let (bracket_pos, _) = self.found();
        if self.in_value_path {
            // RFC 7644 errata 4690/7322: `valFilter` cannot contain another valuePath.
            return Err(FilterError::NestedValuePath { pos: path_pos });
        }
        self.next += 1;
        self.in_value_path = true;
        let result = self.parse_group(bracket_pos, &TokenKind::RBracket, "']' closing the value filter");
        self.in_value_path = false;
        result
    }

    /// `valuePath subAttr SP compareOp SP compValue` (or `SP "pr"`), the `.` next: Entra's
    /// `emails[type eq "work"].value eq "ann@example.com"`. Figure 1 has no such filter, but
    /// its meaning is that of the PATCH path `valuePath [subAttr]` (§3.5.2) compared: some
    /// element matches the value filter and its sub-attribute matches the comparison — the
    /// tree of `emails[type eq "work" and value eq "ann@example.com"]`, which evaluation and
    /// SQL translation already handle.
    fn parse_sub_attr_exp(&mut self, value_filter: Filter) -> Result<Filter, FilterError> {
        self.next += 1;
        let (pos, found) = self.found();
        let sub = match self.bump().map(|t| t.kind) {
            // `subAttr = "." ATTRNAME`: a bare name, no URI and no second dot.
            Some(TokenKind::Path(sub @ AttrPath { urn: None, sub_attr: None, .. })) => sub,
            Some(TokenKind::Path(path)) => {
                return Err(FilterError::InvalidAttrPath {
                    pos,
                    text: path.to_string(),
                    reason: "a value path's sub-attribute is a bare attribute name",
                });
            }
            _ => {
                return Err(FilterError::Unexpected {
                    pos,
                    found,
                    expected: "a sub-attribute name after '.'",
                });
            }
        };
        let term = self.parse_attr_exp(sub, pos)?;
        Ok(Filter::And(Box::new(value_filter), Box::new(term)))
    }

    /// `attrPath SP "pr"` or `attrPath SP compareOp SP compValue`.
    fn parse_attr_exp(&mut self, path: AttrPath, path_pos: usize) -> Result<Filter, FilterError> {
        let op = match self.bump() {
            Some(Token { kind: TokenKind::Pr, .. }) => {
                self.count_term(path_pos)?;
                return Ok(Filter::Present(path));
            }
            Some(Token { kind: TokenKind::Op(op), .. }) => op,
            Some(Token { kind: TokenKind::Path(word), pos })
                if word.urn.is_none() && word.sub_attr.is_none() =>
            {
                return Err(FilterError::UnknownOperator { pos, found: word.attr });
            }
            Some(Token { kind, pos }) => {
                let found = kind.describe();
                return Err(FilterError::Unexpected {
                    pos,
                    found,
                    expected: "a comparison operator or 'pr'",
                });
            }
            None => return Err(self.unexpected("a comparison operator or 'pr'")),
        };
        let (value_pos, found) = self.found();
        let value = match self.bump() {
            Some(Token { kind: TokenKind::Value(value), .. }) => value,
            _ => return Err(FilterError::MissingValue { pos: value_pos, op, found }),
        };
        check_operands(op, &value, value_pos)?;
        self.count_term(path_pos)?;
        Ok(Filter::Compare { path, op, value })
    }

    fn count_term(&mut self, pos: usize) -> Result<(), FilterError> {
        if self.terms >= MAX_TERMS {
            return Err(FilterError::TooManyTerms { pos, max: MAX_TERMS });
        }
        self.terms += 1;
        Ok(())
    }
}

/// RFC 7644 Table 3: gt/ge/lt/le on "Boolean and Binary attributes SHALL cause a failed
/// response (HTTP status code 400) with a scimType of invalidFilter"; a literal `true`, `false`
/// or `null` can only be compared by `eq` and `ne`, and co/sw/ew need a substring.
fn check_operands(op: CompareOp, value: &CompValue, pos: usize) -> Result<(), FilterError> {
    let literal = matches!(value, CompValue::Bool(_) | CompValue::Null);
    if literal && (op.is_ordering() || op.is_substring()) {
        return Err(FilterError::OperatorValueMismatch { pos, op, value: value.to_string() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(attr: &str, n: i64) -> Filter {
        Filter::Compare { path: AttrPath::new(attr), op: CompareOp::Eq, value: CompValue::Number(n.into()) }
    }

    fn and(l: Filter, r: Filter) -> Filter {
        Filter::And(Box::new(l), Box::new(r))
    }

    fn or(l: Filter, r: Filter) -> Filter {
        Filter::Or(Box::new(l), Box::new(r))
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let expected = or(eq("a", 1), and(eq("b", 2), eq("c", 3)));
        assert_eq!(parse_filter("a eq 1 or b eq 2 and c eq 3"), Ok(expected));
        let expected = or(and(eq("a", 1), eq("b", 2)), eq("c", 3));
        assert_eq!(parse_filter("a eq 1 and b eq 2 or c eq 3"), Ok(expected));
    }

    #[test]
    fn chains_group_left_to_right_and_parentheses_override() {
        assert_eq!(
            parse_filter("a eq 1 or b eq 2 or c eq 3"),
            Ok(or(or(eq("a", 1), eq("b", 2)), eq("c", 3)))
        );
        assert_eq!(
            parse_filter("a eq 1 and b eq 2 and c eq 3"),
            Ok(and(and(eq("a", 1), eq("b", 2)), eq("c", 3)))
        );
        let expected = and(or(eq("a", 1), eq("b", 2)), eq("c", 3));
        assert_eq!(parse_filter("(a eq 1 or b eq 2) and c eq 3"), Ok(expected));
        assert_eq!(parse_filter("((a eq 1))"), Ok(eq("a", 1)));
    }

    #[test]
    fn not_binds_tightest_and_accepts_no_space() {
        let expected = and(Filter::Not(Box::new(eq("a", 1))), eq("b", 2));
        assert_eq!(parse_filter("not (a eq 1) and b eq 2"), Ok(expected.clone()));
        assert_eq!(parse_filter("NOT(a eq 1) AND b eq 2"), Ok(expected));
    }

    #[test]
    fn keywords_and_literals_in_any_case() {
        let expected = Filter::Compare {
            path: AttrPath::new("active"),
            op: CompareOp::Eq,
            value: CompValue::Bool(true),
        };
        assert_eq!(parse_filter("active Eq True"), Ok(expected));
        assert_eq!(parse_filter("title PR"), Ok(Filter::Present(AttrPath::new("title"))));
    }

    fn unexpected(pos: usize, found: &str, expected: &'static str) -> Result<Filter, FilterError> {
        Err(FilterError::Unexpected { pos, found: found.into(), expected })
    }

    #[test]
    fn syntax_errors_name_position_and_token() {
        assert_eq!(parse_filter(""), Err(FilterError::Empty));
        assert_eq!(parse_filter(" \t "), Err(FilterError::Empty));
        assert_eq!(parse_filter(r#"userName eq "bjensen"#), Err(FilterError::UnterminatedString { pos: 12 }));
        assert_eq!(
            parse_filter(r#"userName equals "bjensen""#),
            Err(FilterError::UnknownOperator { pos: 9, found: "equals".into() })
        );
        assert_eq!(
            parse_filter("userName eq"),
            Err(FilterError::MissingValue { pos: 11, op: CompareOp::Eq, found: "end of input".into() })
        );
        assert_eq!(
            parse_filter("userName eq and b pr"),
            Err(FilterError::MissingValue { pos: 12, op: CompareOp::Eq, found: "'and'".into() })
        );
        assert_eq!(
            parse_filter("userName eq bjensen"),
            Err(FilterError::MissingValue {
                pos: 12,
                op: CompareOp::Eq,
                found: "attribute path bjensen".into()
            })
        );
        assert_eq!(
            parse_filter(r#"userName eq "a" "b""#),
            Err(FilterError::TrailingInput { pos: 16, found: r#"string "b""#.into() })
        );
        assert_eq!(parse_filter("a pr)"), Err(FilterError::TrailingInput { pos: 4, found: "')'".into() }));
        assert_eq!(
            parse_filter("a pr b pr"),
            Err(FilterError::TrailingInput { pos: 5, found: "attribute path b".into() })
        );
        assert_eq!(parse_filter("userName"), unexpected(8, "end of input", "a comparison operator or 'pr'"));
        assert_eq!(parse_filter("a \"x\""), unexpected(2, r#"string "x""#, "a comparison operator or 'pr'"));
        assert_eq!(
            parse_filter("a pr and"),
            unexpected(8, "end of input", "an attribute path, '(' or 'not'")
        );
        assert_eq!(parse_filter("eq 1"), unexpected(0, "'eq'", "an attribute path, '(' or 'not'"));
        assert_eq!(parse_filter("(a pr"), unexpected(5, "end of input", "')'"));
        assert_eq!(parse_filter("not (a pr"), unexpected(9, "end of input", "')' closing 'not ('"));
        assert_eq!(parse_filter("()"), unexpected(1, "')'", "an attribute path, '(' or 'not'"));
        assert_eq!(parse_filter("emails[]"), unexpected(7, "']'", "an attribute path, '(' or 'not'"));
    }

    #[test]
    fn rfc_structural_rules() {
        assert_eq!(
            parse_filter("not a pr"),
            Err(FilterError::NotWithoutParens { pos: 4, found: "attribute path a".into() })
        );
        assert_eq!(parse_filter(r#"emails[x[y eq 1]]"#), Err(FilterError::NestedValuePath { pos: 7 }));
        assert_eq!(parse_filter(r#"a[(b[c pr])]"#), Err(FilterError::NestedValuePath { pos: 3 }));
        let err =
            |pos, op, value: &str| Err(FilterError::OperatorValueMismatch { pos, op, value: value.into() });
        assert_eq!(parse_filter("active gt true"), err(10, CompareOp::Gt, "true"));
        assert_eq!(parse_filter("active le null"), err(10, CompareOp::Le, "null"));
        assert_eq!(parse_filter("title co false"), err(9, CompareOp::Co, "false"));
        let ne_null =
            Filter::Compare { path: AttrPath::new("title"), op: CompareOp::Ne, value: CompValue::Null };
        assert_eq!(parse_filter("title ne null"), Ok(ne_null));
        let sw_number = Filter::Compare {
            path: AttrPath::new("count"),
            op: CompareOp::Sw,
            value: CompValue::Number(12.into()),
        };
        assert_eq!(parse_filter("count sw 12"), Ok(sw_number));
    }
}
