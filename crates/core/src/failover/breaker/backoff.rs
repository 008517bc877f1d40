//! The breaker's cooldowns: exponential in the opens since the last close, jittered from a seed
//! (splitmix64, so a seed replays the same cooldowns), capped. It owns the exponent and the
//! random state, not the breaker's phase.

use super::BreakerConfig;
use std::time::Duration;

/// The exponent (opens since the last close) and the jitter's random state.
#[derive(Clone, Debug)]
pub(super) struct Backoff {
    opens: u32,
    rng: u64,
}

impl Backoff {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            opens: 0,
            rng: seed,
        }
    }

    /// The cooldown for the next open: `base * 2^opens * (1 ± jitter)`, capped at `max_cooldown`.
    /// It does not count the open; [`Backoff::opened`] does.
    pub(super) fn next(&mut self, config: &BreakerConfig) -> Duration {
        let exponent = i32::try_from(self.opens.min(64)).unwrap_or(64);
        let spread = 2.0 * self.next_unit() - 1.0;
        let secs = config.base_cooldown.as_secs_f64()
            * 2f64.powi(exponent)
            * (1.0 + config.jitter * spread);
        let max = config.max_cooldown;
        Duration::try_from_secs_f64(secs.min(max.as_secs_f64()))
            .unwrap_or(max)
            .min(max)
    }

    /// Counts an open (local or remote): the next cooldown doubles.
    pub(super) fn opened(&mut self) {
        self.opens = self.opens.saturating_add(1);
    }

    /// Back to `base_cooldown` after a close.
    pub(super) fn reset(&mut self) {
        self.opens = 0;
    }

    /// splitmix64, as a float in `[0, 1)`.
    fn next_unit(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}
