//! The built-in call-control tools ([`END_CALL_TOOL`], [`TRANSFER_CALL_TOOL`]): when the model
//! calls one, the session carries it out instead of a webhook. Like any tool call, it counts only
//! if its response completed; the call then ends (or is handed over) once everything the agent
//! said has been played, so the goodbye or the "I'll put you through" is heard whole.
//!
//! An unknown transfer target (or bad arguments) goes back to the model as the tool's error
//! output, like a failed webhook, so it can recover.

use super::{ClientCommand, EndReason, Session, ToolRequest};
use crate::agent::{END_CALL_TOOL, TRANSFER_CALL_TOOL};

/// How the agent asked the call to end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Ending {
    /// Hang up.
    Hangup,
    /// Transfer the caller to this URI.
    Transfer(String),
}

impl Session {
    /// Whether `request` is a built-in tool this session offers; if so, it is carried out.
    pub(super) fn call_control(&mut self, request: &ToolRequest) -> bool {
        let control = &self.config.call_control;
        if request.name == END_CALL_TOOL && control.end_call {
            self.ending.get_or_insert(Ending::Hangup);
            return true;
        }
        let transfers = self.config.can_transfer && !control.transfer_targets.is_empty();
        if request.name != TRANSFER_CALL_TOOL || !transfers {
            return false;
        }
        let wanted = serde_json::from_str::<serde_json::Value>(&request.arguments)
            .ok()
            .and_then(|arguments| arguments["target"].as_str().map(str::to_owned));
        let uri = wanted.as_deref().and_then(|wanted| {
            control
                .transfer_targets
                .iter()
                .find(|target| target.name == wanted)
                .map(|target| target.uri.clone())
        });
        match uri {
            Some(uri) => {
                self.ending.get_or_insert(Ending::Transfer(uri));
            }
            None => {
                let names: Vec<&str> = control
                    .transfer_targets
                    .iter()
                    .map(|target| target.name.as_str())
                    .collect();
                let output = serde_json::json!({
                    "error": format!("unknown transfer target; choose one of: {}", names.join(", ")),
                    "code": "tool.unknown_target",
                });
                self.tool_results
                    .push((request.call_id.clone(), output.to_string()));
            }
        }
        true
    }

    /// Ends the call as the agent asked, once its answer is over and has all been played.
    pub(super) fn end_if_agent_done(&mut self) {
        if self.ending.is_none() || self.response.is_some() || self.playback.is_playing() {
            return;
        }
        match self.ending.take() {
            Some(Ending::Transfer(target_uri)) => {
                self.send_client(ClientCommand::Transfer { target_uri });
                self.end(EndReason::Transferred);
            }
            Some(Ending::Hangup) => self.end(EndReason::AgentEnded),
            None => {}
        }
    }
}
