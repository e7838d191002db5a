//! Configuration: command-line flags, then IDBRIDGE_* environment variables,
//! then an optional TOML file, then defaults — in that order of precedence.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::secrets::Secret;

/// Default database file.
pub const DEFAULT_DB: &str = "./idbridge.db";
/// Default listen address: loopback only, until the operator says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default body limit on /admin (1 MiB): mapping documents are the largest bodies.
pub const DEFAULT_ADMIN_BODY_LIMIT: usize = 1024 * 1024;
/// Default retention of change events (docs/events.md), in days.
pub const DEFAULT_EVENT_RETENTION_DAYS: u32 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// The optional TOML file (`--config FILE`); every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub db: Option<PathBuf>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub log_format: Option<LogFormat>,
    pub admin_body_limit: Option<usize>,
    pub secret_key_file: Option<PathBuf>,
    /// Absolute session lifetime in seconds (default 28800 = 8 h).
    pub session_lifetime_secs: Option<u64>,
    /// Session idle timeout in seconds (default 3600).
    pub session_idle_secs: Option<u64>,
    /// Let outbound fetches of admin-API URLs reach private, link-local and
    /// shared (CGNAT) addresses (default false).
    pub outbound_allow_private: Option<bool>,
    /// Days change events are kept before housekeeping purges them (default 30).
    pub event_retention_days: Option<u32>,
    /// SCIM requests in flight per node before 429 (default 256; 0: unbounded).
    pub scim_max_in_flight: Option<usize>,
    /// Queued store writes beyond which a SCIM write gets 429 (default 256; 0: unbounded).
    pub scim_max_write_queue: Option<usize>,
    /// Per-token SCIM requests per second, per node (default 0: off).
    pub scim_token_rate: Option<f64>,
    /// Per-token burst (default 0: the rate rounded up).
    pub scim_token_burst: Option<u32>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Everything the server needs, resolved.
#[derive(Clone, Debug)]
pub struct Config {
    pub db: PathBuf,
    pub listen: SocketAddr,
    /// None: `http://<bound address>`.
    pub public_url: Option<String>,
    pub admin_token: Option<Secret>,
    pub secret_key: Option<Secret>,
    /// Where the generated secret key lives when IDBRIDGE_SECRET_KEY is unset.
    pub secret_key_file: PathBuf,
    pub log_format: LogFormat,
    pub admin_body_limit: usize,
    pub session: crate::session::SessionConfig,
    /// Outbound fetches of URLs given through the admin API (IdP metadata,
    /// OpenID Provider) may reach private, link-local and shared addresses.
    /// Secure default: false — only public addresses and loopback. Cloud
    /// metadata services are refused even when true.
    pub outbound_allow_private: bool,
    /// Change events older than this many days are purged (every minute).
    pub event_retention_days: u32,
    /// Webhook retry timings (production defaults; tests shorten them).
    pub webhook_delivery: crate::webhooks::DeliverySettings,
    /// SCIM load shedding and the per-token rate limit (scim/shed.rs).
    pub scim_shed: crate::scim::shed::ShedSettings,
}

impl Config {
    /// A config for `db` with every other value at its default.
    pub fn for_db(db: impl Into<PathBuf>) -> Config {
        let db = db.into();
        Config {
            secret_key_file: key_file_beside(&db),
            db,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            admin_token: None,
            secret_key: None,
            log_format: LogFormat::Human,
            admin_body_limit: DEFAULT_ADMIN_BODY_LIMIT,
            session: crate::session::SessionConfig::default(),
            outbound_allow_private: false,
            event_retention_days: DEFAULT_EVENT_RETENTION_DAYS,
            webhook_delivery: crate::webhooks::DeliverySettings::default(),
            scim_shed: crate::scim::shed::ShedSettings::default(),
        }
    }

    /// How long change events are kept.
    pub fn event_retention(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.event_retention_days) * 24 * 3600)
    }

    /// The outbound policy for URLs given through the admin API.
    pub fn outbound_policy(&self) -> crate::outbound::Policy {
        crate::outbound::Policy::operator(self.outbound_allow_private)
    }
}

/// Where the data lives, as a `--db` / IDBRIDGE_DB / `db =` value names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbLocation {
    /// An embedded SQLite file (the default).
    File(PathBuf),
    /// A PostgreSQL database: a `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl DbLocation {
    /// A value starting with `postgres://` or `postgresql://` is a URL;
    /// anything else is a file path, as before.
    pub fn parse(value: &Path) -> DbLocation {
        match value.to_str() {
            Some(s) if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
                DbLocation::Postgres(s.to_string())
            }
            _ => DbLocation::File(value.to_path_buf()),
        }
    }
}

/// `idbridge.db` → `idbridge.db.key`.
pub fn key_file_beside(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "idbridge.db".into());
    name.push(".key");
    db.with_file_name(name)
}

/// Validate a public URL: absolute http(s), no query or fragment; trailing slash removed.
pub fn normalize_public_url(url: &str) -> Result<String, String> {
    let u = url.trim().trim_end_matches('/');
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
        .ok_or_else(|| format!("public URL {url:?} must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains(['?', '#', ' ']) || rest.starts_with('/') {
        return Err(format!("public URL {url:?} must be scheme://host[:port][/path] without query"));
    }
    Ok(u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_sits_beside_the_db() {
        assert_eq!(key_file_beside(Path::new("/var/lib/x/id.db")), PathBuf::from("/var/lib/x/id.db.key"));
        assert_eq!(key_file_beside(Path::new("id.db")), PathBuf::from("id.db.key"));
    }

    #[test]
    fn db_values_are_urls_or_files() {
        let url = "postgres://u:p@h:5432/d";
        assert_eq!(DbLocation::parse(Path::new(url)), DbLocation::Postgres(url.into()));
        let url = "postgresql://u@h/d";
        assert_eq!(DbLocation::parse(Path::new(url)), DbLocation::Postgres(url.into()));
        for file in ["./idbridge.db", "/var/lib/postgres/idbridge.db", "postgres.db", "postgres:/x"] {
            assert_eq!(DbLocation::parse(Path::new(file)), DbLocation::File(file.into()));
        }
    }

    #[test]
    fn public_urls() {
        assert_eq!(
            normalize_public_url("https://sso.example.com/").as_deref(),
            Ok("https://sso.example.com")
        );
        assert_eq!(normalize_public_url("http://127.0.0.1:8080").as_deref(), Ok("http://127.0.0.1:8080"));
        assert!(normalize_public_url("ftp://x").is_err());
        assert!(normalize_public_url("https://x?y=1").is_err());
        assert!(normalize_public_url("https:///x").is_err());
    }
}
