//! Benchmark: whole-org re-evaluation. Seeds an org of USERS users spread over
//! GROUPS SCIM groups (each user in 3 groups) in a temp SQLite file, then times
//! applying a 1,000-rule mapping (every user gains grants), applying a changed
//! mapping (every user's roles change), and a preview. Run with
//! `cargo bench --bench reevaluate` (env USERS, GROUPS to change the size;
//! BENCH_DB=postgres for a fresh database of a throw-away PostgreSQL cluster
//! started by this process, fsync=on and synchronous_commit=on).

use std::time::Instant;

use idbridge::access::mapping::{DefaultRole, MappingDocument, Role, Rule};
use idbridge::access::service;
#[path = "support/seed.rs"]
mod seed;
use seed::{Target, copy_rows, rusqlite_params, seed_pg, seed_raw};

/// The tests' throw-away PostgreSQL cluster (started on first use, stopped by
/// its watchdog when this process exits).
#[path = "../tests/api/support/postgres.rs"]
#[allow(dead_code)]
mod pg_cluster;

/// The same allocator as the `idbridge` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn mapping(groups: usize, projects: usize, flip: bool) -> MappingDocument {
    let rules = (0..groups)
        .map(|g| {
            let role = if (g % 2 == 0) ^ flip { Role::Admin } else { Role::Member };
            let mut projects_map = std::collections::BTreeMap::new();
            projects_map.insert(format!("p{}", g % projects), role);
            Rule {
                group: format!("Group {g}"),
                org_role: if g % 100 == 0 && !flip { Some(Role::Admin) } else { None },
                projects: projects_map,
            }
        })
        .collect();
    MappingDocument { default_org_role: DefaultRole::Member, rules }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let users = env_or("USERS", 100_000);
    let groups = env_or("GROUPS", 1_000);
    let projects = 20;
    let target = Target::from_env(pg_cluster::fresh_database_blocking).await.map_err(|e| e.to_string())?;
    println!("engine: {}", target.describe());
    let db = target.open().await.map_err(|e| e.to_string())?;
    idbridge::directory::orgs::create_org(&db, "bench", "acme", "Acme").await?;
    for p in 0..projects {
        idbridge::directory::orgs::create_project(&db, "bench", "acme", &format!("p{p}"), "P").await?;
    }
    let started = Instant::now();
    if let Target::Postgres { url, .. } = &target {
        // The same rows as the SQLite branch below, through COPY.
        seed_pg(url, move |tx| {
            let org_id: String = tx.query_one("SELECT id FROM orgs WHERE slug = 'acme'", &[])?.get(0);
            let now = "2026-01-01T00:00:00.000Z".to_string();
            copy_rows(
                tx,
                "COPY groups (id, org_id, display_name, display_name_key, created_at, updated_at) FROM STDIN",
                (0..groups).map(|i| {
                    let name = format!("Group {i}");
                    [format!("g{i}"), org_id.clone(), name.clone(), name.to_lowercase(), now.clone(), now.clone()]
                }),
            )?;
            copy_rows(
                tx,
                "COPY users (id, org_id, origin, user_name, user_name_key, email, email_key, created_at, updated_at)
                 FROM STDIN",
                (0..users).map(|i| {
                    let name = format!("user{i}@acme.com");
                    [
                        format!("u{i}"),
                        org_id.clone(),
                        "scim".into(),
                        name.clone(),
                        name.clone(),
                        name.clone(),
                        name,
                        now.clone(),
                        now.clone(),
                    ]
                }),
            )?;
            copy_rows(
                tx,
                "COPY group_members (group_id, user_id) FROM STDIN",
                (0..users).flat_map(|i| {
                    (0..3).map(move |k| [format!("g{}", (i * 7 + k * 331) % groups), format!("u{i}")])
                }),
            )
        })
        .await
        .map_err(|e| e.to_string())?;
    } else {
        let path = db.path().ok_or("SQLite target without a file")?.to_path_buf();
        seed_raw(&path, move |c| -> rusqlite::Result<()> {
        let org_id: String = c.query_row("SELECT id FROM orgs WHERE slug = 'acme'", [], |r| r.get(0))?;
        let now = "2026-01-01T00:00:00.000Z";
        let mut g = c.prepare(
            "INSERT INTO groups (id, org_id, display_name, display_name_key, created_at, updated_at)
             VALUES (?1, ?2, ?3, lower(?3), ?4, ?4)",
        )?;
        for i in 0..groups {
            g.execute(rusqlite_params(&[&format!("g{i}"), &org_id, &format!("Group {i}"), now]))?;
        }
        let mut u = c.prepare(
            "INSERT INTO users (id, org_id, origin, user_name, user_name_key, email, email_key, created_at, updated_at)
             VALUES (?1, ?2, 'scim', ?3, ?3, ?3, ?3, ?4, ?4)",
        )?;
        let mut m = c.prepare("INSERT INTO group_members (group_id, user_id) VALUES (?1, ?2)")?;
        for i in 0..users {
            let id = format!("u{i}");
            u.execute(rusqlite_params(&[&id, &org_id, &format!("user{i}@acme.com"), now]))?;
            for k in 0..3 {
                m.execute(rusqlite_params(&[&format!("g{}", (i * 7 + k * 331) % groups), &id]))?;
            }
        }
        Ok(())
    })
    .await?;
    }
    println!("seeded {users} users in {groups} groups (3 each) in {:.2?}", started.elapsed());

    let t = Instant::now();
    let changes = service::preview(&db, "acme", mapping(groups, projects, false)).await?;
    println!("preview of a {groups}-rule mapping: {} changes in {:.2?}", changes.len(), t.elapsed());
    let t = Instant::now();
    let applied = service::apply(&db, "bench", "acme", mapping(groups, projects, false)).await?;
    println!("apply (first mapping): {} changes in {:.2?}", applied.changes.len(), t.elapsed());
    let t = Instant::now();
    let applied = service::apply(&db, "bench", "acme", mapping(groups, projects, true)).await?;
    println!("apply (every rule's role flipped): {} changes in {:.2?}", applied.changes.len(), t.elapsed());
    let t = Instant::now();
    let applied = service::apply(&db, "bench", "acme", mapping(groups, projects, true)).await?;
    println!("apply (no-op, same mapping): {} changes in {:.2?}", applied.changes.len(), t.elapsed());
    db.close();
    Ok(())
}
