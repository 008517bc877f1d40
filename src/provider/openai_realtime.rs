//! The OpenAI Realtime GA client: one WebSocket per call, driven as a task that turns
//! [`ProviderCommand`]s into client events and server events into [`ProviderEvent`]s.
//!
//! It connects with bearer auth (no `OpenAI-Beta` header: GA only), sends the agent's
//! `session.update`, then relays. It has no retry loop of its own and makes no decisions: a
//! failed connect is returned classified, a lost socket becomes [`ProviderEvent::Closed`], and a
//! beta-era event ends the link as a terminal protocol error. Works against any compatible
//! endpoint, including voxgate's own simulator.

pub mod codec;

use crate::secret::Secret;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{
    self, Message, client::IntoClientRequest, http::header::AUTHORIZATION,
};
use voxgate_core::{
    AgentSpec,
    session::{AudioFormat, ErrorClass, ProviderCommand, ProviderEvent},
};

/// Where and how to reach a realtime endpoint.
#[derive(Clone, Debug)]
pub struct RealtimeEndpoint {
    /// WebSocket URL up to the path, e.g. `wss://api.openai.com/v1/realtime`.
    pub url: String,
    /// Bearer key.
    pub api_key: Secret,
    /// Model name, passed through unvalidated.
    pub model: String,
}

/// A connect that failed, with its retry class.
#[derive(Debug, thiserror::Error)]
#[error("realtime connect failed ({code}): {message}")]
pub struct ConnectError {
    /// Retry class.
    pub class: ErrorClass,
    /// Stable code: `provider.unauthorized`, `provider.rate_limited`, `provider.unreachable`, ...
    pub code: &'static str,
    /// Detail for the log (never contains the key).
    pub message: String,
    /// The provider's `Retry-After`, when it refused with one.
    pub retry_after: Option<std::time::Duration>,
}

/// The call's side of a running provider link.
#[derive(Debug)]
pub struct RealtimeLink {
    /// Commands to the provider. Dropping it closes the link.
    pub commands: mpsc::Sender<ProviderCommand>,
    /// Events from the provider; ends after `Closed`.
    pub events: mpsc::Receiver<ProviderEvent>,
}

const CHANNEL_DEPTH: usize = 512;

/// Connects, configures the session for `agent` with `format` audio both ways, and spawns the
/// relay task.
pub async fn connect(
    endpoint: &RealtimeEndpoint,
    agent: &AgentSpec,
    format: AudioFormat,
) -> Result<RealtimeLink, ConnectError> {
    let url = format!("{}?model={}", endpoint.url, endpoint.model);
    let mut request = url.into_client_request().map_err(|error| ConnectError {
        class: ErrorClass::Terminal,
        code: "provider.bad_url",
        message: error.to_string(),
        retry_after: None,
    })?;
    let bearer = format!("Bearer {}", endpoint.api_key.expose());
    let bearer = bearer.parse().map_err(|_| ConnectError {
        class: ErrorClass::Terminal,
        code: "provider.bad_key",
        message: "the API key is not valid header text".to_owned(),
        retry_after: None,
    })?;
    request.headers_mut().insert(AUTHORIZATION, bearer);
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(classify_connect_error)?;
    let update = codec::session_update(agent, &endpoint.model, format);
    socket
        .send(Message::text(update))
        .await
        .map_err(classify_connect_error)?;
    let (commands, command_rx) = mpsc::channel(CHANNEL_DEPTH);
    let (event_tx, events) = mpsc::channel(CHANNEL_DEPTH);
    tokio::spawn(relay(socket, command_rx, event_tx, format));
    Ok(RealtimeLink { commands, events })
}

fn classify_connect_error(error: tungstenite::Error) -> ConnectError {
    let retry_after = match &error {
        tungstenite::Error::Http(response) => response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(std::time::Duration::from_secs),
        _ => None,
    };
    let (class, code) = match &error {
        tungstenite::Error::Http(response) => match response.status().as_u16() {
            401 | 403 => (ErrorClass::Terminal, "provider.unauthorized"),
            429 => (ErrorClass::Retryable, "provider.rate_limited"),
            400..=499 => (ErrorClass::Terminal, "provider.rejected"),
            _ => (ErrorClass::Retryable, "provider.server_error"),
        },
        _ => (ErrorClass::Retryable, "provider.unreachable"),
    };
    ConnectError {
        class,
        code,
        message: error.to_string(),
        retry_after,
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Relays until either side ends; always finishes with `Closed` unless the call hung up first.
async fn relay(
    mut socket: Socket,
    mut commands: mpsc::Receiver<ProviderCommand>,
    events: mpsc::Sender<ProviderEvent>,
    format: AudioFormat,
) {
    let closed = loop {
        tokio::select! {
            command = commands.recv() => match command {
                None | Some(ProviderCommand::Close) => {
                    let _ = socket.close(None).await;
                    return;
                }
                Some(command) => {
                    let Some(text) = codec::encode(&command) else { continue };
                    if socket.send(Message::text(text)).await.is_err() {
                        break ErrorClass::Retryable;
                    }
                }
            },
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if let Some(class) = forward(&text, format, &events).await {
                        let _ = socket.close(None).await;
                        break class;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map(|f| u16::from(f.code)).unwrap_or(1005);
                    tracing::warn!(code, "Realtime provider closed the session.");
                    break if code == 4000 { ErrorClass::Terminal } else { ErrorClass::Retryable };
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    tracing::warn!(%error, "Realtime provider socket failed.");
                    break ErrorClass::Retryable;
                }
                None => break ErrorClass::Retryable,
            },
        }
    };
    let _ = events.send(ProviderEvent::Closed { class: closed }).await;
}

/// Decodes and forwards one frame; returns a class when the link must end.
async fn forward(
    text: &str,
    format: AudioFormat,
    events: &mpsc::Sender<ProviderEvent>,
) -> Option<ErrorClass> {
    match codec::decode(text, format) {
        Ok(Some(event)) => events.send(event).await.err().map(|_| ErrorClass::Terminal),
        Ok(None) => None,
        Err(codec::ProtocolError::BetaEvent(name)) => {
            tracing::error!(event = %name, "Realtime provider speaks the retired beta protocol.");
            let error = ProviderEvent::Error {
                class: ErrorClass::Terminal,
                code: "protocol.beta_event".to_owned(),
            };
            let _ = events.send(error).await;
            Some(ErrorClass::Terminal)
        }
        Err(codec::ProtocolError::Refused(code)) => {
            tracing::warn!(%code, "Realtime provider refused a client event.");
            None
        }
        Err(error) => {
            tracing::warn!(%error, "Realtime provider sent a frame we cannot read.");
            let error = ProviderEvent::Error {
                class: ErrorClass::Retryable,
                code: "protocol.malformed".to_owned(),
            };
            events.send(error).await.err().map(|_| ErrorClass::Terminal)
        }
    }
}
