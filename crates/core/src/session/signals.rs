//! What the provider says about itself besides the conversation: rate-limit headroom and errors,
//! each classified into "carry on", "move the call" (now or at the next turn boundary) or, for
//! the pipeline's own stage failures, "apologise".

use super::{
    ErrorClass, Measurement, Output, Path, RateLimit, RateLimitKind, Session, SwitchReason,
};
use crate::incident::{FailureMode, Severity};
use std::time::Instant;

impl Session {
    /// Records headroom. No requests left on the realtime path moves the call on at the next
    /// turn boundary (before the provider starts refusing it).
    pub(super) fn rate_limits(&mut self, limits: &[RateLimit]) {
        for limit in limits {
            self.outputs
                .push_back(Output::Measure(Measurement::RateLimit(*limit)));
        }
        if let Some(exhausted) = limits.iter().find(|limit| limit.remaining == 0) {
            let kind = match exhausted.kind {
                RateLimitKind::Requests => "requests",
                RateLimitKind::Tokens => "tokens",
            };
            let detail =
                serde_json::json!({ "limit": kind, "reset_seconds": exhausted.reset_seconds });
            self.report(
                FailureMode::RateLimitCascade,
                Severity::Warning,
                "observed",
                detail,
            );
            if matches!(self.path, Path::Realtime(_)) && self.switch_when_quiet.is_none() {
                self.switch_when_quiet = Some(SwitchReason::RateLimited);
            }
        }
    }

    pub(super) fn provider_error(&mut self, now: Instant, class: ErrorClass, code: &str) {
        if code.starts_with("pipeline.") {
            self.all_paths_down(code);
            return;
        }
        match (class, code) {
            (ErrorClass::Terminal, _) => self.fail_path(now, SwitchReason::ProviderError),
            (ErrorClass::Retryable, "rate_limit_exceeded") => {
                self.fail_path(now, SwitchReason::RateLimited);
            }
            (ErrorClass::Retryable, _) => {
                let detail =
                    serde_json::json!({ "code": code, "during_response": self.response.is_some() });
                self.report(
                    FailureMode::ProviderOutage,
                    Severity::Warning,
                    "continued",
                    detail,
                );
            }
        }
    }
}
