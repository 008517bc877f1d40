//! Stage walks against the stub: failover on 5xx, no same-endpoint retry past a long
//! `Retry-After`, deadlines, health's admission, and a link that outlives a total outage.

use super::{WAIT, next, send, shape, speak_one_turn, status_of, text_of, until_done};
use crate::provider::{
    ProviderLink,
    pipeline::{
        start,
        stub::{self, Fault, Recorder, Stub},
    },
};
use std::{sync::Arc, time::Duration};
use voxgate_core::{
    failover::Outcome,
    session::{AudioFormat, ErrorClass, ProviderCommand, ProviderEvent, ResponseStatus},
};

/// A μ-law link with the given backends per stage; `Ready` already consumed.
async fn link_with(stub: &Stub, stages: [&[&str]; 3]) -> (ProviderLink, Arc<Recorder>) {
    let health = Arc::new(Recorder::default());
    let mut link = start(stub::setup(stub, health.clone(), AudioFormat::Pcmu, stages));
    assert_eq!(next(&mut link).await, ProviderEvent::Ready);
    (link, health)
}

async fn respond(link: &ProviderLink) {
    send(link, ProviderCommand::CreateResponse { instructions: None }).await;
}

fn failures(outcomes: &[Outcome]) -> usize {
    let failed = |o: &&Outcome| matches!(o, Outcome::Failure { .. });
    outcomes.iter().filter(failed).count()
}

#[tokio::test]
async fn a_500_fails_over_to_the_second_endpoint_after_one_retry() {
    let stub = Stub::start().await;
    stub.fault("a", "llm", Some(Fault::Status(500)));
    let (mut link, health) = link_with(&stub, [&["a"], &["a", "b"], &["a"]]).await;
    respond(&link).await;
    let events = until_done(&mut link).await;
    assert_eq!(status_of(&events), Some(ResponseStatus::Completed));
    assert_eq!(text_of(&events), "Sure. Tuesday at three works.");
    assert_eq!(
        stub.seen("a", "llm").len(),
        2,
        "one retry on the same endpoint"
    );
    assert_eq!(stub.seen("b", "llm").len(), 1);
    let outcomes = health.outcomes_of("a");
    let llm_failures = outcomes.iter().filter(|o| {
        matches!(
            o,
            Outcome::Failure {
                class: ErrorClass::Retryable,
                retry_after: None
            }
        )
    });
    assert_eq!(llm_failures.count(), 2);
    assert!(matches!(
        health.outcomes_of("b")[..],
        [Outcome::Success { .. }]
    ));
}

#[tokio::test]
async fn a_429_with_a_long_retry_after_is_not_retried_on_that_endpoint() {
    let stub = Stub::start().await;
    stub.fault("a", "llm", Some(Fault::RateLimited(30)));
    let (mut link, health) = link_with(&stub, [&["a"], &["a", "b"], &["a"]]).await;
    respond(&link).await;
    let events = until_done(&mut link).await;
    assert_eq!(status_of(&events), Some(ResponseStatus::Completed));
    assert_eq!(stub.seen("a", "llm").len(), 1);
    assert_eq!(stub.seen("b", "llm").len(), 1);
    let rate_limited = Outcome::Failure {
        class: ErrorClass::Retryable,
        retry_after: Some(Duration::from_secs(30)),
    };
    assert!(health.outcomes_of("a").contains(&rate_limited));
}

#[tokio::test]
async fn a_terminal_error_is_not_retried_and_unadmitted_endpoints_are_skipped() {
    let stub = Stub::start().await;
    stub.fault("a", "llm", Some(Fault::Status(401)));
    let (mut link, health) = link_with(&stub, [&["a"], &["a", "b", "c"], &["a"]]).await;
    let refused = stub.endpoint("b").base_url;
    health
        .refused
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(refused);
    respond(&link).await;
    let events = until_done(&mut link).await;
    assert_eq!(status_of(&events), Some(ResponseStatus::Completed));
    assert_eq!(stub.seen("a", "llm").len(), 1);
    assert!(stub.seen("b", "llm").is_empty());
    assert_eq!(stub.seen("c", "llm").len(), 1);
}

#[tokio::test]
async fn a_slow_first_byte_and_a_stall_count_as_failures_and_fail_over() {
    let stub = Stub::start().await;
    stub.fault(
        "a",
        "llm",
        Some(Fault::SlowFirstByte(Duration::from_millis(600))),
    );
    let (mut link, health) = link_with(&stub, [&["a"], &["a", "b"], &["a"]]).await;
    respond(&link).await;
    let events = until_done(&mut link).await;
    assert_eq!(status_of(&events), Some(ResponseStatus::Completed));
    assert_eq!(
        failures(&health.outcomes_of("a")),
        2,
        "timed out twice (with the retry)"
    );
    // A TTS endpoint that stalls mid-sentence keeps what it sent; the next sentence moves on.
    stub.fault("a", "llm", None);
    stub.fault(
        "a",
        "tts",
        Some(Fault::StallAfterFirst(Duration::from_secs(5))),
    );
    let spoken_by = |backend| stub.seen(backend, "tts").len();
    let earlier = spoken_by("a");
    let (mut link, _) = link_with(&stub, [&["a"], &["a"], &["a", "b"]]).await;
    respond(&link).await;
    let events = until_done(&mut link).await;
    assert_eq!(status_of(&events), Some(ResponseStatus::Completed));
    assert_eq!(
        text_of(&events),
        "Sure. Tuesday at three works.",
        "nothing spoken twice"
    );
    assert_eq!((spoken_by("a") - earlier, spoken_by("b")), (1, 1));
}

#[tokio::test]
async fn an_llm_stream_that_stalls_before_any_sentence_moves_to_the_next_endpoint() {
    let stub = Stub::start().await;
    stub.fault(
        "a",
        "llm",
        Some(Fault::StallAfterFirst(Duration::from_secs(5))),
    );
    let (mut link, health) = link_with(&stub, [&["a"], &["a", "b"], &["b"]]).await;
    respond(&link).await;
    let events = until_done(&mut link).await;
    assert_eq!(status_of(&events), Some(ResponseStatus::Completed));
    assert_eq!(text_of(&events), "Sure. Tuesday at three works.");
    assert_eq!(
        stub.seen("a", "llm").len(),
        2,
        "retried once after the stall"
    );
    assert_eq!(failures(&health.outcomes_of("a")), 2);
}

#[tokio::test]
async fn all_llm_endpoints_down_reports_unavailable_and_the_next_turn_works_again() {
    let stub = Stub::start().await;
    stub.fault("a", "llm", Some(Fault::Status(503)));
    stub.fault("b", "llm", Some(Fault::Status(502)));
    let (mut link, _) = link_with(&stub, [&["a"], &["a", "b"], &["a"]]).await;
    respond(&link).await;
    let events = until_done(&mut link).await;
    assert_eq!(
        shape(&events),
        ["response_started", "error", "response_done"]
    );
    let error = ProviderEvent::Error {
        class: ErrorClass::Retryable,
        code: "pipeline.llm_unavailable".into(),
    };
    assert_eq!(events[1], error);
    assert!(matches!(
        events[2],
        ProviderEvent::ResponseDone {
            status: ResponseStatus::Failed,
            usage: None,
            ..
        }
    ));
    stub.fault("a", "llm", None);
    respond(&link).await;
    let events = until_done(&mut link).await;
    assert_eq!(status_of(&events), Some(ResponseStatus::Completed));
    // The link is still open for more.
    send(&link, ProviderCommand::Close).await;
    let end = tokio::time::timeout(WAIT, link.events.recv()).await;
    assert_eq!(end.expect("closes in time"), None);
}

#[tokio::test]
async fn all_tts_endpoints_down_reports_tts_unavailable_and_failed() {
    let stub = Stub::start().await;
    stub.fault("a", "tts", Some(Fault::Status(500)));
    let (mut link, _) = link_with(&stub, [&["a"], &["a"], &["a"]]).await;
    respond(&link).await;
    let events = until_done(&mut link).await;
    assert_eq!(
        shape(&events),
        ["response_started", "error", "response_done"]
    );
    let is_tts_down = |e: &ProviderEvent| matches!(e, ProviderEvent::Error { code, .. } if code == "pipeline.tts_unavailable");
    assert!(is_tts_down(&events[1]));
    assert_eq!(status_of(&events), Some(ResponseStatus::Failed));
}

#[tokio::test]
async fn a_turn_no_stt_endpoint_can_transcribe_reports_stt_unavailable_and_no_response() {
    let stub = Stub::start().await;
    stub.fault("a", "stt", Some(Fault::Status(503)));
    let (mut link, _) = link_with(&stub, [&["a"], &["a"], &["a"]]).await;
    if !speak_one_turn(&link).await {
        return;
    }
    assert_eq!(next(&mut link).await, ProviderEvent::SpeechStarted);
    assert_eq!(next(&mut link).await, ProviderEvent::SpeechStopped);
    let error = ProviderEvent::Error {
        class: ErrorClass::Retryable,
        code: "pipeline.stt_unavailable".into(),
    };
    assert_eq!(next(&mut link).await, error);
    assert_eq!(stub.seen("a", "stt").len(), 2, "one retry");
    let quiet = tokio::time::timeout(Duration::from_millis(200), link.events.recv()).await;
    assert!(quiet.is_err(), "no response follows: {quiet:?}");
}
