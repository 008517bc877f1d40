//! Tool calls: a call the model makes is run only once the response that made it completed (a
//! cancelled response's calls are dropped: the caller interrupted). Results go back to the
//! provider, followed by a response that speaks them, once no response is in progress.

use super::{Output, ProviderCommand, ResponseStatus, Session, ToolRequest};
use std::time::Instant;

impl Session {
    /// A tool finished.
    pub fn handle_tool_result(&mut self, now: Instant, call_id: String, output: String) {
        if self.ended {
            return;
        }
        self.tool_results.push((call_id, output));
        self.flush_tool_results();
        self.renew_if_due(now);
    }

    /// The model asked for a tool; it runs when its response completes.
    pub(super) fn tool_called(&mut self, request: ToolRequest) {
        self.tool_requests.push(request);
    }

    /// The response ended: run its tool calls if it completed, forget them otherwise.
    pub(super) fn release_tool_calls(&mut self, status: ResponseStatus) {
        let requests = std::mem::take(&mut self.tool_requests);
        if status != ResponseStatus::Completed {
            return;
        }
        for request in requests {
            if !self.call_control(&request) {
                self.outputs.push_back(Output::Tool(request));
            }
        }
    }

    pub(super) fn flush_tool_results(&mut self) {
        if self.response.is_some() || self.tool_results.is_empty() {
            return;
        }
        for (call_id, output) in std::mem::take(&mut self.tool_results) {
            self.send_provider(ProviderCommand::ToolOutput { call_id, output });
        }
        self.digits_answered();
        self.send_provider(ProviderCommand::CreateResponse { instructions: None });
    }
}
