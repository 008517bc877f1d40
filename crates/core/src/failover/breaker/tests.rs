use super::*;

fn secs(value: u64) -> Duration {
    Duration::from_secs(value)
}

fn ms(value: u64) -> Duration {
    Duration::from_millis(value)
}

fn steady() -> BreakerConfig {
    BreakerConfig {
        jitter: 0.0,
        ..BreakerConfig::default()
    }
}

fn fast() -> Outcome {
    Outcome::Success { latency: ms(200) }
}

fn slow() -> Outcome {
    Outcome::Success { latency: secs(4) }
}

fn failed(class: ErrorClass, retry_after: Option<Duration>) -> Outcome {
    Outcome::Failure { class, retry_after }
}

fn retryable() -> Outcome {
    failed(ErrorClass::Retryable, None)
}

/// A breaker opened by a terminal error at `t0`, with a `base_cooldown` (5 s) cooldown.
fn opened(config: BreakerConfig, t0: Instant) -> Breaker {
    let mut breaker = Breaker::new(config, 7);
    let opened = breaker.record(t0, failed(ErrorClass::Terminal, None));
    assert_eq!(opened.map(|t| t.to), Some(StateKind::Open));
    breaker
}

fn cooldown(transition: Option<Transition>) -> Option<Duration> {
    transition.and_then(|t| t.cooldown)
}

#[test]
fn failures_open_it_only_once_the_window_holds_the_minimum_volume() {
    let t0 = crate::failover::epoch();
    let mut breaker = Breaker::new(steady(), 1);
    for i in 0..9 {
        assert_eq!(breaker.record(t0 + ms(i), retryable()), None);
    }
    assert!(breaker.admit(t0 + ms(9)));
    let opened = breaker.record(t0 + ms(10), retryable());
    assert_eq!(
        opened.map(|t| t.reason),
        Some(TransitionReason::FailureRate)
    );
    assert_eq!(opened.and_then(|t| t.cooldown), Some(secs(5)));
    assert!(!breaker.admit(t0 + ms(11)));
    assert_eq!(breaker.window_counts(t0 + ms(11)), (10, 10, 0));
}

#[test]
fn a_failure_rate_below_the_threshold_keeps_it_closed() {
    let t0 = crate::failover::epoch();
    let mut breaker = Breaker::new(steady(), 1);
    for outcome in [fast(), retryable()].into_iter().cycle().take(9) {
        assert_eq!(breaker.record(t0, outcome), None);
    }
    assert_eq!(breaker.record(t0, fast()), None);
    assert_eq!(breaker.state(t0), BreakerState::Closed);
}

#[test]
fn failures_that_left_the_window_no_longer_count() {
    let t0 = crate::failover::epoch();
    let mut breaker = Breaker::new(steady(), 1);
    for _ in 0..9 {
        breaker.record(t0, retryable());
    }
    assert_eq!(breaker.record(t0 + secs(31), retryable()), None);
    assert_eq!(breaker.window_counts(t0 + secs(31)), (1, 1, 0));
}

#[test]
fn slow_calls_open_it_once_they_reach_the_slow_rate() {
    let t0 = crate::failover::epoch();
    let mut breaker = Breaker::new(steady(), 1);
    for outcome in [fast(), fast()].into_iter().chain([slow(); 7]) {
        assert_eq!(breaker.record(t0, outcome), None);
    }
    let opened = breaker.record(t0, slow());
    assert_eq!(
        opened.map(|t| t.reason),
        Some(TransitionReason::SlowCallRate)
    );
    assert_eq!(breaker.window_counts(t0), (10, 0, 8));
}

#[test]
fn a_terminal_error_opens_it_at_once() {
    let t0 = crate::failover::epoch();
    let mut breaker = Breaker::new(steady(), 1);
    let opened = breaker.record(t0, failed(ErrorClass::Terminal, None));
    assert_eq!(
        opened,
        Some(Transition {
            from: StateKind::Closed,
            to: StateKind::Open,
            reason: TransitionReason::TerminalError,
            cooldown: Some(secs(5)),
        })
    );
    assert_eq!(
        breaker.state(t0),
        BreakerState::Open {
            until: t0 + secs(5)
        }
    );
    assert_eq!(breaker.next_probe_at(), Some(t0 + secs(5)));
}

#[test]
fn a_short_retry_after_holds_caller_traffic_until_it_ends_without_opening() {
    let t0 = crate::failover::epoch();
    let mut breaker = Breaker::new(steady(), 1);
    let hold = failed(ErrorClass::Retryable, Some(ms(800)));
    assert_eq!(breaker.record(t0, hold), None);
    assert_eq!(breaker.state(t0), BreakerState::Closed);
    assert!(!breaker.admit(t0 + ms(799)));
    assert!(breaker.admit(t0 + ms(800)));
}

#[test]
fn a_long_retry_after_opens_it_for_at_least_that_long() {
    let t0 = crate::failover::epoch();
    let mut breaker = Breaker::new(steady(), 1);
    let opened = breaker.record(t0, failed(ErrorClass::Retryable, Some(secs(20))));
    assert_eq!(opened.map(|t| t.reason), Some(TransitionReason::RetryAfter));
    assert_eq!(cooldown(opened), Some(secs(20)));
    assert!(breaker.probe_permit(t0 + secs(19)).is_none());
    assert!(breaker.probe_permit(t0 + secs(20)).is_some());
}

#[test]
fn a_retry_after_beyond_the_cap_holds_probes_past_the_cooldown() {
    let t0 = crate::failover::epoch();
    let mut breaker = Breaker::new(steady(), 1);
    let opened = breaker.record(t0, failed(ErrorClass::Retryable, Some(secs(600))));
    assert_eq!(cooldown(opened), Some(secs(300)));
    assert_eq!(breaker.next_probe_at(), Some(t0 + secs(600)));
    assert_eq!(breaker.state(t0 + secs(300)), BreakerState::HalfOpen);
    assert!(breaker.probe_permit(t0 + secs(300)).is_none());
    assert!(breaker.probe_permit(t0 + secs(600)).is_some());
}

#[test]
fn half_open_never_admits_caller_traffic() {
    let t0 = crate::failover::epoch();
    let mut breaker = opened(steady(), t0);
    assert!(!breaker.admit(t0 + secs(4)));
    assert_eq!(breaker.take_transition(), None);
    assert!(!breaker.admit(t0 + secs(5)));
    assert_eq!(breaker.state(t0 + secs(5)), BreakerState::HalfOpen);
    let elapsed = breaker.take_transition();
    assert_eq!(
        elapsed.map(|t| t.reason),
        Some(TransitionReason::CooldownElapsed)
    );
    let _permit = breaker.probe_permit(t0 + secs(5));
    assert!(!breaker.admit(t0 + secs(6)));
}

#[test]
fn each_failed_probe_reopens_it_for_longer_up_to_the_cap() {
    let t0 = crate::failover::epoch();
    let mut breaker = opened(steady(), t0);
    let mut now = t0 + secs(5);
    for expected in [10, 20, 40, 80, 160, 300, 300] {
        let permit = breaker
            .probe_permit(now)
            .expect("half-open after the cooldown");
        let reopened = breaker.record_probe(now, permit, retryable());
        assert_eq!(
            reopened.map(|t| t.reason),
            Some(TransitionReason::ProbeFailed)
        );
        assert_eq!(cooldown(reopened), Some(secs(expected)));
        now += secs(expected);
    }
}

#[test]
fn a_slow_probe_counts_as_a_failed_one() {
    let t0 = crate::failover::epoch();
    let mut breaker = opened(steady(), t0);
    let permit = breaker.probe_permit(t0 + secs(5)).expect("half-open");
    let reopened = breaker.record_probe(t0 + secs(9), permit, slow());
    assert_eq!(
        reopened.map(|t| t.reason),
        Some(TransitionReason::ProbeFailed)
    );
}

#[test]
fn passing_every_probe_closes_it_and_resets_the_backoff_and_the_window() {
    let t0 = crate::failover::epoch();
    let mut breaker = opened(steady(), t0);
    let now = t0 + secs(5);
    let first = breaker.probe_permit(now).expect("first probe");
    let second = breaker.probe_permit(now).expect("second probe");
    assert!(
        breaker.probe_permit(now).is_none(),
        "only `probes` permits per episode"
    );
    assert_eq!(breaker.next_probe_at(), None);
    assert_eq!(breaker.record_probe(now, first, fast()), None);
    let closed = breaker.record_probe(now, second, fast());
    assert_eq!(
        closed.map(|t| t.reason),
        Some(TransitionReason::ProbesPassed)
    );
    assert!(breaker.admit(now));
    assert_eq!(breaker.window_counts(now), (0, 0, 0));
    let reopened = breaker.record(now, failed(ErrorClass::Terminal, None));
    assert_eq!(cooldown(reopened), Some(secs(5)));
}

#[test]
fn a_permit_from_an_earlier_episode_is_ignored() {
    let t0 = crate::failover::epoch();
    let mut breaker = opened(steady(), t0);
    let stale = breaker.probe_permit(t0 + secs(5)).expect("first episode");
    let failing = breaker.probe_permit(t0 + secs(5)).expect("first episode");
    breaker.record_probe(t0 + secs(5), failing, retryable());
    let _fresh = breaker.probe_permit(t0 + secs(15)).expect("second episode");
    assert_eq!(breaker.record_probe(t0 + secs(15), stale, fast()), None);
    assert_eq!(breaker.state(t0 + secs(15)), BreakerState::HalfOpen);
}

#[test]
fn a_remote_open_extends_a_local_one_but_never_shortens_it() {
    let t0 = crate::failover::epoch();
    let mut breaker = Breaker::new(steady(), 1);
    let opened = breaker.force_open(t0, t0 + secs(30));
    assert_eq!(opened.map(|t| t.reason), Some(TransitionReason::Remote));
    assert_eq!(cooldown(opened), Some(secs(30)));
    assert_eq!(breaker.force_open(t0, t0 + secs(10)), None);
    assert_eq!(
        breaker.state(t0),
        BreakerState::Open {
            until: t0 + secs(30)
        }
    );
    assert_eq!(breaker.force_open(t0, t0 + secs(40)), None);
    assert_eq!(
        breaker.state(t0),
        BreakerState::Open {
            until: t0 + secs(40)
        }
    );
    assert_eq!(breaker.force_open(t0, t0 + secs(4000)), None);
    assert_eq!(breaker.next_probe_at(), Some(t0 + secs(300)));
}

#[test]
fn a_remote_episode_raises_the_backoff_exponent_once() {
    let t0 = crate::failover::epoch();
    let mut breaker = Breaker::new(steady(), 1);
    for extra in [10, 20, 30] {
        breaker.force_open(t0, t0 + secs(extra));
    }
    let permit = breaker.probe_permit(t0 + secs(30)).expect("half-open");
    let reopened = breaker.record_probe(t0 + secs(30), permit, retryable());
    assert_eq!(cooldown(reopened), Some(secs(10)));
}

#[test]
fn a_remote_close_closes_it_from_open_or_half_open() {
    let t0 = crate::failover::epoch();
    let mut breaker = opened(steady(), t0);
    let closed = breaker.force_close(t0 + secs(1));
    assert_eq!(
        closed.map(|t| (t.from, t.reason)),
        Some((StateKind::Open, TransitionReason::Remote))
    );
    assert!(breaker.admit(t0 + secs(1)));
    assert_eq!(breaker.force_close(t0 + secs(1)), None);
    breaker.record(t0 + secs(2), failed(ErrorClass::Terminal, None));
    let closed = breaker.force_close(t0 + secs(8));
    assert_eq!(closed.map(|t| t.from), Some(StateKind::HalfOpen));
}

#[test]
fn jitter_spreads_cooldowns_within_bounds_and_seeds_reproduce_them() {
    let t0 = crate::failover::epoch();
    let config = BreakerConfig::default();
    let first_cooldowns = |seed| {
        let mut breaker = Breaker::new(config, seed);
        cooldown(breaker.record(t0, failed(ErrorClass::Terminal, None)))
    };
    let spread: Vec<_> = (0..50).filter_map(first_cooldowns).collect();
    assert!(spread.iter().all(|d| (secs(4)..=secs(6)).contains(d)));
    assert!(
        spread.iter().any(|d| *d != spread[0]),
        "jitter varies with the seed"
    );
    assert_eq!(first_cooldowns(3), first_cooldowns(3));
}

#[test]
fn names_are_stable() {
    assert_eq!(StateKind::HalfOpen.as_str(), "half_open");
    assert_eq!(TransitionReason::SlowCallRate.as_str(), "slow_call_rate");
    assert_eq!(
        TransitionReason::CooldownElapsed.as_str(),
        "cooldown_elapsed"
    );
}
