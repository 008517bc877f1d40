//! One response: the streamed chat completion cut into sentences, each spoken as soon as it is
//! complete while the model keeps generating, then the tool calls and the usage.
//!
//! Runs as its own task so that cancelling is dropping it: the HTTP streams of both stages end
//! with it. It reports to the link through an [`Emitter`] and never talks to the session itself;
//! the link forwards, tracks what was spoken and sends the one `ResponseDone`.
//!
//! An LLM endpoint that fails before any sentence was queued is replaced transparently by the
//! next one. One that fails after the caller started hearing the answer cannot be resumed
//! elsewhere (another model would say something else): what was queued is still spoken and the
//! response ends `Incomplete` with `pipeline.llm_interrupted`.

use super::{
    PipelineSetup,
    audio::AgentEncoder,
    chat::{self, ChatDecoder},
    context::ToolCall,
    link::Internal,
    sentence::SentenceChunker,
    speech::{Speaker, TtsUnavailable},
    stage::{Failure, Opened, StageKind, Walk, open},
};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::mpsc;
use voxgate_core::session::{AudioChunk, AudioFormat, ProviderEvent, ResponseStatus, Usage};

/// Sentences generated ahead of speech.
const SENTENCE_QUEUE: usize = 32;

/// How a response ended, for the link to report.
#[derive(Debug)]
pub(super) struct Ending {
    /// Its status.
    pub(super) status: ResponseStatus,
    /// An error code to report before `ResponseDone`.
    pub(super) error: Option<&'static str>,
    /// Tool calls the model made, to report after the spoken text.
    pub(super) tool_calls: Vec<ToolCall>,
    /// Token usage, if the endpoint reported it.
    pub(super) usage: Option<Usage>,
}

impl Ending {
    fn failed(code: &'static str) -> Self {
        Self {
            status: ResponseStatus::Failed,
            error: Some(code),
            tool_calls: Vec::new(),
            usage: None,
        }
    }
}

/// What a response task reports.
#[derive(Debug)]
pub(super) enum Step {
    /// Forward to the session (transcript and audio deltas).
    Event(ProviderEvent),
    /// The response is over.
    Finished(Ending),
}

/// A response task's way out: tags everything with its response and item ids.
#[derive(Debug)]
pub(super) struct Emitter {
    pub(super) response_id: String,
    pub(super) item_id: String,
    pub(super) format: AudioFormat,
    pub(super) link: mpsc::Sender<Internal>,
}

impl Emitter {
    async fn step(&self, step: Step) {
        let response_id = self.response_id.clone();
        // The link only goes away when the call closes; the task is dropped with it.
        let _ = self
            .link
            .send(Internal::Response { response_id, step })
            .await;
    }

    /// A transcript delta of the item.
    pub(super) async fn transcript(&self, delta: String) {
        let item_id = self.item_id.clone();
        let event = ProviderEvent::TranscriptDelta { item_id, delta };
        self.step(Step::Event(event)).await;
    }

    /// Pieces of the item's audio, already in the caller's format.
    pub(super) async fn audio(&self, pieces: Vec<Vec<u8>>) {
        for data in pieces {
            let item_id = self.item_id.clone();
            let chunk = AudioChunk {
                format: self.format,
                data,
            };
            self.step(Step::Event(ProviderEvent::AudioDelta { item_id, chunk }))
                .await;
        }
    }
}

/// What the LLM stage produced.
#[derive(Debug)]
struct Generated {
    tool_calls: Vec<ToolCall>,
    usage: Option<Usage>,
    interrupted: bool,
}

/// No LLM endpoint could answer.
#[derive(Debug)]
struct LlmUnavailable;

/// Runs a response to its end and reports how it ended.
pub(super) async fn run(setup: Arc<PipelineSetup>, messages: Vec<Value>, emitter: Emitter) {
    let ending = answer(&setup, &messages, &emitter).await;
    emitter.step(Step::Finished(ending)).await;
}

async fn answer(setup: &PipelineSetup, messages: &[Value], emitter: &Emitter) -> Ending {
    let Ok(encoder) = AgentEncoder::new(emitter.format) else {
        return Ending::failed(StageKind::Tts.unavailable_code());
    };
    let (sentences, queued) = mpsc::channel(SENTENCE_QUEUE);
    let generate = generate(setup, messages, sentences);
    let speak = speak_all(Speaker::new(setup, emitter, encoder), queued);
    tokio::pin!(generate, speak);
    let mut generated = None;
    let spoken = loop {
        tokio::select! {
            result = &mut generate, if generated.is_none() => generated = Some(result),
            result = &mut speak => break result,
        }
    };
    match (spoken, generated) {
        (Err(TtsUnavailable), _) => Ending::failed(StageKind::Tts.unavailable_code()),
        (Ok(()), Some(Ok(generated))) => Ending {
            status: if generated.interrupted {
                ResponseStatus::Incomplete
            } else {
                ResponseStatus::Completed
            },
            error: generated.interrupted.then_some("pipeline.llm_interrupted"),
            tool_calls: generated.tool_calls,
            usage: generated.usage,
        },
        (Ok(()), _) => Ending::failed(StageKind::Llm.unavailable_code()),
    }
}

async fn speak_all(
    mut speaker: Speaker<'_>,
    mut queued: mpsc::Receiver<String>,
) -> Result<(), TtsUnavailable> {
    while let Some(sentence) = queued.recv().await {
        speaker.speak(&sentence).await?;
    }
    Ok(())
}

/// Streams the completion, queueing sentences as they complete; walks the LLM endpoints.
async fn generate(
    setup: &PipelineSetup,
    messages: &[Value],
    sentences: mpsc::Sender<String>,
) -> Result<Generated, LlmUnavailable> {
    let timeouts = setup.timeouts;
    let health = setup.health.as_ref();
    let mut walk = Walk::new(StageKind::Llm, &setup.llm, 0, health, None);
    while let Some(attempt) = walk.next().await {
        let request = chat::request(attempt.endpoint, messages, &setup.agent.tools);
        let opened = match open(request, timeouts.first_byte, timeouts.stall).await {
            Ok(opened) => opened,
            Err(failure) => {
                walk.failed(attempt, failure);
                continue;
            }
        };
        walk.succeeded(&attempt, opened.latency);
        match stream(opened, &sentences).await {
            Ok(mut decoder) => {
                return Ok(Generated {
                    tool_calls: decoder.take_tool_calls(),
                    usage: decoder.usage(),
                    interrupted: false,
                });
            }
            Err((failure, false)) => walk.failed(attempt, failure),
            Err((failure, true)) => {
                walk.failed_midway(&attempt, failure);
                return Ok(Generated {
                    tool_calls: Vec::new(),
                    usage: None,
                    interrupted: true,
                });
            }
        }
    }
    Err(LlmUnavailable)
}

/// Reads one completion to its end. On failure, also says whether sentences were already
/// queued for speech (then the answer cannot move to another endpoint).
async fn stream(
    opened: Opened,
    sentences: &mpsc::Sender<String>,
) -> Result<ChatDecoder, (Failure, bool)> {
    let mut decoder = ChatDecoder::default();
    let mut chunker = SentenceChunker::default();
    let mut queued = false;
    let mut body = opened.body;
    let mut next = opened.first;
    while let Some(bytes) = next {
        let deltas = decoder.push(&bytes).map_err(|f| (f, queued))?;
        for delta in deltas {
            for sentence in chunker.push(&delta) {
                queued = true;
                // A closed queue means the speaker gave up; the response is ending anyway.
                let _ = sentences.send(sentence).await;
            }
        }
        next = body.next().await.map_err(|f| (f, queued))?;
    }
    let deltas = decoder.end().map_err(|f| (f, queued))?;
    let mut rest: Vec<String> = deltas.iter().flat_map(|d| chunker.push(d)).collect();
    rest.extend(chunker.finish());
    for sentence in rest {
        let _ = sentences.send(sentence).await;
    }
    Ok(decoder)
}
