//! `POST /v1/audio/transcriptions`: reads the multipart form (`file`, `model`, `language`,
//! `prompt`, `response_format`; other fields are ignored) and answers with the next scripted
//! turn's `caller_transcript` (peeked, not consumed: the chat completion consumes the turn) or a
//! deterministic description of the audio. Accepts WAV files of 16-bit PCM mono at 8, 16, 24 or
//! 48 kHz only.

use super::{
    super::{Shared, vad},
    Endpoint, Gate,
};
use axum::{
    Json,
    extract::{
        State,
        multipart::{Multipart, MultipartRejection},
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

const RATES: [u32; 4] = [8_000, 16_000, 24_000, 48_000];
const WAV_ONLY: &str = "The simulator accepts only WAV files of 16-bit PCM mono audio at 8, 16, \
                        24 or 48 kHz.";

/// The fields of the form the simulator uses.
#[derive(Debug, Default)]
struct Form {
    file: Option<Vec<u8>>,
    model: Option<String>,
    response_format: Option<String>,
}

/// How the transcript is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Text,
    VerboseJson,
}

/// Decoded caller audio.
struct Audio {
    samples: Vec<i16>,
    rate: u32,
}

pub(super) async fn handle(
    State(shared): State<Shared>,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    let mut gate = Gate::new(&shared, Endpoint::Transcriptions);
    if let Some(response) = gate.keyless(&headers) {
        return response;
    }
    let form = match form {
        Ok(multipart) => read_form(multipart).await,
        Err(rejection) => Err(rejection.body_text()),
    };
    let form = match form {
        Ok(form) => form,
        Err(message) => return gate.invalid(&message, None, None),
    };
    let Some(model) = form.model.as_deref().filter(|m| !m.is_empty()) else {
        return gate.invalid("you must provide a model parameter", None, None);
    };
    gate.set_model(model);
    let format = match form.response_format.as_deref() {
        None | Some("json") => Format::Json,
        Some("text") => Format::Text,
        Some("verbose_json") => Format::VerboseJson,
        Some(other) => {
            let message = format!(
                "Invalid value: '{other}'. The simulator supports 'json', 'text' and \
                 'verbose_json'."
            );
            return gate.invalid(&message, Some("response_format"), Some("invalid_value"));
        }
    };
    let Some(file) = form.file else {
        let message = "Missing required parameter: 'file'.";
        return gate.invalid(message, Some("file"), Some("missing_required_parameter"));
    };
    let Some(audio) = parse_wav(&file) else {
        return gate.invalid(WAV_ONLY, Some("file"), Some("invalid_value"));
    };
    if let Some(response) = gate.injected_refusal().await {
        return response;
    }
    let text = shared
        .control
        .next_caller_transcript()
        .unwrap_or_else(|| describe(&audio));
    gate.record(StatusCode::OK, &text);
    let seconds = audio.samples.len() as f64 / f64::from(audio.rate);
    match format {
        Format::Json => Json(json!({
            "text": text,
            "usage": {"type": "duration", "seconds": seconds.ceil()},
        }))
        .into_response(),
        Format::Text => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            text + "\n",
        )
            .into_response(),
        Format::VerboseJson => Json(json!({
            "task": "transcribe",
            "language": "english",
            "duration": seconds,
            "text": text,
            "segments": [],
            "usage": {"type": "duration", "seconds": seconds.ceil()},
        }))
        .into_response(),
    }
}

/// Reads the form's fields; the error is the 400's message.
async fn read_form(mut multipart: Multipart) -> Result<Form, String> {
    let mut form = Form::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|error| error.body_text())?
    {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => {
                let bytes = field.bytes().await.map_err(|error| error.body_text())?;
                form.file = Some(bytes.to_vec());
            }
            "model" | "response_format" => {
                let text = field.text().await.map_err(|error| error.body_text())?;
                let text = Some(text.trim().to_owned());
                match name.as_str() {
                    "model" => form.model = text,
                    _ => form.response_format = text,
                }
            }
            // `language`, `prompt`, `temperature`, ...: read and ignored.
            _ => {
                field.bytes().await.map_err(|error| error.body_text())?;
            }
        }
    }
    Ok(form)
}

/// The samples of a RIFF/WAVE file of 16-bit PCM mono at a supported rate.
fn parse_wav(wav: &[u8]) -> Option<Audio> {
    if wav.get(..4)? != b"RIFF" || wav.get(8..12)? != b"WAVE" {
        return None;
    }
    let (mut at, mut rate, mut data) = (12, None, None);
    while let Some(head) = wav.get(at..at + 8) {
        let size = u32::from_le_bytes(head[4..8].try_into().ok()?) as usize;
        let end = at.saturating_add(8).saturating_add(size).min(wav.len());
        let body = &wav[at + 8..end];
        match &head[..4] {
            b"fmt " => {
                let word =
                    |i: usize| Some(u16::from_le_bytes(body.get(i..i + 2)?.try_into().ok()?));
                let format = word(0)?;
                let channels = word(2)?;
                let bits = word(14)?;
                let hz = u32::from_le_bytes(body.get(4..8)?.try_into().ok()?);
                let pcm = format == 1 || format == 0xFFFE;
                if !pcm || channels != 1 || bits != 16 || !RATES.contains(&hz) {
                    return None;
                }
                rate = Some(hz);
            }
            b"data" => data = Some(body),
            _ => {}
        }
        at = end + size % 2;
    }
    let samples = data?
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    Some(Audio {
        samples,
        rate: rate?,
    })
}

/// `[caller audio: 1240 ms, speech 980 ms]`: the length of the audio and how much of it is
/// voiced (the realtime VAD's default threshold).
fn describe(audio: &Audio) -> String {
    let total = audio.samples.len() as u64 * 1000 / u64::from(audio.rate);
    let speech = vad::voiced_ms(&audio.samples, audio.rate);
    format!("[caller audio: {total} ms, speech {speech} ms]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
        let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut wav = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0".to_vec();
        wav.extend(channels.to_le_bytes());
        wav.extend(rate.to_le_bytes());
        wav.extend((rate * 2).to_le_bytes());
        wav.extend([2, 0, 16, 0]);
        wav.extend(b"data");
        wav.extend((data.len() as u32).to_le_bytes());
        wav.extend(data);
        wav
    }

    #[test]
    fn a_wav_is_described_by_its_length_and_its_voiced_part() {
        let mut samples = vec![0_i16; 8_000];
        samples.extend((0..8_000).map(|n| if n % 2 == 0 { 5_000 } else { -5_000 }));
        let audio = parse_wav(&wav(16_000, 1, &samples)).expect("a valid WAV");
        assert_eq!(describe(&audio), "[caller audio: 1000 ms, speech 500 ms]");
    }

    #[test]
    fn stereo_odd_rates_and_other_files_are_refused() {
        assert!(parse_wav(&wav(16_000, 2, &[0; 100])).is_none());
        assert!(parse_wav(&wav(22_050, 1, &[0; 100])).is_none());
        assert!(parse_wav(b"ID3\x03 not a wav").is_none());
        assert!(parse_wav(&wav(48_000, 1, &[0; 100])).is_some());
    }
}
