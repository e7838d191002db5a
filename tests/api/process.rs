//! The process contract: `migrate`, a generated operator token printed once,
//! SIGTERM draining and exiting 0, JSON logs.

use std::io::Read;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;

use crate::support::helpers::{ADMIN_TOKEN, db_path, spawn_process};

#[test]
fn migrate_creates_the_schema_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    for expected in ["12 migration(s) applied", "0 migration(s) applied"] {
        let out =
            Command::new(env!("CARGO_BIN_EXE_idbridge")).args(["migrate", "--db"]).arg(&db).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains(expected));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_idbridge")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("serve") && help.contains("migrate"));
}

/// On PostgreSQL `serve` has no key file beside the database to fall back
/// on and requires IDBRIDGE_SECRET_KEY; on SQLite it is left to the key file.
fn pg_secret_key() -> Vec<(&'static str, &'static str)> {
    if crate::support::helpers::on_postgres() {
        vec![("IDBRIDGE_SECRET_KEY", crate::support::helpers::SECRET_KEY)]
    } else {
        Vec::new()
    }
}

#[tokio::test]
async fn generated_admin_token_is_printed_once_and_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    // Each run is stopped once it listens (the token, if any, is printed
    // before that): a fixed sleep was too short for a first start on
    // PostgreSQL, which migrates a fresh database first.
    let run = |db: std::path::PathBuf| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_idbridge"))
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .env_remove("IDBRIDGE_ADMIN_TOKEN")
            .envs(pg_secret_key())
            .env("IDBRIDGE_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let (mut line, mut said) = (String::new(), String::new());
        loop {
            line.clear();
            assert!(std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0, "server exited: {said}");
            if line.contains("listening on http://") {
                break;
            }
            said.push_str(&line);
        }
        let _ = child.kill();
        let _ = child.wait();
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        out
    };
    let first = run(db.clone());
    let token =
        first.split_whitespace().find(|w| w.starts_with("idb_admin_")).expect("token printed").to_string();
    let second = run(db.clone());
    assert!(!second.contains("idb_admin_"), "printed twice: {second}");
    // Stored hashed: not in the file (on PostgreSQL: in no stored value).
    let stored = if crate::support::helpers::on_postgres() {
        crate::support::helpers::raw_db_at(&db).every_value().await
    } else {
        vec![std::fs::read(&db).unwrap()]
    };
    for stored in &stored {
        assert!(!stored.windows(token.len()).any(|w| w == token.as_bytes()));
    }

    let mut child = Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env_remove("IDBRIDGE_ADMIN_TOKEN")
        .envs(pg_secret_key())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let base = loop {
        line.clear();
        std::io::BufRead::read_line(&mut err, &mut line).unwrap();
        if let Some(i) = line.find("listening on http://") {
            break line[i + 13..].trim().to_string();
        }
    };
    let client = reqwest::Client::new();
    let r = client.get(format!("{base}/admin/v1/orgs")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client.get(format!("{base}/admin/v1/orgs")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero_with_json_logs() {
    let dir = tempfile::tempdir().unwrap();
    let mut proc = spawn_process(&db_path(&dir), &[("IDBRIDGE_LOG_FORMAT", "json")]);
    let client = reqwest::Client::new();
    let r = client.get(format!("{}/healthz", proc.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let pid = proc.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = proc.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let lines: Vec<String> = proc.stderr_lines.try_iter().collect();
    assert!(lines.iter().any(|l| l.contains("\"stopped\"")), "{lines:?}");
    for l in &lines {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|_| panic!("not JSON: {l}"));
    }
}

#[tokio::test]
async fn mapping_cli_applies_toml_and_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    {
        let proc = spawn_process(&db, &[]);
        let client = reqwest::Client::new();
        for (path, body) in [
            ("/admin/v1/orgs", serde_json::json!({"slug": "acme", "name": "Acme"})),
            ("/admin/v1/orgs/acme/projects", serde_json::json!({"slug": "research", "name": "R"})),
        ] {
            let r = client
                .post(format!("{}{path}", proc.base))
                .bearer_auth(ADMIN_TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
        }
    }
    let file = dir.path().join("mapping.toml");
    std::fs::write(
        &file,
        "default_org_role = \"none\"\n\n[[rules]]\ngroup = \"Engineering\"\norg_role = \"member\"\n\n[rules.projects]\nresearch = \"admin\"\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_idbridge"))
            .args(args)
            .arg("--db")
            .arg(&db)
            .env("IDBRIDGE_SECRET_KEY", crate::support::helpers::SECRET_KEY)
            .output()
            .unwrap()
    };
    let out = run(&["mapping", "preview", "--org", "acme", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["mapping", "show", "--org", "acme"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("# version 0"));
    let out = run(&["mapping", "apply", "--org", "acme", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["mapping", "show", "--org", "acme"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("# version 1")
            && shown.contains("Engineering")
            && shown.contains("research = \"admin\""),
        "{shown}"
    );

    // An invalid file is refused with the field path and applies nothing.
    std::fs::write(&file, "[[rules]]\ngroup = \"Eng\"\n[rules.projects]\nnope = \"admin\"\n").unwrap();
    let out = run(&["mapping", "apply", "--org", "acme", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rules[0].projects.nope"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["mapping", "show", "--org", "acme"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("# version 1"));

    let out = run(&["keys", "rotate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("new signing key"));
}

#[tokio::test]
async fn config_file_sets_the_database_and_public_url() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("from-file.db");
    let cfg = dir.path().join("idbridge.toml");
    std::fs::write(
        &cfg,
        format!(
            "db = {:?}\nlisten = \"127.0.0.1:0\"\npublic_url = \"https://sso.example.com/\"\nlog_format = \"json\"\n",
            db.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("IDBRIDGE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env_remove("IDBRIDGE_DB")
        .env_remove("IDBRIDGE_LISTEN")
        .env_remove("IDBRIDGE_PUBLIC_URL")
        .env_remove("IDBRIDGE_LOG_FORMAT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let base = loop {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0, "server exited");
        if let Some(i) = line.find("listening on http://") {
            assert!(line.trim_start().starts_with('{'), "JSON logs from the file: {line}");
            break line[i + 13..].chars().take_while(|c| !c.is_whitespace() && *c != '"').collect::<String>();
        }
    };
    let client = reqwest::Client::new();
    client
        .post(format!("{base}/admin/v1/orgs"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"slug": "acme", "name": "Acme"}))
        .send()
        .await
        .unwrap();
    let r = client
        .post(format!("{base}/admin/v1/orgs/acme/scim-tokens"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["scim_base_url"], "https://sso.example.com/scim/v2/acme", "public_url from the file");
    assert!(db.exists(), "database at the path from the file");
    child.kill().unwrap();
    child.wait().unwrap();
    // An unknown key is refused with the file's name in the message.
    std::fs::write(&cfg, "listen = \"127.0.0.1:0\"\nlisten_port = 3\n").unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_idbridge")).args(["serve", "--config"]).arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("idbridge.toml"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    let mut proc = crate::support::helpers::spawn_process(&db, &[]);
    let addr = proc.base.trim_start_matches("http://").to_string();
    let body = r#"{"slug":"drained","name":"Drained"}"#;
    let mut sock = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        sock,
        "POST /admin/v1/orgs HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .unwrap();
    sock.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // The request is in flight (headers read, body half sent) when SIGTERM arrives.
    let pid = proc.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    sock.write_all(&body.as_bytes()[10..]).unwrap();
    let mut answer = String::new();
    sock.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(proc.child.wait().unwrap().code(), Some(0));
    // A new connection after shutdown is refused; the write is durable.
    assert!(std::net::TcpStream::connect(&addr).is_err());
    let again = crate::support::helpers::spawn_process(&db, &[]);
    let addr = again.base.trim_start_matches("http://").to_string();
    let mut sock = std::net::TcpStream::connect(&addr).unwrap();
    write!(sock, "GET /admin/v1/orgs/drained HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    sock.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("\"slug\":\"drained\""), "{answer}");
}
