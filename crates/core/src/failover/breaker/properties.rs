//! Property tests: whatever the sequence of calls, outcomes and clock steps, the breaker hands out
//! at most `probes` permits per half-open episode, keeps every cooldown within its bounds and
//! never admits caller traffic unless closed.

use super::*;
use proptest::prelude::*;
use std::time::Duration;

fn ms(value: u64) -> Duration {
    Duration::from_millis(value)
}

fn failed(class: ErrorClass, retry_after: Option<Duration>) -> Outcome {
    Outcome::Failure { class, retry_after }
}

#[derive(Clone, Debug)]
enum Op {
    Advance(u64),
    Admit,
    Permit,
    Record(Outcome),
    Probe(usize, Outcome),
    ForceOpen(u64),
    ForceClose,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    let class = prop_oneof![4 => Just(ErrorClass::Retryable), 1 => Just(ErrorClass::Terminal)];
    let retry_after = prop::option::weighted(0.2, (0u64..700_000).prop_map(ms));
    prop_oneof![
        (0u64..6_000).prop_map(|latency| Outcome::Success {
            latency: ms(latency)
        }),
        (class, retry_after).prop_map(|(class, retry_after)| failed(class, retry_after)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..60_000).prop_map(Op::Advance),
        3 => Just(Op::Admit),
        3 => Just(Op::Permit),
        5 => outcome().prop_map(Op::Record),
        3 => (any::<usize>(), outcome()).prop_map(|(i, o)| Op::Probe(i, o)),
        1 => (0u64..700_000).prop_map(Op::ForceOpen),
        1 => Just(Op::ForceClose),
    ]
}

fn config() -> impl Strategy<Value = BreakerConfig> {
    let rates = (0.1f64..=1.0, 0.1f64..=1.0, 1u32..15);
    let cooldowns = (100u64..10_000, 0u64..400_000, 0.0f64..0.9, 1u32..5);
    (1u64..60, rates, cooldowns).prop_map(|(window, rates, cooldowns)| BreakerConfig {
        window: Duration::from_secs(window),
        failure_rate: rates.0,
        slow_rate: rates.1,
        min_calls: rates.2,
        base_cooldown: ms(cooldowns.0),
        max_cooldown: ms(cooldowns.0 + cooldowns.1),
        jitter: cooldowns.2,
        probes: cooldowns.3,
        ..BreakerConfig::default()
    })
}

/// Checks one transition; returns whether it starts a half-open episode.
fn check(config: &BreakerConfig, transition: &Transition) -> Result<bool, TestCaseError> {
    if let Some(cooldown) = transition.cooldown {
        prop_assert!(
            cooldown <= config.max_cooldown,
            "{transition:?} over the cap"
        );
        let floor = config.base_cooldown.as_secs_f64() * (1.0 - config.jitter) - 1e-6;
        let local = transition.reason != TransitionReason::Remote;
        prop_assert!(
            !local || cooldown.as_secs_f64() >= floor,
            "{transition:?} under {floor}"
        );
    }
    Ok(transition.to == StateKind::HalfOpen)
}

proptest! {
    #[test]
    fn any_sequence_keeps_probes_cooldowns_and_admission_within_bounds(
        config in config(),
        seed in any::<u64>(),
        ops in prop::collection::vec(op(), 1..150),
    ) {
        let mut breaker = Breaker::new(config, seed);
        let mut now = crate::failover::epoch();
        let (mut permits, mut issued) = (Vec::new(), 0u32);
        for op in ops {
            let (mut admitted, mut permitted) = (false, false);
            let returned = match op {
                Op::Advance(step) => { now += ms(step); None }
                Op::Admit => { admitted = breaker.admit(now); None }
                Op::Permit => {
                    let permit = breaker.probe_permit(now);
                    permitted = permit.is_some();
                    permits.extend(permit);
                    None
                }
                Op::Record(outcome) => breaker.record(now, outcome),
                Op::Probe(_, _) if permits.is_empty() => None,
                Op::Probe(i, outcome) => {
                    let permit = permits.swap_remove(i % permits.len());
                    breaker.record_probe(now, permit, outcome)
                }
                Op::ForceOpen(ahead) => breaker.force_open(now, now + ms(ahead)),
                Op::ForceClose => breaker.force_close(now),
            };
            for transition in breaker.take_transition().iter().chain(returned.iter()) {
                if check(&config, transition)? {
                    issued = 0;
                }
            }
            issued += u32::from(permitted);
            prop_assert!(issued <= config.probes, "{issued} permits in one episode");
            let state = breaker.state(now);
            prop_assert!(!admitted || state == BreakerState::Closed, "admitted while {state:?}");
        }
    }
}
