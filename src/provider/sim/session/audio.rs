//! The input audio buffer: `append` (decoded by the input format, fed to the VAD), `commit`,
//! `clear`, and the turn a VAD boundary commits.

use super::{Out, Session};
use crate::provider::sim::{
    codec,
    config::Refusal,
    control::VadLog,
    event,
    vad::{Vad, VadEvent},
};
use serde_json::{Value, json};
use tokio::time::Instant;

/// Uncommitted audio kept before speech (it must cover the prefix padding).
const IDLE_KEEP_MS: u64 = 1_000;
/// Uncommitted audio kept without turn detection.
const MANUAL_KEEP_MS: u64 = 300_000;
/// The service refuses to commit less than this.
const COMMIT_MIN_MS: u64 = 100;

impl Session {
    /// Audio ms appended since the session began.
    pub(super) fn audio_ms(&self) -> u64 {
        self.ms_base + self.samples * 1000 / u64::from(self.settings.input.rate())
    }

    /// The buffer index of an audio time.
    fn index(&self, ms: u64) -> usize {
        let offset =
            ms.saturating_sub(self.buffer_start_ms) * u64::from(self.settings.input.rate());
        usize::try_from(offset / 1000)
            .unwrap_or(usize::MAX)
            .min(self.buffer.len())
    }

    pub(super) fn on_append(
        &mut self,
        event: &Value,
        now: Instant,
        out: &mut Vec<Out>,
    ) -> Result<(), Refusal> {
        let Some(audio) = event["audio"].as_str() else {
            return Err(Refusal::missing("audio"));
        };
        let Some(bytes) = codec::b64_decode(audio) else {
            let message = "Invalid 'audio'. Expected base64-encoded audio bytes.".to_owned();
            return Err(Refusal::invalid("audio", message));
        };
        let samples = self.decoder.push(&bytes);
        self.samples += samples.len() as u64;
        self.buffer.extend_from_slice(&samples);
        let boundaries = match &mut self.vad {
            Some(vad) => vad.push(&samples),
            None => Vec::new(),
        };
        for boundary in boundaries {
            match boundary {
                VadEvent::Started { audio_start_ms } => self.speech_started(audio_start_ms, out),
                VadEvent::Stopped { audio_end_ms } => self.speech_stopped(audio_end_ms, now, out),
            }
        }
        self.trim();
        Ok(())
    }

    /// Bounds the buffer while nobody speaks.
    fn trim(&mut self) {
        let keep = match (&self.vad, self.settings.turn) {
            (Some(vad), _) if vad.speaking() => return,
            (Some(_), Some(turn)) => IDLE_KEEP_MS.max(turn.vad.prefix_padding_ms + 200),
            _ => MANUAL_KEEP_MS,
        };
        let buffered = self.audio_ms().saturating_sub(self.buffer_start_ms);
        if buffered > 2 * keep {
            let cut_ms = self.audio_ms() - keep;
            let cut = self.index(cut_ms);
            self.buffer.drain(..cut);
            self.buffer_start_ms = cut_ms;
        }
    }

    fn speech_started(&mut self, audio_start_ms: u64, out: &mut Vec<Out>) {
        let audio_start_ms = audio_start_ms.max(self.buffer_start_ms);
        let item_id = event::new_id("item");
        out.push(Out::Event(event::server(
            "input_audio_buffer.speech_started",
            json!({"audio_start_ms": audio_start_ms, "item_id": item_id}),
        )));
        self.log_vad("speech_started", audio_start_ms, &item_id);
        self.speech = Some((item_id, audio_start_ms));
        if self.settings.turn.is_some_and(|t| t.interrupt_response) {
            self.cancel_response("turn_detected", out);
        }
    }

    fn speech_stopped(&mut self, audio_end_ms: u64, now: Instant, out: &mut Vec<Out>) {
        let Some((item_id, audio_start_ms)) = self.speech.take() else {
            return;
        };
        out.push(Out::Event(event::server(
            "input_audio_buffer.speech_stopped",
            json!({"audio_end_ms": audio_end_ms, "item_id": item_id}),
        )));
        self.log_vad("speech_stopped", audio_end_ms, &item_id);
        self.commit(item_id, audio_start_ms, audio_end_ms, out);
        let create = self.settings.turn.is_some_and(|t| t.create_response);
        if create && self.response.is_none() {
            // A VAD turn has no parameters to refuse.
            let _ = self.start_response(&Value::Null, now, out);
        }
    }

    fn log_vad(&self, kind: &str, audio_ms: u64, item_id: &str) {
        let entry = VadLog {
            kind: kind.to_owned(),
            audio_ms,
            item_id: item_id.to_owned(),
        };
        self.control.record(|log| log.vad.push(entry));
    }

    /// Commits `[start, end)` of the buffer as the user item `item_id`.
    fn commit(&mut self, item_id: String, start_ms: u64, end_ms: u64, out: &mut Vec<Out>) {
        let to = self.index(end_ms);
        let from = self.index(start_ms).min(to);
        let turn = self.buffer[from..to].to_vec();
        self.buffer.drain(..to);
        self.buffer_start_ms = end_ms.max(self.buffer_start_ms);
        let turn_ms = end_ms.saturating_sub(start_ms);
        self.input_audio_ms += turn_ms;
        self.echo = Some((turn, self.settings.input.rate()));
        let previous = self.conversation.last_id();
        out.push(Out::Event(event::server(
            "input_audio_buffer.committed",
            json!({"item_id": item_id, "previous_item_id": previous}),
        )));
        let item = event::user_audio_item(&item_id, None);
        self.conversation.push(item.clone(), None);
        for kind in ["conversation.item.added", "conversation.item.done"] {
            let fields = json!({"item": item, "previous_item_id": previous});
            out.push(Out::Event(event::server(kind, fields)));
        }
        if self.settings.transcription {
            let transcript = self
                .control
                .next_caller_transcript()
                .unwrap_or_else(|| format!("(caller audio, {turn_ms} ms)"));
            out.push(Out::Event(event::server(
                "conversation.item.input_audio_transcription.completed",
                json!({
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": transcript,
                    "usage": {"type": "duration", "seconds": turn_ms as f64 / 1000.0},
                }),
            )));
        }
    }

    pub(super) fn on_commit(&mut self, out: &mut Vec<Out>) -> Result<(), Refusal> {
        let end_ms = self.audio_ms();
        let buffered = end_ms.saturating_sub(self.buffer_start_ms);
        if self.buffer.is_empty() || buffered < COMMIT_MIN_MS {
            return Err(Refusal {
                code: "input_audio_buffer_commit_empty",
                message: format!(
                    "Error committing input audio buffer: buffer too small. Expected at least \
                     {COMMIT_MIN_MS}ms of audio, but buffer only has {buffered}ms of audio."
                ),
                param: None,
            });
        }
        let item_id = match self.speech.take() {
            Some((item_id, _)) => item_id,
            None => event::new_id("item"),
        };
        self.commit(item_id, self.buffer_start_ms, end_ms, out);
        self.reset_vad(end_ms);
        Ok(())
    }

    pub(super) fn on_clear(&mut self, out: &mut Vec<Out>) {
        let now_ms = self.audio_ms();
        self.buffer.clear();
        self.buffer_start_ms = now_ms;
        self.speech = None;
        self.reset_vad(now_ms);
        out.push(Out::Event(event::server(
            "input_audio_buffer.cleared",
            json!({}),
        )));
    }

    fn reset_vad(&mut self, start_ms: u64) {
        let rate = self.settings.input.rate();
        self.vad = self
            .settings
            .turn
            .map(|turn| Vad::new(turn.vad, rate, start_ms));
    }
}
