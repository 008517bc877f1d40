//! Cancelling a response mid-speech, and cutting an answer in the context to what was played.

use super::{chat_body, next, ready, send, status_of, until_done};
use crate::provider::pipeline::stub::{Reply, Stub};
use std::time::Duration;
use voxgate_core::session::{AudioFormat, ProviderCommand, ProviderEvent, ResponseStatus};

#[tokio::test]
async fn cancelling_mid_response_stops_the_audio_and_reports_cancelled() {
    let stub = Stub::start().await;
    stub.tts_chunk_delay(Duration::from_millis(40));
    stub.reply(Reply::Text(
        "This is a rather long first sentence to speak. And more.".into(),
    ));
    let (mut link, _) = ready(&stub, AudioFormat::Pcma).await;
    send(
        &link,
        ProviderCommand::CreateResponse { instructions: None },
    )
    .await;
    let item = loop {
        if let ProviderEvent::AudioDelta { item_id, .. } = next(&mut link).await {
            break item_id;
        }
    };
    send(&link, ProviderCommand::CancelResponse).await;
    let events = until_done(&mut link).await;
    assert_eq!(status_of(&events), Some(ResponseStatus::Cancelled));
    let late = tokio::time::timeout(Duration::from_millis(300), link.events.recv()).await;
    assert!(late.is_err(), "nothing follows the cancel: {late:?}");
    assert_eq!(
        stub.seen("a", "tts").len(),
        1,
        "the second sentence is never synthesised"
    );
    // The context keeps at most the share of the sentence that was sent, never the rest.
    stub.tts_chunk_delay(Duration::ZERO);
    send(
        &link,
        ProviderCommand::CreateResponse { instructions: None },
    )
    .await;
    until_done(&mut link).await;
    let context = chat_body(&stub, "a", 1)["messages"].to_string();
    assert!(
        !context.contains("speak.") && !context.contains("And more"),
        "{context}"
    );
    assert!(!item.is_empty());
}

#[tokio::test]
async fn truncate_cuts_an_answer_to_the_played_sentences_and_share_of_the_current_one() {
    let stub = Stub::start().await;
    stub.reply(Reply::Text("One two. Three four five six.".into()));
    let (mut link, _) = ready(&stub, AudioFormat::Pcma).await;
    send(
        &link,
        ProviderCommand::CreateResponse { instructions: None },
    )
    .await;
    let events = until_done(&mut link).await;
    let item_id = events.iter().find_map(|event| match event {
        ProviderEvent::AudioDelta { item_id, .. } => Some(item_id.clone()),
        _ => None,
    });
    let item_id = item_id.expect("audio");
    // "One two." is 160 ms; 220 of the 400 ms of " Three four five six." played.
    let truncate = ProviderCommand::Truncate {
        item_id,
        audio_end_ms: 380,
    };
    send(&link, truncate).await;
    send(
        &link,
        ProviderCommand::CreateResponse { instructions: None },
    )
    .await;
    until_done(&mut link).await;
    let messages = chat_body(&stub, "a", 1)["messages"].clone();
    assert_eq!(messages[1]["content"], "One two. Three four");
}
