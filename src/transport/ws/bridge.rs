//! The socket half of a native WebSocket call: frames in → session events, session commands →
//! frames out, with the connection's limits.

use super::{
    super::{MessageRate, send_within},
    MAX_FRAME_BYTES,
    message::{ClientMessage, ServerMessage, pcm16_from_bytes, pcm16_to_bytes},
};
use crate::telemetry;
use axum::extract::ws::{Message, WebSocket};
use std::time::Duration;
use tokio::{sync::mpsc, time::Instant};
use voxgate_core::{
    audio::{Resampler, SampleRate},
    session::{AudioChunk, AudioFormat, ClientCommand, ClientEvent},
};

/// No frame from the client for this long ends the call.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the bridge stops reading.
enum Stop {
    /// The client left (close frame or socket gone).
    Gone,
    /// The client broke the protocol or a limit.
    Violation(&'static str, String),
}

struct Bridge {
    events: mpsc::Sender<ClientEvent>,
    up: Resampler,
    down: Resampler,
    rate: MessageRate,
}

/// Runs until the call ends or the client leaves; then tells the session the caller hung up.
pub(super) async fn run(
    mut socket: WebSocket,
    rate: SampleRate,
    events: mpsc::Sender<ClientEvent>,
    mut commands: mpsc::Receiver<ClientCommand>,
) {
    let (Ok(up), Ok(down)) = (
        Resampler::new(rate, SampleRate::Hz24k),
        Resampler::new(SampleRate::Hz24k, rate),
    ) else {
        return;
    };
    let mut bridge = Bridge {
        events,
        up,
        down,
        rate: MessageRate::default(),
    };
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            message = socket.recv() => {
                last_heard = Instant::now();
                match bridge.incoming(message).await {
                    Ok(()) => {}
                    Err(Stop::Gone) => break,
                    Err(Stop::Violation(code, message)) => {
                        let error = ServerMessage::Error { code, message };
                        let _ = send_within(&mut socket, Message::text(error.to_text())).await;
                        break;
                    }
                }
            }
            command = commands.recv() => {
                let Some(command) = command else { break };
                let ended = matches!(command, ClientCommand::Ended(_));
                if !bridge.outgoing(&mut socket, command).await || ended {
                    break;
                }
            }
            () = tokio::time::sleep_until(last_heard + IDLE_TIMEOUT) => {
                let error = ServerMessage::Error {
                    code: "connection.idle",
                    message: "no audio or messages for 30 s".to_owned(),
                };
                let _ = send_within(&mut socket, Message::text(error.to_text())).await;
                break;
            }
        }
    }
    let _ = bridge.events.send(ClientEvent::Hangup).await;
    // Let the session's closing messages (transcripts, `ended`) reach the client.
    while let Some(command) = commands.recv().await {
        if !bridge.outgoing(&mut socket, command).await {
            break;
        }
    }
    let _ = send_within(&mut socket, Message::Close(None)).await;
}

impl Bridge {
    async fn incoming(
        &mut self,
        message: Option<Result<Message, axum::Error>>,
    ) -> Result<(), Stop> {
        if !self.rate.allow() {
            return Err(Stop::Violation(
                "connection.rate_limited",
                format!(
                    "more than {} messages in one second",
                    MessageRate::MAX_PER_SECOND
                ),
            ));
        }
        let event = match message {
            Some(Ok(Message::Binary(bytes))) => self.audio(&bytes)?,
            Some(Ok(Message::Text(text))) => control(text.as_str())?,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Err(Stop::Gone),
            Some(Ok(_)) => return Ok(()),
        };
        self.events.send(event).await.map_err(|_| Stop::Gone)
    }

    fn audio(&mut self, bytes: &[u8]) -> Result<ClientEvent, Stop> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(Stop::Violation(
                "protocol.frame_too_large",
                "audio frame too large".into(),
            ));
        }
        let samples = pcm16_from_bytes(bytes).ok_or_else(|| {
            Stop::Violation(
                "protocol.bad_audio",
                "PCM16 frames need an even byte count".into(),
            )
        })?;
        metrics::counter!(telemetry::AUDIO_FRAMES_IN).increment(1);
        let mut resampled = Vec::with_capacity(samples.len() * 3 / 2);
        self.up.process(&samples, &mut resampled);
        Ok(ClientEvent::Audio(AudioChunk {
            format: AudioFormat::Pcm16 { rate: 24_000 },
            data: pcm16_to_bytes(&resampled),
        }))
    }

    /// Sends one command's frames; false when the socket failed or stalled.
    async fn outgoing(&mut self, socket: &mut WebSocket, command: ClientCommand) -> bool {
        if let ClientCommand::Audio { chunk, .. } = &command {
            let samples = pcm16_from_bytes(&chunk.data).unwrap_or_default();
            let mut resampled = Vec::with_capacity(samples.len());
            self.down.process(&samples, &mut resampled);
            if !send_within(socket, Message::binary(pcm16_to_bytes(&resampled))).await {
                return false;
            }
        }
        match ServerMessage::from_command(&command) {
            Some(message) => send_within(socket, Message::text(message.to_text())).await,
            None => true,
        }
    }
}

fn control(text: &str) -> Result<ClientEvent, Stop> {
    match serde_json::from_str::<ClientMessage>(text) {
        Ok(ClientMessage::Mark { mark }) => Ok(ClientEvent::MarkPlayed(mark)),
        Ok(ClientMessage::Dtmf { digit }) if digit.is_ascii_digit() || "*#".contains(digit) => {
            Ok(ClientEvent::Dtmf(digit))
        }
        Ok(ClientMessage::Hangup {}) => Ok(ClientEvent::Hangup),
        Ok(ClientMessage::Start { .. }) => Err(Stop::Violation(
            "protocol.duplicate_start",
            "the call has already started".into(),
        )),
        Ok(ClientMessage::Dtmf { .. }) => Err(Stop::Violation(
            "protocol.bad_dtmf",
            "digits are 0-9, * and #".into(),
        )),
        Err(error) => Err(Stop::Violation("protocol.bad_message", error.to_string())),
    }
}
