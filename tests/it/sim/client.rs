//! The test client of the simulator: a tokio-tungstenite GA socket, event helpers, and the audio
//! fixtures (from `VOXGATE_TEST_FIXTURES` or `../shared/fixtures`; skipped when absent).

use base64::{Engine, engine::general_purpose::STANDARD};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};
use voxgate::provider::sim::{SimHandle, Simulator};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The audio fixtures folder: `VOXGATE_TEST_FIXTURES`, else `../shared/fixtures` beside the
/// repository.
#[allow(clippy::disallowed_methods)] // tests read their own settings
pub fn fixtures_dir() -> String {
    std::env::var("VOXGATE_TEST_FIXTURES")
        .ok()
        .filter(|dir| !dir.is_empty())
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures").to_owned())
}

/// A simulator on a free loopback port.
pub async fn start() -> SimHandle {
    Simulator::start("127.0.0.1:0".parse().expect("loopback address"))
        .await
        .expect("the simulator binds")
}

/// A GA client socket with a bearer key and optional extra header; returns the HTTP refusal.
pub async fn try_connect(
    sim: &SimHandle,
    header: Option<(&'static str, &'static str)>,
    bearer: bool,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let url = format!("{}?model=gpt-realtime", sim.realtime_url());
    let mut request = url.into_client_request().expect("request");
    if bearer {
        let auth = HeaderValue::from_static("Bearer test");
        request.headers_mut().insert("authorization", auth);
    }
    if let Some((name, value)) = header {
        request
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

/// A connected session, past `session.created`.
pub async fn connect(sim: &SimHandle) -> Socket {
    let mut socket = try_connect(sim, None, true).await.expect("connects");
    let created = next_event(&mut socket).await;
    assert_eq!(created["type"], "session.created", "{created}");
    socket
}

/// The next text frame, as JSON (panics on anything else or after 10 s).
pub async fn next_event(socket: &mut Socket) -> Value {
    let text = next_text(socket).await;
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}

/// The next text frame.
pub async fn next_text(socket: &mut Socket) -> String {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("the socket is open")
            .expect("a frame");
        match frame {
            Message::Text(text) => return text.to_string(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Every event up to and including the first of type `kind`.
pub async fn until(socket: &mut Socket, kind: &str) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let event = next_event(socket).await;
        let done = event["type"] == kind;
        events.push(event);
        if done {
            return events;
        }
    }
}

pub async fn send(socket: &mut Socket, event: Value) {
    socket
        .send(Message::Text(event.to_string().into()))
        .await
        .expect("sent");
}

/// Appends audio bytes in chunks of `chunk` bytes.
pub async fn append(socket: &mut Socket, bytes: &[u8], chunk: usize) {
    for piece in bytes.chunks(chunk) {
        let audio = STANDARD.encode(piece);
        send(
            socket,
            json!({"type": "input_audio_buffer.append", "audio": audio}),
        )
        .await;
    }
}

pub fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

/// Decoded bytes of every `response.output_audio.delta`.
pub fn audio_bytes(events: &[Value]) -> usize {
    events
        .iter()
        .filter(|e| e["type"] == "response.output_audio.delta")
        .map(|e| {
            let delta = e["delta"].as_str().expect("delta");
            STANDARD.decode(delta).expect("base64").len()
        })
        .sum()
}

/// A fixture file's bytes, or `None` after a skip.
pub fn fixture(name: &str) -> Option<Vec<u8>> {
    let path = format!("{}/{name}", fixtures_dir());
    let bytes = std::fs::read(&path).ok();
    if bytes.is_none() {
        crate::support::skip(&format!("the audio fixture {path} is missing"));
    }
    bytes
}

/// The PCM16 data chunk of a WAV fixture (its little-endian bytes) and its rate.
pub fn wav_pcm(name: &str) -> Option<(Vec<u8>, u32)> {
    let wav = fixture(name)?;
    assert_eq!(&wav[..4], b"RIFF", "{name} is a RIFF file");
    let (mut at, mut rate, mut data) = (12, 0, None);
    while at + 8 <= wav.len() {
        let size = u32::from_le_bytes(wav[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
        let body = &wav[at + 8..(at + 8 + size).min(wav.len())];
        match &wav[at..at + 4] {
            b"fmt " => rate = u32::from_le_bytes(body[4..8].try_into().expect("4 bytes")),
            b"data" => data = Some(body.to_vec()),
            _ => {}
        }
        at += 8 + size + size % 2;
    }
    Some((data.expect("a data chunk"), rate))
}
