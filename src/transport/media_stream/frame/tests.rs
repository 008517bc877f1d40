use super::*;

#[test]
fn twilio_frames_parse_with_string_numbers() {
    let start = json!({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
        "start": {"streamSid": "MZ1", "accountSid": "AC1", "callSid": "CA1", "tracks": ["inbound"],
                  "customParameters": {"token": "vct_x", "caller": "+15550100"},
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}});
    let Ok(Inbound::Start {
        stream_id,
        parameters,
        format,
    }) = Dialect::Twilio.parse(&start.to_string())
    else {
        panic!("start parses");
    };
    assert_eq!((stream_id.as_str(), format), ("MZ1", AudioFormat::Pcmu));
    assert_eq!(parameters.get("token").map(String::as_str), Some("vct_x"));
    let media = json!({"event": "media", "sequenceNumber": "7", "streamSid": "MZ1",
        "media": {"track": "inbound", "chunk": "6", "timestamp": "120", "payload": "//8="}});
    assert_eq!(
        Dialect::Twilio.parse(&media.to_string()),
        Ok(Inbound::Media {
            seq: Some(6),
            payload: vec![0xFF, 0xFF]
        })
    );
    let mark = json!({"event": "mark", "streamSid": "MZ1", "mark": {"name": "12"}});
    assert_eq!(
        Dialect::Twilio.parse(&mark.to_string()),
        Ok(Inbound::Mark { name: "12".into() })
    );
}

#[test]
fn telnyx_frames_use_their_own_field_names() {
    let start = json!({"event": "start", "sequence_number": 1, "stream_id": "st1",
        "start": {"call_control_id": "v3:1", "custom_parameters": {"token": "vct_y"},
                  "media_format": {"encoding": "PCMA", "sample_rate": 8000, "channels": 1}}});
    let Ok(Inbound::Start {
        stream_id, format, ..
    }) = Dialect::Telnyx.parse(&start.to_string())
    else {
        panic!("start parses");
    };
    assert_eq!((stream_id.as_str(), format), ("st1", AudioFormat::Pcma));
    let media = json!({"event": "media", "sequence_number": "4", "stream_id": "st1",
        "media": {"chunk": "3", "timestamp": "60", "payload": "1dU="}});
    assert_eq!(
        Dialect::Telnyx.parse(&media.to_string()),
        Ok(Inbound::Media {
            seq: Some(3),
            payload: vec![0xD5, 0xD5]
        })
    );
    let out: Value = serde_json::from_str(&Dialect::Telnyx.clear("st1")).expect("json");
    assert_eq!(out, json!({"event": "clear", "stream_id": "st1"}));
}

#[test]
fn outgoing_twilio_frames_carry_the_stream_sid() {
    let media: Value =
        serde_json::from_str(&Dialect::Twilio.media("MZ1", &[1, 2, 3])).expect("json");
    assert_eq!(
        media,
        json!({"event": "media", "streamSid": "MZ1", "media": {"payload": "AQID"}})
    );
    let mark: Value = serde_json::from_str(&Dialect::Twilio.mark("MZ1", "5")).expect("json");
    assert_eq!(
        mark,
        json!({"event": "mark", "streamSid": "MZ1", "mark": {"name": "5"}})
    );
}

#[test]
fn bad_frames_are_errors() {
    for bad in [
        "nope",
        r#"{"no":"event"}"#,
        r#"{"event":"media","media":{}}"#,
        r#"{"event":"media","media":{"payload":"%%%"}}"#,
        r#"{"event":"start","start":{}}"#,
        r#"{"event":"start","streamSid":"x","start":{"mediaFormat":{"encoding":"audio/opus"}}}"#,
    ] {
        assert!(Dialect::Twilio.parse(bad).is_err(), "{bad}");
    }
    assert_eq!(
        Dialect::Twilio.parse(r#"{"event":"unknown"}"#),
        Ok(Inbound::Other)
    );
}
