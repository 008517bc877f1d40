//! Scripted turns and injected faults: first-audio delay, stalls, dropped sockets, error and
//! rate-limit events, malformed frames, tool calls, refused upgrades, and the HTTP control API.

use super::client::{
    audio_bytes, connect, next_event, next_text, send, start, try_connect, types, until,
};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use voxgate::provider::sim::{ErrorSpec, ScriptedTurn, ToolCall, TurnFaults};

fn turn(text: &str, ms: u64, faults: TurnFaults) -> ScriptedTurn {
    ScriptedTurn {
        reply_text: Some(text.to_owned()),
        reply_audio_ms: Some(ms),
        faults,
        ..ScriptedTurn::default()
    }
}

#[tokio::test]
async fn a_scripted_turn_waits_its_first_audio_delay_then_speaks_its_text() {
    let sim = start().await;
    let faults = TurnFaults {
        first_audio_delay_ms: Some(300),
        ..TurnFaults::default()
    };
    sim.script(vec![turn("Hi there, how can I help?", 400, faults)]);
    let mut ws = connect(&sim).await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let created = until(&mut ws, "response.created").await;
    let created_at = Instant::now();
    assert_eq!(created.len(), 1);
    let events = until(&mut ws, "response.output_audio.delta").await;
    let waited = created_at.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "first audio after {waited:?}"
    );
    let mut events = [events, until(&mut ws, "response.done").await].concat();
    assert_eq!(audio_bytes(&events), 400 * 48);
    let transcript = events
        .iter()
        .find(|e| e["type"] == "response.output_audio_transcript.done")
        .expect("transcript done");
    assert_eq!(transcript["transcript"], "Hi there, how can I help?");
    let done = events.pop().expect("response.done");
    assert_eq!(
        done["response"]["output"][0]["content"][0]["transcript"],
        "Hi there, how can I help?"
    );
    assert_eq!(sim.log().responses[0].source, "script");
}

#[tokio::test]
async fn a_stall_pauses_the_deltas_and_a_drop_cuts_the_socket_without_a_close_frame() {
    let sim = start().await;
    let stall = TurnFaults {
        stall_after_ms: Some(200),
        stall_for_ms: Some(400),
        ..TurnFaults::default()
    };
    let drop = TurnFaults {
        drop_socket_after_ms: Some(100),
        stall_after_ms: Some(100),
        ..TurnFaults::default()
    };
    sim.script(vec![
        turn("Stalling.", 600, stall),
        turn("Dropping.", 600, drop),
    ]);
    let mut ws = connect(&sim).await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let mut stamps = Vec::new();
    loop {
        let event = next_event(&mut ws).await;
        if event["type"] == "response.output_audio.delta" {
            stamps.push(Instant::now());
        }
        if event["type"] == "response.done" {
            break;
        }
    }
    assert_eq!(stamps.len(), 6);
    let gap = stamps[2] - stamps[1];
    assert!(
        gap >= Duration::from_millis(350),
        "the stall lasted {gap:?}"
    );

    send(&mut ws, json!({"type": "response.create"})).await;
    let end = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_)))) => {}
            Ok(other) => break other,
            Err(_) => panic!("the socket was not dropped"),
        }
    };
    assert!(
        matches!(end, None | Some(Err(_))),
        "no close frame, just the end of the stream: {end:?}"
    );
    let log = sim.log();
    assert_eq!(log.responses[1].status, "dropped");
}

#[tokio::test]
async fn error_rate_limit_and_malformed_frame_faults_reach_the_client() {
    let sim = start().await;
    let error = ErrorSpec {
        code: Some("server_error".to_owned()),
        message: Some("Simulated outage.".to_owned()),
        kind: Some("server_error".to_owned()),
    };
    sim.script(vec![
        turn(
            "x",
            100,
            TurnFaults {
                error_event: Some(error),
                ..TurnFaults::default()
            },
        ),
        turn(
            "x",
            100,
            TurnFaults {
                rate_limit: true,
                ..TurnFaults::default()
            },
        ),
        turn(
            "fine",
            200,
            TurnFaults {
                malformed_frame: true,
                ..TurnFaults::default()
            },
        ),
    ]);
    let mut ws = connect(&sim).await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let error = next_event(&mut ws).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["message"], "Simulated outage.");

    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "error").await;
    assert_eq!(types(&events), ["rate_limits.updated", "error"]);
    assert_eq!(events[1]["error"]["code"], "rate_limit_exceeded");

    send(&mut ws, json!({"type": "response.create"})).await;
    let raw = next_text(&mut ws).await;
    assert!(serde_json::from_str::<Value>(&raw).is_err(), "{raw}");
    let events = until(&mut ws, "response.done").await;
    assert_eq!(
        events.last().expect("done")["response"]["status"],
        "completed"
    );
    let codes: Vec<String> = sim.log().errors.into_iter().map(|e| e.code).collect();
    assert_eq!(codes, ["server_error", "rate_limit_exceeded"]);
}

#[tokio::test]
async fn a_scripted_tool_call_streams_its_arguments_and_takes_the_output_back() {
    let sim = start().await;
    sim.script(vec![ScriptedTurn {
        tool_call: Some(ToolCall {
            name: "book".to_owned(),
            arguments: json!({"day": "2026-12-08"}),
        }),
        ..ScriptedTurn::default()
    }]);
    let mut ws = connect(&sim).await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    let done = events
        .iter()
        .find(|e| e["type"] == "response.function_call_arguments.done")
        .expect("arguments done");
    assert_eq!(done["name"], "book");
    let arguments: Value = serde_json::from_str(done["arguments"].as_str().expect("a string"))
        .expect("JSON arguments");
    assert_eq!(arguments, json!({"day": "2026-12-08"}));
    let deltas: String = events
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
        .map(|e| e["delta"].as_str().expect("delta"))
        .collect();
    assert_eq!(deltas, done["arguments"].as_str().expect("a string"));
    let response = &events.last().expect("done")["response"];
    assert_eq!(response["output"][0]["type"], "function_call");

    let output = json!({"type": "function_call_output", "call_id": done["call_id"],
                        "output": "{\"booked\": true}"});
    send(
        &mut ws,
        json!({"type": "conversation.item.create", "item": output}),
    )
    .await;
    let added = next_event(&mut ws).await;
    assert_eq!(added["type"], "conversation.item.added");
    assert_eq!(added["item"]["call_id"], done["call_id"]);
    assert_eq!(added["previous_item_id"], done["item_id"]);
    assert_eq!(sim.log().responses[0].tool_call.as_deref(), Some("book"));
}

#[tokio::test]
async fn the_http_control_api_scripts_refuses_upgrades_and_resets() {
    let sim = start().await;
    let http = reqwest::Client::new();
    let control = sim.control_url();
    let bad = http
        .post(format!("{control}/script"))
        .body("{\"turns\": [{\"reply_txt\": \"typo\"}]}")
        .send()
        .await
        .expect("sent");
    assert_eq!(bad.status(), 400);
    let queued: Value = http
        .post(format!("{control}/script"))
        .json(&json!({"turns": [{"reply_text": "From HTTP.", "reply_audio_ms": 300}]}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(queued["queued"], 1);
    let faults = json!({"reject_connect_with": 429, "retry_after_s": 3, "reject_count": 1});
    let set = http
        .post(format!("{control}/faults"))
        .json(&faults)
        .send()
        .await
        .expect("sent");
    assert_eq!(set.status(), 200);

    match try_connect(&sim, None, true).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            assert_eq!(response.headers()["retry-after"], "3");
        }
        other => panic!("expected 429, got {other:?}"),
    }
    let mut ws = connect(&sim).await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    assert_eq!(audio_bytes(&events), 300 * 48);

    let log: Value = http
        .get(format!("{control}/log"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(log["rejected_connects"], json!([429]));
    assert_eq!(log["client_events"], json!(["response.create"]));
    assert_eq!(log["responses"][0]["transcript"], "From HTTP.");
    let reset = http
        .post(format!("{control}/reset"))
        .send()
        .await
        .expect("sent");
    assert_eq!(reset.status(), 204);
    assert!(sim.log().responses.is_empty());
}
