//! The breaker's settings, their defaults and how odd values are clamped. It owns no state.

use std::time::Duration;

/// A `Retry-After` at least this long opens the breaker (shorter ones only hold traffic back).
pub const RETRY_AFTER_OPENS: Duration = Duration::from_secs(1);

/// When a breaker opens and how long it stays open.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerConfig {
    /// Sliding window the rates are judged over (default 30 s).
    pub window: Duration,
    /// Calls the window must hold before the rates count (default 10).
    pub min_calls: u32,
    /// Open when failures / calls reaches this (default 0.5).
    pub failure_rate: f64,
    /// A success slower than this is a slow call (default 3 s).
    pub slow_call: Duration,
    /// Open when slow calls / calls reaches this (default 0.8).
    pub slow_rate: f64,
    /// Cooldown of the first open (default 5 s).
    pub base_cooldown: Duration,
    /// Longest cooldown, jitter included (default 300 s).
    pub max_cooldown: Duration,
    /// Each cooldown is scaled by a random factor in `1 ± jitter` (default 0.2).
    pub jitter: f64,
    /// Probes per half-open episode, all of which must succeed to close (default 2).
    pub probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(30),
            min_calls: 10,
            failure_rate: 0.5,
            slow_call: Duration::from_secs(3),
            slow_rate: 0.8,
            base_cooldown: Duration::from_secs(5),
            max_cooldown: Duration::from_secs(300),
            jitter: 0.2,
            probes: 2,
        }
    }
}

impl BreakerConfig {
    /// Clamps odd settings: `min_calls` and `probes` at least 1, rates and `jitter` within 0..=1
    /// (NaN is 0), `max_cooldown` at least `base_cooldown`.
    pub(super) fn normalized(self) -> Self {
        Self {
            min_calls: self.min_calls.max(1),
            failure_rate: unit(self.failure_rate),
            slow_rate: unit(self.slow_rate),
            max_cooldown: self.max_cooldown.max(self.base_cooldown),
            jitter: unit(self.jitter),
            probes: self.probes.max(1),
            ..self
        }
    }
}

fn unit(value: f64) -> f64 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(0.0, 1.0)
    }
}
