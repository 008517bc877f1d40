//! Agents on Postgres: versioned specs, optimistic concurrency and idempotent creation.

use super::{PostgresStore, is_unique_violation};
use crate::store::{AgentRecord, NewAgent, StoreError, StoreResult, at_store_resolution};
use sqlx::{Postgres, Row, Transaction, postgres::PgRow, types::Json};
use time::OffsetDateTime;
use uuid::Uuid;
use voxgate_core::AgentSpec;

const COLUMNS: &str = "name, version, spec, created_at, updated_at";

fn from_row(row: &PgRow) -> StoreResult<AgentRecord> {
    let Json(spec): Json<AgentSpec> = row.try_get("spec")?;
    Ok(AgentRecord {
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        spec,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(super) async fn fetch(
    tx: &mut Transaction<'static, Postgres>,
    tenant: Uuid,
    name: &str,
) -> StoreResult<Option<AgentRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM agents WHERE tenant_id = $1 AND name = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The agent as its creation left it (version 1), for idempotent replays.
async fn fetch_created(
    tx: &mut Transaction<'static, Postgres>,
    tenant: Uuid,
    name: &str,
) -> StoreResult<Option<AgentRecord>> {
    let row = sqlx::query(
        "SELECT name, version, spec, created_at, created_at AS updated_at FROM agent_versions \
         WHERE tenant_id = $1 AND name = $2 AND version = 1",
    )
    .bind(tenant)
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

async fn insert_version(
    tx: &mut Transaction<'static, Postgres>,
    tenant: Uuid,
    record: &AgentRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO agent_versions (tenant_id, name, version, spec, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant)
    .bind(&record.name)
    .bind(record.version)
    .bind(Json(&record.spec))
    .bind(record.updated_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl PostgresStore {
    pub(super) async fn create_agent_tx(&self, new: NewAgent<'_>) -> StoreResult<AgentRecord> {
        let new = NewAgent {
            at: at_store_resolution(new.at),
            ..new
        };
        let mut tx = self.for_tenant(new.tenant).await?;
        if let Some((key, request_hash)) = new.idempotency {
            // A concurrent request with the same key waits here until the first one commits.
            let claimed = sqlx::query(
                "INSERT INTO idempotency_keys (tenant_id, key, request_hash, agent_name, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, key) DO NOTHING",
            )
            .bind(new.tenant)
            .bind(key)
            .bind(request_hash)
            .bind(&new.spec.name)
            .bind(new.at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                let row = sqlx::query(
                    "SELECT request_hash, agent_name FROM idempotency_keys \
                     WHERE tenant_id = $1 AND key = $2",
                )
                .bind(new.tenant)
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
                let stored_hash: String = row.try_get("request_hash")?;
                if stored_hash != request_hash {
                    return Err(StoreError::IdempotencyMismatch);
                }
                let name: String = row.try_get("agent_name")?;
                let agent = fetch_created(&mut tx, new.tenant, &name).await?;
                tx.commit().await?;
                return agent.ok_or(StoreError::NotFound);
            }
        }
        let record = AgentRecord {
            name: new.spec.name.clone(),
            version: 1,
            spec: new.spec.clone(),
            created_at: new.at,
            updated_at: new.at,
        };
        sqlx::query(
            "INSERT INTO agents (tenant_id, name, version, spec, created_at, updated_at) \
             VALUES ($1, $2, 1, $3, $4, $4)",
        )
        .bind(new.tenant)
        .bind(&record.name)
        .bind(Json(&record.spec))
        .bind(new.at)
        .execute(&mut *tx)
        .await
        .map_err(|error| match is_unique_violation(&error) {
            true => StoreError::AgentExists(record.name.clone()),
            false => error.into(),
        })?;
        insert_version(&mut tx, new.tenant, &record).await?;
        tx.commit().await?;
        Ok(record)
    }

    pub(super) async fn update_agent_tx(
        &self,
        tenant: Uuid,
        spec: &AgentSpec,
        expected_version: i64,
        at: OffsetDateTime,
    ) -> StoreResult<AgentRecord> {
        let at = at_store_resolution(at);
        let mut tx = self.for_tenant(tenant).await?;
        let sql = format!(
            "UPDATE agents SET version = version + 1, spec = $4, updated_at = $5 \
             WHERE tenant_id = $1 AND name = $2 AND version = $3 RETURNING {COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(&spec.name)
            .bind(expected_version)
            .bind(Json(spec))
            .bind(at)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            let current = fetch(&mut tx, tenant, &spec.name)
                .await?
                .ok_or(StoreError::NotFound)?;
            return Err(StoreError::VersionConflict {
                expected: expected_version,
                current: current.version,
            });
        };
        let record = from_row(&row)?;
        insert_version(&mut tx, tenant, &record).await?;
        tx.commit().await?;
        Ok(record)
    }

    pub(super) async fn list_agents_tx(&self, tenant: Uuid) -> StoreResult<Vec<AgentRecord>> {
        let mut tx = self.for_tenant(tenant).await?;
        let sql = format!("SELECT {COLUMNS} FROM agents WHERE tenant_id = $1 ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter().map(from_row).collect()
    }
}
