//! Failover policy, sans-IO: how provider health is judged and how much retrying is allowed.
//!
//! - [`LatencyWindow`]: a rolling window of first-audio latencies and its p95 (the SLO monitor's
//!   "rolling p95 over the agent's limit").
//! - `Breaker` (per provider, model, endpoint and key) and `RetryBudget` live beside it.
//!
//! Everything takes the time as an argument; randomness (jitter) comes from a seed, so every
//! decision is reproducible in tests.

mod latency;

pub use latency::LatencyWindow;

use crate::session::ErrorClass;
use std::time::Duration;

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
