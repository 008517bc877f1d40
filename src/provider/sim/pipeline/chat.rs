//! `POST /v1/chat/completions`: validates the request as far as the simulator needs (OpenAI-style
//! 400s), takes the next scripted turn (the queue the realtime sessions share) and answers with
//! one `chat.completion` or, with `stream: true`, `chat.completion.chunk` SSE events ending in
//! `data: [DONE]`.

use super::{
    super::Shared,
    Endpoint, Gate,
    completion::{Completion, Usage},
    reply::{Message, Reply},
};
use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::Value;

/// The roles a message may have.
const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// The fields the simulator reads; the rest are ignored.
#[derive(Debug, Deserialize)]
struct ChatRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    messages: Option<Vec<Message>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// A 400: message, param, code.
type Invalid = (String, Option<String>, Option<&'static str>);

pub(super) async fn handle(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut gate = Gate::new(&shared, Endpoint::Chat);
    if let Some(response) = gate.keyless(&headers) {
        return response;
    }
    let request = match serde_json::from_slice::<ChatRequest>(&body) {
        Ok(request) => request,
        Err(error) => {
            let message = format!("We could not parse the JSON body of your request. ({error})");
            return gate.invalid(&message, None, None);
        }
    };
    gate.set_model(request.model.as_deref().unwrap_or_default());
    let messages = match validate(&request) {
        Ok(messages) => messages,
        Err((message, param, code)) => return gate.invalid(&message, param.as_deref(), code),
    };
    if let Some(response) = gate.injected_refusal().await {
        return response;
    }
    let reply = Reply::new(shared.control.next_turn(), messages);
    gate.record(StatusCode::OK, &reply.summary());
    let usage = Usage::new(messages, &reply);
    let completion = Completion::new(request.model.unwrap_or_default(), reply, usage);
    if request.stream != Some(true) {
        return Json(completion.whole()).into_response();
    }
    let include_usage = request
        .stream_options
        .and_then(|options| options.include_usage)
        .unwrap_or(false);
    let headers = [
        (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    (headers, gate.stream(completion.events(include_usage))).into_response()
}

/// The messages of a request the simulator can answer, or the 400.
fn validate(request: &ChatRequest) -> Result<&[Message], Invalid> {
    if request.model.as_deref().is_none_or(str::is_empty) {
        return Err(("you must provide a model parameter".to_owned(), None, None));
    }
    let Some(messages) = request.messages.as_deref() else {
        let message = "Missing required parameter: 'messages'.".to_owned();
        return Err((
            message,
            Some("messages".to_owned()),
            Some("missing_required_parameter"),
        ));
    };
    if messages.is_empty() {
        let message = "Invalid 'messages': empty array. Expected an array with minimum length 1, \
                       but got an empty array instead."
            .to_owned();
        return Err((message, Some("messages".to_owned()), Some("empty_array")));
    }
    for (i, message) in messages.iter().enumerate() {
        if !ROLES.contains(&message.role.as_str()) {
            let text = format!(
                "Invalid value: '{}'. Supported values are: 'system', 'assistant', 'user', \
                 'function', 'tool', and 'developer'.",
                message.role
            );
            return Err((
                text,
                Some(format!("messages[{i}].role")),
                Some("invalid_value"),
            ));
        }
        if message.role == "tool" && message.tool_call_id.is_none() {
            let param = format!("messages[{i}].tool_call_id");
            let text = format!("Missing required parameter: '{param}'.");
            return Err((text, Some(param), Some("missing_required_parameter")));
        }
        let calls = message.tool_calls.as_deref().unwrap_or_default();
        if let Some(j) = calls.iter().position(|call| call.get("id").is_none()) {
            let param = format!("messages[{i}].tool_calls[{j}].id");
            let text = format!("Missing required parameter: '{param}'.");
            return Err((text, Some(param), Some("missing_required_parameter")));
        }
    }
    let tools = request.tools.as_deref().unwrap_or_default();
    for (i, tool) in tools.iter().enumerate() {
        let function = tool.get("type").and_then(Value::as_str) == Some("function");
        let named = tool.pointer("/function/name").is_some_and(Value::is_string);
        if !function || !named {
            let text = "A tool must be {\"type\": \"function\", \"function\": {\"name\": ...}}."
                .to_owned();
            return Err((text, Some(format!("tools[{i}]")), Some("invalid_value")));
        }
    }
    Ok(messages)
}
