//! Carrier media streams: Twilio Media Streams and Telnyx media streaming over WebSocket
//! (`GET /v1/telephony/twilio/stream`, `GET /v1/telephony/telnyx/stream`).
//!
//! The carrier connects after our voice webhook answered with a `<Stream>` carrying a call token
//! as a custom parameter; the token arrives in the `start` frame and is redeemed there. G.711
//! passes through untouched in both directions (the provider session uses the same encoding).
//! Agent audio goes out as `media` followed by a `mark`; the carrier echoes marks as audio
//! finishes playing, which is how the session knows what the caller heard. Barge-in sends `clear`.

pub mod frame;
mod reorder;

use super::{MessageRate, send_within, start_call};
use crate::{
    call_token::{self, Audience, CallGrant},
    http::AppState,
};
use axum::{
    extract::{
        State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    response::Response,
};
use frame::{Dialect, Inbound};
use reorder::Reorder;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::{sync::mpsc, time::Instant};
use voxgate_core::session::{AudioChunk, AudioFormat, ClientCommand, ClientEvent};

/// Largest accepted frame (Telnyx may send up to 30 s of audio in one frame back, but inbound
/// frames are 20 ms; 64 KiB is generous).
const MAX_FRAME_BYTES: usize = 64 * 1024;
const START_TIMEOUT: Duration = Duration::from_secs(10);
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Twilio's media stream WebSocket.
#[utoipa::path(get, path = "/v1/telephony/twilio/stream", tag = "telephony", security(()),
    responses((status = 101, description = "Twilio Media Streams protocol; authenticated by the call token in the start frame")))]
pub async fn twilio_stream(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    accept(state, upgrade, Dialect::Twilio)
}

/// Telnyx's media stream WebSocket.
#[utoipa::path(get, path = "/v1/telephony/telnyx/stream", tag = "telephony", security(()),
    responses((status = 101, description = "Telnyx media streaming protocol; authenticated by the call token in the start frame")))]
pub async fn telnyx_stream(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    accept(state, upgrade, Dialect::Telnyx)
}

fn accept(state: AppState, upgrade: WebSocketUpgrade, dialect: Dialect) -> Response {
    upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| serve(socket, state, dialect))
}

/// What the `start` frame established.
struct Started {
    stream_id: String,
    grant: CallGrant,
    format: AudioFormat,
    caller: Option<String>,
}

/// Reads up to the `start` frame and redeems its call token.
async fn await_start(
    socket: &mut WebSocket,
    state: &AppState,
    dialect: Dialect,
) -> Option<Started> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.recv())
            .await
            .ok()??
            .ok()?;
        let Message::Text(text) = message else {
            continue;
        };
        match dialect.parse(text.as_str()) {
            Ok(Inbound::Connected | Inbound::Other) => {}
            Ok(Inbound::Start {
                stream_id,
                mut parameters,
                format,
            }) => {
                let token = parameters.remove("token").unwrap_or_default();
                let now = OffsetDateTime::now_utc();
                let audience = match dialect {
                    Dialect::Twilio => Audience::Twilio,
                    Dialect::Telnyx => Audience::Telnyx,
                };
                let keys = &state.calls.token_key;
                let redeemed = call_token::redeem(keys, state.hot.as_ref(), &token, audience, now);
                let grant = match redeemed.await {
                    Ok(grant) => grant,
                    Err(error) => {
                        tracing::warn!(transport = dialect.name(), %error, "Media stream refused.");
                        return None;
                    }
                };
                // Only the signed token vouches for the caller's number; a stream parameter
                // could say anything.
                let caller = grant.caller.clone();
                return Some(Started {
                    stream_id,
                    grant,
                    format,
                    caller,
                });
            }
            Ok(_) | Err(_) => {
                tracing::warn!(
                    transport = dialect.name(),
                    "Media stream sent media before start."
                );
                return None;
            }
        }
    }
}

async fn serve(mut socket: WebSocket, state: AppState, dialect: Dialect) {
    let Some(started) = await_start(&mut socket, &state, dialect).await else {
        let _ = send_within(&mut socket, Message::Close(None)).await;
        return;
    };
    let agent = match state
        .durable
        .get_agent(started.grant.tenant_id, &started.grant.agent)
        .await
    {
        Ok(record) => record.spec,
        Err(error) => {
            tracing::warn!(code = error.code(), "Media stream for an unknown agent.");
            let _ = send_within(&mut socket, Message::Close(None)).await;
            return;
        }
    };
    let call = start_call(
        &state,
        &started.grant,
        &agent,
        started.format,
        dialect.name(),
        started.caller,
    )
    .await;
    let link = Link {
        dialect,
        stream_id: started.stream_id,
        format: started.format,
    };
    link.run(socket, call.events, call.commands).await;
    let _ = call.driver.await;
    tracing::info!(call_id = %call.call_id, "Call finished.");
}

/// The running stream of one call.
struct Link {
    dialect: Dialect,
    stream_id: String,
    format: AudioFormat,
}

impl Link {
    async fn run(
        &self,
        mut socket: WebSocket,
        events: mpsc::Sender<ClientEvent>,
        mut commands: mpsc::Receiver<ClientCommand>,
    ) {
        let mut reorder = Reorder::default();
        let mut rate = MessageRate::default();
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                message = socket.recv() => {
                    last_heard = Instant::now();
                    let Some(Ok(Message::Text(text))) = message else {
                        if matches!(message, Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_)))) {
                            continue;
                        }
                        break;
                    };
                    if !self.inbound(text.as_str(), &mut reorder, &mut rate, &events).await {
                        break;
                    }
                }
                command = commands.recv() => {
                    let Some(command) = command else { break };
                    if !self.outbound(&mut socket, command).await {
                        break;
                    }
                }
                () = tokio::time::sleep_until(last_heard + IDLE_TIMEOUT) => break,
            }
        }
        let _ = events.send(ClientEvent::Hangup).await;
        while let Some(command) = commands.recv().await {
            if !self.outbound(&mut socket, command).await {
                break;
            }
        }
        let _ = send_within(&mut socket, Message::Close(None)).await;
    }

    /// Handles one carrier frame; false ends the stream.
    async fn inbound(
        &self,
        text: &str,
        reorder: &mut Reorder,
        rate: &mut MessageRate,
        events: &mpsc::Sender<ClientEvent>,
    ) -> bool {
        let frame = match self.dialect.parse(text) {
            Ok(frame) => frame,
            Err(error) => {
                tracing::warn!(transport = self.dialect.name(), %error, "Bad media stream frame.");
                return false;
            }
        };
        // Only media counts against the rate: after a `clear` a carrier returns every pending
        // mark at once, which is legitimate.
        if matches!(frame, Inbound::Media { .. }) && !rate.allow() {
            tracing::warn!(
                transport = self.dialect.name(),
                "Media stream over its message rate."
            );
            return false;
        }
        let (chunks, go_on) = match frame {
            Inbound::Media {
                seq: Some(seq),
                payload,
            } => (reorder.push(seq, payload), true),
            Inbound::Media { seq: None, payload } => (vec![payload], true),
            // The stream ends: what is still held is late, but better late than lost.
            Inbound::Stop => (reorder.flush(), false),
            Inbound::Mark { name } => {
                let Ok(mark) = name.parse() else { return true };
                return events.send(ClientEvent::MarkPlayed(mark)).await.is_ok();
            }
            Inbound::Dtmf { digit } => return events.send(ClientEvent::Dtmf(digit)).await.is_ok(),
            Inbound::Connected | Inbound::Start { .. } | Inbound::Other => return true,
        };
        for data in chunks {
            metrics::counter!(crate::telemetry::AUDIO_FRAMES_IN).increment(1);
            let chunk = AudioChunk {
                format: self.format,
                data,
            };
            if events.send(ClientEvent::Audio(chunk)).await.is_err() {
                return false;
            }
        }
        go_on
    }

    /// Sends one session command; false ends the stream.
    async fn outbound(&self, socket: &mut WebSocket, command: ClientCommand) -> bool {
        let frames = match &command {
            ClientCommand::Audio { chunk, mark } => vec![
                self.dialect.media(&self.stream_id, &chunk.data),
                self.dialect.mark(&self.stream_id, &mark.to_string()),
            ],
            ClientCommand::ClearPlayback => vec![self.dialect.clear(&self.stream_id)],
            ClientCommand::Ended(_) => return false,
            ClientCommand::AgentSpeaking(_)
            | ClientCommand::Transcript { .. }
            | ClientCommand::Mode(_)
            | ClientCommand::Transfer { .. } => return true,
        };
        for frame in frames {
            if !send_within(socket, Message::text(frame)).await {
                return false;
            }
        }
        true
    }
}
