//! Synthetic probes of a provider whose breaker is open: the smallest request that shows the
//! endpoint works again. A probe never carries a caller's audio or words: a realtime connect
//! that is closed at once, a transcription of half a second of silence, a one-token completion,
//! a one-word speech.

use super::{openai_realtime, openai_realtime::RealtimeEndpoint, pipeline::StageEndpoint};
use crate::{health::ProbeFn, outbound::http_client};
use futures_util::FutureExt;
use std::{sync::Arc, time::Instant};
use voxgate_core::{
    AgentSpec,
    failover::Outcome,
    session::{AudioFormat, ErrorClass, ProviderCommand},
};

/// How a probe's HTTP answer counts.
fn outcome_of(started: Instant, result: Result<reqwest::Response, reqwest::Error>) -> Outcome {
    match result {
        Ok(response) if response.status().is_success() => Outcome::Success {
            latency: started.elapsed(),
        },
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(std::time::Duration::from_secs);
            let class = match status {
                429 | 500..=599 => ErrorClass::Retryable,
                _ => ErrorClass::Terminal,
            };
            Outcome::Failure { class, retry_after }
        }
        Err(_) => Outcome::Failure {
            class: ErrorClass::Retryable,
            retry_after: None,
        },
    }
}

fn url(endpoint: &StageEndpoint, path: &str) -> String {
    format!("{}/{path}", endpoint.base_url.trim_end_matches('/'))
}

/// Connects a realtime session (configured for a neutral probe agent) and closes it.
pub fn realtime(endpoint: RealtimeEndpoint, format: AudioFormat) -> ProbeFn {
    let agent = Arc::new(AgentSpec {
        name: "voxgate-probe".to_owned(),
        description: None,
        instructions: "Health probe. Say nothing.".to_owned(),
        greeting: None,
        voice: "alloy".to_owned(),
        language: None,
        realtime: Vec::new(),
        pipeline: Default::default(),
        latency: Default::default(),
        guard: Default::default(),
        budget: Default::default(),
        tools: Vec::new(),
        knowledge: None,
        failover: Default::default(),
        call_control: Default::default(),
    });
    Arc::new(move || {
        let (endpoint, agent) = (endpoint.clone(), agent.clone());
        async move {
            let started = Instant::now();
            match openai_realtime::connect(&endpoint, &agent, format).await {
                Ok(link) => {
                    let _ = link.commands.send(ProviderCommand::Close).await;
                    Outcome::Success {
                        latency: started.elapsed(),
                    }
                }
                Err(error) => Outcome::Failure {
                    class: error.class,
                    retry_after: error.retry_after,
                },
            }
        }
        .boxed()
    })
}

/// Half a second of silence as a 16 kHz WAV.
fn silent_wav() -> Vec<u8> {
    let samples = 8000u32;
    let data_len = samples * 2;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&16_000u32.to_le_bytes());
    wav.extend_from_slice(&32_000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    wav.resize(44 + data_len as usize, 0);
    wav
}

/// Transcribes half a second of silence.
pub fn transcription(endpoint: StageEndpoint) -> ProbeFn {
    Arc::new(move || {
        let endpoint = endpoint.clone();
        async move {
            let file = reqwest::multipart::Part::bytes(silent_wav())
                .file_name("probe.wav")
                .mime_str("audio/wav");
            let Ok(file) = file else {
                return Outcome::Failure {
                    class: ErrorClass::Terminal,
                    retry_after: None,
                };
            };
            let form = reqwest::multipart::Form::new()
                .text("model", endpoint.model.clone())
                .part("file", file);
            let started = Instant::now();
            let result = http_client()
                .post(url(&endpoint, "audio/transcriptions"))
                .bearer_auth(endpoint.api_key.expose())
                .multipart(form)
                .send()
                .await;
            outcome_of(started, result)
        }
        .boxed()
    })
}

/// POSTs `body` to `path` of the endpoint and judges the answer.
fn post_json(endpoint: StageEndpoint, path: &'static str, body: serde_json::Value) -> ProbeFn {
    Arc::new(move || {
        let (endpoint, body) = (endpoint.clone(), body.clone());
        async move {
            let started = Instant::now();
            let result = http_client()
                .post(url(&endpoint, path))
                .bearer_auth(endpoint.api_key.expose())
                .json(&body)
                .send()
                .await;
            outcome_of(started, result)
        }
        .boxed()
    })
}

/// Asks for a one-token completion.
pub fn chat(endpoint: StageEndpoint) -> ProbeFn {
    let body = serde_json::json!({
        "model": endpoint.model,
        "messages": [{"role": "user", "content": "Reply with OK."}],
        "max_tokens": 1,
    });
    post_json(endpoint, "chat/completions", body)
}

/// Synthesises one word.
pub fn speech(endpoint: StageEndpoint) -> ProbeFn {
    let body = serde_json::json!({
        "model": endpoint.model,
        "input": "OK",
        "voice": "alloy",
        "response_format": "pcm",
    });
    post_json(endpoint, "audio/speech", body)
}
