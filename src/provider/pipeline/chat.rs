//! The chat-completion wire format: the streamed request (`stream: true`, usage included, the
//! agent's tools as function tools) and a decoder of its SSE chunks into text deltas, tool calls
//! assembled by index, the finish and the usage.

use super::{StageEndpoint, context::ToolCall, sse::SseParser, stage::Failure};
use crate::outbound::http_client;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use voxgate_core::{agent::ToolSpec, session::Usage};

/// The streamed chat request to `endpoint`.
pub(super) fn request(
    endpoint: &StageEndpoint,
    messages: &[Value],
    tools: &[ToolSpec],
) -> reqwest::RequestBuilder {
    let mut body = json!({
        "model": endpoint.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if !tools.is_empty() {
        let tools: Vec<Value> = tools
            .iter()
            .map(|tool| {
                json!({"type": "function", "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                }})
            })
            .collect();
        body["tools"] = Value::Array(tools);
    }
    http_client()
        .post(format!("{}/chat/completions", endpoint.base_url))
        .bearer_auth(endpoint.api_key.expose())
        .json(&body)
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Decodes one streamed completion.
#[derive(Debug, Default)]
pub(super) struct ChatDecoder {
    sse: SseParser,
    calls: BTreeMap<u64, PartialCall>,
    usage: Option<Usage>,
    finished: bool,
}

impl ChatDecoder {
    /// Feeds body bytes; returns the text deltas they complete.
    pub(super) fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, Failure> {
        let events = self
            .sse
            .push(bytes)
            .map_err(|_| Failure::retryable("llm.bad_stream"))?;
        let mut text = Vec::new();
        for data in events {
            self.event(&data, &mut text)?;
        }
        Ok(text)
    }

    /// The body ended: the last text deltas, or a failure if the stream was cut off.
    pub(super) fn end(&mut self) -> Result<Vec<String>, Failure> {
        let mut text = Vec::new();
        if let Some(data) = self.sse.finish() {
            self.event(&data, &mut text)?;
        }
        if self.finished {
            Ok(text)
        } else {
            Err(Failure::retryable("llm.cut_off"))
        }
    }

    /// Token usage, if the stream reported it.
    pub(super) fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// The tool calls, in index order (ids made up where the endpoint sent none).
    pub(super) fn take_tool_calls(&mut self) -> Vec<ToolCall> {
        std::mem::take(&mut self.calls)
            .into_values()
            .filter(|call| !call.name.is_empty())
            .map(|call| ToolCall {
                call_id: if call.id.is_empty() {
                    format!("call_{}", uuid::Uuid::new_v4().simple())
                } else {
                    call.id
                },
                name: call.name,
                arguments: if call.arguments.trim().is_empty() {
                    "{}".to_owned()
                } else {
                    call.arguments
                },
            })
            .collect()
    }

    fn event(&mut self, data: &str, text: &mut Vec<String>) -> Result<(), Failure> {
        if data.trim() == "[DONE]" {
            self.finished = true;
            return Ok(());
        }
        let chunk: Value =
            serde_json::from_str(data).map_err(|_| Failure::retryable("llm.bad_stream"))?;
        if chunk.get("error").is_some_and(|e| !e.is_null()) {
            return Err(Failure::retryable("llm.stream_error"));
        }
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            let count = |field: &str| usage.get(field).and_then(Value::as_u64).unwrap_or(0);
            self.usage = Some(Usage {
                input_tokens: count("prompt_tokens"),
                output_tokens: count("completion_tokens"),
            });
        }
        let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) else {
            return Ok(());
        };
        if choice.get("finish_reason").is_some_and(|r| !r.is_null()) {
            self.finished = true;
        }
        let delta = &choice["delta"];
        if let Some(content) = delta["content"].as_str().filter(|c| !c.is_empty()) {
            text.push(content.to_owned());
        }
        for (position, call) in delta["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let index = call["index"].as_u64().unwrap_or(position as u64);
            let partial = self.calls.entry(index).or_default();
            if let Some(id) = call["id"].as_str().filter(|id| !id.is_empty()) {
                id.clone_into(&mut partial.id);
            }
            let function = &call["function"];
            if let Some(name) = function["name"].as_str()
                && partial.name.is_empty()
            {
                name.clone_into(&mut partial.name);
            }
            if let Some(arguments) = function["arguments"].as_str() {
                partial.arguments.push_str(arguments);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(chunks: &[Value]) -> String {
        chunks
            .iter()
            .map(|c| format!("data: {c}\n\n"))
            .chain(["data: [DONE]\n\n".to_owned()])
            .collect()
    }

    #[test]
    fn tool_calls_are_assembled_from_split_deltas_by_index() {
        let call = |index: u64, id: Option<&str>, name: Option<&str>, args: &str| {
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": index, "id": id, "type": "function",
                 "function": {"name": name, "arguments": args}}]}}]})
        };
        let stream = sse(&[
            json!({"choices": [{"index": 0, "delta": {"content": "One moment."}}]}),
            call(0, Some("call_a"), Some("lookup"), ""),
            call(1, Some("call_b"), Some("book"), "{\"day\""),
            call(0, None, None, "{\"q\":"),
            call(0, None, None, "\"x\"}"),
            call(1, None, None, ":\"tue\"}"),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 7}}),
        ]);
        let mut decoder = ChatDecoder::default();
        let mut text = Vec::new();
        for piece in stream.as_bytes().chunks(7) {
            text.extend(decoder.push(piece).expect("valid stream"));
        }
        text.extend(decoder.end().expect("finished"));
        assert_eq!(text.concat(), "One moment.");
        let usage = decoder.usage().expect("usage");
        assert_eq!((usage.input_tokens, usage.output_tokens), (12, 7));
        let calls = decoder.take_tool_calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[0].call_id.as_str(), calls[0].name.as_str()),
            ("call_a", "lookup")
        );
        assert_eq!(calls[0].arguments, "{\"q\":\"x\"}");
        assert_eq!(calls[1].arguments, "{\"day\":\"tue\"}");
    }

    #[test]
    fn a_stream_without_a_finish_is_cut_off_and_an_error_chunk_fails() {
        let mut decoder = ChatDecoder::default();
        let chunk = json!({"choices": [{"delta": {"content": "Hi"}}]});
        assert_eq!(
            decoder.push(format!("data: {chunk}\n\n").as_bytes()),
            Ok(vec!["Hi".into()])
        );
        assert_eq!(decoder.end().map_err(|f| f.code), Err("llm.cut_off"));
        let mut decoder = ChatDecoder::default();
        let failed = decoder.push(b"data: {\"error\":{\"message\":\"overloaded\"}}\n\n");
        assert_eq!(failed.map_err(|f| f.code), Err("llm.stream_error"));
    }
}
