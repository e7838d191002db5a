//! Signing and encryption by a real signer: the `xmlsec1` CLI (installed by
//! scripts/test-deps/saml.sh) with the fixture keys in fixtures/saml.

#![allow(dead_code)]

use std::process::Command;

use crate::support::saml_idp::{Idp, Spec, assertion_xml, response_xml};

fn xmlsec1(args: &[&str]) {
    let out = Command::new("xmlsec1")
        .args(args)
        .output()
        .expect("xmlsec1 must be installed (scripts/test-deps/saml.sh)");
    assert!(out.status.success(), "xmlsec1 {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Sign the `ds:Signature` template at `xpath` with `idp`'s key (its certificate goes in KeyInfo).
pub fn sign(xml: &str, idp: &Idp, xpath: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (inp, out) = (dir.path().join("in.xml"), dir.path().join("out.xml"));
    std::fs::write(&inp, xml).unwrap();
    let key = format!("{},{}", idp.key.display(), idp.cert.display());
    xmlsec1(&[
        "--sign",
        "--privkey-pem",
        &key,
        "--id-attr:ID",
        "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        "--id-attr:ID",
        "urn:oasis:names:tc:SAML:2.0:protocol:Response",
        "--id-attr:ID",
        "urn:oasis:names:tc:SAML:2.0:protocol:Extensions",
        "--node-xpath",
        xpath,
        "--output",
        out.to_str().unwrap(),
        inp.to_str().unwrap(),
    ]);
    std::fs::read_to_string(out).unwrap()
}

pub const XP_ASSERTION_SIG: &str = "//*[local-name()='Assertion']/*[local-name()='Signature']";
pub const XP_RESPONSE_SIG: &str = "/*/*[local-name()='Signature']";

/// Okta style: the Assertion and the Response both signed.
pub fn okta_response(s: &Spec, idp: &Idp) -> String {
    let xml = response_xml(s, &assertion_xml(s, true), true);
    let xml = sign(&xml, idp, XP_ASSERTION_SIG);
    sign(&xml, idp, XP_RESPONSE_SIG)
}

/// Entra style: only the Assertion signed.
pub fn entra_response(s: &Spec, idp: &Idp) -> String {
    let xml = response_xml(s, &assertion_xml(s, true), false);
    sign(&xml, idp, XP_ASSERTION_SIG)
}

/// Only the Response signed.
pub fn response_signed_only(s: &Spec, idp: &Idp) -> String {
    let xml = response_xml(s, &assertion_xml(s, false), true);
    sign(&xml, idp, XP_RESPONSE_SIG)
}

/// Replace the Assertion with `<saml:EncryptedAssertion>` encrypted to the SP's certificate (PEM).
pub fn encrypt_assertion(xml: &str, sp_cert_pem: &str, data_alg: &str, key_alg: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (doc, tmpl, cert, out) = (
        dir.path().join("doc.xml"),
        dir.path().join("t.xml"),
        dir.path().join("sp.crt"),
        dir.path().join("out.xml"),
    );
    std::fs::write(&doc, xml).unwrap();
    std::fs::write(&cert, sp_cert_pem).unwrap();
    let template = format!(
        "<xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" Type=\"http://www.w3.org/2001/04/xmlenc#Element\">\
         <xenc:EncryptionMethod Algorithm=\"{data_alg}\"/><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
         <xenc:EncryptedKey><xenc:EncryptionMethod Algorithm=\"{key_alg}\"/>\
         <xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>\
         <xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"
    );
    std::fs::write(&tmpl, template).unwrap();
    let session = if data_alg.contains("aes128") { "aes-128" } else { "aes-256" };
    xmlsec1(&[
        "--encrypt",
        "--pubkey-cert-pem",
        cert.to_str().unwrap(),
        "--session-key",
        session,
        "--xml-data",
        doc.to_str().unwrap(),
        "--node-xpath",
        "//*[local-name()='Assertion']",
        "--output",
        out.to_str().unwrap(),
        tmpl.to_str().unwrap(),
    ]);
    let enc = std::fs::read_to_string(out).unwrap();
    let start = enc.find("<xenc:EncryptedData").unwrap();
    let end = enc.find("</xenc:EncryptedData>").unwrap() + "</xenc:EncryptedData>".len();
    format!(
        "{}<saml:EncryptedAssertion>{}</saml:EncryptedAssertion>{}",
        &enc[..start],
        &enc[start..end],
        &enc[end..]
    )
}
