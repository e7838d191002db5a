//! The gate in front of every XML parser: a size cap, base64 decoding of the
//! posted form value, and a refusal of DOCTYPE/ENTITY declarations, processing
//! instructions and non-UTF-8 encodings — all before any parser sees a byte,
//! so billion-laughs and XXE payloads never reach libxml2 (which samael runs
//! in recover mode) and both parsers read the same characters.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::SamlError;

/// Largest XML document accepted (decoded). Entra's biggest responses (150
/// group GUIDs, encrypted) stay well under 64 KiB; 256 KiB leaves room for
/// long attribute lists without giving a parser megabytes to chew on.
pub const MAX_XML_BYTES: usize = 256 * 1024;

/// Largest base64 form value accepted (4/3 of the XML cap plus line breaks).
pub const MAX_ENCODED_BYTES: usize = MAX_XML_BYTES / 3 * 4 + 8 * 1024;

/// Decode a base64 `SAMLResponse` (line breaks and spaces tolerated) into
/// guarded UTF-8 XML.
pub fn decode_saml_response(encoded: &str) -> Result<String, SamlError> {
    if encoded.len() > MAX_ENCODED_BYTES {
        return Err(SamlError::TooLarge { len: encoded.len(), max: MAX_ENCODED_BYTES });
    }
    let compact: Vec<u8> = encoded.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(SamlError::BadEncoding { detail: "empty".into() });
    }
    let bytes = STANDARD.decode(&compact).map_err(|e| SamlError::BadEncoding { detail: e.to_string() })?;
    let xml = String::from_utf8(bytes).map_err(|_| SamlError::BadEncoding { detail: "not UTF-8".into() })?;
    guard(&xml)?;
    Ok(xml)
}

/// Refuse what no SAML message needs and every XML attack uses: a document
/// over the cap, `<!DOCTYPE`/`<!ENTITY`/`<!ELEMENT`/`<!ATTLIST` (entity
/// expansion, external entities), processing instructions other than the
/// leading XML declaration, and a declared encoding other than UTF-8 (a
/// parser differential between roxmltree and libxml2).
pub fn guard(xml: &str) -> Result<(), SamlError> {
    if xml.len() > MAX_XML_BYTES {
        return Err(SamlError::TooLarge { len: xml.len(), max: MAX_XML_BYTES });
    }
    let body = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    let bytes = body.as_bytes();
    let mut i = 0;
    while let Some(off) = memchr_lt(&bytes[i..]) {
        let at = i + off;
        let rest = &bytes[at..];
        if rest.starts_with(b"<!") {
            if rest.starts_with(b"<!--") {
                // Skip the comment so "<!" inside it is not misread; an
                // unterminated comment is left for the parser to refuse.
                match find(&rest[4..], b"-->") {
                    Some(end) => {
                        i = at + 4 + end + 3;
                        continue;
                    }
                    None => return Ok(()),
                }
            }
            if rest.starts_with(b"<![CDATA[") {
                match find(&rest[9..], b"]]>") {
                    Some(end) => {
                        i = at + 9 + end + 3;
                        continue;
                    }
                    None => return Ok(()),
                }
            }
            let upper: Vec<u8> = rest.iter().take(9).map(u8::to_ascii_uppercase).collect();
            let what = if upper.starts_with(b"<!DOCTYPE") {
                "DOCTYPE"
            } else if upper.starts_with(b"<!ENTITY") {
                "ENTITY"
            } else {
                "markup"
            };
            return Err(SamlError::Doctype { what });
        }
        if rest.starts_with(b"<?") {
            let is_decl = at == 0 && (rest.starts_with(b"<?xml ") || rest.starts_with(b"<?xml?"));
            if !is_decl {
                return Err(SamlError::ProcessingInstruction);
            }
            let end =
                find(rest, b"?>").ok_or(SamlError::Malformed { detail: "open XML declaration".into() })?;
            check_declared_encoding(&body[at..at + end])?;
            i = at + end + 2;
            continue;
        }
        i = at + 1;
    }
    Ok(())
}

/// Only UTF-8 (or no declaration) is accepted.
fn check_declared_encoding(decl: &str) -> Result<(), SamlError> {
    let Some(pos) = decl.find("encoding") else { return Ok(()) };
    let value: String = decl[pos + "encoding".len()..]
        .trim_start_matches([' ', '=', '"', '\''])
        .chars()
        .take_while(|c| !matches!(c, '"' | '\'' | ' ' | '?'))
        .collect();
    if value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8") {
        Ok(())
    } else {
        Err(SamlError::Malformed { detail: format!("declared encoding {value:?}; only UTF-8 is accepted") })
    }
}

fn memchr_lt(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'<')
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_documents_pass() {
        assert!(guard("<?xml version=\"1.0\" encoding=\"UTF-8\"?><a><!-- <!DOCTYPE x> --><b/></a>").is_ok());
        assert!(guard("<a><![CDATA[<!ENTITY x>]]></a>").is_ok());
        assert!(guard("\u{feff}<a>1 &lt; 2</a>").is_ok());
    }

    #[test]
    fn declarations_and_instructions_are_refused() {
        let lol = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">]><lolz>&lol;</lolz>";
        assert!(matches!(guard(lol), Err(SamlError::Doctype { what: "DOCTYPE" })));
        assert!(matches!(guard("<a><!ENTITY x \"y\"></a>"), Err(SamlError::Doctype { what: "ENTITY" })));
        assert!(matches!(guard("<a><!doctype a></a>"), Err(SamlError::Doctype { .. })));
        assert!(matches!(guard("<a><?php x ?></a>"), Err(SamlError::ProcessingInstruction)));
        assert!(matches!(guard(" <?xml version=\"1.0\"?><a/>"), Err(SamlError::ProcessingInstruction)));
        assert!(guard("<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>").is_err());
        assert!(guard("<?xml version='1.0' encoding='utf-7'?><a/>").is_err());
    }

    #[test]
    fn size_and_encoding() {
        let big = format!("<a>{}</a>", "x".repeat(MAX_XML_BYTES));
        assert!(matches!(guard(&big), Err(SamlError::TooLarge { .. })));
        assert!(matches!(decode_saml_response("!!!"), Err(SamlError::BadEncoding { .. })));
        let ok = STANDARD.encode("<a/>");
        let wrapped = format!("{}\r\n{}", &ok[..2], &ok[2..]);
        assert_eq!(decode_saml_response(&wrapped).ok().as_deref(), Some("<a/>"));
        let huge = "A".repeat(MAX_ENCODED_BYTES + 1);
        assert!(matches!(decode_saml_response(&huge), Err(SamlError::TooLarge { .. })));
    }
}
