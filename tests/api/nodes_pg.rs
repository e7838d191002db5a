//! Two real `idbridge serve` processes on one PostgreSQL database, always
//! (whatever `IDBRIDGE_TEST_DB` says): the multi-node contract of
//! docs/deployment.md ("Several nodes on one database") checked across
//! process boundaries, plus what SIGKILL of one node and an unreachable
//! database do. Both nodes are given one public URL, as a load balancer's
//! nodes are; a URL on it is sent to whichever node the test names.

use crate::within;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::helpers::{ADMIN_TOKEN, Process, spawn_process};
use crate::support::saml_client::{location, okta_spec, session_of};
use crate::support::saml_idp::{Conn, Idp, conn_of};
use crate::support::saml_signer::okta_response;
use crate::support::webhook_receiver::Receiver;

/// The balancer's address every node is configured with. Nothing connects to
/// it: the tests rewrite it to the node they mean (`Node::at`).
const PUBLIC: &str = "http://idbridge-lb.test";

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// One `idbridge serve` process.
struct Node {
    name: &'static str,
    proc: Process,
    client: reqwest::Client,
    /// Its stderr lines read so far.
    log: Vec<String>,
}

impl Node {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.proc.base)
    }

    /// `url` (on the public URL) as sent to this node.
    fn at(&self, url: &str) -> String {
        let path = url.strip_prefix(PUBLIC).unwrap_or_else(|| panic!("{url} is not on {PUBLIC}"));
        self.url(path)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        send(&self.client, method, self.url(path), token, body).await.unwrap()
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.send(method, path, ADMIN_TOKEN, body).await
    }

    async fn status(&self, path: &str, token: Option<&str>) -> StatusCode {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().status()
    }

    fn alive(&mut self) -> bool {
        self.proc.child.try_wait().unwrap().is_none()
    }

    /// Every stderr line so far.
    fn lines(&mut self) -> &[String] {
        self.log.extend(self.proc.stderr_lines.try_iter());
        &self.log
    }

    /// Whether this node's log last said it took the deployment's
    /// background work (src/store/pg/leader.rs logs each change at info).
    fn says_it_leads(&mut self) -> bool {
        let name = self.name;
        self.lines()
            .iter()
            .rev()
            .find_map(|l| {
                if l.contains("now runs the deployment's background work") {
                    Some(true)
                } else if l.contains("no longer runs the deployment's background work") {
                    Some(false)
                } else {
                    None
                }
            })
            .inspect(|leads| eprintln!("node {name} leads: {leads}"))
            .unwrap_or(false)
    }

    /// SIGKILL (no drain, no shutdown) and reap.
    fn kill(&mut self) {
        self.proc.child.kill().unwrap();
        self.proc.child.wait().unwrap();
    }
}

/// One request; JSON (or the text as a string) back. Err: no answer (the node is gone).
async fn send(
    client: &reqwest::Client,
    method: Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> Result<(StatusCode, Value), reqwest::Error> {
    let mut req = client.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.header("content-type", "application/scim+json").body(b.to_string());
    }
    let resp = req.send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Ok((status, v))
}

/// `idbridge serve` on `url` with the shared public URL (off the runtime:
/// `spawn_process` blocks until the listening line).
async fn start(name: &'static str, url: &str) -> Node {
    let url = url.to_string();
    let proc = tokio::task::spawn_blocking(move || {
        spawn_process(std::path::Path::new(&url), &[("IDBRIDGE_PUBLIC_URL", PUBLIC)])
    })
    .await
    .unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Node { name, proc, client, log: Vec::new() }
}

/// Two nodes started at the same moment on one fresh PostgreSQL database
/// (so both run the migrations at once: the advisory lock serialises them).
async fn two_nodes() -> (Node, Node, String) {
    let url = crate::support::postgres::fresh_database().await;
    let (a, b) = tokio::join!(start("A", &url), start("B", &url));
    (a, b, url)
}

/// An org `acme` (anyone provisioned or signed in is a member) and a SCIM token.
async fn acme(a: &Node) -> String {
    let (s, b) = a.admin(Method::POST, "/admin/v1/orgs", Some(json!({"slug": "acme", "name": "Acme"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let mapping = json!({"default_org_role": "member", "rules": []});
    let (s, b) = a.admin(Method::PUT, "/admin/v1/orgs/acme/mapping", Some(mapping)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, t) = a.admin(Method::POST, "/admin/v1/orgs/acme/scim-tokens", Some(json!({}))).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    t["token"].as_str().unwrap().to_string()
}

fn user_body(name: &str) -> Value {
    json!({"schemas": [USER], "userName": name, "externalId": format!("ext-{name}"), "active": true,
           "emails": [{"value": name, "type": "work", "primary": true}]})
}

/// POST a user through `node`; its id.
async fn user(node: &Node, token: &str, name: &str) -> String {
    let (s, v) = node.send(Method::POST, "/scim/v2/acme/Users", token, Some(user_body(name))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_string()
}

/// Every event of `acme`, oldest first (the pull API, paged).
async fn events(node: &Node) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    loop {
        let after = all.last().map_or(0, |e| e["id"].as_i64().unwrap());
        let (s, page) = node
            .admin(Method::GET, &format!("/admin/v1/orgs/acme/events?after={after}&limit=1000"), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let page = page.as_array().unwrap().clone();
        let full = page.len() == 1000;
        all.extend(page);
        if !full {
            return all;
        }
    }
}

// ---------------------------------------------------------------- SAML, sessions, tokens

async fn saml_conn(a: &Node) -> Conn {
    let body = json!({"kind": "saml", "name": "IdP", "idp_metadata_xml": Idp::okta().metadata(&[])});
    let (s, b) = a.admin(Method::POST, "/admin/v1/orgs/acme/connections", Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let conn = conn_of("acme", b);
    assert!(conn.acs_url.starts_with(PUBLIC), "the ACS is on the shared public URL: {}", conn.acs_url);
    conn
}

/// POST a base64 Response to `node`'s ACS from a browser holding `cookie`.
async fn post_acs(node: &Node, conn: &Conn, xml: &str, cookie: Option<&str>) -> reqwest::Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLResponse", &base64::Engine::encode(&base64::engine::general_purpose::STANDARD, xml))
        .finish();
    let mut req = node
        .client
        .post(node.at(&conn.acs_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

/// How many SAML refusals for `reason` this node counted (metrics are per node).
async fn refusals(node: &Node, reason: &str) -> u64 {
    let text = node.client.get(node.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let needle = format!("idbridge_refusals_total{{surface=\"saml\",reason=\"{reason}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&needle)).map(|v| v.trim().parse().unwrap()).unwrap_or(0)
}

async fn me(node: &Node, session: &str) -> StatusCode {
    node.status("/v1/me", Some(session)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_pg_saml_login_started_on_a_completes_on_b_replays_are_refused_and_logout_on_a_holds_on_b() {
    let (a, b, _) = two_nodes().await;
    acme(&a).await;
    let conn = saml_conn(&a).await;
    // SP-initiated: the AuthnRequest (and the browser binding) from A ...
    let resp = a.client.get(a.at(&conn.login_url)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let binding = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("idbridge_saml_"))
        .expect("a binding cookie");
    let to = url::Url::parse(&location(&resp)).unwrap();
    let request_id = to.query_pairs().find(|(k, _)| k == "RelayState").unwrap().1.to_string();
    // ... and the IdP's answer posted to B.
    let xml = okta_response(&okta_spec(&conn).answering(&request_id), &Idp::okta());
    let token = session_of(&post_acs(&b, &conn, &xml, Some(&binding)).await);
    assert_eq!(me(&b, &token).await, StatusCode::OK);
    assert_eq!(me(&a, &token).await, StatusCode::OK, "the session B issued works on A");
    // The same answer again, to B and to A: its request id is spent for the deployment.
    for node in [&b, &a] {
        let before = refusals(node, "unknown_in_response_to").await;
        let resp = post_acs(node, &conn, &xml, Some(&binding)).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "replayed to node {}", node.name);
        assert_eq!(refusals(node, "unknown_in_response_to").await, before + 1, "node {}", node.name);
    }
    // An IdP-initiated assertion accepted by A is a replay for B, and for A.
    let idp_init = okta_response(&okta_spec(&conn), &Idp::okta());
    let other = session_of(&post_acs(&a, &conn, &idp_init, None).await);
    for node in [&b, &a] {
        let before = refusals(node, "replay").await;
        let resp = post_acs(node, &conn, &idp_init, None).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "replayed to node {}", node.name);
        assert_eq!(refusals(node, "replay").await, before + 1, "counted as a replay on node {}", node.name);
    }
    // The SP-initiated login's session ended on A is refused by B at once.
    let resp = a.client.post(a.url("/v1/logout")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&b, &token).await, StatusCode::UNAUTHORIZED, "B reads the session's revocation");
    assert_eq!(me(&a, &token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&b, &other).await, StatusCode::OK, "only that session ended");
    // And the other way round.
    let resp = b.client.post(b.url("/v1/logout")).bearer_auth(&other).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&a, &other).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_pg_scim_token_revoked_through_a_is_refused_by_b_within_a_second() {
    let (a, b, _) = two_nodes().await;
    acme(&a).await;
    let (s, t) = a.admin(Method::POST, "/admin/v1/orgs/acme/scim-tokens", Some(json!({}))).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let (token, id) = (t["token"].as_str().unwrap().to_string(), t["id"].as_str().unwrap().to_string());
    // Both nodes have verified (and cached) the token.
    for _ in 0..3 {
        assert_eq!(a.status("/scim/v2/acme/Users", Some(&token)).await, StatusCode::OK);
        assert_eq!(b.status("/scim/v2/acme/Users", Some(&token)).await, StatusCode::OK);
    }
    let (s, body) = a.admin(Method::DELETE, &format!("/admin/v1/orgs/acme/scim-tokens/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let revoked = Instant::now();
    assert_eq!(a.status("/scim/v2/acme/Users", Some(&token)).await, StatusCode::UNAUTHORIZED);
    within!(
        Duration::from_secs(1).saturating_sub(revoked.elapsed()),
        "node B still accepts the revoked SCIM token",
        b.status("/scim/v2/acme/Users", Some(&token)).await == StatusCode::UNAUTHORIZED
    );
    for _ in 0..3 {
        assert_eq!(b.status("/scim/v2/acme/Users", Some(&token)).await, StatusCode::UNAUTHORIZED);
    }
}

// ---------------------------------------------------------------- concurrent writes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_pg_concurrent_group_patches_across_nodes_lose_nothing() {
    const CLIENTS: usize = 16; // 8 per node
    const EACH: usize = 6; // users added per client; the first two removed again
    let (a, b, _) = two_nodes().await;
    let token = acme(&a).await;
    let mut ids = Vec::new();
    for i in 0..CLIENTS * EACH {
        let node = if i % 2 == 0 { &a } else { &b };
        ids.push(user(node, &token, &format!("u{i}@acme.com")).await);
    }
    let (s, g) = a
        .send(
            Method::POST,
            "/scim/v2/acme/Groups",
            &token,
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Eng"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let group = g["id"].as_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let node = if c % 2 == 0 { &a } else { &b };
        let (client, url) = (node.client.clone(), node.url(&format!("/scim/v2/acme/Groups/{group}")));
        let (mine, token) = (ids[c * EACH..(c + 1) * EACH].to_vec(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut ops: Vec<Value> = mine
                .iter()
                .map(|u| json!({"op": "add", "path": "members", "value": [{"value": u}]}))
                .collect();
            ops.extend(
                mine[..2]
                    .iter()
                    .map(|u| json!({"op": "remove", "path": format!("members[value eq \"{u}\"]")})),
            );
            for op in ops {
                let body = json!({"schemas": [PATCH_OP], "Operations": [op]});
                let (s, v) = send(&client, Method::PATCH, url.clone(), &token, Some(body)).await.unwrap();
                assert!(s.is_success(), "{op} refused: {s} {v}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let want: BTreeSet<String> =
        (0..CLIENTS).flat_map(|c| ids[c * EACH + 2..(c + 1) * EACH].to_vec()).collect();
    for node in [&a, &b] {
        let (s, g) = node.send(Method::GET, &format!("/scim/v2/acme/Groups/{group}"), &token, None).await;
        assert_eq!(s, StatusCode::OK, "{g}");
        let got: BTreeSet<String> = g["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got.len(), CLIENTS * (EACH - 2), "members as node {} sees them", node.name);
        assert_eq!(got, want, "members as node {} sees them", node.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_pg_the_same_user_name_created_on_both_nodes_at_once_is_created_once() {
    let (a, b, _) = two_nodes().await;
    let token = acme(&a).await;
    for round in 0..25 {
        let name = format!("Same{round}@acme.com");
        let (ra, rb) = tokio::join!(
            a.send(Method::POST, "/scim/v2/acme/Users", &token, Some(user_body(&name))),
            // The same name in another case: userName is unique case-insensitively.
            b.send(Method::POST, "/scim/v2/acme/Users", &token, Some(user_body(&name.to_lowercase()))),
        );
        let mut statuses = [ra.0, rb.0];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT], "round {round}: {ra:?} {rb:?}");
        let refused = if ra.0 == StatusCode::CONFLICT { &ra.1 } else { &rb.1 };
        assert_eq!(refused["scimType"], "uniqueness", "{refused}");
    }
    let (s, list) = b.send(Method::GET, "/scim/v2/acme/Users?count=100", &token, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["totalResults"], 25, "{list}");
}

// ---------------------------------------------------------------- SIGKILL

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_pg_sigkill_of_one_node_under_load_loses_nothing_acknowledged() {
    const PER_NODE: usize = 4;
    let (mut a, b, _) = two_nodes().await;
    let token = acme(&a).await;
    let before_kill = 40; // users acknowledged (both nodes) before A is killed
    let after_kill = 60; // users B acknowledges after the kill before the clients stop
    // (user name, id) of every 201; B's 201s after the kill; any failure of B.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let b_after = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (n, node) in [&a, &b].into_iter().enumerate() {
        for w in 0..PER_NODE {
            let (client, url, token) = (node.client.clone(), node.url("/scim/v2/acme/Users"), token.clone());
            let (acked, killed, b_after, stop) =
                (acked.clone(), killed.clone(), b_after.clone(), stop.clone());
            let is_b = n == 1;
            tasks.push(tokio::spawn(async move {
                let mut errors = Vec::new();
                for i in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Acquire) {
                        break;
                    }
                    let name = format!("n{n}-w{w}-{i}@acme.com");
                    match send(&client, Method::POST, url.clone(), &token, Some(user_body(&name))).await {
                        Ok((StatusCode::CREATED, v)) => {
                            acked.lock().unwrap().push((name, v["id"].as_str().unwrap().to_string()));
                            if is_b && killed.load(std::sync::atomic::Ordering::Acquire) {
                                b_after.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                            }
                        }
                        // A answering something else before it is killed is a failure too.
                        Ok((s, v)) => errors.push(format!("{name}: {s} {v}")),
                        // Node A is gone: its clients stop (their in-flight write may or may not exist).
                        Err(e) if !is_b && killed.load(std::sync::atomic::Ordering::Acquire) => {
                            let _ = e;
                            break;
                        }
                        Err(e) => errors.push(format!("{name}: no answer: {e}")),
                    }
                }
                errors
            }));
        }
    }
    let count = || acked.lock().unwrap().len();
    within!(Duration::from_secs(10), "the clients never got 40 users acknowledged", count() >= before_kill);
    killed.store(true, std::sync::atomic::Ordering::Release);
    a.kill();
    let at_kill = count();
    within!(
        Duration::from_secs(10),
        format!(
            "B acknowledged only {} users after A was killed",
            b_after.load(std::sync::atomic::Ordering::Acquire)
        ),
        b_after.load(std::sync::atomic::Ordering::Acquire) >= after_kill
    );
    stop.store(true, std::sync::atomic::Ordering::Release);
    let mut errors = Vec::new();
    for t in tasks {
        errors.extend(t.await.unwrap());
    }
    // A failure of B at any time, or of A before the kill, fails the test.
    assert!(errors.is_empty(), "{errors:#?}");
    let acked = acked.lock().unwrap().clone();
    eprintln!("{} users acknowledged, {at_kill} when A was killed", acked.len());
    // Every acknowledged user is there, through B.
    for (name, id) in &acked {
        let (s, v) = b.send(Method::GET, &format!("/scim/v2/acme/Users/{id}"), &token, None).await;
        assert_eq!(s, StatusCode::OK, "acknowledged {name} ({id}) is gone: {v}");
        assert_eq!(v["userName"], name.as_str());
    }
    // Every acknowledged write has its event (member.added, in its transaction).
    let events = events(&b).await;
    let added: BTreeSet<&str> = events
        .iter()
        .filter(|e| e["type"] == "member.added")
        .map(|e| e["data"]["user_id"].as_str().unwrap())
        .collect();
    for (name, id) in &acked {
        assert!(added.contains(id.as_str()), "no member.added event for acknowledged {name} ({id})");
    }
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "event ids ascend: {ids:?}");
}

// ---------------------------------------------------------------- webhooks

/// The event id a delivery carries (a string in webhook bodies, docs/webhooks.md).
fn hook_event_id(r: &crate::support::webhook_receiver::Received) -> i64 {
    let id = r.body["id"].as_str().unwrap_or_else(|| panic!("no id in {}", r.body));
    assert_eq!(r.id, id, "webhook-id is the event id");
    id.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_pg_webhooks_are_delivered_once_in_order_and_continue_after_the_leader_is_killed() {
    let (mut a, mut b, _) = two_nodes().await;
    let token = acme(&a).await;
    let receiver = Receiver::start().await;
    let (s, h) =
        a.admin(Method::POST, "/admin/v1/orgs/acme/webhooks", Some(json!({"url": receiver.url}))).await;
    assert_eq!(s, StatusCode::CREATED, "{h}");
    receiver.trust(h["secret"].as_str().unwrap());
    // Writes through both nodes, alternating.
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        user(node, &token, &format!("w{i}@acme.com")).await;
    }
    let first = events(&b).await;
    assert!(first.len() >= 20, "{first:?}");
    let got = receiver.wait_for(first.len(), 10).await;
    // Let a duplicate, if some node were to send one, arrive before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_ids: Vec<i64> = receiver.got().iter().map(hook_event_id).collect();
    let want: Vec<i64> = first.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(got_ids, want, "every event once, in commit order (deliveries: {got:?})");
    let hook_ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(hook_ids.iter().collect::<BTreeSet<_>>().len(), hook_ids.len(), "each webhook-id once");
    assert!(got.iter().all(|r| r.verified), "every delivery signed with the webhook's secret");
    // Which node delivers: kill it (if neither log says so, kill A).
    let (leads_a, leads_b) = (a.says_it_leads(), b.says_it_leads());
    assert!(!(leads_a && leads_b), "both nodes say they lead");
    let (survivor, victim) = if leads_b { (&mut a, &mut b) } else { (&mut b, &mut a) };
    eprintln!("killing node {} (leader per its log: {})", victim.name, leads_a || leads_b);
    victim.kill();
    let killed = Instant::now();
    for i in 20..30 {
        user(survivor, &token, &format!("w{i}@acme.com")).await;
    }
    let all = events(survivor).await;
    let want: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    within!(Duration::from_secs(5), "events after the kill were not delivered by the surviving node", {
        let got: BTreeSet<i64> = receiver.got().iter().map(hook_event_id).collect();
        want.iter().all(|id| got.contains(id))
    });
    eprintln!("delivery continued on {} within {:?} of the kill", survivor.name, killed.elapsed());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = receiver.got();
    let got_ids: Vec<i64> = got.iter().map(hook_event_id).collect();
    // Everything before the kill had been delivered (and its cursor stored):
    // nothing is delivered twice, and the order holds across the failover.
    assert_eq!(got_ids, want, "deliveries after the failover: {got:?}");
    assert!(got.iter().all(|r| r.verified));
    assert!(survivor.alive());
}

// ---------------------------------------------------------------- unreachable database

/// `idbridge serve` on a PostgreSQL URL whose port is closed: (exit status, stdout, stderr, port, password).
fn serve_on_a_closed_port() -> (std::process::ExitStatus, String, String, u16, &'static str) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let secret = "pw-never-shown-3b1c";
    let url = format!("postgres://idbridge:{secret}@127.0.0.1:{port}/idbridge");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db", &url])
        .env("IDBRIDGE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("IDBRIDGE_SECRET_KEY", crate::support::helpers::SECRET_KEY)
        .env_remove("IDBRIDGE_DB")
        // anyhow appends a backtrace when these are set (as a test run often has them).
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env_remove("IDBRIDGE_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("serve neither started nor gave up within 15 s on an unreachable database");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string());
    (status, stdout, stderr, port, secret)
}

#[test]
fn nodes_pg_serve_on_an_unreachable_database_refuses_to_start_with_a_clear_error() {
    let (status, stdout, stderr, port, secret) = serve_on_a_closed_port();
    assert!(!status.success(), "serve started without its database: {stdout} {stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("Error: database postgres://"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains(secret) && !stdout.contains(secret), "the password is shown: {stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "which database: {stderr}");
    assert!(first.contains("Connection refused"), "what went wrong, on the first line: {stderr}");
}

#[test]

fn nodes_pg_serve_on_an_unreachable_database_says_so_in_one_line() {
    let (status, _, stderr, _, _) = serve_on_a_closed_port();
    assert!(!status.success());
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
}

/// The database `db` refuses new connections and its sessions are ended: the
/// database is gone for every node until `ALLOW_CONNECTIONS true`.
async fn cut_connections(url: &str, db: &str) {
    as_superuser(
        url,
        format!(
            "ALTER DATABASE {db} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid();"
        ),
    )
    .await;
}

/// A superuser connection to the cluster's `postgres` database (the URL of
/// `db`'s database with its name swapped), off the runtime.
async fn as_superuser(db_url: &str, sql: String) {
    let admin = format!("{}/postgres", &db_url[..db_url.rfind('/').unwrap()]);
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        c.batch_execute(&sql).unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_pg_a_lost_database_is_503_on_every_node_and_service_resumes_by_itself() {
    let (mut a, mut b, url) = two_nodes().await;
    let token = acme(&a).await;
    user(&b, &token, "before@acme.com").await;
    let db = url.rsplit('/').next().unwrap().to_string();
    cut_connections(&url, &db).await;
    for node in [&mut a, &mut b] {
        let name = node.name;
        within!(
            Duration::from_secs(5),
            format!("/readyz on node {name} still not 503 with the database gone"),
            node.status("/readyz", None).await == StatusCode::SERVICE_UNAVAILABLE
        );
        let (s, v) = node.send(Method::GET, "/scim/v2/acme/Users", &token, None).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "SCIM read on node {name}: {v}");
        // The first write after the writer's connection was cut may answer 500
        // (the defect pinned by the ignored test below); a write is refused either way.
        let (s, v) =
            node.send(Method::POST, "/scim/v2/acme/Users", &token, Some(user_body("lost@acme.com"))).await;
        assert!(s.is_server_error(), "SCIM write on node {name}: {s} {v}");
        let (s, v) =
            node.send(Method::POST, "/scim/v2/acme/Users", &token, Some(user_body("lost@acme.com"))).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "SCIM write on node {name}: {v}");
        let (s, v) = node.admin(Method::GET, "/admin/v1/orgs/acme", None).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "admin read on node {name}: {v}");
        assert_eq!(node.status("/healthz", None).await, StatusCode::OK, "node {name} is alive");
        assert!(node.alive(), "node {name} exited");
    }
    as_superuser(&url, format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")).await;
    let back = Instant::now();
    for node in [&a, &b] {
        let name = node.name;
        within!(
            Duration::from_secs(5).saturating_sub(back.elapsed()),
            format!("node {name} did not resume by itself"),
            node.status("/readyz", None).await == StatusCode::OK
                && node.status("/scim/v2/acme/Users", Some(&token)).await == StatusCode::OK
        );
    }
    eprintln!("both nodes served again {:?} after connections were allowed", back.elapsed());
    // Writes too, on both nodes; the refused write left nothing behind.
    user(&a, &token, "after-a@acme.com").await;
    user(&b, &token, "after-b@acme.com").await;
    let (_, list) = a.send(Method::GET, "/scim/v2/acme/Users?count=100", &token, None).await;
    let names: BTreeSet<&str> =
        list["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap()).collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["after-a@acme.com", "after-b@acme.com", "before@acme.com"],
        "{list}"
    );
    for node in [&mut a, &mut b] {
        let name = node.name;
        assert!(node.alive());
        let panicked: Vec<String> = node.lines().iter().filter(|l| l.contains("panicked")).cloned().collect();
        assert!(panicked.is_empty(), "node {name}: {panicked:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn nodes_pg_the_first_write_after_the_connection_is_cut_is_503() {
    let (a, b, url) = two_nodes().await;
    let token = acme(&a).await;
    user(&a, &token, "a@acme.com").await;
    user(&b, &token, "b@acme.com").await;
    let db = url.rsplit('/').next().unwrap().to_string();
    cut_connections(&url, &db).await;
    for node in [&a, &b] {
        let (s, v) =
            node.send(Method::POST, "/scim/v2/acme/Users", &token, Some(user_body("lost@acme.com"))).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "first SCIM write on node {}: {v}", node.name);
    }
}
