//! Failover end to end over real sockets, with the provider simulator as every provider: the
//! realtime socket dropping mid-answer (WebSocket and Twilio callers), a first-audio deadline,
//! a 429 wave against the retry budget, recovery back to realtime at a turn boundary, every path
//! down, and two voxgate processes sharing breaker state through Redis.

mod degraded;
mod fleet;

use crate::{
    call_carrier::{self, numbered, open_stream, parameter, send_media, twilio_start, ulaw_dbfs},
    call_ws::{Call, Client, dial, ended_call, listen, rms_dbfs, speak},
    sim::{fixture, wav_pcm},
    support::{agent_body, call_services},
};
use futures_util::SinkExt;
use serde_json::{Value, json};
use std::{sync::Arc, time::Duration};
use tokio_tungstenite::tungstenite::Message;
use voxgate::{
    health::HealthRegistry,
    provider::{
        directory::ProviderEndpoint,
        sim::{ScriptedTurn, Simulator, TurnFaults},
    },
    secret::Secret,
};
use voxgate_core::failover::{BreakerConfig, RetryBudgetConfig};

const QUESTION: &str = "What time do you open tomorrow?";
const APOLOGY: &str = "Sorry, I'm having trouble right now. Please bear with me.";

/// A call setup whose provider health uses `breaker` and `budget`.
async fn setup_with(breaker: BreakerConfig, budget: RetryBudgetConfig) -> Call {
    Call::start_with(|url| {
        let mut services = (*call_services(url)).clone();
        services.health = HealthRegistry::new("test-node".to_owned(), breaker, budget, None);
        Arc::new(services)
    })
    .await
}

/// Creates agent `name` (no greeting, no tools) with these latency limits and failover policy.
async fn agent(call: &Call, name: &str, latency: Value, failover: Value) {
    let mut body = agent_body(name);
    let object = body.as_object_mut().expect("object");
    object.remove("greeting");
    object.remove("tools");
    object.insert("latency".into(), latency);
    object.insert("failover".into(), failover);
    let created = call.server.post("/v1/agents", &call.key, &body).await;
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
}

async fn token_for(call: &Call, agent: &str) -> String {
    let minted: Value = call
        .server
        .post("/v1/call-tokens", &call.key, &json!({"agent": agent}))
        .await
        .json()
        .await
        .expect("json");
    minted["token"].as_str().expect("token").to_owned()
}

/// About 3 s of the fixture's speech, then 1.5 s of silence to end the turn.
async fn ask(socket: &mut Client, speech: &[u8]) {
    speak(socket, &speech[..32 * 3000]).await;
    speak(socket, &vec![0u8; 32 * 1500]).await;
}

/// A realtime answer long enough to be cut, whose socket drops 300 ms into it.
fn dropped_answer() -> ScriptedTurn {
    ScriptedTurn {
        caller_transcript: Some(QUESTION.to_owned()),
        reply_text: Some(
            "We open at nine in the morning on weekdays, and at ten on Saturdays.".into(),
        ),
        faults: TurnFaults {
            drop_socket_after_ms: Some(300),
            ..TurnFaults::default()
        },
        ..ScriptedTurn::default()
    }
}

fn items<'a>(stored: &'a Value, role: &str) -> Vec<&'a str> {
    stored["transcript"]
        .as_array()
        .expect("transcript")
        .iter()
        .filter(|item| item["role"] == role)
        .filter_map(|item| item["text"].as_str())
        .collect()
}

/// The tenant's incidents once one satisfies `wanted` (they are written just after the fact).
async fn incident_where(call: &Call, wanted: impl Fn(&Value) -> bool) -> Value {
    let listed = call
        .server
        .json_until("/v1/incidents", &call.key, |listed| {
            listed["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(&wanted))
        })
        .await;
    listed["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| wanted(i)).cloned())
        .unwrap_or_else(|| panic!("no such incident among {listed}"))
}

async fn hang_up(socket: &mut Client) {
    socket
        .send(Message::text(json!({"type": "hangup"}).to_string()))
        .await
        .expect("hangup");
}

fn is_pipeline_answer(event: &Value) -> bool {
    event["type"] == "transcript"
        && event["role"] == "assistant"
        && event["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("You said"))
}

#[tokio::test]
async fn a_realtime_drop_mid_answer_is_answered_by_the_pipeline_and_the_question_kept_once() {
    let Some((speech, _)) = wav_pcm("speech-16k.wav") else {
        return;
    };
    let call = Call::start().await;
    call.sim.script(vec![dropped_answer()]);
    let mut socket = dial(&call, &token_for(&call, "desk").await).await;
    ask(&mut socket, &speech).await;
    let mut audio_at_switch = None;
    let (events, audio) = listen(&mut socket, true, |event, audio_len| {
        if event["type"] == "mode" && event["mode"] == "pipeline" {
            audio_at_switch = Some(audio_len);
        }
        is_pipeline_answer(event)
    })
    .await;
    let switched_at = audio_at_switch.expect("the call moved to the pipeline");
    let after = &audio[switched_at..];
    assert!(
        after.len() > 32 * 500,
        "the pipeline's answer was heard: {} bytes",
        after.len()
    );
    assert!(rms_dbfs(after) > -50.0, "and it is not silence");
    let call_id = events[0]["call_id"].as_str().expect("call id").to_owned();
    hang_up(&mut socket).await;
    let stored = ended_call(&call, &call_id).await;
    assert_eq!(
        items(&stored, "user"),
        vec![QUESTION],
        "the question, once: {stored}"
    );
    let answer = format!("You said: {QUESTION}");
    assert!(
        items(&stored, "assistant").contains(&answer.as_str()),
        "the pipeline answered the same question: {stored}"
    );
    let switch = incident_where(&call, |i| i["action"] == "switched").await;
    assert_eq!(switch["mode"], "provider_outage");
    assert_eq!(switch["detail"]["reason"], "provider_closed");
    assert_eq!(switch["detail"]["to"], "pipeline");
    assert!(
        switch["detail"]["first_audio_ms"].as_u64().is_some(),
        "{switch}"
    );
    let log = call.sim.log();
    let endpoints: Vec<&str> = log
        .pipeline_requests
        .iter()
        .map(|r| r.endpoint.as_str())
        .collect();
    assert!(
        endpoints.contains(&"chat") && endpoints.contains(&"speech"),
        "{endpoints:?}"
    );
}

#[tokio::test]
async fn a_twilio_caller_keeps_talking_through_a_realtime_drop() {
    let Some(speech) = fixture("speech-8k.ulaw") else {
        return;
    };
    let call = Call::start().await;
    call.sim.script(vec![dropped_answer()]);
    let (_, twiml) = call_carrier::voice_webhook(&call, true).await;
    let start = twilio_start(&parameter(&twiml, "token"));
    let mut socket = open_stream(&call, "twilio", start).await;
    let silence = vec![0xFFu8; 8 * 1500];
    send_media(
        &mut socket,
        &numbered(&speech[..8 * 3000], 2),
        "sequenceNumber",
    )
    .await;
    send_media(&mut socket, &numbered(&silence, 152), "sequenceNumber").await;
    // Listen until the pipeline has spoken its answer (it asked the simulator for speech).
    let sim = &call.sim;
    let spoken = || {
        sim.log()
            .pipeline_requests
            .iter()
            .any(|request| request.endpoint == "speech" && request.status == 200)
    };
    // What was heard of the realtime answer, then the whole pipeline answer (60 ms of the
    // simulator's speech per character), each mark echoed as if played.
    let heard_all = 8 * (1200 + 60 * format!("You said: {QUESTION}").len());
    let (_, audio) =
        call_carrier::listen(&mut socket, true, |_, len| len >= heard_all && spoken()).await;
    assert!(spoken(), "the pipeline spoke");
    let _ = tokio::time::timeout(
        Duration::from_millis(500),
        call_carrier::listen(&mut socket, true, |_, _| false),
    )
    .await;
    assert!(ulaw_dbfs(&audio) > -50.0, "the caller heard the agent");
    let calls = call_carrier::stop_and_list(&call, &mut socket).await;
    let id = calls["items"][0]["id"].as_str().expect("id");
    let stored = ended_call(&call, id).await;
    assert_eq!(items(&stored, "user"), vec![QUESTION], "{stored}");
    let answer = format!("You said: {QUESTION}");
    assert!(
        items(&stored, "assistant").contains(&answer.as_str()),
        "{stored}"
    );
}

#[tokio::test]
async fn a_late_first_audio_switches_within_the_deadline() {
    let Some((speech, _)) = wav_pcm("speech-16k.wav") else {
        return;
    };
    let call = Call::start().await;
    let latency = json!({"first_audio_ms": 1000, "filler_after_ms": 600});
    agent(&call, "quick", latency, json!({})).await;
    call.sim.script(vec![ScriptedTurn {
        caller_transcript: Some(QUESTION.to_owned()),
        reply_text: Some("Nine o'clock.".into()),
        faults: TurnFaults {
            first_audio_delay_ms: Some(4000),
            ..TurnFaults::default()
        },
        ..ScriptedTurn::default()
    }]);
    let mut socket = dial(&call, &token_for(&call, "quick").await).await;
    ask(&mut socket, &speech).await;
    let mut heard_question = None;
    let mut switched = None;
    let (_, audio) = listen(&mut socket, true, |event, len| {
        let now = tokio::time::Instant::now();
        if event["type"] == "transcript" && event["role"] == "user" {
            heard_question.get_or_insert(now);
        }
        if event["type"] == "mode" && event["mode"] == "pipeline" {
            switched = Some((now, len));
        }
        is_pipeline_answer(event)
    })
    .await;
    let heard = heard_question.expect("the question was transcribed");
    let (switched_at, audio_at_switch) = switched.expect("the call switched");
    let waited = switched_at.duration_since(heard);
    assert!(
        waited <= Duration::from_millis(1000 + 400),
        "switched {waited:?} after the question; the deadline is 1 s"
    );
    assert!(audio.len() > audio_at_switch, "the pipeline answered");
    let spike = incident_where(&call, |i| i["action"] == "switched").await;
    assert_eq!(spike["mode"], "latency_spike");
    assert_eq!(spike["detail"]["reason"], "first_audio_deadline");
    hang_up(&mut socket).await;
}

#[tokio::test]
async fn a_second_realtime_provider_takes_the_call_before_the_pipeline() {
    let Some((speech, _)) = wav_pcm("speech-16k.wav") else {
        return;
    };
    let backup = Simulator::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator starts");
    let backup_url = backup.base_url();
    let call = Call::start_with(|url| {
        let mut services = (*call_services(url)).clone();
        services.providers = services.providers.clone().with(ProviderEndpoint {
            name: "backup".to_owned(),
            base_url: backup_url,
            api_key: Secret::new("backup-key"),
        });
        Arc::new(services)
    })
    .await;
    let mut body = agent_body("twin");
    let object = body.as_object_mut().expect("object");
    object.remove("greeting");
    object.remove("tools");
    object.insert(
        "realtime".into(),
        json!([{"provider": "sim", "model": "gpt-realtime"},
               {"provider": "backup", "model": "gpt-realtime"}]),
    );
    let created = call.server.post("/v1/agents", &call.key, &body).await;
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    call.sim.script(vec![dropped_answer()]);
    backup.script(vec![ScriptedTurn {
        reply_text: Some("We open at nine.".into()),
        ..ScriptedTurn::default()
    }]);
    let mut socket = dial(&call, &token_for(&call, "twin").await).await;
    ask(&mut socket, &speech).await;
    let (events, _) = listen(&mut socket, true, |event, _| {
        event["type"] == "transcript" && event["text"] == "We open at nine."
    })
    .await;
    let modes: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "mode")
        .filter_map(|e| e["mode"].as_str())
        .collect();
    assert_eq!(modes, vec!["realtime", "realtime"], "{events:?}");
    let log = backup.log();
    assert!(
        log.client_events
            .iter()
            .any(|e| e == "conversation.item.create"),
        "the backup was seeded with the conversation"
    );
    // (Its text-to-speech did synthesise the filler and apology lines at call start.)
    let answered_by_pipeline = call
        .sim
        .log()
        .pipeline_requests
        .iter()
        .any(|r| r.endpoint == "chat");
    assert!(!answered_by_pipeline, "the pipeline was not needed");
    let switch = incident_where(&call, |i| i["action"] == "switched").await;
    assert_eq!(switch["detail"]["to"], "realtime", "{switch}");
    hang_up(&mut socket).await;
}
