//! The provider simulator: a local server speaking the OpenAI Realtime **GA** protocol over
//! WebSocket, faithfully enough that the official `openai` Python SDK's types accept every frame
//! (`tests/peers/realtime_conformance.py` checks that), and the OpenAI-compatible HTTP endpoints
//! of the async pipeline on the same port.
//!
//! - `GET /v1/realtime?model=...`: needs `Authorization: Bearer <anything>`. A client that sends
//!   `OpenAI-Beta: realtime=v1` is closed with code 4000 `beta_api_shape_disabled`, as the real
//!   service does. Otherwise the session starts with `session.created`.
//! - Turn detection is an energy VAD on the appended audio (`vad`); each committed caller turn
//!   gets a response in the GA event order (`response`). Without a script the agent echoes the
//!   caller's turn back, so a person without an API key hears the round trip.
//! - `POST /v1/audio/transcriptions`, `POST /v1/chat/completions` (streamed or not) and
//!   `POST /v1/audio/speech` (`pipeline`): the OpenAI-compatible endpoints of the async pipeline,
//!   with the same bearer check. They answer from the same script queue as the realtime sessions
//!   (a scripted turn answers one response, whichever path asks for it).
//! - `/sim/script`, `/sim/faults`, `/sim/pipeline_faults`, `/sim/log`, `/sim/reset` (`control`):
//!   scripted replies, tool calls and faults for tests, and a log of what the simulator received
//!   and did.
//!
//! Start it in-process with [`Simulator::start`], or run `voxgate sim --port 8089`.

mod codec;
mod config;
mod control;
mod conversation;
mod event;
mod pipeline;
mod plan;
mod response;
mod session;
mod vad;

pub use control::{
    ConnectFaults, ConnectionLog, ErrorLog, ErrorSpec, ResponseLog, Script, ScriptedTurn, SimLog,
    ToolCall, TruncationLog, TurnFaults, VadLog,
};
pub use pipeline::{EndpointFaults, PipelineFaults, PipelineRequestLog};

use anyhow::Context;
use axum::{
    Json, Router,
    extract::{
        RawQuery, State,
        ws::{
            CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
        },
    },
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use control::Control;
use serde_json::json;
use std::{
    io,
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

/// Close code and reason the real service gives clients of the retired beta interface.
const BETA_CLOSE_CODE: u16 = 4000;
const BETA_CLOSE_REASON: &str = "beta_api_shape_disabled";

/// The provider simulator.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Binds `addr` (port 0 picks a free one), starts serving on the current tokio runtime and
    /// returns the handle. The simulator stops when the handle is dropped or shut down.
    pub async fn start(addr: SocketAddr) -> io::Result<SimHandle> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let control = Arc::new(Control::default());
        let (stop, stopped) = watch::channel(false);
        let router = router(control.clone(), stopped.clone());
        let mut until_stopped = stopped;
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = until_stopped.wait_for(|stop| *stop).await;
            };
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(%error, "Provider simulator stopped serving.");
            }
        });
        Ok(SimHandle {
            addr,
            control,
            stop,
            server: Some(server),
        })
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    control: Arc<Control>,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR/v1/realtime` (add `?model=...`).
    pub fn realtime_url(&self) -> String {
        format!("ws://{}/v1/realtime", self.addr)
    }

    /// `http://ADDR/v1`: an OpenAI base URL (the SDK's `websocket_base_url` is `ws://ADDR/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://ADDR/sim`: the control API.
    pub fn control_url(&self) -> String {
        format!("http://{}/sim", self.addr)
    }

    /// Queues scripted turns (as `POST /sim/script`); returns how many are queued.
    pub fn script(&self, turns: Vec<ScriptedTurn>) -> usize {
        self.control.queue(turns)
    }

    /// Sets how upgrades are refused (as `POST /sim/faults`).
    pub fn set_connect_faults(&self, faults: ConnectFaults) {
        self.control.set_connect_faults(faults);
    }

    /// Sets the faults of the pipeline endpoints (as `POST /sim/pipeline_faults`); replaces the
    /// previous setting.
    pub fn set_pipeline_faults(&self, faults: PipelineFaults) {
        self.control.set_pipeline_faults(faults);
    }

    /// What the simulator received and did (as `GET /sim/log`).
    pub fn log(&self) -> SimLog {
        self.control.log()
    }

    /// Forgets the script, the faults and the log (as `POST /sim/reset`).
    pub fn reset(&self) {
        self.control.reset();
    }

    /// Stops accepting, closes every session and waits for the server to finish.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// `voxgate sim`: runs the simulator on 127.0.0.1:`port` until Ctrl-C or SIGTERM.
pub async fn run_foreground(port: u16) -> anyhow::Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let handle = Simulator::start(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(
        realtime_url = %handle.realtime_url(),
        base_url = %handle.base_url(),
        control_url = %handle.control_url(),
        "Provider simulator listening; point an OpenAI Realtime client at the base URL."
    );
    stop_signal().await;
    handle.shutdown().await;
    tracing::info!("Provider simulator stopped.");
    Ok(())
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = terminate.recv() => {},
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[derive(Clone)]
struct Shared {
    control: Arc<Control>,
    stopped: watch::Receiver<bool>,
}

fn router(control: Arc<Control>, stopped: watch::Receiver<bool>) -> Router {
    let shared = Shared {
        control: control.clone(),
        stopped,
    };
    Router::new()
        .route("/v1/realtime", get(realtime))
        .with_state(shared.clone())
        .merge(pipeline::router(shared))
        .merge(control::router(control))
}

/// An OpenAI-style HTTP error.
fn http_error(status: StatusCode, kind: &str, code: Option<&str>, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    (status, Json(body)).into_response()
}

/// True when the request carries `Authorization: Bearer <something>`.
fn bearer_present(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|key| !key.trim().is_empty())
}

/// The 401 of a request without a key.
fn unauthorized() -> Response {
    let message = "Missing bearer or basic authentication in header";
    http_error(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        None,
        message,
    )
}

/// The answer to a request refused by an injected fault: OpenAI's rate-limit error for 429, a
/// server error otherwise, with `Retry-After` when given.
fn refusal(status: StatusCode, retry_after: Option<u64>) -> Response {
    let mut response = if status == StatusCode::TOO_MANY_REQUESTS {
        let message = "Rate limit reached for requests. Please try again later.";
        http_error(status, "requests", Some("rate_limit_exceeded"), message)
    } else {
        let message = "The server is temporarily unable to handle the request (simulated).";
        http_error(status, "server_error", None, message)
    };
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

async fn realtime(
    State(shared): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let control = shared.control;
    let reject = |status: StatusCode| {
        control.record(|log| log.rejected_connects.push(status.as_u16()));
    };
    if !bearer_present(&headers) {
        reject(StatusCode::UNAUTHORIZED);
        return unauthorized();
    }
    if let Some((status, retry_after)) = control.connect_refusal() {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        reject(status);
        return refusal(status, retry_after);
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let beta = headers
        .get_all("openai-beta")
        .iter()
        .any(|value| value.to_str().is_ok_and(|v| v.contains("realtime=v1")));
    if beta {
        control.record(|log| log.rejected_connects.push(BETA_CLOSE_CODE));
        return upgrade.on_upgrade(close_beta);
    }
    let model = query
        .as_deref()
        .and_then(|query| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "model")
                .map(|(_, value)| value.into_owned())
        })
        .unwrap_or_else(|| "gpt-realtime".to_owned());
    let stopped = shared.stopped;
    upgrade.on_upgrade(move |socket| session::run(socket, control, model, stopped))
}

/// What the real service does with a client of the retired beta interface.
async fn close_beta(mut socket: WebSocket) {
    let error = event::invalid(
        BETA_CLOSE_REASON,
        "The Realtime Beta API is no longer supported. Please use the GA API (remove the \
         'OpenAI-Beta: realtime=v1' header).",
        None,
        None,
    );
    let _ = socket.send(Message::Text(error.to_string().into())).await;
    let frame = CloseFrame {
        code: BETA_CLOSE_CODE,
        reason: BETA_CLOSE_REASON.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
    // Wait (briefly) for the client's close reply so the close frame is not lost to a reset.
    let reply = async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), reply).await;
}
