//! The per-call run loop: the one place where a [`Session`], its transport and its provider meet.
//!
//! One task per call owns the session (`&mut`, no locks). After every input it drains the
//! session's outputs until a timeout, carrying each to the provider link, the transport, the
//! persistence writer, or metrics. Store writes go through a per-call writer task, so the audio
//! path never waits for a database.

mod persist;
mod tool;

use crate::{provider::openai_realtime::RealtimeLink, store::LiveCall, telemetry};
pub use persist::CallStores;
use persist::{Job, Writer};
use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};
use time::OffsetDateTime;
use tokio::{sync::mpsc, time::Instant};
pub use tool::ToolWebhooks;
use uuid::Uuid;
use voxgate_core::{
    FailureMode, Severity,
    session::{
        ClientCommand, ClientEvent, ErrorClass, IncidentReport, Output, PersistCommand,
        ProviderCommand, ProviderEvent, Session,
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
    /// This node's name, for the live call registry.
    pub node: String,
    /// Realtime provider name (for usage records).
    pub provider: String,
    /// Realtime model name (for usage records).
    pub model: String,
    /// The agent's tools and their webhooks.
    pub tools: ToolWebhooks,
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

/// How long a live call entry lives without a refresh.
const LIVE_TTL: Duration = Duration::from_secs(120);

/// Runs the call to its end. Returns once the session is closed and its records are written.
pub async fn run(
    context: CallContext,
    stores: CallStores,
    mut session: Session,
    mut transport: TransportLink,
    mut provider: RealtimeLink,
) {
    let writer = Writer::spawn(stores.clone(), context.clone());
    writer.send(Job::Started(OffsetDateTime::now_utc()));
    let live = LiveCall {
        call_id: context.call_id,
        tenant_id: context.tenant_id,
        agent: context.agent.clone(),
        node: context.node.clone(),
        mode: "realtime".to_owned(),
        started_at: OffsetDateTime::now_utc(),
    };
    if let Err(error) = stores.hot.register_call(&live, LIVE_TTL).await {
        tracing::warn!(call_id = %context.call_id, %error, "Cannot register the live call.");
    }
    ACTIVE_CALLS.fetch_add(1, Ordering::Relaxed);
    metrics::gauge!(telemetry::CALLS_ACTIVE).increment(1.0);
    let mut provider_open = true;
    let mut transport_open = true;
    let (tool_done, mut tool_results) = mpsc::channel::<tool::ToolDone>(16);
    let (to_client, to_provider) = (transport.commands.clone(), provider.commands.clone());
    let calls = Calls {
        writer: &writer,
        to_client: &to_client,
        to_provider: &to_provider,
        context: &context,
        tool_done: &tool_done,
    };
    let mut handling_started: Option<Instant> = None;
    loop {
        let Some(deadline) = drain(&mut session, &calls).await else {
            break;
        };
        if let Some(started) = handling_started.take() {
            metrics::histogram!(telemetry::EVENT_HANDLING_SECONDS)
                .record(started.elapsed().as_secs_f64());
        }
        tokio::select! {
            event = transport.events.recv(), if transport_open => {
                handling_started = Some(Instant::now());
                let now = Instant::now().into_std();
                match event {
                    Some(event) => session.handle_client(now, event),
                    None => {
                        transport_open = false;
                        session.handle_client(now, ClientEvent::Hangup);
                    }
                }
            }
            event = provider.events.recv(), if provider_open => {
                handling_started = Some(Instant::now());
                let now = Instant::now().into_std();
                match event {
                    Some(event) => session.handle_provider(now, event),
                    None => {
                        provider_open = false;
                        session.handle_provider(now, ProviderEvent::Closed { class: ErrorClass::Retryable });
                    }
                }
            }
            Some(done) = tool_results.recv() => {
                handling_started = Some(Instant::now());
                if let Some(code) = done.failure {
                    report_tool_failure(&writer, code);
                }
                session.handle_tool_result(Instant::now().into_std(), done.call_id, done.output);
            }
            () = tokio::time::sleep_until(Instant::from_std(deadline)) => {
                session.handle_timeout(Instant::now().into_std());
            }
        }
    }
    metrics::gauge!(telemetry::CALLS_ACTIVE).decrement(1.0);
    ACTIVE_CALLS.fetch_sub(1, Ordering::Relaxed);
    if let Err(error) = stores
        .hot
        .unregister_call(context.tenant_id, context.call_id)
        .await
    {
        tracing::warn!(call_id = %context.call_id, %error, "Cannot unregister the live call.");
    }
    writer.finish().await;
}

/// Where a call's outputs go.
struct Calls<'a> {
    writer: &'a Writer,
    to_client: &'a mpsc::Sender<ClientCommand>,
    to_provider: &'a mpsc::Sender<ProviderCommand>,
    context: &'a CallContext,
    tool_done: &'a mpsc::Sender<tool::ToolDone>,
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

/// Carries outputs until the session waits; `None` once it is closed.
async fn drain(session: &mut Session, calls: &Calls<'_>) -> Option<std::time::Instant> {
    let Calls {
        writer,
        to_client,
        to_provider,
        ..
    } = calls;
    loop {
        match session.poll_output() {
            Output::Timeout(deadline) => return Some(deadline),
            Output::Closed => return None,
            Output::Provider(command) => {
                // A closed link reports itself as `Closed` on its event channel.
                let _ = to_provider.send(command).await;
            }
            Output::Client(command) => {
                if matches!(command, ClientCommand::Audio { .. }) {
                    metrics::counter!(telemetry::AUDIO_FRAMES_OUT).increment(1);
                }
                let _ = to_client.send(command).await;
            }
            Output::Persist(PersistCommand::Item {
                seq,
                role,
                text,
                played_ms,
            }) => writer.send(Job::Item {
                seq,
                role,
                text,
                played_ms,
            }),
            Output::Persist(PersistCommand::Usage(usage)) => writer.send(Job::Usage(usage)),
            Output::Persist(PersistCommand::CallEnded(reason)) => {
                writer.send(Job::Ended(reason, OffsetDateTime::now_utc()));
            }
            Output::Incident(report) => {
                telemetry::record_incident(report.mode.as_str(), report.action);
                writer.send(Job::Incident(report, OffsetDateTime::now_utc()));
            }
            Output::Measure(measurement) => telemetry::record_measurement(measurement),
            Output::Tool(request) => {
                let context = calls.context;
                tool::spawn(
                    request,
                    context.call_id,
                    &context.tools,
                    calls.tool_done.clone(),
                );
            }
        }
    }
}
