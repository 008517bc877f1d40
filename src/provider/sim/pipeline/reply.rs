//! What the simulated text model answers a chat completion: the next scripted turn (its
//! `reply_text`, or the refusal, and its `tool_call`), or the default agent, which says back the
//! caller's last message (`You said: ...`), mentions a tool's output when the last message is
//! one, and greets when there is nothing to answer. The turn's other faults are realtime ones and
//! do not apply here; `/sim/pipeline_faults` has the pipeline's.

use super::super::{
    control::ScriptedTurn,
    plan::{GREETING, REFUSAL, arguments_text},
};
use serde::Deserialize;
use serde_json::Value;

/// Longest tool output the default agent quotes.
const TOOL_QUOTE_CHARS: usize = 120;

/// One message of the request (unknown fields are ignored, as the real service ignores fields it
/// does not use for a model).
#[derive(Debug, Deserialize)]
pub(super) struct Message {
    pub(super) role: String,
    #[serde(default)]
    pub(super) content: Value,
    #[serde(default)]
    pub(super) tool_call_id: Option<String>,
    #[serde(default)]
    pub(super) tool_calls: Option<Vec<Value>>,
}

impl Message {
    /// The text of the content: a string, or the `text` of its parts.
    pub(super) fn text(&self) -> String {
        match &self.content {
            Value::String(text) => text.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        }
    }
}

/// The answer.
#[derive(Debug)]
pub(super) struct Reply {
    /// What the model says (may be empty with a tool call).
    pub(super) text: String,
    /// The function called: name and arguments text.
    pub(super) tool_call: Option<(String, String)>,
}

impl Reply {
    /// The scripted turn's answer, or the default agent's answer to `messages`.
    pub(super) fn new(turn: Option<ScriptedTurn>, messages: &[Message]) -> Self {
        let turn = turn.unwrap_or_default();
        let tool_call = turn
            .tool_call
            .map(|call| (call.name, arguments_text(call.arguments)));
        let text = match turn.faults.refusal {
            true => Some(REFUSAL.to_owned()),
            false => turn.reply_text,
        };
        let text = match (text, &tool_call) {
            (Some(text), _) => text,
            (None, Some(_)) => String::new(),
            (None, None) => default_agent(messages),
        };
        Self { text, tool_call }
    }

    /// The log's summary: the text, then the call (`get_weather({"city":"Paris"})`).
    pub(super) fn summary(&self) -> String {
        let call = self
            .tool_call
            .as_ref()
            .map(|(name, arguments)| format!("{name}({arguments})"));
        [Some(self.text.clone()).filter(|t| !t.is_empty()), call]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The default agent: mentions a tool's output, says back the last user message, or greets.
fn default_agent(messages: &[Message]) -> String {
    if let Some(last) = messages.last().filter(|m| m.role == "tool") {
        let output = last.text();
        let mut quote: String = output.chars().take(TOOL_QUOTE_CHARS).collect();
        if quote.len() < output.len() {
            quote.push_str("...");
        }
        return format!("The tool returned: {quote}");
    }
    let said = messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(Message::text)
        .filter(|text| !text.trim().is_empty());
    match said {
        Some(text) => format!("You said: {}", text.trim()),
        None => GREETING.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(role: &str, content: Value) -> Message {
        Message {
            role: role.to_owned(),
            content,
            tool_call_id: None,
            tool_calls: None,
        }
    }

    #[test]
    fn the_default_agent_says_back_the_last_user_message_or_the_tool_output() {
        let messages = vec![
            message("system", json!("Be brief.")),
            message("user", json!([{"type": "text", "text": "Book Tuesday."}])),
        ];
        assert_eq!(Reply::new(None, &messages).text, "You said: Book Tuesday.");
        let mut messages = messages;
        messages.push(message("tool", json!("{\"slots\": 2}")));
        assert_eq!(
            Reply::new(None, &messages).text,
            "The tool returned: {\"slots\": 2}"
        );
        assert_eq!(Reply::new(None, &[]).text, GREETING);
    }
}
