//! `spawn_app()`: the whole application in-process on 127.0.0.1:0 with a temp
//! database, plus request helpers. `spawn_process()` runs the real binary.
//! With `TEST_LOG` set, both show their tracing output (see `test_log`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use idbridge::App;
use idbridge::config::Config;
use idbridge::http::AppState;
use idbridge::secrets::Secret;
use reqwest::StatusCode;
use serde_json::Value;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";
pub const SECRET_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// The log filter `TEST_LOG` asks for: `None` when it is unset, empty, `0` or `false` (no log
/// output, the default); `debug` for `1` or `true`; otherwise the value itself as a
/// `tracing_subscriber::EnvFilter` directive (e.g. `idbridge=trace,tower_http=debug`).
pub fn test_log() -> Option<String> {
    let value = std::env::var("TEST_LOG").ok()?;
    let value = value.trim();
    match value.to_ascii_lowercase().as_str() {
        "" | "0" | "false" => None,
        "1" | "true" => Some("debug".to_string()),
        _ => Some(value.to_string()),
    }
}

/// With `TEST_LOG` set, a global tracing subscriber (once per test binary) that writes the
/// in-process app's events through the test harness: shown for a failing test, or for every
/// test with `-- --nocapture`. Without it no subscriber is installed and nothing is printed.
fn init_test_log() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let Some(directive) = test_log() else { return };
        let filter = tracing_subscriber::EnvFilter::try_new(&directive)
            .unwrap_or_else(|e| panic!("TEST_LOG={directive:?} is not a tracing filter: {e}"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .try_init();
    });
}

pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    spawn_app_in(dir).await
}

pub async fn spawn_app_in(dir: tempfile::TempDir) -> TestApp {
    spawn_app_with(dir, |_| {}).await
}

/// Like `spawn_app_in`, with a chance to change the configuration.
pub async fn spawn_app_with(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> TestApp {
    init_test_log();
    let mut cfg = Config::for_db(db_path(&dir));
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.admin_token = Some(Secret::new(ADMIN_TOKEN));
    cfg.secret_key = Some(Secret::new(SECRET_KEY));
    tweak(&mut cfg);
    let app = App::build(cfg).await.unwrap();
    let addr = app.addr;
    let state = app.state.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run(async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    TestApp {
        addr,
        base: format!("http://{addr}"),
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        state,
        dir,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    pub async fn admin_get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, Some(ADMIN_TOKEN), None).await
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(ADMIN_TOKEN), Some(body)).await
    }

    pub async fn admin_delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::DELETE, path, Some(ADMIN_TOKEN), None).await
    }

    /// Create an org and return its slug.
    pub async fn org(&self, slug: &str) -> String {
        let (s, _) = self.admin_post("/admin/v1/orgs", serde_json::json!({"slug": slug, "name": slug})).await;
        assert_eq!(s, StatusCode::CREATED);
        slug.to_string()
    }

    pub async fn project(&self, org: &str, slug: &str) {
        let (s, b) = self
            .admin_post(
                &format!("/admin/v1/orgs/{org}/projects"),
                serde_json::json!({"slug": slug, "name": slug}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }

    /// Stop the server gracefully and wait for it (store closed).
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.unwrap();
        }
        self.dir
    }
}

/// The real `idbridge serve` process.
pub struct Process {
    pub child: Child,
    pub base: String,
    pub stderr_lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `idbridge serve` on `db`, wait for its "listening on" line.
/// The child is waited for by `Process`'s Drop. With `TEST_LOG` set, the child logs at that
/// filter (`IDBRIDGE_LOG`, unless `extra_env` sets it) and its stderr is echoed to the test's
/// output as well as collected in `stderr_lines`.
#[allow(clippy::zombie_processes)]
pub fn spawn_process(db: &Path, extra_env: &[(&str, &str)]) -> Process {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_idbridge"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("IDBRIDGE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("IDBRIDGE_SECRET_KEY", SECRET_KEY)
        .env_remove("IDBRIDGE_PUBLIC_URL")
        .env_remove("IDBRIDGE_LISTEN")
        .env_remove("IDBRIDGE_DB")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let log = test_log();
    if let Some(directive) = &log {
        cmd.env("IDBRIDGE_LOG", directive);
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // A thread spawned here inherits the test's output capture, so the echo lands in its output.
    let echo = log.is_some();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if echo {
                eprintln!("[idbridge serve] {line}");
            }
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("server did not print its listening line");
        if let Some(i) = line.find("listening on http://") {
            let addr: String = line[i + "listening on ".len()..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '"')
                .collect();
            return Process { child, base: addr, stderr_lines: rx };
        }
    }
}

/// Which engine the suite runs on: `IDBRIDGE_TEST_DB=postgres` runs every
/// app and process of the integration suite on a real PostgreSQL (a fresh
/// database per test directory); unset or `sqlite`, on an SQLite file.
pub fn on_postgres() -> bool {
    match std::env::var("IDBRIDGE_TEST_DB").as_deref() {
        Ok("postgres") => true,
        Ok("") | Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("IDBRIDGE_TEST_DB={other:?}: expected sqlite or postgres"),
    }
}

/// The database of a test directory, as `--db` takes it: `DIR/idbridge.db`,
/// or on PostgreSQL a fresh database whose URL is kept in `DIR/pg-url`, so a
/// restarted app or process on the same directory finds the same data.
pub fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    if !on_postgres() {
        return dir.path().join("idbridge.db");
    }
    let keep = dir.path().join("pg-url");
    if let Ok(url) = std::fs::read_to_string(&keep) {
        return PathBuf::from(url);
    }
    // Off whatever runtime the caller is on: the PostgreSQL client blocks.
    let url = std::thread::spawn(crate::support::postgres::fresh_database_blocking).join().unwrap();
    std::fs::write(&keep, &url).unwrap();
    PathBuf::from(url)
}

/// Tests that read the SQLite file itself (its bytes, its file mode, rows
/// through rusqlite) have no PostgreSQL counterpart: they return early there.
#[macro_export]
macro_rules! sqlite_only {
    () => {
        if $crate::support::helpers::on_postgres() {
            eprintln!("SQLite-only test: skipped on PostgreSQL");
            return;
        }
    };
}

impl TestApp {
    /// Complete an SSO login as the protocol handlers do (JIT on, match by email).
    pub async fn login(
        &self,
        org: &str,
        email: &str,
        groups: &[&str],
    ) -> Result<String, idbridge::session::login::LoginRefused> {
        let org_id = self.org_id(org).await;
        let facts = idbridge::session::login::LoginFacts {
            connection_id: self.test_connection(org).await,
            org_id,
            subject: email.into(),
            email: Some(email.into()),
            given_name: Some("Test".into()),
            family_name: Some("User".into()),
            groups: Some(groups.iter().map(|g| g.to_string()).collect()),
            jit: true,
            ..Default::default()
        };
        let (issued, _) = idbridge::session::login::complete(
            &self.state.db,
            self.state.sessions.clone(),
            &self.state.public_url,
            facts,
        )
        .await?;
        Ok(issued.token)
    }

    /// The id of a stored OIDC connection of `org` that `login` signs in through
    /// (created on first use; a login through a connection that does not exist is refused).
    pub async fn test_connection(&self, org: &str) -> String {
        let id = format!("test-connection-{org}");
        if idbridge::connections::get(&self.state.db, &id).await.is_ok() {
            return id;
        }
        let org = idbridge::directory::orgs::get_org(&self.state.db, org).await.unwrap();
        let now = idbridge::clock::now_str();
        let row = idbridge::store::connections::ConnectionRow {
            id: id.clone().into(),
            org_id: org.id.clone(),
            kind: idbridge::model::ConnectionKind::Oidc,
            name: "test connection".into(),
            config: r#"{"issuer": "https://idp.test.invalid", "client_id": "test"}"#.into(),
            secret: None,
            created_at: now.clone(),
            updated_at: now,
            groups_overage_seen_at: None,
        };
        idbridge::connections::insert(&self.state.db, "test", &org, row).await.unwrap();
        id
    }

    pub async fn org_id(&self, org: &str) -> String {
        let (_, o) = self.admin_get(&format!("/admin/v1/orgs/{org}")).await;
        o["id"].as_str().unwrap().to_string()
    }

    pub async fn put_mapping(&self, org: &str, doc: Value) -> (StatusCode, Value) {
        self.send(
            reqwest::Method::PUT,
            &format!("/admin/v1/orgs/{org}/mapping"),
            Some(ADMIN_TOKEN),
            Some(doc),
        )
        .await
    }

    pub async fn me(&self, token: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, "/v1/me", Some(token), None).await
    }

    /// The user id behind an email in the org's member list.
    pub async fn member_id(&self, org: &str, email: &str) -> String {
        let (_, members) = self.admin_get(&format!("/admin/v1/orgs/{org}/members")).await;
        members.as_array().unwrap().iter().find(|m| m["email"] == email).unwrap()["user_id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// A SCIM client for one org.
pub struct Scim<'a> {
    pub app: &'a TestApp,
    pub org: String,
    pub token: String,
}

impl TestApp {
    /// Create a SCIM token for `org` and return a client.
    pub async fn scim(&self, org: &str) -> Scim<'_> {
        let (s, t) =
            self.admin_post(&format!("/admin/v1/orgs/{org}/scim-tokens"), serde_json::json!({})).await;
        assert_eq!(s, StatusCode::CREATED);
        Scim { app: self, org: org.to_string(), token: t["token"].as_str().unwrap().to_string() }
    }
}

impl Scim<'_> {
    pub fn url(&self, path: &str) -> String {
        self.app.url(&format!("/scim/v2/{}{path}", self.org))
    }

    /// Send with `application/scim+json`; returns status, headers and JSON.
    pub async fn req(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut r = self.app.client.request(method, self.url(path)).bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.header("content-type", "application/scim+json").body(b.to_string());
        }
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let resp = r.send().await.unwrap();
        let (status, h) = (resp.status(), resp.headers().clone());
        let text = resp.text().await.unwrap();
        (
            status,
            h,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            },
        )
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.req(reqwest::Method::GET, path, None, &[]).await;
        (s, v)
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.req(reqwest::Method::POST, path, Some(body), &[]).await;
        (s, v)
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.req(reqwest::Method::PUT, path, Some(body), &[]).await;
        (s, v)
    }
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.req(reqwest::Method::PATCH, path, Some(body), &[]).await;
        (s, v)
    }
    pub async fn delete(&self, path: &str) -> StatusCode {
        self.req(reqwest::Method::DELETE, path, None, &[]).await.0
    }

    /// POST a user and return its id.
    pub async fn user(&self, user_name: &str, external_id: &str) -> String {
        let (s, v) = self
            .post(
                "/Users",
                serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name, "externalId": external_id, "active": true,
                    "name": {"givenName": "Given", "familyName": "Family"},
                    "emails": [{"value": user_name, "type": "work", "primary": true}]
                }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// POST a group with members and return its id.
    pub async fn group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| serde_json::json!({"value": m})).collect();
        let (s, v) = self
            .post(
                "/Groups",
                serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_string()
    }
}

/// A direct connection to the app's SQLite file, for tests that inspect or
/// tamper with rows the HTTP surface does not show (the store's own handle is
/// opaque outside the crate's store module, by design).
pub struct RawDb(rusqlite::Connection);

pub fn raw_db(app: &TestApp) -> RawDb {
    let c =
        rusqlite::Connection::open(app.state.db.path().expect("raw_db is SQLite-only: use sqlite_only!()"))
            .unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    RawDb(c)
}

impl RawDb {
    pub async fn read<T, E, F: FnOnce(&rusqlite::Connection) -> Result<T, E>>(&self, f: F) -> Result<T, E> {
        f(&self.0)
    }

    pub async fn write<T, E, F: FnOnce(&rusqlite::Connection) -> Result<T, E>>(&self, f: F) -> Result<T, E> {
        f(&self.0)
    }
}
