//! Moving a live call between paths: realtime provider → next realtime provider or the async
//! pipeline when the current one fails or gets slow, and back to the preferred realtime provider
//! once it is healthy again.
//!
//! The session decides; the driver opens the chosen path and reports back
//! ([`Session::handle_switched`]). While a switch is under way caller audio is only kept, never
//! sent, and the old path's events are ignored: at most one path speaks to the caller. When the
//! new path is in place it is seeded with the conversation, the caller audio since the last
//! acknowledged turn is replayed into it, and if the caller was waiting for an answer the new path
//! is asked for one. What the caller heard of an interrupted answer stays in the conversation;
//! the rest is dropped.

use super::{
    ClientCommand, Line, Measurement, Output, Path, ProviderCommand, Session, SwitchReason,
};
use crate::incident::Severity;
use std::time::{Duration, Instant};

/// The pipeline may be restarted this often without a completed answer in between.
const MAX_PIPELINE_RESTARTS: u32 = 3;

/// What every path being down means for the call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AllDownPolicy {
    /// Speak the apology line and keep the caller on the line; the next turn tries again.
    #[default]
    KeepCall,
    /// Speak the apology line, then end the call.
    EndCall,
}

/// The agent's failover settings, as the session needs them.
#[derive(Clone, Debug)]
pub struct FailoverConfig {
    /// How many realtime providers the agent lists (at least one).
    pub realtime_paths: usize,
    /// The path the call starts on.
    pub initial_path: Path,
    /// End of caller speech → first agent audio.
    pub first_audio: Duration,
    /// Longest gap between agent audio chunks mid-response.
    pub stall: Duration,
    /// Rolling p95 of the call's first-audio latencies above which it moves on.
    pub p95: Duration,
    /// A switch (or a pipeline answer) slower than this plays the filler line.
    pub filler_after: Duration,
    /// The preferred realtime provider must stay healthy this long before the call returns.
    pub recover_hold: Duration,
    /// What happens when every path is down.
    pub all_down: AllDownPolicy,
    /// The filler line's words (its audio comes from [`Session::set_line_audio`]).
    pub filler_text: String,
    /// The apology line's words.
    pub apology_text: String,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        Self {
            realtime_paths: 1,
            initial_path: Path::Realtime(0),
            first_audio: Duration::from_millis(2000),
            stall: Duration::from_millis(1000),
            p95: Duration::from_millis(1500),
            filler_after: Duration::from_millis(600),
            recover_hold: Duration::from_secs(30),
            all_down: AllDownPolicy::KeepCall,
            filler_text: "One moment, please.".to_owned(),
            apology_text: "Sorry, I'm having trouble right now. Please bear with me.".to_owned(),
        }
    }
}

/// A switch the driver is carrying out.
#[derive(Clone, Debug)]
pub(super) struct PendingSwitch {
    pub(super) from: Path,
    pub(super) to: Path,
    pub(super) reason: SwitchReason,
    pub(super) detected_at: Instant,
    /// The caller is owed an answer: ask the new path for one (with these instructions).
    pub(super) answer: Option<Option<String>>,
    /// The caller is waiting: for that answer, or for a replayed turn to be answered.
    pub(super) caller_waiting: bool,
}

/// A finished switch whose first audio is still awaited, for the incident's timings.
#[derive(Clone, Debug)]
pub(super) struct SwitchTiming {
    pub(super) from: Path,
    pub(super) to: Path,
    pub(super) reason: SwitchReason,
    pub(super) detected_at: Instant,
    pub(super) switched_at: Instant,
}

impl Session {
    /// The path the call is on (the one being opened, during a switch).
    pub fn path(&self) -> Path {
        self.switching
            .as_ref()
            .map_or(self.path, |pending| pending.to)
    }

    /// The driver reports whether the path it was asked to open is in place.
    pub fn handle_switched(&mut self, now: Instant, connected: bool) {
        if self.ended {
            return;
        }
        let Some(pending) = self.switching.take() else {
            return;
        };
        if !connected {
            self.set_health(pending.to, false);
            let to = self.fallback_from(pending.to);
            self.report(
                SwitchReason::ConnectFailed.failure_mode(),
                Severity::Warning,
                "connect_failed",
                serde_json::json!({ "path": pending.to.mode() }),
            );
            if pending.to == Path::Pipeline && pending.caller_waiting {
                // Nothing is left to try: apologise, and keep asking for the pipeline.
                self.all_paths_down("pipeline_unavailable");
            }
            self.outputs.push_back(Output::Switch {
                to,
                reason: SwitchReason::ConnectFailed,
            });
            self.switching = Some(PendingSwitch {
                to,
                caller_waiting: false,
                ..pending
            });
            return;
        }
        self.path = pending.to;
        self.renew_at = now + self.config.provider_session_max;
        self.send_client(ClientCommand::Mode(self.path));
        for seed in self.seed_items() {
            self.send_provider(seed);
        }
        let replay: Vec<_> = self.caller_audio.since(self.acked_ms).cloned().collect();
        for chunk in replay {
            self.send_provider(ProviderCommand::AppendAudio(chunk));
        }
        let timing = SwitchTiming {
            from: pending.from,
            to: pending.to,
            reason: pending.reason,
            detected_at: pending.detected_at,
            switched_at: now,
        };
        if let Some(instructions) = pending.answer {
            self.digits_answered();
            self.send_provider(ProviderCommand::CreateResponse { instructions });
            self.first_audio_due = Some(now + self.config.failover.first_audio);
        }
        self.respond_to_digits();
        // The caller is waiting (for an answer, or for the replayed turn to be heard): the
        // incident gets its first-audio time when that audio comes.
        match pending.caller_waiting {
            true => self.after_switch = Some(timing),
            false => self.switch_finished(timing, None),
        }
        self.at_turn_boundary(now);
        self.note_recovery_waiting(now);
    }

    /// The driver reports a path's health (its circuit breaker closed or open).
    pub fn handle_health(&mut self, now: Instant, path: Path, healthy: bool) {
        if self.ended {
            return;
        }
        let was = self.is_healthy(path);
        self.set_health(path, healthy);
        if path == Path::Realtime(0) && !was && healthy {
            self.healthy_since = Some(now);
            self.recovery_waiting = false;
        }
        if !healthy && path == self.path && self.switching.is_none() {
            self.switch_when_quiet = Some(SwitchReason::BreakerOpen);
        }
        self.at_turn_boundary(now);
        self.note_recovery_waiting(now);
    }

    /// Cached audio for a fixed line, in the caller's format (the driver supplies it, and may
    /// replace it with better audio later).
    pub fn set_line_audio(&mut self, line: Line, audio: super::AudioChunk) {
        match line {
            Line::Filler => self.lines.filler = Some(audio),
            Line::Apology => self.lines.apology = Some(audio),
        }
    }

    /// The current path failed (or is too slow): move the call to the next one now.
    pub(super) fn fail_path(&mut self, now: Instant, reason: SwitchReason) {
        if self.switching.is_some() || self.ended {
            return;
        }
        let from = self.path;
        self.set_health(from, false);
        let to = self.fallback_from(from);
        if to == Path::Pipeline && from == Path::Pipeline {
            // The pipeline itself keeps failing without ever answering: stop, do not spin.
            self.pipeline_restarts += 1;
            if self.pipeline_restarts > MAX_PIPELINE_RESTARTS {
                self.report(
                    crate::incident::FailureMode::ProviderOutage,
                    Severity::Critical,
                    "call_ended",
                    serde_json::json!({ "code": "pipeline.restarts_exhausted" }),
                );
                self.end(super::EndReason::ProviderFailure);
                return;
            }
        }
        self.begin_switch(now, from, to, reason);
    }

    fn begin_switch(&mut self, now: Instant, from: Path, to: Path, reason: SwitchReason) {
        let answer = self.open_answer();
        let caller_waiting = answer.is_some() || !self.turn_stops.is_empty();
        self.switch_when_quiet = None;
        // A renewal of the old path's session is abandoned with it; the new path is fresh.
        self.renewing = false;
        self.renew_pending = false;
        self.cut_in_flight_response();
        self.send_provider(ProviderCommand::Close);
        self.outputs.push_back(Output::Switch { to, reason });
        self.outputs
            .push_back(Output::Measure(Measurement::Switch { from, to, reason }));
        if caller_waiting {
            self.filler_due = Some(now + self.config.failover.filler_after);
        }
        if let Some(unfinished) = self.after_switch.take() {
            self.switch_finished(unfinished, None);
        }
        self.recovery_waiting = false;
        self.switching = Some(PendingSwitch {
            from,
            to,
            reason,
            detected_at: now,
            answer,
            caller_waiting,
        });
    }

    /// Whether the caller is owed an answer by the new path, and with which instructions. A turn
    /// whose transcription has not arrived is not: its audio is replayed, and the new path
    /// answers it when it hears the turn end.
    fn open_answer(&self) -> Option<Option<String>> {
        if self.response.is_some() && self.answering_greeting {
            return Some(self.greeting_instructions());
        }
        let unheard_turn = !self.turn_stops.is_empty();
        let owed = self.turn_open
            || (self.response.is_some() && !unheard_turn)
            || !self.tool_results.is_empty();
        owed.then_some(None)
    }

    /// Stops the response the failing path was giving: what was heard is kept (persisted), the
    /// rest is cleared from the caller's playback, and any late audio of it is dropped.
    fn cut_in_flight_response(&mut self) {
        let speaking = self.response.is_some() || self.playback.is_playing();
        self.response = None;
        self.response_started_at = None;
        self.answering_greeting = false;
        self.tool_requests.clear();
        self.first_audio_due = None;
        self.stall_due = None;
        // Turns whose transcription never came: the replay transcribes them again.
        self.user_seqs.clear();
        self.turn_stops.clear();
        self.caller_speaking = false;
        if speaking {
            self.send_client(ClientCommand::ClearPlayback);
            let items = self.playback.interrupt();
            self.interrupted
                .extend(items.iter().map(|item| item.item_id.clone()));
            self.finish_items(items);
        }
    }

    /// The next path to try after `from`: a later healthy realtime provider, else the pipeline.
    fn fallback_from(&self, from: Path) -> Path {
        let after = match from {
            Path::Realtime(index) => index + 1,
            Path::Pipeline => return Path::Pipeline,
        };
        (after..self.config.failover.realtime_paths)
            .map(Path::Realtime)
            .find(|path| self.is_healthy(*path))
            .unwrap_or(Path::Pipeline)
    }

    fn health_index(&self, path: Path) -> usize {
        match path {
            Path::Realtime(index) => index.min(self.config.failover.realtime_paths),
            Path::Pipeline => self.config.failover.realtime_paths,
        }
    }

    fn is_healthy(&self, path: Path) -> bool {
        self.healthy
            .get(self.health_index(path))
            .copied()
            .unwrap_or(false)
    }

    fn set_health(&mut self, path: Path, healthy: bool) {
        let index = self.health_index(path);
        if let Some(slot) = self.healthy.get_mut(index) {
            *slot = healthy;
        }
        if path == Path::Realtime(0) && !healthy {
            self.healthy_since = None;
        }
    }

    /// Records the switch as an incident with its timings, and the failover measurement.
    pub(super) fn switch_finished(&mut self, timing: SwitchTiming, first_audio: Option<Instant>) {
        let millis = |at: Instant| {
            u64::try_from(at.saturating_duration_since(timing.detected_at).as_millis())
                .unwrap_or(u64::MAX)
        };
        let detail = serde_json::json!({
            "from": timing.from.mode(),
            "to": timing.to.mode(),
            "reason": timing.reason.as_str(),
            "switch_ms": millis(timing.switched_at),
            "first_audio_ms": first_audio.map(millis),
        });
        let severity = match timing.reason {
            SwitchReason::Recovered => Severity::Info,
            _ => Severity::Warning,
        };
        self.report(timing.reason.failure_mode(), severity, "switched", detail);
        let to_switch = timing
            .switched_at
            .saturating_duration_since(timing.detected_at);
        let to_first_audio = first_audio.map(|at| at.saturating_duration_since(timing.detected_at));
        self.outputs
            .push_back(Output::Measure(Measurement::Failover {
                to_switch,
                to_first_audio,
            }));
    }

    /// Called at every point where a turn may have ended: runs a deferred switch or the return to
    /// the preferred realtime provider once nothing is in flight.
    pub(super) fn at_turn_boundary(&mut self, now: Instant) {
        if !self.quiet() || self.switching.is_some() {
            return;
        }
        if let Some(reason) = self.switch_when_quiet.take() {
            self.fail_path(now, reason);
            return;
        }
        if self.recovery_due(now) {
            self.begin_switch(now, self.path, Path::Realtime(0), SwitchReason::Recovered);
        }
    }

    /// A timeout found the return due but the call busy: turn-boundary hooks take over.
    pub(super) fn note_recovery_waiting(&mut self, now: Instant) {
        self.recovery_waiting = self.recovery_due(now);
    }

    /// The preferred realtime provider has been healthy for the hold period and the call is
    /// elsewhere.
    fn recovery_due(&self, now: Instant) -> bool {
        self.path != Path::Realtime(0)
            && self
                .healthy_since
                .is_some_and(|since| now >= since + self.config.failover.recover_hold)
    }

    /// When the return to the preferred provider becomes due, if it is pending.
    pub(super) fn recovery_deadline(&self) -> Option<Instant> {
        if self.path == Path::Realtime(0) || self.switching.is_some() || self.recovery_waiting {
            return None;
        }
        self.healthy_since
            .map(|since| since + self.config.failover.recover_hold)
    }

    /// Nothing in flight: no response, no audio left to play, caller not mid-turn, no tool.
    pub(super) fn quiet(&self) -> bool {
        self.response.is_none()
            && !self.playback.is_playing()
            && !self.caller_speaking
            && self.user_seqs.is_empty()
            && self.first_audio_due.is_none()
            && self.tool_results.is_empty()
            && self.tool_requests.is_empty()
    }
}
