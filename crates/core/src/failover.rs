//! Failover policy, sans-IO: how provider health is judged and how much retrying is allowed.
//!
//! - [`LatencyWindow`]: a rolling window of first-audio latencies and its p95 (the SLO monitor's
//!   "rolling p95 over the agent's limit").
//! - [`Breaker`]: the circuit breaker of one provider, model, endpoint and key (closed, open with
//!   exponential jittered cooldowns, half-open with a fixed number of probes; `Retry-After`
//!   holds; opens and closes relayed from other nodes).
//! - [`RetryBudget`]: retries as a bounded fraction of first attempts, plus a per-second floor.
//!
//! The breaker and the budget count in the same kind of bounded sliding window (`window`: a ring
//! of time buckets). Which provider to call, and the IO of calling it, belong to the shell.
//!
//! Everything takes the time as an argument; randomness (jitter) comes from a seed, so every
//! decision is reproducible in tests.

mod breaker;
mod budget;
mod latency;
mod window;

pub use breaker::{
    Breaker, BreakerConfig, BreakerState, ProbePermit, RETRY_AFTER_OPENS, StateKind, Transition,
    TransitionReason,
};
pub use budget::{RetryBudget, RetryBudgetConfig};
pub use latency::LatencyWindow;

use crate::session::ErrorClass;
use std::time::Duration;
#[cfg(test)]
use std::time::Instant;

/// How one request to a provider went, as the breaker and the budget see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It worked; `latency` is time to first byte (or first audio).
    Success {
        /// Time to the first useful byte.
        latency: Duration,
    },
    /// It failed.
    Failure {
        /// `Terminal` (bad key, quota exhausted) opens a breaker at once.
        class: ErrorClass,
        /// The provider's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
}

/// The instant failover tests start from: the one real clock reading, everything after is virtual.
#[cfg(test)]
fn epoch() -> Instant {
    #[allow(clippy::disallowed_methods)] // the one real instant; everything after is virtual
    Instant::now()
}
