//! The embedded SQLite backend of [`Durable`]: what `voxgate serve` uses when no database URL
//! is configured, so a fresh machine runs with nothing installed.
//!
//! SQLite has no row-level security: isolation is the tenant filter that every query carries.
//! Times are stored as Unix milliseconds so that ordering and bucketing are integer arithmetic.

mod activity;
mod agent;

use super::{
    AgentRecord, ApiKeyRecord, CallRecord, Durable, IncidentFilter, IncidentRecord, NewAgent, Page,
    StoreError, StoreResult, SummaryBucket, SummaryQuery, Tenant, TranscriptItem, UsageDay,
    UsageRecord,
};
use async_trait::async_trait;
use sqlx::{
    Row, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow},
};
use std::{path::Path, time::Duration};
use time::OffsetDateTime;
use uuid::Uuid;
use voxgate_core::{AgentSpec, Incident};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A SQLite-backed durable store in one file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|error| StoreError::Unavailable(format!("migration failed: {error}")))?;
        Ok(Self { pool })
    }
}

/// Unix milliseconds of a time.
fn to_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The time of stored Unix milliseconds.
fn from_ms(ms: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|error| StoreError::Corrupt(format!("timestamp {ms}: {error}")))
}

fn opt_from_ms(ms: Option<i64>) -> StoreResult<Option<OffsetDateTime>> {
    ms.map(from_ms).transpose()
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn tenant_from_row(row: &SqliteRow) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

#[async_trait]
impl Durable for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_tenant(&self, name: &str) -> StoreResult<Tenant> {
        let tenant = Tenant {
            id: Uuid::new_v4(),
            name: name.to_owned(),
            created_at: now_ms(),
        };
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(tenant.id)
            .bind(name)
            .bind(to_ms(tenant.created_at))
            .execute(&self.pool)
            .await
            .map_err(|error| match is_unique_violation(&error) {
                true => StoreError::TenantExists(name.to_owned()),
                false => error.into(),
            })?;
        Ok(tenant)
    }

    async fn ensure_tenant(&self, name: &str) -> StoreResult<Tenant> {
        sqlx::query(
            "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(Uuid::new_v4())
        .bind(name)
        .bind(to_ms(now_ms()))
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT id, name, created_at FROM tenants WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        tenant_from_row(&row)
    }

    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        let rows = sqlx::query("SELECT id, name, created_at FROM tenants ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn get_tenant(&self, id: Uuid) -> StoreResult<Tenant> {
        let row = sqlx::query("SELECT id, name, created_at FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        tenant_from_row(&row)
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, label, salt, hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(key.id)
        .bind(key.tenant_id)
        .bind(&key.label)
        .bind(&key.salt)
        .bind(&key.hash)
        .bind(to_ms(key.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_api_key(&self, id: Uuid) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(
            "SELECT id, tenant_id, label, salt, hash, created_at, revoked_at \
             FROM api_keys WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ApiKeyRecord {
            id: row.try_get("id")?,
            tenant_id: row.try_get("tenant_id")?,
            label: row.try_get("label")?,
            salt: row.try_get("salt")?,
            hash: row.try_get("hash")?,
            created_at: from_ms(row.try_get("created_at")?)?,
            revoked_at: opt_from_ms(row.try_get("revoked_at")?)?,
        }))
    }

    async fn revoke_api_key(&self, tenant: Uuid, id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3) \
             WHERE id = $1 AND tenant_id = $2",
        )
        .bind(id)
        .bind(tenant)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        match done.rows_affected() {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    async fn create_agent(&self, new: NewAgent<'_>) -> StoreResult<AgentRecord> {
        self.create_agent_tx(new).await
    }

    async fn update_agent(
        &self,
        tenant: Uuid,
        spec: &AgentSpec,
        expected_version: i64,
        at: OffsetDateTime,
    ) -> StoreResult<AgentRecord> {
        self.update_agent_tx(tenant, spec, expected_version, at)
            .await
    }

    async fn get_agent(&self, tenant: Uuid, name: &str) -> StoreResult<AgentRecord> {
        let mut conn = self.pool.acquire().await?;
        agent::fetch(&mut conn, tenant, name)
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn list_agents(&self, tenant: Uuid) -> StoreResult<Vec<AgentRecord>> {
        self.list_agents_tx(tenant).await
    }

    async fn delete_agent(&self, tenant: Uuid, name: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM agents WHERE tenant_id = $1 AND name = $2")
            .bind(tenant)
            .bind(name)
            .execute(&self.pool)
            .await?;
        match done.rows_affected() {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    async fn upsert_call(&self, call: &CallRecord) -> StoreResult<()> {
        self.upsert_call_tx(call).await
    }

    async fn append_transcript(&self, tenant: Uuid, item: &TranscriptItem) -> StoreResult<()> {
        self.append_transcript_tx(tenant, item).await
    }

    async fn list_calls(&self, tenant: Uuid, page: &Page) -> StoreResult<Vec<CallRecord>> {
        self.list_calls_tx(tenant, page).await
    }

    async fn get_call(
        &self,
        tenant: Uuid,
        id: Uuid,
    ) -> StoreResult<(CallRecord, Vec<TranscriptItem>)> {
        self.get_call_tx(tenant, id).await
    }

    async fn record_incident(&self, incident: &Incident) -> StoreResult<Uuid> {
        self.record_incident_tx(incident).await
    }

    async fn list_incidents(
        &self,
        tenant: Uuid,
        filter: &IncidentFilter,
    ) -> StoreResult<Vec<IncidentRecord>> {
        self.list_incidents_tx(tenant, filter).await
    }

    async fn incident_summary(
        &self,
        tenant: Uuid,
        query: &SummaryQuery,
    ) -> StoreResult<Vec<SummaryBucket>> {
        self.incident_summary_tx(tenant, query).await
    }

    async fn record_usage(&self, usage: &UsageRecord) -> StoreResult<()> {
        self.record_usage_tx(usage).await
    }

    async fn usage_by_day(
        &self,
        tenant: Uuid,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> StoreResult<Vec<UsageDay>> {
        self.usage_by_day_tx(tenant, from, to).await
    }
}

/// The wall clock, truncated to what SQLite stores. The store is shell code: it may read time.
fn now_ms() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    from_ms(to_ms(now)).unwrap_or(now)
}
