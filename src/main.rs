//! The `idbridge` command line: serve, migrate.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use idbridge::config::{self, Config, FileConfig, LogFormat};
use idbridge::secrets::Secret;

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
        /// SQLite database file.
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
    },
    /// Apply database migrations and exit.
    Migrate {
        /// SQLite database file.
        #[arg(long, env = "IDBRIDGE_DB")]
        db: Option<PathBuf>,
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
            let applied = idbridge::store::Db::migrate_only(&db)
                .with_context(|| format!("migrating {}", db.display()))?;
            println!("{}: {} migration(s) applied", db.display(), applied.len());
            Ok(())
        }
        Command::Serve { db, listen, public_url, config } => {
            let file = match &config {
                Some(p) => FileConfig::load(p).map_err(anyhow::Error::msg)?,
                None => FileConfig::default(),
            };
            let log_format = cli.log_format.or(file.log_format).unwrap_or(LogFormat::Human);
            init_logs(log_format);
            let db = db.or(file.db).unwrap_or_else(|| PathBuf::from(config::DEFAULT_DB));
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
            cfg.admin_token =
                std::env::var("IDBRIDGE_ADMIN_TOKEN").ok().filter(|t| !t.is_empty()).map(Secret::new);
            cfg.secret_key =
                std::env::var("IDBRIDGE_SECRET_KEY").ok().filter(|t| !t.is_empty()).map(Secret::new);
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(serve(cfg))
        }
    }
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
