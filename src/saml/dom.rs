//! Small helpers over roxmltree for reading SAML documents: namespaces,
//! child lookup by expanded name, and text that refuses mixed content (a
//! comment or element inside a value is how NameID comment-injection works).

use roxmltree::{Document, Node, ParsingOptions};

use super::error::SamlError;

pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";

/// Parse with DTDs refused (roxmltree's default, stated here on purpose) and
/// a node cap well above any real SAML message.
pub fn parse(xml: &str) -> Result<Document<'_>, SamlError> {
    let opts = ParsingOptions { allow_dtd: false, nodes_limit: 100_000 };
    Document::parse_with_options(xml, opts).map_err(|e| SamlError::Malformed { detail: e.to_string() })
}

/// Is `n` the element `{ns}name`?
pub fn is(n: Node<'_, '_>, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(ns)
}

/// Child elements `{ns}name`.
pub fn children<'a, 'i>(
    n: Node<'a, 'i>,
    ns: &'a str,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children().filter(move |c| is(*c, ns, name))
}

/// The only child element `{ns}name`, if any; two of them are refused.
pub fn child<'a, 'i>(
    n: Node<'a, 'i>,
    ns: &'a str,
    name: &'static str,
) -> Result<Option<Node<'a, 'i>>, SamlError> {
    let mut it = children(n, ns, name);
    let first = it.next();
    if it.next().is_some() {
        return Err(SamlError::Misplaced {
            what: format!("more than one {name} in {}", n.tag_name().name()),
        });
    }
    Ok(first)
}

/// The required only child `{ns}name`.
pub fn required<'a, 'i>(n: Node<'a, 'i>, ns: &'a str, name: &'static str) -> Result<Node<'a, 'i>, SamlError> {
    child(n, ns, name)?.ok_or(SamlError::Missing { what: name })
}

/// The text of a value element: only text children (no comments, no
/// elements, no processing instructions), trimmed.
pub fn text(n: Node<'_, '_>) -> Result<String, SamlError> {
    let mut out = String::new();
    for c in n.children() {
        if c.is_text() {
            out.push_str(c.text().unwrap_or_default());
        } else if c.is_comment() {
            return Err(SamlError::CommentInAssertion);
        } else {
            return Err(SamlError::Misplaced { what: format!("markup inside {}", n.tag_name().name()) });
        }
    }
    Ok(out.trim().to_string())
}

/// The `ID` attribute.
pub fn id<'a>(n: Node<'a, '_>) -> Option<&'a str> {
    n.attribute("ID")
}

/// A short name for logs: `prefix:local` is not kept by roxmltree, so `{ns}local`.
pub fn describe(n: Node<'_, '_>) -> String {
    match n.tag_name().namespace() {
        Some(ns) => format!("{{{ns}}}{}", n.tag_name().name()),
        None => n.tag_name().name().to_string(),
    }
}
