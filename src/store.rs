//! Storage behind two small traits: [`Durable`] (the source of truth: tenants, keys, agents,
//! calls, transcripts, incidents, usage) and [`Hot`] (live call registry, session checkpoints,
//! counters with a TTL).
//!
//! Backends: Postgres or embedded SQLite for [`Durable`]; Redis or process memory for [`Hot`].
//! Every tenant-scoped method takes the tenant explicitly and filters by it in code; on Postgres,
//! row-level security enforces the same boundary again. The traits speak domain records
//! (`store/record.rs`), never driver types, and every backend passes the same conformance suite.

pub mod memory;
pub mod postgres;
pub mod record;
pub mod redis;
pub mod sqlite;

use async_trait::async_trait;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;
use voxgate_core::{AgentSpec, Incident};

pub use record::*;

/// A storage failure, classified where it is born.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist (for this tenant).
    #[error("not found")]
    NotFound,
    /// An agent of that name already exists.
    #[error("agent `{0}` already exists")]
    AgentExists(String),
    /// An update named a version that is no longer current.
    #[error("version {expected} is stale; the current version is {current}")]
    VersionConflict {
        /// The version the caller based its change on.
        expected: i64,
        /// The version stored now.
        current: i64,
    },
    /// An idempotency key was reused with a different request.
    #[error("idempotency key was used before with a different request")]
    IdempotencyMismatch,
    /// A record with that id exists and belongs to another tenant.
    #[error("that id is already taken")]
    IdConflict,
    /// A tenant of that name already exists.
    #[error("tenant `{0}` already exists")]
    TenantExists(String),
    /// The backend could not be reached or failed; worth retrying later.
    #[error("storage backend unavailable: {0}")]
    Unavailable(String),
    /// The backend refused the operation (a constraint, a privilege, bad SQL): a bug, not
    /// worth retrying.
    #[error("storage backend refused the operation: {0}")]
    Rejected(String),
    /// Stored data could not be decoded: a bug or corruption.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True when trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// The stable error code for API bodies and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "store.not_found",
            Self::AgentExists(_) => "agent.already_exists",
            Self::VersionConflict { .. } => "agent.version_conflict",
            Self::IdempotencyMismatch => "request.idempotency_key_reused",
            Self::TenantExists(_) => "tenant.already_exists",
            Self::IdConflict => "store.id_conflict",
            Self::Unavailable(_) => "store.unavailable",
            Self::Rejected(_) => "store.rejected",
            Self::Corrupt(_) => "store.corrupt",
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                Self::Corrupt(error.to_string())
            }
            // Connection trouble is worth retrying; anything the database itself refused is not.
            sqlx::Error::Database(_)
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::TypeNotFound { .. } => Self::Rejected(error.to_string()),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<::redis::RedisError> for StoreError {
    fn from(error: ::redis::RedisError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// The current time at the stores' resolution: what handlers stamp records with.
pub fn now() -> OffsetDateTime {
    at_store_resolution(OffsetDateTime::now_utc())
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// The durable store: the source of truth.
#[async_trait]
pub trait Durable: Send + Sync + 'static {
    /// Which backend this is, for logs and `/readyz`.
    fn backend(&self) -> &'static str;
    /// Succeeds when the backend answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Creates a tenant; names are unique.
    async fn create_tenant(&self, name: &str) -> StoreResult<Tenant>;
    /// The tenant of that name, created if missing.
    async fn ensure_tenant(&self, name: &str) -> StoreResult<Tenant>;
    /// Every tenant, oldest first.
    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>>;
    /// One tenant by id.
    async fn get_tenant(&self, id: Uuid) -> StoreResult<Tenant>;

    /// Stores a new API key (its hash, never the key).
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// An API key record by id, for authentication (any tenant).
    async fn find_api_key(&self, id: Uuid) -> StoreResult<Option<ApiKeyRecord>>;
    /// Revokes a key of this tenant; `NotFound` if it has no such key.
    async fn revoke_api_key(&self, tenant: Uuid, id: Uuid, at: OffsetDateTime) -> StoreResult<()>;

    /// Creates an agent at version 1. With an idempotency key, a repeat of the same request
    /// returns the agent as that creation left it (version 1, even if it was updated since;
    /// `NotFound` if it was deleted) and a different request under the same key fails.
    async fn create_agent(&self, new: NewAgent<'_>) -> StoreResult<AgentRecord>;
    /// Replaces the spec if `expected_version` is current; the version goes up by one.
    async fn update_agent(
        &self,
        tenant: Uuid,
        spec: &AgentSpec,
        expected_version: i64,
        at: OffsetDateTime,
    ) -> StoreResult<AgentRecord>;
    /// The current version of an agent.
    async fn get_agent(&self, tenant: Uuid, name: &str) -> StoreResult<AgentRecord>;
    /// Every agent of the tenant, by name.
    async fn list_agents(&self, tenant: Uuid) -> StoreResult<Vec<AgentRecord>>;
    /// Deletes an agent and its history.
    async fn delete_agent(&self, tenant: Uuid, name: &str) -> StoreResult<()>;

    /// Inserts or updates a call record; `IdConflict` if the id belongs to another tenant.
    async fn upsert_call(&self, call: &CallRecord) -> StoreResult<()>;
    /// Appends a transcript item; an item with the same (call, seq) is kept once.
    async fn append_transcript(&self, tenant: Uuid, item: &TranscriptItem) -> StoreResult<()>;
    /// Calls of the tenant, newest first.
    async fn list_calls(&self, tenant: Uuid, page: &Page) -> StoreResult<Vec<CallRecord>>;
    /// One call with its transcript in order.
    async fn get_call(
        &self,
        tenant: Uuid,
        id: Uuid,
    ) -> StoreResult<(CallRecord, Vec<TranscriptItem>)>;

    /// Stores an incident and returns its id.
    async fn record_incident(&self, incident: &Incident) -> StoreResult<Uuid>;
    /// Incidents matching the filter, newest first.
    async fn list_incidents(
        &self,
        tenant: Uuid,
        filter: &IncidentFilter,
    ) -> StoreResult<Vec<IncidentRecord>>;
    /// Count per mode per time bucket in `[from, to)`.
    async fn incident_summary(
        &self,
        tenant: Uuid,
        query: &SummaryQuery,
    ) -> StoreResult<Vec<SummaryBucket>>;

    /// Stores one usage record.
    async fn record_usage(&self, usage: &UsageRecord) -> StoreResult<()>;
    /// Usage summed per agent per UTC day in `[from, to)`.
    async fn usage_by_day(
        &self,
        tenant: Uuid,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> StoreResult<Vec<UsageDay>>;
}

/// Hot state: fast, shared across nodes with Redis, lost on restart without it.
#[async_trait]
pub trait Hot: Send + Sync + 'static {
    /// Which backend this is, for logs and `/readyz`.
    fn backend(&self) -> &'static str;
    /// Succeeds when the backend answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Registers (or refreshes) a live call; it disappears after `ttl` unless refreshed.
    async fn register_call(&self, call: &LiveCall, ttl: Duration) -> StoreResult<()>;
    /// Live calls of the tenant.
    async fn live_calls(&self, tenant: Uuid) -> StoreResult<Vec<LiveCall>>;
    /// Removes a live call.
    async fn unregister_call(&self, tenant: Uuid, call: Uuid) -> StoreResult<()>;

    /// Saves a session checkpoint, replacing the previous one.
    async fn put_checkpoint(&self, call: Uuid, data: &[u8], ttl: Duration) -> StoreResult<()>;
    /// The latest checkpoint of a call, if it has not expired.
    async fn get_checkpoint(&self, call: Uuid) -> StoreResult<Option<Vec<u8>>>;

    /// Adds `by` to a counter and returns the new value. The TTL starts at the first increment
    /// of a window and is not extended by later ones.
    async fn incr_counter(&self, key: &str, by: i64, ttl: Duration) -> StoreResult<i64>;
    /// A counter's value (0 when missing or expired).
    async fn get_counter(&self, key: &str) -> StoreResult<i64>;

    /// Tells every node that a breaker opened or closed; an open one is also stored for `ttl`,
    /// so a node that starts later learns of it.
    async fn publish_breaker(&self, news: &BreakerNews, ttl: Duration) -> StoreResult<()>;
    /// Breaker news from every node (this one included): the stored open breakers first, then
    /// what is published from now on. A single-node backend returns a channel that closes at
    /// once: its one process already shares one registry.
    async fn subscribe_breakers(&self) -> StoreResult<tokio::sync::mpsc::Receiver<BreakerNews>>;
}
