//! The simulator's OpenAI-compatible pipeline endpoints over HTTP on 127.0.0.1:
//! `/v1/audio/transcriptions` and `/v1/audio/speech` here with the 400s and 401s of all three;
//! `/v1/chat/completions` in `chat`, faults in `faults`.

mod chat;
mod faults;

use super::client::{fixture, start};
use reqwest::{
    Client, Response,
    multipart::{Form, Part},
};
use serde_json::{Value, json};
use voxgate::provider::sim::{ScriptedTurn, SimHandle};

fn http() -> Client {
    Client::new()
}

/// `POST /v1/audio/transcriptions` of `wav` (as `file`) with `fields`.
pub async fn transcribe(sim: &SimHandle, wav: Vec<u8>, fields: &[(&str, &str)]) -> Response {
    let part = Part::bytes(wav)
        .file_name("caller.wav")
        .mime_str("audio/wav")
        .expect("mime");
    let mut form = Form::new().part("file", part);
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    http()
        .post(format!("{}/audio/transcriptions", sim.base_url()))
        .bearer_auth("test")
        .multipart(form)
        .send()
        .await
        .expect("the simulator answers")
}

/// `POST /v1/{path}` with a JSON body and a key.
pub async fn post_json(sim: &SimHandle, path: &str, body: Value) -> Response {
    http()
        .post(format!("{}/{path}", sim.base_url()))
        .bearer_auth("test")
        .json(&body)
        .send()
        .await
        .expect("the simulator answers")
}

/// A chat request of one user message.
pub fn chat_request(said: &str, stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "stream_options": if stream { json!({"include_usage": true}) } else { Value::Null },
        "messages": [
            {"role": "system", "content": "You are a booking agent."},
            {"role": "user", "content": said},
        ],
    })
}

/// The chunks of an SSE body that ends with `data: [DONE]`.
pub fn sse_chunks(body: &str) -> Vec<Value> {
    let events: Vec<&str> = body
        .split("\n\n")
        .filter(|event| !event.is_empty())
        .collect();
    assert_eq!(events.last(), Some(&"data: [DONE]"), "{body}");
    events[..events.len() - 1]
        .iter()
        .map(|event| {
            let data = event.strip_prefix("data: ").expect("a data line");
            serde_json::from_str(data).expect("a JSON chunk")
        })
        .collect()
}

/// PCM16 little-endian bytes as samples.
pub fn samples(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect()
}

fn rms(samples: &[i16]) -> f64 {
    let energy: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    (energy / samples.len().max(1) as f64).sqrt()
}

#[tokio::test]
async fn a_transcription_returns_the_next_caller_transcript_and_leaves_the_turn_for_chat() {
    let Some(wav) = fixture("speech-16k.wav") else {
        return;
    };
    let sim = start().await;
    sim.script(vec![ScriptedTurn {
        caller_transcript: Some("I'd like to book Tuesday.".to_owned()),
        reply_text: Some("Tuesday it is.".to_owned()),
        ..ScriptedTurn::default()
    }]);
    for _ in 0..2 {
        let response = transcribe(&sim, wav.clone(), &[("model", "gpt-4o-transcribe")]).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["text"], "I'd like to book Tuesday.");
    }
    let reply: Value = post_json(&sim, "chat/completions", chat_request("Book it", false))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(reply["choices"][0]["message"]["content"], "Tuesday it is.");
    let response = transcribe(&sim, wav, &[("model", "whisper-1")]).await;
    let body: Value = response.json().await.expect("JSON");
    let text = body["text"].as_str().expect("text");
    assert!(text.starts_with("[caller audio: "), "{text}");
    let log = sim.log().pipeline_requests;
    let endpoints: Vec<&str> = log.iter().map(|r| r.endpoint.as_str()).collect();
    assert_eq!(
        endpoints,
        ["transcriptions", "transcriptions", "chat", "transcriptions"]
    );
    assert_eq!(log[0].model, "gpt-4o-transcribe");
    assert_eq!(log[2].detail, "Tuesday it is.");
}

#[tokio::test]
async fn an_unscripted_transcription_describes_the_audio_as_json_or_text() {
    let Some(wav) = fixture("speech-16k.wav") else {
        return;
    };
    let sim = start().await;
    let response = transcribe(&sim, wav.clone(), &[("model", "whisper-1")]).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    let text = body["text"].as_str().expect("text");
    let numbers: Vec<u64> = text
        .strip_prefix("[caller audio: ")
        .and_then(|rest| rest.strip_suffix(" ms]"))
        .and_then(|rest| rest.split_once(" ms, speech "))
        .map(|(total, speech)| [total, speech].map(|n| n.parse().expect("ms")).to_vec())
        .unwrap_or_else(|| panic!("a description: {text}"));
    assert!(numbers[0].abs_diff(20_000) < 100, "20 s of audio: {text}");
    assert!((5_000..16_000).contains(&numbers[1]), "speech: {text}");
    let fields = [("model", "whisper-1"), ("response_format", "text")];
    let response = transcribe(&sim, wav, &fields).await;
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain")
    );
    assert_eq!(response.text().await.expect("text").trim_end(), text);
}

#[tokio::test]
async fn bad_uploads_and_bad_chat_requests_get_openai_style_400s() {
    let sim = start().await;
    let url = format!("{}/audio/transcriptions", sim.base_url());
    let not_multipart = http()
        .post(&url)
        .bearer_auth("k")
        .json(&json!({"file": "x"}));
    let mp3 = Part::bytes(b"ID3\x03 not a wav".to_vec()).file_name("a.mp3");
    let no_file = Form::new().text("model", "whisper-1");
    let not_wav = Form::new().text("model", "whisper-1").part("file", mp3);
    let uploads = [
        not_multipart,
        http().post(&url).bearer_auth("k").multipart(no_file),
        http().post(&url).bearer_auth("k").multipart(not_wav),
    ];
    for request in uploads {
        let response = request.send().await.expect("answers");
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    }
    let no_model = json!({"messages": [{"role": "user", "content": "hi"}]});
    let no_messages = json!({"model": "gpt-4o-mini"});
    for (body, param) in [(no_model, Value::Null), (no_messages, json!("messages"))] {
        let response = post_json(&sim, "chat/completions", body).await;
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"]["param"], param, "{body}");
    }
    let statuses: Vec<u16> = sim
        .log()
        .pipeline_requests
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [400; 5]);
}

#[tokio::test]
async fn requests_without_a_bearer_key_get_401_on_every_endpoint() {
    let sim = start().await;
    for path in ["audio/transcriptions", "chat/completions", "audio/speech"] {
        let response = http()
            .post(format!("{}/{path}", sim.base_url()))
            .json(&chat_request("hi", false))
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), 401, "{path}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
    let log = sim.log().pipeline_requests;
    assert_eq!(log.iter().filter(|r| r.status == 401).count(), 3);
}

#[tokio::test]
async fn speech_streams_pcm_of_the_inputs_length_in_chunks_and_wav_with_a_header() {
    let sim = start().await;
    let input = "Your appointment is booked for Tuesday at three."; // 48 chars: 2.88 s
    let body = json!({"model": "gpt-4o-mini-tts", "voice": "alloy", "input": input,
                      "response_format": "pcm"});
    let mut response = post_json(&sim, "audio/speech", body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/pcm");
    assert!(
        response.headers().get("content-length").is_none(),
        "chunked"
    );
    let (mut pcm, mut pieces) = (Vec::new(), 0);
    while let Some(chunk) = response.chunk().await.expect("a chunk") {
        pcm.extend_from_slice(&chunk);
        pieces += 1;
    }
    assert!(pieces > 3, "streamed in {pieces} pieces");
    let ms = pcm.len() as u64 / 48;
    assert!(ms.abs_diff(2_880) <= 288, "{ms} ms of speech");
    assert!(rms(&samples(&pcm)) > 2_000.0, "audible");

    let body =
        json!({"model": "tts-1", "voice": "alloy", "input": input, "response_format": "wav"});
    let wav = post_json(&sim, "audio/speech", body)
        .await
        .bytes()
        .await
        .expect("body");
    assert_eq!((&wav[..4], &wav[8..16]), (&b"RIFF"[..], &b"WAVEfmt "[..]));
    assert_eq!(
        u32::from_le_bytes(wav[24..28].try_into().expect("rate")),
        24_000
    );
    let data = u32::from_le_bytes(wav[40..44].try_into().expect("size")) as usize;
    assert_eq!((data, wav.len()), (pcm.len(), pcm.len() + 44));
    let log = sim.log().pipeline_requests;
    assert_eq!(
        (log[0].endpoint.as_str(), log[0].detail.as_str()),
        ("speech", input)
    );
}
