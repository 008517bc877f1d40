//! End to end over real sockets: Twilio and Telnyx media streams reach an agent served by the
//! in-process simulator, with G.711 passed straight through, marks, barge-in and reordering.

use crate::{
    sim::fixture,
    support::{TWILIO_AUTH_TOKEN, poll_until},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::{connect_async, tungstenite::Message};
use voxgate::{http::telephony::twilio_signature, provider::sim::ScriptedTurn};

type Client = crate::support::WsClient;
type Setup = crate::support::CallSetup;

async fn setup() -> Setup {
    Setup::start().await
}

/// Posts Twilio's voice webhook, signed when `sign`; returns status and body.
pub(crate) async fn voice_webhook(setup: &Setup, sign: bool) -> (u16, String) {
    let path = format!(
        "/v1/telephony/twilio/voice?agent=desk&tenant_id={}",
        setup.tenant_id
    );
    let params = vec![
        ("CallSid".to_owned(), "CA0001".to_owned()),
        ("From".to_owned(), "+15550100".to_owned()),
        ("To".to_owned(), "+15550199".to_owned()),
    ];
    let url = format!("{}{path}", setup.server.base);
    let mut request = setup.server.client.post(&url).form(&params);
    if sign {
        request = request.header(
            "x-twilio-signature",
            twilio_signature(TWILIO_AUTH_TOKEN, &url, &params),
        );
    }
    let response = request.send().await.expect("sent");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

pub(crate) fn parameter(twiml: &str, name: &str) -> String {
    let marker = format!("<Parameter name=\"{name}\" value=\"");
    let start = twiml.find(&marker).expect("parameter present") + marker.len();
    twiml[start..].split('"').next().expect("value").to_owned()
}

pub(crate) async fn open_stream(setup: &Setup, carrier: &str, start: Value) -> Client {
    let url = format!(
        "{}/v1/telephony/{carrier}/stream",
        setup.server.base.replacen("http", "ws", 1)
    );
    let (mut socket, _) = connect_async(url).await.expect("upgrade");
    let connected = json!({"event": "connected", "protocol": "Call", "version": "1.0.0"});
    socket
        .send(Message::text(connected.to_string()))
        .await
        .expect("connected");
    socket
        .send(Message::text(start.to_string()))
        .await
        .expect("start");
    socket
}

pub(crate) fn twilio_start(token: &str) -> Value {
    json!({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
        "start": {"streamSid": "MZ1", "accountSid": "AC1", "callSid": "CA0001", "tracks": ["inbound"],
                  "customParameters": {"token": token, "caller": "+19999999999"},
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})
}

/// Sends μ-law audio as 20 ms media frames numbered from `first_seq`, in the given order.
pub(crate) async fn send_media(socket: &mut Client, frames: &[(u64, &[u8])], sequence_key: &str) {
    for (seq, payload) in frames {
        let frame = json!({"event": "media", "streamSid": "MZ1", "stream_id": "MZ1",
            sequence_key: seq.to_string(),
            "media": {"track": "inbound", "chunk": seq.to_string(), "payload": STANDARD.encode(payload)}});
        socket
            .send(Message::text(frame.to_string()))
            .await
            .expect("media");
    }
}

pub(crate) fn numbered(audio: &[u8], first_seq: u64) -> Vec<(u64, &[u8])> {
    audio
        .chunks(160)
        .enumerate()
        .map(|(i, c)| (first_seq + i as u64, c))
        .collect()
}

/// Reads carrier-bound frames until `stop` or 20 s; echoes marks when `echo`. Returns the
/// frames and the agent audio received.
pub(crate) async fn listen(
    socket: &mut Client,
    echo: bool,
    mut stop: impl FnMut(&Value, usize) -> bool,
) -> (Vec<Value>, Vec<u8>) {
    let (mut frames, mut audio) = (Vec::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Ok(Some(Ok(Message::Text(text)))) =
        tokio::time::timeout_at(deadline, socket.next()).await
    {
        let frame: Value = serde_json::from_str(text.as_str()).expect("json");
        if frame["event"] == "media" {
            let payload = frame["media"]["payload"].as_str().expect("payload");
            audio.extend(STANDARD.decode(payload).expect("base64"));
        }
        if echo && frame["event"] == "mark" {
            let reply = json!({"event": "mark", "streamSid": "MZ1", "mark": frame["mark"]});
            socket
                .send(Message::text(reply.to_string()))
                .await
                .expect("mark");
        }
        let done = stop(&frame, audio.len());
        frames.push(frame);
        if done {
            break;
        }
    }
    (frames, audio)
}

/// Sends Twilio's `stop` and returns the call list once the (only) call has ended.
pub(crate) async fn stop_and_list(setup: &Setup, socket: &mut Client) -> Value {
    let stop = json!({"event": "stop", "sequenceNumber": "400", "streamSid": "MZ1",
                      "stop": {"accountSid": "AC1", "callSid": "CA0001"}});
    socket
        .send(Message::text(stop.to_string()))
        .await
        .expect("stop");
    setup
        .server
        .json_until("/v1/calls", &setup.key, |calls| {
            calls["items"][0]["status"] == "ended"
        })
        .await
}

pub(crate) fn ulaw_dbfs(audio: &[u8]) -> f32 {
    let mut pcm = Vec::new();
    voxgate_core::audio::g711::ulaw_decode_into(audio, &mut pcm);
    voxgate_core::audio::rms_dbfs(&pcm)
}

#[tokio::test]
async fn the_twilio_webhook_needs_a_valid_signature() {
    let setup = setup().await;
    let (status, _) = voice_webhook(&setup, false).await;
    assert_eq!(status, 403);
    let (status, twiml) = voice_webhook(&setup, true).await;
    assert_eq!(status, 200, "{twiml}");
    assert!(twiml.contains("<Connect><Stream url=\"ws://"), "{twiml}");
    assert!(parameter(&twiml, "token").starts_with("vct_"));
    assert!(
        !twiml.contains("+15550100"),
        "the caller's number stays out of the TwiML"
    );
}

#[tokio::test]
async fn a_twilio_caller_hears_the_agent_and_the_call_is_stored() {
    let Some(speech) = fixture("speech-8k.ulaw") else {
        return;
    };
    let setup = setup().await;
    let (_, twiml) = voice_webhook(&setup, true).await;
    let mut socket = open_stream(&setup, "twilio", twilio_start(&parameter(&twiml, "token"))).await;
    let silence = vec![0xFFu8; 8 * 1500];
    send_media(
        &mut socket,
        &numbered(&speech[..8 * 3000], 2),
        "sequenceNumber",
    )
    .await;
    send_media(&mut socket, &numbered(&silence, 152), "sequenceNumber").await;
    let (frames, audio) = listen(&mut socket, true, |_, len| len >= 8 * 1000).await;
    assert!(
        frames
            .iter()
            .any(|f| f["event"] == "mark" && f["streamSid"] == "MZ1")
    );
    assert!(ulaw_dbfs(&audio) > -50.0, "agent audio is not silent");
    let calls = stop_and_list(&setup, &mut socket).await;
    let call = &calls["items"][0];
    // The number comes from the signed webhook, not from the spoofable stream parameter.
    assert_eq!(
        (call["transport"].as_str(), call["caller"].as_str()),
        (Some("twilio"), Some("+15550100")),
        "{calls}"
    );
    assert_eq!(call["end_reason"], "caller_hangup");
    let id = call["id"].as_str().expect("call id");
    let stored: Value = setup
        .server
        .get(&format!("/v1/calls/{id}"), &setup.key)
        .await
        .json()
        .await
        .expect("json");
    let assistant = stored["transcript"]
        .as_array()
        .expect("transcript")
        .iter()
        .find(|item| item["role"] == "assistant")
        .cloned()
        .unwrap_or_default();
    assert!(
        assistant["played_ms"].as_i64().is_some_and(|ms| ms > 0),
        "{stored}"
    );
    // The sim received the caller's speech as one turn.
    assert!(
        !setup.sim.log().vad.is_empty(),
        "the simulator heard the caller"
    );
}

#[tokio::test]
async fn twilio_barge_in_sends_clear_and_truncates_within_one_frame() {
    let Some(speech) = fixture("speech-8k.ulaw") else {
        return;
    };
    let setup = setup().await;
    setup.sim.script(vec![ScriptedTurn {
        reply_text: Some("Here is a long answer about our opening hours and our services.".into()),
        reply_audio_ms: Some(5000),
        ..ScriptedTurn::default()
    }]);
    let (_, twiml) = voice_webhook(&setup, true).await;
    let mut socket = open_stream(&setup, "twilio", twilio_start(&parameter(&twiml, "token"))).await;
    send_media(
        &mut socket,
        &numbered(&speech[..8 * 2000], 2),
        "sequenceNumber",
    )
    .await;
    send_media(
        &mut socket,
        &numbered(&vec![0xFF; 8 * 1500], 102),
        "sequenceNumber",
    )
    .await;
    // Twilio plays in real time; here playback is "confirmed" up to 1 s by echoing that mark.
    let mut marks = Vec::new();
    listen(&mut socket, false, |frame, len| {
        if frame["event"] == "mark" {
            marks.push((frame["mark"]["name"].as_str().unwrap_or("").to_owned(), len));
        }
        marks.last().is_some_and(|(_, len)| *len >= 8 * 1000)
    })
    .await;
    let (mark, heard_bytes) = marks.last().cloned().expect("marks");
    let echo = json!({"event": "mark", "streamSid": "MZ1", "mark": {"name": mark}});
    socket
        .send(Message::text(echo.to_string()))
        .await
        .expect("mark");
    send_media(
        &mut socket,
        &numbered(&speech[..8 * 1500], 300),
        "sequenceNumber",
    )
    .await;
    let (frames, _) = listen(&mut socket, false, |frame, _| frame["event"] == "clear").await;
    assert_eq!(
        frames.last().map(|f| f["streamSid"].clone()),
        Some(json!("MZ1"))
    );
    let truncations = poll_until(|| setup.sim.log().truncations, |t| !t.is_empty()).await;
    let truncate = truncations.first().expect("the item was truncated");
    let heard_ms = (heard_bytes / 8) as i64;
    assert!(
        (truncate.audio_end_ms as i64 - heard_ms).abs() <= 20,
        "truncated at {}, heard {heard_ms}",
        truncate.audio_end_ms
    );
}

#[tokio::test]
async fn telnyx_frames_out_of_order_reach_the_agent_in_order() {
    let Some(speech) = fixture("speech-8k.ulaw") else {
        return;
    };
    let setup = setup().await;
    let token: Value = setup
        .server
        .post(
            "/v1/call-tokens",
            &setup.key,
            &json!({"agent": "desk", "transport": "telnyx"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let start = json!({"event": "start", "sequence_number": "1", "stream_id": "MZ1",
        "start": {"call_control_id": "v3:1", "custom_parameters": {"token": token["token"]},
                  "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1}}});
    let mut socket = open_stream(&setup, "telnyx", start).await;
    let turn = &speech[..8 * 3000];
    let mut frames = numbered(turn, 2);
    frames.extend(numbered(&[0xFFu8; 8 * 1500], 2 + 150));
    // Swap every adjacent pair: 3,2,5,4,...
    for pair in frames.chunks_mut(2) {
        pair.reverse();
    }
    send_media(&mut socket, &frames, "sequence_number").await;
    let (_, echoed) = listen(&mut socket, true, |frame, len| {
        frame["event"] == "mark" && len >= turn.len() - 8 * 200
    })
    .await;
    // The echo agent plays the caller's turn back: a stretch from its middle must come back
    // byte for byte, which it cannot if the frames were left swapped.
    let probe = &turn[8 * 1000..8 * 1400];
    assert!(
        echoed.windows(probe.len()).any(|window| window == probe),
        "the echoed audio does not contain the caller's audio in order ({} bytes echoed)",
        echoed.len()
    );
}

#[tokio::test]
async fn a_token_for_another_endpoint_is_refused() {
    let setup = setup().await;
    // A native-WebSocket token presented on the Twilio stream: the stream is closed unanswered.
    let minted: Value = setup
        .server
        .post("/v1/call-tokens", &setup.key, &json!({"agent": "desk"}))
        .await
        .json()
        .await
        .expect("json");
    let token = minted["token"].as_str().expect("token");
    let mut socket = open_stream(&setup, "twilio", twilio_start(token)).await;
    let next = tokio::time::timeout(Duration::from_secs(5), socket.next()).await;
    assert!(
        matches!(
            next,
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_)))
        ),
        "{next:?}"
    );
    assert!(
        setup.sim.log().connections.is_empty(),
        "no provider session was opened"
    );
}
