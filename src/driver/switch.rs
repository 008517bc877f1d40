//! Carrying out the session's switches and feeding it provider health.
//!
//! A switch opens the new path in a task of its own (the call keeps running: caller audio is
//! kept by the session meanwhile), and the result comes back tagged with the switch's number so
//! a late result of an abandoned switch is closed, never used. The realtime link's events are
//! watched on their way to the session and recorded as outcomes in its breaker; breaker changes
//! of the call's realtime providers are handed to the session as path health.

use super::{Call, persist::Job};
use crate::{
    health::{HealthChange, ProviderHealth},
    provider::{ProviderLink, openai_realtime::ConnectError},
    telemetry,
};
use tokio::{sync::broadcast, time::Instant};
use voxgate_core::{
    FailureMode, Severity,
    failover::{Outcome, StateKind, TransitionReason},
    session::{ErrorClass, IncidentReport, Path, ProviderCommand, ProviderEvent, SwitchReason},
};

/// A finished attempt to open a path: (switch number, path, link or why not).
pub(super) type SwitchResult = (u64, Path, Result<ProviderLink, ConnectError>);

impl Call {
    /// The session chose another path: stop listening to the old one and open the new one.
    pub(super) fn begin_switch(&mut self, to: Path, reason: SwitchReason) {
        self.generation += 1;
        // The session already told the old link to close; nothing it says is read any more.
        self.provider_open = false;
        self.response_started = None;
        tracing::warn!(
            call_id = %self.context.call_id,
            from = self.path.mode(),
            to = to.mode(),
            reason = reason.as_str(),
            "Switching the call to another path."
        );
        let (paths, done, generation) = (
            self.context.paths.clone(),
            self.switch_done.clone(),
            self.generation,
        );
        tokio::spawn(async move {
            let result = paths.open(to).await;
            if let Err(result) = done.send((generation, to, result)).await {
                // The call is gone: close what was opened for it.
                if let (_, _, Ok(link)) = result.0 {
                    let _ = link.commands.try_send(ProviderCommand::Close);
                }
            }
        });
    }

    /// The path is open (or not): swap it in and tell the session.
    pub(super) fn finish_switch(&mut self, (generation, path, result): SwitchResult) {
        let now = Instant::now().into_std();
        if generation != self.generation {
            if let Ok(link) = result {
                let _ = link.commands.try_send(ProviderCommand::Close);
            }
            return;
        }
        match result {
            Ok(link) => {
                let old = std::mem::replace(&mut self.provider, link);
                let _ = old.commands.try_send(ProviderCommand::Close);
                self.provider_open = true;
                self.provider_stalled = false;
                self.path = path;
                let (provider, model) = self.context.paths.provider_and_model(path);
                self.writer.send(Job::Provider { provider, model });
                self.live.mode = path.mode().to_owned();
                let (stores, live) = (self.stores.clone(), self.live.clone());
                tokio::spawn(async move { super::register(&stores, &live).await });
                self.session.handle_switched(now, true);
            }
            Err(error) => {
                tracing::warn!(call_id = %self.context.call_id, path = path.mode(), code = error.code, "Could not open the path.");
                self.session.handle_switched(now, false);
            }
        }
    }

    /// Tells the session which of its realtime providers are healthy now.
    pub(super) fn report_initial_health(&mut self) {
        let now = Instant::now().into_std();
        let paths = self.context.paths.clone();
        for index in 0..paths.realtime_count() {
            let path = Path::Realtime(index);
            if let Some(target) = paths.realtime_target(path) {
                let healthy = paths.health.is_healthy(target);
                self.session.handle_health(now, path, healthy);
            }
        }
    }

    /// A breaker somewhere in the process changed: if it is one of this call's realtime
    /// providers, the session learns of it.
    pub(super) fn health_changed(
        &mut self,
        change: Result<HealthChange, broadcast::error::RecvError>,
    ) {
        match change {
            Ok(change) => {
                if self.context.paths.uses(&change.target) {
                    self.record_breaker_change(&change);
                }
                if let Some(path) = self.context.paths.path_of(&change.target) {
                    let now = Instant::now().into_std();
                    self.session.handle_health(now, path, change.healthy);
                }
            }
            // Missed some: read the current state of every provider instead.
            Err(broadcast::error::RecvError::Lagged(_)) => self.report_initial_health(),
            Err(broadcast::error::RecvError::Closed) => {}
        }
    }

    /// Records what the realtime provider's events say about its health.
    pub(super) fn observe_provider(&mut self, event: &ProviderEvent) {
        let telling = match event {
            ProviderEvent::AudioDelta { .. } => !self.response_audio_seen,
            ProviderEvent::ResponseStarted { .. }
            | ProviderEvent::Error { .. }
            | ProviderEvent::Closed { .. } => true,
            _ => false,
        };
        // Most events (every audio delta after the first) say nothing new: no work for them.
        if !telling {
            return;
        }
        let Some(target) = self.context.paths.realtime_target(self.path).cloned() else {
            return;
        };
        let health = &self.context.paths.health;
        let failure = |class| Outcome::Failure {
            class,
            retry_after: None,
        };
        match event {
            ProviderEvent::ResponseStarted { .. } => {
                self.response_started = Some(Instant::now());
                self.response_audio_seen = false;
            }
            ProviderEvent::AudioDelta { .. } if !self.response_audio_seen => {
                self.response_audio_seen = true;
                if let Some(started) = self.response_started {
                    let latency = started.elapsed();
                    health.record(&target, Outcome::Success { latency });
                }
            }
            ProviderEvent::Error { class, code } => match (class, code.as_str()) {
                (ErrorClass::Terminal, _) => health.record(&target, failure(ErrorClass::Terminal)),
                (_, "rate_limit_exceeded" | "server_error") => {
                    health.record(&target, failure(ErrorClass::Retryable));
                }
                _ => {}
            },
            ProviderEvent::Closed { class } => health.record(&target, failure(*class)),
            _ => {}
        }
    }
}

impl Call {
    /// A breaker this call depends on opened or closed: an incident for the tenant, recorded by
    /// one of its calls only (the hot store counts who saw it first).
    fn record_breaker_change(&self, change: &HealthChange) {
        let transition = change.transition;
        let (severity, action) = match transition.to {
            StateKind::Open => (Severity::Critical, "breaker_opened"),
            StateKind::Closed => (Severity::Info, "breaker_closed"),
            StateKind::HalfOpen => return,
        };
        let mode = match transition.reason {
            TransitionReason::SlowCallRate => FailureMode::LatencySpike,
            TransitionReason::RetryAfter => FailureMode::RateLimitCascade,
            _ => FailureMode::ProviderOutage,
        };
        let target = &change.target;
        let report = IncidentReport {
            mode,
            severity,
            action,
            detail: serde_json::json!({
                "provider": target.provider,
                "stage": target.stage,
                "model": target.model,
                "endpoint": target.endpoint,
                "from": transition.from.as_str(),
                "reason": transition.reason.as_str(),
                "cooldown_ms": transition.cooldown.map(|c| u64::try_from(c.as_millis()).unwrap_or(u64::MAX)),
            }),
        };
        let key = format!(
            "breaker-incident:{}:{}:{}",
            self.context.paths.health.node(),
            change.seq,
            self.context.tenant_id
        );
        let (hot, jobs) = (self.stores.hot.clone(), self.writer.jobs());
        tokio::spawn(async move {
            let first = hot
                .incr_counter(&key, 1, std::time::Duration::from_secs(3600))
                .await
                .is_ok_and(|count| count == 1);
            if first {
                telemetry::record_incident(report.mode.as_str(), report.action);
                let _ = jobs.send(Job::Incident(report, time::OffsetDateTime::now_utc()));
            }
        });
    }
}
