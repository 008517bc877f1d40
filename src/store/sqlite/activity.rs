//! Calls, transcripts, incidents and usage on SQLite.

use super::{SqliteStore, from_ms, opt_from_ms, to_ms};
use crate::store::{
    CallRecord, IncidentFilter, IncidentRecord, Page, StoreError, StoreResult, SummaryBucket,
    SummaryQuery, TranscriptItem, UsageDay, UsageRecord,
};
use sqlx::{Row, sqlite::SqliteRow};
use time::OffsetDateTime;
use uuid::Uuid;
use voxgate_core::{FailureMode, Incident};

fn call_from_row(row: &SqliteRow) -> StoreResult<CallRecord> {
    Ok(CallRecord {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        agent: row.try_get("agent")?,
        transport: row.try_get("transport")?,
        caller: row.try_get("caller")?,
        called: row.try_get("called")?,
        status: row.try_get("status")?,
        started_at: from_ms(row.try_get("started_at")?)?,
        ended_at: opt_from_ms(row.try_get("ended_at")?)?,
        end_reason: row.try_get("end_reason")?,
    })
}

fn corrupt(what: &str) -> impl Fn(voxgate_core::incident::UnknownFailureMode) -> StoreError + '_ {
    move |error| StoreError::Corrupt(format!("{what}: {error}"))
}

fn incident_from_row(row: &SqliteRow) -> StoreResult<IncidentRecord> {
    let mode: String = row.try_get("mode")?;
    let severity: String = row.try_get("severity")?;
    let detail: String = row.try_get("detail")?;
    Ok(IncidentRecord {
        id: row.try_get("id")?,
        incident: Incident {
            mode: mode.parse().map_err(corrupt("incident mode"))?,
            tenant_id: row.try_get("tenant_id")?,
            agent: row.try_get("agent")?,
            call_id: row.try_get("call_id")?,
            at: from_ms(row.try_get("at")?)?,
            severity: severity.parse().map_err(corrupt("incident severity"))?,
            action: row.try_get("action")?,
            detail: serde_json::from_str(&detail)
                .map_err(|error| StoreError::Corrupt(format!("incident detail: {error}")))?,
        },
    })
}

/// The keyset cursor as (millis, id); `i64::MAX` when starting from the newest.
fn cursor(page: &Page) -> (i64, Uuid) {
    match page.before {
        Some((at, id)) => (to_ms(at), id),
        None => (i64::MAX, Uuid::max()),
    }
}

impl SqliteStore {
    pub(super) async fn upsert_call_tx(&self, call: &CallRecord) -> StoreResult<()> {
        let written = sqlx::query(
            "INSERT INTO calls (id, tenant_id, agent, transport, caller, status, started_at, \
             ended_at, end_reason, called) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
             ended_at = excluded.ended_at, end_reason = excluded.end_reason, \
             caller = excluded.caller, called = excluded.called WHERE calls.tenant_id = excluded.tenant_id",
        )
        .bind(call.id)
        .bind(call.tenant_id)
        .bind(&call.agent)
        .bind(&call.transport)
        .bind(&call.caller)
        .bind(&call.status)
        .bind(to_ms(call.started_at))
        .bind(call.ended_at.map(to_ms))
        .bind(&call.end_reason)
        .bind(&call.called)
        .execute(&self.pool)
        .await?;
        if written.rows_affected() == 0 {
            return Err(StoreError::IdConflict);
        }
        Ok(())
    }

    pub(super) async fn append_transcript_tx(
        &self,
        tenant: Uuid,
        item: &TranscriptItem,
    ) -> StoreResult<()> {
        let inserted = sqlx::query(
            "INSERT INTO transcript_items (tenant_id, call_id, seq, role, text, at, played_ms) \
             SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS \
             (SELECT 1 FROM calls WHERE id = $2 AND tenant_id = $1) \
             ON CONFLICT (call_id, seq) DO NOTHING",
        )
        .bind(tenant)
        .bind(item.call_id)
        .bind(item.seq)
        .bind(&item.role)
        .bind(&item.text)
        .bind(to_ms(item.at))
        .bind(item.played_ms)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 FROM calls WHERE id = $1 AND tenant_id = $2")
                .bind(item.call_id)
                .bind(tenant)
                .fetch_optional(&self.pool)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound);
            }
        }
        Ok(())
    }

    pub(super) async fn list_calls_tx(
        &self,
        tenant: Uuid,
        page: &Page,
    ) -> StoreResult<Vec<CallRecord>> {
        let (before_at, before_id) = cursor(page);
        let rows = sqlx::query(
            "SELECT * FROM calls WHERE tenant_id = $1 AND (started_at, id) < ($2, $3) \
             ORDER BY started_at DESC, id DESC LIMIT $4",
        )
        .bind(tenant)
        .bind(before_at)
        .bind(before_id)
        .bind(i64::from(page.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(call_from_row).collect()
    }

    pub(super) async fn get_call_tx(
        &self,
        tenant: Uuid,
        id: Uuid,
    ) -> StoreResult<(CallRecord, Vec<TranscriptItem>)> {
        let call = sqlx::query("SELECT * FROM calls WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let items = sqlx::query(
            "SELECT call_id, seq, role, text, at, played_ms FROM transcript_items \
             WHERE tenant_id = $1 AND call_id = $2 ORDER BY seq",
        )
        .bind(tenant)
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let items = items
            .iter()
            .map(|row| {
                Ok(TranscriptItem {
                    call_id: row.try_get("call_id")?,
                    seq: row.try_get("seq")?,
                    role: row.try_get("role")?,
                    text: row.try_get("text")?,
                    played_ms: row.try_get("played_ms")?,
                    at: from_ms(row.try_get("at")?)?,
                })
            })
            .collect::<StoreResult<_>>()?;
        Ok((call_from_row(&call)?, items))
    }

    pub(super) async fn record_incident_tx(&self, incident: &Incident) -> StoreResult<Uuid> {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO incidents (id, tenant_id, agent, call_id, at, mode, severity, action, \
             detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(incident.tenant_id)
        .bind(&incident.agent)
        .bind(incident.call_id)
        .bind(to_ms(incident.at))
        .bind(incident.mode.as_str())
        .bind(incident.severity.as_str())
        .bind(&incident.action)
        .bind(incident.detail.to_string())
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    pub(super) async fn list_incidents_tx(
        &self,
        tenant: Uuid,
        filter: &IncidentFilter,
    ) -> StoreResult<Vec<IncidentRecord>> {
        let (before_at, before_id) = cursor(&filter.page);
        let rows = sqlx::query(
            "SELECT * FROM incidents WHERE tenant_id = $1 \
             AND ($2 IS NULL OR mode = $2) AND ($3 IS NULL OR agent = $3) \
             AND ($4 IS NULL OR call_id = $4) \
             AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6) \
             AND (at, id) < ($7, $8) ORDER BY at DESC, id DESC LIMIT $9",
        )
        .bind(tenant)
        .bind(filter.mode.map(FailureMode::as_str))
        .bind(&filter.agent)
        .bind(filter.call_id)
        .bind(filter.from.map(to_ms))
        .bind(filter.to.map(to_ms))
        .bind(before_at)
        .bind(before_id)
        .bind(i64::from(filter.page.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(incident_from_row).collect()
    }

    pub(super) async fn incident_summary_tx(
        &self,
        tenant: Uuid,
        query: &SummaryQuery,
    ) -> StoreResult<Vec<SummaryBucket>> {
        let bucket_ms = query.bucket_seconds.saturating_mul(1000).max(1);
        let rows = sqlx::query(
            "SELECT (at - (at % $4)) AS bucket_start, mode, count(*) AS count FROM incidents \
             WHERE tenant_id = $1 AND at >= $2 AND at < $3 GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .bind(tenant)
        .bind(to_ms(query.from))
        .bind(to_ms(query.to))
        .bind(bucket_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let mode: String = row.try_get("mode")?;
                Ok(SummaryBucket {
                    bucket_start: from_ms(row.try_get("bucket_start")?)?,
                    mode: mode.parse().map_err(corrupt("incident mode"))?,
                    count: row.try_get("count")?,
                })
            })
            .collect()
    }

    pub(super) async fn record_usage_tx(&self, usage: &UsageRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO usage_records (tenant_id, agent, call_id, at, provider, model, \
             input_tokens, output_tokens, audio_seconds, cost_usd) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(usage.tenant_id)
        .bind(&usage.agent)
        .bind(usage.call_id)
        .bind(to_ms(usage.at))
        .bind(&usage.provider)
        .bind(&usage.model)
        .bind(usage.input_tokens)
        .bind(usage.output_tokens)
        .bind(usage.audio_seconds)
        .bind(usage.cost_usd)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn usage_by_day_tx(
        &self,
        tenant: Uuid,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> StoreResult<Vec<UsageDay>> {
        let rows = sqlx::query(
            "SELECT agent, strftime('%Y-%m-%d', at / 1000, 'unixepoch') AS day, \
             count(*) AS responses, sum(input_tokens) AS input_tokens, \
             sum(output_tokens) AS output_tokens, sum(audio_seconds) AS audio_seconds, \
             sum(cost_usd) AS cost_usd FROM usage_records \
             WHERE tenant_id = $1 AND at >= $2 AND at < $3 GROUP BY 1, 2 ORDER BY 2, 1",
        )
        .bind(tenant)
        .bind(to_ms(from))
        .bind(to_ms(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UsageDay {
                    agent: row.try_get("agent")?,
                    day: row.try_get("day")?,
                    responses: row.try_get("responses")?,
                    input_tokens: row.try_get("input_tokens")?,
                    output_tokens: row.try_get("output_tokens")?,
                    audio_seconds: row.try_get("audio_seconds")?,
                    cost_usd: row.try_get("cost_usd")?,
                })
            })
            .collect()
    }
}
