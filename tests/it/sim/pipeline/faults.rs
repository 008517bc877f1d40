//! Faults of the pipeline endpoints (`/sim/pipeline_faults`): refusals with a status (429 with
//! `Retry-After` for a counted number of requests, 500), a slow first byte, stalled and dropped
//! streams, and their log entries.

use super::{chat_request, post_json, sse_chunks, transcribe};
use crate::sim::client::{fixture, start};
use reqwest::Response;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use voxgate::provider::sim::{EndpointFaults, PipelineFaults, ScriptedTurn};

fn speech_request(input: &str) -> Value {
    json!({"model": "gpt-4o-mini-tts", "voice": "alloy", "input": input, "response_format": "pcm"})
}

/// Reads the body chunk by chunk: the bytes, when each arrived, and whether it ended properly.
async fn read_timed(mut response: Response, give_up: Duration) -> (Vec<u8>, Vec<Instant>, bool) {
    let (mut bytes, mut stamps) = (Vec::new(), Vec::new());
    loop {
        match tokio::time::timeout(give_up, response.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                bytes.extend_from_slice(&chunk);
                stamps.push(Instant::now());
            }
            Ok(Ok(None)) => return (bytes, stamps, true),
            Ok(Err(_)) | Err(_) => return (bytes, stamps, false),
        }
    }
}

#[tokio::test]
async fn a_429_wave_refuses_count_requests_with_retry_after_then_the_turn_is_answered() {
    let sim = start().await;
    sim.script(vec![ScriptedTurn {
        reply_text: Some("Finally through.".to_owned()),
        ..ScriptedTurn::default()
    }]);
    sim.set_pipeline_faults(PipelineFaults {
        llm: EndpointFaults {
            status: Some(429),
            retry_after_s: Some(2),
            count: Some(2),
            ..EndpointFaults::default()
        },
        ..PipelineFaults::default()
    });
    for _ in 0..2 {
        let response = post_json(&sim, "chat/completions", chat_request("hi", true)).await;
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "2");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"]["type"], "requests");
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    }
    let response = post_json(&sim, "chat/completions", chat_request("hi", false)).await;
    assert_eq!(response.status(), 200);
    let whole: Value = response.json().await.expect("JSON");
    assert_eq!(
        whole["choices"][0]["message"]["content"],
        "Finally through."
    );
    let log = sim.log().pipeline_requests;
    let seen: Vec<(u16, Option<&str>)> =
        log.iter().map(|r| (r.status, r.fault.as_deref())).collect();
    let fault = Some("status=429, retry_after_s=2");
    assert_eq!(seen, [(429, fault), (429, fault), (200, None)]);
}

#[tokio::test]
async fn a_500_set_over_http_breaks_only_its_endpoint_until_reset() {
    let Some(wav) = fixture("utterance-booking-16k.wav") else {
        return;
    };
    let sim = start().await;
    let http = reqwest::Client::new();
    let faults = json!({"tts": {"status": 500}});
    let set = http
        .post(format!("{}/pipeline_faults", sim.control_url()))
        .json(&faults)
        .send()
        .await
        .expect("answers");
    assert_eq!(set.status(), 200);
    let typo = json!({"tts": {"statsu": 500}});
    let refused = http
        .post(format!("{}/pipeline_faults", sim.control_url()))
        .json(&typo)
        .send()
        .await
        .expect("answers");
    assert_eq!(refused.status(), 400, "unknown fields are refused");
    for _ in 0..2 {
        let response = post_json(&sim, "audio/speech", speech_request("Hello.")).await;
        assert_eq!(response.status(), 500);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"]["type"], "server_error");
    }
    let response = transcribe(&sim, wav, &[("model", "whisper-1")]).await;
    assert_eq!(response.status(), 200);
    let reset = http
        .post(format!("{}/reset", sim.control_url()))
        .send()
        .await;
    assert_eq!(reset.expect("answers").status(), 204);
    let response = post_json(&sim, "audio/speech", speech_request("Hello.")).await;
    assert_eq!(response.status(), 200);
    let log = sim.log().pipeline_requests;
    assert_eq!(log.len(), 1, "the reset cleared the log too");
    assert_eq!(log[0].fault, None);
}

#[tokio::test]
async fn a_first_byte_delay_holds_back_the_transcription_once() {
    let Some(wav) = fixture("utterance-booking-16k.wav") else {
        return;
    };
    let sim = start().await;
    sim.set_pipeline_faults(PipelineFaults {
        stt: EndpointFaults {
            first_byte_delay_ms: Some(600),
            count: Some(1),
            ..EndpointFaults::default()
        },
        ..PipelineFaults::default()
    });
    let started = Instant::now();
    let slow = transcribe(&sim, wav.clone(), &[("model", "whisper-1")]).await;
    let waited = started.elapsed();
    assert_eq!(slow.status(), 200);
    assert!(
        waited >= Duration::from_millis(550),
        "first byte after {waited:?}"
    );
    let started = Instant::now();
    let fast = transcribe(&sim, wav, &[("model", "whisper-1")]).await;
    assert_eq!(fast.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    let log = sim.log().pipeline_requests;
    assert_eq!(log[0].fault.as_deref(), Some("first_byte_delay_ms=600"));
    assert_eq!(log[1].fault, None);
}

#[tokio::test]
async fn a_stalled_chat_stream_pauses_after_n_chunks_and_a_stalled_speech_stream_goes_quiet() {
    let sim = start().await;
    sim.script(vec![ScriptedTurn {
        reply_text: Some("One two three four five six seven eight nine ten.".to_owned()),
        ..ScriptedTurn::default()
    }]);
    sim.set_pipeline_faults(PipelineFaults {
        llm: EndpointFaults {
            stall_after_chunks: Some(2),
            stall_for_ms: Some(700),
            ..EndpointFaults::default()
        },
        tts: EndpointFaults {
            stall_after_chunks: Some(2),
            ..EndpointFaults::default()
        },
        ..PipelineFaults::default()
    });
    let response = post_json(&sim, "chat/completions", chat_request("hi", true)).await;
    let (body, stamps, ended) = read_timed(response, Duration::from_secs(5)).await;
    assert!(ended, "the stalled stream finishes");
    let text = String::from_utf8(body).expect("UTF-8");
    assert_eq!(sse_chunks(&text).len(), 7, "role, 4 content, finish, usage");
    let longest = stamps
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .expect("several reads");
    assert!(
        longest >= Duration::from_millis(600),
        "longest pause {longest:?}"
    );

    let response = post_json(&sim, "audio/speech", speech_request("A sentence to say.")).await;
    let (pcm, _, ended) = read_timed(response, Duration::from_millis(800)).await;
    assert!(!ended, "nothing after the stall");
    assert_eq!(pcm.len(), 2 * 4_800, "two 100 ms chunks");
    let log = sim.log().pipeline_requests;
    assert_eq!(
        log[0].fault.as_deref(),
        Some("stall_after_chunks=2, stall_for_ms=700")
    );
    assert_eq!(log[1].fault.as_deref(), Some("stall_after_chunks=2"));
}

#[tokio::test]
async fn a_dropped_stream_is_cut_without_its_end() {
    let sim = start().await;
    sim.set_pipeline_faults(PipelineFaults {
        llm: EndpointFaults {
            drop_after_chunks: Some(2),
            ..EndpointFaults::default()
        },
        tts: EndpointFaults {
            drop_after_chunks: Some(3),
            count: Some(1),
            ..EndpointFaults::default()
        },
        ..PipelineFaults::default()
    });
    let response = post_json(&sim, "chat/completions", chat_request("hi there", true)).await;
    assert_eq!(response.status(), 200);
    let (body, _, ended) = read_timed(response, Duration::from_secs(5)).await;
    assert!(!ended, "the body ends in an error");
    let text = String::from_utf8(body).expect("UTF-8");
    assert_eq!(text.matches("data: ").count(), 2, "{text}");
    assert!(!text.contains("[DONE]"));

    let input = "A sentence long enough for several chunks of audio.";
    let response = post_json(&sim, "audio/speech", speech_request(input)).await;
    let (pcm, _, ended) = read_timed(response, Duration::from_secs(5)).await;
    assert!(!ended);
    assert_eq!(pcm.len(), 3 * 4_800);
    let response = post_json(&sim, "audio/speech", speech_request(input)).await;
    let (pcm, _, ended) = read_timed(response, Duration::from_secs(5)).await;
    assert!(ended, "the fault was for one request");
    assert_eq!(pcm.len() as u64, 51 * 60 * 48);
    let faults: Vec<Option<String>> = sim
        .log()
        .pipeline_requests
        .into_iter()
        .map(|r| r.fault)
        .collect();
    assert_eq!(
        faults,
        [
            Some("drop_after_chunks=2".to_owned()),
            Some("drop_after_chunks=3".to_owned()),
            None
        ]
    );
}
