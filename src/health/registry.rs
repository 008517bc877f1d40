//! The process-wide registry of provider health: one breaker and latency window per target, one
//! retry budget per provider, and a broadcast of every health change for running calls.

use super::{
    ProbeFn, ProviderHealth, Target, fleet, prober,
    status::{BreakerStatus, ChangeRecord, status},
};
use crate::{store::Hot, telemetry};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError, Weak},
    time::{Duration, Instant},
};
use tokio::sync::broadcast;
use voxgate_core::failover::{
    Breaker, BreakerConfig, BreakerState, LatencyWindow, Outcome, RetryBudget, RetryBudgetConfig,
    StateKind, Transition,
};

/// A target became healthy (its breaker closed) or unhealthy (it opened).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthChange {
    /// Which target.
    pub target: Target,
    /// Whether caller traffic may go to it.
    pub healthy: bool,
    /// The state change.
    pub transition: Transition,
    /// Numbers this process's changes, so each is recorded once per tenant.
    pub seq: u64,
}

/// One target's breaker and what is shown of it.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) breaker: Breaker,
    pub(super) latency: LatencyWindow,
    pub(super) last_change: Option<ChangeRecord>,
    probing: bool,
}

/// Provider health shared by every call of this process. See the module docs.
pub struct HealthRegistry {
    node: String,
    config: BreakerConfig,
    budget: RetryBudgetConfig,
    entries: Mutex<HashMap<Target, Entry>>,
    budgets: Mutex<HashMap<String, RetryBudget>>,
    probes: Mutex<HashMap<Target, ProbeFn>>,
    changes: broadcast::Sender<HealthChange>,
    seq: std::sync::atomic::AtomicU64,
    hot: Option<Arc<dyn Hot>>,
    /// Itself, for the tasks it spawns.
    this: Weak<HealthRegistry>,
}

impl std::fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthRegistry")
            .field("node", &self.node)
            .field("targets", &lock(&self.entries).len())
            .field("shared", &self.hot.is_some())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Breaker gauge value: 0 closed, 1 half-open, 2 open.
fn gauge_value(state: StateKind) -> f64 {
    match state {
        StateKind::Closed => 0.0,
        StateKind::HalfOpen => 1.0,
        StateKind::Open => 2.0,
    }
}

impl HealthRegistry {
    /// A registry for this node. With a shared `hot` store (Redis), breaker changes are
    /// published to and received from the other nodes.
    pub fn new(
        node: String,
        config: BreakerConfig,
        budget: RetryBudgetConfig,
        hot: Option<Arc<dyn Hot>>,
    ) -> Arc<Self> {
        let registry = Arc::new_cyclic(|this| Self {
            node,
            config,
            budget,
            entries: Mutex::new(HashMap::new()),
            budgets: Mutex::new(HashMap::new()),
            probes: Mutex::new(HashMap::new()),
            changes: broadcast::channel(1024).0,
            seq: std::sync::atomic::AtomicU64::new(0),
            hot: hot.filter(|hot| hot.backend() != "memory"),
            this: this.clone(),
        });
        if registry.hot.is_some() {
            fleet::follow(&registry);
        }
        registry
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    pub(super) fn hot(&self) -> Option<&Arc<dyn Hot>> {
        self.hot.as_ref()
    }

    /// Health changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<HealthChange> {
        self.changes.subscribe()
    }

    /// How to probe `target` while its breaker is open (kept from the first registration).
    pub fn register_probe(&self, target: &Target, probe: ProbeFn) {
        lock(&self.probes).entry(target.clone()).or_insert(probe);
    }

    pub(super) fn probe_for(&self, target: &Target) -> Option<ProbeFn> {
        lock(&self.probes).get(target).cloned()
    }

    /// Whether caller traffic may go to `target` (its breaker is closed).
    pub fn is_healthy(&self, target: &Target) -> bool {
        let now = Instant::now();
        let entries = lock(&self.entries);
        entries
            .get(target)
            .is_none_or(|entry| entry.breaker.state(now) == BreakerState::Closed)
    }

    /// Every known target's health, sorted.
    pub fn snapshot(&self) -> Vec<BreakerStatus> {
        let now = Instant::now();
        let entries = lock(&self.entries);
        let mut statuses: Vec<_> = entries
            .iter()
            .map(|(target, entry)| status(target, entry, now))
            .collect();
        statuses.sort_by(|a, b| {
            (&a.provider, a.stage, &a.model).cmp(&(&b.provider, b.stage, &b.model))
        });
        statuses
    }

    fn new_entry(&self, target: &Target) -> Entry {
        Entry {
            breaker: Breaker::new(self.config, Self::seed(target)),
            latency: LatencyWindow::new(100, 1),
            last_change: None,
            probing: false,
        }
    }

    fn seed(target: &Target) -> u64 {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(target)
    }

    /// Runs `f` on the target's entry (created closed if new); reports any state change.
    fn with_entry<R>(
        &self,
        target: &Target,
        f: impl FnOnce(&mut Entry, Instant) -> (R, Option<Transition>),
    ) -> R {
        self.update(target, true, f)
    }

    /// [`with_entry`](Self::with_entry) for a change this node saw (`local`) or heard of.
    fn update<R>(
        &self,
        target: &Target,
        local: bool,
        f: impl FnOnce(&mut Entry, Instant) -> (R, Option<Transition>),
    ) -> R {
        let now = Instant::now();
        let (result, transitions) = {
            let mut entries = lock(&self.entries);
            let entry = entries
                .entry(target.clone())
                .or_insert_with(|| self.new_entry(target));
            let (result, transition) = f(entry, now);
            let elapsed = entry.breaker.take_transition();
            let transitions: Vec<Transition> = elapsed.into_iter().chain(transition).collect();
            for transition in &transitions {
                entry.last_change = Some(ChangeRecord {
                    at: time::OffsetDateTime::now_utc(),
                    from: transition.from.as_str(),
                    to: transition.to.as_str(),
                    reason: transition.reason.as_str(),
                });
            }
            (result, transitions)
        };
        for transition in transitions {
            self.changed(target, &transition, local);
        }
        result
    }

    /// Reports a state change: metric, log, broadcast to calls, news to other nodes, and a
    /// prober for an open breaker.
    pub(super) fn changed(&self, target: &Target, transition: &Transition, local: bool) {
        let labels = [
            ("provider", target.provider.clone()),
            ("stage", target.stage.to_owned()),
            ("model", target.model.clone()),
        ];
        metrics::gauge!(telemetry::BREAKER_STATE, &labels).set(gauge_value(transition.to));
        tracing::warn!(
            provider = %target,
            from = transition.from.as_str(),
            to = transition.to.as_str(),
            reason = transition.reason.as_str(),
            "Provider circuit breaker changed state."
        );
        let healthy = transition.to == StateKind::Closed;
        let _ = self.changes.send(HealthChange {
            target: target.clone(),
            healthy,
            transition: *transition,
            seq: self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        });
        if local && transition.to != StateKind::HalfOpen {
            fleet::publish(self, target, transition);
        }
        if transition.to == StateKind::Open {
            self.start_prober(target);
        }
    }

    fn start_prober(&self, target: &Target) {
        let start = {
            let mut entries = lock(&self.entries);
            match entries.get_mut(target) {
                Some(entry) if !entry.probing => {
                    entry.probing = true;
                    true
                }
                _ => false,
            }
        };
        if let (true, Some(registry)) = (start, self.this.upgrade()) {
            prober::spawn(registry, target.clone());
        }
    }

    /// When the next probe of `target` may go, and a permit if one may go now.
    pub(super) fn probe_slot(&self, target: &Target) -> prober::Slot {
        self.with_entry(target, |entry, now| {
            let slot = match entry.breaker.state(now) {
                BreakerState::Closed => {
                    entry.probing = false;
                    prober::Slot::Closed
                }
                _ => match entry.breaker.probe_permit(now) {
                    Some(permit) => prober::Slot::Permit(permit),
                    None => prober::Slot::WaitUntil(
                        entry
                            .breaker
                            .next_probe_at()
                            .unwrap_or(now + Duration::from_millis(500)),
                    ),
                },
            };
            (slot, None)
        })
    }

    pub(super) fn probe_done(
        &self,
        target: &Target,
        permit: voxgate_core::failover::ProbePermit,
        outcome: Outcome,
    ) {
        self.with_entry(target, |entry, now| {
            ((), entry.breaker.record_probe(now, permit, outcome))
        });
    }

    /// Another node's news about `target`.
    pub(super) fn remote(&self, target: &Target, open_until: Option<Instant>) {
        self.update(target, false, |entry, now| {
            let transition = match open_until {
                Some(until) => entry.breaker.force_open(now, until),
                None => entry.breaker.force_close(now),
            };
            ((), transition)
        });
    }
}

impl ProviderHealth for HealthRegistry {
    fn admit(&self, target: &Target) -> bool {
        let admitted = self.with_entry(target, |entry, now| (entry.breaker.admit(now), None));
        if admitted {
            let now = Instant::now();
            lock(&self.budgets)
                .entry(target.provider.clone())
                .or_insert_with(|| RetryBudget::new(self.budget))
                .on_request(now);
        }
        admitted
    }

    fn record(&self, target: &Target, outcome: Outcome) {
        self.with_entry(target, |entry, now| {
            if let Outcome::Success { latency } = outcome {
                entry.latency.push(latency);
            }
            ((), entry.breaker.record(now, outcome))
        });
    }

    fn may_retry(&self, target: &Target) -> bool {
        let now = Instant::now();
        lock(&self.budgets)
            .entry(target.provider.clone())
            .or_insert_with(|| RetryBudget::new(self.budget))
            .try_retry(now)
    }

    fn retry_after(&self, target: &Target) -> Option<Duration> {
        let now = Instant::now();
        let entries = lock(&self.entries);
        entries
            .get(target)
            .and_then(|entry| entry.breaker.hold_until())
            .map(|until| until.saturating_duration_since(now))
            .filter(|wait| !wait.is_zero())
    }
}
