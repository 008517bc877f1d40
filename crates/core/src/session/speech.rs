//! The agent's speech: sending its audio with playback marks, barge-in (clear, truncate to what
//! was heard, drop late deltas), and finishing assistant items with what the caller heard.

use super::slo::LINE_PREFIX;
use super::{
    AudioChunk, ClientCommand, Measurement, Output, ProviderCommand, Role, Session,
    playback::{ItemPlayback, played_text},
};
use std::time::Instant;

impl Session {
    pub(super) fn agent_audio(&mut self, now: Instant, item_id: &str, chunk: AudioChunk) {
        self.first_audio_due = None;
        self.filler_due = None;
        self.stall_due = Some(now + self.config.failover.stall);
        if let Some(timing) = self.after_switch.take() {
            self.switch_finished(timing, Some(now));
        }
        if let Some(stopped) = self.awaiting_first_audio.take() {
            let latency = now.saturating_duration_since(stopped);
            self.outputs
                .push_back(Output::Measure(Measurement::FirstAudio(latency)));
            self.first_audio_latency(latency);
        }
        if let Some(started) = self.response_started_at.take() {
            let latency = now.saturating_duration_since(started);
            self.outputs
                .push_back(Output::Measure(Measurement::ProviderFirstAudio(latency)));
        }
        if !self.speaking {
            self.speaking = true;
            self.send_client(ClientCommand::AgentSpeaking(true));
        }
        let mark = self.playback.sent(item_id, chunk.duration_ms());
        self.send_client(ClientCommand::Audio { chunk, mark });
    }

    pub(super) fn barge_in_if_speaking(&mut self) {
        let active = self.response.is_some();
        if !(active || self.playback.is_playing()) {
            return;
        }
        self.send_client(ClientCommand::ClearPlayback);
        // No `response.cancel`: the provider's VAD runs with `interrupt_response`, so it has
        // cancelled the response itself; its `response.done` (cancelled) follows.
        let items = self.playback.interrupt();
        self.interrupted
            .extend(items.iter().map(|item| item.item_id.clone()));
        let excess = self.interrupted.len().saturating_sub(16);
        self.interrupted.drain(..excess);
        // The interrupted item: one still being generated, or one not yet fully played.
        let interrupted = items.iter().find(|item| {
            (!item.complete || item.played_ms < item.sent_ms)
                && !item.item_id.starts_with(LINE_PREFIX)
        });
        if let Some(cut) = interrupted {
            self.send_provider(ProviderCommand::Truncate {
                item_id: cut.item_id.clone(),
                audio_end_ms: cut.played_ms,
            });
        }
        self.outputs
            .push_back(Output::Measure(Measurement::BargeIn));
        self.finish_items(items);
    }

    pub(super) fn finish_played_items(&mut self) {
        let finished = self.playback.take_finished();
        self.finish_items(finished);
    }

    /// Persists finished assistant items with what was heard, and notes when speaking stops.
    pub(super) fn finish_items(&mut self, items: Vec<ItemPlayback>) {
        for item in items {
            let text = played_text(&item.text, item.played_ms, item.sent_ms);
            self.send_client(ClientCommand::Transcript {
                role: Role::Assistant,
                text: text.clone(),
                is_final: true,
            });
            self.persist_item(Role::Assistant, text, Some(item.played_ms));
        }
        if self.speaking && !self.playback.is_playing() && self.response.is_none() {
            self.speaking = false;
            self.send_client(ClientCommand::AgentSpeaking(false));
        }
    }
}
