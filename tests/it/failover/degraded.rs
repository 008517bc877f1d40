//! Degraded providers: a 429 wave against the retry budget and the breaker, a provider that
//! recovers and takes the call back at a turn boundary, and every path down.

use super::{
    APOLOGY, agent, ask, hang_up, incident_where, is_pipeline_answer, setup_with, token_for,
};
use crate::{
    call_ws::{Call, dial, ended_call, listen, rms_dbfs},
    sim::wav_pcm,
    support::{agent_body, call_services},
};
use serde_json::{Value, json};
use std::{sync::Arc, time::Duration};
use voxgate::{
    provider::{
        directory::ProviderEndpoint,
        sim::{ConnectFaults, EndpointFaults, PipelineFaults},
    },
    secret::Secret,
};
use voxgate_core::failover::{BreakerConfig, RetryBudgetConfig};

#[tokio::test]
async fn a_429_wave_stays_within_the_retry_budget_and_calls_go_on() {
    let breaker = BreakerConfig {
        min_calls: 5,
        ..BreakerConfig::default()
    };
    let budget = RetryBudgetConfig {
        ratio: 0.1,
        min_per_second: 0.1,
        window: Duration::from_secs(10),
    };
    let call = setup_with(breaker, budget).await;
    call.sim.set_connect_faults(ConnectFaults {
        reject_connect_with: Some(429),
        retry_after_s: None,
        reject_count: None,
        ..ConnectFaults::default()
    });
    const CALLS: usize = 12;
    let mut sockets = Vec::new();
    for _ in 0..CALLS {
        let mut socket = dial(&call, &token_for(&call, "desk").await).await;
        let (events, _) = listen(&mut socket, false, |event, _| event["type"] == "mode").await;
        assert_eq!(
            events.last().map(|e| e["mode"].clone()),
            Some(json!("pipeline")),
            "every call goes on, on the pipeline"
        );
        sockets.push(socket);
    }
    let attempts = call.sim.log().rejected_connects.len();
    // The breaker opens after 5 failures and spares the later calls; retries are 10 % of first
    // attempts plus a floor of one per 10 s.
    assert!(
        (5..=7).contains(&attempts),
        "{attempts} connect attempts for {CALLS} calls"
    );
    let providers: Value = call
        .server
        .get("/v1/providers", &call.key)
        .await
        .json()
        .await
        .expect("json");
    let realtime = providers["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .find(|p| p["stage"] == "realtime")
        .cloned()
        .expect("the realtime provider is listed");
    assert_eq!(realtime["state"], "open", "{providers}");
    let opened = incident_where(&call, |i| i["action"] == "breaker_opened").await;
    assert_eq!(opened["detail"]["stage"], "realtime", "{opened}");
    assert_eq!(opened["detail"]["reason"], "failure_rate", "{opened}");
    for mut socket in sockets {
        hang_up(&mut socket).await;
    }
}

#[tokio::test]
async fn a_recovered_provider_takes_the_call_back_at_a_turn_boundary() {
    let Some((speech, _)) = wav_pcm("speech-16k.wav") else {
        return;
    };
    let breaker = BreakerConfig {
        min_calls: 1,
        base_cooldown: Duration::from_millis(300),
        jitter: 0.0,
        probes: 1,
        ..BreakerConfig::default()
    };
    let call = setup_with(breaker, RetryBudgetConfig::default()).await;
    agent(&call, "back", json!({}), json!({"recover_after_ms": 500})).await;
    // The first connect is refused (the breaker opens), the first probe too; then it heals.
    call.sim.set_connect_faults(ConnectFaults {
        reject_connect_with: Some(503),
        retry_after_s: None,
        reject_count: Some(2),
        ..ConnectFaults::default()
    });
    let mut socket = dial(&call, &token_for(&call, "back").await).await;
    let (events, _) = listen(&mut socket, true, |event, _| event["type"] == "mode").await;
    assert_eq!(
        events.last().map(|e| e["mode"].clone()),
        Some(json!("pipeline"))
    );
    ask(&mut socket, &speech).await;
    let (events, _) = listen(&mut socket, true, |event, _| {
        event["type"] == "mode" && event["mode"] == "realtime"
    })
    .await;
    let answered = events.iter().position(is_pipeline_answer);
    let returned = events
        .iter()
        .position(|e| e["type"] == "mode" && e["mode"] == "realtime");
    assert!(
        matches!((answered, returned), (Some(a), Some(r)) if a < r),
        "back to realtime only once the pipeline's answer was done: {events:?}"
    );
    // The next turn is answered by the realtime provider, seeded with the conversation.
    ask(&mut socket, &speech).await;
    let (_, audio) = listen(&mut socket, true, |event, _| {
        event["type"] == "transcript" && event["role"] == "assistant"
    })
    .await;
    assert!(rms_dbfs(&audio) > -50.0);
    let log = call.sim.log();
    assert!(
        log.client_events
            .iter()
            .any(|e| e == "conversation.item.create"),
        "the new realtime session was seeded with the conversation"
    );
    assert!(
        !log.vad.is_empty(),
        "the realtime provider heard the second turn"
    );
    hang_up(&mut socket).await;
}

#[tokio::test]
async fn with_every_path_down_the_caller_hears_the_apology_and_the_call_stays_up() {
    let Some((speech, _)) = wav_pcm("speech-16k.wav") else {
        return;
    };
    let call = Call::start().await;
    call.sim.set_connect_faults(ConnectFaults {
        reject_connect_with: Some(503),
        retry_after_s: None,
        reject_count: None,
        ..ConnectFaults::default()
    });
    call.sim.set_pipeline_faults(PipelineFaults {
        llm: EndpointFaults {
            status: Some(500),
            ..EndpointFaults::default()
        },
        ..PipelineFaults::default()
    });
    let mut socket = dial(&call, &token_for(&call, "desk").await).await;
    ask(&mut socket, &speech).await;
    // The line's transcript comes first, then its audio and its mark.
    let mut apologised = false;
    let (events, audio) = listen(&mut socket, true, |event, _| {
        apologised |= event["type"] == "transcript" && event["text"] == APOLOGY;
        apologised && event["type"] == "mark"
    })
    .await;
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "transcript" && e["text"] == APOLOGY),
        "the apology is spoken: {events:?}"
    );
    assert!(
        audio.len() > 32 * 300 && rms_dbfs(&audio) > -50.0,
        "and heard"
    );
    let call_id = events[0]["call_id"].as_str().expect("call id").to_owned();
    let live: Value = call
        .server
        .get(&format!("/v1/calls/{call_id}"), &call.key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(live["call"]["status"], "live", "the call is kept: {live}");
    let outage = incident_where(&call, |i| i["action"] == "apology_spoken").await;
    assert_eq!(outage["mode"], "provider_outage");
    assert_eq!(outage["detail"]["code"], "pipeline.llm_unavailable");
    hang_up(&mut socket).await;
    let stored = ended_call(&call, &call_id).await;
    assert_eq!(stored["call"]["end_reason"], "caller_hangup");
}

#[tokio::test]
async fn a_black_holed_realtime_provider_costs_a_call_at_most_the_connect_timeout() {
    // Accepts TCP connections and never answers the upgrade.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hole_addr = hole.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hole.accept().await {
            held.push(socket);
        }
    });
    let call = Call::start_with(|url| {
        let mut services = (*call_services(url)).clone();
        services.providers = services.providers.clone().with(ProviderEndpoint {
            name: "hole".to_owned(),
            base_url: format!("http://{hole_addr}/v1"),
            api_key: Secret::new("hole-key"),
        });
        Arc::new(services)
    })
    .await;
    let mut body = agent_body("patient");
    let object = body.as_object_mut().expect("object");
    object.remove("greeting");
    object.remove("tools");
    object.insert(
        "realtime".into(),
        json!([{"provider": "hole", "model": "gpt-realtime"}]),
    );
    let stage = |model: &str| json!([{"provider": "sim", "model": model}]);
    object.insert(
        "pipeline".into(),
        json!({"stt": stage("whisper-1"), "llm": stage("gpt-4o-mini"), "tts": stage("tts-1")}),
    );
    let created = call.server.post("/v1/agents", &call.key, &body).await;
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    let started = tokio::time::Instant::now();
    let mut socket = dial(&call, &token_for(&call, "patient").await).await;
    let (events, _) = listen(&mut socket, false, |event, _| event["type"] == "mode").await;
    let waited = started.elapsed();
    assert_eq!(
        events.last().map(|e| e["mode"].clone()),
        Some(json!("pipeline"))
    );
    assert!(
        waited < Duration::from_secs(7),
        "the call waited {waited:?} for a provider that never answers"
    );
    hang_up(&mut socket).await;
}
