//! Audio for the lines voxgate speaks itself (the filler and the apology), ready before they are
//! needed: a short chime at once, so a line is never silence, then the agent's own words from
//! the pipeline's text-to-speech, cached per voice, words and format for every later call.

use super::CallPaths;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock, PoisonError},
};
use tokio::sync::{OnceCell, mpsc};
use voxgate_core::{
    audio::{SampleRate, g711, tone},
    session::{AudioChunk, AudioFormat, Line},
};

/// Synthesised lines, by (voice, words, format). Calls that start together wait for one
/// synthesis instead of each asking for their own; a failed one is not kept.
type Cache = Mutex<HashMap<(String, String, String), Arc<OnceCell<AudioChunk>>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Cache::default)
}

/// Sends the session audio for both lines: a chime now, the spoken words once synthesised.
pub(super) fn prepare(paths: &CallPaths, audio: mpsc::Sender<(Line, AudioChunk)>) {
    let lines = [
        (Line::Filler, paths.agent.failover.filler_line.clone()),
        (Line::Apology, paths.agent.failover.apology_line.clone()),
    ];
    for (line, _) in &lines {
        let _ = audio.try_send((*line, chime(paths.format)));
    }
    let setup = paths.pipeline_setup();
    tokio::spawn(async move {
        for (line, words) in lines {
            let key = (
                setup.agent.voice.clone(),
                words.clone(),
                format!("{:?}", setup.format),
            );
            let cell = cache()
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(key)
                .or_default()
                .clone();
            let synthesised = cell
                .get_or_try_init(|| crate::provider::pipeline::synthesize(&setup, &words))
                .await;
            let chunk = match synthesised {
                Ok(chunk) => chunk.clone(),
                Err(code) => {
                    tracing::info!(code, "Line not synthesised; the chime stands in.");
                    continue;
                }
            };
            if audio.send((line, chunk)).await.is_err() {
                return;
            }
        }
    });
}

/// Two soft notes, 400 ms, in the caller's format.
fn chime(format: AudioFormat) -> AudioChunk {
    let rate = match format {
        AudioFormat::Pcm16 { rate } => SampleRate::from_hz(rate).unwrap_or(SampleRate::Hz8k),
        AudioFormat::Pcmu | AudioFormat::Pcma => SampleRate::Hz8k,
    };
    let half = usize::try_from(rate.samples_per_ms() * 200).unwrap_or(1600);
    let mut samples = tone::tone(660.0, 6000, rate, half);
    samples.extend(tone::tone(880.0, 6000, rate, half));
    let mut data = Vec::with_capacity(samples.len() * 2);
    match format {
        AudioFormat::Pcmu => g711::ulaw_encode_into(&samples, &mut data),
        AudioFormat::Pcma => g711::alaw_encode_into(&samples, &mut data),
        AudioFormat::Pcm16 { .. } => data.extend(samples.iter().flat_map(|s| s.to_le_bytes())),
    }
    AudioChunk { format, data }
}
