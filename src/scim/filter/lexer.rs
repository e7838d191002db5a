//! Tokeniser for SCIM filters and PATCH paths (RFC 7644 §3.4.2.2 Figure 1, §3.5.2).
//!
//! Words are read whole and then classified: a bare word equal (ASCII case-insensitively) to an
//! operator or literal is a keyword (`eq`, `Eq`, `AND`, `True`, ...); anything else must be an
//! attribute path `[URI ":"] ATTRNAME *1subAttr` (`AttrPath::from_word` splits it at the last
//! `:`, so the dots inside `...:enterprise:2.0:User:manager.value` stay in the URI). So an
//! attribute literally named `and` or `pr` cannot be written unqualified; no SCIM schema
//! defines one.
//! Whitespace (space, tab, CR, LF) separates tokens and is otherwise ignored.

use serde_json::Number;

use super::ast::{AttrPath, CompValue, CompareOp, is_path_char};
use super::error::FilterError;
use super::string::read_string;

/// One token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub pos: usize,
}

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// An attribute path, e.g. `name.givenName` or `urn:...:User:manager.value`.
    Path(AttrPath),
    /// A comparison operator keyword.
    Op(CompareOp),
    /// `pr`.
    Pr,
    /// `and`.
    And,
    /// `or`.
    Or,
    /// `not`.
    Not,
    /// A JSON value: string, number, `true`, `false` or `null`.
    Value(CompValue),
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `[`.
    LBracket,
    /// `]`.
    RBracket,
    /// `.` between a value path's `]` and a sub-attribute (PATCH paths only).
    Dot,
}

impl TokenKind {
    /// How the token is named in error messages ("found ...").
    pub fn describe(&self) -> String {
        match self {
            TokenKind::Path(path) => format!("attribute path {path}"),
            TokenKind::Op(op) => format!("'{op}'"),
            TokenKind::Pr => "'pr'".into(),
            TokenKind::And => "'and'".into(),
            TokenKind::Or => "'or'".into(),
            TokenKind::Not => "'not'".into(),
            TokenKind::Value(CompValue::String(s)) => format!("string {}", CompValue::String(s.clone())),
            TokenKind::Value(CompValue::Number(n)) => format!("number {n}"),
            TokenKind::Value(value) => format!("'{value}'"),
            TokenKind::LParen => "'('".into(),
            TokenKind::RParen => "')'".into(),
            TokenKind::LBracket => "'['".into(),
            TokenKind::RBracket => "']'".into(),
            TokenKind::Dot => "'.'".into(),
        }
    }
}

/// Splits `input` into tokens. The caller bounds `input` (`MAX_FILTER_LEN`) beforehand.
pub fn tokenize(input: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut pos = 0;
    while let Some(c) = input[pos..].chars().next() {
        let start = pos;
        let (kind, end) = match c {
            ' ' | '\t' | '\r' | '\n' => {
                pos += 1;
                continue;
            }
            '(' => (TokenKind::LParen, pos + 1),
            ')' => (TokenKind::RParen, pos + 1),
            '[' => (TokenKind::LBracket, pos + 1),
            ']' => (TokenKind::RBracket, pos + 1),
            '.' => (TokenKind::Dot, pos + 1),
            '"' => {
                let (text, end) = read_string(input, pos)?;
                (TokenKind::Value(CompValue::String(text)), end)
            }
            '-' | '0'..='9' => read_number(input, pos)?,
            c if c.is_ascii_alphabetic() => read_word(input, pos)?,
            found => return Err(FilterError::UnexpectedChar { pos, found }),
        };
        tokens.push(Token { kind, pos: start });
        pos = end;
    }
    Ok(tokens)
}

/// `number` from RFC 8259 §6: `[ "-" ] int [ frac ] [ exp ]`. The whole run of number-like
/// characters is taken so `12abc` is one bad number rather than a number and a word.
fn read_number(input: &str, start: usize) -> Result<(TokenKind, usize), FilterError> {
    let len = input[start..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.')))
        .unwrap_or(input.len() - start);
    let text = &input[start..start + len];
    let bad = || FilterError::InvalidNumber { pos: start, text: text.to_string() };
    if !is_json_number(text.as_bytes()) {
        return Err(bad());
    }
    // serde_json rejects values outside f64 range ("1e400"), which is what we want.
    let number: Number = text.parse().map_err(|_| bad())?;
    Ok((TokenKind::Value(CompValue::Number(number)), start + len))
}

fn is_json_number(b: &[u8]) -> bool {
    let digits = |i: usize| b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i += digits(i),
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        let n = digits(i + 1);
        if n == 0 {
            return false;
        }
        i += 1 + n;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(i);
        if n == 0 {
            return false;
        }
        i += n;
    }
    i == b.len()
}

/// A keyword or an attribute path: ALPHA followed by letters, digits, `-`, `_`, `.` and `:`.
fn read_word(input: &str, start: usize) -> Result<(TokenKind, usize), FilterError> {
    let len = input[start..].find(|c: char| !is_path_char(c)).unwrap_or(input.len() - start);
    let word = &input[start..start + len];
    let end = start + len;
    if let Some(kind) = keyword(word) {
        return Ok((kind, end));
    }
    let path = AttrPath::from_word(word).map_err(|reason| FilterError::InvalidAttrPath {
        pos: start,
        text: word.to_string(),
        reason,
    })?;
    Ok((TokenKind::Path(path), end))
}

fn keyword(word: &str) -> Option<TokenKind> {
    if let Some(op) = CompareOp::from_keyword(word) {
        return Some(TokenKind::Op(op));
    }
    let kind = match word.to_ascii_lowercase().as_str() {
        "pr" => TokenKind::Pr,
        "and" => TokenKind::And,
        "or" => TokenKind::Or,
        "not" => TokenKind::Not,
        "true" => TokenKind::Value(CompValue::Bool(true)),
        "false" => TokenKind::Value(CompValue::Bool(false)),
        "null" => TokenKind::Value(CompValue::Null),
        _ => return None,
    };
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn kinds(input: &str) -> Vec<TokenKind> {
        tokenize(input).unwrap().into_iter().map(|t| t.kind).collect()
    }

    fn path(attr: &str) -> TokenKind {
        TokenKind::Path(AttrPath::new(attr))
    }

    fn string(s: &str) -> TokenKind {
        TokenKind::Value(CompValue::String(s.into()))
    }

    fn number(text: &str) -> TokenKind {
        TokenKind::Value(CompValue::Number(text.parse().unwrap()))
    }

    #[test]
    fn simple_comparison_with_positions() {
        let tokens = tokenize(r#"userName eq "bjensen""#).unwrap();
        assert_eq!(
            tokens,
            vec![
                Token { kind: path("userName"), pos: 0 },
                Token { kind: TokenKind::Op(CompareOp::Eq), pos: 9 },
                Token { kind: string("bjensen"), pos: 12 },
            ]
        );
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(
            kinds("a Eq b EQ c eQ AND Or NOT pR TRUE False nULL"),
            vec![
                path("a"),
                TokenKind::Op(CompareOp::Eq),
                path("b"),
                TokenKind::Op(CompareOp::Eq),
                path("c"),
                TokenKind::Op(CompareOp::Eq),
                TokenKind::And,
                TokenKind::Or,
                TokenKind::Not,
                TokenKind::Pr,
                TokenKind::Value(CompValue::Bool(true)),
                TokenKind::Value(CompValue::Bool(false)),
                TokenKind::Value(CompValue::Null),
            ]
        );
        let ops: Vec<TokenKind> = CompareOp::ALL.into_iter().map(TokenKind::Op).collect();
        assert_eq!(kinds("eq ne co sw ew gt ge lt le"), ops);
    }

    #[test]
    fn attribute_paths_plain_dotted_and_urn_qualified() {
        assert_eq!(
            kinds("name.givenName"),
            vec![TokenKind::Path(AttrPath::new("name").with_sub("givenName"))]
        );
        assert_eq!(
            kinds(&format!("{ENTERPRISE}:employeeNumber")),
            vec![TokenKind::Path(AttrPath::new("employeeNumber").with_urn(ENTERPRISE))]
        );
        assert_eq!(
            kinds(&format!("{ENTERPRISE}:manager.value")),
            vec![TokenKind::Path(AttrPath::new("manager").with_urn(ENTERPRISE).with_sub("value"))]
        );
        assert_eq!(
            kinds("urn:ietf:params:scim:schemas:core:2.0:User:userName"),
            vec![TokenKind::Path(
                AttrPath::new("userName").with_urn("urn:ietf:params:scim:schemas:core:2.0:User")
            )]
        );
        assert_eq!(kinds("x-ms_id2"), vec![path("x-ms_id2")]);
        // A keyword only when bare: `and.x` and `equals` are attribute paths.
        assert_eq!(kinds("equals"), vec![path("equals")]);
        assert_eq!(kinds("and.x"), vec![TokenKind::Path(AttrPath::new("and").with_sub("x"))]);
    }

    #[test]
    fn punctuation_of_value_paths() {
        assert_eq!(
            kinds(r#"emails[type eq "work"].value"#),
            vec![
                path("emails"),
                TokenKind::LBracket,
                path("type"),
                TokenKind::Op(CompareOp::Eq),
                string("work"),
                TokenKind::RBracket,
                TokenKind::Dot,
                path("value"),
            ]
        );
        assert_eq!(
            kinds("not(a pr)"),
            vec![TokenKind::Not, TokenKind::LParen, path("a"), TokenKind::Pr, TokenKind::RParen]
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(
            kinds("0 42 -7 1.5 -0.25 1e3 2E-2"),
            ["0", "42", "-7", "1.5", "-0.25", "1e3", "2E-2"].map(number)
        );
        let tokens = tokenize("a gt -12").unwrap();
        assert_eq!(tokens[2], Token { kind: TokenKind::Value(CompValue::Number((-12).into())), pos: 5 });
    }

    #[test]
    fn bad_numbers_are_reported_whole() {
        for (input, text) in [
            ("a eq 01", "01"),
            ("a eq 1.", "1."),
            ("a eq -", "-"),
            ("a eq 12abc", "12abc"),
            ("a eq 1e400", "1e400"),
            ("a eq 1.2.3", "1.2.3"),
            ("a eq 1e", "1e"),
        ] {
            assert_eq!(
                tokenize(input),
                Err(FilterError::InvalidNumber { pos: 5, text: text.into() }),
                "{input}"
            );
        }
    }

    #[test]
    fn bad_attribute_paths() {
        let err = |text: &str, reason| FilterError::InvalidAttrPath { pos: 0, text: text.into(), reason };
        assert_eq!(
            tokenize("a.b.c"),
            Err(err("a.b.c", "at most one sub-attribute may follow the attribute name"))
        );
        assert_eq!(tokenize("name."), Err(err("name.", "empty attribute name")));
        assert_eq!(tokenize("name.1x"), Err(err("name.1x", "an attribute name must start with a letter")));
        assert_eq!(tokenize("urn:x:"), Err(err("urn:x:", "no attribute name after the schema URI")));
        assert_eq!(tokenize("urn::x"), Err(err("urn::x", "empty segment in the schema URI")));
        assert_eq!(tokenize("urn:a::x"), Err(err("urn:a::x", "empty segment in the schema URI")));
        assert_eq!(
            tokenize("name.given:x"),
            Err(err(
                "name.given:x",
                "a schema URI needs the form scheme:rest, e.g. urn:ietf:params:scim:..."
            ))
        );
    }

    #[test]
    fn unexpected_characters() {
        assert_eq!(tokenize("userName = \"x\""), Err(FilterError::UnexpectedChar { pos: 9, found: '=' }));
        assert_eq!(tokenize("a eq 'x'"), Err(FilterError::UnexpectedChar { pos: 5, found: '\'' }));
        assert_eq!(tokenize("é pr"), Err(FilterError::UnexpectedChar { pos: 0, found: 'é' }));
        assert_eq!(tokenize("$ref pr"), Err(FilterError::UnexpectedChar { pos: 0, found: '$' }));
    }

    #[test]
    fn whitespace_is_skipped_and_empty_input_has_no_tokens() {
        assert_eq!(kinds(" \t\r\n"), vec![]);
        assert_eq!(tokenize("  a\tpr\n").unwrap()[1], Token { kind: TokenKind::Pr, pos: 4 });
    }

    #[test]
    fn describe_names_tokens_for_errors() {
        assert_eq!(path("userName").describe(), "attribute path userName");
        assert_eq!(TokenKind::Op(CompareOp::Sw).describe(), "'sw'");
        assert_eq!(string("a\"b").describe(), r#"string "a\"b""#);
        assert_eq!(number("-1.5").describe(), "number -1.5");
        assert_eq!(TokenKind::Value(CompValue::Null).describe(), "'null'");
        assert_eq!(TokenKind::RBracket.describe(), "']'");
    }
}
