//! Issue 13: SCIM load shedding. Under overload (too many SCIM requests in
//! flight on the node) a request is refused at once with 429, `Retry-After`
//! and a SCIM error body, and changes nothing; a per-token rate limit (off by
//! default) refuses a token over its bucket, not another token, until it
//! refills; the defaults never refuse 32 concurrent provisioning clients.
//! Both are counted in /metrics. Over real HTTP, on SQLite or PostgreSQL.

use std::time::Duration;

use idbridge::scim::shed::{ShedSettings, TokenRate};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::raw_target::read_responses;
use crate::support::helpers::{
    ADMIN_TOKEN, Scim, TestApp, db_path, spawn_app, spawn_app_with, spawn_process,
};
use crate::within;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

fn user(name: &str) -> Value {
    json!({"schemas": [USER], "userName": name, "externalId": name, "active": true,
           "emails": [{"value": name, "type": "work", "primary": true}]})
}

async fn app_with(settings: ShedSettings) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(dir, move |c| c.scim_shed = settings).await;
    app.org("acme").await;
    app
}

/// A metric's value from /metrics (0 when the series is not there yet).
async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

/// The org's users as SCIM lists them.
async fn user_count(scim: &Scim<'_>) -> i64 {
    let (s, v) = scim.get("/Users?count=1").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["totalResults"].as_i64().unwrap()
}

/// A 429 as the IPSIE SCIM profile, Okta and Entra expect it: `Retry-After` in
/// whole seconds and an RFC 7644 error body; the seconds.
fn assert_429(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &Value) -> u64 {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let secs: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(secs >= 1, "Retry-After {secs}");
    assert_eq!(headers["content-type"], "application/scim+json");
    assert_eq!(body["schemas"], json!([ERROR]));
    assert_eq!(body["status"], "429");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    secs
}

/// A POST /Users whose body is sent only in part: the request is admitted
/// (the handler waits for the rest of the body), holding an in-flight slot.
async fn held_post(app: &TestApp, scim: &Scim<'_>, name: &str) -> (TcpStream, Vec<u8>) {
    let body = user(name).to_string().into_bytes();
    let head = format!(
        "POST /scim/v2/{}/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n",
        scim.org,
        scim.token,
        body.len()
    );
    let mut sock = TcpStream::connect(app.addr).await.unwrap();
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&body[..10]).await.unwrap();
    (sock, body[10..].to_vec())
}

async fn post_user(scim: &Scim<'_>, name: String) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    scim.req(reqwest::Method::POST, "/Users", Some(user(&name)), &[]).await
}

#[tokio::test]
async fn an_overloaded_node_answers_429_with_retry_after_and_writes_nothing_it_refused() {
    let app = app_with(ShedSettings { max_in_flight: 4, max_write_queue: 0, token_rate: None }).await;
    let scim = app.scim("acme").await;
    let shed = app.state.scim_shed.clone();

    // Four requests in progress (bodies still coming): the node is full.
    let mut held = Vec::new();
    for i in 0..4 {
        held.push(held_post(&app, &scim, &format!("held{i}@acme.test")).await);
    }
    within!(Duration::from_secs(10), "four SCIM requests in flight", shed.in_flight() == 4);
    assert_eq!(metric(&app, "idbridge_scim_in_flight_requests").await, 4.0);

    // A flood now is refused at once, reads and writes alike.
    let flood = (0..20).map(|i| post_user(&scim, format!("refused{i}@acme.test")));
    let answers = futures_join_all(flood).await;
    for (s, h, v) in &answers {
        assert_eq!(assert_429(*s, h, v), 1, "overload: Retry-After 1 s");
    }
    let (s, h, v) = scim.req(reqwest::Method::GET, "/Users", None, &[]).await;
    assert_429(s, &h, &v);
    assert_eq!(metric(&app, "idbridge_scim_shed_requests_total{reason=\"in_flight\"}").await, 21.0);

    // The held requests complete normally once their bodies arrive.
    for (mut sock, rest) in held {
        sock.write_all(&rest).await.unwrap();
        let resp = read_responses(&mut sock, 1).await;
        assert_eq!(resp[0].status, 201, "{:?}", String::from_utf8_lossy(&resp[0].body));
    }
    within!(Duration::from_secs(10), "slots given back", shed.in_flight() == 0);
    assert_eq!(user_count(&scim).await, 4, "none of the refused creates was written");
    for i in [0, 19] {
        let (s, v) = scim.get(&format!("/Users?filter=userName%20eq%20%22refused{i}@acme.test%22")).await;
        assert_eq!((s, v["totalResults"].as_i64()), (StatusCode::OK, Some(0)), "{v}");
    }

    // A flood of concurrent creates against four slots: some get through, the
    // rest are refused, and exactly those that got 201 exist. (Rounds repeat
    // until one overlaps enough to be shed; the first almost always does.)
    let (mut created, mut refused, mut mixed) = (0, 0, false);
    for round in 0..5 {
        let flood = (0..48).map(|i| post_user(&scim, format!("r{round}u{i}@acme.test")));
        let answers = futures_join_all(flood).await;
        let ok = answers.iter().filter(|(s, _, _)| *s == StatusCode::CREATED).count();
        for (s, h, v) in answers.iter().filter(|(s, _, _)| *s != StatusCode::CREATED) {
            assert_429(*s, h, v);
        }
        created += ok;
        refused += 48 - ok;
        if ok > 0 && ok < 48 {
            mixed = true;
            break;
        }
    }
    assert!(
        mixed,
        "48 concurrent creates on 4 slots: some 201, some 429 ({created} created, {refused} refused)"
    );
    within!(Duration::from_secs(10), "slots given back", shed.in_flight() == 0);
    assert_eq!(user_count(&scim).await, 4 + created as i64, "exactly the 201s were written");
    assert_eq!(
        metric(&app, "idbridge_scim_shed_requests_total{reason=\"in_flight\"}").await,
        21.0 + refused as f64
    );
    assert_eq!(metric(&app, "idbridge_scim_in_flight_requests").await, 0.0);
    app.stop().await;
}

#[tokio::test]
async fn a_token_over_its_rate_gets_429_until_its_bucket_refills_and_other_tokens_do_not() {
    // Half a request a second, bursts of 3: the test's requests come far faster.
    let rate = TokenRate { per_second: 0.5, burst: 3 };
    let app = app_with(ShedSettings { token_rate: Some(rate), ..ShedSettings::default() }).await;
    let a = app.scim("acme").await;
    let b = app.scim("acme").await;

    for _ in 0..3 {
        assert_eq!(a.get("/Users").await.0, StatusCode::OK);
    }
    let (s, h, v) = a.req(reqwest::Method::GET, "/Users", None, &[]).await;
    assert_429(s, &h, &v);
    let (s, h, v) = post_user(&a, "limited@acme.test".into()).await;
    let wait = assert_429(s, &h, &v);
    assert!(wait <= 2, "one token comes back within 2 s at 0.5/s; Retry-After {wait}");

    // Another token of the same org has its own bucket.
    assert_eq!(b.get("/Users").await.0, StatusCode::OK);
    assert_eq!(user_count(&b).await, 0, "the refused create was not written");
    // An unauthenticated request is not counted against any token (401, not 429).
    let resp = app.client.get(a.url("/Users")).bearer_auth("nope").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(metric(&app, "idbridge_scim_rate_limited_requests_total{reason=\"token_rate\"}").await, 2.0);
    assert_eq!(metric(&app, "idbridge_scim_shed_requests_total{reason=\"in_flight\"}").await, 0.0);

    // After the announced wait, the token works again.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let (s, v) = a.post("/Users", user("limited@acme.test")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    app.stop().await;
}

#[tokio::test]
async fn the_defaults_never_refuse_32_concurrent_provisioning_clients() {
    let app = spawn_app().await;
    app.org("acme").await;
    assert_eq!(app.state.scim_shed.settings(), ShedSettings::default());
    assert_eq!(ShedSettings::default().token_rate, None, "no per-token limit by default");
    let mut clients = Vec::new();
    for _ in 0..32 {
        clients.push(app.scim("acme").await);
    }
    let work = clients.iter().enumerate().map(|(c, scim)| async move {
        let mut statuses = Vec::new();
        for i in 0..4 {
            let name = format!("c{c}u{i}@acme.test");
            let (s, v) = scim.post("/Users", user(&name)).await;
            statuses.push(s);
            if let Some(id) = v["id"].as_str() {
                statuses.push(scim.get(&format!("/Users/{id}")).await.0);
                let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "active", "value": false}]});
                statuses.push(scim.patch(&format!("/Users/{id}"), patch).await.0);
            }
            statuses.push(scim.get("/Users?count=10").await.0);
        }
        statuses
    });
    let statuses: Vec<StatusCode> = futures_join_all(work).await.into_iter().flatten().collect();
    assert_eq!(statuses.len(), 32 * 4 * 4, "every create succeeded");
    assert!(
        statuses.iter().all(|s| s.is_success()),
        "{:?}",
        statuses.iter().filter(|s| !s.is_success()).collect::<Vec<_>>()
    );
    assert_eq!(metric(&app, "idbridge_scim_shed_requests_total{reason=\"in_flight\"}").await, 0.0);
    assert_eq!(metric(&app, "idbridge_scim_shed_requests_total{reason=\"write_queue\"}").await, 0.0);
    assert_eq!(metric(&app, "idbridge_scim_in_flight_requests").await, 0.0);
    assert_eq!(user_count(&clients[0]).await, 128);
    app.stop().await;
}

#[tokio::test]
async fn the_settings_come_from_the_environment_of_idbridge_serve() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    let proc = spawn_process(&db, &[("IDBRIDGE_SCIM_TOKEN_RATE", "0.2"), ("IDBRIDGE_SCIM_TOKEN_BURST", "2")]);
    let http = reqwest::Client::new();
    let admin = |path: &str| http.post(format!("{}{path}", proc.base)).bearer_auth(ADMIN_TOKEN);
    let r = admin("/admin/v1/orgs").json(&json!({"slug": "acme", "name": "acme"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let t: Value =
        admin("/admin/v1/orgs/acme/scim-tokens").json(&json!({})).send().await.unwrap().json().await.unwrap();
    let token = t["token"].as_str().unwrap();
    let get = || http.get(format!("{}/scim/v2/acme/Users", proc.base)).bearer_auth(token).send();
    assert_eq!(get().await.unwrap().status(), StatusCode::OK);
    assert_eq!(get().await.unwrap().status(), StatusCode::OK);
    let refused = get().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "burst of 2 from IDBRIDGE_SCIM_TOKEN_BURST");
    // 0.2 a second: the next request is 4–5 s away.
    let secs: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((4..=5).contains(&secs), "Retry-After {secs}");

    // A rate that is not a number refuses to start, naming the setting.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .args(["serve", "--listen", "127.0.0.1:0", "--scim-token-rate=-1", "--db"])
        .arg(dir.path().join("other.db"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("scim_token_rate"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run the futures concurrently on this task; their outputs in order.
async fn futures_join_all<F: std::future::Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}
