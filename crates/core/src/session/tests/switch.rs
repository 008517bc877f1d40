//! Failover on virtual time: which path the call moves to and why, what the new path is given
//! (conversation, replayed caller audio, the open turn), the SLO deadlines, the filler and
//! apology lines, and the return to the preferred provider.

use super::*;

fn caller_chunk(tag: u8) -> AudioChunk {
    AudioChunk {
        format: AudioFormat::Pcmu,
        data: vec![tag; 160],
    }
}

fn line_chunk() -> AudioChunk {
    AudioChunk {
        format: AudioFormat::Pcmu,
        data: vec![0x10; 400 * 8],
    }
}

fn config(realtime_paths: usize) -> SessionConfig {
    SessionConfig {
        failover: FailoverConfig {
            realtime_paths,
            recover_hold: Duration::from_secs(5),
            ..FailoverConfig::default()
        },
        ..SessionConfig::default()
    }
}

fn switches(outputs: &[Output]) -> Vec<(Path, SwitchReason)> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Switch { to, reason } => Some((*to, *reason)),
            _ => None,
        })
        .collect()
}

fn appended_tags(outputs: &[Output]) -> Vec<u8> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Provider(ProviderCommand::AppendAudio(chunk)) => chunk.data.first().copied(),
            _ => None,
        })
        .collect()
}

fn incidents(outputs: &[Output]) -> Vec<IncidentReport> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Incident(report) => Some(report.clone()),
            _ => None,
        })
        .collect()
}

/// The caller asks (tags 1..=3), the provider hears and transcribes it.
fn caller_turn(h: &mut Harness, at_ms: u64, text: &str) {
    h.at(at_ms).provider(ProviderEvent::SpeechStarted);
    for tag in 1..=3 {
        h.client(ClientEvent::Audio(caller_chunk(tag)));
    }
    h.at(at_ms + 300).provider(ProviderEvent::SpeechStopped);
    h.provider(ProviderEvent::UserTranscript { text: text.into() });
}

#[test]
fn a_drop_mid_answer_moves_the_call_to_the_pipeline_which_answers_the_same_turn() {
    let mut h = Harness::new(config(1));
    caller_turn(&mut h, 0, "When do you open?");
    h.at(500);
    let marks = h.answer("item_a", "We open at nine on weekdays", 3);
    h.client(ClientEvent::MarkPlayed(marks[0]));
    h.take();

    h.at(700).provider(ProviderEvent::Closed {
        class: ErrorClass::Retryable,
    });
    let outputs = h.take();
    assert_eq!(
        switches(&outputs),
        vec![(Path::Pipeline, SwitchReason::ProviderClosed)]
    );
    assert!(has(&outputs, &Output::Client(ClientCommand::ClearPlayback)));
    assert!(has(&outputs, &Output::Provider(ProviderCommand::Close)));
    assert_eq!(
        persisted_items(&outputs),
        vec![(1, Role::Assistant, "We open".into(), Some(100))],
        "what was heard of the answer stays in the conversation"
    );
    assert!(!outputs.iter().any(|o| matches!(o, Output::Closed)));

    // While the pipeline opens: caller audio is kept, not sent; the old path is ignored.
    h.at(750).client(ClientEvent::Audio(caller_chunk(7)));
    h.agent_audio_ignored("item_a");
    assert!(appended_tags(&h.take()).is_empty());

    h.at(900);
    h.session.handle_switched(h.now, true);
    h.drain();
    let outputs = h.take();
    let seeds: Vec<_> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Provider(ProviderCommand::SeedItem { role, text }) => {
                Some((*role, text.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        seeds,
        vec![
            (Role::User, "When do you open?".to_owned()),
            (Role::Assistant, "We open".to_owned()),
        ]
    );
    assert_eq!(
        appended_tags(&outputs),
        vec![7],
        "the acknowledged turn is not replayed (its words are in the seed), later audio is"
    );
    assert!(has(
        &outputs,
        &Output::Provider(ProviderCommand::CreateResponse { instructions: None })
    ));
    assert!(has(
        &outputs,
        &Output::Client(ClientCommand::Mode(Path::Pipeline))
    ));
    assert_eq!(h.session.path(), Path::Pipeline);

    // The pipeline's answer reaches the caller; the switch incident carries its timings.
    h.at(1300);
    h.provider(ProviderEvent::ResponseStarted {
        response_id: "p1".into(),
    });
    h.agent_audio("p_item", 100);
    let outputs = h.take();
    let reports = incidents(&outputs);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].mode, FailureMode::ProviderOutage);
    assert_eq!(
        reports[0].detail,
        json!({"from": "realtime", "to": "pipeline", "reason": "provider_closed",
               "switch_ms": 200, "first_audio_ms": 600})
    );
    assert!(has(
        &outputs,
        &Output::Measure(Measurement::Failover {
            to_switch: MS * 200,
            to_first_audio: Some(MS * 600),
        })
    ));
}

#[test]
fn a_turn_not_yet_transcribed_is_replayed_and_not_answered_twice() {
    let mut h = Harness::new(config(1));
    h.provider(ProviderEvent::SpeechStarted);
    for tag in 1..=3 {
        h.client(ClientEvent::Audio(caller_chunk(tag)));
    }
    h.at(300).provider(ProviderEvent::SpeechStopped);
    h.take();
    h.at(400).provider(ProviderEvent::Closed {
        class: ErrorClass::Retryable,
    });
    h.take();
    h.at(450);
    h.session.handle_switched(h.now, true);
    h.drain();
    let outputs = h.take();
    assert_eq!(appended_tags(&outputs), vec![1, 2, 3]);
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, Output::Provider(ProviderCommand::CreateResponse { .. }))),
        "the pipeline answers the replayed turn when its own VAD ends it"
    );
    // Its transcription, from the pipeline, takes the next position: no gap is reused.
    h.at(900).provider(ProviderEvent::SpeechStopped);
    h.provider(ProviderEvent::UserTranscript {
        text: "Hello?".into(),
    });
    let items = persisted_items(&h.take());
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].2, "Hello?");
}

#[test]
fn a_missed_first_audio_deadline_switches_at_the_deadline() {
    let mut h = Harness::new(config(1));
    caller_turn(&mut h, 0, "Are you there?");
    h.take();
    let Output::Timeout(deadline) = h.session.poll_output() else {
        panic!("the session waits");
    };
    assert_eq!(
        deadline,
        h.start + MS * 2300,
        "2 s after the caller stopped"
    );
    h.at(2300);
    h.session.handle_timeout(h.now);
    h.drain();
    assert_eq!(
        switches(&h.take()),
        vec![(Path::Pipeline, SwitchReason::FirstAudioDeadline)]
    );
}

#[test]
fn a_stall_between_audio_chunks_switches() {
    let mut h = Harness::new(config(1));
    caller_turn(&mut h, 0, "Tell me more.");
    h.at(400);
    h.answer("item_a", "Well", 1);
    h.take();
    h.at(1400);
    h.session.handle_timeout(h.now);
    h.drain();
    assert_eq!(
        switches(&h.take()),
        vec![(Path::Pipeline, SwitchReason::Stall)]
    );
}

#[test]
fn errors_switch_by_class_and_a_transient_one_does_not() {
    let mut h = Harness::new(config(1));
    h.provider(ProviderEvent::Error {
        class: ErrorClass::Retryable,
        code: "server_error".into(),
    });
    assert!(switches(&h.take()).is_empty());
    h.provider(ProviderEvent::Error {
        class: ErrorClass::Retryable,
        code: "rate_limit_exceeded".into(),
    });
    assert_eq!(
        switches(&h.take()),
        vec![(Path::Pipeline, SwitchReason::RateLimited)]
    );

    let mut h = Harness::new(config(1));
    h.provider(ProviderEvent::Error {
        class: ErrorClass::Terminal,
        code: "invalid_api_key".into(),
    });
    assert_eq!(
        switches(&h.take()),
        vec![(Path::Pipeline, SwitchReason::ProviderError)]
    );
}

#[test]
fn the_next_healthy_realtime_provider_comes_before_the_pipeline() {
    let mut h = Harness::new(config(3));
    h.session.handle_health(h.now, Path::Realtime(1), false);
    h.provider(ProviderEvent::Closed {
        class: ErrorClass::Retryable,
    });
    assert_eq!(
        switches(&h.take()),
        vec![(Path::Realtime(2), SwitchReason::ProviderClosed)]
    );
    // That one cannot be reached either: the pipeline takes the call.
    h.session.handle_switched(h.now, false);
    h.drain();
    assert_eq!(
        switches(&h.take()),
        vec![(Path::Pipeline, SwitchReason::ConnectFailed)]
    );
    h.session.handle_switched(h.now, true);
    h.drain();
    assert_eq!(h.session.path(), Path::Pipeline);
}

#[test]
fn the_call_returns_to_realtime_after_the_hold_and_only_at_a_turn_boundary() {
    let mut h = Harness::new(config(1));
    h.provider(ProviderEvent::Closed {
        class: ErrorClass::Retryable,
    });
    h.session.handle_switched(h.now, true);
    h.drain();
    h.take();

    h.at(1000);
    h.session.handle_health(h.now, Path::Realtime(0), true);
    h.drain();
    assert!(switches(&h.take()).is_empty(), "not before the hold period");
    // The pipeline is mid-answer when the hold ends: the switch waits for the turn to end.
    h.at(5500);
    let marks = h.answer("p_item", "Sure, one second", 1);
    h.at(6000);
    h.session.handle_timeout(h.now);
    h.drain();
    assert!(switches(&h.take()).is_empty(), "not mid-answer");
    h.done(ResponseStatus::Completed);
    assert!(
        switches(&h.take()).is_empty(),
        "not while audio still plays"
    );
    h.client(ClientEvent::MarkPlayed(marks[0]));
    let outputs = h.take();
    assert_eq!(
        switches(&outputs),
        vec![(Path::Realtime(0), SwitchReason::Recovered)]
    );
    h.session.handle_switched(h.now, true);
    h.drain();
    let outputs = h.take();
    assert!(has(
        &outputs,
        &Output::Client(ClientCommand::Mode(Path::Realtime(0)))
    ));
    let reports = incidents(&outputs);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].severity, Severity::Info);
    assert_eq!(reports[0].detail["reason"], "recovered");
}

#[test]
fn an_open_breaker_moves_the_call_at_the_next_turn_boundary() {
    let mut h = Harness::new(config(1));
    let marks = h.answer("item_a", "Our address is", 1);
    h.session.handle_health(h.now, Path::Realtime(0), false);
    h.drain();
    assert!(
        switches(&h.take()).is_empty(),
        "the working answer finishes"
    );
    h.done(ResponseStatus::Completed);
    h.client(ClientEvent::MarkPlayed(marks[0]));
    assert_eq!(
        switches(&h.take()),
        vec![(Path::Pipeline, SwitchReason::BreakerOpen)]
    );
}

#[test]
fn a_slow_switch_plays_the_filler_line_and_the_caller_hears_one_path_at_a_time() {
    let mut h = Harness::new(config(1));
    h.session.set_line_audio(Line::Filler, line_chunk());
    caller_turn(&mut h, 0, "Can I book for Friday?");
    h.at(400).provider(ProviderEvent::Closed {
        class: ErrorClass::Retryable,
    });
    h.take();
    h.at(1000);
    h.session.handle_timeout(h.now);
    h.drain();
    let outputs = h.take();
    let audio: Vec<_> = outputs
        .iter()
        .filter(|o| matches!(o, Output::Client(ClientCommand::Audio { .. })))
        .collect();
    assert_eq!(audio.len(), 1, "the filler, once");
    let reports = incidents(&outputs);
    assert_eq!(reports[0].mode, FailureMode::DeadAir);
    assert_eq!(reports[0].action, "filler_played");
    // A barge-in over the filler never truncates a provider item.
    h.session.handle_switched(h.now, true);
    h.drain();
    h.provider(ProviderEvent::SpeechStarted);
    assert!(
        !h.take()
            .iter()
            .any(|o| matches!(o, Output::Provider(ProviderCommand::Truncate { .. })))
    );
}

#[test]
fn when_every_path_is_down_the_apology_is_spoken_and_the_call_kept_or_ended() {
    for policy in [AllDownPolicy::KeepCall, AllDownPolicy::EndCall] {
        let mut config = config(1);
        config.failover.initial_path = Path::Pipeline;
        config.failover.all_down = policy;
        let mut h = Harness::new(config);
        h.session.set_line_audio(Line::Apology, line_chunk());
        caller_turn(&mut h, 0, "Hello?");
        h.provider(ProviderEvent::ResponseStarted {
            response_id: "p1".into(),
        });
        h.provider(ProviderEvent::Error {
            class: ErrorClass::Retryable,
            code: "pipeline.llm_unavailable".into(),
        });
        h.done(ResponseStatus::Failed);
        let outputs = h.take();
        let mark = outputs.iter().find_map(|o| match o {
            Output::Client(ClientCommand::Audio { mark, .. }) => Some(*mark),
            _ => None,
        });
        let mark = mark.expect("the apology is spoken");
        let reports = incidents(&outputs);
        assert!(reports.iter().any(|r| r.mode == FailureMode::ProviderOutage
            && r.severity == Severity::Critical
            && r.detail["code"] == "pipeline.llm_unavailable"));
        h.client(ClientEvent::MarkPlayed(mark));
        let ended = has(
            &h.take(),
            &Output::Persist(PersistCommand::CallEnded(EndReason::ProviderFailure)),
        );
        assert_eq!(ended, policy == AllDownPolicy::EndCall, "{policy:?}");
    }
}

#[test]
fn a_slow_p95_moves_the_call_at_a_turn_boundary() {
    let mut h = Harness::new(config(1));
    for turn in 0..5u64 {
        let at = turn * 10_000;
        caller_turn(&mut h, at, "Next?");
        h.at(at + 300 + 1800);
        h.answer("item", "Yes", 0);
        h.agent_audio(&format!("item_{turn}"), 100);
        h.done(ResponseStatus::Completed);
    }
    let outputs = h.take();
    assert!(switches(&outputs).is_empty(), "audio still playing");
    let last_mark = outputs.iter().rev().find_map(|o| match o {
        Output::Client(ClientCommand::Audio { mark, .. }) => Some(*mark),
        _ => None,
    });
    h.client(ClientEvent::MarkPlayed(last_mark.expect("audio was sent")));
    assert_eq!(
        switches(&h.take()),
        vec![(Path::Pipeline, SwitchReason::SlowP95)]
    );
}

impl Harness {
    /// Feeds agent audio that must not reach the caller.
    fn agent_audio_ignored(&mut self, item: &str) {
        self.provider(ProviderEvent::AudioDelta {
            item_id: item.to_owned(),
            chunk: caller_chunk(0xAA),
        });
        assert!(
            !self
                .outputs
                .iter()
                .any(|o| matches!(o, Output::Client(ClientCommand::Audio { .. }))),
            "audio from a path being replaced reached the caller"
        );
    }
}

#[test]
fn a_pipeline_that_keeps_failing_without_answering_ends_the_call_instead_of_spinning() {
    let mut config = config(1);
    config.failover.initial_path = Path::Pipeline;
    let mut h = Harness::new(config);
    for _ in 0..3 {
        h.provider(ProviderEvent::Closed {
            class: ErrorClass::Terminal,
        });
        assert_eq!(
            switches(&h.take()),
            vec![(Path::Pipeline, SwitchReason::ProviderClosed)]
        );
        h.session.handle_switched(h.now, true);
        h.drain();
    }
    h.provider(ProviderEvent::Closed {
        class: ErrorClass::Terminal,
    });
    assert!(has(
        &h.take(),
        &Output::Persist(PersistCommand::CallEnded(EndReason::ProviderFailure))
    ));
}
