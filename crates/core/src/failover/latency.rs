//! A rolling window of latencies and its 95th percentile.

use std::{collections::VecDeque, time::Duration};

/// The last `capacity` latencies. [`LatencyWindow::p95`] needs `min_samples` of them, so one slow
/// turn early in a call is not a trend.
#[derive(Clone, Debug)]
pub struct LatencyWindow {
    samples: VecDeque<Duration>,
    capacity: usize,
    min_samples: usize,
}

impl LatencyWindow {
    /// A window of the last `capacity` samples that reports once it holds `min_samples`.
    pub fn new(capacity: usize, min_samples: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            samples: VecDeque::with_capacity(capacity),
            capacity,
            min_samples: min_samples.clamp(1, capacity),
        }
    }

    /// Adds a sample, forgetting the oldest beyond the capacity.
    pub fn push(&mut self, latency: Duration) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(latency);
    }

    /// Samples held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no sample is held.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The nearest-rank 95th percentile, once there are enough samples.
    pub fn p95(&self) -> Option<Duration> {
        self.percentile(95)
    }

    /// The nearest-rank `percent`th percentile (1..=100), once there are enough samples.
    pub fn percentile(&self, percent: u8) -> Option<Duration> {
        if self.samples.len() < self.min_samples {
            return None;
        }
        let mut sorted: Vec<Duration> = self.samples.iter().copied().collect();
        sorted.sort_unstable();
        let percent = usize::from(percent.clamp(1, 100));
        let rank = (percent * sorted.len()).div_ceil(100);
        sorted.get(rank.saturating_sub(1)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    #[test]
    fn p95_waits_for_the_minimum_volume() {
        let mut window = LatencyWindow::new(20, 5);
        for _ in 0..4 {
            window.push(ms(100));
        }
        assert_eq!(window.p95(), None);
        window.push(ms(100));
        assert_eq!(window.p95(), Some(ms(100)));
    }

    #[test]
    fn p95_is_the_nearest_rank() {
        let mut window = LatencyWindow::new(100, 1);
        for value in 1..=100 {
            window.push(ms(value));
        }
        assert_eq!(window.p95(), Some(ms(95)));
        assert_eq!(window.percentile(50), Some(ms(50)));
        assert_eq!(window.percentile(100), Some(ms(100)));
    }

    #[test]
    fn old_samples_leave_the_window() {
        let mut window = LatencyWindow::new(3, 1);
        for value in [5000, 10, 20, 30] {
            window.push(ms(value));
        }
        assert_eq!(window.len(), 3);
        assert_eq!(window.p95(), Some(ms(30)));
    }
}
