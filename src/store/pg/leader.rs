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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use postgres::Client;

/// "idbridgh": the leadership lock (the write lock's key plus one).
const LEADER_LOCK: i64 = super::super::writer::PG_WRITE_LOCK + 1;
/// How often a leader checks its connection and a follower tries the lock.
pub const CHECK_EVERY: Duration = Duration::from_millis(500);

/// Whether this node leads. Clones share one state; the thread that keeps
/// the lock holds it weakly and ends (closing its connection, which releases
/// the lock) once every handle is gone or `stop` was called.
#[derive(Clone)]
pub struct Leadership {
    shared: Arc<Shared>,
}

struct Shared {
    leading: AtomicBool,
    stop: AtomicBool,
}

impl Leadership {
    /// Start competing for the lead of the database at `url`.
    pub fn start(url: String) -> Leadership {
        let shared = Arc::new(Shared { leading: AtomicBool::new(false), stop: AtomicBool::new(false) });
        let weak = Arc::downgrade(&shared);
        let spawned =
            std::thread::Builder::new().name("idbridge-leader".into()).spawn(move || run(&weak, &url));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the leadership thread; this node will not run background work");
        }
        Leadership { shared }
    }

    pub fn leading(&self) -> bool {
        self.shared.leading.load(Ordering::Acquire)
    }

    /// Stop competing (the lock is released with the connection).
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.leading.store(false, Ordering::Release);
    }
}

/// The handles' state, while a handle is left and none said stop.
fn alive(weak: &Weak<Shared>) -> Option<Arc<Shared>> {
    weak.upgrade().filter(|s| !s.stop.load(Ordering::Acquire))
}

fn run(weak: &Weak<Shared>, url: &str) {
    let mut client: Option<Client> = None;
    while let Some(this) = alive(weak) {
        let leading = this.leading.load(Ordering::Acquire);
        let held = match client.as_mut() {
            None => match super::conn::open(url) {
                // The server notices a vanished leader within seconds and frees
                // the lock; have it check the client every second, too.
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
            Some(c) if leading => c.simple_query("SELECT 1").is_ok(),
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
        let was = this.leading.swap(held, Ordering::AcqRel);
        if was != held {
            if held {
                tracing::info!("this node now runs the deployment's background work");
            } else {
                tracing::warn!("this node no longer runs the deployment's background work");
            }
        }
        drop(this);
        std::thread::sleep(CHECK_EVERY);
    }
}
