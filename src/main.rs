//! The `idbridge` command line: serve, migrate, mapping, events, keys. `--db`
//! names an SQLite file or a PostgreSQL URL.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use idbridge::config::{self, Config, DbLocation, FileConfig, LogFormat};
use idbridge::secrets::Secret;

/// mimalloc: the server allocates many small JSON trees per request; glibc's
/// allocator showed ~10% of CPU under SCIM load (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "idbridge", version, about = "SSO/SCIM identity-provisioning connector")]
struct Cli {
    /// Log format.
    #[arg(long, global = true, env = "IDBRIDGE_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (admin API, SCIM, SAML, OIDC, sessions).
    Serve {
        /// SQLite database file, or a postgres://user:password@host:port/dbname URL.
        #[arg(long, env = "IDBRIDGE_DB")]
        db: Option<PathBuf>,
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, env = "IDBRIDGE_LISTEN")]
        listen: Option<String>,
        /// Public base URL (default http://<listen address>).
        #[arg(long, env = "IDBRIDGE_PUBLIC_URL")]
        public_url: Option<String>,
        /// TOML configuration file.
        #[arg(long, env = "IDBRIDGE_CONFIG")]
        config: Option<PathBuf>,
        /// Let fetches of IdP metadata and OpenID Provider URLs reach private,
        /// link-local and shared (CGNAT) addresses (default false).
        #[arg(long, env = "IDBRIDGE_OUTBOUND_ALLOW_PRIVATE", value_name = "BOOL")]
        outbound_allow_private: Option<bool>,
        /// Days change events are kept (default 30).
        #[arg(long, env = "IDBRIDGE_EVENT_RETENTION_DAYS", value_name = "DAYS")]
        event_retention_days: Option<u32>,
        /// SCIM requests in flight on this node before 429 + Retry-After (default 256; 0: unbounded).
        #[arg(long, env = "IDBRIDGE_SCIM_MAX_IN_FLIGHT", value_name = "N")]
        scim_max_in_flight: Option<usize>,
        /// Queued store writes beyond which a SCIM write gets 429 (default 256; 0: unbounded).
        #[arg(long, env = "IDBRIDGE_SCIM_MAX_WRITE_QUEUE", value_name = "N")]
        scim_max_write_queue: Option<usize>,
        /// Per-token SCIM rate limit, requests per second per node (default 0: off).
        #[arg(long, env = "IDBRIDGE_SCIM_TOKEN_RATE", value_name = "PER_SECOND")]
        scim_token_rate: Option<f64>,
        /// Per-token burst (default 0: the rate rounded up).
        #[arg(long, env = "IDBRIDGE_SCIM_TOKEN_BURST", value_name = "N")]
        scim_token_burst: Option<u32>,
    },
    /// Apply database migrations and exit.
    Migrate {
        /// SQLite database file, or a postgres://user:password@host:port/dbname URL.
        #[arg(long, env = "IDBRIDGE_DB")]
        db: Option<PathBuf>,
    },
    /// Show, preview or apply an org's group-to-role mapping (TOML files).
    Mapping {
        #[command(subcommand)]
        action: MappingCmd,
    },
    /// Read an org's change events (docs/events.md).
    Events {
        #[command(subcommand)]
        action: EventsCmd,
    },
    /// Session signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysCmd,
    },
    /// Database tools: copy a deployment between SQLite and PostgreSQL.
    Db {
        #[command(subcommand)]
        action: DbCmd,
    },
}

#[derive(Subcommand)]
enum DbCmd {
    /// Copy a whole deployment into a new, empty database (SQLite or PostgreSQL, either way).
    ///
    /// The source must be at this binary's schema version (run `idbridge migrate` on it first)
    /// and is read in one consistent snapshot, never changed; the target is migrated, must be
    /// empty, and is written in one transaction (all or nothing), then its row counts are
    /// checked against the source's. Secrets (connection secrets, signing keys, webhook
    /// secrets) are copied still encrypted: start the target deployment with the same
    /// secret key as the source (IDBRIDGE_SECRET_KEY, or the contents of the source's
    /// `<db>.key` file). Stop the source's servers first, or changes made after the snapshot
    /// are not copied.
    Copy {
        /// The deployment to copy: an SQLite file or a postgres://user:password@host:port/dbname URL.
        #[arg(long, value_name = "FILE_OR_URL")]
        from: PathBuf,
        /// The new, empty database: an SQLite file (created owner-only) or a PostgreSQL URL.
        #[arg(long, value_name = "FILE_OR_URL")]
        to: PathBuf,
    },
}

#[derive(Subcommand)]
enum MappingCmd {
    /// Print the org's current mapping as TOML.
    Show {
        #[arg(long)]
        org: String,
        #[arg(long, env = "IDBRIDGE_DB")]
        db: Option<PathBuf>,
    },
    /// Print what applying FILE would change; nothing is written.
    Preview {
        #[arg(long)]
        org: String,
        file: PathBuf,
        #[arg(long, env = "IDBRIDGE_DB")]
        db: Option<PathBuf>,
    },
    /// Apply FILE as the org's new mapping and re-evaluate every user.
    Apply {
        #[arg(long)]
        org: String,
        file: PathBuf,
        #[arg(long, env = "IDBRIDGE_DB")]
        db: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum EventsCmd {
    /// Print the org's events after ID as JSON lines, then follow (poll every second).
    Tail {
        #[arg(long)]
        org: String,
        #[arg(long, env = "IDBRIDGE_DB")]
        db: Option<PathBuf>,
        /// Start after this event id (default 0: from the oldest kept).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Print what is there and exit instead of following.
        #[arg(long)]
        once: bool,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Start signing sessions with a new key; old keys keep verifying for the overlap.
    Rotate {
        #[arg(long, env = "IDBRIDGE_DB")]
        db: Option<PathBuf>,
        /// How long retired keys keep verifying (default: the 8 h session lifetime).
        #[arg(long, default_value_t = 8 * 3600)]
        overlap_secs: u64,
    },
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("IDBRIDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Human => builder.init(),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Migrate { db } => {
            init_logs(cli.log_format.unwrap_or(LogFormat::Human));
            let db = db.unwrap_or_else(|| PathBuf::from(config::DEFAULT_DB));
            match DbLocation::parse(&db) {
                DbLocation::File(db) => {
                    let applied = idbridge::store::Db::migrate_only(&db)
                        .with_context(|| format!("migrating {}", db.display()))?;
                    println!("{}: {} migration(s) applied", db.display(), applied.len());
                }
                DbLocation::Postgres(url) => {
                    let shown = idbridge::store::pg::redacted(&url);
                    let applied = idbridge::store::pg::migrate_url(&url).context("migrating PostgreSQL")?;
                    println!("{shown}: {} migration(s) applied", applied.len());
                }
            }
            Ok(())
        }
        Command::Mapping { action } => {
            init_logs(cli.log_format.unwrap_or(LogFormat::Human));
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(mapping(action))
        }
        Command::Events { action: EventsCmd::Tail { org, db, after, once } } => {
            init_logs(cli.log_format.unwrap_or(LogFormat::Human));
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let db = location(db);
            runtime.block_on(events_tail(db, org, after, once))
        }
        Command::Keys { action: KeysCmd::Rotate { db, overlap_secs } } => {
            init_logs(cli.log_format.unwrap_or(LogFormat::Human));
            let db = location(db);
            let env_key = std::env::var("IDBRIDGE_SECRET_KEY").ok().filter(|k| !k.is_empty());
            let key_file = match &db {
                DbLocation::File(path) => config::key_file_beside(path),
                DbLocation::Postgres(_) if env_key.is_none() => {
                    anyhow::bail!("IDBRIDGE_SECRET_KEY is required with PostgreSQL (the nodes' value)")
                }
                DbLocation::Postgres(_) => PathBuf::new(),
            };
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(async move {
                let store = open_store(&db).await?;
                let sb = idbridge::secrets::SecretBox::load(env_key.as_deref(), &key_file)?;
                let kid = idbridge::session::keys::rotate(
                    &store,
                    &sb,
                    std::time::Duration::from_secs(overlap_secs),
                )
                .await?;
                store.close();
                println!("new signing key {kid}; running servers sign with it within about a second");
                Ok(())
            })
        }
        Command::Db { action: DbCmd::Copy { from, to } } => {
            init_logs(cli.log_format.unwrap_or(LogFormat::Human));
            db_copy(&from, &to)
        }
        Command::Serve {
            db,
            listen,
            public_url,
            config,
            outbound_allow_private,
            event_retention_days,
            scim_max_in_flight,
            scim_max_write_queue,
            scim_token_rate,
            scim_token_burst,
        } => {
            let file = match &config {
                Some(p) => FileConfig::load(p).map_err(anyhow::Error::msg)?,
                None => FileConfig::default(),
            };
            let db = db.or(file.db).unwrap_or_else(|| PathBuf::from(config::DEFAULT_DB));
            let log_format = cli.log_format.or(file.log_format).unwrap_or(LogFormat::Human);
            init_logs(log_format);
            let listen = listen.or(file.listen).unwrap_or_else(|| config::DEFAULT_LISTEN.to_string());
            let listen: SocketAddr =
                listen.parse().with_context(|| format!("invalid listen address {listen:?}"))?;
            let mut cfg = Config::for_db(db);
            cfg.listen = listen;
            cfg.public_url = public_url.or(file.public_url);
            cfg.log_format = log_format;
            if let Some(limit) = file.admin_body_limit {
                cfg.admin_body_limit = limit;
            }
            if let Some(k) = file.secret_key_file {
                cfg.secret_key_file = k;
            }
            if let Some(secs) = file.session_lifetime_secs {
                cfg.session.lifetime = std::time::Duration::from_secs(secs);
            }
            if let Some(secs) = file.session_idle_secs {
                cfg.session.idle = std::time::Duration::from_secs(secs);
            }
            if let Some(days) = event_retention_days.or(file.event_retention_days) {
                cfg.event_retention_days = days;
            }
            cfg.outbound_allow_private =
                outbound_allow_private.or(file.outbound_allow_private).unwrap_or(false);
            cfg.scim_shed = idbridge::scim::shed::ShedSettings::new(
                scim_max_in_flight
                    .or(file.scim_max_in_flight)
                    .unwrap_or(idbridge::scim::shed::DEFAULT_MAX_IN_FLIGHT),
                scim_max_write_queue
                    .or(file.scim_max_write_queue)
                    .unwrap_or(idbridge::scim::shed::DEFAULT_MAX_WRITE_QUEUE),
                scim_token_rate.or(file.scim_token_rate).unwrap_or(0.0),
                scim_token_burst.or(file.scim_token_burst).unwrap_or(0),
            )
            .map_err(anyhow::Error::msg)?;
            cfg.admin_token =
                std::env::var("IDBRIDGE_ADMIN_TOKEN").ok().filter(|t| !t.is_empty()).map(Secret::new);
            cfg.secret_key =
                std::env::var("IDBRIDGE_SECRET_KEY").ok().filter(|t| !t.is_empty()).map(Secret::new);
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(serve(cfg))
        }
    }
}

/// The database a command runs on: `--db` / IDBRIDGE_DB, a file or a
/// PostgreSQL URL (the default file when none is given).
fn location(db: Option<PathBuf>) -> DbLocation {
    DbLocation::parse(&db.unwrap_or_else(|| PathBuf::from(config::DEFAULT_DB)))
}

/// `idbridge db copy`: progress on stderr, the verified summary on stdout.
fn db_copy(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    use idbridge::store::copy::{self, Endpoint};
    let endpoint = |value: &std::path::Path| match DbLocation::parse(value) {
        DbLocation::File(path) => Endpoint::Sqlite(path),
        DbLocation::Postgres(url) => Endpoint::Postgres(url),
    };
    let (from, to) = (endpoint(from), endpoint(to));
    let summary = copy::copy(&from, &to, &mut std::io::stderr().lock())?;
    println!("copied {} -> {}", from.shown(), to.shown());
    for (table, rows) in &summary.tables {
        println!("  {table:<20} {rows:>10}");
    }
    let total: u64 = summary.tables.iter().map(|(_, n)| n).sum();
    println!("{total} row(s) in {} tables; row counts verified on both sides", summary.tables.len());
    let key_file = match &from {
        Endpoint::Sqlite(path) => format!(", or the contents of {}", config::key_file_beside(path).display()),
        Endpoint::Postgres(_) => String::new(),
    };
    eprintln!(
        "note: secrets were copied still encrypted; start the target with the source's secret key \
         (IDBRIDGE_SECRET_KEY{key_file})"
    );
    Ok(())
}

/// Open the store off the async runtime (the PostgreSQL client blocks).
async fn open_store(db: &DbLocation) -> anyhow::Result<idbridge::store::Db> {
    let metrics = std::sync::Arc::new(idbridge::metrics::Metrics::new());
    let shown = match db {
        DbLocation::File(p) => p.display().to_string(),
        DbLocation::Postgres(url) => idbridge::store::pg::redacted(url),
    };
    let db = db.clone();
    tokio::task::spawn_blocking(move || idbridge::open_db(&db, metrics))
        .await?
        .with_context(|| format!("opening {shown}"))
}

async fn mapping(action: MappingCmd) -> anyhow::Result<()> {
    use idbridge::access::{mapping as doc, service};
    let read = |file: &std::path::Path| -> anyhow::Result<doc::MappingDocument> {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        doc::parse_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
    };
    match action {
        MappingCmd::Show { org, db } => {
            let store = open_store(&location(db)).await?;
            let current = service::get(&store, &org).await?;
            println!("# version {}", current.version);
            print!("{}", doc::to_toml(&current.mapping)?);
            store.close();
        }
        MappingCmd::Preview { org, file, db } => {
            let d = read(&file)?;
            let store = open_store(&location(db)).await?;
            let changes = service::preview(&store, &org, d).await?;
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({"changes": changes}))?);
            store.close();
        }
        MappingCmd::Apply { org, file, db } => {
            let d = read(&file)?;
            let store = open_store(&location(db)).await?;
            let applied = service::apply(&store, "cli", &org, d).await?;
            eprintln!("applied mapping version {} ({} changes)", applied.version, applied.changes.len());
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({"changes": applied.changes}))?);
            store.close();
        }
    }
    Ok(())
}

/// `idbridge events tail`: page through the org's events, one JSON line each;
/// unless `once`, poll every second for new ones until Ctrl-C.
async fn events_tail(db: DbLocation, org: String, mut after: i64, once: bool) -> anyhow::Result<()> {
    use idbridge::events::pull;
    use std::io::Write;
    let store = open_store(&db).await?;
    let result = async {
        loop {
            let page = pull::after(&store, &org, after, pull::MAX_LIMIT).await?;
            let full = page.len() as u32 == pull::MAX_LIMIT;
            let mut out = std::io::stdout().lock();
            for e in &page {
                writeln!(out, "{}", serde_json::to_string(e)?)?;
                after = e.id;
            }
            out.flush()?;
            drop(out);
            if full {
                continue;
            }
            if once {
                return Ok::<(), anyhow::Error>(());
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
        }
    }
    .await;
    store.close();
    result
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    let app = idbridge::App::build(cfg).await?;
    if let Some(t) = &app.generated_admin_token {
        // Printed once, to stdout, never logged: only its hash is stored.
        println!("idbridge: generated operator admin token (shown once; store it now): {}", t.expose());
    }
    app.run(shutdown_signal()).await?;
    Ok(())
}

/// SIGTERM or SIGINT: stop accepting, drain in-flight requests, exit 0.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; draining in-flight requests");
}
