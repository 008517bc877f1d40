//! The call's latency SLOs and the lines voxgate speaks itself.
//!
//! Deadlines: end of caller speech → first agent audio, and the longest gap between audio chunks
//! mid-response; the call's rolling p95 of first-audio latency; rate-limit headroom. On the
//! realtime path a missed deadline moves the call to the next path at once, a slow p95 or
//! exhausted headroom at the next turn boundary. On the pipeline (the last path) a missed
//! deadline plays the filler line instead, so the caller never sits in dead air; when every path
//! is down the apology line is spoken.

use super::{
    AudioChunk, ClientCommand, Line, Path, Role, Session, SwitchReason, switch::AllDownPolicy,
};
use crate::incident::{FailureMode, Severity};
use std::time::Instant;

/// Item ids of voxgate's own lines start with this; providers never see them.
pub(super) const LINE_PREFIX: &str = "voxgate-line-";

/// Cached audio of the fixed lines, in the caller's format.
#[derive(Clone, Debug, Default)]
pub(super) struct LineAudio {
    pub(super) filler: Option<AudioChunk>,
    pub(super) apology: Option<AudioChunk>,
}

impl Session {
    /// The earliest SLO deadline pending.
    pub(super) fn slo_deadline(&self) -> Option<Instant> {
        [self.first_audio_due, self.stall_due, self.filler_due]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs every SLO deadline that has passed.
    pub(super) fn check_slo_deadlines(&mut self, now: Instant) {
        if self.first_audio_due.is_some_and(|due| now >= due) {
            self.first_audio_due = None;
            match self.path {
                Path::Realtime(_) if self.switching.is_none() => {
                    self.fail_path(now, SwitchReason::FirstAudioDeadline);
                }
                _ => self.dead_air(),
            }
        }
        if self.stall_due.is_some_and(|due| now >= due) {
            self.stall_due = None;
            if matches!(self.path, Path::Realtime(_)) {
                self.fail_path(now, SwitchReason::Stall);
            }
        }
        if self.filler_due.is_some_and(|due| now >= due) {
            self.dead_air();
        }
    }

    /// The caller is waiting and nothing is coming yet: say "one moment" (once per wait).
    fn dead_air(&mut self) {
        self.filler_due = None;
        if self.filler_played {
            return;
        }
        self.filler_played = true;
        let played = self.play_line(Line::Filler);
        self.report(
            FailureMode::DeadAir,
            Severity::Warning,
            "filler_played",
            serde_json::json!({ "audio": played, "switching": self.switching.is_some() }),
        );
    }

    /// Every path is down for this turn: apologise, and keep or end the call per the agent.
    pub(super) fn all_paths_down(&mut self, code: &str) {
        self.first_audio_due = None;
        self.filler_due = None;
        self.turn_open = false;
        let played = self.play_line(Line::Apology);
        let action = match self.config.failover.all_down {
            AllDownPolicy::KeepCall => "apology_spoken",
            AllDownPolicy::EndCall => "apology_spoken_call_ending",
        };
        self.report(
            FailureMode::ProviderOutage,
            Severity::Critical,
            action,
            serde_json::json!({ "code": code, "audio": played }),
        );
        if self.config.failover.all_down == AllDownPolicy::EndCall {
            self.end_after_line = true;
            self.end_if_line_done();
        }
    }

    /// Plays a fixed line from cached audio as an assistant item of its own; false when no
    /// audio is cached.
    fn play_line(&mut self, line: Line) -> bool {
        let (audio, text) = match line {
            Line::Filler => (self.lines.filler.clone(), &self.config.failover.filler_text),
            Line::Apology => (
                self.lines.apology.clone(),
                &self.config.failover.apology_text,
            ),
        };
        let Some(chunk) = audio else {
            return false;
        };
        let text = text.clone();
        self.lines_spoken += 1;
        let item_id = format!("{LINE_PREFIX}{}", self.lines_spoken);
        if !self.speaking {
            self.speaking = true;
            self.send_client(ClientCommand::AgentSpeaking(true));
        }
        self.playback.transcript(&item_id, &text);
        let mark = self.playback.sent(&item_id, chunk.duration_ms());
        self.playback.complete(&item_id);
        self.send_client(ClientCommand::Transcript {
            role: Role::Assistant,
            text,
            is_final: false,
        });
        self.send_client(ClientCommand::Audio { chunk, mark });
        true
    }

    /// After the apology of an `EndCall` agent has played, the call ends.
    pub(super) fn end_if_line_done(&mut self) {
        if self.end_after_line && !self.playback.is_playing() {
            self.end(super::EndReason::ProviderFailure);
        }
    }

    /// A first-audio latency of this call: a slow trend moves the call on at the next boundary.
    pub(super) fn first_audio_latency(&mut self, latency: std::time::Duration) {
        self.latencies.push(latency);
        let slow = self
            .latencies
            .p95()
            .is_some_and(|p95| p95 > self.config.failover.p95);
        if slow && matches!(self.path, Path::Realtime(_)) && self.switch_when_quiet.is_none() {
            self.switch_when_quiet = Some(SwitchReason::SlowP95);
            self.latencies = latency_window();
        }
    }
}

/// A fresh latency window for a call: the last 20 turns, judged from the 5th.
pub(super) fn latency_window() -> crate::failover::LatencyWindow {
    crate::failover::LatencyWindow::new(20, 5)
}
