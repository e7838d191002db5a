//! The public conformance tool `scim2-tester` (PyPI) against a running server.
//! Installed by `scripts/install-deps.sh --test` (scripts/test-deps/scim.sh).

use std::path::Path;
use std::process::Command;

use crate::support::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim2_tester_reports_no_errors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv-scim/bin/python");
    assert!(python.exists(), "scim2-tester is not installed: run scripts/install-deps.sh --test");
    let app = spawn_app().await;
    app.org("conformance").await;
    let scim = app.scim("conformance").await;
    let base = scim.url("");
    let token = scim.token.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(root.join("tests/conformance/scim2_tester_run.py"))
            .arg(&base)
            .arg(&token)
            // Deliberate: a member's `display` and `type` are computed from the
            // user (docs/scim.md), not echoed from the request.
            .args(["--allow", "PATCH modify() returned unexpected value for 'members'"])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "scim2-tester found errors:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" passed, 0 failed ("), "{stdout}");
}
