//! Synthesising a fixed line (the filler, the apology) whole, in the caller's format, through
//! the same text-to-speech endpoints, breakers and retry loop as the pipeline's answers.

use super::{
    PipelineSetup,
    audio::AgentEncoder,
    speech::request,
    stage::{StageKind, Walk, open},
};
use voxgate_core::session::AudioChunk;

/// The whole line as one chunk of caller audio, or the code of why it could not be made.
pub async fn synthesize(setup: &PipelineSetup, text: &str) -> Result<AudioChunk, &'static str> {
    let Ok(mut encoder) = AgentEncoder::new(setup.format) else {
        return Err("pipeline.unsupported_format");
    };
    let timeouts = setup.timeouts;
    let mut walk = Walk::new(StageKind::Tts, &setup.tts, 0, setup.health.as_ref(), None);
    while let Some(attempt) = walk.next().await {
        let request = request(attempt.endpoint, text, &setup.agent.voice);
        let opened = match open(request, timeouts.first_byte, timeouts.stall).await {
            Ok(opened) => opened,
            Err(failure) => {
                walk.failed(attempt, failure);
                continue;
            }
        };
        walk.succeeded(&attempt, opened.latency);
        let mut data: Vec<u8> = opened
            .first
            .map(|first| encoder.push(&first))
            .unwrap_or_default()
            .concat();
        let mut body = opened.body;
        loop {
            match body.next().await {
                Ok(Some(pcm)) => data.extend(encoder.push(&pcm).concat()),
                Ok(None) => break,
                Err(_) => return Err("pipeline.tts_unavailable"),
            }
        }
        data.extend(encoder.finish().unwrap_or_default());
        if data.is_empty() {
            return Err("pipeline.tts_empty");
        }
        return Ok(AudioChunk {
            format: setup.format,
            data,
        });
    }
    Err("pipeline.tts_unavailable")
}
