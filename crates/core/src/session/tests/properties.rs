//! Property tests of failover: whatever the order of caller audio, provider events, failures,
//! health changes and switch completions, no caller audio after the last acknowledged turn is
//! lost, and the caller never hears a path that is being replaced.

use super::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    CallerAudio,
    SpeechStarted,
    SpeechStopped,
    Transcript,
    Answer,
    Done,
    PlayedAll,
    Fail(u8),
    Health(u8, bool),
    Switched(bool),
    Wait(u16),
    AudioWhileSwitching,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::CallerAudio),
        1 => Just(Op::SpeechStarted),
        1 => Just(Op::SpeechStopped),
        1 => Just(Op::Transcript),
        2 => Just(Op::Answer),
        1 => Just(Op::Done),
        1 => Just(Op::PlayedAll),
        1 => (0u8..4).prop_map(Op::Fail),
        1 => (0u8..3, any::<bool>()).prop_map(|(path, healthy)| Op::Health(path, healthy)),
        2 => any::<bool>().prop_map(Op::Switched),
        1 => (1u16..3000).prop_map(Op::Wait),
        1 => Just(Op::AudioWhileSwitching),
    ]
}

/// A chunk whose first two bytes carry its number, so deliveries can be traced.
fn numbered_chunk(number: u16) -> AudioChunk {
    let mut data = vec![0x55; 160];
    data[..2].copy_from_slice(&number.to_be_bytes());
    AudioChunk {
        format: AudioFormat::Pcmu,
        data,
    }
}

fn chunk_number(chunk: &AudioChunk) -> u16 {
    u16::from_be_bytes([chunk.data[0], chunk.data[1]])
}

struct Run {
    h: Harness,
    /// Caller chunks pushed: (number, stream position where it starts).
    pushed: Vec<(u16, u64)>,
    /// Chunks delivered to the current path since it was put in place.
    delivered: std::collections::BTreeSet<u16>,
    /// Chunks that must reach the current path: those after the acknowledged position at the
    /// switch, and everything pushed since.
    owed_from_ms: u64,
    elapsed_ms: u64,
    items: u32,
    ended: bool,
}

impl Run {
    fn step(&mut self, op: &Op) {
        if self.ended {
            return;
        }
        match op {
            Op::CallerAudio => {
                let number = u16::try_from(self.pushed.len()).expect("few chunks");
                self.pushed
                    .push((number, self.h.session.caller_audio.end_ms()));
                self.h.client(ClientEvent::Audio(numbered_chunk(number)));
            }
            Op::SpeechStarted => {
                self.h.provider(ProviderEvent::SpeechStarted);
            }
            Op::SpeechStopped => {
                self.h.provider(ProviderEvent::SpeechStopped);
            }
            Op::Transcript => {
                self.h
                    .provider(ProviderEvent::UserTranscript { text: "hi".into() });
            }
            Op::Answer => {
                self.items += 1;
                let item = format!("item_{}", self.items);
                self.h.provider(ProviderEvent::ResponseStarted {
                    response_id: item.clone(),
                });
                self.h.provider(ProviderEvent::AudioDelta {
                    item_id: item,
                    chunk: numbered_chunk(u16::MAX),
                });
            }
            Op::Done => {
                self.h.done(ResponseStatus::Completed);
            }
            Op::PlayedAll => {
                let last = self.h.outputs.iter().rev().find_map(|o| match o {
                    Output::Client(ClientCommand::Audio { mark, .. }) => Some(*mark),
                    _ => None,
                });
                if let Some(mark) = last {
                    self.h.client(ClientEvent::MarkPlayed(mark));
                }
            }
            Op::Fail(kind) => {
                let event = match kind {
                    0 => ProviderEvent::Closed {
                        class: ErrorClass::Retryable,
                    },
                    1 => ProviderEvent::Error {
                        class: ErrorClass::Terminal,
                        code: "invalid_api_key".into(),
                    },
                    2 => ProviderEvent::Error {
                        class: ErrorClass::Retryable,
                        code: "rate_limit_exceeded".into(),
                    },
                    _ => ProviderEvent::Error {
                        class: ErrorClass::Retryable,
                        code: "pipeline.tts_unavailable".into(),
                    },
                };
                self.h.provider(event);
            }
            Op::Health(path, healthy) => {
                let path = match path {
                    0 => Path::Realtime(0),
                    1 => Path::Realtime(1),
                    _ => Path::Pipeline,
                };
                self.h.session.handle_health(self.h.now, path, *healthy);
                self.h.drain();
            }
            Op::Switched(connected) => {
                if self.h.session.switching.is_some() {
                    let acked = self.h.session.acked_ms;
                    self.h.session.handle_switched(self.h.now, *connected);
                    self.h.drain();
                    if self.h.session.switching.is_none() {
                        self.delivered.clear();
                        self.owed_from_ms = acked;
                    }
                }
            }
            Op::Wait(ms) => {
                self.elapsed_ms += u64::from(*ms);
                self.h.at(self.elapsed_ms);
                self.h.session.handle_timeout(self.h.now);
                self.h.drain();
            }
            Op::AudioWhileSwitching => {
                if self.h.session.switching.is_some() {
                    self.h.take();
                    self.h.provider(ProviderEvent::AudioDelta {
                        item_id: "old_path".into(),
                        chunk: numbered_chunk(u16::MAX),
                    });
                    let heard = self
                        .h
                        .outputs
                        .iter()
                        .any(|o| matches!(o, Output::Client(ClientCommand::Audio { .. })));
                    assert!(!heard, "a path being replaced reached the caller");
                }
            }
        }
        self.collect_deliveries();
    }

    fn collect_deliveries(&mut self) {
        let outputs = self.h.take();
        // The only way a provider failure may end the call: the pipeline itself failing again
        // and again without answering.
        let gave_up = outputs.iter().any(|o| {
            matches!(o, Output::Incident(report)
                if report.detail["code"] == "pipeline.restarts_exhausted")
        });
        for output in outputs {
            match output {
                Output::Provider(ProviderCommand::AppendAudio(chunk)) => {
                    self.delivered.insert(chunk_number(&chunk));
                }
                Output::Closed => {
                    assert!(gave_up, "a provider failure dropped the call");
                    self.ended = true;
                }
                _ => {}
            }
        }
    }

    /// Once a path is in place, it has every chunk owed to it.
    fn check_nothing_lost(&self) {
        if self.h.session.switching.is_some() || self.ended {
            return;
        }
        for (number, start_ms) in &self.pushed {
            let owed = start_ms + 20 > self.owed_from_ms;
            assert!(
                !owed || self.delivered.contains(number),
                "caller chunk {number} (at {start_ms} ms) never reached the current path \
                 (owed from {} ms)",
                self.owed_from_ms
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_caller_audio_is_lost_and_one_path_speaks_at_a_time(ops in prop::collection::vec(op(), 1..120)) {
        let config = SessionConfig {
            failover: FailoverConfig {
                realtime_paths: 2,
                recover_hold: Duration::from_secs(2),
                ..FailoverConfig::default()
            },
            ..SessionConfig::default()
        };
        let mut run = Run {
            h: Harness::new(config),
            pushed: Vec::new(),
            delivered: std::collections::BTreeSet::new(),
            owed_from_ms: 0,
            elapsed_ms: 0,
            items: 0,
            ended: false,
        };
        run.h.session.set_line_audio(Line::Filler, numbered_chunk(u16::MAX));
        run.h.session.set_line_audio(Line::Apology, numbered_chunk(u16::MAX));
        for op in &ops {
            run.step(op);
            run.check_nothing_lost();
        }
    }
}
