//! Text-to-speech: one sentence at a time to `POST {base_url}/audio/speech` (`pcm`: raw 24 kHz
//! s16le), streamed back to the caller in their format as each piece arrives.
//!
//! A sentence's transcript delta is sent once its audio starts flowing, so text and audio stay
//! paired for truncation. An endpoint that fails before any audio is replaced by the next one for
//! the same sentence; one that fails mid-sentence keeps what was already played, and later
//! sentences start from the next endpoint (nothing is spoken twice).

use super::{
    PipelineSetup, StageEndpoint,
    audio::AgentEncoder,
    response::Emitter,
    stage::{Failure, StageKind, Walk, open},
};
use crate::outbound::http_client;
use serde_json::json;

/// No text-to-speech endpoint could speak a sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TtsUnavailable;

/// The speech request for one sentence.
pub(super) fn request(
    endpoint: &StageEndpoint,
    text: &str,
    voice: &str,
) -> reqwest::RequestBuilder {
    http_client()
        .post(format!("{}/audio/speech", endpoint.base_url))
        .bearer_auth(endpoint.api_key.expose())
        .json(&json!({
            "model": endpoint.model,
            "input": text,
            "voice": voice,
            "response_format": "pcm",
        }))
}

/// Speaks the sentences of one response, in order.
#[derive(Debug)]
pub(super) struct Speaker<'a> {
    setup: &'a PipelineSetup,
    emitter: &'a Emitter,
    encoder: AgentEncoder,
    /// Where the next sentence's walk starts (moves on after a mid-sentence failure).
    first_endpoint: usize,
    said_anything: bool,
}

impl<'a> Speaker<'a> {
    /// A speaker whose audio leaves through `emitter` in the encoder's format.
    pub(super) fn new(
        setup: &'a PipelineSetup,
        emitter: &'a Emitter,
        encoder: AgentEncoder,
    ) -> Self {
        Self {
            setup,
            emitter,
            encoder,
            first_endpoint: 0,
            said_anything: false,
        }
    }

    /// Speaks one sentence: its transcript delta, then its audio as it streams.
    pub(super) async fn speak(&mut self, sentence: &str) -> Result<(), TtsUnavailable> {
        let setup = self.setup;
        let timeouts = setup.timeouts;
        let health = setup.health.as_ref();
        let mut walk = Walk::new(
            StageKind::Tts,
            &setup.tts,
            self.first_endpoint,
            health,
            None,
        );
        while let Some(attempt) = walk.next().await {
            let request = request(attempt.endpoint, sentence, &setup.agent.voice);
            let opened = match open(request, timeouts.first_byte, timeouts.stall).await {
                Ok(opened) => opened,
                Err(failure) => {
                    walk.failed(attempt, failure);
                    continue;
                }
            };
            let Some(first) = opened.first else {
                walk.failed(attempt, Failure::retryable("tts.empty"));
                continue;
            };
            walk.succeeded(&attempt, opened.latency);
            let delta = if self.said_anything {
                format!(" {sentence}")
            } else {
                sentence.to_owned()
            };
            self.said_anything = true;
            self.emitter.transcript(delta).await;
            let mut encoder = self.encoder.clone();
            self.emitter.audio(encoder.push(&first)).await;
            let mut body = opened.body;
            loop {
                match body.next().await {
                    Ok(Some(pcm)) => self.emitter.audio(encoder.push(&pcm)).await,
                    Ok(None) => break,
                    Err(failure) => {
                        walk.failed_midway(&attempt, failure);
                        self.first_endpoint = (attempt.index + 1) % setup.tts.len().max(1);
                        break;
                    }
                }
            }
            self.emitter
                .audio(encoder.finish().into_iter().collect())
                .await;
            return Ok(());
        }
        Err(TtsUnavailable)
    }
}
