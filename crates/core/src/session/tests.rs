//! Scenario tests of the session on virtual time: a harness feeds events at chosen instants and
//! collects every output until the session waits.

use super::*;
use serde_json::json;

mod call_control;
mod dtmf;
mod properties;
mod switch;

const MS: Duration = Duration::from_millis(1);

struct Harness {
    session: Session,
    start: Instant,
    now: Instant,
    outputs: Vec<Output>,
}

impl Harness {
    fn new(config: SessionConfig) -> Self {
        #[allow(clippy::disallowed_methods)] // the one real instant; everything after is virtual
        let start = Instant::now();
        let mut harness = Self {
            session: Session::new(start, config),
            start,
            now: start,
            outputs: Vec::new(),
        };
        harness.drain();
        harness
    }

    fn at(&mut self, ms: u64) -> &mut Self {
        self.now = self.start + MS * u32::try_from(ms).expect("small");
        self
    }

    fn drain(&mut self) {
        loop {
            match self.session.poll_output() {
                Output::Timeout(deadline) => {
                    assert!(deadline >= self.now, "a deadline in the past");
                    return;
                }
                Output::Closed => {
                    self.outputs.push(Output::Closed);
                    return;
                }
                other => self.outputs.push(other),
            }
        }
    }

    fn client(&mut self, event: ClientEvent) -> &mut Self {
        self.session.handle_client(self.now, event);
        self.drain();
        self
    }

    fn provider(&mut self, event: ProviderEvent) -> &mut Self {
        self.session.handle_provider(self.now, event);
        self.drain();
        self
    }

    fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    /// Agent audio of `ms` milliseconds for `item`; returns the mark it was sent with.
    fn agent_audio(&mut self, item: &str, ms: usize) -> MarkId {
        let chunk = AudioChunk {
            format: AudioFormat::Pcmu,
            data: vec![0xFF; ms * 8],
        };
        self.provider(ProviderEvent::AudioDelta {
            item_id: item.to_owned(),
            chunk,
        });
        let mark = self.outputs.iter().rev().find_map(|output| match output {
            Output::Client(ClientCommand::Audio { mark, .. }) => Some(*mark),
            _ => None,
        });
        mark.expect("agent audio goes to the client with a mark")
    }

    fn answer(&mut self, item: &str, text: &str, chunks: usize) -> Vec<MarkId> {
        self.provider(ProviderEvent::ResponseStarted {
            response_id: "resp_1".into(),
        });
        self.provider(ProviderEvent::TranscriptDelta {
            item_id: item.into(),
            delta: text.into(),
        });
        (0..chunks).map(|_| self.agent_audio(item, 100)).collect()
    }

    fn done(&mut self, status: ResponseStatus) -> &mut Self {
        self.provider(ProviderEvent::ResponseDone {
            response_id: "resp_1".into(),
            status,
            usage: Some(Usage {
                input_tokens: 10,
                output_tokens: 20,
            }),
        })
    }
}

fn persisted_items(outputs: &[Output]) -> Vec<(u64, Role, String, Option<u64>)> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Persist(PersistCommand::Item {
                seq,
                role,
                text,
                played_ms,
            }) => Some((*seq, *role, text.clone(), *played_ms)),
            _ => None,
        })
        .collect()
}

fn has(outputs: &[Output], wanted: &Output) -> bool {
    outputs.iter().any(|output| output == wanted)
}

fn greeting_config() -> SessionConfig {
    SessionConfig {
        greeting: Some("Hello, Harbourside clinic.".into()),
        ..SessionConfig::default()
    }
}

#[test]
fn the_greeting_is_requested_once_when_the_provider_is_ready() {
    let mut h = Harness::new(greeting_config());
    h.provider(ProviderEvent::Ready)
        .provider(ProviderEvent::Ready);
    let creates: Vec<_> = h
        .take()
        .into_iter()
        .filter(|o| matches!(o, Output::Provider(ProviderCommand::CreateResponse { .. })))
        .collect();
    assert_eq!(creates.len(), 1);
    let Output::Provider(ProviderCommand::CreateResponse {
        instructions: Some(text),
    }) = &creates[0]
    else {
        panic!("greeting carries instructions");
    };
    assert!(text.contains("Hello, Harbourside clinic."));
}

#[test]
fn caller_audio_goes_to_the_provider_and_is_kept_for_replay() {
    let mut h = Harness::new(SessionConfig::default());
    let chunk = AudioChunk {
        format: AudioFormat::Pcmu,
        data: vec![0x55; 160],
    };
    h.client(ClientEvent::Audio(chunk.clone()));
    assert_eq!(
        h.take(),
        vec![Output::Provider(ProviderCommand::AppendAudio(
            chunk.clone()
        ))]
    );
    assert_eq!(
        h.session.caller_audio.since(0).collect::<Vec<_>>(),
        vec![&chunk]
    );
}

#[test]
fn a_turn_is_measured_and_the_answer_is_persisted_once_played() {
    let mut h = Harness::new(SessionConfig::default());
    h.provider(ProviderEvent::SpeechStarted);
    h.at(1000).provider(ProviderEvent::SpeechStopped);
    h.provider(ProviderEvent::UserTranscript {
        text: "When do you open?".into(),
    });
    h.at(1100).provider(ProviderEvent::ResponseStarted {
        response_id: "resp_1".into(),
    });
    h.provider(ProviderEvent::TranscriptDelta {
        item_id: "item_a".into(),
        delta: "We open at nine.".into(),
    });
    h.at(1350);
    let marks: Vec<MarkId> = (0..3).map(|_| h.agent_audio("item_a", 100)).collect();
    h.done(ResponseStatus::Completed);
    let outputs = h.take();
    assert!(has(
        &outputs,
        &Output::Measure(Measurement::FirstAudio(MS * 350))
    ));
    assert!(has(
        &outputs,
        &Output::Measure(Measurement::ProviderFirstAudio(MS * 250))
    ));
    assert!(has(
        &outputs,
        &Output::Client(ClientCommand::AgentSpeaking(true))
    ));
    assert!(has(
        &outputs,
        &Output::Persist(PersistCommand::Usage(Usage {
            input_tokens: 10,
            output_tokens: 20
        }))
    ));
    // Only the user item so far: the answer has been sent, not yet heard.
    assert_eq!(
        persisted_items(&outputs),
        vec![(0, Role::User, "When do you open?".into(), None)]
    );
    for mark in marks {
        h.client(ClientEvent::MarkPlayed(mark));
    }
    let outputs = h.take();
    assert_eq!(
        persisted_items(&outputs),
        vec![(1, Role::Assistant, "We open at nine.".into(), Some(300))]
    );
    assert!(has(
        &outputs,
        &Output::Client(ClientCommand::AgentSpeaking(false))
    ));
}

#[test]
fn barge_in_clears_playback_truncates_to_the_played_milliseconds_and_drops_late_audio() {
    let mut h = Harness::new(SessionConfig::default());
    let marks = h.answer(
        "item_a",
        "Our opening hours are nine to five on weekdays.",
        10,
    );
    // The carrier confirms 300 ms of the 1000 ms sent, then the caller talks over the agent.
    h.client(ClientEvent::MarkPlayed(marks[2]));
    h.take();
    h.provider(ProviderEvent::SpeechStarted);
    let outputs = h.take();
    // No cancel from us: the provider's VAD (interrupt_response) cancels the response itself.
    let expected_head = [
        Output::Client(ClientCommand::ClearPlayback),
        Output::Provider(ProviderCommand::Truncate {
            item_id: "item_a".into(),
            audio_end_ms: 300,
        }),
        Output::Measure(Measurement::BargeIn),
    ];
    assert_eq!(outputs[..3], expected_head[..]);
    assert_eq!(
        persisted_items(&outputs),
        vec![(0, Role::Assistant, "Our opening".into(), Some(300))]
    );
    // Marks the carrier echoes after the clear do not count as played.
    h.client(ClientEvent::MarkPlayed(marks[9]));
    assert!(persisted_items(&h.take()).is_empty());
    // Deltas of the cut item still in flight are dropped, never played.
    h.provider(ProviderEvent::AudioDelta {
        item_id: "item_a".into(),
        chunk: AudioChunk {
            format: AudioFormat::Pcmu,
            data: vec![0xFF; 800],
        },
    });
    assert!(h.take().is_empty());
}

#[test]
fn barge_in_after_the_response_finished_still_truncates_what_is_playing() {
    let mut h = Harness::new(SessionConfig::default());
    let marks = h.answer("item_a", "Goodbye then, have a lovely day.", 5);
    h.done(ResponseStatus::Completed);
    h.client(ClientEvent::MarkPlayed(marks[0]));
    h.take();
    h.provider(ProviderEvent::SpeechStarted);
    let outputs = h.take();
    assert!(has(&outputs, &Output::Client(ClientCommand::ClearPlayback)));
    assert!(!has(
        &outputs,
        &Output::Provider(ProviderCommand::CancelResponse)
    ));
    assert!(has(
        &outputs,
        &Output::Provider(ProviderCommand::Truncate {
            item_id: "item_a".into(),
            audio_end_ms: 100
        })
    ));
}

#[test]
fn barge_in_truncates_a_response_still_being_generated_even_if_all_sent_audio_was_played() {
    let mut h = Harness::new(SessionConfig::default());
    let marks = h.answer("item_a", "Let me read you the whole list of our", 3);
    h.client(ClientEvent::MarkPlayed(marks[2]));
    h.take();
    h.provider(ProviderEvent::SpeechStarted);
    assert!(has(
        &h.take(),
        &Output::Provider(ProviderCommand::Truncate {
            item_id: "item_a".into(),
            audio_end_ms: 300
        })
    ));
}

#[test]
fn caller_speech_while_the_agent_is_silent_is_not_a_barge_in() {
    let mut h = Harness::new(SessionConfig::default());
    h.provider(ProviderEvent::SpeechStarted);
    assert!(h.take().is_empty());
}

#[test]
fn hanging_up_mid_response_cancels_it_and_keeps_what_was_heard() {
    let mut h = Harness::new(SessionConfig::default());
    let marks = h.answer("item_a", "Let me check the diary for you now.", 4);
    h.client(ClientEvent::MarkPlayed(marks[1]));
    h.take();
    h.client(ClientEvent::Hangup);
    let outputs = h.take();
    assert!(has(
        &outputs,
        &Output::Provider(ProviderCommand::CancelResponse)
    ));
    assert!(has(&outputs, &Output::Provider(ProviderCommand::Close)));
    assert!(has(
        &outputs,
        &Output::Client(ClientCommand::Ended(EndReason::CallerHangup))
    ));
    assert!(has(
        &outputs,
        &Output::Persist(PersistCommand::CallEnded(EndReason::CallerHangup))
    ));
    assert_eq!(
        persisted_items(&outputs),
        vec![(0, Role::Assistant, "Let me check the".into(), Some(200))]
    );
    assert_eq!(outputs.last(), Some(&Output::Closed));
    // After the end, inputs are ignored and the session stays closed.
    h.client(ClientEvent::Hangup);
    assert_eq!(h.take(), vec![Output::Closed]);
}

#[test]
fn the_call_ends_at_its_maximum_duration() {
    let mut h = Harness::new(SessionConfig {
        max_duration: Duration::from_secs(60),
        ..SessionConfig::default()
    });
    let Output::Timeout(deadline) = h.session.poll_output() else {
        panic!("an idle session waits for its deadline");
    };
    assert_eq!(deadline, h.start + Duration::from_secs(60));
    h.at(59_999);
    h.session.handle_timeout(h.now);
    h.drain();
    assert!(h.take().is_empty(), "early timeouts change nothing");
    h.at(60_000);
    h.session.handle_timeout(h.now);
    h.drain();
    assert!(has(
        &h.take(),
        &Output::Client(ClientCommand::Ended(EndReason::MaxDuration))
    ));
}

#[test]
fn a_tool_runs_once_its_response_completed_and_its_result_is_then_spoken() {
    let mut h = Harness::new(SessionConfig::default());
    h.provider(ProviderEvent::ResponseStarted {
        response_id: "resp_1".into(),
    });
    let request = ToolRequest {
        call_id: "call_1".into(),
        name: "book".into(),
        arguments: r#"{"day":"2026-12-07"}"#.into(),
    };
    h.provider(ProviderEvent::FunctionCall {
        call_id: request.call_id.clone(),
        name: request.name.clone(),
        arguments: request.arguments.clone(),
    });
    assert!(
        h.take().is_empty(),
        "nothing runs before the response completes"
    );
    h.done(ResponseStatus::Completed);
    assert!(has(&h.take(), &Output::Tool(request)));
    h.session
        .handle_tool_result(h.now, "call_1".into(), r#"{"booked":true}"#.into());
    h.drain();
    assert_eq!(
        h.take(),
        vec![
            Output::Provider(ProviderCommand::ToolOutput {
                call_id: "call_1".into(),
                output: r#"{"booked":true}"#.into(),
            }),
            Output::Provider(ProviderCommand::CreateResponse { instructions: None }),
        ]
    );
}

#[test]
fn a_tool_call_of_a_cancelled_response_never_runs() {
    let mut h = Harness::new(SessionConfig::default());
    h.provider(ProviderEvent::ResponseStarted {
        response_id: "resp_1".into(),
    });
    h.provider(ProviderEvent::FunctionCall {
        call_id: "call_1".into(),
        name: "book".into(),
        arguments: "{\"day\":".into(),
    });
    h.done(ResponseStatus::Cancelled);
    assert!(!h.take().iter().any(|o| matches!(o, Output::Tool(_))));
}

#[test]
fn a_due_renewal_waits_without_spinning_until_the_turn_ends() {
    let mut h = Harness::new(renewing_config());
    let marks = h.answer("item_a", "Still talking.", 2);
    h.done(ResponseStatus::Completed);
    h.at(10_000);
    h.session.handle_timeout(h.now);
    h.drain();
    // Due but not quiet: the session waits for its hooks, not for a past deadline.
    let Output::Timeout(next) = h.session.poll_output() else {
        panic!("the session waits");
    };
    assert!(
        next > h.now,
        "no timeout in the past while the renewal waits"
    );
    for mark in marks {
        h.client(ClientEvent::MarkPlayed(mark));
    }
    assert!(
        h.take()
            .iter()
            .any(|o| matches!(o, Output::RenewProvider(_)))
    );
}

fn renewing_config() -> SessionConfig {
    SessionConfig {
        provider_session_max: Duration::from_secs(10),
        ..SessionConfig::default()
    }
}

#[test]
fn the_provider_session_is_renewed_at_a_quiet_moment_and_seeded_with_the_conversation() {
    let mut h = Harness::new(renewing_config());
    h.provider(ProviderEvent::UserTranscript { text: "Hi".into() });
    let marks = h.answer("item_a", "Hello there.", 2);
    h.done(ResponseStatus::Completed);
    h.at(9_000);
    // The cap falls due while the caller still hears the agent: nothing happens yet.
    h.at(10_000);
    h.session.handle_timeout(h.now);
    h.drain();
    assert!(
        !h.take()
            .iter()
            .any(|o| matches!(o, Output::RenewProvider(_)))
    );
    for mark in marks {
        h.client(ClientEvent::MarkPlayed(mark));
    }
    let renewal = h.take().into_iter().find_map(|o| match o {
        Output::RenewProvider(seed) => Some(seed),
        _ => None,
    });
    assert_eq!(
        renewal,
        Some(vec![
            ProviderCommand::SeedItem {
                role: Role::User,
                text: "Hi".into()
            },
            ProviderCommand::SeedItem {
                role: Role::Assistant,
                text: "Hello there.".into()
            },
        ])
    );
    h.at(10_500).provider(ProviderEvent::Renewed);
    let Output::Timeout(next) = h.session.poll_output() else {
        panic!("the session waits");
    };
    assert_eq!(next, h.start + Duration::from_millis(20_500));
}

#[test]
fn a_failed_renewal_is_an_incident_and_is_retried_a_minute_later() {
    let mut h = Harness::new(renewing_config());
    h.at(10_000);
    h.session.handle_timeout(h.now);
    h.drain();
    assert!(matches!(h.take().as_slice(), [Output::RenewProvider(seed)] if seed.is_empty()));
    h.provider(ProviderEvent::RenewFailed);
    assert!(matches!(
        h.take().as_slice(),
        [Output::Incident(IncidentReport {
            mode: FailureMode::SessionExpiry,
            ..
        })]
    ));
    let Output::Timeout(next) = h.session.poll_output() else {
        panic!("the session waits");
    };
    assert_eq!(next, h.now + Duration::from_secs(60));
}

#[test]
fn a_late_transcription_keeps_the_caller_turn_before_the_answer() {
    let mut h = Harness::new(SessionConfig::default());
    h.provider(ProviderEvent::SpeechStarted);
    h.at(800).provider(ProviderEvent::SpeechStopped);
    let marks = h.answer("item_a", "Yes, we are open.", 1);
    h.done(ResponseStatus::Completed);
    h.client(ClientEvent::MarkPlayed(marks[0]));
    // The transcription of the caller's turn lands after the answer was played.
    h.provider(ProviderEvent::UserTranscript {
        text: "Are you open?".into(),
    });
    let items = persisted_items(&h.take());
    assert_eq!(
        items,
        vec![
            (1, Role::Assistant, "Yes, we are open.".into(), Some(100)),
            (0, Role::User, "Are you open?".into(), None),
        ]
    );
}

#[test]
fn rate_limit_headroom_is_measured_and_exhaustion_is_an_incident() {
    let mut h = Harness::new(SessionConfig::default());
    let reading = |kind, remaining| RateLimit {
        kind,
        limit: 100,
        remaining,
        reset_seconds: 12.5,
    };
    h.provider(ProviderEvent::RateLimits(vec![
        reading(RateLimitKind::Requests, 40),
        reading(RateLimitKind::Tokens, 0),
    ]));
    let outputs = h.take();
    assert!(has(
        &outputs,
        &Output::Measure(Measurement::RateLimit(reading(RateLimitKind::Requests, 40)))
    ));
    assert!(outputs.iter().any(|o| matches!(
        o,
        Output::Incident(IncidentReport {
            mode: FailureMode::RateLimitCascade,
            action: "observed",
            ..
        })
    )));
}
