//! A scripted function call at the end of a response: `response.output_item.added`,
//! `conversation.item.added`, `response.function_call_arguments.delta` (the arguments in two
//! halves), `.done`, `response.output_item.done` and `conversation.item.done`.

use super::ActiveResponse;
use crate::provider::sim::{conversation::Conversation, event, session::Out};
use serde_json::{Value, json};

impl ActiveResponse {
    /// Emits the call's events; returns its finished item for `response.done`'s output.
    pub(super) fn call_tool(
        &self,
        name: &str,
        arguments: &str,
        conversation: &mut Conversation,
        out: &mut Vec<Out>,
    ) -> Value {
        let output_index = u64::from(self.plan.message);
        let (item_id, call_id) = (event::new_id("item"), event::new_id("call"));
        let item = event::function_call_item(&item_id, &call_id, name, "", "in_progress");
        self.item_added(item, output_index, None, conversation, out);
        let ids = json!({"response_id": self.head.id, "item_id": item_id,
                         "output_index": output_index, "call_id": call_id});
        let middle = arguments.char_indices().nth(arguments.chars().count() / 2);
        let (first, second) = arguments.split_at(middle.map_or(arguments.len(), |(i, _)| i));
        for delta in [first, second].into_iter().filter(|d| !d.is_empty()) {
            let mut fields = ids.clone();
            fields["delta"] = json!(delta);
            out.push(Out::Event(event::server(
                "response.function_call_arguments.delta",
                fields,
            )));
        }
        let mut fields = ids;
        fields["name"] = json!(name);
        fields["arguments"] = json!(arguments);
        out.push(Out::Event(event::server(
            "response.function_call_arguments.done",
            fields,
        )));
        let item = event::function_call_item(&item_id, &call_id, name, arguments, "completed");
        self.item_done(item, output_index, conversation, out)
    }
}
