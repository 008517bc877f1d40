//! Transports: each turns one wire protocol's frames into session events and session commands
//! back into frames. No business decisions live here; the session makes them.
//!
//! - [`ws`]: voxgate's native WebSocket (`GET /v1/calls/ws`), JSON control + binary PCM16.
//! - [`media_stream`]: carrier media streams (Twilio, Telnyx): JSON frames with base64 G.711.
//! - [`webrtc`]: WebRTC (str0m), WHIP-style signalling; Opus or G.711 over one UDP socket.
//! - [`sip`]: SIP trunks over UDP (a UAS), G.711 or Opus over RTP.
//! - [`opus`]: the Opus settings WebRTC and SIP share.
//!
//! [`start_call`] is what every transport does once it knows who is calling which agent:
//! connect the provider, build the session, and spawn the call's driver.

pub mod media_stream;
pub(crate) mod opus;
pub mod sip;
pub mod webrtc;
pub mod ws;

use crate::{
    call_token::CallGrant,
    driver::{self, CallContext, CallStores, TransportLink},
    http::AppState,
};
use std::time::Duration;
use tokio::{sync::mpsc, task::JoinHandle};
use uuid::Uuid;
use voxgate_core::{
    AgentSpec,
    agent::WhenAllDown,
    session::{
        AllDownPolicy, AudioFormat, ClientCommand, ClientEvent, FailoverConfig, Path, Session,
        SessionConfig,
    },
};

/// Counts client messages per one-second window; more than [`MessageRate::MAX_PER_SECOND`]
/// breaks the connection's limit.
#[derive(Debug)]
pub struct MessageRate {
    window_start: tokio::time::Instant,
    count: u32,
}

impl Default for MessageRate {
    fn default() -> Self {
        Self {
            window_start: tokio::time::Instant::now(),
            count: 0,
        }
    }
}

impl MessageRate {
    /// Messages allowed per second: 50 frames of 20 ms audio a second, plus room for a burst
    /// after a network stall (a few seconds of frames arriving at once).
    pub const MAX_PER_SECOND: u32 = 500;

    /// Counts one message; false once the window's limit is exceeded.
    pub fn allow(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.count = 0;
        }
        self.count += 1;
        self.count <= Self::MAX_PER_SECOND
    }
}

/// A socket write that takes longer than this means the peer stopped reading.
const SOCKET_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends within [`SOCKET_SEND_TIMEOUT`]; false if the socket failed or the peer stalled.
pub async fn send_within(
    socket: &mut axum::extract::ws::WebSocket,
    message: axum::extract::ws::Message,
) -> bool {
    matches!(
        tokio::time::timeout(SOCKET_SEND_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// Depth of the channels between a transport and its call's driver.
const CHANNEL_DEPTH: usize = 256;

/// A started call, from the transport's side.
pub struct StartedCall {
    /// The call id.
    pub call_id: Uuid,
    /// Events for the session.
    pub events: mpsc::Sender<ClientEvent>,
    /// Commands from the session.
    pub commands: mpsc::Receiver<ClientCommand>,
    /// The driver task; it ends once the call's records are written.
    pub driver: JoinHandle<()>,
    /// The mode the call starts in: `realtime`, or `pipeline` when no realtime provider could
    /// take it.
    pub mode: &'static str,
}

/// Opens the agent's first healthy path (a realtime provider, else the async pipeline) with
/// `format` audio and spawns the call. A call is never refused for a provider outage: the
/// pipeline, and at worst the apology line, take it.
pub async fn start_call(
    state: &AppState,
    grant: &CallGrant,
    agent: &AgentSpec,
    format: AudioFormat,
    transport: &'static str,
    caller: Option<String>,
) -> StartedCall {
    let options = CallOptions::default();
    start_call_with(state, grant, agent, format, transport, caller, options).await
}

/// What a transport can do beyond carrying audio.
#[derive(Clone, Debug, Default)]
pub struct CallOptions {
    /// The transport can transfer the caller (SIP): the agent's `transfer_call` tool is offered.
    pub can_transfer: bool,
    /// The number the caller dialled, stored with the call (SIP's Request-URI user).
    pub called: Option<String>,
}

/// [`start_call`] for a transport with `options`.
pub async fn start_call_with(
    state: &AppState,
    grant: &CallGrant,
    agent: &AgentSpec,
    format: AudioFormat,
    transport: &'static str,
    caller: Option<String>,
    options: CallOptions,
) -> StartedCall {
    // The built-in call-control tools are declared to every path like the agent's own tools;
    // the session carries them out, so they have no webhook.
    let mut agent = agent.clone();
    let builtin = agent.call_control_tools(options.can_transfer);
    agent.tools.extend(builtin);
    let agent = std::sync::Arc::new(agent);
    let paths = std::sync::Arc::new(driver::CallPaths {
        agent: agent.clone(),
        format,
        routes: state.calls.providers.routes(&agent),
        health: state.calls.health.clone(),
        timeouts: state.calls.stage_timeouts,
    });
    paths.register_probes();
    let (path, provider) = paths.open_first().await;
    let (provider_name, model) = paths.provider_and_model(path);
    let call_id = Uuid::new_v4();
    let session = Session::new(
        tokio::time::Instant::now().into_std(),
        SessionConfig {
            greeting: agent.greeting.clone(),
            max_duration: Duration::from_secs(agent.budget.max_call_seconds.into()),
            provider_session_max: state.calls.provider_session_max,
            failover: failover_config(&agent, paths.realtime_count(), path),
            call_control: agent.call_control.clone(),
            can_transfer: options.can_transfer,
            ..SessionConfig::default()
        },
    );
    let (events, event_rx) = mpsc::channel(CHANNEL_DEPTH);
    let (command_tx, commands) = mpsc::channel(CHANNEL_DEPTH);
    let context = CallContext {
        call_id,
        tenant_id: grant.tenant_id,
        agent: agent.name.clone(),
        transport,
        caller,
        called: options.called,
        node: state.calls.node.clone(),
        provider: provider_name,
        model,
        tools: std::sync::Arc::new(
            agent
                .tools
                .iter()
                .map(|tool| (tool.name.clone(), tool.webhook.clone()))
                .collect(),
        ),
        paths,
    };
    let stores = CallStores {
        durable: state.durable.clone(),
        hot: state.hot.clone(),
    };
    tracing::info!(%call_id, agent = %agent.name, transport, mode = path.mode(), "Call started.");
    let link = TransportLink {
        events: event_rx,
        commands: command_tx,
    };
    let driver = tokio::spawn(driver::run(context, stores, session, link, provider, path));
    StartedCall {
        call_id,
        events,
        commands,
        driver,
        mode: path.mode(),
    }
}

/// The session's failover settings from the agent's limits and policy.
fn failover_config(agent: &AgentSpec, realtime_paths: usize, initial_path: Path) -> FailoverConfig {
    let ms = |value: u32| Duration::from_millis(value.into());
    let policy = &agent.failover;
    FailoverConfig {
        realtime_paths,
        initial_path,
        first_audio: ms(agent.latency.first_audio_ms),
        stall: ms(agent.latency.stall_ms),
        p95: ms(agent.latency.p95_ms),
        filler_after: ms(agent.latency.filler_after_ms),
        recover_hold: ms(policy.recover_after_ms),
        all_down: match policy.when_all_down {
            WhenAllDown::KeepCall => AllDownPolicy::KeepCall,
            WhenAllDown::EndCall => AllDownPolicy::EndCall,
        },
        filler_text: policy.filler_line.clone(),
        apology_text: policy.apology_line.clone(),
    }
}
