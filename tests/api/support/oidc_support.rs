//! Test support for the OIDC tests: a small browser (reqwest with redirects
//! off, Location headers followed by hand, cookies kept per host and path),
//! the real OpenID Provider from fixtures/oidc (panva/oidc-provider on
//! Node) as a child process, and store/metrics probes that show whether a
//! refused login wrote anything and which check refused it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use url::Url;

use crate::support::helpers::{ADMIN_TOKEN, TestApp};

struct Cookie {
    host: String,
    name: String,
    value: String,
    path: String,
}

/// One HTTP answer as a browser saw it.
#[derive(Debug)]
pub struct Page {
    pub url: String,
    pub status: StatusCode,
    /// The Location header, resolved against `url`.
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl Page {
    /// The session token set by a successful login.
    pub fn session(&self) -> Option<String> {
        self.set_cookies
            .iter()
            .find_map(|c| c.strip_prefix("idbridge_session="))
            .map(|rest| rest.split(';').next().unwrap_or_default().to_string())
    }
}

/// A cookie-keeping client that never follows redirects by itself.
pub struct Browser {
    client: reqwest::Client,
    jar: Mutex<Vec<Cookie>>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        Browser {
            client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            jar: Mutex::new(Vec::new()),
        }
    }

    fn cookie_header(&self, u: &Url) -> String {
        let host = u.host_str().unwrap_or_default();
        let jar = self.jar.lock().unwrap();
        jar.iter()
            .filter(|c| c.host == host && u.path().starts_with(&c.path))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn store(&self, u: &Url, set_cookie: &str) {
        let mut parts = set_cookie.split(';').map(str::trim);
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else { return };
        let mut path = "/".to_string();
        let mut delete = false;
        for attr in parts {
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            match k.to_ascii_lowercase().as_str() {
                "path" => path = v.to_string(),
                "max-age" => delete = v.trim() == "0",
                "expires" => delete = delete || v.contains("1970"),
                _ => {}
            }
        }
        let host = u.host_str().unwrap_or_default().to_string();
        let mut jar = self.jar.lock().unwrap();
        jar.retain(|c| !(c.host == host && c.name == name && c.path == path));
        if !delete {
            jar.push(Cookie { host, name: name.into(), value: value.into(), path });
        }
    }

    /// The value of a cookie the browser holds (any path).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().iter().find(|c| c.name == name).map(|c| c.value.clone())
    }

    /// Names of the cookies held.
    pub fn cookie_names(&self) -> Vec<String> {
        self.jar.lock().unwrap().iter().map(|c| c.name.clone()).collect()
    }

    /// One GET, cookies sent and stored.
    pub async fn get(&self, url: &str) -> Page {
        let u = Url::parse(url).unwrap_or_else(|e| panic!("bad URL {url}: {e}"));
        let req = self.client.get(u.clone());
        self.send("GET", url, &u, req).await
    }

    /// One form POST (`application/x-www-form-urlencoded`), cookies sent and stored.
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Page {
        let u = Url::parse(url).unwrap_or_else(|e| panic!("bad URL {url}: {e}"));
        let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let req = self
            .client
            .post(u.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send("POST", url, &u, req).await
    }

    /// Send with the stored cookies; store what comes back.
    async fn send(&self, method: &str, url: &str, u: &Url, mut req: reqwest::RequestBuilder) -> Page {
        let cookies = self.cookie_header(u);
        if !cookies.is_empty() {
            req = req.header(COOKIE, cookies);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status();
        let set_cookies: Vec<String> =
            resp.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect();
        for c in &set_cookies {
            self.store(u, c);
        }
        let location = resp.headers().get(LOCATION).map(|l| u.join(l.to_str().unwrap()).unwrap().to_string());
        let body = resp.text().await.unwrap_or_default();
        Page { url: url.to_string(), status, location, set_cookies, body }
    }

    /// Follow redirects from `start` until the first URL for which `stop`
    /// holds, which is returned without being requested.
    pub async fn follow_until(&self, start: &str, stop: impl Fn(&Url) -> bool) -> String {
        let mut url = start.to_string();
        for _ in 0..20 {
            if stop(&Url::parse(&url).unwrap()) {
                return url;
            }
            let page = self.get(&url).await;
            url = page
                .location
                .unwrap_or_else(|| panic!("no redirect from {url}: {} {}", page.status, page.body));
        }
        panic!("too many redirects from {start}");
    }

    /// Follow redirects from `start` through the provider until idbridge's
    /// callback has answered; that answer is returned.
    pub async fn login(&self, start: &str) -> Page {
        let callback = self.follow_until(start, is_callback).await;
        self.get(&callback).await
    }
}

/// Is this idbridge's OIDC callback?
pub fn is_callback(u: &Url) -> bool {
    u.path().starts_with("/oidc/") && u.path().ends_with("/callback")
}

/// A query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    Url::parse(url).ok()?.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// `url` with query parameter `name` set to `value`.
pub fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut u = Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .chain([(name.to_string(), value.to_string())])
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

/// The real OpenID Provider (fixtures/oidc/provider.js) on a random loopback port.
pub struct RealProvider {
    child: Child,
    pub issuer: String,
}

pub const REAL_CLIENT_ID: &str = "idbridge-test";
pub const REAL_CLIENT_SECRET: &str = "idbridge-test-secret";

impl RealProvider {
    /// Start it; `env` adds e.g. `OIDC_ID_TOKEN_CLAIMS=1`.
    pub fn start(env: &[(&str, &str)]) -> RealProvider {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/oidc");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "fixtures/oidc/node_modules is missing: run `bash scripts/test-deps/oidc.sh` (npm ci) first"
        );
        // scripts/test-deps/oidc.sh puts a Node >= 20.12 in .venv-node when the PATH has none.
        let local = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-node/bin/node");
        let mut cmd = Command::new(if local.exists() { local.into_os_string() } else { "node".into() });
        cmd.arg("provider.js")
            .arg("0")
            .current_dir(&dir)
            .env("OIDC_CLIENT_ID", REAL_CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", REAL_CLIENT_SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("cannot run node (Node 20+ is needed for the OIDC tests)");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx2.send(format!("stderr: {line}"));
            }
        });
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(issuer) = line.strip_prefix("issuer: ") {
                        return RealProvider { child, issuer: issuer.trim().to_string() };
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the fixture provider did not start: {seen:?}");
                }
            }
        }
    }
}

impl Drop for RealProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Create an OIDC connection in `org`: the answer's JSON (201 asserted).
pub async fn create_connection(app: &TestApp, org: &str, body: Value) -> Value {
    let (s, b) = app.admin_post(&format!("/admin/v1/orgs/{org}/connections"), body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b
}

/// PATCH a connection.
pub async fn patch_connection(app: &TestApp, org: &str, id: &str, body: Value) -> (StatusCode, Value) {
    app.send(
        reqwest::Method::PATCH,
        &format!("/admin/v1/orgs/{org}/connections/{id}"),
        Some(ADMIN_TOKEN),
        Some(body),
    )
    .await
}

/// Rows in a table (users, sessions, login_states, ...).
pub async fn rows(app: &TestApp, table: &'static str) -> i64 {
    crate::support::helpers::raw_db(app).one_i64(&format!("SELECT count(*) FROM {table}"), &[]).await
}

/// How often OIDC logins were refused for `reason` (from /metrics).
pub async fn refusals(app: &TestApp, reason: &str) -> u64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let needle = format!("reason=\"{reason}\"");
    text.lines()
        .filter(|l| {
            l.starts_with("idbridge_refusals") && l.contains("surface=\"oidc\"") && l.contains(&needle)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Assert a refused login: the status, the refusal page, the precise reason
/// counted once more than `before`, and no session cookie.
pub async fn assert_refused(app: &TestApp, page: &Page, status: StatusCode, reason: &str, before: u64) {
    assert_eq!(page.status, status, "{} answered {}: {}", page.url, page.status, page.body);
    assert!(page.body.contains("Sign-in refused"), "not the refusal page: {}", page.body);
    assert!(page.session().is_none(), "a refused login set a session cookie");
    assert_eq!(refusals(app, reason).await, before + 1, "reason {reason} not counted: {}", page.body);
}

/// A mapping used by the login tests: Engineering → member + research admin,
/// IT-Admins → org admin; nobody else is a member.
pub fn mapping() -> Value {
    json!({
        "default_org_role": "none",
        "rules": [
            {"group": "Engineering", "org_role": "member", "projects": {"research": "admin"}},
            {"group": "IT-Admins", "org_role": "admin"}
        ]
    })
}
