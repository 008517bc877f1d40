//! Speech-to-text: one caller utterance (16 kHz PCM) as a WAV file to
//! `POST {base_url}/audio/transcriptions` (multipart: `file`, `model`, `language`), walking the
//! stage's endpoints. The whole request, retries included, must finish within `stt_total`; its
//! latency as health sees it is the whole request's (the answer is not streamed). Utterances are
//! transcribed one after another by one task per call, so their texts come back in order.

use super::{
    PipelineSetup,
    audio::LISTEN_RATE,
    link::Internal,
    stage::{Failure, StageKind, Walk, check_status},
};
use crate::outbound::http_client;
use serde::Deserialize;
use std::sync::Arc;
use tokio::{sync::mpsc, time::Instant};

/// Speech-to-text found no endpoint that could serve the utterance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SttUnavailable;

#[derive(Deserialize)]
struct Transcription {
    text: String,
}

/// Transcribes utterances one after another, so their texts come back in order.
pub(super) async fn transcribe_in_order(
    setup: Arc<PipelineSetup>,
    mut utterances: mpsc::UnboundedReceiver<Vec<i16>>,
    link: mpsc::Sender<Internal>,
) {
    while let Some(utterance) = utterances.recv().await {
        let result = transcribe(&setup, &utterance).await;
        if link.send(Internal::Transcribed(result)).await.is_err() {
            return;
        }
    }
}

/// The utterance's text (possibly empty), or why no endpoint could give it.
pub(super) async fn transcribe(
    setup: &PipelineSetup,
    utterance: &[i16],
) -> Result<String, SttUnavailable> {
    let started = Instant::now();
    let deadline = started + setup.timeouts.stt_total;
    let wav = wav(utterance);
    let language = setup.agent.language.as_deref().and_then(iso_639_1);
    let health = setup.health.as_ref();
    let mut walk = Walk::new(StageKind::Stt, &setup.stt, 0, health, Some(deadline));
    while let Some(attempt) = walk.next().await {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(wav.clone()).file_name("utterance.wav"),
            )
            .text("model", attempt.endpoint.model.clone())
            .text("response_format", "json");
        let form = match &language {
            Some(language) => form.text("language", language.clone()),
            None => form,
        };
        let request = http_client()
            .post(format!(
                "{}/audio/transcriptions",
                attempt.endpoint.base_url
            ))
            .bearer_auth(attempt.endpoint.api_key.expose())
            .multipart(form);
        let sent = Instant::now();
        match tokio::time::timeout_at(deadline, send(request, setup)).await {
            Ok(Ok(text)) => {
                walk.succeeded(&attempt, sent.elapsed());
                tracing::debug!(endpoint = %attempt.endpoint.base_url, ms = sent.elapsed().as_millis(), "Utterance transcribed.");
                return Ok(text);
            }
            Ok(Err(failure)) => walk.failed(attempt, failure),
            Err(_) => walk.failed(attempt, Failure::retryable("http.timeout")),
        }
    }
    Err(SttUnavailable)
}

async fn send(request: reqwest::RequestBuilder, setup: &PipelineSetup) -> Result<String, Failure> {
    let response = request.send().await.map_err(|e| Failure::transport(&e))?;
    let response = check_status(response, setup.timeouts.stall).await?;
    let body = response.bytes().await.map_err(|e| Failure::transport(&e))?;
    let parsed: Transcription =
        serde_json::from_slice(&body).map_err(|_| Failure::retryable("stt.bad_response"))?;
    Ok(parsed.text.trim().to_owned())
}

/// The ISO 639-1 code speech-to-text expects, from a BCP 47 tag (`en-US` → `en`).
fn iso_639_1(tag: &str) -> Option<String> {
    let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
    (primary.len() == 2 && primary.bytes().all(|b| b.is_ascii_lowercase())).then_some(primary)
}

/// A mono 16-bit WAV file of 16 kHz samples.
pub(super) fn wav(samples: &[i16]) -> Vec<u8> {
    let rate = LISTEN_RATE.hz();
    let data_len = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX - 36);
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wav_file_has_a_canonical_header_and_the_samples() {
        let file = wav(&[1, -2]);
        assert_eq!(file.len(), 48);
        assert_eq!(&file[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes([file[4], file[5], file[6], file[7]]), 40);
        assert_eq!(
            u32::from_le_bytes([file[24], file[25], file[26], file[27]]),
            16_000
        );
        assert_eq!(&file[44..], &[1, 0, 0xFE, 0xFF]);
    }

    #[test]
    fn language_tags_become_two_letter_codes() {
        assert_eq!(iso_639_1("en-US").as_deref(), Some("en"));
        assert_eq!(iso_639_1("de").as_deref(), Some("de"));
        assert_eq!(iso_639_1("yue-HK"), None);
    }
}
