//! The failure taxonomy (`FailureMode`) and the `Incident` record every detector emits.
//!
//! The names are stable: they appear in the database, in metric labels (`mode`), in the HTTP API
//! and in drill reports, so a variant may be added but never renamed. Every mode of
//! FAILURE-MODES.md exists here even before its detector does, so reports can show it as uncovered.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};
use time::OffsetDateTime;
use uuid::Uuid;

/// One way a production voice-LLM system fails. Serialised in snake_case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    /// The model states something its knowledge does not support.
    Hallucination,
    /// Tool arguments or structured output fail their schema.
    FormatViolation,
    /// The model refuses a request that passed voxgate's own policy.
    Refusal,
    /// The provider is unreachable, closes the session or answers 5xx / `error`.
    ProviderOutage,
    /// 429s and exhausted rate-limit headroom spreading across calls.
    RateLimitCascade,
    /// First audio or inter-chunk deadlines missed; p95 over the agent's limit.
    LatencySpike,
    /// The caller (or a tool / knowledge text) subverted the instructions.
    PromptInjection,
    /// Personal data about to be spoken, stored or logged.
    PiiLeak,
    /// Output that breaks the agent's deny list or topics.
    PolicyViolation,
    /// Spend velocity or caps exceeded.
    CostRunaway,
    /// A cached artefact failed its checksum or version tag.
    CacheCorruption,
    /// Session events out of sequence, duplicated, or conflicting writes.
    StateCorruption,
    /// No agent audio for too long after the caller's turn ended.
    DeadAir,
    /// Agent audio kept playing after the caller barged in.
    BargeInFailure,
    /// The provider session or a token hit its lifetime cap.
    SessionExpiry,
    /// A tool webhook timed out, failed or its breaker is open.
    ToolFailure,
}

/// The group a mode belongs to, as in FAILURE-MODES.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureGroup {
    /// What the agent says is wrong.
    Quality,
    /// The provider path fails or slows.
    Reliability,
    /// The agent is made to say or reveal what it must not.
    Safety,
    /// Money, caches and state.
    Operational,
    /// Failures only a voice call has.
    Voice,
}

impl FailureMode {
    /// Every mode, in the order of FAILURE-MODES.md.
    pub const ALL: [FailureMode; 16] = [
        Self::Hallucination,
        Self::FormatViolation,
        Self::Refusal,
        Self::ProviderOutage,
        Self::RateLimitCascade,
        Self::LatencySpike,
        Self::PromptInjection,
        Self::PiiLeak,
        Self::PolicyViolation,
        Self::CostRunaway,
        Self::CacheCorruption,
        Self::StateCorruption,
        Self::DeadAir,
        Self::BargeInFailure,
        Self::SessionExpiry,
        Self::ToolFailure,
    ];

    /// The stable snake_case name used in storage, metrics and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hallucination => "hallucination",
            Self::FormatViolation => "format_violation",
            Self::Refusal => "refusal",
            Self::ProviderOutage => "provider_outage",
            Self::RateLimitCascade => "rate_limit_cascade",
            Self::LatencySpike => "latency_spike",
            Self::PromptInjection => "prompt_injection",
            Self::PiiLeak => "pii_leak",
            Self::PolicyViolation => "policy_violation",
            Self::CostRunaway => "cost_runaway",
            Self::CacheCorruption => "cache_corruption",
            Self::StateCorruption => "state_corruption",
            Self::DeadAir => "dead_air",
            Self::BargeInFailure => "barge_in_failure",
            Self::SessionExpiry => "session_expiry",
            Self::ToolFailure => "tool_failure",
        }
    }

    /// The group of the taxonomy this mode belongs to.
    pub fn group(self) -> FailureGroup {
        match self {
            Self::Hallucination | Self::FormatViolation | Self::Refusal => FailureGroup::Quality,
            Self::ProviderOutage | Self::RateLimitCascade | Self::LatencySpike => {
                FailureGroup::Reliability
            }
            Self::PromptInjection | Self::PiiLeak | Self::PolicyViolation => FailureGroup::Safety,
            Self::CostRunaway | Self::CacheCorruption | Self::StateCorruption => {
                FailureGroup::Operational
            }
            Self::DeadAir | Self::BargeInFailure | Self::SessionExpiry | Self::ToolFailure => {
                FailureGroup::Voice
            }
        }
    }
}

impl fmt::Display for FailureMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the failure modes.
#[derive(Debug, thiserror::Error)]
#[error("unknown failure mode `{0}`")]
pub struct UnknownFailureMode(pub String);

impl FromStr for FailureMode {
    type Err = UnknownFailureMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|mode| mode.as_str() == s)
            .ok_or_else(|| UnknownFailureMode(s.to_owned()))
    }
}

/// How bad an incident was for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Prevented before the caller noticed.
    Info,
    /// The caller noticed (a filler line, a hedge, a delay).
    Warning,
    /// The call was harmed (ended, wrong answer spoken, data leaked).
    Critical,
}

impl Severity {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

impl FromStr for Severity {
    type Err = UnknownFailureMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(Self::Info),
            "warning" => Ok(Self::Warning),
            "critical" => Ok(Self::Critical),
            other => Err(UnknownFailureMode(other.to_owned())),
        }
    }
}

/// What a detector saw and what voxgate did about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Which failure mode fired.
    pub mode: FailureMode,
    /// The tenant whose call or agent it concerns.
    pub tenant_id: Uuid,
    /// The agent name, when the incident belongs to one.
    pub agent: Option<String>,
    /// The call, when the incident happened during one.
    pub call_id: Option<Uuid>,
    /// When it was detected (supplied by the caller: the core reads no clock).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// How bad it was.
    pub severity: Severity,
    /// What voxgate did, as a stable snake_case verb phrase (`switched_to_pipeline`).
    pub action: String,
    /// Structured detail: timings, provider, counts. Never personal data.
    pub detail: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_round_trips_through_its_stable_name() {
        for mode in FailureMode::ALL {
            assert_eq!(mode.as_str().parse::<FailureMode>().ok(), Some(mode));
            let json = serde_json::to_string(&mode).ok();
            assert_eq!(json, Some(format!("\"{}\"", mode.as_str())));
        }
    }

    #[test]
    fn mode_names_are_unique_snake_case() {
        let mut names: Vec<_> = FailureMode::ALL.iter().map(|m| m.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FailureMode::ALL.len());
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
    }

    #[test]
    fn unknown_mode_name_is_an_error() {
        assert!("hallucinations".parse::<FailureMode>().is_err());
    }
}
