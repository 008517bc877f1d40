//! The circuit breaker for one (provider, model, endpoint, key): when to stop sending caller
//! traffic there, when to probe it again, and when to trust it again. It owns that state machine
//! and its sliding window; it sends nothing, sleeps nowhere and shares nothing across nodes (the
//! shell relays [`Breaker::force_open`] / [`Breaker::force_close`] from other nodes).
//!
//! - **Closed**: caller traffic flows ([`Breaker::admit`]). Outcomes go to [`Breaker::record`];
//!   failure and slow-call rates are judged over `window` once it holds `min_calls`. A `Terminal`
//!   failure opens at once; so does a `Retry-After` of [`RETRY_AFTER_OPENS`] or more.
//! - **Open** until its cooldown ends: `base_cooldown * 2^n` (n = opens since the last close),
//!   times `1 ± jitter`, capped at `max_cooldown`, never shorter than a `Retry-After` (up to the
//!   cap). Caller traffic is refused.
//! - **HalfOpen** once the cooldown ends: caller traffic is still refused; up to `probes`
//!   [`ProbePermit`]s go out. All must succeed (a success slower than `slow_call` fails) to close;
//!   any failure re-opens with the next, longer cooldown.
//!
//! Open → HalfOpen happens lazily: [`Breaker::state`] reports it as soon as the cooldown ends, and
//! the first `&mut` call after that records it and leaves it for [`Breaker::take_transition`]
//! (the other transitions are the return values). A `Retry-After` also sets a hold, independent
//! of the state: neither caller traffic nor probes go before it ends, even past the cooldown cap.
//!
//! Every shell-held [`ProbePermit`] must come back through [`Breaker::record_probe`]; a probe that
//! never answers is a `Retryable` failure (its timeout), or the breaker stays half-open.

use super::{Outcome, window::Counts};
use crate::session::ErrorClass;
use backoff::Backoff;
use std::time::{Duration, Instant};

mod backoff;
mod config;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
mod transition;

pub use config::{BreakerConfig, RETRY_AFTER_OPENS};
pub use transition::{BreakerState, StateKind, Transition, TransitionReason};

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
const CALLS: usize = 0;
const FAILURES: usize = 1;
const SLOW: usize = 2;

/// Leave to send one probe; give it back to [`Breaker::record_probe`]. Permits from an earlier
/// half-open episode are ignored there.
#[derive(Debug)]
#[must_use = "a probe permit must be sent and its outcome recorded"]
pub struct ProbePermit {
    episode: u64,
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Closed,
    Open {
        until: Instant,
    },
    HalfOpen {
        since: Instant,
        issued: u32,
        passed: u32,
    },
}

/// A circuit breaker; see the module docs for the state machine.
#[derive(Clone, Debug)]
pub struct Breaker {
    config: BreakerConfig,
    phase: Phase,
    counts: Counts<3>,
    backoff: Backoff,
    /// Half-open episodes started, so stale permits can be told apart.
    episode: u64,
    hold_until: Option<Instant>,
    pending: Option<Transition>,
}

impl Breaker {
    /// A closed breaker. Odd settings are clamped: `min_calls` and `probes` at least 1, rates and
    /// `jitter` within 0..=1, `max_cooldown` at least `base_cooldown`. `seed` drives the jitter.
    pub fn new(config: BreakerConfig, seed: u64) -> Self {
        let config = config.normalized();
        Self {
            counts: Counts::new(config.window),
            config,
            phase: Phase::Closed,
            backoff: Backoff::new(seed),
            episode: 0,
            hold_until: None,
            pending: None,
        }
    }

    /// The configuration in force (after clamping).
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Whether caller traffic may go: only when closed and no `Retry-After` hold is running.
    pub fn admit(&mut self, now: Instant) -> bool {
        self.advance(now);
        matches!(self.phase, Phase::Closed) && !self.held(now)
    }

    /// A probe permit, when half-open, not held, and fewer than `probes` went out this episode.
    pub fn probe_permit(&mut self, now: Instant) -> Option<ProbePermit> {
        self.advance(now);
        let held = self.held(now);
        match &mut self.phase {
            Phase::HalfOpen { issued, .. } if !held && *issued < self.config.probes => {
                *issued += 1;
                Some(ProbePermit {
                    episode: self.episode,
                })
            }
            _ => None,
        }
    }

    /// Records how a caller request went. Late outcomes that arrive while open or half-open only
    /// extend the `Retry-After` hold.
    pub fn record(&mut self, now: Instant, outcome: Outcome) -> Option<Transition> {
        self.advance(now);
        let retry_after = self.hold(now, outcome);
        if !matches!(self.phase, Phase::Closed) {
            return None;
        }
        let reason = match outcome {
            Outcome::Success { latency } => {
                self.counts.add(now, CALLS);
                if latency > self.config.slow_call {
                    self.counts.add(now, SLOW);
                }
                self.rate_reason(now)?
            }
            Outcome::Failure { class, .. } => {
                self.counts.add(now, CALLS);
                self.counts.add(now, FAILURES);
                if class == ErrorClass::Terminal {
                    TransitionReason::TerminalError
                } else if retry_after >= RETRY_AFTER_OPENS {
                    TransitionReason::RetryAfter
                } else {
                    self.rate_reason(now)?
                }
            }
        };
        Some(self.open(now, StateKind::Closed, reason, retry_after))
    }

    /// Records how a probe went: all `probes` succeeding closes, any failure re-opens for longer.
    pub fn record_probe(
        &mut self,
        now: Instant,
        permit: ProbePermit,
        outcome: Outcome,
    ) -> Option<Transition> {
        self.advance(now);
        let retry_after = self.hold(now, outcome);
        let Phase::HalfOpen { passed, .. } = &mut self.phase else {
            return None;
        };
        if permit.episode != self.episode {
            return None;
        }
        if matches!(outcome, Outcome::Success { latency } if latency <= self.config.slow_call) {
            *passed += 1;
            let done = *passed >= self.config.probes;
            return done.then(|| self.close(StateKind::HalfOpen, TransitionReason::ProbesPassed));
        }
        let reason = TransitionReason::ProbeFailed;
        Some(self.open(now, StateKind::HalfOpen, reason, retry_after))
    }

    /// Another node has this breaker open until `until` (at most `max_cooldown` from `now` is
    /// believed). Opens locally, or extends a local open; never shortens one. Like any open it
    /// bumps the exponent once, so a remote episode refreshed many times counts once.
    pub fn force_open(&mut self, now: Instant, until: Instant) -> Option<Transition> {
        self.advance(now);
        let until = until.min(later(now, self.config.max_cooldown));
        let from = match &mut self.phase {
            _ if until <= now => return None,
            Phase::Open { until: local } => {
                *local = (*local).max(until);
                return None;
            }
            Phase::Closed => StateKind::Closed,
            Phase::HalfOpen { .. } => StateKind::HalfOpen,
        };
        self.enter_open(now, until);
        Some(Transition {
            from,
            to: StateKind::Open,
            reason: TransitionReason::Remote,
            cooldown: Some(until - now),
        })
    }

    /// Another node's probes passed: close, as if ours had.
    pub fn force_close(&mut self, now: Instant) -> Option<Transition> {
        self.advance(now);
        let from = self.kind();
        (from != StateKind::Closed).then(|| self.close(from, TransitionReason::Remote))
    }

    /// The state at `now`; an open breaker whose cooldown has ended reports `HalfOpen`.
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { until } if now < until => BreakerState::Open { until },
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// When the shell's prober should next ask for a permit: the end of the cooldown (or of a
    /// longer hold) while open; while half-open with permits left, when that began (or the hold
    /// ends); `None` when closed or every permit is out.
    pub fn next_probe_at(&self) -> Option<Instant> {
        let at = match self.phase {
            Phase::Closed => return None,
            Phase::Open { until } => until,
            Phase::HalfOpen { since, issued, .. } if issued < self.config.probes => since,
            Phase::HalfOpen { .. } => return None,
        };
        Some(self.hold_until.map_or(at, |hold| hold.max(at)))
    }

    /// Caller calls in the window: `(calls, failures, slow)`.
    pub fn window_counts(&self, now: Instant) -> (u32, u32, u32) {
        let [calls, failures, slow] = self.counts.sums(now).inside;
        (calls, failures, slow)
    }

    /// When the `Retry-After` hold ends, if one was ever set (it may have passed).
    pub fn hold_until(&self) -> Option<Instant> {
        self.hold_until
    }

    /// The latest Open → HalfOpen (`CooldownElapsed`) transition not yet taken. Only the latest
    /// is kept: take it after every `&mut` call to see them all.
    pub fn take_transition(&mut self) -> Option<Transition> {
        self.pending.take()
    }

    fn kind(&self) -> StateKind {
        match self.phase {
            Phase::Closed => StateKind::Closed,
            Phase::Open { .. } => StateKind::Open,
            Phase::HalfOpen { .. } => StateKind::HalfOpen,
        }
    }

    /// Open → HalfOpen once the cooldown has ended.
    fn advance(&mut self, now: Instant) {
        if let Phase::Open { until } = self.phase
            && now >= until
        {
            self.phase = Phase::HalfOpen {
                since: until,
                issued: 0,
                passed: 0,
            };
            self.pending = Some(Transition {
                from: StateKind::Open,
                to: StateKind::HalfOpen,
                reason: TransitionReason::CooldownElapsed,
                cooldown: None,
            });
        }
    }

    fn held(&self, now: Instant) -> bool {
        self.hold_until.is_some_and(|hold| now < hold)
    }

    /// Extends the hold by the outcome's `Retry-After`; returns it (zero when none).
    fn hold(&mut self, now: Instant, outcome: Outcome) -> Duration {
        let Outcome::Failure {
            retry_after: Some(retry_after),
            ..
        } = outcome
        else {
            return Duration::ZERO;
        };
        let until = later(now, retry_after);
        self.hold_until = Some(self.hold_until.map_or(until, |hold| hold.max(until)));
        retry_after
    }

    fn rate_reason(&self, now: Instant) -> Option<TransitionReason> {
        let (calls, failures, slow) = self.window_counts(now);
        if calls < self.config.min_calls {
            return None;
        }
        let calls = f64::from(calls);
        if f64::from(failures) / calls >= self.config.failure_rate {
            Some(TransitionReason::FailureRate)
        } else if f64::from(slow) / calls >= self.config.slow_rate {
            Some(TransitionReason::SlowCallRate)
        } else {
            None
        }
    }

    fn open(
        &mut self,
        now: Instant,
        from: StateKind,
        reason: TransitionReason,
        at_least: Duration,
    ) -> Transition {
        let cooldown = self
            .backoff
            .next(&self.config)
            .max(at_least)
            .min(self.config.max_cooldown);
        self.enter_open(now, later(now, cooldown));
        Transition {
            from,
            to: StateKind::Open,
            reason,
            cooldown: Some(cooldown),
        }
    }

    fn enter_open(&mut self, now: Instant, until: Instant) {
        self.phase = Phase::Open {
            until: until.max(now),
        };
        self.backoff.opened();
        self.episode += 1;
    }

    fn close(&mut self, from: StateKind, reason: TransitionReason) -> Transition {
        self.phase = Phase::Closed;
        self.backoff.reset();
        self.episode += 1;
        self.counts.clear();
        Transition {
            from,
            to: StateKind::Closed,
            reason,
            cooldown: None,
        }
    }
}

/// `now + duration`, with absurd durations (a bogus `Retry-After`) cut to a year so nothing
/// overflows.
fn later(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration.min(YEAR)).unwrap_or(now)
}
