//! Load test of the SCIM server over loopback against real `idbridge serve`
//! processes (release build). Seeds an org with USERS users straight into a
//! fresh database, starts the server(s) on it, then measures
//!   A. `GET /Users?filter=userName eq "…"` (random existing users),
//!   B. `POST /Users` (new users; durable commits, group commit),
//! each at CONCURRENCY for SECONDS, reporting req/s, p50/p99 and each server's peak RSS.
//! Run: `cargo bench --bench scim_load` (env USERS=1000000 SECONDS=10 CONCURRENCY=32;
//! SCIM_LOAD_MAPPING=1 / SCIM_LOAD_WEBHOOK=1 for the write cost of change events and a webhook;
//! PHASES=get,post to pick phases).
//! Engine: BENCH_DB=sqlite (default: a temp file, WAL, synchronous=FULL) or
//! BENCH_DB=postgres (a throw-away cluster started by this process, the tests'
//! tests/api/support/postgres.rs: fsync=on, synchronous_commit=on, otherwise
//! default settings); NODES=2 (PostgreSQL only) starts two server processes
//! on the one database and splits the clients between them (client i → node i % NODES).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use idbridge::store::Db;

#[path = "support/seed.rs"]
mod seed;
use seed::{SECRET_KEY, Target, copy_rows, rusqlite_params, seed_pg, seed_raw};

/// The tests' throw-away PostgreSQL cluster (started on first use, stopped by
/// its watchdog when this process exits).
#[path = "../tests/api/support/postgres.rs"]
#[allow(dead_code)]
mod pg_cluster;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The users' rows: id, user_name (= keys and email), external_id, attributes.
fn user_row(i: u64) -> [String; 4] {
    let name = format!("user{i}@load.test");
    let attrs = format!(
        r#"{{"userName":"{name}","name":{{"givenName":"U","familyName":"{i}"}},"emails":[{{"value":"{name}","type":"work","primary":true}}]}}"#
    );
    [format!("{i:032x}"), name, format!("ext-{i}"), attrs]
}

async fn seed(db: &Db, target: &Target, users: u64) -> Result<String, Box<dyn std::error::Error>> {
    idbridge::directory::orgs::create_org(db, "bench", "load", "Load").await?;
    let token = idbridge::directory::tokens::create(db, "bench", "load", "load test").await?;
    if let Target::Postgres { url, .. } = target {
        // The same rows as the SQLite branch below, through COPY.
        seed_pg(url, move |tx| {
            let org_id: String = tx.query_one("SELECT id FROM orgs WHERE slug = 'load'", &[])?.get(0);
            let now = "2026-01-01T00:00:00.000Z".to_string();
            copy_rows(
                tx,
                "COPY users (id, org_id, origin, user_name, user_name_key, external_id, email, email_key,
                             active, attributes, created_at, updated_at) FROM STDIN",
                (0..users).map(|i| {
                    let [id, name, ext, attrs] = user_row(i);
                    [
                        id,
                        org_id.clone(),
                        "scim".into(),
                        name.clone(),
                        name.clone(),
                        ext,
                        name.clone(),
                        name,
                        "1".into(),
                        attrs,
                        now.clone(),
                        now.clone(),
                    ]
                }),
            )
        })
        .await
        .map_err(|e| e.to_string())?;
        return Ok(token.token.expose().to_string());
    }
    let path = db.path().ok_or("SQLite target without a file")?.to_path_buf();
    let batch = 100_000;
    let mut start = 0;
    while start < users {
        let end = (start + batch).min(users);
        seed_raw(&path, move |c| -> rusqlite::Result<()> {
            let org_id: String = c.query_row("SELECT id FROM orgs WHERE slug = 'load'", [], |r| r.get(0))?;
            let mut st = c.prepare_cached(
                "INSERT INTO users (id, org_id, origin, user_name, user_name_key, external_id, email, email_key,
                                    active, attributes, created_at, updated_at)
                 VALUES (?1, ?2, 'scim', ?3, ?3, ?4, ?3, ?3, 1, ?5, ?6, ?6)",
            )?;
            for i in start..end {
                let [id, name, ext, attrs] = user_row(i);
                st.execute(rusqlite_params(&[&id, &org_id, &name, &ext, &attrs, "2026-01-01T00:00:00.000Z"]))?;
            }
            Ok(())
        })
        .await?;
        start = end;
    }
    Ok(token.token.expose().to_string())
}

struct Outcome {
    ok: u64,
    errors: u64,
    latencies_us: Vec<u64>,
    elapsed: Duration,
}

async fn drive<F, Fut>(concurrency: u64, seconds: u64, make: F) -> Outcome
where
    F: Fn(u64, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let make = Arc::new(make);
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..concurrency {
        let (make, stop, counter) = (make.clone(), stop.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut lat) = (0u64, 0u64, Vec::with_capacity(100_000));
            while !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                if make(task, n).await {
                    ok += 1;
                } else {
                    errors += 1;
                }
                lat.push(t.elapsed().as_micros() as u64);
            }
            (ok, errors, lat)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut out = Outcome { ok: 0, errors: 0, latencies_us: Vec::new(), elapsed: Duration::ZERO };
    for t in tasks {
        if let Ok((ok, errors, lat)) = t.await {
            out.ok += ok;
            out.errors += errors;
            out.latencies_us.extend(lat);
        }
    }
    out.elapsed = started.elapsed();
    out.latencies_us.sort_unstable();
    out
}

fn report(name: &str, o: &Outcome) {
    let pct = |p: f64| {
        o.latencies_us
            .get(((o.latencies_us.len() as f64 * p) as usize).min(o.latencies_us.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{name}: {:.0} req/s ({} ok, {} errors in {:.1}s), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        o.ok as f64 / o.elapsed.as_secs_f64(),
        o.ok,
        o.errors,
        o.elapsed.as_secs_f64(),
        pct(0.50) as f64 / 1000.0,
        pct(0.99) as f64 / 1000.0,
        o.latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0
    );
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Start `idbridge serve` on `db`; returns the child and its base URL once it listens.
fn start_server(
    db: &str,
    postgres: bool,
) -> Result<(std::process::Child, String), Box<dyn std::error::Error>> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_idbridge"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--db", db])
        .env("IDBRIDGE_ADMIN_TOKEN", "bench-admin")
        .env(
            "IDBRIDGE_LOG",
            std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn,idbridge=info".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if postgres {
        // Every node seals secrets with the same key (required with PostgreSQL).
        cmd.env("IDBRIDGE_SECRET_KEY", SECRET_KEY);
    }
    let mut child = cmd.spawn()?;
    let mut lines = BufReader::new(child.stderr.take().ok_or("no stderr")?).lines();
    let base = loop {
        let line = lines.next().ok_or("server exited")??;
        if let Some(i) = line.find("listening on http://") {
            break line[i + 13..].trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Ok((child, base))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let users = env_or("USERS", 1_000_000);
    let seconds = env_or("SECONDS", 10);
    let concurrency = env_or("CONCURRENCY", 32);
    let nodes = env_or("NODES", 1).max(1);
    let phases = std::env::var("PHASES").unwrap_or_else(|_| "get,post".into());
    let target = Target::from_env(pg_cluster::fresh_database_blocking).await.map_err(|e| e.to_string())?;
    if nodes > 1 && !target.is_postgres() {
        return Err("NODES > 1 needs BENCH_DB=postgres (one SQLite server per file)".into());
    }
    println!("engine: {}, {nodes} node(s), load average {}", target.describe(), loadavg());
    let t = Instant::now();
    let db = target.open().await.map_err(|e| e.to_string())?;
    let token = seed(&db, &target, users).await?;
    db.close();
    drop(db);
    println!("seeded {users} users in {:.1}s", t.elapsed().as_secs_f64());

    let mut children = Vec::new();
    let mut bases = Vec::new();
    for _ in 0..nodes {
        let (child, base) = start_server(&target.db_arg(), target.is_postgres())?;
        println!("node {}: {base} (pid {})", children.len() + 1, child.id());
        children.push(child);
        bases.push(base);
    }
    let pids: Vec<u32> = children.iter().map(std::process::Child::id).collect();
    let peaks: Arc<Vec<AtomicU64>> = Arc::new(pids.iter().map(|_| AtomicU64::new(0)).collect());
    let sampling = Arc::new(AtomicBool::new(true));
    {
        let (peaks, sampling, pids) = (peaks.clone(), sampling.clone(), pids.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                for (peak, pid) in peaks.iter().zip(&pids) {
                    peak.fetch_max(rss_kib(*pid), Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
    }
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency as usize).build()?;
    let base = bases[0].clone();
    // Client task i talks to node i % NODES.
    let users_urls: Arc<Vec<String>> =
        Arc::new(bases.iter().map(|b| format!("{b}/scim/v2/load/Users")).collect());

    // Optional: SCIM_LOAD_MAPPING=1 applies a mapping that makes every user a
    // member (so each POST writes a grant and a `member.added` change event);
    // SCIM_LOAD_WEBHOOK=1 also attaches a webhook to a receiver in this process
    // that acknowledges everything — the write cost of delivering events.
    let delivered = Arc::new(AtomicU64::new(0));
    if std::env::var("SCIM_LOAD_MAPPING").is_ok() || std::env::var("SCIM_LOAD_WEBHOOK").is_ok() {
        let t = Instant::now();
        let r = client
            .put(format!("{base}/admin/v1/orgs/load/mapping"))
            .bearer_auth("bench-admin")
            .json(&serde_json::json!({"default_org_role": "member", "rules": []}))
            .send()
            .await?;
        println!("mapping applied ({}) in {:.1}s", r.status(), t.elapsed().as_secs_f64());
    }
    if std::env::var("SCIM_LOAD_WEBHOOK").is_ok() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let hook = format!("http://{}/hook", listener.local_addr()?);
        let counter = delivered.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move || {
                let c = counter.clone();
                async move {
                    c.fetch_add(1, Ordering::Relaxed);
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let r = client
            .post(format!("{base}/admin/v1/orgs/load/webhooks"))
            .bearer_auth("bench-admin")
            .json(&serde_json::json!({"url": hook}))
            .send()
            .await?;
        println!("webhook attached ({})", r.status());
    }

    // Optional: the GET phase with wrk (Debian package), a lighter load
    // generator than this process, so more of the 2 cores serve requests (first node only).
    if std::env::var("SCIM_LOAD_WRK").is_ok() {
        let dir = tempfile::tempdir()?;
        let script = dir.path().join("lookup.lua");
        std::fs::write(
            &script,
            format!(
                "math.randomseed(os.time())\nwrk.headers[\"Authorization\"] = \"Bearer {token}\"\n\
                 request = function()\n  local k = math.random(0, {max})\n  \
                 return wrk.format(\"GET\", \"/scim/v2/load/Users?filter=userName%20eq%20%22user\" .. k .. \"%40load.test%22\")\nend\n",
                max = users - 1
            ),
        )?;
        let out = Command::new("wrk")
            .args(["-t2", &format!("-c{concurrency}"), &format!("-d{seconds}s"), "--latency", "-s"])
            .arg(&script)
            .arg(&base)
            .output()?;
        println!(
            "wrk GET /Users?filter=userName eq (c={concurrency}, {users} users):\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    let tag = format!("{}, {nodes} node(s)", if target.is_postgres() { "postgres" } else { "sqlite" });
    if phases.contains("get") {
        println!("load average before GET: {}", loadavg());
        let (c, u, tk) = (client.clone(), users_urls.clone(), token.clone());
        let get = drive(concurrency, seconds, move |task, n| {
            let (c, tk) = (c.clone(), tk.clone());
            let u = u[task as usize % u.len()].clone();
            async move {
                let k = (n.wrapping_mul(2_654_435_761)) % users;
                let filter = format!("userName eq \"user{k}@load.test\"");
                match c.get(&u).query(&[("filter", filter)]).bearer_auth(&tk).send().await {
                    Ok(r) if r.status().is_success() => {
                        r.bytes().await.map(|b| b.len() > 100).unwrap_or(false)
                    }
                    _ => false,
                }
            }
        })
        .await;
        report(&format!("[{tag}] GET /Users?filter=userName eq (c={concurrency}, {users} users)"), &get);
    }

    if phases.contains("post") {
        println!("load average before POST: {}", loadavg());
        let (c, u, tk) = (client.clone(), users_urls.clone(), token.clone());
        let post = drive(concurrency, seconds, move |task, n| {
            let (c, tk) = (c.clone(), tk.clone());
            let u = u[task as usize % u.len()].clone();
            async move {
                let body = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("new{n}@load.test"), "externalId": format!("new-{n}"),
                    "name": {"givenName": "N", "familyName": "U"},
                    "emails": [{"value": format!("new{n}@load.test"), "type": "work", "primary": true}]});
                match c
                    .post(&u)
                    .bearer_auth(&tk)
                    .header("content-type", "application/scim+json")
                    .body(body.to_string())
                    .send()
                    .await
                {
                    Ok(r) => r.status().as_u16() == 201,
                    Err(_) => false,
                }
            }
        })
        .await;
        report(&format!("[{tag}] POST /Users (c={concurrency}, durable commits)"), &post);
    }
    if std::env::var("SCIM_LOAD_WEBHOOK").is_ok() {
        tokio::time::sleep(Duration::from_secs(2)).await;
        println!("webhook deliveries acknowledged by the receiver: {}", delivered.load(Ordering::Relaxed));
    }
    sampling.store(false, Ordering::Relaxed);
    let rss: Vec<String> =
        peaks.iter().map(|p| format!("{:.1} MiB", p.load(Ordering::Relaxed) as f64 / 1024.0)).collect();
    println!("server peak RSS: {}", rss.join(", "));
    for (pid, mut child) in pids.iter().zip(children) {
        let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        let _ = child.wait();
    }
    Ok(())
}

/// The 1-minute load average, for the log of each run.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}
