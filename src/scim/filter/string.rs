//! JSON string literals inside filters (RFC 7644 §3.4.2.2 `compValue`, "rules from JSON"):
//! RFC 8259 §7 escapes, `\uXXXX` including UTF-16 surrogate pairs, and no raw control
//! characters. Decoded by hand rather than through serde_json so every error names the byte
//! where it happened.

use super::error::FilterError;

/// Decodes the string literal whose opening `"` is at byte `start` of `input`. Returns the
/// decoded text and the byte offset just after the closing quote.
pub fn read_string(input: &str, start: usize) -> Result<(String, usize), FilterError> {
    let mut out = String::new();
    let mut chars = input[start..].char_indices().skip(1).map(|(i, c)| (start + i, c));
    while let Some((pos, c)) = chars.next() {
        match c {
            '"' => return Ok((out, pos + 1)),
            '\\' => {
                let Some((_, esc)) = chars.next() else {
                    return Err(FilterError::UnterminatedString { pos: start });
                };
                let decoded = match esc {
                    '"' => '"',
                    '\\' => '\\',
                    '/' => '/',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'u' => {
                        let (c, consumed) = unicode_escape(input, pos)?;
                        if c == '\0' {
                            // No stored attribute can hold it (bodies with it are refused).
                            return Err(FilterError::InvalidEscape {
                                pos,
                                reason: "\\u0000 (U+0000) is not allowed in a value",
                            });
                        }
                        // `consumed` counts the bytes after `\u`; all are ASCII.
                        for _ in 0..consumed {
                            chars.next();
                        }
                        c
                    }
                    _ => {
                        return Err(FilterError::InvalidEscape {
                            pos,
                            reason: "JSON allows only \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX",
                        });
                    }
                };
                out.push(decoded);
            }
            c if u32::from(c) < 0x20 => return Err(FilterError::ControlChar { pos, code: u32::from(c) }),
            c => out.push(c),
        }
    }
    Err(FilterError::UnterminatedString { pos: start })
}

/// Four hex digits at `at`, if present and all hexadecimal.
fn hex4(input: &str, at: usize) -> Option<u32> {
    let digits = input.get(at..at + 4)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

/// Decodes `\uXXXX` (and its low-surrogate partner, if it is a high surrogate) starting at the
/// backslash at byte `pos`. Returns the character and how many bytes after `\u` it used.
fn unicode_escape(input: &str, pos: usize) -> Result<(char, usize), FilterError> {
    let invalid = |reason| FilterError::InvalidEscape { pos, reason };
    let unit = hex4(input, pos + 2).ok_or(invalid("\\u must be followed by four hex digits"))?;
    match unit {
        0xD800..=0xDBFF => {
            // RFC 8259 §7: a character outside the BMP is "a 12-character sequence, encoding
            // the UTF-16 surrogate pair".
            let low = match input.get(pos + 6..pos + 8) {
                Some("\\u") => hex4(input, pos + 8),
                _ => None,
            };
            match low {
                Some(low @ 0xDC00..=0xDFFF) => {
                    let scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    let c = char::from_u32(scalar).ok_or(invalid("surrogate pair is not a scalar value"))?;
                    Ok((c, 10))
                }
                _ => Err(invalid("high surrogate not followed by a \\u low surrogate")),
            }
        }
        0xDC00..=0xDFFF => Err(invalid("low surrogate without a preceding high surrogate")),
        _ => {
            let c = char::from_u32(unit).ok_or(invalid("not a Unicode scalar value"))?;
            Ok((c, 4))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &str) -> Result<(String, usize), FilterError> {
        read_string(input, 0)
    }

    #[test]
    fn plain_and_unicode_text() {
        assert_eq!(read(r#""bjensen""#), Ok(("bjensen".into(), 9)));
        assert_eq!(read(r#""O'Malley" and"#), Ok(("O'Malley".into(), 10)));
        assert_eq!(read(r#""Zoë 東京""#), Ok(("Zoë 東京".into(), 13)));
        assert_eq!(read(r#""""#), Ok((String::new(), 2)));
    }

    #[test]
    fn starts_at_the_given_offset() {
        assert_eq!(read_string(r#"a eq "x" or"#, 5), Ok(("x".into(), 8)));
    }

    #[test]
    fn every_simple_escape() {
        assert_eq!(read(r#""\"\\\/\b\f\n\r\t""#), Ok(("\"\\/\u{8}\u{c}\n\r\t".into(), 18)));
    }

    #[test]
    fn unicode_escapes_and_surrogate_pairs() {
        assert_eq!(read(r#""\u0041\u00e9""#), Ok(("Aé".into(), 14)));
        assert_eq!(read(r#""\u6771""#), Ok(("東".into(), 8)));
        assert_eq!(read(r#""\uD83D\uDE00!""#), Ok(("😀!".into(), 15)));
        assert_eq!(read(r#""\ud83d\ude00""#), Ok(("😀".into(), 14)));
        assert!(
            matches!(read(r#""\u0000""#), Err(FilterError::InvalidEscape { .. })),
            "U+0000 is refused: no stored value can hold it"
        );
    }

    #[test]
    fn bad_escapes_point_at_the_backslash() {
        let err = |pos, reason| Err(FilterError::InvalidEscape { pos, reason });
        assert_eq!(
            read(r#""ab\x""#),
            err(3, "JSON allows only \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX")
        );
        assert_eq!(read(r#""\u12""#), err(1, "\\u must be followed by four hex digits"));
        assert_eq!(read(r#""\u12G4""#), err(1, "\\u must be followed by four hex digits"));
        assert_eq!(read(r#""x\uD83D""#), err(2, "high surrogate not followed by a \\u low surrogate"));
        assert_eq!(read(r#""\uD83Dx\uDE00""#), err(1, "high surrogate not followed by a \\u low surrogate"));
        assert_eq!(read(r#""\uD83D\u0041""#), err(1, "high surrogate not followed by a \\u low surrogate"));
        assert_eq!(read(r#""\uDE00""#), err(1, "low surrogate without a preceding high surrogate"));
    }

    #[test]
    fn unterminated_strings_point_at_the_opening_quote() {
        assert_eq!(read(r#""bjensen"#), Err(FilterError::UnterminatedString { pos: 0 }));
        assert_eq!(read(r#""ends in backslash\"#), Err(FilterError::UnterminatedString { pos: 0 }));
        assert_eq!(read_string(r#"a eq "x\""#, 5), Err(FilterError::UnterminatedString { pos: 5 }));
    }

    #[test]
    fn raw_control_characters_are_rejected() {
        assert_eq!(read("\"a\nb\""), Err(FilterError::ControlChar { pos: 2, code: 0x0a }));
        assert_eq!(read("\"\u{1f}\""), Err(FilterError::ControlChar { pos: 1, code: 0x1f }));
        // DEL and non-ASCII are fine unescaped.
        assert_eq!(read("\"\u{7f}\""), Ok(("\u{7f}".into(), 3)));
    }
}
