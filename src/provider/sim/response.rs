//! One response of the simulated model: the state machine that streams its plan in the GA
//! order, interruptible between any two steps:
//!
//! ```text
//! response.created, rate_limits.updated,
//! response.output_item.added, conversation.item.added, response.content_part.added,
//! N x (response.output_audio.delta, response.output_audio_transcript.delta),
//! response.output_audio.done, response.output_audio_transcript.done, response.content_part.done,
//! response.output_item.done, conversation.item.done,
//! (a function call: output_item.added, item.added, arguments delta/done, output_item.done,
//!  item.done),
//! response.done
//! ```

mod tool;

use super::{
    codec,
    control::ResponseLog,
    conversation::Conversation,
    event::{self, Modality, ResponseHead, Usage},
    plan::{CHUNK_INTERVAL, CHUNK_MS, Plan, split},
    session::Out,
};
use serde_json::{Value, json};
use tokio::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Start,
    Waiting,
    Streaming,
}

/// A response in progress.
#[derive(Debug)]
pub(super) struct ActiveResponse {
    head: ResponseHead,
    plan: Plan,
    conversation: bool,
    /// Encoded audio chunks with their length in ms.
    chunks: Vec<(Vec<u8>, u64)>,
    pieces: Vec<String>,
    message_id: String,
    phase: Phase,
    next_at: Option<Instant>,
    drop_at: Option<Instant>,
    sent: usize,
    sent_audio_ms: u64,
    sent_text: String,
    stalled: bool,
    input: Usage,
}

impl ActiveResponse {
    /// A response that starts at `now`; `conversation` is false for out-of-band responses.
    pub(super) fn new(
        head: ResponseHead,
        plan: Plan,
        conversation: bool,
        input: Usage,
        now: Instant,
    ) -> Self {
        let rate = u64::from(head.format.rate());
        let (chunks, pieces) = match head.modality {
            Modality::Audio => {
                let per_chunk = (rate * CHUNK_MS / 1000) as usize;
                let chunks: Vec<(Vec<u8>, u64)> = plan
                    .audio
                    .chunks(per_chunk)
                    .map(|c| (head.format.encode(c), c.len() as u64 * 1000 / rate))
                    .collect();
                let pieces = split(&plan.transcript, chunks.len());
                (chunks, pieces)
            }
            Modality::Text => {
                let words = plan.transcript.split_inclusive(' ').count();
                (Vec::new(), split(&plan.transcript, words.div_ceil(3)))
            }
        };
        let drop_at = plan
            .faults
            .drop_socket_after_ms
            .map(|ms| now + Duration::from_millis(ms));
        Self {
            head,
            plan,
            conversation,
            chunks,
            pieces,
            message_id: event::new_id("item"),
            phase: Phase::Start,
            next_at: Some(now),
            drop_at,
            sent: 0,
            sent_audio_ms: 0,
            sent_text: String::new(),
            stalled: false,
            input,
        }
    }

    pub(super) fn id(&self) -> &str {
        &self.head.id
    }

    /// When the next step is due (`None`: stalled for ever).
    pub(super) fn deadline(&self) -> Option<Instant> {
        match (self.next_at, self.drop_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs what is due at `now`; returns the log entry once the response is over.
    pub(super) fn step(
        &mut self,
        now: Instant,
        conversation: &mut Conversation,
        out: &mut Vec<Out>,
    ) -> Option<ResponseLog> {
        if self.drop_at.is_some_and(|at| at <= now) {
            out.push(Out::Drop);
            return Some(self.log("dropped", None));
        }
        if self.next_at.is_none_or(|at| at > now) {
            return None;
        }
        match self.phase {
            Phase::Start => self.start(now, out),
            Phase::Waiting if !self.plan.message => {
                Some(self.finish("completed", None, conversation, out))
            }
            Phase::Waiting => {
                self.open(conversation, out);
                self.phase = Phase::Streaming;
                self.send_piece(now, conversation, out);
                None
            }
            Phase::Streaming if self.sent < self.pieces.len() => {
                self.send_piece(now, conversation, out);
                None
            }
            Phase::Streaming => Some(self.finish("completed", None, conversation, out)),
        }
    }

    /// Ends the response as cancelled (`turn_detected` or `client_cancelled`).
    pub(super) fn cancel(
        &mut self,
        reason: &str,
        conversation: &mut Conversation,
        out: &mut Vec<Out>,
    ) -> ResponseLog {
        self.finish("cancelled", Some(reason), conversation, out)
    }

    fn start(&mut self, now: Instant, out: &mut Vec<Out>) -> Option<ResponseLog> {
        let faults = &self.plan.faults;
        if faults.malformed_frame {
            out.push(Out::Raw(
                r#"{"type": "response.created", "response": {"#.to_owned(),
            ));
        }
        if let Some(spec) = &faults.error_event {
            let kind = spec.kind.as_deref().unwrap_or("server_error");
            let code = spec.code.as_deref().unwrap_or("server_error");
            let message = spec.message.as_deref().unwrap_or(
                "The server had an error while processing your request. Sorry about that!",
            );
            out.push(Out::Event(event::error(kind, code, message, None, None)));
            return Some(self.log("failed", Some(code.to_owned())));
        }
        if faults.rate_limit {
            let message = "Rate limit reached for gpt-realtime on tokens per min (TPM): Limit \
                           40000, Used 40000, Requested 1200. Please try again in 1.8s.";
            out.push(Out::Event(event::rate_limits(4_999, 0)));
            out.push(Out::Event(event::error(
                "rate_limit_error",
                "rate_limit_exceeded",
                message,
                None,
                None,
            )));
            return Some(self.log("failed", Some("rate_limit_exceeded".to_owned())));
        }
        let response = event::response(&self.head, "in_progress", Value::Null, vec![], None);
        out.push(Out::Event(event::server(
            "response.created",
            json!({"response": response}),
        )));
        let reserved =
            (self.plan.audio.len() as u64 * 20 / u64::from(self.head.format.rate())).min(40_000);
        out.push(Out::Event(event::rate_limits(4_999, 40_000 - reserved)));
        self.phase = Phase::Waiting;
        let delay = self.plan.faults.first_audio_delay_ms.unwrap_or(0);
        self.next_at = Some(now + Duration::from_millis(delay));
        None
    }

    /// The `response_id`/`item_id`/indices every part event carries.
    fn ids(&self) -> Value {
        json!({
            "response_id": self.head.id,
            "item_id": self.message_id,
            "output_index": 0,
            "content_index": 0,
        })
    }

    fn with_ids(&self, kind: &str, extra: Value) -> Out {
        let mut fields = self.ids();
        if let (Value::Object(fields), Value::Object(extra)) = (&mut fields, extra) {
            fields.extend(extra);
        }
        Out::Event(event::server(kind, fields))
    }

    fn open(&mut self, conversation: &mut Conversation, out: &mut Vec<Out>) {
        let modality = self.head.modality;
        let item = event::assistant_item(&self.message_id, "in_progress", modality, None);
        self.item_added(item, 0, Some(0), conversation, out);
        let part = event::content_part(modality, "");
        out.push(self.with_ids("response.content_part.added", json!({"part": part})));
    }

    fn send_piece(&mut self, now: Instant, conversation: &mut Conversation, out: &mut Vec<Out>) {
        if let Some((chunk, ms)) = self.chunks.get(self.sent) {
            let delta = codec::b64_encode(chunk);
            self.sent_audio_ms += ms;
            out.push(self.with_ids("response.output_audio.delta", json!({"delta": delta})));
            conversation.set_audio_ms(&self.message_id, self.sent_audio_ms);
        }
        if let Some(piece) = self.pieces.get(self.sent).filter(|p| !p.is_empty()) {
            let kind = match self.head.modality {
                Modality::Audio => "response.output_audio_transcript.delta",
                Modality::Text => "response.output_text.delta",
            };
            self.sent_text.push_str(piece);
            out.push(self.with_ids(kind, json!({"delta": piece})));
        }
        self.sent += 1;
        let stall = self.plan.faults.stall_after_ms;
        if !self.stalled && stall.is_some_and(|after| self.sent_audio_ms >= after) {
            self.stalled = true;
            let pause = self.plan.faults.stall_for_ms;
            self.next_at = pause.map(|ms| now + Duration::from_millis(ms));
        } else {
            self.next_at = Some(now + CHUNK_INTERVAL);
        }
    }

    fn close_message(
        &self,
        status: &str,
        conversation: &mut Conversation,
        out: &mut Vec<Out>,
    ) -> Value {
        let text = self.sent_text.as_str();
        match self.head.modality {
            Modality::Audio => {
                out.push(self.with_ids("response.output_audio.done", json!({})));
                let done = json!({"transcript": text});
                out.push(self.with_ids("response.output_audio_transcript.done", done));
            }
            Modality::Text => {
                out.push(self.with_ids("response.output_text.done", json!({"text": text})));
            }
        }
        let part = event::content_part(self.head.modality, text);
        out.push(self.with_ids("response.content_part.done", json!({"part": part})));
        let item = event::assistant_item(&self.message_id, status, self.head.modality, Some(text));
        self.item_done(item, 0, conversation, out)
    }

    fn item_added(
        &self,
        item: Value,
        output_index: u64,
        audio_ms: Option<u64>,
        conversation: &mut Conversation,
        out: &mut Vec<Out>,
    ) {
        out.push(Out::Event(event::server(
            "response.output_item.added",
            json!({"response_id": self.head.id, "output_index": output_index, "item": item}),
        )));
        if self.conversation {
            let previous = conversation.push(item.clone(), audio_ms);
            out.push(Out::Event(event::server(
                "conversation.item.added",
                json!({"previous_item_id": previous, "item": item}),
            )));
        }
    }

    fn item_done(
        &self,
        item: Value,
        output_index: u64,
        conversation: &mut Conversation,
        out: &mut Vec<Out>,
    ) -> Value {
        out.push(Out::Event(event::server(
            "response.output_item.done",
            json!({"response_id": self.head.id, "output_index": output_index, "item": item}),
        )));
        if self.conversation {
            let previous = conversation.replace(item.clone());
            out.push(Out::Event(event::server(
                "conversation.item.done",
                json!({"previous_item_id": previous, "item": item}),
            )));
        }
        item
    }

    fn finish(
        &mut self,
        status: &str,
        reason: Option<&str>,
        conversation: &mut Conversation,
        out: &mut Vec<Out>,
    ) -> ResponseLog {
        let mut output = Vec::new();
        if self.phase == Phase::Streaming {
            let item_status = if status == "completed" {
                "completed"
            } else {
                "incomplete"
            };
            output.push(self.close_message(item_status, conversation, out));
        }
        if status == "completed"
            && let Some((name, arguments)) = &self.plan.tool_call
        {
            output.push(self.call_tool(name, arguments, conversation, out));
        }
        let usage = Usage {
            output_text: self.sent_text.len() as u64 / 4,
            output_audio: self.sent_audio_ms / 50,
            ..self.input
        };
        let details = match reason {
            Some(reason) => json!({"type": status, "reason": reason}),
            None => Value::Null,
        };
        let response = event::response(&self.head, status, details, output, Some(usage));
        out.push(Out::Event(event::server(
            "response.done",
            json!({"response": response}),
        )));
        self.next_at = None;
        self.log(status, reason.map(str::to_owned))
    }

    fn log(&self, status: &str, reason: Option<String>) -> ResponseLog {
        ResponseLog {
            id: self.head.id.clone(),
            status: status.to_owned(),
            reason,
            source: self.plan.source.to_owned(),
            audio_ms: self.sent_audio_ms,
            transcript: self.sent_text.clone(),
            tool_call: self.plan.tool_call.as_ref().map(|(name, _)| name.clone()),
        }
    }
}
