//! The SCIM provisioning workload of issue 13, as a new user would try it:
//! an IdP pushing a directory into a fresh org over loopback, phase by phase,
//!   1. `post_users`    POST /Users (userName, name, emails, externalId, active),
//!   2. `post_groups`   POST /Groups without members,
//!   3. `patch_members` per group, PATCH `add` `members`, PER_PATCH per request,
//!   4. `get_filter`    GET /Users?filter=userName eq "…" of random existing users,
//!   5. `patch_users`   PATCH replace `title` + replace `active` of random users,
//!   6. `list_pages`    every page of GET /Users?startIndex=N&count=PAGE_SIZE,
//!
//! each with CONCURRENCY clients, reporting req/s, p50, p99 and errors per phase
//! and, when this command started the server, the server's peak RSS.
//!
//! Run: `cargo bench --bench scim_workload -- [flags]` (flags below, `--help`);
//! every flag can also be given as an env var `WORKLOAD_<FLAG>` (`--per-patch` →
//! `WORKLOAD_PER_PATCH`), the flag winning. The admin token is best given as
//! `WORKLOAD_ADMIN_TOKEN` so that it does not show in the process list.
//! Unlike scim_load nothing is seeded behind the server's back: every row goes
//! through the HTTP API, so the same command can drive an older binary
//! (`--serve PATH`) or any running server (`--url`).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Error bodies printed per phase; the rest are only counted.
const SHOWN_ERRORS: usize = 5;

const USAGE: &str = "\
scim_workload: the SCIM provisioning workload of issue 13 against an idbridge server

  cargo bench --bench scim_workload -- [flags]

Server (one of; default: --serve with the idbridge binary cargo built for this bench):
  --serve PATH          start `PATH serve --listen 127.0.0.1:0 --db <fresh temp SQLite file>`,
                        sample its RSS, stop it at the end
  --url BASE            a running server; needs --admin-token (or WORKLOAD_ADMIN_TOKEN)
  --admin-token T       its IDBRIDGE_ADMIN_TOKEN
Workload (defaults in brackets):
  --phases LIST         comma-separated subset of post_users,post_groups,patch_members,
                        get_filter,patch_users,list_pages [all]; a phase another one needs
                        (users, groups) runs unmeasured as setup
  --users N [20000]  --groups N [200]  --members N [50]  --per-patch N [10]
  --lookups N [5000]  --patches N [5000]  --page-size N [100]  --concurrency N [16]
  --seed N [1]          seed of the random user choice (get_filter, patch_users)
Every flag also reads an env var WORKLOAD_<FLAG> (e.g. WORKLOAD_PER_PATCH=5); the flag wins.
";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    PostUsers,
    PostGroups,
    PatchMembers,
    GetFilter,
    PatchUsers,
    ListPages,
}

impl Phase {
    const ALL: [Phase; 6] = [
        Phase::PostUsers,
        Phase::PostGroups,
        Phase::PatchMembers,
        Phase::GetFilter,
        Phase::PatchUsers,
        Phase::ListPages,
    ];

    fn name(self) -> &'static str {
        match self {
            Phase::PostUsers => "post_users",
            Phase::PostGroups => "post_groups",
            Phase::PatchMembers => "patch_members",
            Phase::GetFilter => "get_filter",
            Phase::PatchUsers => "patch_users",
            Phase::ListPages => "list_pages",
        }
    }

    /// The phases whose rows this one works on.
    fn needs(self) -> &'static [Phase] {
        match self {
            Phase::PostUsers | Phase::PostGroups => &[],
            Phase::PatchMembers => &[Phase::PostUsers, Phase::PostGroups],
            Phase::GetFilter | Phase::PatchUsers | Phase::ListPages => &[Phase::PostUsers],
        }
    }
}

enum Server {
    Serve(PathBuf),
    Url { base: String, admin_token: String },
}

struct Opts {
    server: Server,
    phases: Vec<Phase>,
    users: u64,
    groups: u64,
    members: u64,
    per_patch: u64,
    lookups: u64,
    patches: u64,
    page_size: u64,
    concurrency: u64,
    seed: u64,
}

impl Opts {
    fn parse() -> Result<Opts, BoxError> {
        const FLAGS: [&str; 14] = [
            "serve",
            "url",
            "admin-token",
            "phases",
            "users",
            "groups",
            "members",
            "per-patch",
            "lookups",
            "patches",
            "page-size",
            "concurrency",
            "seed",
            "help",
        ];
        let mut given: HashMap<String, String> = HashMap::new();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            // `cargo bench` passes `--bench` to every harness = false target.
            if arg == "--bench" {
                continue;
            }
            if arg == "--help" || arg == "-h" {
                print!("{USAGE}");
                std::process::exit(0);
            }
            let flag =
                arg.strip_prefix("--").ok_or_else(|| format!("unexpected argument {arg:?}\n\n{USAGE}"))?;
            let (name, value) = match flag.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => (flag.to_string(), args.next().ok_or_else(|| format!("--{flag} needs a value"))?),
            };
            if !FLAGS.contains(&name.as_str()) || name == "help" {
                return Err(format!("unknown flag --{name}\n\n{USAGE}").into());
            }
            given.insert(name, value);
        }
        let get = |name: &str| -> Option<String> {
            given
                .get(name)
                .cloned()
                .or_else(|| std::env::var(format!("WORKLOAD_{}", name.to_uppercase().replace('-', "_"))).ok())
        };
        let num = |name: &str, default: u64| -> Result<u64, BoxError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| format!("--{name} {v:?}: expected a whole number").into()),
            }
        };
        let server = match (get("serve"), get("url")) {
            (Some(_), Some(_)) => return Err("give --serve or --url, not both".into()),
            (Some(path), None) => Server::Serve(PathBuf::from(path)),
            (None, Some(url)) => Server::Url {
                base: url.trim_end_matches('/').to_string(),
                admin_token: get("admin-token")
                    .ok_or("--url needs --admin-token (or WORKLOAD_ADMIN_TOKEN)")?,
            },
            (None, None) => Server::Serve(PathBuf::from(env!("CARGO_BIN_EXE_idbridge"))),
        };
        let phases = match get("phases") {
            None => Phase::ALL.to_vec(),
            Some(list) => {
                let mut phases = Vec::new();
                for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let phase = Phase::ALL
                        .into_iter()
                        .find(|p| p.name() == name)
                        .ok_or_else(|| format!("unknown phase {name:?}\n\n{USAGE}"))?;
                    phases.push(phase);
                }
                phases
            }
        };
        let opts = Opts {
            server,
            phases,
            users: num("users", 20_000)?,
            groups: num("groups", 200)?,
            members: num("members", 50)?,
            per_patch: num("per-patch", 10)?,
            lookups: num("lookups", 5_000)?,
            patches: num("patches", 5_000)?,
            page_size: num("page-size", 100)?,
            concurrency: num("concurrency", 16)?,
            seed: num("seed", 1)?,
        };
        if opts.per_patch == 0 || opts.page_size == 0 || opts.concurrency == 0 {
            return Err("--per-patch, --page-size and --concurrency must be at least 1".into());
        }
        Ok(opts)
    }
}

/// One request as a client saw it: latency to the last body byte, and its error if any.
struct Sample {
    us: u64,
    error: Option<String>,
}

struct Stats {
    ok: u64,
    errors: u64,
    shown: Vec<String>,
    latencies_us: Vec<u64>,
    elapsed: Duration,
}

impl Stats {
    fn req_per_s(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn pct_ms(&self, p: f64) -> f64 {
        let n = self.latencies_us.len();
        let i = ((n as f64 * p) as usize).min(n.saturating_sub(1));
        self.latencies_us.get(i).copied().unwrap_or(0) as f64 / 1000.0
    }
}

/// Runs `jobs` jobs on `concurrency` client tasks, each task taking the next
/// job number as it is free (so a slow request does not hold up the others).
async fn drive<F, Fut>(concurrency: u64, jobs: u64, job: F) -> Stats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Vec<Sample>> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.min(jobs.max(1)) {
        let (job, next) = (job.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= jobs {
                    break;
                }
                samples.extend(job(n).await);
            }
            samples
        }));
    }
    let mut stats =
        Stats { ok: 0, errors: 0, shown: Vec::new(), latencies_us: Vec::new(), elapsed: Duration::ZERO };
    for task in tasks {
        let samples = match task.await {
            Ok(samples) => samples,
            Err(e) => {
                stats.errors += 1;
                stats.shown.push(format!("client task failed: {e}"));
                continue;
            }
        };
        for s in samples {
            stats.latencies_us.push(s.us);
            match s.error {
                None => stats.ok += 1,
                Some(e) => {
                    stats.errors += 1;
                    if stats.shown.len() < SHOWN_ERRORS {
                        stats.shown.push(e);
                    }
                }
            }
        }
    }
    stats.elapsed = started.elapsed();
    stats.latencies_us.sort_unstable();
    stats
}

/// Sends one request; the latency ends with the last body byte (parsing the
/// JSON afterwards is the load generator's cost, not the server's).
async fn call(req: reqwest::RequestBuilder, what: &str) -> (u64, Result<Value, String>) {
    let t = Instant::now();
    let answer = async {
        let r = req.send().await.map_err(|e| format!("{what}: transport error: {e}"))?;
        let status = r.status();
        let body = r.bytes().await.map_err(|e| format!("{what}: {status}, reading body: {e}"))?;
        Ok::<_, String>((status, body))
    }
    .await;
    let us = t.elapsed().as_micros() as u64;
    let parsed = answer.and_then(|(status, body)| {
        if !status.is_success() {
            return Err(format!("{what}: {status}: {}", snippet(&body)));
        }
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body)
            .map_err(|e| format!("{what}: {status}, body is not JSON ({e}): {}", snippet(&body)))
    });
    (us, parsed)
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(300).collect();
    if text.chars().count() > 300 {
        s.push('…');
    }
    s
}

/// A fixed mix of the seed and job number (splitmix64): the
/// same `--seed` picks the same users in every run, old binary or new.
fn pick(seed: u64, n: u64, len: usize) -> usize {
    let mut z = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(n).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z % len.max(1) as u64) as usize
}

fn user_name(i: u64) -> String {
    format!("wl{i}@workload.test")
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The load average as `uptime` prints it (1, 5, 15 minutes).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// The server this command started: stopped (SIGTERM, then SIGKILL after 10 s)
/// however `main` ends, so an error does not leave it running.
struct Spawned {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Spawned {
    fn start(binary: &PathBuf, admin_token: &str) -> Result<(Spawned, String), BoxError> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("workload.db");
        let mut child = Command::new(binary)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--db"])
            .arg(&db)
            .env("IDBRIDGE_ADMIN_TOKEN", admin_token)
            // The command waits for the `listening on` line, logged at info.
            .env("IDBRIDGE_LOG", "warn,idbridge=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let spawned = Spawned { child, _dir: dir };
        let mut lines = BufReader::new(stderr).lines();
        let base = loop {
            let line = lines.next().ok_or("the server exited before listening")??;
            if let Some(i) = line.find("listening on http://") {
                break line[i + "listening on ".len()..].trim().to_string();
            }
        };
        // Keep reading so the server never blocks on a full pipe; its first
        // warnings are worth seeing next to the errors they may explain.
        std::thread::spawn(move || {
            for (i, line) in lines.map_while(Result::ok).enumerate() {
                if i < 20 {
                    eprintln!("server: {line}");
                }
            }
        });
        Ok((spawned, base))
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the phases share: the SCIM base, its token and the ids the server gave.
struct Ctx {
    client: reqwest::Client,
    scim: String,
    token: String,
    opts: Opts,
    /// `users[i]`: the id of user `i` once POST /Users created it.
    users: Vec<OnceLock<String>>,
    groups: Vec<OnceLock<String>>,
}

impl Ctx {
    /// The users that exist, as (index, id).
    fn created_users(&self) -> Vec<(u64, String)> {
        self.users.iter().enumerate().filter_map(|(i, id)| Some((i as u64, id.get()?.clone()))).collect()
    }

    fn scim_json(&self, req: reqwest::RequestBuilder, body: &Value) -> reqwest::RequestBuilder {
        req.bearer_auth(&self.token).header("content-type", "application/scim+json").body(body.to_string())
    }

    /// Group `g`'s members: MEMBERS consecutive users from `g * MEMBERS`,
    /// wrapping, so groups overlap only when USERS < GROUPS × MEMBERS.
    fn members_of(&self, g: u64, created: &[(u64, String)]) -> Vec<String> {
        if created.is_empty() {
            return Vec::new();
        }
        let n = created.len() as u64;
        (0..self.opts.members)
            .map(|m| created[((g * self.opts.members + m) % n) as usize].1.clone())
            .collect()
    }
}

/// Runs one phase; returns its stats and the failures of its own checks
/// (beyond per-request errors), e.g. users that `list_pages` never saw.
async fn run_phase(ctx: &Arc<Ctx>, phase: Phase) -> (Stats, Vec<String>) {
    let conc = ctx.opts.concurrency;
    let mut checks = Vec::new();
    let stats = match phase {
        Phase::PostUsers => {
            let c = ctx.clone();
            drive(conc, ctx.opts.users, move |i| {
                let c = c.clone();
                async move {
                    let name = user_name(i);
                    let body = json!({"schemas": [USER_SCHEMA], "userName": name, "externalId": format!("wl-ext-{i}"),
                        "name": {"givenName": "Work", "familyName": format!("Load {i}"), "formatted": format!("Work Load {i}")},
                        "displayName": format!("Work Load {i}"),
                        "emails": [{"value": name, "type": "work", "primary": true}], "active": true});
                    let (us, r) = call(c.scim_json(c.client.post(format!("{}/Users", c.scim)), &body), "POST /Users").await;
                    let error = r
                        .and_then(|v| {
                            let id = v.get("id").and_then(Value::as_str).ok_or("POST /Users: answer without an id")?;
                            // A job number is taken once, so the cell is empty.
                            let _ = c.users[i as usize].set(id.to_string());
                            Ok(())
                        })
                        .err();
                    vec![Sample { us, error }]
                }
            })
            .await
        }
        Phase::PostGroups => {
            let c = ctx.clone();
            drive(conc, ctx.opts.groups, move |g| {
                let c = c.clone();
                async move {
                    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": format!("Workload group {g}"),
                        "externalId": format!("wl-group-{g}")});
                    let (us, r) =
                        call(c.scim_json(c.client.post(format!("{}/Groups", c.scim)), &body), "POST /Groups")
                            .await;
                    let error = r
                        .and_then(|v| {
                            let id = v
                                .get("id")
                                .and_then(Value::as_str)
                                .ok_or("POST /Groups: answer without an id")?;
                            let _ = c.groups[g as usize].set(id.to_string());
                            Ok(())
                        })
                        .err();
                    vec![Sample { us, error }]
                }
            })
            .await
        }
        Phase::PatchMembers => {
            let created = Arc::new(ctx.created_users());
            let c = ctx.clone();
            let cr = created.clone();
            // One job per group, its PATCHes in order, as an IdP pushes a group.
            let stats = drive(conc, ctx.opts.groups, move |g| {
                let (c, created) = (c.clone(), cr.clone());
                async move {
                    let Some(gid) = c.groups[g as usize].get() else {
                        return vec![Sample { us: 0, error: Some(format!("group {g} was not created")) }];
                    };
                    let url = format!("{}/Groups/{gid}", c.scim);
                    let members = c.members_of(g, &created);
                    let mut samples = Vec::new();
                    for batch in members.chunks(c.opts.per_patch as usize) {
                        let value: Vec<Value> = batch.iter().map(|id| json!({"value": id})).collect();
                        let body = json!({"schemas": [PATCH_SCHEMA],
                            "Operations": [{"op": "add", "path": "members", "value": value}]});
                        let (us, r) =
                            call(c.scim_json(c.client.patch(&url), &body), "PATCH /Groups members").await;
                        samples.push(Sample { us, error: r.err() });
                    }
                    samples
                }
            })
            .await;
            // Not measured: every group holds exactly its members.
            for g in 0..ctx.opts.groups {
                let Some(gid) = ctx.groups[g as usize].get() else { continue };
                let want: HashSet<String> = ctx.members_of(g, &created).into_iter().collect();
                let req = ctx.client.get(format!("{}/Groups/{gid}", ctx.scim)).bearer_auth(&ctx.token);
                let got: Result<HashSet<String>, String> = call(req, "GET /Groups").await.1.map(|v| {
                    v.get("members")
                        .and_then(Value::as_array)
                        .map(|m| {
                            m.iter().filter_map(|m| m.get("value")?.as_str().map(str::to_string)).collect()
                        })
                        .unwrap_or_default()
                });
                match got {
                    Ok(got) if got == want => {}
                    Ok(got) => checks.push(format!(
                        "group {g}: {} of its {} members missing, {} members it should not have",
                        want.difference(&got).count(),
                        want.len(),
                        got.difference(&want).count()
                    )),
                    Err(e) => checks.push(e),
                }
            }
            stats
        }
        Phase::GetFilter => {
            let created = Arc::new(ctx.created_users());
            let (c, seed) = (ctx.clone(), ctx.opts.seed);
            drive(conc, ctx.opts.lookups, move |n| {
                let (c, created) = (c.clone(), created.clone());
                async move {
                    let Some((i, id)) = created.get(pick(seed, n, created.len())) else {
                        return vec![Sample { us: 0, error: Some("no users to look up".into()) }];
                    };
                    let filter = format!("userName eq \"{}\"", user_name(*i));
                    let req = c.client.get(format!("{}/Users", c.scim)).query(&[("filter", &filter)]).bearer_auth(&c.token);
                    let (us, r) = call(req, "GET /Users?filter").await;
                    let error = r
                        .and_then(|v| {
                            let total = v.get("totalResults").and_then(Value::as_u64);
                            let found = v.pointer("/Resources/0/id").and_then(Value::as_str);
                            let len = v.get("Resources").and_then(Value::as_array).map_or(0, Vec::len);
                            if total == Some(1) && len == 1 && found == Some(id.as_str()) {
                                Ok(())
                            } else {
                                Err(format!("{filter}: totalResults {total:?}, {len} resources, id {found:?}, expected 1 ({id})"))
                            }
                        })
                        .err();
                    vec![Sample { us, error }]
                }
            })
            .await
        }
        Phase::PatchUsers => {
            let created = Arc::new(ctx.created_users());
            let (c, seed) = (ctx.clone(), ctx.opts.seed);
            drive(conc, ctx.opts.patches, move |n| {
                let (c, created) = (c.clone(), created.clone());
                async move {
                    // A different stream of users from get_filter's.
                    let Some((_, id)) = created.get(pick(seed ^ 0x5eed, n, created.len())) else {
                        return vec![Sample { us: 0, error: Some("no users to patch".into()) }];
                    };
                    let title = format!("Engineer {n}");
                    let active = n % 2 == 0;
                    let body = json!({"schemas": [PATCH_SCHEMA], "Operations": [
                        {"op": "replace", "path": "title", "value": title},
                        {"op": "replace", "path": "active", "value": active}]});
                    let req = c.scim_json(c.client.patch(format!("{}/Users/{id}", c.scim)), &body);
                    let (us, r) = call(req, "PATCH /Users").await;
                    // 204 (no body) is a valid answer; a body must show the change.
                    let error = r
                        .and_then(|v| {
                            if v.is_null()
                                || (v.get("title").and_then(Value::as_str) == Some(title.as_str())
                                    && v.get("active").and_then(Value::as_bool) == Some(active))
                            {
                                Ok(())
                            } else {
                                Err(format!(
                                    "PATCH /Users/{id}: answer without title {title:?} / active {active}"
                                ))
                            }
                        })
                        .err();
                    vec![Sample { us, error }]
                }
            })
            .await
        }
        Phase::ListPages => {
            let created = ctx.created_users();
            let expected = created.len() as u64;
            let page = ctx.opts.page_size;
            let pages = expected.div_ceil(page).max(1);
            let seen: Arc<Mutex<HashMap<String, u32>>> = Arc::new(Mutex::new(HashMap::new()));
            let (c, s) = (ctx.clone(), seen.clone());
            // Page p is job p: the clients split the index range between them.
            let stats = drive(conc, pages, move |p| {
                let (c, seen) = (c.clone(), s.clone());
                async move {
                    let start = 1 + p * page;
                    let req = c
                        .client
                        .get(format!("{}/Users", c.scim))
                        .query(&[("startIndex", start), ("count", page)])
                        .bearer_auth(&c.token);
                    let (us, r) = call(req, "GET /Users page").await;
                    let error = r
                        .and_then(|v| {
                            let total = v.get("totalResults").and_then(Value::as_u64);
                            let ids: Vec<String> = v
                                .get("Resources")
                                .and_then(Value::as_array)
                                .map(|r| r.iter().filter_map(|u| u.get("id")?.as_str().map(str::to_string)).collect())
                                .unwrap_or_default();
                            let want = page.min(expected.saturating_sub(start - 1));
                            {
                                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                                for id in &ids {
                                    *seen.entry(id.clone()).or_default() += 1;
                                }
                            }
                            if total != Some(expected) || ids.len() as u64 != want {
                                return Err(format!(
                                    "startIndex={start}: totalResults {total:?}, {} resources; expected {expected}, {want}",
                                    ids.len()
                                ));
                            }
                            Ok(())
                        })
                        .err();
                    vec![Sample { us, error }]
                }
            })
            .await;
            let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            let missing = created.iter().filter(|(_, id)| !seen.contains_key(id)).count();
            let twice = seen.values().filter(|&&n| n > 1).count();
            let known: HashSet<&str> = created.iter().map(|(_, id)| id.as_str()).collect();
            let strangers = seen.keys().filter(|id| !known.contains(id.as_str())).count();
            if missing + twice + strangers > 0 {
                checks.push(format!(
                    "{missing} of {expected} users never seen, {twice} seen more than once, {strangers} unknown ids"
                ));
            } else {
                println!(
                    "  list_pages: every one of the {expected} users seen exactly once in {pages} pages"
                );
            }
            stats
        }
    };
    (stats, checks)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scim_workload: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), BoxError> {
    let opts = Opts::parse()?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(opts.concurrency as usize)
        // A hung request becomes an error instead of a hung run.
        .timeout(Duration::from_secs(120))
        .build()?;

    let mut spawned = None;
    let (base, admin_token, described) = match &opts.server {
        Server::Serve(binary) => {
            // Only this process and the child ever see it.
            let admin = format!("wl-admin-{:032x}", rand::random::<u128>());
            let (s, base) = Spawned::start(binary, &admin)?;
            let described = format!("{} (pid {}, fresh SQLite file)", binary.display(), s.pid());
            spawned = Some(s);
            (base, admin, described)
        }
        Server::Url { base, admin_token } => {
            (base.clone(), admin_token.clone(), "a running server".to_string())
        }
    };
    println!("server: {described} at {base}");
    println!(
        "workload: users={} groups={} members={} per-patch={} lookups={} patches={} page-size={} concurrency={} seed={}",
        opts.users,
        opts.groups,
        opts.members,
        opts.per_patch,
        opts.lookups,
        opts.patches,
        opts.page_size,
        opts.concurrency,
        opts.seed
    );
    println!("load average before: {}", loadavg());

    // A fresh org per run, so every run starts from an empty directory.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let slug = format!("wl-{:x}-{}", nanos, std::process::id());
    let admin_call = |path: String, body: Value| {
        client.post(format!("{base}/admin/v1{path}")).bearer_auth(&admin_token).json(&body)
    };
    call(admin_call("/orgs".into(), json!({"slug": slug, "name": "SCIM workload"})), "POST /admin/v1/orgs")
        .await
        .1?;
    let token = call(
        admin_call(format!("/orgs/{slug}/scim-tokens"), json!({"description": "scim_workload"})),
        "POST scim-tokens",
    )
    .await
    .1?
    .get("token")
    .and_then(Value::as_str)
    .ok_or("POST scim-tokens: answer without a token")?
    .to_string();
    let scim = format!("{base}/scim/v2/{slug}");
    println!("org {slug}, SCIM base {scim}");

    let peak = Arc::new(AtomicU64::new(0));
    let phase_peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    if let Some(s) = &spawned {
        let (pid, peak, phase_peak, sampling) = (s.pid(), peak.clone(), phase_peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                let rss = rss_kib(pid, "VmRSS:");
                peak.fetch_max(rss, Ordering::Relaxed);
                phase_peak.fetch_max(rss, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
    }

    let selected = opts.phases.clone();
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        scim,
        token,
        users: (0..opts.users).map(|_| OnceLock::new()).collect(),
        groups: (0..opts.groups).map(|_| OnceLock::new()).collect(),
        opts,
    });
    let mut rows = Vec::new();
    let mut failures = 0u64;
    for phase in Phase::ALL {
        let measured = selected.contains(&phase);
        if !measured && !selected.iter().any(|p| p.needs().contains(&phase)) {
            continue;
        }
        // Sampled at both ends too: a phase may be shorter than the 50 ms period.
        let sample = || spawned.as_ref().map_or(0, |s| rss_kib(s.pid(), "VmRSS:"));
        phase_peak.store(sample(), Ordering::Relaxed);
        let (stats, checks) = run_phase(&ctx, phase).await;
        phase_peak.fetch_max(sample(), Ordering::Relaxed);
        let rss = if spawned.is_some() {
            format!(", server RSS peak {:.1} MiB", phase_peak.load(Ordering::Relaxed) as f64 / 1024.0)
        } else {
            String::new()
        };
        println!(
            "{}{}: {:.0} req/s ({} ok, {} errors in {:.2}s), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms{rss}",
            phase.name(),
            if measured { "" } else { " (setup, not measured)" },
            stats.req_per_s(),
            stats.ok,
            stats.errors,
            stats.elapsed.as_secs_f64(),
            stats.pct_ms(0.50),
            stats.pct_ms(0.99),
            stats.pct_ms(1.0),
        );
        for e in &stats.shown {
            println!("  error: {e}");
        }
        for c in checks.iter().take(SHOWN_ERRORS) {
            println!("  check failed: {c}");
        }
        if checks.len() > SHOWN_ERRORS {
            println!("  … {} failed checks in all", checks.len());
        }
        failures += stats.errors + checks.len() as u64;
        if let Some(status) = spawned.as_mut().and_then(Spawned::exited) {
            return Err(format!("the server exited during {}: {status}", phase.name()).into());
        }
        if measured {
            rows.push((phase, stats));
        }
    }
    sampling.store(false, Ordering::Relaxed);

    println!();
    println!("| phase | req/s | p50 | p99 | errors |");
    println!("|---|---|---|---|---|");
    for (phase, s) in &rows {
        println!(
            "| {} | {:.0} | {:.2} ms | {:.2} ms | {} |",
            phase.name(),
            s.req_per_s(),
            s.pct_ms(0.50),
            s.pct_ms(0.99),
            s.errors
        );
    }
    match &spawned {
        Some(s) => {
            // VmHWM is the kernel's own peak; the 50 ms samples can miss a spike.
            let hwm = rss_kib(s.pid(), "VmHWM:").max(peak.load(Ordering::Relaxed));
            println!("\nserver peak RSS: {:.1} MiB", hwm as f64 / 1024.0);
        }
        None => {
            println!("\nserver peak RSS: not measured (--url: the server was not started by this command)")
        }
    }
    println!("load average after: {}", loadavg());
    drop(spawned);
    if failures > 0 {
        return Err(format!("{failures} failed requests or checks (see above)").into());
    }
    Ok(())
}
