//! What `GET /v1/providers` shows of one target: breaker state, window counts, recent latency
//! and the last change.

use super::{Target, registry::Entry};
use serde::Serialize;
use std::time::{Duration, Instant};
use voxgate_core::failover::BreakerState;

/// One target's health, as `GET /v1/providers` shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BreakerStatus {
    /// Provider name.
    pub provider: String,
    /// `realtime`, `stt`, `llm` or `tts`.
    pub stage: &'static str,
    /// Model.
    pub model: String,
    /// Endpoint URL.
    pub endpoint: String,
    /// `closed`, `open` or `half_open`.
    pub state: &'static str,
    /// Seconds until an open breaker lets its first probe through.
    pub open_for_seconds: Option<f64>,
    /// Requests, failures and slow calls in the breaker's window.
    pub window: WindowCounts,
    /// Median and 95th percentile latency (time to first byte or first audio) of recent requests,
    /// in milliseconds.
    pub latency_p50_ms: Option<u64>,
    /// See `latency_p50_ms`.
    pub latency_p95_ms: Option<u64>,
    /// The last state change.
    pub last_change: Option<ChangeRecord>,
}

/// Counts in a breaker's sliding window.
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
pub struct WindowCounts {
    /// Requests.
    pub calls: u32,
    /// Failed requests.
    pub failures: u32,
    /// Successful but slow requests.
    pub slow: u32,
}

/// A breaker state change.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ChangeRecord {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    /// From state.
    pub from: &'static str,
    /// To state.
    pub to: &'static str,
    /// Why (`failure_rate`, `terminal_error`, `probes_passed`, `remote`, ...).
    pub reason: &'static str,
}

pub(super) fn status(target: &Target, entry: &Entry, now: Instant) -> BreakerStatus {
    let (state, open_for) = match entry.breaker.state(now) {
        BreakerState::Closed => ("closed", None),
        BreakerState::HalfOpen => ("half_open", None),
        BreakerState::Open { until } => ("open", Some(until.saturating_duration_since(now))),
    };
    let (calls, failures, slow) = entry.breaker.window_counts(now);
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    BreakerStatus {
        provider: target.provider.clone(),
        stage: target.stage,
        model: target.model.clone(),
        endpoint: target.endpoint.clone(),
        state,
        open_for_seconds: open_for.map(|d| d.as_secs_f64()),
        window: WindowCounts {
            calls,
            failures,
            slow,
        },
        latency_p50_ms: entry.latency.percentile(50).map(millis),
        latency_p95_ms: entry.latency.p95().map(millis),
        last_change: entry.last_change.clone(),
    }
}
