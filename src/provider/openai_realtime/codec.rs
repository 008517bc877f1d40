//! The OpenAI Realtime GA wire format: session commands to JSON text frames, and server frames to
//! provider-neutral [`ProviderEvent`]s.
//!
//! GA event names only. A beta-era name (`response.audio.delta`, `conversation.item.created`, ...)
//! means we are talking to a stale server or proxy that would stream audio nobody hears, so it is
//! a protocol error, never silently accepted. Errors are classified here, where they are born.

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use serde_json::{Value, json};
use voxgate_core::{
    AgentSpec,
    session::{
        AudioChunk, AudioFormat, ErrorClass, ProviderCommand, ProviderEvent, RateLimit,
        RateLimitKind, ResponseStatus, Role, Usage,
    },
};

/// A frame the client cannot accept.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Not JSON, or not an object with a `type`.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A beta-era event name from a GA session.
    #[error("beta event `{0}` on a GA session")]
    BetaEvent(String),
    /// The provider refused one of our client events (`invalid_request_error`): our bug, not a
    /// provider failure, so it is logged rather than reported as an outage.
    #[error("the provider refused a client event: {0}")]
    Refused(String),
    /// A known event without a field it must have.
    #[error("`{event}` lacks `{field}`")]
    MissingField {
        /// The event type.
        event: String,
        /// The missing field.
        field: &'static str,
    },
}

/// Event names of the retired beta interface (GA renamed them).
const BETA_EVENTS: &[&str] = &[
    "response.audio.delta",
    "response.audio.done",
    "response.audio_transcript.delta",
    "response.audio_transcript.done",
    "response.text.delta",
    "response.text.done",
    "conversation.item.created",
];

/// Error codes that retrying cannot fix.
const TERMINAL_CODES: &[&str] = &[
    "invalid_api_key",
    "insufficient_quota",
    "account_deactivated",
    "model_not_found",
    "billing_hard_limit_reached",
    "beta_api_shape_disabled",
];

/// Retry class of a provider error code.
pub fn classify(code: &str) -> ErrorClass {
    match TERMINAL_CODES.contains(&code) {
        true => ErrorClass::Terminal,
        false => ErrorClass::Retryable,
    }
}

/// The GA `audio.*.format` object of a format. PCM is 24 kHz only in the GA protocol.
pub fn format_json(format: AudioFormat) -> Value {
    match format {
        AudioFormat::Pcm16 { rate } => json!({"type": "audio/pcm", "rate": rate}),
        AudioFormat::Pcmu => json!({"type": "audio/pcmu"}),
        AudioFormat::Pcma => json!({"type": "audio/pcma"}),
    }
}

/// `session.update` for an agent: instructions, voice, audio formats (G.711 passes straight
/// through for telephony callers), server VAD with barge-in, input transcription and tools.
pub fn session_update(agent: &AgentSpec, model: &str, format: AudioFormat) -> String {
    let tools: Vec<Value> = agent
        .tools
        .iter()
        .map(|tool| {
            json!({"type": "function", "name": tool.name, "description": tool.description,
                   "parameters": tool.parameters})
        })
        .collect();
    let mut transcription = json!({"model": "gpt-4o-mini-transcribe"});
    if let Some(language) = agent
        .language
        .as_deref()
        .and_then(|tag| tag.split('-').next())
    {
        transcription["language"] = json!(language);
    }
    json!({
        "type": "session.update",
        "session": {
            "type": "realtime",
            "model": model,
            "instructions": agent.instructions,
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": format_json(format),
                    "transcription": transcription,
                    "turn_detection": {"type": "server_vad", "create_response": true,
                                       "interrupt_response": true},
                },
                "output": {"format": format_json(format), "voice": agent.voice},
            },
            "tools": tools,
            "tool_choice": "auto",
        }
    })
    .to_string()
}

/// The text frame for a command; `None` for commands that are not frames (`Close`).
pub fn encode(command: &ProviderCommand) -> Option<String> {
    let frame = match command {
        ProviderCommand::AppendAudio(chunk) => {
            json!({"type": "input_audio_buffer.append", "audio": BASE64.encode(&chunk.data)})
        }
        ProviderCommand::CreateResponse { instructions } => match instructions {
            Some(text) => json!({"type": "response.create", "response": {"instructions": text}}),
            None => json!({"type": "response.create"}),
        },
        ProviderCommand::CancelResponse => json!({"type": "response.cancel"}),
        ProviderCommand::Truncate {
            item_id,
            audio_end_ms,
        } => json!({"type": "conversation.item.truncate", "item_id": item_id,
                    "content_index": 0, "audio_end_ms": audio_end_ms}),
        ProviderCommand::SeedItem { role, text } => {
            let (role, kind) = match role {
                Role::User => ("user", "input_text"),
                Role::Assistant => ("assistant", "output_text"),
            };
            json!({"type": "conversation.item.create",
                   "item": {"type": "message", "role": role,
                            "content": [{"type": kind, "text": text}]}})
        }
        ProviderCommand::ToolOutput { call_id, output } => json!({
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": call_id, "output": output}
        }),
        ProviderCommand::Close => return None,
    };
    Some(frame.to_string())
}

fn field<'a>(frame: &'a Value, kind: &str, name: &'static str) -> Result<&'a str, ProtocolError> {
    frame[name]
        .as_str()
        .ok_or_else(|| ProtocolError::MissingField {
            event: kind.to_owned(),
            field: name,
        })
}

/// Decodes one server frame. `Ok(None)` for events the session does not need.
pub fn decode(text: &str, format: AudioFormat) -> Result<Option<ProviderEvent>, ProtocolError> {
    let frame: Value =
        serde_json::from_str(text).map_err(|error| ProtocolError::Malformed(error.to_string()))?;
    let kind = frame["type"]
        .as_str()
        .ok_or_else(|| ProtocolError::Malformed("no `type`".to_owned()))?;
    if BETA_EVENTS.contains(&kind) {
        return Err(ProtocolError::BetaEvent(kind.to_owned()));
    }
    let event = match kind {
        "session.updated" => ProviderEvent::Ready,
        "input_audio_buffer.speech_started" => ProviderEvent::SpeechStarted,
        "input_audio_buffer.speech_stopped" => ProviderEvent::SpeechStopped,
        "conversation.item.input_audio_transcription.completed" => ProviderEvent::UserTranscript {
            text: field(&frame, kind, "transcript")?.to_owned(),
        },
        "response.created" => ProviderEvent::ResponseStarted {
            response_id: frame["response"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        },
        "response.output_audio.delta" => {
            let data = BASE64
                .decode(field(&frame, kind, "delta")?)
                .map_err(|error| ProtocolError::Malformed(format!("audio delta: {error}")))?;
            ProviderEvent::AudioDelta {
                item_id: field(&frame, kind, "item_id")?.to_owned(),
                chunk: AudioChunk { format, data },
            }
        }
        "response.output_audio_transcript.delta" => ProviderEvent::TranscriptDelta {
            item_id: field(&frame, kind, "item_id")?.to_owned(),
            delta: field(&frame, kind, "delta")?.to_owned(),
        },
        // The GA `...function_call_arguments.done` event has no `name`; the finished output
        // item carries all three fields.
        "response.output_item.done" if frame["item"]["type"] == "function_call" => {
            let item = &frame["item"];
            let item_field = |name: &'static str| {
                item[name]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ProtocolError::MissingField {
                        event: kind.to_owned(),
                        field: name,
                    })
            };
            ProviderEvent::FunctionCall {
                call_id: item_field("call_id")?,
                name: item_field("name")?,
                arguments: item_field("arguments")?,
            }
        }
        "response.done" => response_done(&frame["response"]),
        "error" => return provider_error(&frame["error"]),
        "rate_limits.updated" => ProviderEvent::RateLimits(rate_limits(&frame["rate_limits"])),
        _ => return Ok(None),
    };
    Ok(Some(event))
}

/// Errors the session should hear about; a cancel that raced the provider's own is not one.
fn provider_error(error: &Value) -> Result<Option<ProviderEvent>, ProtocolError> {
    let kind = error["type"].as_str().unwrap_or("unknown");
    let code = error["code"].as_str().unwrap_or(kind).to_owned();
    if code == "response_cancel_not_active" {
        return Ok(None);
    }
    let class = classify(&code);
    if kind == "invalid_request_error" && class == ErrorClass::Retryable {
        return Err(ProtocolError::Refused(code));
    }
    Ok(Some(ProviderEvent::Error { class, code }))
}

/// The `requests` and `tokens` readings of `rate_limits.updated`; others are skipped.
fn rate_limits(list: &Value) -> Vec<RateLimit> {
    let readings = list.as_array().map(Vec::as_slice).unwrap_or_default();
    readings
        .iter()
        .filter_map(|reading| {
            let kind = match reading["name"].as_str()? {
                "requests" => RateLimitKind::Requests,
                "tokens" => RateLimitKind::Tokens,
                _ => return None,
            };
            Some(RateLimit {
                kind,
                limit: reading["limit"].as_u64().unwrap_or(0),
                remaining: reading["remaining"].as_u64().unwrap_or(0),
                reset_seconds: reading["reset_seconds"].as_f64().unwrap_or(0.0),
            })
        })
        .collect()
}

fn response_done(response: &Value) -> ProviderEvent {
    let status = match response["status"].as_str() {
        Some("cancelled") => ResponseStatus::Cancelled,
        Some("failed") => ResponseStatus::Failed,
        Some("incomplete") => ResponseStatus::Incomplete,
        _ => ResponseStatus::Completed,
    };
    let usage = response["usage"].as_object().map(|usage| Usage {
        input_tokens: usage
            .get("input_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        output_tokens: usage
            .get("output_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    });
    ProviderEvent::ResponseDone {
        response_id: response["id"].as_str().unwrap_or_default().to_owned(),
        status,
        usage,
    }
}

#[cfg(test)]
mod tests;
