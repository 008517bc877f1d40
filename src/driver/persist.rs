//! The per-call persistence writer: a task that writes call records, transcript items, usage and
//! incidents in order, so that the call's run loop never waits for a store.
//!
//! A failed write is logged with the call id and dropped (an outbox for store outages comes with
//! the state-corruption work); it never stops the call.

use super::CallContext;
use crate::store::{
    CallRecord, Durable, Hot, TranscriptItem, UsageRecord, record::at_store_resolution,
};
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use voxgate_core::{
    Incident,
    session::{IncidentReport, PersistCommand, Usage},
};

/// The stores a call writes to.
#[derive(Clone)]
pub struct CallStores {
    /// Durable store.
    pub durable: Arc<dyn Durable>,
    /// Hot store.
    pub hot: Arc<dyn Hot>,
}

/// One write, with the wall-clock time it happened.
#[derive(Debug)]
pub(super) enum Job {
    /// The call started.
    Started(OffsetDateTime),
    /// Something the session asked to persist.
    Persist(PersistCommand, OffsetDateTime),
    /// An incident.
    Incident(IncidentReport, OffsetDateTime),
    /// The call moved to another path: later usage is billed to this provider and model.
    Provider {
        /// Provider name.
        provider: String,
        /// Model.
        model: String,
    },
}

/// Handle to the writer task.
pub(super) struct Writer {
    jobs: mpsc::UnboundedSender<Job>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    pub(super) fn spawn(stores: CallStores, context: CallContext) -> Self {
        let (jobs, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(write_all(stores.durable, context, rx));
        Self { jobs, task }
    }

    pub(super) fn send(&self, job: Job) {
        let _ = self.jobs.send(job);
    }

    /// A sender for tasks that write for this call later.
    pub(super) fn jobs(&self) -> mpsc::UnboundedSender<Job> {
        self.jobs.clone()
    }

    /// Waits until every queued write is done.
    pub(super) async fn finish(self) {
        drop(self.jobs);
        let _ = self.task.await;
    }
}

async fn write_all(
    durable: Arc<dyn Durable>,
    mut context: CallContext,
    mut jobs: mpsc::UnboundedReceiver<Job>,
) {
    let mut record = CallRecord {
        id: context.call_id,
        tenant_id: context.tenant_id,
        agent: context.agent.clone(),
        transport: context.transport.to_owned(),
        caller: context.caller.clone(),
        called: context.called.clone(),
        status: "live".to_owned(),
        started_at: crate::store::now(),
        ended_at: None,
        end_reason: None,
    };
    while let Some(job) = jobs.recv().await {
        let result = match job {
            Job::Started(at) => {
                record.started_at = at_store_resolution(at);
                durable.upsert_call(&record).await
            }
            Job::Persist(
                PersistCommand::Item {
                    seq,
                    role,
                    text,
                    played_ms,
                },
                at,
            ) => {
                let item = TranscriptItem {
                    call_id: context.call_id,
                    seq: i64::try_from(seq).unwrap_or(i64::MAX),
                    role: role.as_str().to_owned(),
                    text,
                    played_ms: played_ms.and_then(|ms| i64::try_from(ms).ok()),
                    at: at_store_resolution(at),
                };
                durable.append_transcript(context.tenant_id, &item).await
            }
            Job::Persist(PersistCommand::Usage(usage), at) => {
                durable
                    .record_usage(&usage_record(&context, usage, at))
                    .await
            }
            Job::Provider { provider, model } => {
                context.provider = provider;
                context.model = model;
                Ok(())
            }
            Job::Incident(report, at) => durable
                .record_incident(&incident(&context, report, at))
                .await
                .map(|_| ()),
            Job::Persist(PersistCommand::CallEnded(reason), at) => {
                record.status = "ended".to_owned();
                record.ended_at = Some(at_store_resolution(at));
                record.end_reason = Some(reason.as_str().to_owned());
                durable.upsert_call(&record).await
            }
        };
        if let Err(error) = result {
            tracing::error!(call_id = %context.call_id, code = error.code(), %error, "Call write failed.");
        }
    }
}

fn usage_record(context: &CallContext, usage: Usage, at: OffsetDateTime) -> UsageRecord {
    UsageRecord {
        tenant_id: context.tenant_id,
        agent: context.agent.clone(),
        call_id: Some(context.call_id),
        at: at_store_resolution(at),
        provider: context.provider.clone(),
        model: context.model.clone(),
        input_tokens: i64::try_from(usage.input_tokens).unwrap_or(i64::MAX),
        output_tokens: i64::try_from(usage.output_tokens).unwrap_or(i64::MAX),
        audio_seconds: 0.0,
        cost_usd: 0.0,
    }
}

fn incident(context: &CallContext, report: IncidentReport, at: OffsetDateTime) -> Incident {
    Incident {
        mode: report.mode,
        tenant_id: context.tenant_id,
        agent: Some(context.agent.clone()),
        call_id: Some(context.call_id),
        at,
        severity: report.severity,
        action: report.action.to_owned(),
        detail: report.detail,
    }
}
