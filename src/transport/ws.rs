//! voxgate's native WebSocket transport: `GET /v1/calls/ws?token=<call token>`.
//!
//! The client sends `{"type":"start","sample_rate":16000|24000}`, then binary PCM16 audio and
//! text control messages; it receives binary agent audio, each chunk followed by a mark to echo
//! once played, and text events (see `ws/message.rs` and docs/protocol.md). Audio is resampled to
//! and from the provider's 24 kHz here. Limits: frame size, message rate, idle time; a bad frame
//! ends the call with an error event, and the call record is still written.

mod bridge;
pub mod message;

use super::{send_within, start_call};
use crate::{
    call_token::{self, Audience, CallGrant, TokenError},
    http::{ApiError, AppState},
};
use axum::{
    extract::{
        Query, State,
        ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::StatusCode,
    response::Response,
};
use message::{ClientMessage, ServerMessage};
use serde::Deserialize;
use std::time::Duration;
use time::OffsetDateTime;
use voxgate_core::{AgentSpec, audio::SampleRate, session::AudioFormat};

/// Largest accepted frame: about 1.3 s of 24 kHz PCM16.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// The provider side always runs PCM16 at 24 kHz (the GA protocol's only PCM rate).
const PROVIDER_FORMAT: AudioFormat = AudioFormat::Pcm16 { rate: 24_000 };
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Query of the upgrade request.
#[derive(Deserialize)]
pub struct CallQuery {
    /// A call token from `POST /v1/call-tokens`.
    token: String,
}

/// Opens a call over voxgate's native WebSocket protocol (docs/protocol.md). The call token is
/// checked before the upgrade; it works once.
#[utoipa::path(get, path = "/v1/calls/ws", tag = "calls", security(()),
    params(("token" = String, Query, description = "Call token from POST /v1/call-tokens")),
    responses((status = 101, description = "Switching to the call WebSocket"),
              (status = 401, description = "Invalid, expired or spent call token")))]
pub async fn connect_call(
    State(state): State<AppState>,
    Query(query): Query<CallQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "request.not_websocket",
            rejection.body_text(),
        )
    })?;
    let now = OffsetDateTime::now_utc();
    let grant = call_token::redeem(
        &state.calls.token_key,
        state.hot.as_ref(),
        &query.token,
        Audience::Ws,
        now,
    )
    .await
    .map_err(|error| match error {
        TokenError::Unavailable => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store.unavailable",
            error.to_string(),
        ),
        other => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "auth.invalid_call_token",
            other.to_string(),
        ),
    })?;
    let agent = state
        .durable
        .get_agent(grant.tenant_id, &grant.agent)
        .await?
        .spec;
    Ok(upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| serve_call(socket, state, grant, agent)))
}

async fn send(socket: &mut WebSocket, message: &ServerMessage) -> bool {
    send_within(socket, Message::text(message.to_text())).await
}

async fn fail(socket: &mut WebSocket, code: &'static str, message: impl Into<String>) {
    let message = ServerMessage::Error {
        code,
        message: message.into(),
    };
    let _ = send(socket, &message).await;
    let _ = send_within(socket, Message::Close(None)).await;
}

/// Waits for the start message and returns the client's sample rate.
async fn await_start(socket: &mut WebSocket) -> Option<SampleRate> {
    let first = tokio::time::timeout(START_TIMEOUT, socket.recv()).await;
    let text = match first {
        Ok(Some(Ok(Message::Text(text)))) => text,
        Ok(Some(Ok(_))) => {
            fail(
                socket,
                "protocol.start_expected",
                "send the start message first",
            )
            .await;
            return None;
        }
        Ok(_) => return None,
        Err(_) => {
            fail(
                socket,
                "protocol.start_timeout",
                "no start message within 10 s",
            )
            .await;
            return None;
        }
    };
    match serde_json::from_str::<ClientMessage>(text.as_str()) {
        Ok(ClientMessage::Start {
            sample_rate: 16_000,
        }) => Some(SampleRate::Hz16k),
        Ok(ClientMessage::Start {
            sample_rate: 24_000,
        }) => Some(SampleRate::Hz24k),
        _ => {
            let message =
                "the first message must be {\"type\":\"start\",\"sample_rate\":16000|24000}";
            fail(socket, "protocol.bad_start", message).await;
            None
        }
    }
}

async fn serve_call(mut socket: WebSocket, state: AppState, grant: CallGrant, agent: AgentSpec) {
    let Some(rate) = await_start(&mut socket).await else {
        return;
    };
    let call = start_call(&state, &grant, &agent, PROVIDER_FORMAT, "ws", None).await;
    let started = ServerMessage::Started {
        call_id: call.call_id.to_string(),
        agent: agent.name.clone(),
        sample_rate: rate.hz(),
    };
    if send(&mut socket, &started).await {
        let _ = send(&mut socket, &ServerMessage::Mode { mode: call.mode }).await;
        bridge::run(socket, rate, call.events, call.commands).await;
    }
    let _ = call.driver.await;
    tracing::info!(call_id = %call.call_id, "Call finished.");
}
