//! Conversation items from the client: `create` (messages, function calls and their outputs),
//! `truncate` (recorded for tests), `delete` and `retrieve`.

use super::{Out, Session};
use crate::provider::sim::{
    codec::{self, Decoder},
    config::Refusal,
    control::TruncationLog,
    event,
};
use serde_json::{Value, json};

/// A check of a JSON value's type.
type Shape = fn(&Value) -> bool;

impl Session {
    pub(super) fn on_item_create(
        &mut self,
        event: &Value,
        out: &mut Vec<Out>,
    ) -> Result<(), Refusal> {
        let Some(item) = event["item"].as_object() else {
            return Err(Refusal::missing("item"));
        };
        let mut item = item.clone();
        let required: &[&str] = match item.get("type").and_then(Value::as_str) {
            Some("message") => &["role", "content"],
            Some("function_call") => &["name", "arguments"],
            Some("function_call_output") => &["call_id", "output"],
            Some(other) => {
                let message = format!(
                    "Invalid value: '{other}'. Supported values are: 'message', \
                     'function_call', and 'function_call_output'."
                );
                return Err(Refusal::invalid("item.type", message));
            }
            None => return Err(Refusal::missing("item.type")),
        };
        if let Some(missing) = required.iter().find(|key| item.get(**key).is_none()) {
            return Err(Refusal::missing(&format!("item.{missing}")));
        }
        let shapes: [(&str, Shape); 3] = [
            ("content", Value::is_array),
            ("output", Value::is_string),
            ("arguments", Value::is_string),
        ];
        for (key, expected) in shapes {
            if item.get(key).is_some_and(|value| !expected(value)) {
                let message = format!("Invalid type for 'item.{key}'.");
                return Err(Refusal::invalid(&format!("item.{key}"), message));
            }
        }
        if let Some(role) = item.get("role").and_then(Value::as_str)
            && !["user", "assistant", "system"].contains(&role)
        {
            let message = format!(
                "Invalid value: '{role}'. Supported values are: 'user', 'assistant', and 'system'."
            );
            return Err(Refusal::invalid("item.role", message));
        }
        let id = match item.get("id").and_then(Value::as_str) {
            Some(id) if self.conversation.contains(id) => {
                let message = format!("Item with id '{id}' already exists.");
                return Err(Refusal::invalid("item.id", message));
            }
            Some(id) => id.to_owned(),
            None => event::new_id("item"),
        };
        let previous = match event["previous_item_id"].as_str() {
            Some(previous) if !self.conversation.contains(previous) => {
                let message = format!("Previous item with id '{previous}' does not exist.");
                return Err(Refusal::invalid("previous_item_id", message));
            }
            Some(previous) => Some(previous.to_owned()),
            None => self.conversation.last_id(),
        };
        if let Some(Value::Array(parts)) = item.get_mut("content") {
            for part in parts.iter_mut().filter_map(Value::as_object_mut) {
                if let Some(text) = part.get("text").and_then(Value::as_str) {
                    self.input_text_chars += text.len() as u64;
                }
                let audio = part.remove("audio");
                if let Some(bytes) = audio
                    .as_ref()
                    .and_then(Value::as_str)
                    .and_then(codec::b64_decode)
                {
                    let samples = Decoder::new(self.settings.input).push(&bytes);
                    self.echo = Some((samples, self.settings.input.rate()));
                    part.entry("transcript").or_insert(Value::Null);
                }
            }
        }
        item.insert("id".to_owned(), json!(id));
        item.insert("object".to_owned(), json!("realtime.item"));
        item.insert("status".to_owned(), json!("completed"));
        let item = Value::Object(item);
        self.conversation.push(item.clone(), None);
        for kind in ["conversation.item.added", "conversation.item.done"] {
            let fields = json!({"item": item, "previous_item_id": previous});
            out.push(Out::Event(event::server(kind, fields)));
        }
        Ok(())
    }

    pub(super) fn on_truncate(&mut self, event: &Value, out: &mut Vec<Out>) -> Result<(), Refusal> {
        let Some(item_id) = event["item_id"].as_str() else {
            return Err(Refusal::missing("item_id"));
        };
        let Some(content_index) = event["content_index"].as_u64() else {
            return Err(Refusal::missing("content_index"));
        };
        let Some(audio_end_ms) = event["audio_end_ms"].as_u64() else {
            return Err(Refusal::missing("audio_end_ms"));
        };
        let audio_ms = match self.conversation.get(item_id) {
            None => {
                let message = format!("Item with item_id '{item_id}' not found.");
                return Err(Refusal::invalid("item_id", message));
            }
            Some((_, None)) => {
                let message = "Only assistant messages with audio can be truncated.".to_owned();
                return Err(Refusal::invalid("item_id", message));
            }
            Some((_, Some(ms))) => ms,
        };
        if content_index != 0 {
            let message =
                format!("Invalid 'content_index': {content_index}. The item has one part.");
            return Err(Refusal::invalid("content_index", message));
        }
        if audio_end_ms > audio_ms {
            let message =
                format!("Audio content of {audio_ms}ms is already shorter than {audio_end_ms}ms.");
            return Err(Refusal::invalid("audio_end_ms", message));
        }
        self.conversation.set_audio_ms(item_id, audio_end_ms);
        let entry = TruncationLog {
            item_id: item_id.to_owned(),
            content_index,
            audio_end_ms,
        };
        self.control.record(|log| log.truncations.push(entry));
        out.push(Out::Event(event::server(
            "conversation.item.truncated",
            json!({"item_id": item_id, "content_index": content_index, "audio_end_ms": audio_end_ms}),
        )));
        Ok(())
    }

    pub(super) fn on_item_delete(
        &mut self,
        event: &Value,
        out: &mut Vec<Out>,
    ) -> Result<(), Refusal> {
        let Some(item_id) = event["item_id"].as_str() else {
            return Err(Refusal::missing("item_id"));
        };
        if !self.conversation.remove(item_id) {
            let message = format!("Item with item_id '{item_id}' not found.");
            return Err(Refusal::invalid("item_id", message));
        }
        out.push(Out::Event(event::server(
            "conversation.item.deleted",
            json!({"item_id": item_id}),
        )));
        Ok(())
    }

    pub(super) fn on_item_retrieve(
        &self,
        event: &Value,
        out: &mut Vec<Out>,
    ) -> Result<(), Refusal> {
        let Some(item_id) = event["item_id"].as_str() else {
            return Err(Refusal::missing("item_id"));
        };
        let Some((item, _)) = self.conversation.get(item_id) else {
            let message = format!("Item with item_id '{item_id}' not found.");
            return Err(Refusal::invalid("item_id", message));
        };
        out.push(Out::Event(event::server(
            "conversation.item.retrieved",
            json!({"item": item}),
        )));
        Ok(())
    }
}
