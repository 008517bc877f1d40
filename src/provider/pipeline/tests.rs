//! The pipeline link end to end against the stub endpoints: turns, responses, context, cancel
//! and tools (`interrupt` covers cancel and truncation, `failover` the stage walks). Real timers, short deadlines.

mod failover;
mod interrupt;

use super::{
    start,
    stub::{self, Recorder, Reply, Stub, TTS_MS_PER_CHAR, fixture},
};
use crate::provider::ProviderLink;
use serde_json::Value;
use std::{sync::Arc, time::Duration};
use voxgate_core::session::{
    AudioChunk, AudioFormat, ProviderCommand, ProviderEvent, ResponseStatus, Role,
};

const WAIT: Duration = Duration::from_secs(2);

/// The next event, failing the test after [`WAIT`].
async fn next(link: &mut ProviderLink) -> ProviderEvent {
    tokio::time::timeout(WAIT, link.events.recv())
        .await
        .expect("an event in time")
        .expect("the link is open")
}

/// Events up to and including the first `ResponseDone`.
async fn until_done(link: &mut ProviderLink) -> Vec<ProviderEvent> {
    let mut events = Vec::new();
    loop {
        let event = next(link).await;
        let done = matches!(event, ProviderEvent::ResponseDone { .. });
        events.push(event);
        if done {
            return events;
        }
    }
}

async fn send(link: &ProviderLink, command: ProviderCommand) {
    link.commands
        .send(command)
        .await
        .expect("the link takes commands");
}

/// A link on the stub with backend `a` for every stage; `Ready` already consumed.
async fn ready(stub: &Stub, format: AudioFormat) -> (ProviderLink, Arc<Recorder>) {
    let health = Arc::new(Recorder::default());
    let mut link = start(stub::setup(
        stub,
        health.clone(),
        format,
        [&["a"], &["a"], &["a"]],
    ));
    assert_eq!(next(&mut link).await, ProviderEvent::Ready);
    (link, health)
}

/// Event names, with runs of the same delta kind folded into one.
fn shape(events: &[ProviderEvent]) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for event in events {
        let name = match event {
            ProviderEvent::SpeechStarted => "speech_started",
            ProviderEvent::SpeechStopped => "speech_stopped",
            ProviderEvent::UserTranscript { .. } => "user_transcript",
            ProviderEvent::ResponseStarted { .. } => "response_started",
            ProviderEvent::TranscriptDelta { .. } => "transcript",
            ProviderEvent::AudioDelta { .. } => "audio",
            ProviderEvent::FunctionCall { .. } => "function_call",
            ProviderEvent::ResponseDone { .. } => "response_done",
            ProviderEvent::Error { .. } => "error",
            _ => "other",
        };
        if names.last() != Some(&name) || !matches!(name, "audio" | "transcript") {
            names.push(name);
        }
    }
    names
}

fn audio_ms(events: &[ProviderEvent], format: AudioFormat) -> u64 {
    let bytes: usize = events
        .iter()
        .filter_map(|event| match event {
            ProviderEvent::AudioDelta { chunk, .. } => {
                assert_eq!(chunk.format, format);
                Some(chunk.data.len())
            }
            _ => None,
        })
        .sum();
    format.duration_ms(bytes)
}

fn text_of(events: &[ProviderEvent]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            ProviderEvent::TranscriptDelta { delta, .. } => Some(delta.as_str()),
            _ => None,
        })
        .collect()
}

fn status_of(events: &[ProviderEvent]) -> Option<ResponseStatus> {
    events.iter().rev().find_map(|event| match event {
        ProviderEvent::ResponseDone { status, .. } => Some(*status),
        _ => None,
    })
}

fn chat_body(stub: &Stub, backend: &str, index: usize) -> Value {
    let bodies = stub.seen(backend, "llm");
    serde_json::from_str(&bodies[index]).expect("a JSON chat request")
}

/// Sends the first utterance of the μ-law fixture and the start of its pause (6 s), then a
/// second of silence, as 20 ms frames; false when the fixture is absent.
async fn speak_one_turn(link: &ProviderLink) -> bool {
    let Some(speech) = fixture("speech-8k.ulaw") else {
        return false;
    };
    let audio = [&speech[..48_000], &[0xFF; 8_000][..]].concat();
    for frame in audio.chunks(160) {
        let chunk = AudioChunk {
            format: AudioFormat::Pcmu,
            data: frame.to_vec(),
        };
        send(link, ProviderCommand::AppendAudio(chunk)).await;
    }
    true
}

#[tokio::test]
async fn a_spoken_turn_in_mulaw_is_transcribed_answered_and_spoken_back_in_mulaw() {
    let stub = Stub::start().await;
    let (mut link, health) = ready(&stub, AudioFormat::Pcmu).await;
    if !speak_one_turn(&link).await {
        return;
    }
    let events = until_done(&mut link).await;
    let expected = [
        "speech_started",
        "speech_stopped",
        "user_transcript",
        "response_started",
        "transcript",
        "audio",
        "transcript",
        "audio",
        "response_done",
    ];
    assert_eq!(shape(&events), expected);
    assert_eq!(text_of(&events), "Sure. Tuesday at three works.");
    let expected_ms = ("Sure.".len() + "Tuesday at three works.".len()) as u64 * TTS_MS_PER_CHAR;
    assert!(audio_ms(&events, AudioFormat::Pcmu).abs_diff(expected_ms) <= 5);
    let Some(ProviderEvent::ResponseDone { usage, status, .. }) = events.last() else {
        panic!("ends with ResponseDone");
    };
    assert_eq!(*status, ResponseStatus::Completed);
    assert_eq!(
        usage.map(|u| (u.input_tokens, u.output_tokens)),
        Some((42, 9))
    );
    let stt = &stub.seen("a", "stt")[0];
    assert!(stt.contains("name=\"model\"") && stt.contains("model-a"));
    assert!(stt.contains("name=\"language\"\r\n\r\nen\r\n"));
    assert!(stt.contains("RIFF"), "the utterance is sent as WAV");
    let chat = chat_body(&stub, "a", 0);
    assert_eq!(chat["stream"], true);
    assert_eq!(chat["stream_options"]["include_usage"], true);
    assert_eq!(
        chat["messages"][1]["content"],
        "I would like to book an appointment."
    );
    assert_eq!(chat["tools"][0]["function"]["name"], "lookup");
    let tts: Value = serde_json::from_str(&stub.seen("a", "tts")[0]).expect("JSON");
    assert_eq!(
        (tts["voice"].as_str(), tts["response_format"].as_str()),
        (Some("verse"), Some("pcm"))
    );
    assert!(!health.outcomes_of("a").is_empty());
}

#[tokio::test]
async fn a_response_after_seed_items_sends_the_seeded_context_and_its_instructions() {
    let stub = Stub::start().await;
    let (mut link, _) = ready(&stub, AudioFormat::Pcm16 { rate: 24_000 }).await;
    let seed = |role, text: &str| ProviderCommand::SeedItem {
        role,
        text: text.to_owned(),
    };
    send(&link, seed(Role::User, "Hi, I need a dentist.")).await;
    send(&link, seed(Role::Assistant, "Happy to help. Which day?")).await;
    let instructions = Some("Answer briefly.".to_owned());
    send(&link, ProviderCommand::CreateResponse { instructions }).await;
    let events = until_done(&mut link).await;
    assert_eq!(status_of(&events), Some(ResponseStatus::Completed));
    let format = AudioFormat::Pcm16 { rate: 24_000 };
    assert!(audio_ms(&events, format) >= 500);
    let messages = chat_body(&stub, "a", 0)["messages"].clone();
    let roles: Vec<&str> = messages
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant"]);
    let system = messages[0]["content"].as_str().unwrap_or_default();
    assert!(
        system.starts_with("You are the clinic's receptionist.")
            && system.ends_with("Answer briefly.")
    );
    assert_eq!(messages[1]["content"], "Hi, I need a dentist.");
    assert_eq!(messages[2]["content"], "Happy to help. Which day?");
    // The answer joins the context for the next response.
    send(
        &link,
        ProviderCommand::CreateResponse { instructions: None },
    )
    .await;
    until_done(&mut link).await;
    let messages = chat_body(&stub, "a", 1)["messages"].clone();
    assert_eq!(messages[3]["content"], "Sure. Tuesday at three works.");
}

#[tokio::test]
async fn a_tool_call_split_across_deltas_is_reported_after_the_spoken_text() {
    let stub = Stub::start().await;
    stub.reply(Reply::Tool {
        text: "One moment.".into(),
        name: "lookup".into(),
        arguments: "{\"q\":\"opening hours\"}".into(),
    });
    let (mut link, _) = ready(&stub, AudioFormat::Pcmu).await;
    send(
        &link,
        ProviderCommand::CreateResponse { instructions: None },
    )
    .await;
    let events = until_done(&mut link).await;
    let expected = [
        "response_started",
        "transcript",
        "audio",
        "function_call",
        "response_done",
    ];
    assert_eq!(shape(&events), expected);
    let call = events.iter().find_map(|event| match event {
        ProviderEvent::FunctionCall {
            call_id,
            name,
            arguments,
        } => Some((call_id.clone(), name.clone(), arguments.clone())),
        _ => None,
    });
    let (call_id, name, arguments) = call.expect("a function call");
    assert_eq!(
        (name.as_str(), arguments.as_str()),
        ("lookup", "{\"q\":\"opening hours\"}")
    );
    stub.reply(Reply::Text("We open at nine.".into()));
    let output = "{\"hours\":\"9-17\"}".to_owned();
    send(
        &link,
        ProviderCommand::ToolOutput {
            call_id: call_id.clone(),
            output,
        },
    )
    .await;
    send(
        &link,
        ProviderCommand::CreateResponse { instructions: None },
    )
    .await;
    until_done(&mut link).await;
    let messages = chat_body(&stub, "a", 1)["messages"].clone();
    assert_eq!(messages[1]["tool_calls"][0]["id"], call_id.as_str());
    assert_eq!(messages[1]["content"], "One moment.");
    assert_eq!(messages[2]["role"], "tool");
    assert_eq!(messages[2]["tool_call_id"], call_id.as_str());
}

#[tokio::test]
async fn close_ends_the_event_channel() {
    let stub = Stub::start().await;
    let (mut link, _) = ready(&stub, AudioFormat::Pcmu).await;
    send(&link, ProviderCommand::Close).await;
    let end = tokio::time::timeout(WAIT, link.events.recv()).await;
    assert_eq!(end.expect("closes in time"), None);
}

#[tokio::test]
async fn an_unsupported_rate_is_refused_at_start() {
    let stub = Stub::start().await;
    let health = Arc::new(Recorder::default());
    let format = AudioFormat::Pcm16 { rate: 44_100 };
    let mut link = start(stub::setup(&stub, health, format, [&["a"], &["a"], &["a"]]));
    assert!(
        matches!(next(&mut link).await, ProviderEvent::Error { code, .. } if code == "pipeline.unsupported_format")
    );
    assert!(matches!(
        next(&mut link).await,
        ProviderEvent::Closed { .. }
    ));
}
