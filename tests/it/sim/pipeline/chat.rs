//! Chat completions over HTTP: a streamed reply assembled from its chunks, a streamed and an
//! unstreamed tool call, the default agent, and the script queue shared with realtime sessions.

use super::{chat_request, post_json, sse_chunks};
use crate::sim::client::{connect, send, start, until};
use serde_json::{Value, json};
use voxgate::provider::sim::{ScriptedTurn, ToolCall};

/// A streamed tool call: id, name and the argument pieces.
type StreamedCall = (String, String, Vec<String>);

/// The content, the tool call and the finish reason of the chunks.
fn assemble(chunks: &[Value]) -> (String, Option<StreamedCall>, String) {
    let (mut text, mut call, mut finish) = (String::new(), None, String::new());
    for choice in chunks.iter().filter_map(|chunk| chunk["choices"].get(0)) {
        let delta = &choice["delta"];
        text.push_str(delta["content"].as_str().unwrap_or_default());
        if let Some(tool) = delta["tool_calls"].get(0) {
            let function = &tool["function"];
            let (_, _, pieces) = call.get_or_insert_with(|| {
                let id = tool["id"].as_str().expect("the first delta has the id");
                let name = function["name"].as_str().expect("and the name");
                (id.to_owned(), name.to_owned(), Vec::new())
            });
            let piece = function["arguments"].as_str().unwrap_or_default();
            if !piece.is_empty() {
                pieces.push(piece.to_owned());
            }
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            reason.clone_into(&mut finish);
        }
    }
    (text, call, finish)
}

#[tokio::test]
async fn a_streamed_chat_completion_assembles_to_the_scripted_reply_with_a_usage_chunk() {
    let sim = start().await;
    let said = "Sure, I can book Tuesday at three in the afternoon for you.";
    sim.script(vec![ScriptedTurn {
        reply_text: Some(said.to_owned()),
        ..ScriptedTurn::default()
    }]);
    let response = post_json(&sim, "chat/completions", chat_request("Book it", true)).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/event-stream")
    );
    let chunks = sse_chunks(&response.text().await.expect("body"));
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert!(chunks.iter().all(|c| c["id"] == chunks[0]["id"]));
    let contents = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        })
        .count();
    assert!(contents >= 3, "{contents} content deltas");
    let (text, call, finish) = assemble(&chunks);
    assert_eq!((text.as_str(), call, finish.as_str()), (said, None, "stop"));
    let last = chunks.last().expect("the usage chunk");
    assert_eq!(last["choices"], json!([]));
    let usage = &last["usage"];
    let total = usage["prompt_tokens"].as_u64().expect("prompt")
        + usage["completion_tokens"].as_u64().expect("completion");
    assert!(total > 0);
    assert_eq!(usage["total_tokens"].as_u64(), Some(total));
    assert_eq!(sim.log().pipeline_requests[0].detail, said);
}

#[tokio::test]
async fn a_scripted_tool_call_streams_its_arguments_in_pieces_and_comes_whole_unstreamed() {
    let sim = start().await;
    let call = ToolCall {
        name: "book_slot".to_owned(),
        arguments: json!({"day": "Tuesday", "time": "15:00", "party": 2}),
    };
    let turn = ScriptedTurn {
        tool_call: Some(call.clone()),
        ..ScriptedTurn::default()
    };
    sim.script(vec![turn.clone(), turn]);
    let response = post_json(&sim, "chat/completions", chat_request("Book it", true)).await;
    let chunks = sse_chunks(&response.text().await.expect("body"));
    let (text, call_made, finish) = assemble(&chunks);
    let (id, name, pieces) = call_made.expect("a tool call");
    assert_eq!((text.as_str(), finish.as_str()), ("", "tool_calls"));
    assert!(id.starts_with("call_"), "{id}");
    assert_eq!(name, "book_slot");
    assert!(pieces.len() >= 2, "{pieces:?}");
    let arguments: Value = serde_json::from_str(&pieces.concat()).expect("JSON arguments");
    assert_eq!(arguments, call.arguments);

    let whole: Value = post_json(&sim, "chat/completions", chat_request("Book it", false))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(whole["object"], "chat.completion");
    let choice = &whole["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let function = &choice["message"]["tool_calls"][0]["function"];
    assert_eq!(function["name"], "book_slot");
    let arguments = function["arguments"].as_str().expect("arguments text");
    assert_eq!(
        serde_json::from_str::<Value>(arguments).expect("JSON"),
        call.arguments
    );
    assert!(
        sim.log().pipeline_requests[1]
            .detail
            .starts_with("book_slot({")
    );
}

#[tokio::test]
async fn unscripted_chat_says_back_the_caller_and_mentions_a_tools_output() {
    let sim = start().await;
    let whole: Value = post_json(
        &sim,
        "chat/completions",
        chat_request("Is Tuesday free?", false),
    )
    .await
    .json()
    .await
    .expect("JSON");
    let message = &whole["choices"][0]["message"];
    assert_eq!(message["content"], "You said: Is Tuesday free?");
    assert_eq!(whole["choices"][0]["finish_reason"], "stop");
    assert!(whole["usage"]["total_tokens"].as_u64() > Some(0));
    let after_tool = json!({"model": "gpt-4o-mini", "stream": true, "messages": [
        {"role": "user", "content": "Is Tuesday free?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "free_slots", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"free\": [\"15:00\"]}"},
    ]});
    let response = post_json(&sim, "chat/completions", after_tool).await;
    let chunks = sse_chunks(&response.text().await.expect("body"));
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "no usage unless asked"
    );
    let (text, _, _) = assemble(&chunks);
    assert!(text.contains("{\"free\": [\"15:00\"]}"), "{text}");
}

#[tokio::test]
async fn a_scripted_turn_answers_one_response_whichever_path_asks() {
    let sim = start().await;
    let turn = |text: &str| ScriptedTurn {
        reply_text: Some(text.to_owned()),
        ..ScriptedTurn::default()
    };
    sim.script(vec![turn("From the pipeline."), turn("From realtime.")]);
    let whole: Value = post_json(&sim, "chat/completions", chat_request("hi", false))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        whole["choices"][0]["message"]["content"],
        "From the pipeline."
    );
    let mut ws = connect(&sim).await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    let done = &events.last().expect("response.done")["response"];
    assert_eq!(
        done["output"][0]["content"][0]["transcript"],
        "From realtime."
    );
}
