//! The repository documents its own surface: docs/api.md names every route
//! the routers register, and no file a reader gets points outside the
//! repository (the development-time `../shared` folder is not shipped).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Every string literal that directly follows `.route(` in src/ (the path of a route).
fn routes_in_src() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut routes = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            let trimmed = rest.trim_start();
            if let Some(lit) = trimmed.strip_prefix('"') {
                let end = lit.find('"').unwrap();
                routes.push((lit[..end].to_string(), f.display().to_string()));
            }
        }
    }
    routes
}

#[test]
fn api_md_lists_every_route() {
    let doc = std::fs::read_to_string(root().join("docs/api.md")).unwrap();
    let routes = routes_in_src();
    assert!(routes.len() > 30, "found only {} routes: the scan is broken", routes.len());
    let missing: Vec<_> = routes
        .iter()
        // The catch-all that answers unknown SCIM paths, and the test-only panic route.
        .filter(|(r, _)| !r.contains("{*rest}") && r != "/boom")
        .filter(|(r, _)| !doc.contains(&format!("{r}`")) && !doc.contains(&format!("{r}?")))
        .collect();
    assert!(missing.is_empty(), "docs/api.md does not list: {missing:?}");
}

#[test]
fn nothing_points_outside_the_repository() {
    let mut files = vec![root().join("README.md")];
    for dir in ["docs", "fixtures", "scripts", ".ci"] {
        walk(&root().join(dir), &mut files);
    }
    let offenders: Vec<_> = files
        .iter()
        .filter(|f| {
            std::fs::read_to_string(f).is_ok_and(|t| t.contains("../shared") || t.contains("CONTRACT.md"))
        })
        .collect();
    assert!(offenders.is_empty(), "these files refer to ../shared: {offenders:?}");
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries {
        let p = entry.unwrap().path();
        if p.file_name().is_some_and(|n| n == "node_modules") {
            continue;
        }
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}
