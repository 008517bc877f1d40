//! The provider simulator over real sockets on 127.0.0.1: the GA event order of a caller turn,
//! VAD from audio, barge-in, cancel, truncate, protocol errors, the beta header, and (in `sdk`)
//! the official `openai` SDK's verdict on every frame. Faults are in `faults`; the HTTP endpoints
//! of the async pipeline in `pipeline`.

pub(crate) mod client;
mod faults;
mod pipeline;
mod sdk;

use client::{append, audio_bytes, connect, next_event, send, start, try_connect, types, until};
pub use client::{fixture, fixtures_dir, wav_pcm};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use voxgate::provider::sim::ScriptedTurn;

/// The event sequence with runs of deltas collapsed to one entry.
fn collapsed(events: &[Value]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for kind in types(events) {
        let delta = kind.ends_with(".delta");
        if !(delta && out.iter().rev().take(2).any(|k| *k == kind)) {
            out.push(kind);
        }
    }
    out
}

#[tokio::test]
async fn a_caller_turn_of_fixture_speech_is_echoed_in_the_ga_event_order() {
    let Some((speech, rate)) = wav_pcm("speech-24k.wav") else {
        return;
    };
    assert_eq!(rate, 24_000);
    let sim = start().await;
    let mut ws = connect(&sim).await;
    // The first utterance (about 4.4 s) and 1.1 s of the silence after it, in 40 ms chunks.
    append(&mut ws, &speech[..48 * 5_500], 48 * 40).await;
    let events = until(&mut ws, "response.done").await;
    assert_eq!(
        collapsed(&events),
        [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "response.created",
            "rate_limits.updated",
            "response.output_item.added",
            "conversation.item.added",
            "response.content_part.added",
            "response.output_audio.delta",
            "response.output_audio_transcript.delta",
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
        ]
    );
    let start_ms = events[0]["audio_start_ms"]
        .as_u64()
        .expect("audio_start_ms");
    let end_ms = events[1]["audio_end_ms"].as_u64().expect("audio_end_ms");
    assert!(start_ms < 300, "speech starts at the beginning: {start_ms}");
    assert!(
        (4_500..5_200).contains(&end_ms),
        "speech stops after the utterance: {end_ms}"
    );
    assert_eq!(events[0]["item_id"], events[2]["item_id"]);
    assert_eq!(events[3]["item"]["content"][0]["type"], "input_audio");
    let echoed_ms = audio_bytes(&events) as u64 / 48;
    assert!(
        echoed_ms.abs_diff(end_ms - start_ms) <= 40,
        "echo of {echoed_ms} ms"
    );
    let done = &events.last().expect("response.done")["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["status"], "completed");
    assert!(done["usage"]["input_token_details"]["cached_tokens_details"].is_object());
    assert!(done["usage"]["output_token_details"]["audio_tokens"].as_u64() > Some(0));
    let log = sim.log();
    assert_eq!(log.vad.len(), 2);
    assert_eq!(log.responses[0].source, "echo");
    assert_eq!(log.responses[0].status, "completed");
}

#[tokio::test]
async fn speech_during_a_response_cancels_it_and_truncation_is_recorded() {
    let Some((speech, _)) = wav_pcm("speech-24k.wav") else {
        return;
    };
    let sim = start().await;
    sim.script(vec![ScriptedTurn {
        reply_text: Some("A long scripted answer.".to_owned()),
        reply_audio_ms: Some(5_000),
        ..ScriptedTurn::default()
    }]);
    let mut ws = connect(&sim).await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let first = until(&mut ws, "response.output_audio.delta").await;
    let item_id = first.last().expect("delta")["item_id"].clone();
    // 300 ms from the middle of the first utterance: the caller barges in.
    append(&mut ws, &speech[48 * 1_000..48 * 1_300], 48 * 20).await;
    let events = until(&mut ws, "response.done").await;
    assert!(types(&events).contains(&"input_audio_buffer.speech_started"));
    let item_done = events
        .iter()
        .find(|e| e["type"] == "response.output_item.done")
        .expect("the item is closed");
    assert_eq!(item_done["item"]["status"], "incomplete");
    let done = &events.last().expect("response.done")["response"];
    assert_eq!(done["status"], "cancelled");
    assert_eq!(done["status_details"]["reason"], "turn_detected");

    let truncate = json!({"type": "conversation.item.truncate", "item_id": item_id,
                          "content_index": 0, "audio_end_ms": 100});
    send(&mut ws, truncate).await;
    let truncated = next_event(&mut ws).await;
    assert_eq!(
        truncated["type"], "conversation.item.truncated",
        "{truncated}"
    );
    assert_eq!(truncated["audio_end_ms"], 100);
    let log = sim.log();
    assert_eq!(log.truncations.len(), 1);
    assert_eq!(json!(log.truncations[0].item_id), item_id);
    assert_eq!(log.truncations[0].audio_end_ms, 100);
    assert_eq!(log.responses[0].reason.as_deref(), Some("turn_detected"));
}

#[tokio::test]
async fn response_cancel_ends_the_response_as_cancelled() {
    let sim = start().await;
    sim.script(vec![ScriptedTurn {
        reply_text: Some("Cancel me.".to_owned()),
        reply_audio_ms: Some(5_000),
        ..ScriptedTurn::default()
    }]);
    let mut ws = connect(&sim).await;
    send(&mut ws, json!({"type": "response.create"})).await;
    until(&mut ws, "response.output_audio.delta").await;
    send(&mut ws, json!({"type": "response.cancel"})).await;
    let events = until(&mut ws, "response.done").await;
    let done = &events.last().expect("response.done")["response"];
    assert_eq!(done["status"], "cancelled");
    assert_eq!(done["status_details"]["reason"], "client_cancelled");
    assert!(done["usage"]["total_tokens"].is_u64());

    send(
        &mut ws,
        json!({"type": "response.cancel", "event_id": "c2"}),
    )
    .await;
    let error = next_event(&mut ws).await;
    assert_eq!(
        error["error"]["code"], "response_cancel_not_active",
        "{error}"
    );
    assert_eq!(error["error"]["event_id"], "c2");
}

#[tokio::test]
async fn a_pcmu_session_hears_mulaw_and_answers_in_mulaw() {
    let Some(ulaw) = fixture("speech-8k.ulaw") else {
        return;
    };
    let sim = start().await;
    let mut ws = connect(&sim).await;
    let format = json!({"type": "audio/pcmu"});
    let update = json!({"type": "session.update", "session": {"type": "realtime",
        "audio": {"input": {"format": format}, "output": {"format": format, "voice": "marin"}}}});
    send(&mut ws, update).await;
    let updated = next_event(&mut ws).await;
    assert_eq!(updated["type"], "session.updated", "{updated}");
    assert_eq!(updated["session"]["audio"]["output"]["format"], format);
    assert_eq!(
        updated["session"]["audio"]["input"]["turn_detection"]["silence_duration_ms"],
        500
    );
    append(&mut ws, &ulaw[..8 * 5_500], 160).await;
    let events = until(&mut ws, "response.done").await;
    let stopped = events
        .iter()
        .find(|e| e["type"] == "input_audio_buffer.speech_stopped")
        .expect("speech stopped");
    let end_ms = stopped["audio_end_ms"].as_u64().expect("audio_end_ms");
    assert!((4_500..5_200).contains(&end_ms), "{end_ms}");
    let echoed_ms = audio_bytes(&events) as u64 / 8;
    assert!(
        (4_000..5_200).contains(&echoed_ms),
        "{echoed_ms} ms of μ-law"
    );
    assert_eq!(
        events.last().expect("done")["response"]["audio"]["output"]["voice"],
        "marin"
    );
}

#[tokio::test]
async fn bad_client_frames_get_error_events_and_the_socket_stays_open() {
    let sim = start().await;
    let mut ws = connect(&sim).await;
    ws.send(Message::Text("{not json".into()))
        .await
        .expect("sent");
    let error = next_event(&mut ws).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "invalid_request_error");

    send(
        &mut ws,
        json!({"type": "response.audio.delta", "event_id": "e1"}),
    )
    .await;
    let error = next_event(&mut ws).await;
    assert_eq!(error["error"]["code"], "unknown_event", "{error}");
    assert_eq!(error["error"]["event_id"], "e1");
    assert!(error["error"]["param"].is_string() || error["error"]["param"].is_null());

    let beta_shape = json!({"type": "session.update",
                            "session": {"type": "realtime", "input_audio_format": "pcm16"}});
    send(&mut ws, beta_shape).await;
    let error = next_event(&mut ws).await;
    assert_eq!(error["error"]["code"], "unknown_parameter", "{error}");
    assert_eq!(error["error"]["param"], "session.input_audio_format");

    send(&mut ws, json!({"type": "input_audio_buffer.commit"})).await;
    let error = next_event(&mut ws).await;
    assert_eq!(
        error["error"]["code"], "input_audio_buffer_commit_empty",
        "{error}"
    );

    let update = json!({"type": "session.update",
                        "session": {"type": "realtime", "instructions": "Be brief."}});
    send(&mut ws, update).await;
    let updated = next_event(&mut ws).await;
    assert_eq!(updated["type"], "session.updated");
    assert_eq!(updated["session"]["instructions"], "Be brief.");
    assert_eq!(
        sim.log().client_events,
        [
            "<malformed>",
            "response.audio.delta",
            "session.update",
            "input_audio_buffer.commit",
            "session.update"
        ]
    );
}

#[tokio::test]
async fn a_beta_client_is_closed_with_4000_and_keyless_clients_get_401() {
    let sim = start().await;
    let mut ws = try_connect(&sim, Some(("openai-beta", "realtime=v1")), true)
        .await
        .expect("the upgrade is accepted");
    let close = loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame")
            .expect("open")
            .expect("a frame");
        if let Message::Close(frame) = frame {
            break frame.expect("a close frame with a code");
        }
    };
    assert_eq!(u16::from(close.code), 4000);
    assert_eq!(close.reason.as_str(), "beta_api_shape_disabled");

    let refused = try_connect(&sim, None, false).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401);
        }
        other => panic!("expected 401, got {other:?}"),
    }
    assert_eq!(sim.log().rejected_connects, [4000, 401]);
}

#[tokio::test]
async fn conversation_items_and_manual_commits_follow_the_protocol() {
    let sim = start().await;
    let mut ws = connect(&sim).await;
    let update = json!({"type": "session.update",
                        "session": {"type": "realtime", "audio": {"input": {"turn_detection": null}}}});
    send(&mut ws, update).await;
    let updated = next_event(&mut ws).await;
    assert!(
        updated["session"]["audio"]["input"]["turn_detection"].is_null(),
        "{updated}"
    );
    let item = json!({"type": "message", "role": "user",
                      "content": [{"type": "input_text", "text": "Hello"}]});
    send(
        &mut ws,
        json!({"type": "conversation.item.create", "item": item}),
    )
    .await;
    let added = next_event(&mut ws).await;
    assert_eq!(added["type"], "conversation.item.added");
    assert_eq!(added["item"]["object"], "realtime.item");
    assert_eq!(next_event(&mut ws).await["type"], "conversation.item.done");
    let text_id = added["item"]["id"].clone();

    // 200 ms of a loud tone, committed by hand: no VAD events, no automatic response.
    let tone: Vec<u8> = (0..4_800)
        .flat_map(|n| (((n % 24) as i16 - 12) * 1_000).to_le_bytes())
        .collect();
    append(&mut ws, &tone, 960).await;
    send(&mut ws, json!({"type": "input_audio_buffer.commit"})).await;
    let committed = next_event(&mut ws).await;
    assert_eq!(
        committed["type"], "input_audio_buffer.committed",
        "{committed}"
    );
    assert_eq!(committed["previous_item_id"], text_id);
    assert_eq!(next_event(&mut ws).await["type"], "conversation.item.added");
    assert_eq!(next_event(&mut ws).await["type"], "conversation.item.done");
    send(&mut ws, json!({"type": "input_audio_buffer.clear"})).await;
    assert_eq!(
        next_event(&mut ws).await["type"],
        "input_audio_buffer.cleared"
    );

    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    assert_eq!(
        audio_bytes(&events),
        200 * 48,
        "the committed 200 ms are echoed"
    );
    send(
        &mut ws,
        json!({"type": "conversation.item.delete", "item_id": text_id}),
    )
    .await;
    let deleted = next_event(&mut ws).await;
    assert_eq!(deleted["type"], "conversation.item.deleted");
    assert_eq!(deleted["item_id"], text_id);
}
