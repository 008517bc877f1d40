//! The JSON shapes of a chat completion: one `chat.completion`, or the `chat.completion.chunk`
//! SSE events of a streamed one (a role chunk, content deltas of a few words, a tool call whose
//! arguments come in pieces, the finish chunk, the optional usage chunk, `data: [DONE]`).

use super::{
    super::{event, plan::split},
    reply::{Message, Reply},
};
use axum::body::Bytes;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

/// Words per content delta.
const WORDS_PER_DELTA: usize = 3;
/// Characters per arguments delta (at least two deltas are sent).
const ARGUMENT_CHARS_PER_DELTA: usize = 16;

/// Token counts: about four characters a token.
#[derive(Clone, Copy, Debug)]
pub(super) struct Usage {
    prompt: u64,
    completion: u64,
}

impl Usage {
    /// The usage of answering `messages` with `reply`.
    pub(super) fn new(messages: &[Message], reply: &Reply) -> Self {
        let prompt_chars: usize = messages.iter().map(|m| m.text().len()).sum();
        let arguments = reply
            .tool_call
            .as_ref()
            .map_or(0, |(name, arguments)| name.len() + arguments.len());
        Self {
            prompt: (prompt_chars.div_ceil(4) + 3 * messages.len()) as u64,
            completion: (reply.text.len() + arguments).div_ceil(4).max(1) as u64,
        }
    }

    fn to_json(self) -> Value {
        json!({
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
        })
    }
}

/// A finished answer, ready to be sent whole or as chunks.
#[derive(Debug)]
pub(super) struct Completion {
    id: String,
    created: u64,
    model: String,
    reply: Reply,
    call_id: String,
    usage: Usage,
}

impl Completion {
    pub(super) fn new(model: String, reply: Reply, usage: Usage) -> Self {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
        Self {
            id,
            created,
            model,
            reply,
            call_id: event::new_id("call"),
            usage,
        }
    }

    fn finish_reason(&self) -> &'static str {
        match self.reply.tool_call {
            Some(_) => "tool_calls",
            None => "stop",
        }
    }

    /// The `chat.completion` of `stream: false`.
    pub(super) fn whole(&self) -> Value {
        let mut message = json!({
            "role": "assistant",
            "content": Some(&self.reply.text).filter(|text| !text.is_empty()),
            "refusal": null,
            "annotations": [],
        });
        if let Some((name, arguments)) = &self.reply.tool_call {
            message["tool_calls"] = json!([{
                "id": self.call_id,
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }]);
        }
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": null,
                "finish_reason": self.finish_reason(),
            }],
            "usage": self.usage.to_json(),
        })
    }

    /// The SSE events of `stream: true`, one chunk each, `data: [DONE]` last.
    pub(super) fn events(&self, include_usage: bool) -> Vec<Bytes> {
        let text = &self.reply.text;
        let mut deltas = vec![json!({"role": "assistant", "content": "", "refusal": null})];
        if !text.is_empty() {
            let words = text.split_inclusive(' ').count();
            let pieces = split(text, words.div_ceil(WORDS_PER_DELTA));
            deltas.extend(pieces.into_iter().map(|piece| json!({"content": piece})));
        }
        if let Some((name, arguments)) = &self.reply.tool_call {
            deltas.push(json!({"tool_calls": [{
                "index": 0,
                "id": self.call_id,
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }]}));
            deltas.extend(argument_pieces(arguments).into_iter().map(
                |piece| json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
            ));
        }
        let mut chunks: Vec<Value> = deltas
            .into_iter()
            .map(|delta| self.chunk(delta, None, include_usage))
            .collect();
        let finish = Some(self.finish_reason());
        chunks.push(self.chunk(json!({}), finish, include_usage));
        if include_usage {
            let mut last = self.chunk(json!({}), None, true);
            last["choices"] = json!([]);
            last["usage"] = self.usage.to_json();
            chunks.push(last);
        }
        chunks
            .into_iter()
            .map(|chunk| format!("data: {chunk}\n\n"))
            .chain(["data: [DONE]\n\n".to_owned()])
            .map(Bytes::from)
            .collect()
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>, include_usage: bool) -> Value {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
        });
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }
}

/// The arguments text in at least two pieces (cut at character boundaries) that concatenate to it.
fn argument_pieces(arguments: &str) -> Vec<String> {
    let chars: Vec<char> = arguments.chars().collect();
    let size = chars.len().div_ceil(2).clamp(1, ARGUMENT_CHARS_PER_DELTA);
    chars.chunks(size).map(String::from_iter).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_come_in_at_least_two_pieces_that_join_to_the_text() {
        let arguments = r#"{"city": "Zürich", "when": "tomorrow afternoon"}"#;
        let pieces = argument_pieces(arguments);
        assert!(pieces.len() >= 3, "{pieces:?}");
        assert_eq!(pieces.concat(), arguments);
        assert_eq!(argument_pieces("{}"), ["{", "}"]);
    }
}
