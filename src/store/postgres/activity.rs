//! Calls, transcripts, incidents and usage on Postgres: what the call path writes and the API reads.

use super::PostgresStore;
use crate::store::{
    CallRecord, IncidentFilter, IncidentRecord, Page, StoreError, StoreResult, SummaryBucket,
    SummaryQuery, TranscriptItem, UsageDay, UsageRecord,
};
use sqlx::{Row, postgres::PgRow, types::Json};
use time::OffsetDateTime;
use uuid::Uuid;
use voxgate_core::{FailureMode, Incident};

fn call_from_row(row: &PgRow) -> StoreResult<CallRecord> {
    Ok(CallRecord {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        agent: row.try_get("agent")?,
        transport: row.try_get("transport")?,
        caller: row.try_get("caller")?,
        called: row.try_get("called")?,
        status: row.try_get("status")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        end_reason: row.try_get("end_reason")?,
    })
}

fn incident_from_row(row: &PgRow) -> StoreResult<IncidentRecord> {
    let mode: String = row.try_get("mode")?;
    let severity: String = row.try_get("severity")?;
    let Json(detail): Json<serde_json::Value> = row.try_get("detail")?;
    Ok(IncidentRecord {
        id: row.try_get("id")?,
        incident: Incident {
            mode: mode
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("{e}")))?,
            tenant_id: row.try_get("tenant_id")?,
            agent: row.try_get("agent")?,
            call_id: row.try_get("call_id")?,
            at: row.try_get("at")?,
            severity: severity
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("{e}")))?,
            action: row.try_get("action")?,
            detail,
        },
    })
}

fn cursor(page: &Page) -> (Option<OffsetDateTime>, Uuid) {
    match page.before {
        Some((at, id)) => (Some(at), id),
        None => (None, Uuid::nil()),
    }
}

impl PostgresStore {
    pub(super) async fn upsert_call_tx(&self, call: &CallRecord) -> StoreResult<()> {
        let mut tx = self.for_tenant(call.tenant_id).await?;
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
        .bind(call.started_at)
        .bind(call.ended_at)
        .bind(&call.end_reason)
        .bind(&call.called)
        .execute(&mut *tx)
        .await
        .map_err(|error| match error {
            // Row-level security refuses to touch another tenant's row with that id.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("42501") => {
                StoreError::IdConflict
            }
            other => other.into(),
        })?;
        if written.rows_affected() == 0 {
            return Err(StoreError::IdConflict);
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn append_transcript_tx(
        &self,
        tenant: Uuid,
        item: &TranscriptItem,
    ) -> StoreResult<()> {
        let mut tx = self.for_tenant(tenant).await?;
        let exists = sqlx::query("SELECT 1 FROM calls WHERE id = $1 AND tenant_id = $2")
            .bind(item.call_id)
            .bind(tenant)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO transcript_items (tenant_id, call_id, seq, role, text, at, played_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (call_id, seq) DO NOTHING",
        )
        .bind(tenant)
        .bind(item.call_id)
        .bind(item.seq)
        .bind(&item.role)
        .bind(&item.text)
        .bind(item.at)
        .bind(item.played_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn list_calls_tx(
        &self,
        tenant: Uuid,
        page: &Page,
    ) -> StoreResult<Vec<CallRecord>> {
        let (before_at, before_id) = cursor(page);
        let mut tx = self.for_tenant(tenant).await?;
        let rows = sqlx::query(
            "SELECT * FROM calls WHERE tenant_id = $1 \
             AND ($2::timestamptz IS NULL OR (started_at, id) < ($2, $3)) \
             ORDER BY started_at DESC, id DESC LIMIT $4",
        )
        .bind(tenant)
        .bind(before_at)
        .bind(before_id)
        .bind(i64::from(page.limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(call_from_row).collect()
    }

    pub(super) async fn get_call_tx(
        &self,
        tenant: Uuid,
        id: Uuid,
    ) -> StoreResult<(CallRecord, Vec<TranscriptItem>)> {
        let mut tx = self.for_tenant(tenant).await?;
        let call = sqlx::query("SELECT * FROM calls WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let items = sqlx::query(
            "SELECT call_id, seq, role, text, at, played_ms FROM transcript_items \
             WHERE tenant_id = $1 AND call_id = $2 ORDER BY seq",
        )
        .bind(tenant)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let items = items
            .iter()
            .map(|row| {
                Ok(TranscriptItem {
                    call_id: row.try_get("call_id")?,
                    seq: row.try_get("seq")?,
                    role: row.try_get("role")?,
                    text: row.try_get("text")?,
                    played_ms: row.try_get("played_ms")?,
                    at: row.try_get("at")?,
                })
            })
            .collect::<StoreResult<_>>()?;
        Ok((call_from_row(&call)?, items))
    }

    pub(super) async fn record_incident_tx(&self, incident: &Incident) -> StoreResult<Uuid> {
        let id = Uuid::new_v4();
        let mut tx = self.for_tenant(incident.tenant_id).await?;
        sqlx::query(
            "INSERT INTO incidents (id, tenant_id, agent, call_id, at, mode, severity, action, \
             detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(incident.tenant_id)
        .bind(&incident.agent)
        .bind(incident.call_id)
        .bind(incident.at)
        .bind(incident.mode.as_str())
        .bind(incident.severity.as_str())
        .bind(&incident.action)
        .bind(Json(&incident.detail))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub(super) async fn list_incidents_tx(
        &self,
        tenant: Uuid,
        filter: &IncidentFilter,
    ) -> StoreResult<Vec<IncidentRecord>> {
        let (before_at, before_id) = cursor(&filter.page);
        let mut tx = self.for_tenant(tenant).await?;
        let rows = sqlx::query(
            "SELECT * FROM incidents WHERE tenant_id = $1 \
             AND ($2::text IS NULL OR mode = $2) AND ($3::text IS NULL OR agent = $3) \
             AND ($4::uuid IS NULL OR call_id = $4) \
             AND ($5::timestamptz IS NULL OR at >= $5) AND ($6::timestamptz IS NULL OR at < $6) \
             AND ($7::timestamptz IS NULL OR (at, id) < ($7, $8)) \
             ORDER BY at DESC, id DESC LIMIT $9",
        )
        .bind(tenant)
        .bind(filter.mode.map(FailureMode::as_str))
        .bind(&filter.agent)
        .bind(filter.call_id)
        .bind(filter.from)
        .bind(filter.to)
        .bind(before_at)
        .bind(before_id)
        .bind(i64::from(filter.page.limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(incident_from_row).collect()
    }

    pub(super) async fn incident_summary_tx(
        &self,
        tenant: Uuid,
        query: &SummaryQuery,
    ) -> StoreResult<Vec<SummaryBucket>> {
        let mut tx = self.for_tenant(tenant).await?;
        let rows = sqlx::query(
            "SELECT to_timestamp(floor(extract(epoch FROM at) / $4) * $4) AS bucket_start, \
             mode, count(*) AS count FROM incidents \
             WHERE tenant_id = $1 AND at >= $2 AND at < $3 GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .bind(tenant)
        .bind(query.from)
        .bind(query.to)
        .bind(query.bucket_seconds as f64)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                let mode: String = row.try_get("mode")?;
                Ok(SummaryBucket {
                    bucket_start: row.try_get("bucket_start")?,
                    mode: mode
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("{e}")))?,
                    count: row.try_get("count")?,
                })
            })
            .collect()
    }

    pub(super) async fn record_usage_tx(&self, usage: &UsageRecord) -> StoreResult<()> {
        let mut tx = self.for_tenant(usage.tenant_id).await?;
        sqlx::query(
            "INSERT INTO usage_records (tenant_id, agent, call_id, at, provider, model, \
             input_tokens, output_tokens, audio_seconds, cost_usd) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(usage.tenant_id)
        .bind(&usage.agent)
        .bind(usage.call_id)
        .bind(usage.at)
        .bind(&usage.provider)
        .bind(&usage.model)
        .bind(usage.input_tokens)
        .bind(usage.output_tokens)
        .bind(usage.audio_seconds)
        .bind(usage.cost_usd)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn usage_by_day_tx(
        &self,
        tenant: Uuid,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> StoreResult<Vec<UsageDay>> {
        let mut tx = self.for_tenant(tenant).await?;
        let rows = sqlx::query(
            "SELECT agent, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, \
             count(*) AS responses, sum(input_tokens)::bigint AS input_tokens, \
             sum(output_tokens)::bigint AS output_tokens, \
             sum(audio_seconds) AS audio_seconds, sum(cost_usd) AS cost_usd \
             FROM usage_records WHERE tenant_id = $1 AND at >= $2 AND at < $3 \
             GROUP BY 1, 2 ORDER BY 2, 1",
        )
        .bind(tenant)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
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
