//! What the breaker reports: its state at an instant and each change of state, with stable names
//! for logs and metrics. It owns no decision.

use std::time::{Duration, Instant};

/// The breaker's state as seen at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Caller traffic flows.
    Closed,
    /// No traffic until `until`.
    Open {
        /// End of the cooldown.
        until: Instant,
    },
    /// Probes only.
    HalfOpen,
}

/// [`BreakerState`] without its data, for transitions, logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StateKind {
    /// See [`BreakerState::Closed`].
    Closed,
    /// See [`BreakerState::Open`].
    Open,
    /// See [`BreakerState::HalfOpen`].
    HalfOpen,
}

impl StateKind {
    /// Stable name: `closed`, `open`, `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// Why a breaker changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransitionReason {
    /// Failure rate over the window reached `failure_rate`.
    FailureRate,
    /// Slow-call rate over the window reached `slow_rate`.
    SlowCallRate,
    /// A `Terminal` failure (bad key, no quota).
    TerminalError,
    /// The provider asked to wait ([`RETRY_AFTER_OPENS`] or more).
    RetryAfter,
    /// A probe failed or was too slow.
    ProbeFailed,
    /// Every probe of the episode succeeded.
    ProbesPassed,
    /// The cooldown ended.
    CooldownElapsed,
    /// Another node said so.
    Remote,
}

impl TransitionReason {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FailureRate => "failure_rate",
            Self::SlowCallRate => "slow_call_rate",
            Self::TerminalError => "terminal_error",
            Self::RetryAfter => "retry_after",
            Self::ProbeFailed => "probe_failed",
            Self::ProbesPassed => "probes_passed",
            Self::CooldownElapsed => "cooldown_elapsed",
            Self::Remote => "remote",
        }
    }
}

/// One state change, to log, count and (when local) tell other nodes about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// State before.
    pub from: StateKind,
    /// State after.
    pub to: StateKind,
    /// Why.
    pub reason: TransitionReason,
    /// How long it stays open, when `to` is `Open`.
    pub cooldown: Option<Duration>,
}
