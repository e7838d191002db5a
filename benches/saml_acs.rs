//! Benchmark: ACS validations per second of a ~4 KB signed SAML Response.
//! Builds Okta-style (Response and Assertion signed) and Entra-style
//! (Assertion signed, then encrypted with AES-256-CBC to the SP key) responses
//! with the fixture keys, signs/encrypts them once with the `xmlsec1` CLI, and
//! runs `saml::validate::validate` — guard, shape, xmlsec verification,
//! decryption, every check — in a loop on 1 and on 2 threads. The store work
//! of a login (replay cache, user, session) is not included.
//! Run with `cargo bench --bench saml_acs` (env BENCH_SECONDS, default 5 per case).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use idbridge::saml::keys;
use idbridge::saml::validate::{Expectations, validate};
use idbridge::saml::xml_guard;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const IDP: &str = "http://www.okta.com/exkbenchmark";
const ACS: &str = "https://sso.example.com/saml/0123456789abcdef/acs";
const SP: &str = "https://sso.example.com/saml/0123456789abcdef/metadata";

fn sig(id: &str) -> String {
    format!(
        "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>\
         <ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
         <ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>\
         <ds:Reference URI=\"#{id}\"><ds:Transforms>\
         <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
         <ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/>\
         </ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data>\
         <ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>"
    )
}

fn response(sign_response: bool) -> String {
    let now = OffsetDateTime::now_utc();
    let fmt = |x: OffsetDateTime| x.replace_nanosecond(0).unwrap_or(x).format(&Rfc3339).unwrap_or_default();
    let (nb, noa) = (fmt(now - time::Duration::hours(1)), fmt(now + time::Duration::hours(24)));
    let groups: String = (0..4)
        .map(|i| format!("<saml:AttributeValue>Department {i} Engineering Group</saml:AttributeValue>"))
        .collect();
    let attr = |n: &str, v: &str| {
        format!(
            "<saml:Attribute Name=\"{n}\"><saml:AttributeValue>{v}</saml:AttributeValue></saml:Attribute>"
        )
    };
    let assertion = format!(
        "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_a0123456789abcdef\" \
         IssueInstant=\"{nb}\" Version=\"2.0\"><saml:Issuer>{IDP}</saml:Issuer>{}<saml:Subject>\
         <saml:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\">ann@acme.com</saml:NameID>\
         <saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">\
         <saml:SubjectConfirmationData NotOnOrAfter=\"{noa}\" Recipient=\"{ACS}\"/></saml:SubjectConfirmation>\
         </saml:Subject><saml:Conditions NotBefore=\"{nb}\" NotOnOrAfter=\"{noa}\"><saml:AudienceRestriction>\
         <saml:Audience>{SP}</saml:Audience></saml:AudienceRestriction></saml:Conditions>\
         <saml:AuthnStatement AuthnInstant=\"{nb}\"><saml:AuthnContext><saml:AuthnContextClassRef>\
         urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>\
         </saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement>{}{}{}\
         <saml:Attribute Name=\"groups\">{groups}</saml:Attribute></saml:AttributeStatement></saml:Assertion>",
        sig("_a0123456789abcdef"),
        attr("email", "ann@acme.com"),
        attr("firstName", "Ann"),
        attr("lastName", "Lee"),
    );
    format!(
        "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_r0123456789abcdef\" Version=\"2.0\" \
         IssueInstant=\"{nb}\" Destination=\"{ACS}\"><saml:Issuer>{IDP}</saml:Issuer>{}<samlp:Status>\
         <samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>{assertion}\
         </samlp:Response>",
        if sign_response { sig("_r0123456789abcdef") } else { String::new() }
    )
}

fn xmlsec1(args: &[&str]) -> Res<()> {
    let out = Command::new("xmlsec1").args(args).output()?;
    if !out.status.success() {
        return Err(format!("xmlsec1 failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(())
}

fn sign(dir: &Path, xml: &str, key: &str, xpath: &str) -> Res<String> {
    let (i, o) = (dir.join("in.xml"), dir.join("out.xml"));
    std::fs::write(&i, xml)?;
    let (i, o) = (i.to_string_lossy().into_owned(), o.to_string_lossy().into_owned());
    xmlsec1(&[
        "--sign",
        "--privkey-pem",
        key,
        "--id-attr:ID",
        "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        "--id-attr:ID",
        "urn:oasis:names:tc:SAML:2.0:protocol:Response",
        "--node-xpath",
        xpath,
        "--output",
        &o,
        &i,
    ])?;
    Ok(std::fs::read_to_string(o)?)
}

fn encrypt(dir: &Path, xml: &str, cert_pem: &str) -> Res<String> {
    let (d, t, c, o) = (dir.join("d.xml"), dir.join("t.xml"), dir.join("c.pem"), dir.join("o.xml"));
    std::fs::write(&d, xml)?;
    std::fs::write(&c, cert_pem)?;
    std::fs::write(
        &t,
        "<xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" Type=\"http://www.w3.org/2001/04/xmlenc#Element\">\
         <xenc:EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#aes256-cbc\"/>\
         <ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><xenc:EncryptedKey>\
         <xenc:EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p\"/>\
         <xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>\
         <xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>",
    )?;
    let s = |p: &PathBuf| p.to_string_lossy().into_owned();
    xmlsec1(&[
        "--encrypt",
        "--pubkey-cert-pem",
        &s(&c),
        "--session-key",
        "aes-256",
        "--xml-data",
        &s(&d),
        "--node-xpath",
        "//*[local-name()='Assertion']",
        "--output",
        &s(&o),
        &s(&t),
    ])?;
    let enc = std::fs::read_to_string(o)?;
    Ok(enc
        .replace("<xenc:EncryptedData", "<saml:EncryptedAssertion><xenc:EncryptedData")
        .replace("</xenc:EncryptedData>", "</xenc:EncryptedData></saml:EncryptedAssertion>"))
}

fn run(
    name: &str,
    xml: &str,
    certs: &[Vec<u8>],
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
    threads: usize,
    secs: u64,
) -> Res<()> {
    let encoded = STANDARD.encode(xml);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let total: u64 = std::thread::scope(|s| -> Res<u64> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Res<u64> {
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        // What the ACS does per request before the store: decode + guard + validate.
                        let doc = xml_guard::decode_saml_response(&encoded).map_err(|e| e.to_string())?;
                        let exp = Expectations {
                            idp_entity_id: IDP,
                            trusted_certs: certs,
                            sp_entity_id: SP,
                            acs_url: ACS,
                            clock_skew_secs: 90,
                            allow_sha1: false,
                            decryption_key: Some(key),
                            now: OffsetDateTime::now_utc(),
                        };
                        validate(&doc, &exp).map_err(|e| e.to_string())?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.join().map_err(|_| "bench thread panicked")??;
        }
        Ok(sum)
    })?;
    println!(
        "{name:<44} {threads} thread(s): {:>7.0} validations/s ({total} in {secs} s)",
        total as f64 / secs as f64
    );
    Ok(())
}

fn main() -> Res<()> {
    let secs: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/saml");
    let key =
        format!("{},{}", fixtures.join("idp-okta.key").display(), fixtures.join("idp-okta.crt").display());
    let cert_pem = std::fs::read_to_string(fixtures.join("idp-okta.crt"))?;
    let der = openssl::x509::X509::from_pem(cert_pem.as_bytes())?.to_der()?;
    let certs = vec![der];
    let sp = keys::generate("bench")?;
    let sp_cert = keys::pem_of(&sp.encryption_cert);
    let dir = tempfile::tempdir()?;
    let a_sig = "//*[local-name()='Assertion']/*[local-name()='Signature']";
    let okta = sign(
        dir.path(),
        &sign(dir.path(), &response(true), &key, a_sig)?,
        &key,
        "/*/*[local-name()='Signature']",
    )?;
    let entra = sign(dir.path(), &response(false), &key, a_sig)?;
    let entra_enc = encrypt(dir.path(), &entra, &sp_cert)?;
    for (name, xml) in [
        ("Okta style (Response + Assertion signed)", &okta),
        ("Entra style (Assertion signed)", &entra),
        ("Entra style, AES-256-CBC encrypted", &entra_enc),
    ] {
        println!("{name}: {} bytes of XML", xml.len());
        for threads in [1, 2] {
            run(name, xml, &certs, &sp.keys.encryption, threads, secs)?;
        }
    }
    Ok(())
}
