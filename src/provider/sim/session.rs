//! One simulated Realtime session: the WebSocket loop and the per-connection state machine.
//!
//! The loop owns the socket. Client frames and the active response's timer feed the state
//! machine, which only appends frames to an outbox; the loop then sends them in order. Nothing
//! a client sends can panic or stall the loop: bad frames get `error` events and the socket
//! stays open.

mod audio;
mod items;

use super::{
    codec::{self, Decoder},
    config::{self, Refusal, Settings},
    control::{Control, ErrorLog, ResponseLog},
    conversation::Conversation,
    event::{self, Modality, ResponseHead, Usage},
    plan::Plan,
    response::ActiveResponse,
    vad::Vad,
};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::{
    sync::watch,
    time::{Instant, sleep_until},
};

/// Longest caller turn the echo agent plays back.
const ECHO_MAX_MS: u64 = 30_000;

/// A frame to send, or the end of the socket.
#[derive(Debug)]
pub(super) enum Out {
    /// A server event.
    Event(Value),
    /// A raw text frame (the `malformed_frame` fault).
    Raw(String),
    /// Close the TCP connection without a close frame.
    Drop,
}

/// Serves one accepted WebSocket until the client leaves, a fault drops it, or the simulator
/// shuts down.
pub(super) async fn run(
    mut socket: WebSocket,
    control: Arc<Control>,
    model: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut session = Session::new(control, model);
    let mut out = Vec::new();
    session.greet(&mut out);
    tracing::debug!(session = %session.id, "Simulated session opened.");
    while flush(&mut socket, &session.control, &mut out).await {
        let deadline = session.response.as_ref().and_then(ActiveResponse::deadline);
        tokio::select! {
            () = async { let _ = shutdown.wait_for(|stop| *stop).await; } => {
                let frame = CloseFrame { code: 1001, reason: "simulator shutting down".into() };
                let _ = socket.send(Message::Close(Some(frame))).await;
                break;
            }
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => session.on_text(text.as_str(), &mut out),
                Some(Ok(Message::Binary(_))) => session.on_binary(&mut out),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                session.on_timer(Instant::now(), &mut out);
            }
        }
    }
    tracing::debug!(session = %session.id, "Simulated session closed.");
}

/// Sends the outbox; false when the socket is gone or must be dropped.
async fn flush(socket: &mut WebSocket, control: &Control, out: &mut Vec<Out>) -> bool {
    for frame in std::mem::take(out) {
        let text = match frame {
            Out::Event(event) => {
                if event["type"] == "error" {
                    let error = &event["error"];
                    control.record(|log| {
                        log.errors.push(ErrorLog {
                            code: error["code"].as_str().unwrap_or_default().to_owned(),
                            message: error["message"].as_str().unwrap_or_default().to_owned(),
                        });
                    });
                }
                event.to_string()
            }
            Out::Raw(text) => text,
            Out::Drop => return false,
        };
        if socket.send(Message::Text(text.into())).await.is_err() {
            return false;
        }
    }
    true
}

/// The state of one session.
#[derive(Debug)]
struct Session {
    control: Arc<Control>,
    id: String,
    conversation_id: String,
    object: Value,
    settings: Settings,
    decoder: Decoder,
    vad: Option<Vad>,
    /// Input samples not yet committed, from `buffer_start_ms` on.
    buffer: Vec<i16>,
    buffer_start_ms: u64,
    /// Audio ms before the current input format took over, and samples since.
    ms_base: u64,
    samples: u64,
    /// The user item of the speech in progress, and where it starts.
    speech: Option<(String, u64)>,
    conversation: Conversation,
    /// The caller's last committed turn (samples, rate), for the echo agent.
    echo: Option<(Vec<i16>, u32)>,
    response: Option<ActiveResponse>,
    input_audio_ms: u64,
    input_text_chars: u64,
}

impl Session {
    fn new(control: Arc<Control>, model: String) -> Self {
        let id = event::new_id("sess");
        let expires_at = time::OffsetDateTime::now_utc().unix_timestamp() + 3_600;
        let object = event::session_object(&id, &model, expires_at);
        let settings = config::settings(&object).expect("the default session is valid");
        control.record(|log| {
            log.connections.push(super::control::ConnectionLog {
                session_id: id.clone(),
                model,
            });
        });
        let vad = settings
            .turn
            .map(|turn| Vad::new(turn.vad, settings.input.rate(), 0));
        Self {
            control,
            conversation_id: event::new_id("conv"),
            id,
            object,
            decoder: Decoder::new(settings.input),
            settings,
            vad,
            buffer: Vec::new(),
            buffer_start_ms: 0,
            ms_base: 0,
            samples: 0,
            speech: None,
            conversation: Conversation::default(),
            echo: None,
            response: None,
            input_audio_ms: 0,
            input_text_chars: 0,
        }
    }

    fn greet(&self, out: &mut Vec<Out>) {
        let event = event::server("session.created", json!({"session": self.object}));
        out.push(Out::Event(event));
    }

    fn refuse(out: &mut Vec<Out>, refusal: Refusal, event_id: Option<&str>) {
        out.push(Out::Event(event::invalid(
            refusal.code,
            &refusal.message,
            refusal.param.as_deref(),
            event_id,
        )));
    }

    fn log_event(&self, kind: &str) {
        self.control
            .record(|log| log.client_events.push(kind.to_owned()));
    }

    fn on_binary(&self, out: &mut Vec<Out>) {
        self.log_event("<binary>");
        let message = "Binary frames are not supported; send events as JSON text frames.";
        out.push(Out::Event(event::invalid(
            "invalid_json",
            message,
            None,
            None,
        )));
    }

    fn on_text(&mut self, text: &str, out: &mut Vec<Out>) {
        let now = Instant::now();
        let Ok(event @ Value::Object(_)) = serde_json::from_str::<Value>(text) else {
            self.log_event("<malformed>");
            let message = "The event could not be parsed: expected a JSON object.";
            out.push(Out::Event(event::invalid(
                "invalid_json",
                message,
                None,
                None,
            )));
            return;
        };
        let event_id = event.get("event_id").and_then(Value::as_str);
        let Some(kind) = event.get("type").and_then(Value::as_str) else {
            self.log_event("<untyped>");
            return Self::refuse(out, Refusal::missing("type"), event_id);
        };
        self.log_event(kind);
        let outcome = match kind {
            "session.update" => self.on_session_update(&event, out),
            "input_audio_buffer.append" => self.on_append(&event, now, out),
            "input_audio_buffer.commit" => self.on_commit(out),
            "input_audio_buffer.clear" => {
                self.on_clear(out);
                Ok(())
            }
            "conversation.item.create" => self.on_item_create(&event, out),
            "conversation.item.truncate" => self.on_truncate(&event, out),
            "conversation.item.delete" => self.on_item_delete(&event, out),
            "conversation.item.retrieve" => self.on_item_retrieve(&event, out),
            "response.create" => self.on_response_create(&event, now, out),
            "response.cancel" => self.on_response_cancel(&event, out),
            "output_audio_buffer.clear" => Err(Refusal::invalid(
                "type",
                "output_audio_buffer.clear is only supported for WebRTC and SIP connections."
                    .to_owned(),
            )),
            other => Err(Refusal {
                code: "unknown_event",
                message: format!("Invalid value: '{other}'. Unknown client event type."),
                param: Some("type".to_owned()),
            }),
        };
        if let Err(refusal) = outcome {
            Self::refuse(out, refusal, event_id);
        }
    }

    fn on_timer(&mut self, now: Instant, out: &mut Vec<Out>) {
        if let Some(response) = &mut self.response
            && let Some(log) = response.step(now, &mut self.conversation, out)
        {
            self.response = None;
            self.record_response(log);
        }
    }

    fn record_response(&self, entry: ResponseLog) {
        tracing::debug!(response = %entry.id, status = %entry.status, "Simulated response ended.");
        self.control.record(|log| log.responses.push(entry));
    }

    fn on_session_update(&mut self, event: &Value, out: &mut Vec<Out>) -> Result<(), Refusal> {
        let next = config::merge(&self.object, &event["session"])?;
        let settings = config::settings(&next)?;
        let audio_ms = self.audio_ms();
        if settings.input != self.settings.input {
            self.decoder = Decoder::new(settings.input);
            self.ms_base = audio_ms;
            self.samples = 0;
            self.buffer.clear();
            self.buffer_start_ms = audio_ms;
        }
        if settings.input != self.settings.input || settings.turn != self.settings.turn {
            self.vad = settings
                .turn
                .map(|turn| Vad::new(turn.vad, settings.input.rate(), audio_ms));
            self.speech = None;
        }
        self.object = next;
        self.settings = settings;
        let event = event::server("session.updated", json!({"session": self.object}));
        out.push(Out::Event(event));
        Ok(())
    }

    fn on_response_create(
        &mut self,
        event: &Value,
        now: Instant,
        out: &mut Vec<Out>,
    ) -> Result<(), Refusal> {
        if let Some(active) = &self.response {
            let message = format!(
                "Conversation already has an active response in progress: {}. Wait until the \
                 response is finished before creating a new one.",
                active.id()
            );
            return Err(Refusal {
                code: "conversation_already_has_active_response",
                message,
                param: None,
            });
        }
        self.start_response(&event["response"], now, out)
    }

    /// Starts a response; `params` is `response.create`'s `response` (null for VAD turns).
    fn start_response(
        &mut self,
        params: &Value,
        now: Instant,
        out: &mut Vec<Out>,
    ) -> Result<(), Refusal> {
        let modality = match params["output_modalities"].as_array().map(Vec::as_slice) {
            Some([only]) if only == "text" => Modality::Text,
            Some([_, ..]) => Modality::Audio,
            _ => self.settings.modality,
        };
        let output = &params["audio"]["output"];
        let format = match &output["format"] {
            Value::Null => self.settings.output,
            format => codec::Format::parse(format)
                .map_err(|message| Refusal::invalid("response.audio.output.format", message))?,
        };
        let voice = match &output["voice"] {
            Value::Null => self.settings.voice.clone(),
            voice => voice.clone(),
        };
        let in_conversation = params["conversation"].as_str() != Some("none");
        let echo = self.echo.take().map(|(samples, rate)| {
            let longest = usize::try_from(ECHO_MAX_MS * u64::from(rate) / 1000).unwrap_or(0);
            codec::resample(&samples[..samples.len().min(longest)], rate, format.rate())
        });
        let plan = Plan::new(self.control.next_realtime_turn(), echo, format.rate());
        let head = ResponseHead {
            id: event::new_id("resp"),
            conversation_id: in_conversation.then(|| self.conversation_id.clone()),
            modality,
            format,
            voice,
            metadata: params["metadata"].clone(),
        };
        let text_chars = self.settings.instructions.len() as u64 + self.input_text_chars;
        let input = Usage {
            input_text: text_chars / 4,
            input_audio: self.input_audio_ms / 100,
            ..Usage::default()
        };
        let mut response = ActiveResponse::new(head, plan, in_conversation, input, now);
        match response.step(now, &mut self.conversation, out) {
            Some(log) => self.record_response(log),
            None => self.response = Some(response),
        }
        Ok(())
    }

    fn on_response_cancel(&mut self, event: &Value, out: &mut Vec<Out>) -> Result<(), Refusal> {
        let wanted = event["response_id"].as_str();
        let active = self.response.as_ref().map(ActiveResponse::id);
        if active.is_none() || wanted.is_some_and(|id| Some(id) != active) {
            return Err(Refusal {
                code: "response_cancel_not_active",
                message: "Cancellation failed: no active response found".to_owned(),
                param: None,
            });
        }
        self.cancel_response("client_cancelled", out);
        Ok(())
    }

    fn cancel_response(&mut self, reason: &str, out: &mut Vec<Out>) {
        if let Some(mut response) = self.response.take() {
            let log = response.cancel(reason, &mut self.conversation, out);
            self.record_response(log);
        }
    }
}
