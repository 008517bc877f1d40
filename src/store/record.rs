//! The records the stores keep, as plain data shared by every backend and the HTTP API.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;
use voxgate_core::{AgentSpec, FailureMode};

/// `at` at the stores' common resolution (milliseconds), so a record written and read back is
/// equal on every backend.
pub fn at_store_resolution(at: OffsetDateTime) -> OffsetDateTime {
    let nanos = at.nanosecond();
    at.replace_nanosecond(nanos - nanos % 1_000_000)
        .unwrap_or(at)
}

/// A customer of the voxgate deployment; everything else belongs to one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tenant {
    /// Tenant id.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An API key as stored: a salted hash of its secret part, never the key itself.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiKeyRecord {
    /// Key id (also the public part of the key).
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// Operator's label.
    pub label: String,
    /// Random salt.
    pub salt: Vec<u8>,
    /// SHA-256 of salt and secret.
    pub hash: Vec<u8>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Set once the key is revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

/// A request to create an agent.
#[derive(Clone, Copy, Debug)]
pub struct NewAgent<'a> {
    /// Owning tenant.
    pub tenant: Uuid,
    /// The validated spec.
    pub spec: &'a AgentSpec,
    /// Idempotency key and a hash of the request it came with.
    pub idempotency: Option<(&'a str, &'a str)>,
    /// Creation time.
    pub at: OffsetDateTime,
}

/// An agent at its current version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentRecord {
    /// Agent name (unique per tenant).
    pub name: String,
    /// Version, 1 at creation and one more per update.
    pub version: i64,
    /// The spec at this version.
    #[schema(value_type = Object)]
    pub spec: AgentSpec,
    /// Creation time of the agent.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Time of this version.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// One call, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallRecord {
    /// Call id.
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// Agent that answered.
    pub agent: String,
    /// How the caller connected: `ws`, `twilio`, `telnyx`, `webrtc`, `sip`.
    pub transport: String,
    /// Caller identity (a phone number is personal data: stored, never logged).
    pub caller: Option<String>,
    /// The number the caller dialled, where the transport says (SIP); personal data too.
    #[serde(default)]
    pub called: Option<String>,
    /// `live` or `ended`.
    pub status: String,
    /// Start time.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// End time, once ended.
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// Why it ended (`caller_hangup`, `agent_end`, `max_duration`, ...).
    pub end_reason: Option<String>,
}

/// One conversation item of a call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TranscriptItem {
    /// The call.
    pub call_id: Uuid,
    /// Position in the conversation, from 0.
    pub seq: i64,
    /// `user`, `assistant` or `tool`.
    pub role: String,
    /// What was said (assistant: what was actually played), after redaction.
    pub text: String,
    /// Milliseconds of agent audio the caller heard (assistant items).
    pub played_ms: Option<i64>,
    /// When the item ended.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Keyset pagination: items strictly before the cursor, at most `limit`.
#[derive(Clone, Debug, Default)]
pub struct Page {
    /// At most this many (the API caps it).
    pub limit: u32,
    /// Continue after this item (time, id) from the previous page.
    pub before: Option<(OffsetDateTime, Uuid)>,
}

/// A stored incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IncidentRecord {
    /// Incident id.
    pub id: Uuid,
    /// The incident.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub incident: voxgate_core::Incident,
}

/// Which incidents to list.
#[derive(Clone, Debug, Default)]
pub struct IncidentFilter {
    /// Only this mode.
    pub mode: Option<FailureMode>,
    /// Only this agent.
    pub agent: Option<String>,
    /// Only this call.
    pub call_id: Option<Uuid>,
    /// At or after this time.
    pub from: Option<OffsetDateTime>,
    /// Before this time.
    pub to: Option<OffsetDateTime>,
    /// Page.
    pub page: Page,
}

/// Incident counts per mode per bucket over `[from, to)`.
#[derive(Clone, Debug)]
pub struct SummaryQuery {
    /// Start (inclusive).
    pub from: OffsetDateTime,
    /// End (exclusive).
    pub to: OffsetDateTime,
    /// Bucket width in seconds; buckets are aligned to the Unix epoch.
    pub bucket_seconds: i64,
}

/// How many incidents of one mode fell into one bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SummaryBucket {
    /// Bucket start.
    #[serde(with = "time::serde::rfc3339")]
    pub bucket_start: OffsetDateTime,
    /// The mode.
    #[schema(value_type = String)]
    pub mode: FailureMode,
    /// How many.
    pub count: i64,
}

/// Provider usage and cost of one response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageRecord {
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// The agent.
    pub agent: String,
    /// The call, if any.
    pub call_id: Option<Uuid>,
    /// When the response finished.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Provider name.
    pub provider: String,
    /// Model name.
    pub model: String,
    /// Input tokens (text and audio).
    pub input_tokens: i64,
    /// Output tokens (text and audio).
    pub output_tokens: i64,
    /// Seconds of audio processed.
    pub audio_seconds: f64,
    /// Cost in US dollars.
    pub cost_usd: f64,
}

/// Usage of one agent on one UTC day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageDay {
    /// The agent.
    pub agent: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Responses counted.
    pub responses: i64,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Seconds of audio.
    pub audio_seconds: f64,
    /// Cost in US dollars.
    pub cost_usd: f64,
}

/// A call in progress, in the hot registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LiveCall {
    /// Call id.
    pub call_id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// The agent.
    pub agent: String,
    /// The node serving it.
    pub node: String,
    /// `realtime` or `pipeline`.
    pub mode: String,
    /// Start time.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
}

/// A circuit breaker's state change, shared between nodes through the hot store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerNews {
    /// The breaker's identity: provider, stage, model, endpoint and key id, joined (no secret).
    pub target: String,
    /// True when it opened, false when it closed.
    pub open: bool,
    /// Until when it stays open, as Unix milliseconds (wall clock, shared by nodes).
    pub until_unix_ms: i64,
    /// The node that saw it.
    pub node: String,
}
