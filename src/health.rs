//! Provider health as the rest of the shell asks about it: may a caller's request go to this
//! provider now, how did it go, and may a failed request be retried.
//!
//! The [`ProviderHealth`] trait is what the pipeline and the call driver consult. Its
//! implementation, [`HealthRegistry`], keeps one circuit breaker per [`Target`] and one retry
//! budget per provider, shared by every call in the process; with Redis, breaker opens and closes
//! are shared by every node (`fleet`), so one call's discovery of an outage spares every other
//! call. Open breakers are probed with synthetic requests (`prober`), never with a caller's data.

mod fleet;
mod prober;
mod registry;
mod status;

pub use prober::ProbeFn;
pub use registry::{HealthChange, HealthRegistry};
pub use status::{BreakerStatus, ChangeRecord, WindowCounts};

use std::{fmt, time::Duration};
use voxgate_core::failover::Outcome;

/// One provider endpoint as a breaker sees it: provider name, model, endpoint and key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// The provider's configured name (`openai`, `sim`, ...).
    pub provider: String,
    /// What it serves: `realtime`, `stt`, `llm` or `tts`.
    pub stage: &'static str,
    /// The model.
    pub model: String,
    /// The endpoint URL (no credentials).
    pub endpoint: String,
    /// A short, non-reversible id of the API key (so two keys get two breakers).
    pub key_id: String,
}

impl Target {
    /// The breaker's identity as one string (no secret in it): how nodes name it to each other.
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.provider, self.stage, self.model, self.endpoint, self.key_id
        )
    }

    /// The inverse of [`Target::key`], for news from other nodes; `None` for a stage or shape
    /// this node does not know.
    pub fn from_key(key: &str) -> Option<Self> {
        let mut parts = key.splitn(5, '|');
        let provider = parts.next()?.to_owned();
        let stage = match parts.next()? {
            "realtime" => "realtime",
            "stt" => "stt",
            "llm" => "llm",
            "tts" => "tts",
            _ => return None,
        };
        let model = parts.next()?.to_owned();
        let endpoint = parts.next()?.to_owned();
        let key_id = parts.next()?.to_owned();
        Some(Self {
            provider,
            stage,
            model,
            endpoint,
            key_id,
        })
    }

    /// A short, non-reversible id of an API key.
    pub fn key_id(api_key: &str) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(api_key.as_bytes());
        hex::encode(&digest[..6])
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.provider, self.stage, self.model)
    }
}

/// What a call asks of provider health. Implementations are cheap and never block.
pub trait ProviderHealth: Send + Sync + fmt::Debug {
    /// May a caller's request go to `target` now? `false` while its breaker is open or half-open
    /// (half-open admits only synthetic probes) or while a `Retry-After` holds.
    fn admit(&self, target: &Target) -> bool;

    /// How a request to `target` went (first attempts and retries alike).
    fn record(&self, target: &Target, outcome: Outcome);

    /// May one failed request to `target` be retried now? Spends from the provider's retry
    /// budget when it answers `true`.
    fn may_retry(&self, target: &Target) -> bool;

    /// How long to wait before retrying `target`, if a `Retry-After` holds; `None` when a retry
    /// may go now.
    fn retry_after(&self, target: &Target) -> Option<Duration>;
}
