//! Provider session renewal: providers cap a session's life (OpenAI Realtime: 60 minutes), so
//! before the cap the session asks the driver for a fresh provider session seeded with the
//! conversation so far, at a turn boundary only (nothing generating, nothing left to play).

use super::{Output, ProviderCommand, Session};
use crate::incident::{FailureMode, Severity};
use std::time::{Duration, Instant};

/// After a failed renewal, the next attempt comes this much later.
const RETRY_AFTER: Duration = Duration::from_secs(60);

impl Session {
    /// The renewal deadline, unless one is pending or under way (then turn-boundary hooks, not a
    /// timer, decide when).
    pub(super) fn renewal_deadline(&self) -> Option<Instant> {
        (self.renewable() && !self.renew_pending && !self.renewing).then_some(self.renew_at)
    }

    /// Only a realtime provider session has a capped life, and not while a switch replaces it.
    fn renewable(&self) -> bool {
        matches!(self.path, super::Path::Realtime(_)) && self.switching.is_none()
    }

    /// Called at the renewal deadline and at every turn boundary.
    pub(super) fn renew_if_due(&mut self, now: Instant) {
        if !self.renewable() {
            return;
        }
        if now >= self.renew_at && !self.renewing {
            self.renew_pending = true;
        }
        if !self.renew_pending {
            return;
        }
        let quiet = self.response.is_none()
            && !self.playback.is_playing()
            && self.tool_results.is_empty()
            && self.tool_requests.is_empty();
        if !quiet {
            return;
        }
        self.renew_pending = false;
        self.renewing = true;
        let seed = self.seed_items();
        self.outputs.push_back(Output::RenewProvider(seed));
    }

    /// The conversation so far as seed items for a fresh provider session, in conversation order
    /// (a transcription can be persisted after the answer to it).
    pub(super) fn seed_items(&self) -> Vec<ProviderCommand> {
        let mut history: Vec<_> = self.history.iter().collect();
        history.sort_by_key(|(seq, _, _)| *seq);
        history
            .into_iter()
            .map(|(_, role, text)| ProviderCommand::SeedItem {
                role: *role,
                text: text.clone(),
            })
            .collect()
    }

    /// The driver reports how the renewal went.
    pub(super) fn renewed(&mut self, now: Instant, ok: bool) {
        self.renewing = false;
        if ok {
            self.renew_at = now + self.config.provider_session_max;
        } else {
            // The old session is still usable until its own cap.
            self.renew_at = now + RETRY_AFTER;
            self.report(
                FailureMode::SessionExpiry,
                Severity::Warning,
                "renewal_retried",
                serde_json::json!({}),
            );
        }
    }
}
