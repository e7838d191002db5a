//! A throw-away PostgreSQL cluster for the tests: one per test-binary run,
//! started on first use (initdb into a fresh temp dir, `postgres` on a free
//! port of 127.0.0.1), and a fresh empty database per test, so tests run in
//! parallel. As root, initdb and postgres run as the system user
//! `idbridge-pg` (they refuse root). A detached watchdog stops the cluster
//! (`pg_ctl -m immediate stop`) and removes its directory once this process
//! is gone, whether the tests passed, failed or panicked. Missing server
//! binaries fail the test: run `scripts/install-deps.sh --test`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

/// The system user that runs the cluster when the tests run as root
/// (created by scripts/test-deps/postgres.sh).
const RUN_AS: &str = "idbridge-pg";
/// The cluster's superuser. Authentication is `trust` (loopback only); the
/// password is in the URLs so that tests see it redacted.
const SUPERUSER: &str = "idbridge";
pub const PASSWORD: &str = "pg-test-password-7f3a";

/// Stops the cluster and removes its directory once the test process `$1` is gone.
const WATCHDOG: &str = r#"pid=$1; pg_ctl=$2; data=$3; dir=$4; shift 4
while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
"$@" "$pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1
rm -rf "$dir""#;

struct Cluster {
    port: u16,
}

impl Cluster {
    fn url(&self, db: &str) -> String {
        format!("postgres://{SUPERUSER}:{PASSWORD}@127.0.0.1:{}/{db}", self.port)
    }
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);
static CREATING: Mutex<()> = Mutex::new(());

/// A `postgres://…@127.0.0.1:PORT/<unique name>` URL of a new, empty database.
pub async fn fresh_database() -> String {
    tokio::task::spawn_blocking(fresh_database_blocking).await.unwrap()
}

/// `fresh_database` for code already off the async runtime.
pub fn fresh_database_blocking() -> String {
    let cluster = match CLUSTER.get_or_init(start) {
        Ok(c) => c,
        Err(e) => panic!("PostgreSQL test cluster: {e}"),
    };
    let name = format!("idb_test_{}_{}", std::process::id(), NEXT_DB.fetch_add(1, Ordering::SeqCst));
    let _one_at_a_time = CREATING.lock().unwrap_or_else(|p| p.into_inner());
    let mut admin = Client::connect(&cluster.url("postgres"), NoTls).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    cluster.url(&name)
}

/// The newest server's bin directory (`IDBRIDGE_PG_BIN` overrides).
fn bin_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("IDBRIDGE_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file()).then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        "no PostgreSQL server binaries under /usr/lib/postgresql/<major>/bin; \
         run `scripts/install-deps.sh --test`"
            .to_string()
    })
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `bin` run directly, or through `runuser -u idbridge-pg --` as root.
fn server_command(bin: &Path, as_user: bool) -> Command {
    if as_user {
        let mut c = Command::new("runuser");
        c.args(["-u", RUN_AS, "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

#[allow(clippy::zombie_processes)]
fn start() -> Result<Cluster, String> {
    let started = Instant::now();
    let bin = bin_dir()?;
    let as_user = is_root();
    if as_user && !Command::new("id").arg(RUN_AS).output().is_ok_and(|o| o.status.success()) {
        return Err(format!("no user {RUN_AS} to run the cluster as; run `scripts/install-deps.sh --test`"));
    }
    let dir = tempfile::Builder::new().prefix("idbridge-pg-").tempdir().map_err(|e| e.to_string())?.keep();
    let (data, sock) = (dir.join("data"), dir.join("sock"));
    std::fs::create_dir(&sock).map_err(|e| e.to_string())?;
    if as_user {
        let mut chown = Command::new("chown");
        chown.args(["-R", &format!("{RUN_AS}:")]).arg(&dir);
        run(chown, "chown")?;
    }
    let mut initdb = server_command(&bin.join("initdb"), as_user);
    initdb.arg("-D").arg(&data).args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync"]);
    run(initdb, "initdb")?;
    let port = free_port()?;
    let log_path = dir.join("postgres.log");
    let log = File::create(&log_path).map_err(|e| e.to_string())?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut server = server_command(&bin.join("postgres"), as_user)
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-k"])
        .arg(&sock)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=on"])
        // Every app holds about ten connections (writer, 8 readers, leadership) and
        // many tests run at once.
        .args(["-c", "max_connections=500"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("starting postgres: {e}"))?;
    let mut watchdog = Command::new("setsid");
    watchdog.args(["sh", "-c", WATCHDOG, "idbridge-pg-watchdog"]).arg(std::process::id().to_string());
    watchdog.arg(bin.join("pg_ctl")).arg(&data).arg(&dir);
    if as_user {
        watchdog.args(["runuser", "-u", RUN_AS, "--"]);
    }
    watchdog.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    watchdog.spawn().map_err(|e| format!("starting the watchdog: {e}"))?;
    let cluster = Cluster { port };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if Client::connect(&cluster.url("postgres"), NoTls).is_ok() {
            break;
        }
        let exited = server.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() > deadline {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(format!("postgres did not accept connections ({exited:?}): {log}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("postgres test cluster on 127.0.0.1:{port}, ready in {:?}", started.elapsed());
    Ok(cluster)
}
