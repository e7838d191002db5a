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
    /// The database as `--db` took it: the SQLite file, or the PostgreSQL URL
    /// (unredacted, which `state.db.describe()` is not), for `raw_db`.
    pub db: PathBuf,
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
    let db = cfg.db.clone();
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
        db,
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
        // The "listening on" line below is an info event of the crate root: a
        // quieter filter (TEST_LOG=warn) would hide it and this would wait in
        // vain, so idbridge stays at info unless the directive names it.
        let directive = if directive.contains("idbridge=") {
            directive.clone()
        } else {
            format!("{directive},idbridge=info")
        };
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
        let line = rx.recv_timeout(left).unwrap_or_else(|e| {
            panic!("server did not print its listening line ({e}); does IDBRIDGE_LOG/TEST_LOG hide idbridge info?")
        });
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

/// Poll `$cond` until it holds or `$limit` has passed (failing the test with
/// `$what` then); how long it took. For cross-node checks ("within a second").
#[macro_export]
macro_rules! within {
    ($limit:expr, $what:expr, $cond:expr) => {{
        let (start, limit) = (std::time::Instant::now(), $limit);
        loop {
            if $cond {
                break start.elapsed();
            }
            assert!(start.elapsed() < limit, "{}: still so after {limit:?}", $what);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }};
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

/// A direct connection to the app's database, for tests that inspect or
/// tamper with rows the HTTP surface does not show (the store's own handle is
/// opaque outside the crate's store module, by design). The same SQL runs on
/// both engines: write `?1`-style placeholders (turned into `$1` on
/// PostgreSQL) and portable SQL; the few statements that differ (JSON
/// functions) are chosen per engine by the test, with `on_postgres()`.
/// Each call opens its own connection off the async runtime: rusqlite and the
/// blocking `postgres` client both block, and a `postgres::Client` must be
/// dropped off the async workers (it runs its own runtime).
pub struct RawDb {
    location: idbridge::config::DbLocation,
}

/// One column of one row, as the engine stored it. Integers of any width and
/// booleans read as `Int`, text of any kind as `Text`, BLOB/BYTEA as `Blob`.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum RawArg {
    Text(String),
    Int(i64),
}

impl From<&str> for RawArg {
    fn from(v: &str) -> Self {
        RawArg::Text(v.to_string())
    }
}

impl From<&String> for RawArg {
    fn from(v: &String) -> Self {
        RawArg::Text(v.clone())
    }
}

impl From<String> for RawArg {
    fn from(v: String) -> Self {
        RawArg::Text(v)
    }
}

impl From<i64> for RawArg {
    fn from(v: i64) -> Self {
        RawArg::Int(v)
    }
}

impl RawValue {
    /// The text of a TEXT column; `None` for NULL. Panics on any other type,
    /// so a test reading the wrong column fails loudly.
    pub fn text(&self) -> Option<String> {
        match self {
            RawValue::Null => None,
            RawValue::Text(t) => Some(t.clone()),
            other => panic!("expected text or NULL, got {other:?}"),
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            RawValue::Null => None,
            RawValue::Int(i) => Some(*i),
            other => panic!("expected an integer or NULL, got {other:?}"),
        }
    }

    pub fn blob(&self) -> Option<Vec<u8>> {
        match self {
            RawValue::Null => None,
            RawValue::Blob(b) => Some(b.clone()),
            other => panic!("expected a blob or NULL, got {other:?}"),
        }
    }
}

pub fn raw_db(app: &TestApp) -> RawDb {
    raw_db_at(&app.db)
}

/// `raw_db` for a database given as `--db` takes it (`db_path`), e.g. a process's.
pub fn raw_db_at(db: &Path) -> RawDb {
    RawDb { location: idbridge::config::DbLocation::parse(db) }
}

/// `?N` placeholders as PostgreSQL spells them (`$N`), outside string literals.
pub fn pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_literal = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_literal = !in_literal;
                out.push(c);
            }
            '?' if !in_literal && chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

fn sqlite_query(path: &Path, sql: &str, args: &[RawArg]) -> (Vec<Vec<RawValue>>, u64) {
    use rusqlite::types::ValueRef;
    let c = rusqlite::Connection::open(path).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    let params: Vec<rusqlite::types::Value> = args
        .iter()
        .map(|a| match a {
            RawArg::Text(t) => rusqlite::types::Value::Text(t.clone()),
            RawArg::Int(i) => rusqlite::types::Value::Integer(*i),
        })
        .collect();
    let mut st = c.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let width = st.column_count();
    if width == 0 {
        let n = st.execute(rusqlite::params_from_iter(params)).unwrap_or_else(|e| panic!("{sql}: {e}"));
        return (Vec::new(), n as u64);
    }
    let mut rows = st.query(rusqlite::params_from_iter(params)).unwrap();
    let mut out = Vec::new();
    while let Some(r) = rows.next().unwrap_or_else(|e| panic!("{sql}: {e}")) {
        let row = (0..width)
            .map(|i| match r.get_ref(i).unwrap() {
                ValueRef::Null => RawValue::Null,
                ValueRef::Integer(v) => RawValue::Int(v),
                ValueRef::Real(v) => RawValue::Real(v),
                ValueRef::Text(t) => RawValue::Text(String::from_utf8(t.to_vec()).unwrap()),
                ValueRef::Blob(b) => RawValue::Blob(b.to_vec()),
            })
            .collect();
        out.push(row);
    }
    let n = out.len() as u64;
    (out, n)
}

fn pg_query(url: &str, sql: &str, args: &[RawArg]) -> (Vec<Vec<RawValue>>, u64) {
    use postgres::types::{ToSql, Type};
    let sql = pg_placeholders(sql);
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let st = c.prepare(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    // Bind each argument as the type the server inferred for its placeholder.
    let boxed: Vec<Box<dyn ToSql + Sync>> = args
        .iter()
        .zip(st.params())
        .map(|(a, ty)| -> Box<dyn ToSql + Sync> {
            match (a, ty) {
                (RawArg::Int(i), &Type::INT2) => Box::new(i16::try_from(*i).unwrap()),
                (RawArg::Int(i), &Type::INT4) => Box::new(i32::try_from(*i).unwrap()),
                (RawArg::Int(i), _) => Box::new(*i),
                (RawArg::Text(t), _) => Box::new(t.clone()),
            }
        })
        .collect();
    let params: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| b.as_ref() as _).collect();
    if st.columns().is_empty() {
        let n = c.execute(&st, &params).unwrap_or_else(|e| panic!("{sql}: {e}"));
        return (Vec::new(), n);
    }
    let rows = c.query(&st, &params).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let out: Vec<Vec<RawValue>> = rows
        .iter()
        .map(|r| {
            r.columns()
                .iter()
                .enumerate()
                .map(|(i, col)| {
                    let v = match *col.type_() {
                        Type::INT2 => r.get::<_, Option<i16>>(i).map(|v| RawValue::Int(v.into())),
                        Type::INT4 => r.get::<_, Option<i32>>(i).map(|v| RawValue::Int(v.into())),
                        Type::INT8 => r.get::<_, Option<i64>>(i).map(RawValue::Int),
                        Type::BOOL => r.get::<_, Option<bool>>(i).map(|v| RawValue::Int(v.into())),
                        Type::FLOAT4 => r.get::<_, Option<f32>>(i).map(|v| RawValue::Real(v.into())),
                        Type::FLOAT8 => r.get::<_, Option<f64>>(i).map(RawValue::Real),
                        Type::BYTEA => r.get::<_, Option<Vec<u8>>>(i).map(RawValue::Blob),
                        ref other => r
                            .try_get::<_, Option<String>>(i)
                            .unwrap_or_else(|e| panic!("{sql}: column {} of type {other}: {e}", col.name()))
                            .map(RawValue::Text),
                    };
                    v.unwrap_or(RawValue::Null)
                })
                .collect()
        })
        .collect();
    let n = out.len() as u64;
    // `c` is dropped here, on the blocking thread.
    (out, n)
}

impl RawDb {
    async fn run(&self, sql: &str, args: &[RawArg]) -> (Vec<Vec<RawValue>>, u64) {
        let (location, sql, args) = (self.location.clone(), sql.to_string(), args.to_vec());
        tokio::task::spawn_blocking(move || match &location {
            idbridge::config::DbLocation::File(path) => sqlite_query(path, &sql, &args),
            idbridge::config::DbLocation::Postgres(url) => pg_query(url, &sql, &args),
        })
        .await
        .unwrap()
    }

    /// Every row of a query.
    pub async fn query(&self, sql: &str, args: &[RawArg]) -> Vec<Vec<RawValue>> {
        self.run(sql, args).await.0
    }

    /// Run a statement; the number of rows it changed.
    pub async fn exec(&self, sql: &str, args: &[RawArg]) -> u64 {
        self.run(sql, args).await.1
    }

    /// The one row of a query (panics on none or several).
    pub async fn one(&self, sql: &str, args: &[RawArg]) -> Vec<RawValue> {
        let mut rows = self.query(sql, args).await;
        assert_eq!(rows.len(), 1, "{sql}: expected one row, got {rows:?}");
        rows.remove(0)
    }

    /// The single value of the one row of a query.
    async fn one_value(&self, sql: &str, args: &[RawArg]) -> RawValue {
        let mut row = self.one(sql, args).await;
        assert_eq!(row.len(), 1, "{sql}: expected one column, got {row:?}");
        row.remove(0)
    }

    pub async fn one_i64(&self, sql: &str, args: &[RawArg]) -> i64 {
        self.one_value(sql, args).await.int().unwrap_or_else(|| panic!("{sql}: NULL"))
    }

    pub async fn one_text(&self, sql: &str, args: &[RawArg]) -> String {
        self.one_value(sql, args).await.text().unwrap_or_else(|| panic!("{sql}: NULL"))
    }

    pub async fn one_blob(&self, sql: &str, args: &[RawArg]) -> Vec<u8> {
        self.one_value(sql, args).await.blob().unwrap_or_else(|| panic!("{sql}: NULL"))
    }

    /// Every value of every row of every table, as bytes (integers and reals
    /// in decimal): the PostgreSQL counterpart of reading the SQLite file's
    /// bytes, for "this secret is stored nowhere in plaintext" checks.
    pub async fn every_value(&self) -> Vec<Vec<u8>> {
        let tables_sql = match self.location {
            idbridge::config::DbLocation::File(_) => {
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            }
            idbridge::config::DbLocation::Postgres(_) => {
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
            }
        };
        let tables = self.texts(tables_sql, &[]).await;
        assert!(tables.len() > 5, "the schema's tables: {tables:?}");
        let mut out = Vec::new();
        for table in tables.into_iter().flatten() {
            for row in self.query(&format!("SELECT * FROM \"{table}\""), &[]).await {
                out.extend(row.into_iter().filter_map(|v| match v {
                    RawValue::Null => None,
                    RawValue::Int(i) => Some(i.to_string().into_bytes()),
                    RawValue::Real(r) => Some(r.to_string().into_bytes()),
                    RawValue::Text(t) => Some(t.into_bytes()),
                    RawValue::Blob(b) => Some(b),
                }));
            }
        }
        out
    }

    /// The first column of every row, as text (`None` for NULL).
    pub async fn texts(&self, sql: &str, args: &[RawArg]) -> Vec<Option<String>> {
        self.query(sql, args).await.iter().map(|r| r[0].text()).collect()
    }
}
