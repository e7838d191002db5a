//! Request lines as Microsoft's SCIM validator and Entra write them — raw `"`, `[`, `]` and
//! `+` for spaces in the query — sent over a raw TcpStream (an HTTP client library would
//! encode them), with keep-alive, pipelining, Content-Length and chunked bodies that look
//! like request lines, and `Expect: 100-continue`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::helpers::{Scim, TestApp, spawn_app};

/// One parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.body)))
    }
}

/// Write `bytes` on one connection and read `count` responses (Content-Length framed).
pub async fn exchange(app: &TestApp, bytes: &[u8], count: usize) -> Vec<RawResponse> {
    let mut sock = TcpStream::connect(app.addr).await.unwrap();
    sock.write_all(bytes).await.unwrap();
    read_responses(&mut sock, count).await
}

pub async fn read_responses(sock: &mut TcpStream, count: usize) -> Vec<RawResponse> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while out.len() < count {
        if let Some((resp, used)) = parse_one(&buf) {
            buf.drain(..used);
            if resp.status != 100 {
                out.push(resp);
            }
            continue;
        }
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(Duration::from_secs(20), sock.read(&mut chunk))
            .await
            .expect("server answered within 20 s")
            .unwrap();
        assert!(n > 0, "connection closed after {} of {count} responses: {:?}", out.len(), buf);
        buf.extend_from_slice(&chunk[..n]);
    }
    out
}

fn parse_one(buf: &[u8]) -> Option<(RawResponse, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    if buf.len() < end + len {
        return None;
    }
    Some((RawResponse { status, headers, body: buf[end..end + len].to_vec() }, end + len))
}

async fn acme() -> (TestApp, String) {
    let app = spawn_app().await;
    app.org("acme").await;
    let token = app.scim("acme").await.token;
    (app, token)
}

fn get(target: &str, token: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: idbridge\r\nAuthorization: Bearer {token}\r\n\r\n")
}

#[tokio::test]
async fn a_raw_quoted_filter_finds_the_user_exactly_like_the_encoded_form() {
    let (app, token) = acme().await;
    let scim = Scim { app: &app, org: "acme".into(), token: token.clone() };
    let id = scim.user("a@b", "ext-a").await;
    scim.user("a@bc", "ext-b").await;
    let (s, encoded) = scim.get("/Users?filter=userName+eq+%22a%40b%22").await;
    assert_eq!(s, StatusCode::OK, "{encoded}");
    assert_eq!(encoded["totalResults"], 1);

    let r =
        exchange(&app, get("/scim/v2/acme/Users?filter=userName+eq+\"a%40b\"", &token).as_bytes(), 1).await;
    assert_eq!(r[0].status, 200, "{:?}", String::from_utf8_lossy(&r[0].body));
    assert_eq!(r[0].header("content-type"), Some("application/scim+json"));
    let raw = r[0].json();
    assert_eq!(raw["totalResults"], 1);
    assert_eq!(raw["Resources"][0]["id"], id.as_str());
    assert_eq!(raw["Resources"], encoded["Resources"]);
}

#[tokio::test]
async fn plus_is_a_space_and_an_encoded_plus_stays_a_plus_in_filters() {
    let (app, token) = acme().await;
    let scim = Scim { app: &app, org: "acme".into(), token: token.clone() };
    let plus = scim.user("a+b@acme.test", "ext-plus").await;
    scim.user("a b@acme.test", "ext-space").await;
    let t = "/scim/v2/acme/Users?filter=userName+eq+\"a%2Bb%40acme.test\"";
    let r = exchange(&app, get(t, &token).as_bytes(), 1).await;
    let v = r[0].json();
    assert_eq!(v["totalResults"], 1, "{v}");
    assert_eq!(v["Resources"][0]["id"], plus.as_str());
    // `+` decodes to a space (application/x-www-form-urlencoded): `userName eq "a+b..."`
    // with `+` would not even parse as a filter if the pluses stayed.
    let r = exchange(
        &app,
        get("/scim/v2/acme/Users?filter=userName+eq+\"a+b%40acme.test\"", &token).as_bytes(),
        1,
    )
    .await;
    assert_eq!(r[0].json()["Resources"][0]["userName"], "a b@acme.test");
}

#[tokio::test]
async fn healthz_with_a_raw_quote_is_200_and_keep_alive_answers_both_requests() {
    let app = spawn_app().await;
    let r = exchange(&app, b"GET /healthz?x=\"a\" HTTP/1.1\r\nHost: h\r\n\r\n", 1).await;
    assert_eq!(r[0].status, 200);
    assert_eq!(r[0].json()["status"], "ok");
    // Two requests on one connection, the second written after the first is answered.
    let mut sock = TcpStream::connect(app.addr).await.unwrap();
    sock.write_all(b"GET /healthz?x=\"a\" HTTP/1.1\r\nHost: h\r\n\r\n").await.unwrap();
    assert_eq!(read_responses(&mut sock, 1).await[0].status, 200);
    sock.write_all(b"GET /healthz?y=<b>&z={|}^` HTTP/1.1\r\nHost: h\r\n\r\n").await.unwrap();
    assert_eq!(read_responses(&mut sock, 1).await[0].status, 200);
}

#[tokio::test]
async fn bodies_that_look_like_request_lines_are_stored_unchanged() {
    let (app, token) = acme().await;
    let title = "GET /x?\"a\" HTTP/1.1";
    // A Content-Length body, then a pipelined request on the same connection.
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                      "userName": "cl@acme.test", "title": title})
    .to_string();
    let req = format!(
        "POST /scim/v2/acme/Users?x=\"1\" HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{body}{}",
        body.len(),
        get("/scim/v2/acme/Users?filter=title+eq+\"GET+/x?\\\"a\\\"+HTTP/1.1\"", &token)
    );
    let r = exchange(&app, req.as_bytes(), 2).await;
    assert_eq!(r[0].status, 201, "{:?}", String::from_utf8_lossy(&r[0].body));
    assert_eq!(r[0].json()["title"], title);
    assert_eq!(r[1].status, 200, "{:?}", String::from_utf8_lossy(&r[1].body));
    assert_eq!(r[1].json()["Resources"][0]["title"], title);

    // A chunked body whose second chunk is, on the wire, a whole request line; with a chunk
    // extension, a trailer that looks like one too, and Expect: 100-continue.
    let head = "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"ch@acme.test\",\"title\":\"";
    let line = "GET /x?\\\"a\\\" HTTP/1.1";
    let tail = "\"}";
    let req = format!(
        "POST /scim/v2/acme/Users HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/scim+json\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x};ext=\"GET /y?\\\"\"\r\n{head}\r\n{:x}\r\n{line}\r\n{:x}\r\n{tail}\r\n0\r\nX-T: GET /z?\"t\" HTTP/1.1\r\n\r\n{}",
        head.len(),
        line.len(),
        tail.len(),
        get("/scim/v2/acme/Users?filter=userName+eq+\"ch@acme.test\"", &token)
    );
    let r = exchange(&app, req.as_bytes(), 2).await;
    assert_eq!(r[0].status, 201, "{:?}", String::from_utf8_lossy(&r[0].body));
    assert_eq!(r[0].json()["title"], title, "chunk data reached the store unchanged");
    assert_eq!(r[1].json()["Resources"][0]["title"], title);
}

#[tokio::test]
async fn entra_matches_on_the_work_email_value_path_raw_and_encoded() {
    let (app, token) = acme().await;
    let scim = Scim { app: &app, org: "acme".into(), token: token.clone() };
    let user = |name: &str, emails: Value| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "emails": emails});
    let (s, ann) = scim
        .post(
            "/Users",
            user(
                "ann",
                json!([{"type": "home", "value": "ann@home.test", "primary": true},
                       {"type": "work", "value": "Ann@Acme.test"}]),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{ann}");
    // Someone whose *home* address is Ann's work address must not match.
    let (s, _) = scim
        .post(
            "/Users",
            user("bob", json!([{"type": "home", "value": "ann@acme.test"}, {"type": "work", "value": "bob@acme.test"}])),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let (s, encoded) =
        scim.get("/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22ann%40acme.test%22").await;
    assert_eq!(s, StatusCode::OK, "{encoded}");
    assert_eq!(encoded["totalResults"], 1, "{encoded}");
    assert_eq!(encoded["Resources"][0]["id"], ann["id"]);

    let raw = "/scim/v2/acme/Users?filter=emails[type+eq+\"work\"].value+eq+\"ann@acme.test\"";
    let r = exchange(&app, get(raw, &token).as_bytes(), 1).await;
    assert_eq!(r[0].status, 200, "{:?}", String::from_utf8_lossy(&r[0].body));
    assert_eq!(r[0].json()["Resources"], encoded["Resources"]);
}

#[tokio::test]
async fn raw_bytes_that_are_not_utf8_answer_400_in_the_surface_shape() {
    let (app, token) = acme().await;
    let r = exchange(&app, b"GET /admin/v1/orgs/x HTTP/1.1\r\n\r\n", 1).await;
    assert_eq!(r[0].status, 401, "a plain request still reaches the router");
    let mut req = b"GET /admin/v1/orgs/\xFF HTTP/1.1\r\nAuthorization: Bearer ".to_vec();
    req.extend_from_slice(crate::support::helpers::ADMIN_TOKEN.as_bytes());
    req.extend_from_slice(b"\r\n\r\n");
    let r = exchange(&app, &req, 1).await;
    assert_eq!(r[0].status, 400);
    assert_eq!(r[0].json()["error"]["code"], "invalid_request");
    let mut req = b"GET /scim/v2/acme/Users/\xFF\xFE HTTP/1.1\r\nAuthorization: Bearer ".to_vec();
    req.extend_from_slice(token.as_bytes());
    req.extend_from_slice(b"\r\n\r\n");
    let r = exchange(&app, &req, 1).await;
    assert_eq!(r[0].status, 400);
    assert_eq!(r[0].header("content-type"), Some("application/scim+json"));
    assert_eq!(r[0].json()["status"], "400");
}
