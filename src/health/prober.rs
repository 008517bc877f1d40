//! Probing an open breaker: once its cooldown has passed, a bounded number of synthetic requests
//! (built by whoever registered the target: a realtime connect, a one-token completion, a short
//! transcription of silence, a one-word speech) decide whether it closes or stays open longer.
//! A caller's audio or words are never used as a probe.

use super::{HealthRegistry, Target};
use futures_util::future::BoxFuture;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use voxgate_core::{
    failover::{Outcome, ProbePermit},
    session::ErrorClass,
};

/// Makes one synthetic request to a target and says how it went.
pub type ProbeFn = Arc<dyn Fn() -> BoxFuture<'static, Outcome> + Send + Sync>;

/// A probe that has not answered within this long failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the prober should do next.
#[derive(Debug)]
pub(super) enum Slot {
    /// The breaker closed: stop.
    Closed,
    /// Send a probe now.
    Permit(ProbePermit),
    /// Nothing to do before then.
    WaitUntil(Instant),
}

/// Probes `target` until its breaker closes.
pub(super) fn spawn(registry: Arc<HealthRegistry>, target: Target) {
    tokio::spawn(async move {
        loop {
            match registry.probe_slot(&target) {
                Slot::Closed => return,
                Slot::WaitUntil(until) => {
                    let until = until.max(Instant::now() + Duration::from_millis(20));
                    tokio::time::sleep_until(tokio::time::Instant::from_std(until)).await;
                }
                Slot::Permit(permit) => {
                    let outcome = match registry.probe_for(&target) {
                        Some(probe) => tokio::time::timeout(PROBE_TIMEOUT, probe())
                            .await
                            .unwrap_or(Outcome::Failure {
                                class: ErrorClass::Retryable,
                                retry_after: None,
                            }),
                        // Nobody said how to probe it: it cannot be shown healthy.
                        None => Outcome::Failure {
                            class: ErrorClass::Retryable,
                            retry_after: None,
                        },
                    };
                    tracing::info!(provider = %target, ok = matches!(outcome, Outcome::Success { .. }), "Probed an open provider.");
                    registry.probe_done(&target, permit, outcome);
                }
            }
        }
    });
}
