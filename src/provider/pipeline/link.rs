//! The pipeline link's task: the one owner of a call's pipeline state (turn detector,
//! conversation, the response in flight). It takes session commands and reports from its helper
//! tasks (the in-order transcriber, the response task) and sends every `ProviderEvent`, so each
//! response ends with exactly one `ResponseDone` and nothing of a cancelled one leaks after it.
//!
//! Turn-taking mirrors realtime server VAD with `create_response` and `interrupt_response`:
//! speech starting cancels the response in flight; a transcribed turn is answered once the caller
//! is quiet and no other utterance is still being transcribed; a response asked for while one
//! runs waits for it (the latest instructions win), and a cancel or barge-in drops it.

use super::{
    PipelineSetup,
    context::{Context, Spoken, cut_unfinished, truncate_spoken},
    listen::{Listener, Turn},
    response::{self, Emitter, Ending, Step},
    stage::StageKind,
    stt::{self, SttUnavailable},
};
use std::sync::Arc;
use tokio::{sync::mpsc, task::JoinHandle};
use voxgate_core::session::{ErrorClass, ProviderCommand, ProviderEvent, ResponseStatus};

/// Reports from helper tasks waiting for the link.
const INTERNAL_DEPTH: usize = 64;

/// A helper task's report to the link.
#[derive(Debug)]
pub(super) enum Internal {
    /// An utterance's transcription (in utterance order).
    Transcribed(Result<String, SttUnavailable>),
    /// Something from a response task.
    Response {
        /// Which response (reports of a cancelled one are dropped).
        response_id: String,
        /// What happened.
        step: Step,
    },
}

/// A task that is aborted when this handle is dropped.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The response in flight.
#[derive(Debug)]
struct Active {
    response_id: String,
    item_id: String,
    /// What was sent of it so far, sentence by sentence.
    spoken: Vec<Spoken>,
    task: AbortOnDrop,
}

#[derive(Debug)]
struct Link {
    setup: Arc<PipelineSetup>,
    events: mpsc::Sender<ProviderEvent>,
    /// False once the session dropped its event receiver.
    open: bool,
    internal: mpsc::Sender<Internal>,
    listener: Listener,
    context: Context,
    utterances: mpsc::UnboundedSender<Vec<i16>>,
    _transcriber: AbortOnDrop,
    /// Utterances sent for transcription whose text has not come back.
    transcribing: usize,
    /// A caller turn is in the context that no response has been asked for yet.
    unanswered: bool,
    active: Option<Active>,
    /// A response asked for while another ran: its instructions.
    queued: Option<Option<String>>,
}

/// Runs one call's pipeline until `Close` or until the command sender is dropped.
pub(super) async fn run(
    setup: Arc<PipelineSetup>,
    mut commands: mpsc::Receiver<ProviderCommand>,
    events: mpsc::Sender<ProviderEvent>,
) {
    let listener = match Listener::new(setup.format) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "Pipeline cannot serve this audio format.");
            let code = "pipeline.unsupported_format".to_owned();
            let class = ErrorClass::Terminal;
            let _ = events.send(ProviderEvent::Error { class, code }).await;
            let _ = events.send(ProviderEvent::Closed { class }).await;
            return;
        }
    };
    if events.send(ProviderEvent::Ready).await.is_err() {
        return;
    }
    let (internal, mut reports) = mpsc::channel(INTERNAL_DEPTH);
    let (utterances, utterance_rx) = mpsc::unbounded_channel();
    let transcriber = stt::transcribe_in_order(setup.clone(), utterance_rx, internal.clone());
    let mut link = Link {
        setup,
        events,
        open: true,
        internal,
        listener,
        context: Context::default(),
        utterances,
        _transcriber: AbortOnDrop(tokio::spawn(transcriber)),
        transcribing: 0,
        unanswered: false,
        active: None,
        queued: None,
    };
    while link.open {
        tokio::select! {
            command = commands.recv() => match command {
                None | Some(ProviderCommand::Close) => break,
                Some(command) => link.command(command).await,
            },
            Some(report) = reports.recv() => link.report(report).await,
        }
    }
}

impl Link {
    async fn emit(&mut self, event: ProviderEvent) {
        if self.open && self.events.send(event).await.is_err() {
            self.open = false;
        }
    }

    async fn command(&mut self, command: ProviderCommand) {
        match command {
            ProviderCommand::AppendAudio(chunk) => self.caller_audio(&chunk.data).await,
            ProviderCommand::CreateResponse { instructions } => {
                self.request_response(instructions).await;
            }
            ProviderCommand::CancelResponse => {
                self.queued = None;
                self.cancel().await;
            }
            ProviderCommand::Truncate {
                item_id,
                audio_end_ms,
            } => match &mut self.active {
                Some(active) if active.item_id == item_id => {
                    truncate_spoken(&mut active.spoken, audio_end_ms);
                }
                _ => {
                    if !self.context.truncate(&item_id, audio_end_ms) {
                        tracing::debug!("Pipeline truncate for an unknown item ignored.");
                    }
                }
            },
            ProviderCommand::SeedItem { role, text } => self.context.seed(role, text),
            ProviderCommand::ToolOutput { call_id, output } => {
                if !self.context.tool_output(call_id, output) {
                    tracing::warn!("Pipeline dropped a tool output for an unknown call.");
                }
            }
            ProviderCommand::Close => {}
        }
    }

    async fn caller_audio(&mut self, data: &[u8]) {
        for turn in self.listener.push(data) {
            match turn {
                Turn::Started => {
                    self.emit(ProviderEvent::SpeechStarted).await;
                    self.queued = None;
                    self.cancel().await;
                }
                Turn::Stopped(utterance) => {
                    self.emit(ProviderEvent::SpeechStopped).await;
                    if self.utterances.send(utterance).is_ok() {
                        self.transcribing += 1;
                    }
                }
            }
        }
    }

    async fn report(&mut self, report: Internal) {
        match report {
            Internal::Transcribed(result) => {
                self.transcribing = self.transcribing.saturating_sub(1);
                match result {
                    Ok(text) if text.is_empty() => {}
                    Ok(text) => {
                        let event = ProviderEvent::UserTranscript { text: text.clone() };
                        self.emit(event).await;
                        self.context.user(text);
                        self.unanswered = true;
                    }
                    Err(SttUnavailable) => {
                        let code = StageKind::Stt.unavailable_code();
                        tracing::warn!(code, "Pipeline could not transcribe a caller turn.");
                        let class = ErrorClass::Retryable;
                        let code = code.to_owned();
                        self.emit(ProviderEvent::Error { class, code }).await;
                    }
                }
                self.answer_if_due().await;
            }
            Internal::Response { response_id, step } => {
                let current = self.active.as_ref().map(|a| a.response_id.as_str());
                if current != Some(response_id.as_str()) {
                    return;
                }
                match step {
                    Step::Event(event) => self.forward(event).await,
                    Step::Finished(ending) => self.finish(ending).await,
                }
            }
        }
    }

    /// Forwards a delta of the active response, noting what was spoken for truncation.
    async fn forward(&mut self, event: ProviderEvent) {
        if let Some(active) = &mut self.active {
            match &event {
                ProviderEvent::TranscriptDelta { delta, .. } => active.spoken.push(Spoken {
                    text: delta.clone(),
                    audio_ms: 0,
                }),
                ProviderEvent::AudioDelta { chunk, .. } => {
                    if let Some(sentence) = active.spoken.last_mut() {
                        sentence.audio_ms += chunk.duration_ms();
                    }
                }
                _ => {}
            }
        }
        self.emit(event).await;
    }

    async fn answer_if_due(&mut self) {
        if self.unanswered && self.transcribing == 0 && !self.listener.speaking() {
            self.request_response(None).await;
        }
    }

    async fn request_response(&mut self, instructions: Option<String>) {
        self.unanswered = false;
        if self.active.is_some() {
            let earlier = self.queued.take().flatten();
            self.queued = Some(instructions.or(earlier));
            return;
        }
        self.start_response(instructions).await;
    }

    async fn start_response(&mut self, instructions: Option<String>) {
        let response_id = format!("resp_{}", uuid::Uuid::new_v4().simple());
        let item_id = format!("item_{}", uuid::Uuid::new_v4().simple());
        let base = &self.setup.agent.instructions;
        let system = match instructions {
            Some(extra) => format!("{base}\n\n{extra}"),
            None => base.clone(),
        };
        let messages = self.context.messages(&system);
        let started = ProviderEvent::ResponseStarted {
            response_id: response_id.clone(),
        };
        self.emit(started).await;
        let emitter = Emitter {
            response_id: response_id.clone(),
            item_id: item_id.clone(),
            format: self.setup.format,
            link: self.internal.clone(),
        };
        let task = tokio::spawn(response::run(self.setup.clone(), messages, emitter));
        self.active = Some(Active {
            response_id,
            item_id,
            spoken: Vec::new(),
            task: AbortOnDrop(task),
        });
    }

    async fn finish(&mut self, ending: Ending) {
        let Some(active) = self.active.take() else {
            return;
        };
        let Ending {
            status,
            error,
            tool_calls,
            usage,
        } = ending;
        self.context
            .assistant(active.item_id, active.spoken, tool_calls.clone());
        if let Some(code) = error {
            tracing::warn!(code, "Pipeline response did not complete.");
            let (class, code) = (ErrorClass::Retryable, code.to_owned());
            self.emit(ProviderEvent::Error { class, code }).await;
        }
        for call in tool_calls {
            let (call_id, name, arguments) = (call.call_id, call.name, call.arguments);
            let event = ProviderEvent::FunctionCall {
                call_id,
                name,
                arguments,
            };
            self.emit(event).await;
        }
        let response_id = active.response_id;
        let done = ProviderEvent::ResponseDone {
            response_id,
            status,
            usage,
        };
        self.emit(done).await;
        if let Some(instructions) = self.queued.take() {
            self.start_response(instructions).await;
        }
    }

    /// Drops the response in flight (its HTTP streams end with its task) and reports it.
    async fn cancel(&mut self) {
        let Some(active) = self.active.take() else {
            return;
        };
        let Active {
            response_id,
            item_id,
            mut spoken,
            task,
        } = active;
        drop(task);
        cut_unfinished(&mut spoken);
        self.context.assistant(item_id, spoken, Vec::new());
        let status = ResponseStatus::Cancelled;
        let done = ProviderEvent::ResponseDone {
            response_id,
            status,
            usage: None,
        };
        self.emit(done).await;
    }
}
