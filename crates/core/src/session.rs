//! The per-call session state machine: the only owner of a call's conversation and turn state.
//!
//! Sans-IO in the str0m/quinn style. The driver feeds inputs with the current time
//! ([`Session::handle_client`], [`Session::handle_provider`], [`Session::handle_timeout`]) and
//! after every input drains [`Session::poll_output`] until it returns [`Output::Timeout`] (or
//! [`Output::Closed`]). The session never reads a clock, touches a socket or blocks.
//!
//! It owns:
//! - the conversation: user items from the provider's transcription, assistant items with what
//!   the caller actually heard (from playback marks), persisted as they finish;
//! - turns and barge-in: caller speech while agent audio is still playing clears the client's
//!   playback, cancels the response and truncates the assistant item to the played milliseconds;
//! - the greeting at start, and the end of the call (hang-up, maximum duration, provider failure),
//!   with incidents and measurements as outputs.

mod call_control;
mod caller_audio;
mod dtmf;
pub mod event;
mod playback;
mod renewal;
mod signals;
mod slo;
mod speech;
mod switch;
#[cfg(test)]
mod tests;
mod tools;

pub use event::*;
pub use switch::{AllDownPolicy, FailoverConfig};

use crate::incident::{FailureMode, Severity};
use caller_audio::CallerAudio;
use playback::Playback;
use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

/// Settings of one call's session.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Spoken first, if set.
    pub greeting: Option<String>,
    /// The call ends after this long.
    pub max_duration: Duration,
    /// How much recent caller audio to keep for replay after a provider switch.
    pub caller_audio_window: Duration,
    /// Renew the provider session after this long, at the next quiet moment (providers cap
    /// sessions: OpenAI Realtime at 60 minutes).
    pub provider_session_max: Duration,
    /// Latency limits, paths and lines of failover.
    pub failover: FailoverConfig,
    /// The agent's built-in call-control tools (`end_call`, `transfer_call`).
    pub call_control: crate::agent::CallControl,
    /// Whether the transport can transfer the call (SIP); without it `transfer_call` is not
    /// handled (and the shell does not offer it).
    pub can_transfer: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            greeting: None,
            max_duration: Duration::from_secs(1800),
            caller_audio_window: Duration::from_secs(30),
            provider_session_max: Duration::from_secs(55 * 60),
            failover: FailoverConfig::default(),
            call_control: crate::agent::CallControl::default(),
            can_transfer: false,
        }
    }
}

/// One call's state machine. See the module docs for the driving protocol.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    deadline: Instant,
    outputs: VecDeque<Output>,
    playback: Playback,
    caller_audio: CallerAudio,
    /// The response in progress, by provider id.
    response: Option<String>,
    /// Tool calls of the response in progress, run once it completes.
    tool_requests: Vec<ToolRequest>,
    /// Tool results waiting for the response in progress to finish.
    tool_results: Vec<(String, String)>,
    /// Assistant items cut by a barge-in: their late deltas are dropped, never played.
    interrupted: Vec<String>,
    /// The conversation so far, as persisted: what a renewed provider session is seeded with.
    history: Vec<(u64, Role, String)>,
    /// When the provider session must be renewed.
    renew_at: Instant,
    /// A renewal is due and waits for a turn boundary.
    renew_pending: bool,
    /// A renewal is under way.
    renewing: bool,
    greeted: bool,
    /// When the caller last stopped speaking, until the answer's first audio arrives.
    awaiting_first_audio: Option<Instant>,
    /// When the current response started, until its first audio arrives.
    response_started_at: Option<Instant>,
    speaking: bool,
    next_seq: u64,
    /// Positions reserved for caller turns whose transcription has not arrived yet (it is
    /// asynchronous and may land after the agent's answer).
    user_seqs: std::collections::VecDeque<u64>,
    ended: bool,
    /// The path the call is on.
    path: Path,
    /// A switch the driver is carrying out.
    switching: Option<switch::PendingSwitch>,
    /// A finished switch waiting for its first audio (for the incident's timings).
    after_switch: Option<switch::SwitchTiming>,
    /// Health per path: realtime providers by index, then the pipeline.
    healthy: Vec<bool>,
    /// Since when the preferred realtime provider has been healthy.
    healthy_since: Option<Instant>,
    /// A switch to make at the next turn boundary.
    switch_when_quiet: Option<SwitchReason>,
    /// Caller audio up to this stream position belongs to turns the provider acknowledged (their
    /// transcription arrived); a switch replays only what came after.
    acked_ms: u64,
    /// Stream positions where caller turns ended, awaiting their transcription.
    turn_stops: VecDeque<u64>,
    /// The caller's last turn has not been answered yet.
    turn_open: bool,
    /// Between the caller's speech start and stop.
    caller_speaking: bool,
    /// SLO deadlines: first agent audio, next audio chunk, filler line.
    first_audio_due: Option<Instant>,
    stall_due: Option<Instant>,
    filler_due: Option<Instant>,
    /// The filler has been played during the current wait.
    filler_played: bool,
    /// The call's recent first-audio latencies.
    latencies: crate::failover::LatencyWindow,
    lines: slo::LineAudio,
    lines_spoken: u64,
    /// The response in progress is the greeting.
    answering_greeting: bool,
    /// End the call once the apology line has played.
    end_after_line: bool,
    /// The return to the preferred provider is due and waits for a turn boundary.
    recovery_waiting: bool,
    /// Pipeline restarts since its last completed answer.
    pipeline_restarts: u32,
    /// Caller key presses being collected for the model.
    digits: dtmf::Digits,
    /// The agent asked to end or transfer the call; done once its answer has been played.
    ending: Option<call_control::Ending>,
}

impl Session {
    /// A session for a call that starts at `now`.
    pub fn new(now: Instant, config: SessionConfig) -> Self {
        let window_ms = u64::try_from(config.caller_audio_window.as_millis()).unwrap_or(u64::MAX);
        let provider_session_max = config.provider_session_max;
        let path = config.failover.initial_path;
        let mut healthy = vec![true; config.failover.realtime_paths + 1];
        if path == Path::Pipeline && config.failover.realtime_paths > 0 {
            healthy[0] = false;
        }
        Self {
            deadline: now + config.max_duration,
            caller_audio: CallerAudio::new(window_ms),
            config,
            outputs: VecDeque::new(),
            playback: Playback::default(),
            response: None,
            tool_requests: Vec::new(),
            tool_results: Vec::new(),
            interrupted: Vec::new(),
            history: Vec::new(),
            renew_at: now + provider_session_max,
            renew_pending: false,
            renewing: false,
            greeted: false,
            awaiting_first_audio: None,
            response_started_at: None,
            speaking: false,
            next_seq: 0,
            user_seqs: std::collections::VecDeque::new(),
            ended: false,
            healthy_since: (path == Path::Realtime(0)).then_some(now),
            path,
            healthy,
            switching: None,
            after_switch: None,
            switch_when_quiet: None,
            acked_ms: 0,
            turn_stops: VecDeque::new(),
            turn_open: false,
            caller_speaking: false,
            first_audio_due: None,
            stall_due: None,
            filler_due: None,
            filler_played: false,
            latencies: slo::latency_window(),
            lines: slo::LineAudio::default(),
            lines_spoken: 0,
            answering_greeting: false,
            end_after_line: false,
            recovery_waiting: false,
            pipeline_restarts: 0,
            digits: dtmf::Digits::default(),
            ending: None,
        }
    }

    /// The next thing to do. Drain until [`Output::Timeout`] or [`Output::Closed`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(output) = self.outputs.pop_front() {
            return output;
        }
        if self.ended {
            return Output::Closed;
        }
        let next = [
            self.renewal_deadline(),
            self.slo_deadline(),
            self.recovery_deadline(),
            self.digits_deadline(),
        ]
        .into_iter()
        .flatten()
        .fold(self.deadline, Instant::min);
        Output::Timeout(next)
    }

    /// An event from the caller's side.
    pub fn handle_client(&mut self, now: Instant, event: ClientEvent) {
        if self.ended {
            return;
        }
        match event {
            ClientEvent::Audio(chunk) => {
                self.caller_audio.push(chunk.clone());
                // During a switch it is only kept: the new path gets it in the replay.
                if self.switching.is_none() {
                    self.send_provider(ProviderCommand::AppendAudio(chunk));
                }
            }
            ClientEvent::MarkPlayed(mark) => {
                self.playback.played(mark);
                self.finish_played_items();
                self.renew_if_due(now);
                self.end_if_line_done();
                self.end_if_agent_done();
                if self.ended {
                    return;
                }
                self.at_turn_boundary(now);
            }
            ClientEvent::Dtmf(digit) => self.digit_pressed(now, digit),
            ClientEvent::Hangup => self.end(EndReason::CallerHangup),
        }
    }

    /// An event from the current path's provider (realtime, or the pipeline in its likeness).
    pub fn handle_provider(&mut self, now: Instant, event: ProviderEvent) {
        // During a switch the old path is gone: nothing it still says reaches the caller.
        if self.ended || self.switching.is_some() {
            return;
        }
        match event {
            ProviderEvent::Ready => self.greet(),
            ProviderEvent::SpeechStarted => {
                self.caller_speaking = true;
                self.barge_in_if_speaking();
            }
            ProviderEvent::SpeechStopped => {
                self.caller_speaking = false;
                self.awaiting_first_audio = Some(now);
                self.first_audio_due = Some(now + self.config.failover.first_audio);
                self.filler_played = false;
                self.turn_stops.push_back(self.caller_audio.end_ms());
                let seq = self.take_seq();
                self.user_seqs.push_back(seq);
            }
            ProviderEvent::UserTranscript { text } => {
                if let Some(stop) = self.turn_stops.pop_front() {
                    self.acked_ms = self.acked_ms.max(stop);
                }
                self.turn_open = true;
                self.user_said(text);
            }
            ProviderEvent::ResponseStarted { response_id } => {
                self.response = Some(response_id);
                self.response_started_at = Some(now);
            }
            ProviderEvent::AudioDelta { item_id, .. }
            | ProviderEvent::TranscriptDelta { item_id, .. }
                if self.interrupted.contains(&item_id) => {}
            ProviderEvent::AudioDelta { item_id, chunk } => self.agent_audio(now, &item_id, chunk),
            ProviderEvent::TranscriptDelta { item_id, delta } => {
                self.playback.transcript(&item_id, &delta);
            }
            ProviderEvent::FunctionCall {
                call_id,
                name,
                arguments,
            } => self.tool_called(ToolRequest {
                call_id,
                name,
                arguments,
            }),
            ProviderEvent::ResponseDone { status, usage, .. } => {
                self.response_done(now, status, usage);
            }
            ProviderEvent::RateLimits(limits) => self.rate_limits(&limits),
            ProviderEvent::Error { class, code } => self.provider_error(now, class, &code),
            ProviderEvent::Renewed => self.renewed(now, true),
            ProviderEvent::RenewFailed => self.renewed(now, false),
            ProviderEvent::Closed { .. } => self.fail_path(now, SwitchReason::ProviderClosed),
        }
    }

    /// The server is going away: end the call now, keeping what was heard.
    pub fn shut_down(&mut self, _now: Instant) {
        if !self.ended {
            self.end(EndReason::ServerShutdown);
        }
    }

    /// Time has reached a deadline returned by [`Output::Timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.ended {
            return;
        }
        if now >= self.deadline {
            self.end(EndReason::MaxDuration);
            return;
        }
        self.check_slo_deadlines(now);
        self.digits_due(now);
        self.renew_if_due(now);
        self.at_turn_boundary(now);
        self.note_recovery_waiting(now);
    }

    fn send_provider(&mut self, command: ProviderCommand) {
        self.outputs.push_back(Output::Provider(command));
    }

    fn send_client(&mut self, command: ClientCommand) {
        self.outputs.push_back(Output::Client(command));
    }

    fn greet(&mut self) {
        if self.greeted {
            return;
        }
        self.greeted = true;
        if let Some(instructions) = self.greeting_instructions() {
            self.send_provider(ProviderCommand::CreateResponse {
                instructions: Some(instructions),
            });
            self.answering_greeting = true;
        }
    }

    /// The per-response instructions that make the model say the greeting.
    fn greeting_instructions(&self) -> Option<String> {
        self.config.greeting.as_ref().map(|greeting| {
            format!("Greet the caller by saying exactly this, and nothing else: \"{greeting}\"")
        })
    }

    fn user_said(&mut self, text: String) {
        self.send_client(ClientCommand::Transcript {
            role: Role::User,
            text: text.clone(),
            is_final: true,
        });
        self.persist_item(Role::User, text, None);
    }

    fn response_done(&mut self, now: Instant, status: ResponseStatus, usage: Option<Usage>) {
        self.response = None;
        self.answering_greeting = false;
        self.first_audio_due = None;
        self.stall_due = None;
        if status == ResponseStatus::Completed {
            self.turn_open = false;
            self.pipeline_restarts = 0;
        }
        if let Some(usage) = usage {
            self.outputs
                .push_back(Output::Persist(PersistCommand::Usage(usage)));
        }
        if status == ResponseStatus::Failed {
            self.report(
                FailureMode::ProviderOutage,
                Severity::Warning,
                "response_failed",
                serde_json::json!({ "status": "failed" }),
            );
        }
        self.release_tool_calls(status);
        self.playback.complete_all();
        self.finish_played_items();
        self.flush_tool_results();
        self.respond_to_digits();
        self.end_if_agent_done();
        if self.ended {
            return;
        }
        self.renew_if_due(now);
        self.at_turn_boundary(now);
    }

    fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    pub(super) fn persist_item(&mut self, role: Role, text: String, played_ms: Option<u64>) {
        let reserved = match role {
            Role::User => self.user_seqs.pop_front(),
            Role::Assistant => None,
        };
        let seq = reserved.unwrap_or_else(|| self.take_seq());
        if !text.is_empty() {
            self.history.push((seq, role, text.clone()));
        }
        self.outputs
            .push_back(Output::Persist(PersistCommand::Item {
                seq,
                role,
                text,
                played_ms,
            }));
    }

    fn report(
        &mut self,
        mode: FailureMode,
        severity: Severity,
        action: &'static str,
        detail: serde_json::Value,
    ) {
        self.outputs.push_back(Output::Incident(IncidentReport {
            mode,
            severity,
            action,
            detail,
        }));
    }

    fn end(&mut self, reason: EndReason) {
        if let Some(unfinished) = self.after_switch.take() {
            self.switch_finished(unfinished, None);
        }
        if self.response.take().is_some() && reason != EndReason::ProviderFailure {
            self.send_provider(ProviderCommand::CancelResponse);
        }
        let items = self.playback.interrupt();
        self.finish_items(items);
        self.send_provider(ProviderCommand::Close);
        self.send_client(ClientCommand::Ended(reason));
        self.outputs
            .push_back(Output::Persist(PersistCommand::CallEnded(reason)));
        self.ended = true;
    }
}
