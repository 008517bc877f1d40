//! The Postgres backend of [`Durable`]: the source of truth in production.
//!
//! Migrations (`migrations/postgres`) run on a dedicated connection as the configured user. Every
//! pooled connection then switches to the database's non-superuser application role
//! (`voxgate_app_<hash of the database name>`), so row-level security binds everything the server
//! does. Each tenant-scoped operation runs in a transaction that
//! first sets `voxgate.tenant_id`; platform operations set `voxgate.platform` instead. Queries also
//! filter by tenant in SQL, so isolation holds twice.

mod activity;
mod agent;

use super::{
    AgentRecord, ApiKeyRecord, CallRecord, Durable, IncidentFilter, IncidentRecord, NewAgent, Page,
    StoreError, StoreResult, SummaryBucket, SummaryQuery, Tenant, TranscriptItem, UsageDay,
    UsageRecord,
};
use async_trait::async_trait;
use sqlx::{
    Connection, Executor, PgConnection, PgPool, Postgres, Row, Transaction,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use std::{str::FromStr, time::Duration};
use time::OffsetDateTime;
use uuid::Uuid;
use voxgate_core::{AgentSpec, Incident};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A Postgres-backed durable store.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Applies pending migrations as the URL's user.
    pub async fn migrate(url: &str) -> StoreResult<()> {
        let options = PgConnectOptions::from_str(url)?;
        let mut conn = PgConnection::connect_with(&options).await?;
        MIGRATOR
            .run(&mut conn)
            .await
            .map_err(|error| StoreError::Unavailable(format!("migration failed: {error}")))?;
        conn.close().await?;
        Ok(())
    }

    /// Connects a pool whose connections work as this database's application role
    /// (`voxgate_app_role()`, created by the first migration).
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("SELECT set_config('role', voxgate_app_role(), false)")
                        .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// The pool (as the application role), for tests that check row-level security directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction in which row-level security admits only `tenant`'s rows.
    async fn for_tenant(&self, tenant: Uuid) -> StoreResult<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('voxgate.tenant_id', $1, true)")
            .bind(tenant.to_string())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// A transaction for platform operations: tenants and key lookup.
    async fn for_platform(&self) -> StoreResult<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('voxgate.platform', 'on', true)")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

fn tenant_from_row(row: &sqlx::postgres::PgRow) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl Durable for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_tenant(&self, name: &str) -> StoreResult<Tenant> {
        let mut tx = self.for_platform().await?;
        let row = sqlx::query(
            "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, now()) \
             RETURNING id, name, created_at",
        )
        .bind(Uuid::new_v4())
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .map_err(|error| match is_unique_violation(&error) {
            true => StoreError::TenantExists(name.to_owned()),
            false => error.into(),
        })?;
        tx.commit().await?;
        tenant_from_row(&row)
    }

    async fn ensure_tenant(&self, name: &str) -> StoreResult<Tenant> {
        let mut tx = self.for_platform().await?;
        sqlx::query(
            "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, now()) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(Uuid::new_v4())
        .bind(name)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query("SELECT id, name, created_at FROM tenants WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        tenant_from_row(&row)
    }

    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        let mut tx = self.for_platform().await?;
        let rows = sqlx::query("SELECT id, name, created_at FROM tenants ORDER BY created_at, id")
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn get_tenant(&self, id: Uuid) -> StoreResult<Tenant> {
        let mut tx = self.for_platform().await?;
        let row = sqlx::query("SELECT id, name, created_at FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        tenant_from_row(&row)
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        let mut tx = self.for_tenant(key.tenant_id).await?;
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, label, salt, hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(key.id)
        .bind(key.tenant_id)
        .bind(&key.label)
        .bind(&key.salt)
        .bind(&key.hash)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_api_key(&self, id: Uuid) -> StoreResult<Option<ApiKeyRecord>> {
        let mut tx = self.for_platform().await?;
        let row = sqlx::query(
            "SELECT id, tenant_id, label, salt, hash, created_at, revoked_at \
             FROM api_keys WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ApiKeyRecord {
            id: row.try_get("id")?,
            tenant_id: row.try_get("tenant_id")?,
            label: row.try_get("label")?,
            salt: row.try_get("salt")?,
            hash: row.try_get("hash")?,
            created_at: row.try_get("created_at")?,
            revoked_at: row.try_get("revoked_at")?,
        }))
    }

    async fn revoke_api_key(&self, tenant: Uuid, id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.for_tenant(tenant).await?;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3) \
             WHERE id = $1 AND tenant_id = $2",
        )
        .bind(id)
        .bind(tenant)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
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
        let mut tx = self.for_tenant(tenant).await?;
        let agent = agent::fetch(&mut tx, tenant, name).await?;
        tx.commit().await?;
        agent.ok_or(StoreError::NotFound)
    }

    async fn list_agents(&self, tenant: Uuid) -> StoreResult<Vec<AgentRecord>> {
        self.list_agents_tx(tenant).await
    }

    async fn delete_agent(&self, tenant: Uuid, name: &str) -> StoreResult<()> {
        let mut tx = self.for_tenant(tenant).await?;
        let done = sqlx::query("DELETE FROM agents WHERE tenant_id = $1 AND name = $2")
            .bind(tenant)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
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
