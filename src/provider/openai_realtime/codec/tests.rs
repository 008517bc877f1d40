use super::*;

const ULAW: AudioFormat = AudioFormat::Pcmu;

fn agent() -> AgentSpec {
    serde_json::from_value(json!({
        "name": "desk", "instructions": "Be brief.", "voice": "marin", "language": "en-GB",
        "tools": [{"name": "book", "description": "Book", "parameters": {"type": "object"}}]
    }))
    .expect("agent")
}

#[test]
fn session_update_uses_ga_shapes_and_passes_g711_through() {
    let frame: Value =
        serde_json::from_str(&session_update(&agent(), "gpt-realtime", ULAW)).expect("json");
    let session = &frame["session"];
    assert_eq!(frame["type"], "session.update");
    assert_eq!(session["type"], "realtime");
    assert_eq!(
        session["audio"]["input"]["format"],
        json!({"type": "audio/pcmu"})
    );
    assert_eq!(
        session["audio"]["output"]["format"],
        json!({"type": "audio/pcmu"})
    );
    assert_eq!(session["audio"]["output"]["voice"], "marin");
    assert_eq!(session["audio"]["input"]["transcription"]["language"], "en");
    assert_eq!(
        session["audio"]["input"]["turn_detection"]["type"],
        "server_vad"
    );
    assert_eq!(session["tools"][0]["type"], "function");
    // No beta-era keys.
    for beta in [
        "modalities",
        "voice",
        "input_audio_format",
        "turn_detection",
    ] {
        assert!(session.get(beta).is_none(), "{beta}");
    }
}

#[test]
fn commands_encode_as_ga_client_events() {
    let append = encode(&ProviderCommand::AppendAudio(AudioChunk {
        format: ULAW,
        data: vec![1, 2, 3],
    }))
    .expect("frame");
    assert_eq!(
        serde_json::from_str::<Value>(&append).expect("json"),
        json!({"type": "input_audio_buffer.append", "audio": "AQID"})
    );
    let truncate = encode(&ProviderCommand::Truncate {
        item_id: "item_9".into(),
        audio_end_ms: 1220,
    })
    .expect("frame");
    assert_eq!(
        serde_json::from_str::<Value>(&truncate).expect("json"),
        json!({"type": "conversation.item.truncate", "item_id": "item_9", "content_index": 0,
               "audio_end_ms": 1220})
    );
    assert_eq!(encode(&ProviderCommand::Close), None);
}

#[test]
fn server_events_decode_to_session_events() {
    let delta = json!({"type": "response.output_audio.delta", "response_id": "r", "item_id": "i",
                       "output_index": 0, "content_index": 0, "delta": "AQID", "event_id": "e"});
    assert_eq!(
        decode(&delta.to_string(), ULAW),
        Ok(Some(ProviderEvent::AudioDelta {
            item_id: "i".into(),
            chunk: AudioChunk {
                format: ULAW,
                data: vec![1, 2, 3]
            }
        }))
    );
    let done = json!({"type": "response.done", "event_id": "e", "response": {"id": "r",
        "status": "cancelled", "usage": {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12}}});
    assert_eq!(
        decode(&done.to_string(), ULAW),
        Ok(Some(ProviderEvent::ResponseDone {
            response_id: "r".into(),
            status: ResponseStatus::Cancelled,
            usage: Some(Usage {
                input_tokens: 5,
                output_tokens: 7
            })
        }))
    );
    let ignored = json!({"type": "response.content_part.added", "part": {}});
    assert_eq!(decode(&ignored.to_string(), ULAW), Ok(None));
    let limits = json!({"type": "rate_limits.updated", "event_id": "e", "rate_limits": [
        {"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 0.06},
        {"name": "tokens", "limit": 50000, "remaining": 0, "reset_seconds": 1.5}]});
    assert_eq!(
        decode(&limits.to_string(), ULAW),
        Ok(Some(ProviderEvent::RateLimits(vec![
            RateLimit {
                kind: RateLimitKind::Requests,
                limit: 1000,
                remaining: 999,
                reset_seconds: 0.06
            },
            RateLimit {
                kind: RateLimitKind::Tokens,
                limit: 50000,
                remaining: 0,
                reset_seconds: 1.5
            },
        ])))
    );
}

#[test]
fn beta_event_names_are_protocol_errors() {
    let beta = json!({"type": "response.audio.delta", "delta": "AQID", "item_id": "i"});
    assert_eq!(
        decode(&beta.to_string(), ULAW),
        Err(ProtocolError::BetaEvent("response.audio.delta".into()))
    );
}

#[test]
fn malformed_frames_and_missing_fields_are_errors_not_panics() {
    assert!(matches!(
        decode("not json", ULAW),
        Err(ProtocolError::Malformed(_))
    ));
    assert!(matches!(
        decode("{}", ULAW),
        Err(ProtocolError::Malformed(_))
    ));
    let bad_audio = json!({"type": "response.output_audio.delta", "item_id": "i", "delta": "%%"});
    assert!(matches!(
        decode(&bad_audio.to_string(), ULAW),
        Err(ProtocolError::Malformed(_))
    ));
    let missing = json!({"type": "response.output_audio_transcript.delta", "delta": "hi"});
    assert_eq!(
        decode(&missing.to_string(), ULAW),
        Err(ProtocolError::MissingField {
            event: "response.output_audio_transcript.delta".into(),
            field: "item_id"
        })
    );
}

#[test]
fn errors_are_classified_where_they_are_born() {
    let frame = |code: &str| {
        json!({"type": "error", "error": {"type": "server_error", "code": code, "message": "m"}})
            .to_string()
    };
    for (code, class) in [
        ("invalid_api_key", ErrorClass::Terminal),
        ("insufficient_quota", ErrorClass::Terminal),
        ("rate_limit_exceeded", ErrorClass::Retryable),
        ("server_error", ErrorClass::Retryable),
    ] {
        assert_eq!(
            decode(&frame(code), ULAW),
            Ok(Some(ProviderEvent::Error {
                class,
                code: code.into()
            }))
        );
    }
}

#[test]
fn function_calls_decode_and_their_outputs_encode() {
    let done = json!({"type": "response.output_item.done", "event_id": "e", "response_id": "r",
        "output_index": 0, "item": {"id": "i", "type": "function_call", "status": "completed",
        "call_id": "call_1", "name": "book", "arguments": "{\"day\":\"2026-12-07\"}"}});
    assert_eq!(
        decode(&done.to_string(), ULAW),
        Ok(Some(ProviderEvent::FunctionCall {
            call_id: "call_1".into(),
            name: "book".into(),
            arguments: "{\"day\":\"2026-12-07\"}".into()
        }))
    );
    let output = encode(&ProviderCommand::ToolOutput {
        call_id: "call_1".into(),
        output: "{\"booked\":true}".into(),
    })
    .expect("frame");
    assert_eq!(
        serde_json::from_str::<Value>(&output).expect("json"),
        json!({"type": "conversation.item.create", "item": {"type": "function_call_output",
               "call_id": "call_1", "output": "{\"booked\":true}"}})
    );
}

#[test]
fn a_lost_cancel_race_is_benign_and_our_own_bad_requests_are_not_outages() {
    let error = |kind: &str, code: &str| {
        json!({"type": "error", "error": {"type": kind, "code": code, "message": "m"}}).to_string()
    };
    assert_eq!(
        decode(
            &error("invalid_request_error", "response_cancel_not_active"),
            ULAW
        ),
        Ok(None)
    );
    assert_eq!(
        decode(&error("invalid_request_error", "invalid_value"), ULAW),
        Err(ProtocolError::Refused("invalid_value".into()))
    );
    assert!(matches!(
        decode(&error("invalid_request_error", "invalid_api_key"), ULAW),
        Ok(Some(ProviderEvent::Error {
            class: ErrorClass::Terminal,
            ..
        }))
    ));
}
