//! Benchmark: whole-org re-evaluation. Seeds an org of USERS users spread over
//! GROUPS SCIM groups (each user in 3 groups) in a temp SQLite file, then times
//! applying a 1,000-rule mapping (every user gains grants), applying a changed
//! mapping (every user's roles change), and a preview. Run with
//! `cargo bench --bench reevaluate` (env USERS, GROUPS to change the size).

use std::sync::Arc;
use std::time::Instant;

use idbridge::access::mapping::{DefaultRole, MappingDocument, Role, Rule};
use idbridge::access::service;
use idbridge::metrics::Metrics;
use idbridge::store::Db;

#[path = "support/seed.rs"]
mod seed;
use seed::{rusqlite_params, seed_raw};

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
    let dir = tempfile::tempdir()?;
    let db = Db::open(&dir.path().join("bench.db"), Arc::new(Metrics::new()))?;
    idbridge::directory::orgs::create_org(&db, "bench", "acme", "Acme").await?;
    for p in 0..projects {
        idbridge::directory::orgs::create_project(&db, "bench", "acme", &format!("p{p}"), "P").await?;
    }
    let started = Instant::now();
    seed_raw(db.path(), move |c| -> rusqlite::Result<()> {
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
