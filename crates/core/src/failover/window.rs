//! A sliding window of event counts kept in a fixed ring of time buckets: what the breaker and the
//! retry budget count in. It owns bucketing and expiry only; it judges nothing.
//!
//! Memory is fixed at construction (at most 62 buckets) and every operation is O(buckets), so it
//! can sit on the path of every provider request. Time never runs backwards inside the window: an
//! instant older than the newest one seen counts as the newest.

use std::time::{Duration, Instant};

/// Buckets a window is split into: one per second for windows of 10 to 60 seconds.
const MIN_BUCKETS: u64 = 10;
const MAX_BUCKETS: u64 = 60;
/// The shortest window accepted; shorter ones are widened to it.
const MIN_WINDOW: Duration = Duration::from_millis(1);

/// `K` counters per bucket, summed over the trailing window.
#[derive(Clone, Debug)]
pub(super) struct Counts<const K: usize> {
    window_nanos: u128,
    width_nanos: u128,
    origin: Option<Instant>,
    latest: u128,
    buckets: Box<[Bucket<K>]>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket<const K: usize> {
    index: u128,
    counts: [u32; K],
}

/// The trailing window `(now - window, now]` summed two ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Sums<const K: usize> {
    /// Events in buckets lying wholly inside the window: never more than the true count.
    pub(super) inside: [u32; K],
    /// Events in buckets touching the window: never less than the true count.
    pub(super) touching: [u32; K],
}

impl<const K: usize> Counts<K> {
    /// An empty window of length `window` (at least 1 ms).
    pub(super) fn new(window: Duration) -> Self {
        let window_nanos = window.max(MIN_WINDOW).as_nanos();
        let buckets = window.as_secs().clamp(MIN_BUCKETS, MAX_BUCKETS);
        let width_nanos = (window_nanos / u128::from(buckets)).max(1);
        // A window of `buckets` widths touches at most `buckets + 1` of them (+1 for rounding).
        let slots = usize::try_from(buckets + 2).unwrap_or(usize::MAX);
        Self {
            window_nanos,
            width_nanos,
            origin: None,
            latest: 0,
            buckets: vec![
                Bucket {
                    index: 0,
                    counts: [0; K]
                };
                slots
            ]
            .into_boxed_slice(),
        }
    }

    /// Counts one event on `counter` (which must be `< K`) at `now`.
    pub(super) fn add(&mut self, now: Instant, counter: usize) {
        self.origin.get_or_insert(now);
        let elapsed = self.elapsed(now);
        self.latest = elapsed;
        let index = elapsed / self.width_nanos;
        let len = self.buckets.len() as u128;
        let slot = usize::try_from(index % len).unwrap_or(0);
        if let Some(bucket) = self.buckets.get_mut(slot) {
            if bucket.index != index {
                *bucket = Bucket {
                    index,
                    counts: [0; K],
                };
            }
            if let Some(count) = bucket.counts.get_mut(counter) {
                *count = count.saturating_add(1);
            }
        }
    }

    /// The counts in `(now - window, now]`.
    pub(super) fn sums(&self, now: Instant) -> Sums<K> {
        let mut sums = Sums {
            inside: [0; K],
            touching: [0; K],
        };
        let elapsed = self.elapsed(now);
        for bucket in self.buckets.iter() {
            let start = bucket.index * self.width_nanos;
            if start > elapsed {
                continue;
            }
            let inside = start + self.window_nanos > elapsed;
            let touching = start + self.width_nanos + self.window_nanos > elapsed;
            for (k, count) in bucket.counts.iter().enumerate() {
                if let (true, Some(sum)) = (inside, sums.inside.get_mut(k)) {
                    *sum = sum.saturating_add(*count);
                }
                if let (true, Some(sum)) = (touching, sums.touching.get_mut(k)) {
                    *sum = sum.saturating_add(*count);
                }
            }
        }
        sums
    }

    /// Forgets every event.
    pub(super) fn clear(&mut self) {
        for bucket in self.buckets.iter_mut() {
            bucket.counts = [0; K];
        }
    }

    /// Nanoseconds since the first event, never less than the newest seen.
    fn elapsed(&self, now: Instant) -> u128 {
        self.origin
            .map_or(0, |origin| now.saturating_duration_since(origin).as_nanos())
            .max(self.latest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(value: u64) -> Duration {
        Duration::from_secs(value)
    }

    #[test]
    fn events_leave_the_window_once_it_has_passed_them() {
        let t0 = crate::failover::epoch();
        let mut counts = Counts::<1>::new(secs(10));
        counts.add(t0, 0);
        counts.add(t0 + secs(5), 0);
        assert_eq!(counts.sums(t0 + secs(9)).inside, [2]);
        assert_eq!(counts.sums(t0 + secs(12)).inside, [1]);
        assert_eq!(counts.sums(t0 + secs(16)).touching, [0]);
    }

    #[test]
    fn inside_never_overcounts_and_touching_never_undercounts() {
        let t0 = crate::failover::epoch();
        let mut counts = Counts::<1>::new(Duration::from_millis(10_500));
        let times: Vec<Instant> = (0..400)
            .map(|i| t0 + Duration::from_millis(i * 77))
            .collect();
        for (i, &now) in times.iter().enumerate() {
            counts.add(now, 0);
            let probe = now + Duration::from_millis(31);
            let truth = times[..=i]
                .iter()
                .filter(|&&t| probe.duration_since(t) < Duration::from_millis(10_500))
                .count() as u32;
            let sums = counts.sums(probe);
            assert!(
                sums.inside[0] <= truth,
                "inside {} > {truth}",
                sums.inside[0]
            );
            assert!(
                sums.touching[0] >= truth,
                "touching {} < {truth}",
                sums.touching[0]
            );
        }
    }
}
