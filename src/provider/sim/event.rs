//! JSON builders for what the simulator sends, shaped as the GA Realtime service's frames (checked
//! against the `openai` Python SDK's pydantic models by `tests/peers/realtime_conformance.py`).

use super::codec::Format;
use serde_json::{Map, Value, json};

/// A fresh id in the service's style: `prefix_` and 20 random alphanumerics.
pub(super) fn new_id(prefix: &str) -> String {
    let mut id = format!("{prefix}_");
    id.extend(uuid::Uuid::new_v4().simple().to_string().chars().take(20));
    id
}

/// A server event: `type`, a fresh `event_id`, then `fields` (an object).
pub(super) fn server(kind: &str, fields: Value) -> Value {
    let mut map = Map::new();
    map.insert("type".to_owned(), json!(kind));
    map.insert("event_id".to_owned(), json!(new_id("event")));
    if let Value::Object(fields) = fields {
        map.extend(fields);
    }
    Value::Object(map)
}

/// The `error` event. It never closes the socket.
pub(super) fn error(
    kind: &str,
    code: &str,
    message: &str,
    param: Option<&str>,
    client_event_id: Option<&str>,
) -> Value {
    server(
        "error",
        json!({"error": {
            "type": kind,
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event_id,
        }}),
    )
}

/// The `invalid_request_error` most refusals of a client event use.
pub(super) fn invalid(
    code: &str,
    message: &str,
    param: Option<&str>,
    client_event_id: Option<&str>,
) -> Value {
    error(
        "invalid_request_error",
        code,
        message,
        param,
        client_event_id,
    )
}

/// A new session's full GA object.
pub(super) fn session_object(id: &str, model: &str, expires_at: i64) -> Value {
    json!({
        "type": "realtime",
        "object": "realtime.session",
        "id": id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "You are a helpful voice assistant. (voxgate provider simulator)",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": null,
        "truncation": "auto",
        "prompt": null,
        "expires_at": expires_at,
        "audio": {
            "input": {
                "format": Format::Pcm.to_json(),
                "transcription": null,
                "noise_reduction": null,
                "turn_detection": server_vad_defaults(),
            },
            "output": {
                "format": Format::Pcm.to_json(),
                "voice": "alloy",
                "speed": 1.0,
            },
        },
        "include": null,
    })
}

/// `server_vad` with the service's defaults.
pub(super) fn server_vad_defaults() -> Value {
    json!({
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": true,
        "interrupt_response": true,
        "idle_timeout_ms": null,
    })
}

/// `semantic_vad` with the service's defaults.
pub(super) fn semantic_vad_defaults() -> Value {
    json!({
        "type": "semantic_vad",
        "eagerness": "auto",
        "create_response": true,
        "interrupt_response": true,
    })
}

/// A user message made of the committed input audio.
pub(super) fn user_audio_item(id: &str, transcript: Option<&str>) -> Value {
    json!({
        "id": id,
        "type": "message",
        "object": "realtime.item",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": transcript}],
    })
}

/// What an assistant message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Modality {
    Audio,
    Text,
}

impl Modality {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Text => "text",
        }
    }
}

/// An assistant message; `content` is `None` before its content part is added.
pub(super) fn assistant_item(
    id: &str,
    status: &str,
    modality: Modality,
    content: Option<&str>,
) -> Value {
    let content = match (content, modality) {
        (None, _) => json!([]),
        (Some(text), Modality::Audio) => json!([{"type": "output_audio", "transcript": text}]),
        (Some(text), Modality::Text) => json!([{"type": "output_text", "text": text}]),
    };
    json!({
        "id": id,
        "type": "message",
        "object": "realtime.item",
        "status": status,
        "role": "assistant",
        "content": content,
    })
}

/// The content part of `response.content_part.added` / `.done`.
pub(super) fn content_part(modality: Modality, text: &str) -> Value {
    match modality {
        Modality::Audio => json!({"type": "audio", "transcript": text}),
        Modality::Text => json!({"type": "text", "text": text}),
    }
}

/// A function call item.
pub(super) fn function_call_item(
    id: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
    status: &str,
) -> Value {
    json!({
        "id": id,
        "type": "function_call",
        "object": "realtime.item",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    })
}

/// Token counts of one response.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Usage {
    pub(super) input_text: u64,
    pub(super) input_audio: u64,
    pub(super) output_text: u64,
    pub(super) output_audio: u64,
}

impl Usage {
    pub(super) fn to_json(self) -> Value {
        let input = self.input_text + self.input_audio;
        let output = self.output_text + self.output_audio;
        json!({
            "total_tokens": input + output,
            "input_tokens": input,
            "output_tokens": output,
            "input_token_details": {
                "text_tokens": self.input_text,
                "audio_tokens": self.input_audio,
                "image_tokens": 0,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {
                "text_tokens": self.output_text,
                "audio_tokens": self.output_audio,
            },
        })
    }
}

/// The parts of a response object that do not change while it runs.
#[derive(Clone, Debug)]
pub(super) struct ResponseHead {
    pub(super) id: String,
    pub(super) conversation_id: Option<String>,
    pub(super) modality: Modality,
    pub(super) format: Format,
    pub(super) voice: Value,
    pub(super) metadata: Value,
}

/// A response object for `response.created` / `response.done`.
pub(super) fn response(
    head: &ResponseHead,
    status: &str,
    status_details: Value,
    output: Vec<Value>,
    usage: Option<Usage>,
) -> Value {
    json!({
        "object": "realtime.response",
        "id": head.id,
        "status": status,
        "status_details": status_details,
        "output": output,
        "conversation_id": head.conversation_id,
        "output_modalities": [head.modality.name()],
        "max_output_tokens": "inf",
        "audio": {"output": {"format": head.format.to_json(), "voice": head.voice}},
        "usage": usage.map(Usage::to_json),
        "metadata": head.metadata,
    })
}

/// `rate_limits.updated` with the given remaining budgets.
pub(super) fn rate_limits(requests_remaining: u64, tokens_remaining: u64) -> Value {
    server(
        "rate_limits.updated",
        json!({"rate_limits": [
            {"name": "requests", "limit": 5_000, "remaining": requests_remaining, "reset_seconds": 0.012},
            {"name": "tokens", "limit": 40_000, "remaining": tokens_remaining, "reset_seconds": 0.6},
        ]}),
    )
}
