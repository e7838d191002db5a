//! One node at a time runs the deployment's background work (webhook
//! delivery, housekeeping, the SSF poller): the node that holds a
//! session-level advisory lock on a connection of its own. A thread keeps
//! trying to take it, and once held checks the connection every
//! [`CHECK_EVERY`]; when the connection is lost the server releases the
//! lock, this node stops leading at its next check, and another node takes
//! it at its next try. Two nodes may both believe they lead for at most
//! about one check interval after a connection is cut (webhook delivery is
//! at-least-once and keeps its cursor monotonic, so that costs at most a
//! duplicate delivery, never a lost one).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use postgres::Client;

/// "idbridgh": the leadership lock (the write lock's key plus one).
const LEADER_LOCK: i64 = super::super::writer::PG_WRITE_LOCK + 1;
/// How often a leader checks its connection and a follower tries the lock.
pub const CHECK_EVERY: Duration = Duration::from_millis(500);

/// Whether this node leads; shared with the thread that keeps it.
#[derive(Clone)]
pub struct Leadership {
    leading: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Leadership {
    /// Start competing for the lead of the database at `url`.
    pub fn start(url: String) -> Leadership {
        let l =
            Leadership { leading: Arc::new(AtomicBool::new(false)), stop: Arc::new(AtomicBool::new(false)) };
        let keep = l.clone();
        let spawned =
            std::thread::Builder::new().name("idbridge-leader".into()).spawn(move || keep.run(&url));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the leadership thread; this node will not run background work");
        }
        l
    }

    pub fn leading(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }

    /// Stop competing (the lock is released with the connection).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    fn run(&self, url: &str) {
        let mut client: Option<Client> = None;
        while !self.stop.load(Ordering::Acquire) {
            let held = match client.as_mut() {
                None => match super::conn::open(url) {
                    // The server notices a vanished leader within seconds and
                    // frees the lock: check the client every second, too.
                    Ok(mut c) => {
                        let _ = c.batch_execute("SET client_connection_check_interval = '1s'");
                        client = Some(c);
                        continue;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "leadership: cannot connect");
                        false
                    }
                },
                Some(c) if self.leading() => c.simple_query("SELECT 1").is_ok(),
                Some(c) => match c.query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK]) {
                    Ok(row) => row.try_get::<usize, bool>(0).unwrap_or(false),
                    Err(e) => {
                        tracing::debug!(error = %super::describe(&e), "leadership: trying the lock failed");
                        client = None;
                        false
                    }
                },
            };
            if !held && client.as_ref().is_some_and(Client::is_closed) {
                client = None;
            }
            let was = self.leading.swap(held, Ordering::AcqRel);
            if was != held {
                if held {
                    tracing::info!("this node now runs the deployment's background work");
                } else {
                    tracing::warn!("this node no longer runs the deployment's background work");
                }
            }
            std::thread::sleep(CHECK_EVERY);
        }
        self.leading.store(false, Ordering::Release);
    }
}
