//! Unit tests of the request-target rewriter: what is encoded, that body bytes never are
//! (Content-Length, chunked with extensions and trailers, pipelining), that any split of the
//! input gives the same output, and that what hyper cannot frame is passed on unchanged.

use super::*;

fn run(input: &[u8]) -> Vec<u8> {
    let mut f = Framing::default();
    let mut out = Vec::new();
    f.feed(input, &mut out);
    f.finish(&mut out);
    out
}

fn run_str(input: &str) -> String {
    String::from_utf8(run(input.as_bytes())).unwrap()
}

#[test]
fn quotes_in_the_query_are_percent_encoded_and_nothing_else_changes() {
    let got = run_str("GET /scim/v2/acme/Users?filter=userName+eq+\"a%40b\" HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(got, "GET /scim/v2/acme/Users?filter=userName+eq+%22a%40b%22 HTTP/1.1\r\nHost: x\r\n\r\n");
    // Raw spaces end the target for httparse: not a request line, passed on for hyper to refuse.
    let spaced = "GET /Users?filter=emails[type eq \"work\"].value eq \"a\" HTTP/1.1\r\n\r\n";
    assert_eq!(run_str(spaced), spaced);
    let entra = run_str("GET /Users?filter=emails[type+eq+\"work\"].value+eq+\"a\" HTTP/1.1\r\n\r\n");
    assert_eq!(entra, "GET /Users?filter=emails%5Btype+eq+%22work%22%5D.value+eq+%22a%22 HTTP/1.1\r\n\r\n");
    assert_eq!(run_str("GET /healthz?x=\"a\" HTTP/1.1\r\n\r\n"), "GET /healthz?x=%22a%22 HTTP/1.1\r\n\r\n");
}

#[test]
fn every_rewritten_target_is_one_http_uri_accepts() {
    for b in 0x21u8..=0xFF {
        if b == 0x7F {
            continue; // httparse refuses DEL itself
        }
        let line = [b"GET /p".as_slice(), &[b], b"?q=", &[b], b" HTTP/1.1\r\n\r\n"].concat();
        let out = run(&line);
        let target = &out[4..out.len() - 13];
        let uri = axum::http::Uri::try_from(target).unwrap_or_else(|e| panic!("byte {b:#x}: {e}"));
        let kept = allowed_in_target(b);
        assert_eq!(target.len(), if kept { 7 } else { 11 }, "byte {b:#x}");
        assert!(uri.query().is_some(), "byte {b:#x}: the query survives");
    }
}

#[test]
fn only_the_origin_form_is_rewritten() {
    let abs = "GET http://[::1]:8080/x?\"a\" HTTP/1.1\r\n\r\n";
    assert_eq!(run_str(abs), abs);
    assert_eq!(run_str("OPTIONS * HTTP/1.1\r\n\r\n"), "OPTIONS * HTTP/1.1\r\n\r\n");
}

#[test]
fn content_length_bodies_are_never_rewritten_and_the_next_request_is() {
    let body = "GET /x?\"a\" HTTP/1.1\r\n\r\n";
    let input = format!(
        "POST /a?\"1\" HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}GET /b?\"2\" HTTP/1.1\r\n\r\n",
        body.len()
    );
    let want = format!(
        "POST /a?%221%22 HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}GET /b?%222%22 HTTP/1.1\r\n\r\n",
        body.len()
    );
    assert_eq!(run_str(&input), want);
}

const CHUNKED: &str = "POST /c?\"1\" HTTP/1.1\r\nHost: h\r\ntransfer-encoding: gzip, Chunked\r\n\r\n\
    5;name=\"v\"\r\nGET /\r\n\
    11 \t;x\r\n?\"x\" HTTP/1.1\r\n\r\n\r\n\
    0;last\r\nX-Trailer: GET /t?\"t\" HTTP/1.1\r\nOther: y\r\n\r\n\
    GET /d?\"2\" HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n\"\"\"\
    \r\nGET /e?\"3\" HTTP/1.1\n\n";

#[test]
fn chunked_bodies_with_extensions_and_trailers_are_never_rewritten() {
    let got = run_str(CHUNKED);
    let want = CHUNKED
        .replace("/c?\"1\"", "/c?%221%22")
        .replace("/d?\"2\"", "/d?%222%22")
        .replace("/e?\"3\"", "/e?%223%22");
    assert_eq!(got, want);
    assert!(got.contains("5;name=\"v\"\r\nGET /\r\n"), "chunk data and extensions untouched");
    assert!(got.contains("X-Trailer: GET /t?\"t\" HTTP/1.1\r\n"), "trailers untouched");
}

#[test]
fn any_split_of_the_input_gives_the_same_output() {
    let whole = run(CHUNKED.as_bytes());
    for cut in 0..=CHUNKED.len() {
        let mut f = Framing::default();
        let mut out = Vec::new();
        f.feed(&CHUNKED.as_bytes()[..cut], &mut out);
        f.feed(&CHUNKED.as_bytes()[cut..], &mut out);
        f.finish(&mut out);
        assert_eq!(out, whole, "split at {cut}");
    }
    let mut f = Framing::default();
    let mut out = Vec::new();
    for b in CHUNKED.as_bytes() {
        f.feed(std::slice::from_ref(b), &mut out);
    }
    assert_eq!(out, whole, "one byte at a time");
}

#[test]
fn leading_empty_lines_and_bare_lf_heads_are_followed() {
    let got = run_str("\r\n\nGET /a?\"x\" HTTP/1.0\nContent-Length: 2\n\n\"\"GET /b?\"y\" HTTP/1.1\r\n\r\n");
    assert_eq!(
        got,
        "\r\n\nGET /a?%22x%22 HTTP/1.0\nContent-Length: 2\n\n\"\"GET /b?%22y%22 HTTP/1.1\r\n\r\n"
    );
}

/// After a head hyper frames differently or refuses, nothing more is rewritten.
#[test]
fn what_hyper_cannot_frame_is_passed_on_unchanged() {
    let next = "GET /n?\"z\" HTTP/1.1\r\n\r\n";
    for head in [
        "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: +5\r\n",
        "Content-Length: 5, 5\r\n",
        "Upgrade: websocket\r\n",
        "Bad Name: x\r\n",
        " folded\r\n",
    ] {
        let input = format!("POST /a HTTP/1.1\r\n{head}\r\n{next}");
        assert_eq!(run_str(&input), input, "{head:?}");
    }
    for first in ["CONNECT h:1 HTTP/1.1\r\n\r\n", "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"] {
        let input = format!("{first}{next}");
        assert_eq!(run_str(&input), input, "{first:?}");
    }
    // A malformed chunk size: hyper refuses it and closes; pass it on as is.
    let input = format!("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{next}");
    assert_eq!(run_str(&input), input);
    // Not a request line httparse accepts.
    for line in ["GET  /a?\"x\" HTTP/1.1\r\n", "GET /a?\"x\" HTTP/2.0\r\n", "GET /a\t\"x\" HTTP/1.1\r\n"] {
        let input = format!("{line}\r\n{next}");
        assert_eq!(run_str(&input), input, "{line:?}");
    }
}

#[test]
fn a_line_over_the_limit_switches_to_passthrough_with_bounded_memory() {
    let long = format!("GET /{} HTTP/1.1\r\n\r\nGET /?\"x\" HTTP/1.1\r\n\r\n", "a\"".repeat(MAX_LINE));
    let mut f = Framing::default();
    let mut out = Vec::new();
    for chunk in long.as_bytes().chunks(1000) {
        f.feed(chunk, &mut out);
        assert!(f.line.capacity() <= 2 * MAX_LINE, "one line at most is held");
    }
    assert!(f.is_passthrough());
    assert_eq!(out, long.as_bytes());
}

#[test]
fn an_eof_in_the_middle_of_a_line_passes_the_partial_line_on() {
    assert_eq!(run_str("GET /a?\"x\" HTT"), "GET /a?\"x\" HTT");
}
