//! Change events: every access change idbridge makes (grants, deprovisioning,
//! ended sessions, revoked API keys) written to the outbox table in the same
//! transaction as the change (`emit`), and read back in id order by the pull
//! API and `idbridge events tail` (`pull`). docs/events.md is the contract.

pub mod emit;
pub mod pull;
