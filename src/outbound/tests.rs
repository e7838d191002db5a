//! Tests of the outbound guard: URL checks before any packet, the guarded
//! resolver, and that its refusal is found inside reqwest's error.

use super::*;

const OPERATOR: Policy = Policy::operator(false);

fn reason(url: &str, policy: Policy) -> &'static str {
    match check_url(url, policy) {
        Ok(_) => "ok",
        Err(e) => e.reason(),
    }
}

#[test]
fn scheme_https_or_loopback_http_only() {
    assert_eq!(reason("https://login.example.com/md", OPERATOR), "ok");
    assert_eq!(reason("http://127.0.0.1:8080/md", OPERATOR), "ok");
    assert_eq!(reason("http://localhost/md", OPERATOR), "ok");
    assert_eq!(reason("http://[::1]:9/md", OPERATOR), "ok");
    assert_eq!(reason("http://idp.example.com/md", OPERATOR), "scheme");
    assert_eq!(reason("http://10.0.0.1/md", Policy::operator(true)), "scheme");
    assert_eq!(reason("ftp://idp.example.com/md", OPERATOR), "scheme");
    assert_eq!(reason("file:///etc/passwd", OPERATOR), "bad_url");
    assert_eq!(reason("https://u:p@idp.example.com/", OPERATOR), "credentials");
    assert_eq!(reason("not a url", OPERATOR), "bad_url");
}

#[test]
fn metadata_private_and_link_local_literals_are_refused() {
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00:ec2::254]/latest/meta-data",
        "https://[::ffff:169.254.169.254]/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://METADATA.GOOGLE.INTERNAL./computeMetadata/v1/",
        "https://0.0.0.0/",
        "https://[::]/",
        "https://255.255.255.255/",
        "https://224.0.0.1/",
    ] {
        // Never, whatever the operator allows.
        assert_eq!(reason(url, Policy::operator(true)), "address", "{url}");
        assert_ne!(reason(url, Policy::CUSTOMER), "ok", "{url}");
    }
    for url in [
        "https://10.0.0.1/md",
        "https://172.16.5.4/md",
        "https://192.168.0.10/md",
        "https://169.254.10.10/md",
        "https://100.64.1.1/md",
        "https://[fd12::1]/md",
        "https://[fe80::1]/md",
        "https://[::ffff:10.0.0.1]/md",
        // Alternative IPv4 spellings are normalised by the URL parser.
        "https://0x0a.0.0.1/md",
        "https://167772161/md",
    ] {
        assert_eq!(reason(url, OPERATOR), "address", "{url}");
        assert_eq!(reason(url, Policy::CUSTOMER), "address", "{url}");
        assert_eq!(
            reason(url, Policy::operator(true)),
            "ok",
            "{url}: the operator may allow private networks"
        );
    }
    // Loopback: the operator's policy allows it, a customer's never.
    for url in [
        "http://127.0.0.1:8080/md",
        "https://localhost/md",
        "https://x.localhost/",
        "http://[::ffff:127.0.0.1]/",
    ] {
        assert_eq!(reason(url, OPERATOR), "ok", "{url}");
        assert_eq!(reason(url, Policy::CUSTOMER), "address", "{url}");
    }
}

#[tokio::test]
async fn the_resolver_refuses_names_that_resolve_to_refused_addresses() {
    use reqwest::dns::Resolve;
    use std::str::FromStr;
    let name = || reqwest::dns::Name::from_str("localhost").unwrap();
    let refused = GuardedResolver { policy: Policy::CUSTOMER }.resolve(name()).await;
    let err = refused.err().expect("localhost resolves to loopback: refused for customers");
    assert!(matches!(refusal_in(&*err), Some(Refused::Address { class: AddrClass::Loopback, .. })), "{err}");
    let ok = GuardedResolver { policy: OPERATOR }.resolve(name()).await.expect("loopback allowed");
    assert!(ok.into_iter().all(|a| a.ip().is_loopback()));
}

#[tokio::test]
async fn a_refusal_by_the_resolver_is_found_in_the_request_error() {
    // A name (not a literal) that resolves to loopback, through a client with
    // the customer policy: refused at resolution, before any connection.
    let client = client_builder(Policy::CUSTOMER).build().unwrap();
    let err = client.get("http://localhost:9/").send().await.unwrap_err();
    let refused = refusal_in(&err).expect("the guard's refusal is in the error chain");
    assert_eq!(refused.reason(), "address", "{refused}");
}
