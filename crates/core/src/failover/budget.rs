//! The retry budget (Finagle/Envoy style): retries may add at most `ratio` of the first attempts
//! seen in a sliding window, plus a small per-second floor so quiet traffic can still retry. It
//! owns the counting and the yes/no; which request to retry, and when, belongs to the caller.
//!
//! Guarantee: whenever a retry is granted at `t`, the retries granted in `(t - window, t]`
//! (that one included) are at most `ratio * first_attempts + min_per_second * window_seconds`,
//! both counted in the same `(t - window, t]`. Retries are over-counted and first attempts
//! under-counted at the bucket edges (see the `window` module), so the bound holds exactly, and the
//! cost is at most one bucket (a tenth of the window or less) of slack.

use super::window::Counts;
use std::time::{Duration, Instant};

const REQUESTS: usize = 0;
const RETRIES: usize = 1;

/// How much retrying is allowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryBudgetConfig {
    /// Retries as a fraction of first attempts in the window (default 0.1).
    pub ratio: f64,
    /// Retries per second allowed whatever the traffic (default 1.0).
    pub min_per_second: f64,
    /// The sliding window both are counted over (default 10 s).
    pub window: Duration,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self {
            ratio: 0.1,
            min_per_second: 1.0,
            window: Duration::from_secs(10),
        }
    }
}

/// One budget, shared by every call path that retries against the same upstream.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    config: RetryBudgetConfig,
    counts: Counts<2>,
}

impl RetryBudget {
    /// An empty budget. A negative or NaN ratio or floor counts as 0; the window is at least 1 ms.
    pub fn new(config: RetryBudgetConfig) -> Self {
        let config = RetryBudgetConfig {
            ratio: non_negative(config.ratio),
            min_per_second: non_negative(config.min_per_second),
            window: config.window.max(Duration::from_millis(1)),
        };
        Self {
            config,
            counts: Counts::new(config.window),
        }
    }

    /// The configuration in force (after clamping).
    pub fn config(&self) -> &RetryBudgetConfig {
        &self.config
    }

    /// Counts a first attempt (never a retry).
    pub fn on_request(&mut self, now: Instant) {
        self.counts.add(now, REQUESTS);
    }

    /// Spends one retry if the budget allows it; `false` means do not retry.
    pub fn try_retry(&mut self, now: Instant) -> bool {
        let sums = self.counts.sums(now);
        let requests = f64::from(sums.inside[REQUESTS]);
        let retries = f64::from(sums.touching[RETRIES]);
        let allowed = self.config.ratio * requests
            + self.config.min_per_second * self.config.window.as_secs_f64();
        if retries + 1.0 > allowed {
            return false;
        }
        self.counts.add(now, RETRIES);
        true
    }
}

fn non_negative(value: f64) -> f64 {
    if value.is_finite() && value > 0.0 {
        value
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn budget(ratio: f64, min_per_second: f64, window_secs: u64) -> RetryBudget {
        RetryBudget::new(RetryBudgetConfig {
            ratio,
            min_per_second,
            window: Duration::from_secs(window_secs),
        })
    }

    fn grants(budget: &mut RetryBudget, now: Instant, tries: usize) -> usize {
        (0..tries).filter(|_| budget.try_retry(now)).count()
    }

    #[test]
    fn quiet_traffic_can_still_retry_up_to_the_floor() {
        let t0 = crate::failover::epoch();
        let mut budget = budget(0.1, 1.0, 10);
        budget.on_request(t0);
        assert_eq!(grants(&mut budget, t0, 50), 10);
    }

    #[test]
    fn busy_traffic_retries_at_most_the_ratio_above_the_floor() {
        let t0 = crate::failover::epoch();
        let mut budget = budget(0.1, 0.0, 10);
        for _ in 0..1000 {
            budget.on_request(t0);
        }
        assert_eq!(grants(&mut budget, t0, 500), 100);
    }

    #[test]
    fn spent_retries_come_back_once_the_window_passes() {
        let t0 = crate::failover::epoch();
        let mut budget = budget(0.0, 1.0, 10);
        assert_eq!(grants(&mut budget, t0, 20), 10);
        assert_eq!(grants(&mut budget, t0 + Duration::from_secs(5), 20), 0);
        assert_eq!(grants(&mut budget, t0 + Duration::from_secs(12), 20), 10);
    }

    #[test]
    fn a_zero_budget_never_retries() {
        let t0 = crate::failover::epoch();
        let mut budget = budget(f64::NAN, -1.0, 10);
        budget.on_request(t0);
        assert!(!budget.try_retry(t0));
    }

    proptest! {
        #[test]
        fn retries_stay_within_ratio_and_floor_over_every_trailing_window(
            ratio in 0.0f64..0.5,
            min_per_second in 0.0f64..3.0,
            window_ms in 1_000u64..20_000,
            steps in prop::collection::vec((0u64..1_500, any::<bool>(), 1usize..20), 1..120),
        ) {
            let window = Duration::from_millis(window_ms);
            let mut budget = RetryBudget::new(RetryBudgetConfig { ratio, min_per_second, window });
            let t0 = crate::failover::epoch();
            let mut now = t0;
            let (mut requests, mut retries) = (Vec::new(), Vec::new());
            for (advance_ms, is_retry, times) in steps {
                now += Duration::from_millis(advance_ms);
                for _ in 0..times {
                    if !is_retry {
                        budget.on_request(now);
                        requests.push(now);
                    } else if budget.try_retry(now) {
                        retries.push(now);
                        let in_window = |t: &&Instant| now.duration_since(**t) < window;
                        let granted = retries.iter().filter(in_window).count() as f64;
                        let seen = requests.iter().filter(in_window).count() as f64;
                        let bound = ratio * seen + min_per_second * window.as_secs_f64() + 1.0;
                        prop_assert!(granted <= bound, "{granted} retries > {bound}");
                    }
                }
            }
        }
    }
}
