//! `POST /v1/audio/speech`: the realtime simulator's reply tone for the input (60 ms per
//! character), as `pcm` (raw 16-bit little-endian mono at 24 kHz, OpenAI's `pcm`) or `wav` (the
//! same with a WAV header), streamed in 100 ms chunks so a client can start playing early.
//! `voice` is required but not used; `speed` and `instructions` are ignored. Without a
//! `response_format` the simulator sends `pcm` (the real service's default, `mp3`, and the other
//! compressed formats are refused).

use super::{
    super::{
        Shared,
        codec::{Format, tone},
        plan::{CHUNK_MS, speaking_ms},
    },
    Endpoint, Gate,
};
use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::Value;

/// The rate of OpenAI's `pcm` and `wav` speech.
const RATE: u32 = 24_000;
/// Longest input the real service takes.
const MAX_INPUT_CHARS: usize = 4_096;

/// The fields the simulator reads; the rest are ignored.
#[derive(Debug, Deserialize)]
struct SpeechRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    input: Option<String>,
    #[serde(default)]
    voice: Option<Value>,
    #[serde(default)]
    response_format: Option<String>,
    #[serde(default)]
    stream_format: Option<String>,
}

pub(super) async fn handle(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut gate = Gate::new(&shared, Endpoint::Speech);
    if let Some(response) = gate.keyless(&headers) {
        return response;
    }
    let request = match serde_json::from_slice::<SpeechRequest>(&body) {
        Ok(request) => request,
        Err(error) => {
            let message = format!("We could not parse the JSON body of your request. ({error})");
            return gate.invalid(&message, None, None);
        }
    };
    gate.set_model(request.model.as_deref().unwrap_or_default());
    let (input, wav) = match validate(&request) {
        Ok(valid) => valid,
        Err((message, param, code)) => return gate.invalid(&message, Some(param), Some(code)),
    };
    if let Some(response) = gate.injected_refusal().await {
        return response;
    }
    gate.record(StatusCode::OK, input);
    let samples = tone(speaking_ms(input), RATE);
    let per_chunk = (u64::from(RATE) * CHUNK_MS / 1000) as usize;
    let mut chunks: Vec<Bytes> = samples
        .chunks(per_chunk)
        .map(|piece| Bytes::from(Format::Pcm.encode(piece)))
        .collect();
    let content_type = if wav {
        let header = wav_header(samples.len());
        let first = chunks.first().cloned().unwrap_or_default();
        let joined = [header.as_slice(), first.as_ref()].concat();
        match chunks.first_mut() {
            Some(first) => *first = Bytes::from(joined),
            None => chunks.push(Bytes::from(joined)),
        }
        "audio/wav"
    } else {
        "audio/pcm"
    };
    ([(header::CONTENT_TYPE, content_type)], gate.stream(chunks)).into_response()
}

/// The input and whether the answer is a WAV file, or the 400 (message, param, code).
fn validate(request: &SpeechRequest) -> Result<(&str, bool), (String, &'static str, &'static str)> {
    let missing = |param: &'static str| {
        let message = format!("Missing required parameter: '{param}'.");
        (message, param, "missing_required_parameter")
    };
    if request.model.as_deref().is_none_or(str::is_empty) {
        return Err(missing("model"));
    }
    let input = request.input.as_deref().ok_or_else(|| missing("input"))?;
    if input.chars().count() > MAX_INPUT_CHARS {
        let message = format!(
            "Invalid 'input': string too long. Expected a string with maximum length \
             {MAX_INPUT_CHARS}, but got a string with length {}.",
            input.chars().count()
        );
        return Err((message, "input", "string_above_max_length"));
    }
    if request.voice.as_ref().is_none_or(Value::is_null) {
        return Err(missing("voice"));
    }
    if request
        .stream_format
        .as_deref()
        .is_some_and(|f| f != "audio")
    {
        let message = "The simulator streams raw audio only: 'stream_format' must be 'audio'.";
        return Err((message.to_owned(), "stream_format", "invalid_value"));
    }
    match request.response_format.as_deref() {
        None | Some("pcm") => Ok((input, false)),
        Some("wav") => Ok((input, true)),
        Some(other) => {
            let message =
                format!("Invalid value: '{other}'. The simulator supports 'pcm' and 'wav' only.");
            Err((message, "response_format", "invalid_value"))
        }
    }
}

/// The 44-byte header of a 16-bit mono WAV file of `samples` samples at 24 kHz.
fn wav_header(samples: usize) -> Vec<u8> {
    let data = u32::try_from(samples * 2).unwrap_or(u32::MAX - 36);
    let mut header = Vec::with_capacity(44);
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&(data + 36).to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    header.extend_from_slice(&16_u32.to_le_bytes());
    header.extend_from_slice(&1_u16.to_le_bytes());
    header.extend_from_slice(&1_u16.to_le_bytes());
    header.extend_from_slice(&RATE.to_le_bytes());
    header.extend_from_slice(&(RATE * 2).to_le_bytes());
    header.extend_from_slice(&2_u16.to_le_bytes());
    header.extend_from_slice(&16_u16.to_le_bytes());
    header.extend_from_slice(b"data");
    header.extend_from_slice(&data.to_le_bytes());
    header
}
