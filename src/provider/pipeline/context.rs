//! The conversation the pipeline sends to the LLM: seeded items, caller transcripts, the agent's
//! answers (as spoken, sentence by sentence with their audio length), tool calls and tool
//! outputs. Builds the chat `messages` array and cuts an answer to what the caller heard.

use serde_json::{Value, json};
use voxgate_core::session::Role;

/// A tool call the model made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ToolCall {
    /// The call id, echoed by the tool's output.
    pub(super) call_id: String,
    /// The tool's name.
    pub(super) name: String,
    /// The arguments as JSON text.
    pub(super) arguments: String,
}

/// One sentence of an answer as it was sent: its transcript delta and its audio.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Spoken {
    /// The delta text (a leading space separates it from the sentence before).
    pub(super) text: String,
    /// Milliseconds of its audio sent to the caller.
    pub(super) audio_ms: u64,
}

#[derive(Debug)]
enum Item {
    User(String),
    Assistant {
        item_id: Option<String>,
        spoken: Vec<Spoken>,
        tool_calls: Vec<ToolCall>,
    },
    Tool {
        call_id: String,
        output: String,
    },
}

/// The conversation of one call.
#[derive(Debug, Default)]
pub(super) struct Context {
    items: Vec<Item>,
}

impl Context {
    /// Adds a past item (re-seeding after a switch).
    pub(super) fn seed(&mut self, role: Role, text: String) {
        match role {
            Role::User => self.user(text),
            Role::Assistant => self.items.push(Item::Assistant {
                item_id: None,
                spoken: vec![Spoken { text, audio_ms: 0 }],
                tool_calls: Vec::new(),
            }),
        }
    }

    /// Adds the caller's transcribed turn.
    pub(super) fn user(&mut self, text: String) {
        self.items.push(Item::User(text));
    }

    /// Adds an answer: what was spoken and the tools it called.
    pub(super) fn assistant(&mut self, item_id: String, spoken: Vec<Spoken>, calls: Vec<ToolCall>) {
        if spoken.is_empty() && calls.is_empty() {
            return;
        }
        self.items.push(Item::Assistant {
            item_id: Some(item_id),
            spoken,
            tool_calls: calls,
        });
    }

    /// Adds a tool's output right after the answer that called it (and its earlier outputs), so
    /// a caller turn in between does not break the chat format. Unknown call ids are dropped.
    pub(super) fn tool_output(&mut self, call_id: String, output: String) -> bool {
        let caller = self.items.iter().position(|item| {
            matches!(item, Item::Assistant { tool_calls, .. }
                if tool_calls.iter().any(|call| call.call_id == call_id))
        });
        let Some(caller) = caller else {
            return false;
        };
        let mut at = caller + 1;
        while matches!(self.items.get(at), Some(Item::Tool { .. })) {
            at += 1;
        }
        self.items.insert(at, Item::Tool { call_id, output });
        true
    }

    /// Cuts an answer to what was played: false when no answer has this id.
    pub(super) fn truncate(&mut self, id: &str, audio_end_ms: u64) -> bool {
        for item in &mut self.items {
            if let Item::Assistant {
                item_id: Some(item_id),
                spoken,
                ..
            } = item
                && item_id == id
            {
                truncate_spoken(spoken, audio_end_ms);
                return true;
            }
        }
        false
    }

    /// The chat `messages`: the system prompt, then the conversation. A tool call without an
    /// output (the tool has not answered) is left out, since the chat format rejects it.
    pub(super) fn messages(&self, system: &str) -> Vec<Value> {
        let mut messages = vec![json!({"role": "system", "content": system})];
        let answered: Vec<&str> = self
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Tool { call_id, .. } => Some(call_id.as_str()),
                _ => None,
            })
            .collect();
        for item in &self.items {
            match item {
                Item::User(text) => messages.push(json!({"role": "user", "content": text})),
                Item::Assistant {
                    spoken, tool_calls, ..
                } => {
                    let text: String = spoken.iter().map(|s| s.text.as_str()).collect();
                    let calls: Vec<Value> = tool_calls
                        .iter()
                        .filter(|call| answered.contains(&call.call_id.as_str()))
                        .map(|call| {
                            json!({"id": call.call_id, "type": "function",
                                "function": {"name": call.name, "arguments": call.arguments}})
                        })
                        .collect();
                    let text = text.trim();
                    if calls.is_empty() && text.is_empty() {
                        continue;
                    }
                    let mut message = json!({"role": "assistant", "content": text});
                    if !calls.is_empty() {
                        message["tool_calls"] = Value::Array(calls);
                    }
                    messages.push(message);
                }
                Item::Tool { call_id, output } => messages
                    .push(json!({"role": "tool", "tool_call_id": call_id, "content": output})),
            }
        }
        messages
    }
}

/// Speech rate assumed for a sentence whose audio was cut off: about 15 characters a second.
const SPEECH_MS_PER_CHAR: u64 = 65;

/// Cuts the last sentence of an answer whose audio stopped early (a cancel): its full length is
/// unknown, so it is estimated from its characters at [`SPEECH_MS_PER_CHAR`] (or what was sent,
/// if longer), and its text is cut to the share of that estimate that was sent.
pub(super) fn cut_unfinished(spoken: &mut Vec<Spoken>) {
    let Some((last, before)) = spoken.split_last_mut() else {
        return;
    };
    let earlier: u64 = before.iter().map(|s| s.audio_ms).sum();
    let sent = last.audio_ms;
    last.audio_ms = (last.text.chars().count() as u64 * SPEECH_MS_PER_CHAR).max(sent);
    truncate_spoken(spoken, earlier + sent);
}

/// Keeps the sentences whose audio played in full, and of the sentence playing at
/// `audio_end_ms` the same fraction of its characters as of its audio (speech rate is taken as
/// even across a sentence; the cut moves back to a word boundary). Sentences after it go.
pub(super) fn truncate_spoken(spoken: &mut Vec<Spoken>, audio_end_ms: u64) {
    let mut elapsed = 0;
    for index in 0..spoken.len() {
        let sentence = &mut spoken[index];
        if elapsed + sentence.audio_ms <= audio_end_ms {
            elapsed += sentence.audio_ms;
            continue;
        }
        let played = audio_end_ms.saturating_sub(elapsed);
        let chars = sentence.text.chars().count() as u64;
        let keep = (chars * played / sentence.audio_ms.max(1)) as usize;
        let cut = sentence
            .text
            .char_indices()
            .nth(keep)
            .map_or(sentence.text.len(), |(at, _)| at);
        let head = &sentence.text[..cut];
        let mid_word = sentence.text[cut..]
            .chars()
            .next()
            .is_some_and(|next| !next.is_whitespace());
        let head = match head.rfind(char::is_whitespace) {
            Some(space) if mid_word => &head[..space],
            None if mid_word => "",
            _ => head,
        };
        sentence.text = head.trim_end().to_owned();
        sentence.audio_ms = played;
        let keep_sentence = !sentence.text.trim().is_empty();
        spoken.truncate(index + usize::from(keep_sentence));
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spoken(parts: &[(&str, u64)]) -> Vec<Spoken> {
        parts
            .iter()
            .map(|&(text, audio_ms)| Spoken {
                text: text.to_owned(),
                audio_ms,
            })
            .collect()
    }

    #[test]
    fn truncation_keeps_played_sentences_and_the_played_share_of_the_current_one() {
        let mut answer = spoken(&[
            ("One two.", 800),
            (" Three four five six.", 2000),
            (" Ok.", 300),
        ]);
        truncate_spoken(&mut answer, 1_900);
        let text: String = answer.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(text, "One two. Three four");
        let mut answer = spoken(&[("One two.", 800), (" Three.", 500)]);
        truncate_spoken(&mut answer, 810);
        assert_eq!(answer.len(), 1);
        truncate_spoken(&mut answer, 5_000);
        assert_eq!(answer.len(), 1);
    }

    #[test]
    fn a_sentence_cut_off_by_a_cancel_keeps_the_share_that_was_sent() {
        let mut answer = spoken(&[("Hi.", 200), (" Twenty chars of txt", 1_000)]);
        cut_unfinished(&mut answer);
        let text: String = answer.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(text, "Hi. Twenty chars");
        assert_eq!(answer[1].audio_ms, 1_000);
    }

    #[test]
    fn tool_outputs_follow_their_call_even_after_a_caller_turn() {
        let mut context = Context::default();
        let call = ToolCall {
            call_id: "call_1".into(),
            name: "lookup".into(),
            arguments: "{}".into(),
        };
        context.assistant("item_1".into(), Vec::new(), vec![call]);
        context.user("hello?".into());
        let before = context.messages("sys");
        assert_eq!(
            before.len(),
            2,
            "an unanswered call is left out: {before:?}"
        );
        assert!(context.tool_output("call_1".into(), "{\"ok\":true}".into()));
        assert!(!context.tool_output("call_x".into(), "{}".into()));
        let messages = context.messages("sys");
        let roles: Vec<&str> = messages.iter().filter_map(|m| m["role"].as_str()).collect();
        assert_eq!(roles, ["system", "assistant", "tool", "user"]);
        assert_eq!(messages[1]["tool_calls"][0]["id"], "call_1");
    }
}
