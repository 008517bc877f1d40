//! The async pipeline as a provider link: local VAD → speech-to-text → streamed chat completion
//! → sentence chunks → streamed text-to-speech, behind the same command/event contract as the
//! realtime client, so the session can move a live call onto it.
//!
//! [`start`] spawns one task per call that owns the conversation context, the turn detector and
//! the in-flight response. It mirrors a realtime session with server VAD, `create_response` and
//! `interrupt_response`: caller speech starting cancels the response in progress, the end of a
//! turn is transcribed and answered automatically, and every response ends with exactly one
//! `ResponseDone`.
//!
//! Each stage talks to OpenAI-compatible HTTP endpoints, walked in order with one retry loop per
//! request (`stage`), consulting and feeding [`ProviderHealth`]. When every endpoint of a stage
//! fails the link reports `pipeline.<stage>_unavailable` and stays open for the next turn.
//!
//! This module owns no policy about switching paths and reads no configuration: the caller builds
//! a [`PipelineSetup`]. It never logs keys, transcripts or audio; only codes, endpoints and
//! durations.

mod audio;
mod chat;
mod context;
mod line;
mod link;
mod listen;
mod response;
mod sentence;
mod speech;
mod sse;
mod stage;
mod stt;
#[cfg(test)]
mod stub;
#[cfg(test)]
mod tests;

pub use line::synthesize;

use crate::{health::ProviderHealth, provider::ProviderLink, secret::Secret};
use std::{sync::Arc, time::Duration};
use tokio::sync::mpsc;
use voxgate_core::{AgentSpec, session::AudioFormat};

/// One OpenAI-compatible endpoint of one stage.
#[derive(Clone, Debug)]
pub struct StageEndpoint {
    /// The provider's configured name (`openai`, `sim`, ...), as health knows it.
    pub provider: String,
    /// API base up to the version, e.g. `http://127.0.0.1:8089/v1` or `https://api.openai.com/v1`.
    pub base_url: String,
    /// Bearer key.
    pub api_key: Secret,
    /// Model name, passed through unvalidated.
    pub model: String,
}

/// How long a stage may take before an attempt counts as failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageTimeouts {
    /// Request sent → first body bytes (LLM and TTS).
    pub first_byte: Duration,
    /// Longest gap between two body chunks once a stream flows (LLM and TTS).
    pub stall: Duration,
    /// One whole transcription, every attempt and retry included.
    pub stt_total: Duration,
}

impl Default for StageTimeouts {
    fn default() -> Self {
        Self {
            first_byte: Duration::from_secs(3),
            stall: Duration::from_secs(2),
            stt_total: Duration::from_secs(10),
        }
    }
}

/// Everything one call's pipeline needs.
#[derive(Clone, Debug)]
pub struct PipelineSetup {
    /// The agent: instructions, voice, language and tools.
    pub agent: Arc<AgentSpec>,
    /// The caller's audio format, both ways (`Pcmu`/`Pcma`, or `Pcm16` at 8, 16, 24 or 48 kHz).
    pub format: AudioFormat,
    /// Speech-to-text endpoints, in order of preference.
    pub stt: Vec<StageEndpoint>,
    /// Chat-completion endpoints, in order of preference.
    pub llm: Vec<StageEndpoint>,
    /// Text-to-speech endpoints, in order of preference.
    pub tts: Vec<StageEndpoint>,
    /// Breakers and retry budgets shared by every call.
    pub health: Arc<dyn ProviderHealth>,
    /// Stage deadlines.
    pub timeouts: StageTimeouts,
}

const CHANNEL_DEPTH: usize = 512;

/// Spawns the pipeline task for one call and returns its link. `Ready` is the first event; the
/// event channel ends after `Close` (or when the command sender is dropped). Must be called
/// inside a tokio runtime.
///
/// An audio format the pipeline cannot convert (PCM at a rate other than 8, 16, 24 or 48 kHz)
/// yields `Error { Terminal, "pipeline.unsupported_format" }` and `Closed` instead of `Ready`.
pub fn start(setup: PipelineSetup) -> ProviderLink {
    let (commands, command_rx) = mpsc::channel(CHANNEL_DEPTH);
    let (event_tx, events) = mpsc::channel(CHANNEL_DEPTH);
    tokio::spawn(link::run(Arc::new(setup), command_rx, event_tx));
    ProviderLink { commands, events }
}
