//! The built-in end_call and transfer_call tools: carried out by the session, after the answer
//! that called them has been played.

use super::*;
use crate::agent::CallControl;

fn config(can_transfer: bool) -> SessionConfig {
    SessionConfig {
        call_control: serde_json::from_value::<CallControl>(json!({
            "end_call": true,
            "transfer_targets": [{"name": "billing", "uri": "sip:billing@pbx.example.com"}],
        }))
        .expect("call control"),
        can_transfer,
        ..SessionConfig::default()
    }
}

/// An answer of two 100 ms chunks that calls `tool` with `arguments`; returns its marks.
fn answer_calling(h: &mut Harness, tool: &str, arguments: &str) -> Vec<MarkId> {
    let marks = h.answer("item_a", "Goodbye.", 2);
    h.provider(ProviderEvent::FunctionCall {
        call_id: "call_1".into(),
        name: tool.into(),
        arguments: arguments.into(),
    });
    h.done(ResponseStatus::Completed);
    marks
}

fn ended(outputs: &[Output]) -> Option<EndReason> {
    outputs.iter().find_map(|output| match output {
        Output::Client(ClientCommand::Ended(reason)) => Some(*reason),
        _ => None,
    })
}

#[test]
fn end_call_ends_the_call_once_the_goodbye_has_been_played() {
    let mut h = Harness::new(config(false));
    let marks = answer_calling(&mut h, "end_call", "{}");
    let outputs = h.take();
    assert!(
        !outputs.iter().any(|o| matches!(o, Output::Tool(_))),
        "no webhook"
    );
    assert_eq!(ended(&outputs), None, "the goodbye is still playing");
    h.client(ClientEvent::MarkPlayed(marks[0]));
    assert_eq!(ended(&h.take()), None);
    h.client(ClientEvent::MarkPlayed(marks[1]));
    let outputs = h.take();
    assert_eq!(ended(&outputs), Some(EndReason::AgentEnded));
    assert!(has(
        &outputs,
        &Output::Persist(PersistCommand::CallEnded(EndReason::AgentEnded))
    ));
    let items = persisted_items(&outputs);
    assert_eq!(items.last().map(|item| item.2.as_str()), Some("Goodbye."));
}

#[test]
fn transfer_call_hands_the_caller_over_after_the_answer_then_ends_as_transferred() {
    let mut h = Harness::new(config(true));
    let marks = answer_calling(&mut h, "transfer_call", r#"{"target": "billing"}"#);
    assert_eq!(ended(&h.take()), None);
    h.client(ClientEvent::MarkPlayed(marks[1]));
    let outputs = h.take();
    let transfer = Output::Client(ClientCommand::Transfer {
        target_uri: "sip:billing@pbx.example.com".into(),
    });
    let at = outputs
        .iter()
        .position(|o| *o == transfer)
        .expect("transfer");
    let end = Output::Client(ClientCommand::Ended(EndReason::Transferred));
    assert!(outputs.iter().position(|o| *o == end).expect("end") > at);
    assert_eq!(EndReason::Transferred.as_str(), "transferred");
}

#[test]
fn an_unknown_transfer_target_is_an_error_output_for_the_model() {
    let mut h = Harness::new(config(true));
    let marks = answer_calling(&mut h, "transfer_call", r#"{"target": "sales"}"#);
    let outputs = h.take();
    let error = outputs.iter().find_map(|output| match output {
        Output::Provider(ProviderCommand::ToolOutput { call_id, output }) => {
            Some((call_id.clone(), output.clone()))
        }
        _ => None,
    });
    let (call_id, output) = error.expect("tool output");
    assert_eq!(call_id, "call_1");
    assert!(output.contains("billing") && output.contains("unknown transfer target"));
    assert!(has(
        &outputs,
        &Output::Provider(ProviderCommand::CreateResponse { instructions: None })
    ));
    h.client(ClientEvent::MarkPlayed(marks[1]));
    assert_eq!(ended(&h.take()), None, "the call goes on");
}

#[test]
fn without_transfer_support_transfer_call_is_an_ordinary_tool() {
    let mut h = Harness::new(config(false));
    answer_calling(&mut h, "transfer_call", r#"{"target": "billing"}"#);
    let outputs = h.take();
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::Tool(r) if r.name == "transfer_call"))
    );
}

#[test]
fn a_tool_call_from_an_interrupted_answer_does_not_end_the_call() {
    let mut h = Harness::new(config(false));
    h.answer("item_a", "Goodbye.", 1);
    h.provider(ProviderEvent::FunctionCall {
        call_id: "call_1".into(),
        name: "end_call".into(),
        arguments: "{}".into(),
    });
    h.done(ResponseStatus::Cancelled);
    h.client(ClientEvent::MarkPlayed(1));
    assert_eq!(ended(&h.take()), None);
}
