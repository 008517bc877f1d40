//! End to end over real sockets: a native-WebSocket caller talks to an agent served by the
//! in-process provider simulator, hears agent audio, barges in, and the call is stored.

use crate::{
    sim::wav_pcm,
    support::{agent_body, poll_until},
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::{connect_async, tungstenite::Message};
use voxgate::provider::sim::ScriptedTurn;

pub(crate) type Client = crate::support::WsClient;
pub(crate) type Call = crate::support::CallSetup;

async fn call_setup() -> Call {
    Call::start().await
}

pub(crate) async fn token(call: &Call) -> String {
    let minted: Value = call
        .server
        .post("/v1/call-tokens", &call.key, &json!({"agent": "desk"}))
        .await
        .json()
        .await
        .expect("json");
    minted["token"].as_str().expect("token").to_owned()
}

pub(crate) async fn dial(call: &Call, token: &str) -> Client {
    let url = format!(
        "{}/v1/calls/ws?token={token}",
        call.server.base.replacen("http", "ws", 1)
    );
    let (mut socket, _) = connect_async(url).await.expect("upgrade");
    let start = json!({"type": "start", "sample_rate": 16000}).to_string();
    socket.send(Message::text(start)).await.expect("start sent");
    socket
}

/// Reads until `stop` says so or 20 s pass; echoes every mark at once (instant playback)
/// unless `echo` is false. Returns text events and the agent audio bytes.
pub(crate) async fn listen(
    socket: &mut Client,
    echo: bool,
    mut stop: impl FnMut(&Value, usize) -> bool,
) -> (Vec<Value>, Vec<u8>) {
    let (mut events, mut audio) = (Vec::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, socket.next()).await {
        match message {
            Message::Binary(bytes) => audio.extend_from_slice(&bytes),
            Message::Text(text) => {
                let event: Value = serde_json::from_str(text.as_str()).expect("server JSON");
                if echo && event["type"] == "mark" {
                    let reply = json!({"type": "mark", "mark": event["mark"]}).to_string();
                    socket
                        .send(Message::text(reply))
                        .await
                        .expect("mark echoed");
                }
                let done = stop(&event, audio.len());
                events.push(event);
                if done {
                    break;
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    (events, audio)
}

/// The stored call once its record says `ended` (the writer finishes just after the call).
pub(crate) async fn ended_call(call: &Call, call_id: &str) -> Value {
    let path = format!("/v1/calls/{call_id}");
    call.server
        .json_until(&path, &call.key, |stored| {
            stored["call"]["status"] == "ended"
        })
        .await
}

pub(crate) fn rms_dbfs(pcm: &[u8]) -> f32 {
    let samples: Vec<i16> = pcm
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    voxgate_core::audio::rms_dbfs(&samples)
}

pub(crate) async fn speak(socket: &mut Client, pcm: &[u8]) {
    // 100 ms frames: well under the 500 messages per second limit even without pacing.
    for frame in pcm.chunks(3200) {
        socket
            .send(Message::binary(frame.to_vec()))
            .await
            .expect("audio sent");
    }
}

#[tokio::test]
async fn a_websocket_caller_hears_the_agent_and_the_call_is_stored() {
    let Some((speech, rate)) = wav_pcm("speech-16k.wav") else {
        return;
    };
    assert_eq!(rate, 16_000);
    let call = call_setup().await;
    let mut socket = dial(&call, &token(&call).await).await;
    // About 3 s of speech, then 1.5 s of silence to end the turn.
    speak(&mut socket, &speech[..32 * 3000]).await;
    speak(&mut socket, &vec![0u8; 32 * 1500]).await;
    let (events, audio) = listen(&mut socket, true, |event, _| {
        event["type"] == "transcript" && event["role"] == "assistant"
    })
    .await;
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types[..2], ["started", "mode"], "{types:?}");
    assert!(types.contains(&"agent_speaking"), "{types:?}");
    assert!(
        audio.len() > 32 * 500,
        "at least half a second of agent audio: {}",
        audio.len()
    );
    assert!(rms_dbfs(&audio) > -50.0, "agent audio is not silent");
    let call_id = events[0]["call_id"].as_str().expect("call id").to_owned();
    // The call is on record while it is still going.
    let live: Value = call
        .server
        .get(&format!("/v1/calls/{call_id}"), &call.key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(live["call"]["status"], "live", "{live}");
    socket
        .send(Message::text(json!({"type": "hangup"}).to_string()))
        .await
        .expect("hangup");
    let (events, _) = listen(&mut socket, false, |event, _| event["type"] == "ended").await;
    assert_eq!(
        events.last().map(|e| e["reason"].clone()),
        Some(json!("caller_hangup"))
    );
    let stored = ended_call(&call, &call_id).await;
    assert_eq!(stored["call"]["end_reason"], "caller_hangup", "{stored}");
    let assistant = stored["transcript"]
        .as_array()
        .expect("transcript")
        .iter()
        .find(|item| item["role"] == "assistant")
        .cloned()
        .expect("an assistant item is stored");
    assert!(
        assistant["played_ms"].as_i64().is_some_and(|ms| ms > 500),
        "{assistant}"
    );
    // The call token worked once.
    let url = format!(
        "{}/v1/calls/ws?token={}",
        call.server.base.replacen("http", "ws", 1),
        "x"
    );
    assert!(
        connect_async(url).await.is_err(),
        "a bad token is refused before the upgrade"
    );
}

#[tokio::test]
async fn a_call_token_works_once() {
    let call = call_setup().await;
    let token = token(&call).await;
    let mut socket = dial(&call, &token).await;
    let (events, _) = listen(&mut socket, false, |event, _| event["type"] == "mode").await;
    assert_eq!(events[0]["type"], "started");
    let url = format!(
        "{}/v1/calls/ws?token={token}",
        call.server.base.replacen("http", "ws", 1)
    );
    let second = connect_async(url).await;
    let Err(tokio_tungstenite::tungstenite::Error::Http(response)) = second else {
        panic!("a spent token must be refused with an HTTP error");
    };
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn barging_in_clears_playback_and_truncates_to_what_was_played() {
    let Some((speech, _)) = wav_pcm("speech-16k.wav") else {
        return;
    };
    let call = call_setup().await;
    call.sim.script(vec![ScriptedTurn {
        reply_text: Some(
            "Our opening hours are nine to five, Monday to Friday, and ten to two on Saturdays."
                .into(),
        ),
        reply_audio_ms: Some(4000),
        ..ScriptedTurn::default()
    }]);
    let mut socket = dial(&call, &token(&call).await).await;
    speak(&mut socket, &speech[..32 * 2000]).await;
    speak(&mut socket, &vec![0u8; 32 * 1500]).await;
    // Play (confirm) marks until 1 s of agent audio at 16 kHz has been heard, then talk over it.
    let mut played = Vec::new();
    let (events, _) = listen(&mut socket, false, |event, audio_len| {
        if event["type"] == "mark" {
            played.push((event["mark"].as_u64().unwrap_or(0), audio_len));
        }
        played.last().is_some_and(|(_, len)| *len >= 32 * 1000)
    })
    .await;
    let (mark, confirmed_bytes) = *played.last().expect("marks arrived");
    let confirm = json!({"type": "mark", "mark": mark}).to_string();
    socket.send(Message::text(confirm)).await.expect("mark");
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "agent_speaking" && e["speaking"] == true)
    );
    speak(&mut socket, &speech[..32 * 1500]).await;
    let (events, _) = listen(&mut socket, false, |event, _| event["type"] == "clear").await;
    assert_eq!(
        events.last().map(|e| e["type"].clone()),
        Some(json!("clear")),
        "{events:?}"
    );
    // The simulator saw a truncate at the played milliseconds, within one 20 ms frame.
    let played_ms = (confirmed_bytes / 32) as i64;
    let truncations = poll_until(|| call.sim.log().truncations, |t| !t.is_empty()).await;
    let log = call.sim.log();
    let truncate = truncations
        .first()
        .unwrap_or_else(|| panic!("no truncate: {:?} {:?}", log.client_events, log.errors));
    assert!(
        (truncate.audio_end_ms as i64 - played_ms).abs() <= 20,
        "truncated at {} ms, played {played_ms} ms",
        truncate.audio_end_ms
    );
}

#[tokio::test]
async fn a_bad_frame_gets_an_error_event_and_the_call_is_still_recorded() {
    let call = call_setup().await;
    let mut socket = dial(&call, &token(&call).await).await;
    let (events, _) = listen(&mut socket, false, |event, _| event["type"] == "mode").await;
    let call_id = events[0]["call_id"].as_str().expect("call id").to_owned();
    let bad = json!({"type": "teleport", "to": "mars"}).to_string();
    socket.send(Message::text(bad)).await.expect("sent");
    let (events, _) = listen(&mut socket, false, |event, _| event["type"] == "ended").await;
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"error"), "{events:?}");
    assert_eq!(events[0]["code"], "protocol.bad_message");
    assert_eq!(kinds.last(), Some(&"ended"), "{events:?}");
    let stored = ended_call(&call, &call_id).await;
    assert_eq!(stored["call"]["status"], "ended", "{stored}");
}

#[tokio::test]
async fn a_tool_call_reaches_the_webhook_and_its_result_goes_back_to_the_model() {
    use axum::{Json, Router, routing::post};
    use std::sync::{Arc, Mutex};
    let Some((speech, _)) = wav_pcm("speech-16k.wav") else {
        return;
    };
    // The agent's tool webhook: records what it got, answers with a booking.
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = received.clone();
    let hook = Router::new().route(
        "/book",
        post(move |Json(body): Json<Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().expect("lock").push(body);
                Json(json!({"booked": true, "slot": "09:30"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook_url = format!("http://{}/book", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, hook).await });

    let call = call_setup().await;
    let mut agent = agent_body("desk");
    agent["tools"][0]["webhook"] = json!(hook_url);
    let updated = call
        .server
        .request(reqwest::Method::PUT, "/v1/agents/desk", &call.key)
        .header("if-match", "\"1\"")
        .json(&agent)
        .send()
        .await
        .expect("sent");
    assert_eq!(updated.status(), 200);
    call.sim.script(vec![ScriptedTurn {
        tool_call: Some(
            serde_json::from_value(json!({"name": "book", "arguments": {"day": "2026-12-07"}}))
                .expect("tool call"),
        ),
        ..ScriptedTurn::default()
    }]);
    let mut socket = dial(&call, &token(&call).await).await;
    speak(&mut socket, &speech[..32 * 2000]).await;
    speak(&mut socket, &vec![0u8; 32 * 1500]).await;
    let events = poll_until(
        || call.sim.log().client_events,
        |events| {
            events.iter().any(|e| e == "response.create")
                && events.iter().any(|e| e == "conversation.item.create")
        },
    )
    .await;
    let output_at = events.iter().position(|e| e == "conversation.item.create");
    let create_at = events.iter().rposition(|e| e == "response.create");
    assert!(
        matches!((output_at, create_at), (Some(o), Some(c)) if o < c),
        "function_call_output then response.create expected: {events:?}"
    );
    let calls = received.lock().expect("lock").clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["tool"], "book");
    assert_eq!(calls[0]["arguments"], json!({"day": "2026-12-07"}));
}

#[tokio::test]
async fn the_provider_session_is_renewed_and_reseeded_and_the_call_goes_on() {
    let Some((speech, _)) = wav_pcm("speech-16k.wav") else {
        return;
    };
    let call = Call::start_with(|url| {
        let mut services = (*crate::support::call_services(url)).clone();
        services.provider_session_max = Duration::from_millis(1500);
        std::sync::Arc::new(services)
    })
    .await;
    let mut socket = dial(&call, &token(&call).await).await;
    // First turn, answered and fully played (marks echoed).
    speak(&mut socket, &speech[..32 * 2000]).await;
    speak(&mut socket, &vec![0u8; 32 * 1500]).await;
    listen(&mut socket, true, |event, _| {
        event["type"] == "transcript" && event["role"] == "assistant"
    })
    .await;
    // The session cap passes at a quiet moment: a second provider session opens and is
    // seeded with the conversation (the seed follows the connect, so poll for both).
    let seeded = |log: &voxgate::provider::sim::SimLog| {
        let events = &log.client_events;
        log.connections.len() >= 2
            && events
                .iter()
                .rposition(|e| e == "session.update")
                .is_some_and(|at| events[at..].iter().any(|e| e == "conversation.item.create"))
    };
    let log = poll_until(|| call.sim.log(), seeded).await;
    assert!(
        seeded(&log),
        "a renewed session seeded with the conversation: {} connections, {:?}",
        log.connections.len(),
        log.client_events
    );
    // The call goes on over the new session.
    speak(&mut socket, &speech[..32 * 2000]).await;
    speak(&mut socket, &vec![0u8; 32 * 1500]).await;
    let (_, audio) = listen(&mut socket, true, |_, len| len >= 32 * 500).await;
    assert!(audio.len() >= 32 * 500, "agent audio after the renewal");
}

#[tokio::test]
async fn hanging_up_mid_response_still_records_the_cancelled_responses_usage() {
    let Some((speech, _)) = wav_pcm("speech-16k.wav") else {
        return;
    };
    let call = call_setup().await;
    call.sim.script(vec![ScriptedTurn {
        reply_text: Some("A very long answer that the caller will not wait for.".into()),
        reply_audio_ms: Some(8000),
        faults: serde_json::from_value(json!({"stall_after_ms": 500})).expect("faults"),
        ..ScriptedTurn::default()
    }]);
    let mut socket = dial(&call, &token(&call).await).await;
    speak(&mut socket, &speech[..32 * 2000]).await;
    speak(&mut socket, &vec![0u8; 32 * 1500]).await;
    // Agent audio is flowing (and then stalls): the response is still in progress.
    listen(&mut socket, false, |_, len| len > 0).await;
    let hangup = json!({"type": "hangup"}).to_string();
    socket.send(Message::text(hangup)).await.expect("hangup");
    let usage = call
        .server
        .json_until("/v1/usage", &call.key, |usage| {
            usage["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty())
        })
        .await;
    assert_eq!(usage["items"][0]["agent"], "desk", "{usage}");
    assert!(
        usage["items"][0]["output_tokens"]
            .as_i64()
            .is_some_and(|t| t > 0),
        "{usage}"
    );
    let statuses: Vec<String> = call
        .sim
        .log()
        .responses
        .iter()
        .map(|r| r.status.clone())
        .collect();
    assert!(statuses.iter().any(|s| s == "cancelled"), "{statuses:?}");
}
