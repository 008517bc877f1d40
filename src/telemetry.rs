//! Logging and metrics: the tracing subscriber, the Prometheus recorder, and every metric name.
//!
//! Metric names are constants here so that dashboards and code agree. Labels never carry ids,
//! phone numbers or other personal data.

use crate::config::{LogConfig, LogFormat};
use axum::http::StatusCode;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::{sync::OnceLock, time::Duration};

/// HTTP requests by method, route template and status.
pub const HTTP_REQUESTS_TOTAL: &str = "voxgate_http_requests_total";
/// HTTP request latency by route template.
pub const HTTP_REQUEST_SECONDS: &str = "voxgate_http_request_duration_seconds";
/// Incidents recorded, by failure mode and action.
pub const INCIDENTS_TOTAL: &str = "voxgate_incidents_total";
/// Calls in progress on this node.
pub const CALLS_ACTIVE: &str = "voxgate_calls_active";
/// Caller audio frames received.
pub const AUDIO_FRAMES_IN: &str = "voxgate_audio_frames_in_total";
/// Agent audio frames sent to callers.
pub const AUDIO_FRAMES_OUT: &str = "voxgate_audio_frames_out_total";
/// End of caller speech → first agent audio, per turn.
pub const TURN_FIRST_AUDIO_SECONDS: &str = "voxgate_turn_first_audio_seconds";
/// Time voxgate takes to handle one call input: from taking it off its channel to handing every
/// resulting output on (a summary: quantiles over the last minute).
pub const EVENT_HANDLING_SECONDS: &str = "voxgate_event_handling_seconds";
/// Provider response started → its first audio.
pub const PROVIDER_FIRST_AUDIO_SECONDS: &str = "voxgate_provider_first_audio_seconds";
/// Provider rate-limit headroom, by limit (`requests`, `tokens`).
pub const PROVIDER_RATE_LIMIT_REMAINING: &str = "voxgate_provider_rate_limit_remaining";
/// Barge-ins (caller spoke over the agent).
pub const BARGE_INS_TOTAL: &str = "voxgate_barge_ins_total";
/// Calls moved between paths, by `from` and `to` mode and `reason`.
pub const MODE_SWITCHES_TOTAL: &str = "voxgate_mode_switches_total";
/// Failover: failure detected → first agent audio on the new path (when the caller was waiting).
pub const FAILOVER_SECONDS: &str = "voxgate_failover_seconds";
/// Failover: failure detected → new path connected, seeded and replayed.
pub const FAILOVER_SWITCH_SECONDS: &str = "voxgate_failover_switch_seconds";
/// Circuit breaker state per provider target: 0 closed, 1 half-open, 2 open.
pub const BREAKER_STATE: &str = "voxgate_breaker_state";
/// SIP requests received, by method.
pub const SIP_REQUESTS_TOTAL: &str = "voxgate_sip_requests_total";
/// SIP responses sent, by status code.
pub const SIP_RESPONSES_TOTAL: &str = "voxgate_sip_responses_total";
/// SIP datagrams dropped unanswered, by reason (`source`, `unparsable`, `malformed`).
pub const SIP_DROPPED_TOTAL: &str = "voxgate_sip_dropped_total";

/// WebRTC peers (connections) open on this node.
pub const WEBRTC_PEERS: &str = "voxgate_webrtc_peers";
/// WebRTC datagrams dropped before reaching a peer, by `why` (`unknown_source`, `shard_behind`).
pub const WEBRTC_DATAGRAMS_DROPPED: &str = "voxgate_webrtc_datagrams_dropped_total";

/// Installs the log subscriber. Call once, from `main`. Logs go to stderr, so that stdout carries
/// only what a command prints (a minted key, a validation report).
pub fn init_logging(config: &LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // If stderr is gone, dropping log lines beats the subscriber's eprintln! panicking.
        .log_internal_errors(false);
    let _ = match config.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let latency = [
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            let turn = [0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_REQUEST_SECONDS.to_owned()), &latency)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(TURN_FIRST_AUDIO_SECONDS.to_owned()),
                        &turn,
                    )
                })
                .and_then(|b| {
                    let name = PROVIDER_FIRST_AUDIO_SECONDS.to_owned();
                    b.set_buckets_for_metric(Matcher::Full(name), &turn)
                })
                .and_then(|b| {
                    let name = FAILOVER_SECONDS.to_owned();
                    b.set_buckets_for_metric(Matcher::Full(name), &turn)
                })
                .and_then(|b| {
                    let name = FAILOVER_SWITCH_SECONDS.to_owned();
                    b.set_buckets_for_metric(Matcher::Full(name), &latency)
                })
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Fails only if another recorder is installed; the handle still renders ours.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Records one HTTP request.
pub fn record_http_request(method: &str, route: &str, status: StatusCode, elapsed: Duration) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(HTTP_REQUEST_SECONDS, "route" => route.to_owned())
        .record(elapsed.as_secs_f64());
}

/// Records one SIP request received (`method` is from a fixed list, or `other`).
pub fn record_sip_request(method: &'static str) {
    metrics::counter!(SIP_REQUESTS_TOTAL, "method" => method).increment(1);
}

/// Records one SIP response sent.
pub fn record_sip_response(code: &str) {
    metrics::counter!(SIP_RESPONSES_TOTAL, "code" => code.to_owned()).increment(1);
}

/// Records one SIP datagram dropped without an answer.
pub fn record_sip_dropped(reason: &'static str) {
    metrics::counter!(SIP_DROPPED_TOTAL, "reason" => reason).increment(1);
}

/// Records an incident by mode and action.
pub fn record_incident(mode: &'static str, action: &'static str) {
    metrics::counter!(INCIDENTS_TOTAL, "mode" => mode, "action" => action).increment(1);
}

/// Records a session measurement.
pub fn record_measurement(measurement: voxgate_core::session::Measurement) {
    use voxgate_core::session::Measurement;
    match measurement {
        Measurement::FirstAudio(latency) => {
            metrics::histogram!(TURN_FIRST_AUDIO_SECONDS).record(latency.as_secs_f64());
        }
        Measurement::ProviderFirstAudio(latency) => {
            metrics::histogram!(PROVIDER_FIRST_AUDIO_SECONDS).record(latency.as_secs_f64());
        }
        Measurement::BargeIn => metrics::counter!(BARGE_INS_TOTAL).increment(1),
        Measurement::RateLimit(limit) => {
            let kind = match limit.kind {
                voxgate_core::session::RateLimitKind::Requests => "requests",
                voxgate_core::session::RateLimitKind::Tokens => "tokens",
            };
            metrics::gauge!(PROVIDER_RATE_LIMIT_REMAINING, "limit" => kind)
                .set(limit.remaining as f64);
        }
        Measurement::Switch { from, to, reason } => {
            let labels = [
                ("from", from.mode()),
                ("to", to.mode()),
                ("reason", reason.as_str()),
            ];
            metrics::counter!(MODE_SWITCHES_TOTAL, &labels).increment(1);
        }
        Measurement::Failover {
            to_switch,
            to_first_audio,
        } => {
            metrics::histogram!(FAILOVER_SWITCH_SECONDS).record(to_switch.as_secs_f64());
            if let Some(first_audio) = to_first_audio {
                metrics::histogram!(FAILOVER_SECONDS).record(first_audio.as_secs_f64());
            }
        }
    }
}
