//! The per-call run loop: the one place where a [`Session`], its transport and its provider meet.
//!
//! One task per call owns the session (`&mut`, no locks). After every input it drains the
//! session's outputs until a timeout, carrying each to the provider link, the transport, the
//! persistence writer, or metrics. Store writes go through a per-call writer task, so the audio
//! path never waits for a database.

mod lines;
mod paths;
mod persist;
mod provider_link;
mod switch;
mod tool;

use crate::{
    health::HealthChange,
    provider::{ProviderLink, openai_realtime::ConnectError},
    store::LiveCall,
    telemetry,
};
use futures_util::FutureExt;
pub use paths::CallPaths;
pub use persist::CallStores;
use persist::{Job, Writer};
use std::sync::OnceLock;
use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};
use time::OffsetDateTime;
use tokio::{
    sync::{broadcast, mpsc, watch},
    time::Instant,
};
pub use tool::ToolWebhooks;
use uuid::Uuid;
use voxgate_core::{
    FailureMode, Severity,
    session::{
        AudioChunk, ClientCommand, ClientEvent, ErrorClass, IncidentReport, Line, Output, Path,
        PersistCommand, ProviderEvent, Session,
    },
};

/// Who and what the call is.
#[derive(Clone, Debug)]
pub struct CallContext {
    /// Call id.
    pub call_id: Uuid,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Agent name.
    pub agent: String,
    /// `ws`, `twilio`, `telnyx`, ...
    pub transport: &'static str,
    /// Caller identity, if the transport knows it (personal data: stored, never logged).
    pub caller: Option<String>,
    /// The number the caller dialled, where the transport knows it (SIP).
    pub called: Option<String>,
    /// This node's name, for the live call registry.
    pub node: String,
    /// Provider name of the path the call starts on (for usage records).
    pub provider: String,
    /// Model of that path (for usage records).
    pub model: String,
    /// The agent's tools and their webhooks.
    pub tools: ToolWebhooks,
    /// The call's paths: how to open each, through provider health.
    pub paths: std::sync::Arc<CallPaths>,
}

/// The call's side of a transport connection.
#[derive(Debug)]
pub struct TransportLink {
    /// What the caller's side did; closing means the caller is gone.
    pub events: mpsc::Receiver<ClientEvent>,
    /// What to send to the caller's side.
    pub commands: mpsc::Sender<ClientCommand>,
}

/// Calls running in this process; shutdown waits for it to reach zero (up to a grace period).
static ACTIVE_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Calls in progress in this process.
pub fn active_calls() -> usize {
    ACTIVE_CALLS.load(Ordering::Relaxed)
}

/// Flips once, when every call must end (shutdown past its grace period).
fn shutdown_signal() -> &'static watch::Sender<bool> {
    static SIGNAL: OnceLock<watch::Sender<bool>> = OnceLock::new();
    SIGNAL.get_or_init(|| watch::channel(false).0)
}

/// Ends every call in progress; each still writes its end record.
pub fn end_all_calls() {
    shutdown_signal().send_replace(true);
}

/// How long a live call entry lives without a refresh.
const LIVE_TTL: Duration = Duration::from_secs(120);
/// How often the live call entry is refreshed.
const LIVE_REFRESH: Duration = Duration::from_secs(40);
/// How often a call off its preferred provider re-reads that provider's health.
const HEALTH_POLL: Duration = Duration::from_secs(5);
/// After a call ends mid-response, how long to wait for the cancelled response's usage.
const USAGE_LINGER: Duration = Duration::from_secs(2);
/// A peer (transport or provider link) that takes longer than this to accept a message is
/// stalled: the call stops waiting for it rather than freeze.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the call to its end. Returns once the session is closed and its records are written.
pub async fn run(
    context: CallContext,
    stores: CallStores,
    session: Session,
    transport: TransportLink,
    provider: ProviderLink,
    path: Path,
) {
    let writer = Writer::spawn(stores.clone(), context.clone());
    writer.send(Job::Started(OffsetDateTime::now_utc()));
    let mut live = live_entry(&context);
    live.mode = path.mode().to_owned();
    register(&stores, &live).await;
    ACTIVE_CALLS.fetch_add(1, Ordering::Relaxed);
    metrics::gauge!(telemetry::CALLS_ACTIVE).increment(1.0);
    let (tool_done, tool_results) = mpsc::channel(16);
    let (renewal_done, renewals) = mpsc::channel(1);
    let (switch_done, switches) = mpsc::channel(4);
    let (line_done, line_audio) = mpsc::channel(4);
    let health_changes = context.paths.health.subscribe();
    lines::prepare(&context.paths, line_done);
    let mut call = Call {
        session,
        transport,
        provider,
        writer,
        context,
        tool_done,
        tool_results,
        renewal_done,
        renewals,
        transport_open: true,
        provider_open: true,
        client_stalled: false,
        provider_stalled: false,
        refresh: tokio::time::interval_at(Instant::now() + LIVE_REFRESH, LIVE_REFRESH),
        stores: stores.clone(),
        live,
        shutdown: shutdown_signal().subscribe(),
        cancel_sent: false,
        close_deferred: false,
        path,
        generation: 0,
        switch_done,
        switches,
        health_changes,
        line_audio,
        response_started: None,
        response_audio_seen: false,
        health_poll: tokio::time::interval_at(Instant::now() + HEALTH_POLL, HEALTH_POLL),
    };
    call.report_initial_health();
    call.run_loop().await;
    call.settle_usage().await;
    metrics::gauge!(telemetry::CALLS_ACTIVE).decrement(1.0);
    ACTIVE_CALLS.fetch_sub(1, Ordering::Relaxed);
    let Call {
        context, writer, ..
    } = call;
    if let Err(error) = stores
        .hot
        .unregister_call(context.tenant_id, context.call_id)
        .await
    {
        tracing::warn!(call_id = %context.call_id, %error, "Cannot unregister the live call.");
    }
    writer.finish().await;
}

fn live_entry(context: &CallContext) -> LiveCall {
    LiveCall {
        call_id: context.call_id,
        tenant_id: context.tenant_id,
        agent: context.agent.clone(),
        node: context.node.clone(),
        mode: "realtime".to_owned(),
        started_at: OffsetDateTime::now_utc(),
    }
}

async fn register(stores: &CallStores, live: &LiveCall) {
    if let Err(error) = stores.hot.register_call(live, LIVE_TTL).await {
        tracing::warn!(call_id = %live.call_id, %error, "Cannot register the live call.");
    }
}

/// One call's moving parts, owned by its task.
struct Call {
    session: Session,
    transport: TransportLink,
    provider: ProviderLink,
    writer: Writer,
    context: CallContext,
    tool_done: mpsc::Sender<tool::ToolDone>,
    tool_results: mpsc::Receiver<tool::ToolDone>,
    /// Renewed provider sessions, tagged with the switch number they were asked for under.
    renewal_done: mpsc::Sender<(u64, Result<ProviderLink, ConnectError>)>,
    renewals: mpsc::Receiver<(u64, Result<ProviderLink, ConnectError>)>,
    transport_open: bool,
    provider_open: bool,
    /// The transport stopped taking commands in time; it gets no more.
    client_stalled: bool,
    /// The provider link stopped taking commands in time; it gets no more.
    provider_stalled: bool,
    refresh: tokio::time::Interval,
    stores: CallStores,
    live: LiveCall,
    shutdown: watch::Receiver<bool>,
    /// The session cancelled a response (it does so only when the call ends mid-response).
    cancel_sent: bool,
    /// The provider link's close waits for that response's usage.
    close_deferred: bool,
    /// The path the provider link belongs to.
    path: Path,
    /// Counts switches: a result from an earlier one is stale.
    generation: u64,
    switch_done: mpsc::Sender<switch::SwitchResult>,
    switches: mpsc::Receiver<switch::SwitchResult>,
    /// Breaker changes of every provider in the process.
    health_changes: broadcast::Receiver<HealthChange>,
    /// Synthesised audio of the fixed lines.
    line_audio: mpsc::Receiver<(Line, AudioChunk)>,
    /// When the realtime response in progress started (for its latency, fed to its breaker).
    response_started: Option<Instant>,
    response_audio_seen: bool,
    /// Re-reads provider health while the call is off its preferred provider.
    health_poll: tokio::time::Interval,
}

impl Call {
    async fn run_loop(&mut self) {
        let mut handling_started: Option<Instant> = None;
        loop {
            let Some(deadline) = self.drain().await else {
                return;
            };
            if let Some(started) = handling_started.take() {
                metrics::histogram!(telemetry::EVENT_HANDLING_SECONDS)
                    .record(started.elapsed().as_secs_f64());
            }
            self.next_input(deadline).await;
            handling_started = Some(Instant::now());
        }
    }

    /// Waits for the next input (or the deadline) and hands it to the session.
    async fn next_input(&mut self, deadline: std::time::Instant) {
        tokio::select! {
            event = self.transport.events.recv(), if self.transport_open => {
                let now = Instant::now().into_std();
                let event = event.unwrap_or_else(|| {
                    self.transport_open = false;
                    ClientEvent::Hangup
                });
                self.session.handle_client(now, event);
            }
            event = self.provider.events.recv(), if self.provider_open => {
                let now = Instant::now().into_std();
                let event = event.unwrap_or_else(|| {
                    self.provider_open = false;
                    ProviderEvent::Closed { class: ErrorClass::Retryable }
                });
                self.observe_provider(&event);
                self.session.handle_provider(now, event);
            }
            Some(result) = self.switches.recv() => self.finish_switch(result),
            change = self.health_changes.recv() => self.health_changed(change),
            Some((line, audio)) = self.line_audio.recv() => self.session.set_line_audio(line, audio),
            Some(done) = self.tool_results.recv() => {
                if let Some(code) = done.failure {
                    report_tool_failure(&self.writer, code);
                }
                let now = Instant::now().into_std();
                self.session.handle_tool_result(now, done.call_id, done.output);
            }
            Some((generation, renewal)) = self.renewals.recv() => {
                self.switch_provider(generation, renewal);
            }
            Ok(()) = self.shutdown.wait_for(|stop| *stop).map(|r| r.map(|_| ())) => {
                self.session.shut_down(Instant::now().into_std());
            }
            _ = self.health_poll.tick(), if self.path != Path::Realtime(0) => {
                // Off the preferred provider: ask again whether it is healthy, so a call that
                // left it for its own reasons (its breaker never opened) can return to it.
                self.report_initial_health();
            }
            _ = self.refresh.tick() => {
                // In its own task: a slow hot store must not hold up the call.
                let (stores, live) = (self.stores.clone(), self.live.clone());
                tokio::spawn(async move { register(&stores, &live).await });
            }
            () = tokio::time::sleep_until(Instant::from_std(deadline)) => {
                self.session.handle_timeout(Instant::now().into_std());
            }
        }
    }
}

fn report_tool_failure(writer: &Writer, code: &'static str) {
    let report = IncidentReport {
        mode: FailureMode::ToolFailure,
        severity: Severity::Warning,
        action: "error_given_to_model",
        detail: serde_json::json!({ "code": code }),
    };
    telemetry::record_incident(report.mode.as_str(), report.action);
    writer.send(Job::Incident(report, OffsetDateTime::now_utc()));
}

impl Call {
    /// Carries outputs until the session waits; `None` once it is closed.
    async fn drain(&mut self) -> Option<std::time::Instant> {
        loop {
            match self.session.poll_output() {
                Output::Timeout(deadline) => return Some(deadline),
                Output::Closed => return None,
                Output::Provider(command) => self.send_to_provider(command).await,
                Output::Client(command) => self.send_to_client(command).await,
                Output::Persist(command) => self.persist(command),
                Output::Incident(report) => {
                    telemetry::record_incident(report.mode.as_str(), report.action);
                    self.writer
                        .send(Job::Incident(report, OffsetDateTime::now_utc()));
                }
                Output::Measure(measurement) => telemetry::record_measurement(measurement),
                Output::Tool(request) => {
                    let context = &self.context;
                    tool::spawn(
                        request,
                        context.call_id,
                        &context.tools,
                        self.tool_done.clone(),
                    );
                }
                Output::RenewProvider(seed) => self.renew(seed),
                Output::Switch { to, reason } => self.begin_switch(to, reason),
            }
        }
    }

    async fn send_to_client(&mut self, command: ClientCommand) {
        if self.client_stalled {
            return;
        }
        if matches!(command, ClientCommand::Audio { .. }) {
            metrics::counter!(telemetry::AUDIO_FRAMES_OUT).increment(1);
        }
        let sent = self
            .transport
            .commands
            .send_timeout(command, SEND_TIMEOUT)
            .await;
        if let Err(mpsc::error::SendTimeoutError::Timeout(_)) = sent {
            tracing::warn!(call_id = %self.context.call_id, "Caller connection stalled; ending the call.");
            self.client_stalled = true;
            self.session
                .handle_client(Instant::now().into_std(), ClientEvent::Hangup);
        }
    }

    fn persist(&self, command: PersistCommand) {
        self.writer
            .send(Job::Persist(command, OffsetDateTime::now_utc()));
    }
}
